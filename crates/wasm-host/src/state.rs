//! A host's shared state ([`Core`]): what the [`crate::Host`] handle, its admin endpoint and
//! its HTTP ingress all reach, and the operations they share (stop and start again, upgrade,
//! readiness). The admin endpoint and ingress depend on this, not on the `Host` handle.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use wasm_actor::{ActorSystem, ComponentSpec, ComponentState, Upgrade};
use wasm_cluster::NatsTransport;
use wasm_core::{ComponentId, ResourceLimits, StorageBackend};

use crate::ActorError;
use crate::error::Result;
use crate::manifest::Manifest;
use crate::storage::RedbStorage;

/// What a host is made of; shared with its admin endpoint (which holds it weakly).
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) system: Arc<ActorSystem>,
    pub(crate) storage: Arc<dyn StorageBackend>,
    pub(crate) redb: Option<Arc<RedbStorage>>,
    pub(crate) cluster: Option<NatsTransport>,
    pub(crate) limits: ResourceLimits,
    pub(crate) request_timeout: Duration,
    /// Components stopped by the host, with the spec to start them again from.
    pub(crate) stopped: Mutex<BTreeMap<ComponentId, ComponentSpec>>,
    /// Set while a manifest's components are expected but not all started yet.
    pub(crate) awaiting_load: AtomicBool,
    /// HTTP ingress, while it serves.
    pub(crate) ingress: Mutex<Option<Arc<crate::ingress::IngressServer>>>,
}

impl Core {
    pub(crate) fn new(
        system: ActorSystem,
        storage: Arc<dyn StorageBackend>,
        redb: Option<Arc<RedbStorage>>,
        cluster: Option<NatsTransport>,
        limits: ResourceLimits,
        request_timeout: Duration,
        awaiting_load: bool,
    ) -> Self {
        Self {
            system: Arc::new(system),
            storage,
            redb,
            cluster,
            limits,
            request_timeout,
            stopped: Mutex::new(BTreeMap::new()),
            awaiting_load: AtomicBool::new(awaiting_load),
            ingress: Mutex::new(None),
        }
    }

    pub(crate) async fn load(&self, manifest: &Manifest) -> Result<()> {
        let groups = manifest.specs(self.system.engine(), self.limits)?;
        for group in groups {
            self.system.start_group(group).await?;
        }
        Ok(())
    }

    pub(crate) async fn stop(&self, id: &ComponentId) -> Result<()> {
        let spec = self.system.spec(id);
        self.system.stop_component(id).await?;
        if let Some(spec) = spec {
            self.stopped.lock().insert(id.clone(), spec);
        }
        Ok(())
    }

    pub(crate) async fn start_stopped(&self, id: &ComponentId) -> Result<()> {
        let spec = self
            .stopped
            .lock()
            .remove(id)
            .ok_or_else(|| ActorError::NotRunning(id.clone()))?;
        if let Err(e) = self.system.start_component(spec.clone()).await {
            self.stopped.lock().insert(id.clone(), spec);
            return Err(e.into());
        }
        Ok(())
    }

    pub(crate) async fn upgrade(&self, id: &ComponentId, wasm: &[u8]) -> Result<Upgrade> {
        if !self.system.registry().contains(id) {
            return Err(ActorError::NotRunning(id.clone()).into());
        }
        let component = self
            .system
            .engine()
            .loader()
            .load_bytes(&format!("new code of {id}"), wasm)?;
        Ok(self.system.upgrade(id, component).await?)
    }

    pub(crate) fn stopped_ids(&self) -> Vec<ComponentId> {
        self.stopped.lock().keys().cloned().collect()
    }

    pub(crate) fn is_ready(&self) -> bool {
        !self.awaiting_load.load(Ordering::Acquire)
            && self.system.registry().ids().iter().all(|id| {
                self.system
                    .status(id)
                    .is_none_or(|s| s.state == ComponentState::Running)
            })
    }
}
