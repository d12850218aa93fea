//! `deploy --cluster <url> app.toml` and `undeploy --cluster <url> <app>`.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use wasm_host::deploy::{self, ClusterClient, DeployReport, Deployed};
use wasm_host::{ComponentId, Host, Manifest};

use crate::args::{ClusterArgs, DeployArgs, UndeployArgs};
use crate::cache::Cache;
use crate::exit::{Failure, Outcome, from_host, invalid, runtime};

/// A client of the cluster's buckets, named after this process.
pub async fn client(args: &ClusterArgs) -> Result<ClusterClient, Failure> {
    let config = args
        .config(&format!("client-{}", std::process::id()))
        .map_err(invalid)?;
    ClusterClient::connect(config)
        .await
        .map_err(|e| from_host(e.into()))
}

fn ids(list: &[ComponentId]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_report(report: &DeployReport) {
    println!(
        "deployed application `{}` (revision {})",
        report.app, report.revision
    );
    println!("  added ({}): {}", report.added.len(), ids(&report.added));
    println!(
        "  upgraded ({}): {}",
        report.upgraded.len(),
        ids(&report.upgraded)
    );
    println!(
        "  removed ({}): {}",
        report.removed.len(),
        ids(&report.removed)
    );
    println!("  unchanged: {}", report.unchanged.len());
}

pub async fn deploy(args: DeployArgs, cache: &Cache) -> Outcome {
    let manifest = Manifest::from_file(&args.manifest).map_err(from_host)?;
    let app = args
        .app
        .clone()
        .unwrap_or_else(|| deploy::app_name(&args.manifest));
    // The engine the components will run on, to check that each loads before any is sent.
    let mut builder = Host::builder()
        .fuel(manifest.uses_fuel())
        .standalone()
        .no_admin()
        .memory_storage();
    if let Some(dir) = cache {
        builder = builder.cache_dir(dir);
    }
    let checker = builder.build().map_err(runtime)?;
    let client = client(&args.cluster).await?;
    let published = deploy::publish(&client, &app, &manifest, checker.engine()).await;
    checker.shutdown().await.map_err(runtime)?;
    let report = published.map_err(from_host)?;
    print_report(&report);
    if args.wait > 0 {
        wait_placed(&client, &app, Duration::from_secs(args.wait)).await?;
    }
    client.close().await;
    Ok(())
}

/// Waits until every component of `app` runs (or cannot run anywhere), then prints where
/// each runs.
async fn wait_placed(client: &ClusterClient, app: &str, wait: Duration) -> Outcome {
    let apps = client.apps().await.map_err(|e| runtime(anyhow!(e)))?;
    let entry = apps
        .get(app)
        .await
        .map_err(|e| runtime(anyhow!(e)))?
        .ok_or_else(|| runtime(anyhow!("application `{app}` vanished while deploying")))?;
    let record = deploy::AppRecord::decode(app, &entry.record).map_err(|e| runtime(anyhow!(e)))?;
    let deployed = Deployed::from_record(&record, entry.revision).map_err(from_host)?;
    let deadline = Instant::now() + wait;
    loop {
        let view = client.view().await.map_err(|e| runtime(anyhow!(e)))?;
        let waiting: Vec<_> = deployed
            .units
            .iter()
            .filter(|u| {
                !u.members.iter().all(|id| view.owners.contains_key(id))
                    && deploy::why_pending(u, &view).is_none()
            })
            .collect();
        if waiting.is_empty() || Instant::now() >= deadline {
            for unit in &deployed.units {
                for id in &unit.members {
                    match (view.owners.get(id), deploy::why_pending(unit, &view)) {
                        (Some(owner), _) => println!("  {id} runs on {}", owner.host),
                        (None, Some(why)) => println!("  {id} is pending: {why}"),
                        (None, None) => println!(
                            "  {id} is pending: not started within {} s (see the hosts' logs)",
                            wait.as_secs()
                        ),
                    }
                }
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn undeploy(args: UndeployArgs) -> Outcome {
    let client = client(&args.cluster).await?;
    let components = deploy::withdraw(&client, &args.app)
        .await
        .map_err(from_host)?;
    println!(
        "undeployed application `{}`: {} component(s) stop: {}",
        args.app,
        components.len(),
        ids(&components)
    );
    client.close().await;
    Ok(())
}
