//! `call <manifest> <component-id> <payload>`: start, one request, print the reply, stop.

use anyhow::Context;

use crate::args::CallArgs;
use crate::exit::{Outcome, invalid, runtime};
use crate::payload;
use crate::system::{self, System};

pub async fn call(args: CallArgs) -> Outcome {
    let manifest = system::manifest(&args.system)?;
    let target = payload::target(&manifest, &args.component).map_err(invalid)?;
    let bytes = payload::bytes(&args.payload).map_err(invalid)?;
    let system = System::start(&args.system, manifest).await?;
    let reply = system
        .host
        .request(&target, bytes)
        .await
        .with_context(|| format!("request to {target} failed"));
    system.stop().await?;
    let reply = reply.map_err(runtime)?;
    println!("{}", String::from_utf8_lossy(&reply));
    Ok(())
}
