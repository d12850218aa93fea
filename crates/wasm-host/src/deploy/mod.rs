//! Deploying applications to a cluster: the application record, placement, the agent a
//! host without a manifest runs, and what `deploy` and `undeploy` write.
//!
//! The desired state lives in the cluster's JetStream buckets (see `wasm_cluster::deploy`);
//! every host that takes placed components runs an [`Agent`], and the ownership claim of
//! each id decides where it runs.

mod agent;
mod placement;
mod publish;
mod record;

pub use agent::Agent;
pub use placement::{Unit, eligible, is_placed, plan, units_of, why_pending};
pub use publish::{DeployReport, publish, withdraw};
pub use record::{AppRecord, Deployed, app_name, check_deployable};
pub use wasm_cluster::deploy::{
    AppEntry, AppStore, ClusterClient, ClusterView, CodeStore, HostView, OwnerView, digest,
};
