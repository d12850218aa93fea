//! Starting the system of a manifest and stopping it, for `run` and `call`.

use anyhow::{Context, anyhow};
use wasm_host::{AdminConfig, Host, Manifest};

use crate::args::SystemArgs;
use crate::cache::Cache;
use crate::exit::{Failure, from_host, invalid, runtime};
use crate::summary::{Counter, Tally};

/// The admin endpoint asked for on the command line (the manifest may name one too).
#[derive(Debug, Default)]
pub struct Admin {
    /// `--admin`, over the manifest's `[host] admin`.
    pub addr: Option<std::net::SocketAddr>,
    /// `--admin-token`.
    pub token: Option<String>,
    /// `--http`, over the manifest's `[host] http`: where HTTP ingress serves `[[http]]`.
    pub http: Option<std::net::SocketAddr>,
}

/// A started system with its event counter.
#[derive(Debug)]
pub struct System {
    pub host: Host,
    counter: Counter,
}

/// Reads and checks the manifest (nothing runs if it is invalid).
pub fn manifest(args: &SystemArgs) -> Result<Manifest, Failure> {
    Manifest::from_file(&args.manifest).map_err(from_host)
}

impl System {
    /// Builds the host from the manifest's `[host]` section (and `--storage`), joining its
    /// `[cluster]` if it has one, then starts
    /// every component. If a component fails to start, what started is shut down.
    pub async fn start(
        args: &SystemArgs,
        manifest: Manifest,
        cache: &Cache,
        admin: Option<&Admin>,
    ) -> Result<Self, Failure> {
        let mut builder = Host::builder().manifest_defaults(&manifest);
        builder = match admin {
            None => builder.no_admin(),
            Some(admin) => match admin.addr.or(manifest.host().admin) {
                Some(addr) => {
                    let mut config = AdminConfig::new(addr);
                    config.token = admin.token.clone();
                    builder.admin(config)
                }
                None => builder,
            },
        };
        if let Some(dir) = cache {
            builder = builder.cache_dir(dir);
        }
        #[cfg(feature = "otlp")]
        if let Some(link) = crate::otlp::span_link() {
            builder = builder.span_link(link);
        }
        if let Some(file) = &args.storage {
            builder = builder.storage_file(file);
        }
        if let Some(url) = &args.cluster_url {
            let mut cluster = manifest.cluster().cloned().ok_or_else(|| {
                invalid(anyhow!(
                    "--cluster-url {url}: manifest {} has no [cluster] section",
                    manifest.file().display()
                ))
            })?;
            cluster.urls = vec![url.clone()];
            builder = builder.cluster(cluster);
        }
        let host = builder.connect().await.map_err(from_host)?;
        let counter = Counter::spawn(host.events());
        if let Err(e) = host.load(&manifest).await {
            let _ = host.shutdown().await;
            let _ = counter.finish().await;
            return Err(from_host(e));
        }
        if let Some(addr) = host.admin_addr() {
            tracing::info!(target: "airssys::cli", admin = %format!("http://{addr}"), "admin endpoint serving");
        }
        let http = admin.and_then(|a| a.http).or(manifest.host().http);
        match http {
            Some(addr) if manifest.http().routes.is_empty() => {
                let _ = host.shutdown().await;
                let _ = counter.finish().await;
                return Err(invalid(anyhow!(
                    "HTTP ingress on {addr}: manifest {} has no `[[http]]` routes",
                    manifest.file().display()
                )));
            }
            Some(addr) => {
                if let Err(e) = host.serve_manifest_http(&manifest, addr).await {
                    let _ = host.shutdown().await;
                    let _ = counter.finish().await;
                    return Err(from_host(e));
                }
                if let Some(addr) = host.http_addr() {
                    tracing::info!(target: "airssys::cli", http = %format!("http://{addr}"), routes = manifest.http().routes.len(), "HTTP ingress serving");
                }
            }
            None if !manifest.http().routes.is_empty() => {
                tracing::warn!(target: "airssys::cli", "the manifest has `[[http]]` routes but no address: give `--http ADDR` or `[host] http` to serve them");
            }
            None => {}
        }
        tracing::info!(
            target: "airssys::cli",
            manifest = %manifest.file().display(),
            components = manifest.components().len(),
            "system started"
        );
        Ok(Self { host, counter })
    }

    /// Stops gracefully (every component's `shutdown`, storage closed) and returns what the
    /// event counter saw.
    pub async fn stop(self) -> Result<(Tally, wasm_host::SystemStats), Failure> {
        let shutdown = self.host.shutdown().await;
        let stats = self.host.stats();
        let tally = self.counter.finish().await;
        shutdown
            .context("the system did not shut down cleanly")
            .map_err(runtime)?;
        tracing::info!(target: "airssys::cli", "system stopped");
        Ok((tally, stats))
    }
}
