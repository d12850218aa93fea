//! `host --cluster <url> --host <name>`: join a cluster with no manifest, keep component
//! storage in the cluster, and run what placement gives this host until Ctrl-C or SIGTERM
//! (leaving then: the components move to the other hosts).

use std::time::Duration;

use anyhow::{Context, anyhow};
use wasm_host::deploy::Agent;
use wasm_host::{AdminConfig, ClusterConfig, Host};

use crate::args::HostArgs;
use crate::cache::Cache;
use crate::exit::{Outcome, from_host, invalid, runtime};
use crate::signals::Signals;

fn config(args: &HostArgs) -> Result<ClusterConfig, crate::exit::Failure> {
    let mut config = args.cluster.config(&args.host).map_err(invalid)?;
    config.lease = Duration::from_millis(args.lease_ms);
    config.give_up = Duration::from_millis(args.give_up_ms);
    config.places = true;
    for label in &args.labels {
        let (key, value) = label.split_once('=').ok_or_else(|| {
            invalid(anyhow!(
                "--label {label}: a label is `key=value`, like zone=a"
            ))
        })?;
        config
            .labels
            .insert(key.trim().to_owned(), value.trim().to_owned());
    }
    config
        .validate()
        .map_err(|e| invalid(anyhow!(e).context("the host's cluster settings")))?;
    Ok(config)
}

pub async fn host(args: HostArgs, cache: &Cache) -> Outcome {
    let config = config(&args)?;
    let mut signals = Signals::install().map_err(runtime)?;
    let mut builder = Host::builder()
        .cluster(config)
        .cluster_storage()
        .fuel(args.fuel);
    builder = match args.admin.addr {
        Some(addr) => {
            let mut admin = AdminConfig::new(addr);
            admin.token = args.admin.token.clone();
            builder.admin(admin)
        }
        None => builder.no_admin(),
    };
    if let Some(dir) = cache {
        builder = builder.cache_dir(dir);
    }
    let host = builder.connect().await.map_err(from_host)?;
    if let Some(addr) = host.admin_addr() {
        tracing::info!(target: "airssys::cli", admin = %format!("http://{addr}"), "admin endpoint serving");
    }
    tracing::info!(
        target: "airssys::cli",
        host = %args.host,
        cluster = %args.cluster.name,
        labels = %args.labels.join(","),
        "host joined; running what the cluster places here"
    );
    tracing::debug!(target: "airssys::cli", "opening the cluster's applications and code");
    let agent = match Agent::new(&host).await {
        Ok(agent) => {
            tracing::info!(target: "airssys::cli", "reading the deployed applications");
            agent
        }
        Err(e) => {
            let _ = host.shutdown().await;
            return Err(from_host(e));
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stopped_by = {
        let running = agent.run(async {
            let _ = stop_rx.await;
        });
        tokio::pin!(running);
        let stopped_by = tokio::select! {
            signal = signals.next() => signal.map_err(runtime)?,
            () = &mut running => "the agent".to_owned(),
        };
        let _ = stop_tx.send(());
        running.await;
        stopped_by
    };
    tracing::info!(target: "airssys::cli", stopped_by, "stopping");
    host.shutdown()
        .await
        .context("the host did not shut down cleanly")
        .map_err(runtime)?;
    tracing::info!(target: "airssys::cli", "host stopped");
    Ok(())
}
