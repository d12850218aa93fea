//! `call <manifest> <component-id> <payload>`: start, one request, print the reply, stop.
//! `call --cluster <url> [--name <cluster>] <component-id> <payload>`: join the cluster as a
//! host with no components, one request to wherever the component runs, print the reply.

use anyhow::{Context, anyhow};
use wasm_host::{ClusterConfig, ComponentId, Host};

use crate::args::{CallArgs, SystemArgs};
use crate::cache::Cache;
use crate::exit::{Outcome, from_host, invalid, runtime};
use crate::payload;
use crate::system::{self, System};

pub async fn call(args: CallArgs, cache: &Cache) -> Outcome {
    match (&args.cluster, args.args.as_slice()) {
        (Some(url), [component, payload]) => {
            call_cluster(url, &args.name, component, payload).await
        }
        (None, [manifest, component, payload]) => {
            let system_args = SystemArgs {
                manifest: manifest.into(),
                storage: args.storage.clone(),
                cluster_url: None,
            };
            call_manifest(&system_args, component, payload, cache).await
        }
        (Some(_), _) => Err(invalid(anyhow!(
            "with --cluster, call takes <component-id> <payload> (no manifest)"
        ))),
        (None, _) => Err(invalid(anyhow!(
            "call takes <manifest> <component-id> <payload>, or --cluster <url> <component-id> <payload>"
        ))),
    }
}

async fn call_manifest(
    args: &SystemArgs,
    component: &str,
    payload: &str,
    cache: &Cache,
) -> Outcome {
    let manifest = system::manifest(args)?;
    let target = payload::target(&manifest, component).map_err(invalid)?;
    let bytes = payload::bytes(payload).map_err(invalid)?;
    let system = System::start(args, manifest, cache, None).await?;
    let reply = system
        .host
        .request(&target, bytes)
        .await
        .map_err(anyhow::Error::from);
    system.stop().await?;
    print(reply.map_err(runtime)?);
    Ok(())
}

async fn call_cluster(url: &str, cluster: &str, component: &str, payload: &str) -> Outcome {
    let target: ComponentId = component
        .parse()
        .with_context(|| format!("`{component}` is not a component id"))
        .map_err(invalid)?;
    let bytes = payload::bytes(payload).map_err(invalid)?;
    // A host name of its own, so its answers come back to it and to nobody else.
    let host_name = format!("call-{}", std::process::id());
    let host = Host::builder()
        .cluster(ClusterConfig::new(url, host_name.as_str(), cluster))
        .connect()
        .await
        .map_err(from_host)?;
    let reply = host
        .request(&target, bytes)
        .await
        .with_context(|| format!("cluster `{cluster}` at {url}"));
    host.shutdown()
        .await
        .context("the host did not shut down cleanly")
        .map_err(runtime)?;
    print(reply.map_err(runtime)?);
    Ok(())
}

fn print(reply: Vec<u8>) {
    println!("{}", String::from_utf8_lossy(&reply));
}
