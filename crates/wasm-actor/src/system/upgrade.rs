//! Live upgrades of running components.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::oneshot;
use wasm_core::ComponentId;
use wasm_runtime::LoadedComponent;
use wasm_security::CapabilitySet;

use crate::error::{Error, Result};
use crate::registry::{PendingUpgrade, Slot, Version};
use crate::spec::ComponentSpec;
use crate::upgrade::Upgrade;

use super::ActorSystem;

impl ActorSystem {
    /// Switches a running component to new code without losing a message: the message in
    /// hand finishes on the old version, then a new instance of `component` is built and
    /// initialized, and only then replaces the old one. Queued messages go to the new version
    /// in order, storage is kept, callbacks for the old version's requests reach the new one,
    /// and restarts start the new code from then on. The group's restart intensity is not
    /// charged. An [`SystemEvent::Upgraded`] event tells subscribers.
    ///
    /// The call waits until the instance has taken the upgrade; a component restarting after
    /// a failure takes it once its new instance runs.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] if no component has this id; [`Error::UpgradeFailed`] naming
    /// the step that failed (`instantiate`, `initialize`, `metadata`), or `switch` when
    /// another upgrade of it is in progress or it stopped before taking this one. The old
    /// version keeps running after a failure.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future does not withdraw the upgrade: it still happens.
    pub async fn upgrade(&self, id: &ComponentId, component: LoadedComponent) -> Result<Upgrade> {
        let slot = self
            .ctx
            .registry
            .get(id)
            .ok_or_else(|| Error::NotRunning(id.clone()))?;
        let current = slot.version();
        let version = Version {
            code: component,
            grants: current.grants.clone(),
            caps: current.caps.clone(),
            limits: current.limits,
            config_data: current.config_data.clone(),
        };
        drop(current);
        self.hand_over(id, slot, version).await
    }

    /// As [`ActorSystem::upgrade`], to a whole new spec of the component: its code, and also
    /// its grants, limits and config, which the new version runs with (a reloaded manifest).
    /// The id, mailbox capacity and restart policy hold for a component's life.
    ///
    /// # Errors
    ///
    /// As [`ActorSystem::upgrade`]; [`Error::Grants`] if the new grants do not compile, and
    /// [`Error::UpgradeFailed`] at `switch` if the spec changes the mailbox capacity or the
    /// restart policy (stop and start it for that). Nothing changed then.
    ///
    /// # Cancel safety
    ///
    /// As [`ActorSystem::upgrade`].
    pub async fn upgrade_spec(&self, spec: ComponentSpec) -> Result<Upgrade> {
        let id = spec.id.clone();
        let slot = self
            .ctx
            .registry
            .get(&id)
            .ok_or_else(|| Error::NotRunning(id.clone()))?;
        if spec.mailbox_capacity != slot.spec.mailbox_capacity || spec.restart != slot.spec.restart
        {
            return Err(Error::UpgradeFailed {
                component: id,
                step: "switch",
                reason: "the mailbox capacity and the restart policy cannot change in an upgrade: stop and start the component for that".into(),
            });
        }
        let caps =
            CapabilitySet::compile(id.clone(), &spec.grants).map_err(|source| Error::Grants {
                component: id.clone(),
                source: Box::new(source),
            })?;
        let version = Version::of(&spec, Arc::new(caps));
        self.hand_over(&id, slot, version).await
    }

    async fn hand_over(
        &self,
        id: &ComponentId,
        slot: Arc<Slot>,
        version: Version,
    ) -> Result<Upgrade> {
        let failed = |step, reason: &str| Error::UpgradeFailed {
            component: id.clone(),
            step,
            reason: reason.to_owned(),
        };
        let (done, outcome) = oneshot::channel();
        {
            let mut pending = slot.upgrade.lock();
            if pending.is_some() {
                return Err(failed("switch", "another upgrade of it is in progress"));
            }
            *pending = Some(PendingUpgrade {
                version: Arc::new(version),
                done,
            });
            slot.upgrade_pending.store(true, Ordering::Release);
        }
        slot.mailbox.wake();
        drop(slot);
        match outcome.await {
            Ok(Ok(upgrade)) => Ok(upgrade),
            Ok(Err(e)) => Err(failed(e.step, &e.reason)),
            Err(_) => Err(failed("switch", "it stopped before it took the upgrade")),
        }
    }
}
