//! What to run: components, their restart policies, and supervision groups.

use std::time::Duration;

use wasm_core::{ComponentId, ResourceLimits};
use wasm_runtime::LoadedComponent;
use wasm_security::Grants;

/// When a component whose instance ended is restarted (Erlang/OTP restart types).
///
/// An instance ends either because the host asked ([`ActorSystem::stop_component`], a
/// sibling's restart under one-for-all or rest-for-one, shutdown: never a reason for this
/// policy), because it *failed* (a trap, a resource limit, a wall-time timeout, `unhealthy`
/// from `health`, a restart that could not instantiate), or because it ended *normally* on its
/// own. Restarts count towards the group's [`Intensity`] and wait out its backoff.
///
/// A component that is not restarted is removed for good, exactly as if the host had stopped
/// it: a `Stopped` event, its queued messages reported as dead letters, its queued and
/// pending requests answered `target-stopped`, its id unregistered.
///
/// [`ActorSystem::stop_component`]: crate::ActorSystem::stop_component
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Restarted after any end the host did not ask for: a failure or a normal end.
    #[default]
    Permanent,
    /// Restarted only after a failure; a normal end removes it.
    Transient,
    /// Never restarted: any end (a failure too) removes it.
    Temporary,
}

/// Which members of a group restart when one fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Only the failed member.
    #[default]
    OneForOne,
    /// Every member of the group.
    OneForAll,
    /// The failed member and every member listed after it.
    RestForOne,
}

/// How often a group may restart before it gives up, and how long it waits between restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    /// At most this many restarts within `window`; one more stops the group.
    pub max_restarts: u32,
    /// The sliding window over which restarts are counted.
    pub window: Duration,
    /// Delay before the first restart in a window; it doubles for each further restart.
    pub backoff_base: Duration,
    /// The longest delay between restarts.
    pub backoff_max: Duration,
}

impl Default for Intensity {
    /// 5 restarts in 10 s, backoff from 10 ms up to 1 s.
    fn default() -> Self {
        Self {
            max_restarts: 5,
            window: Duration::from_secs(10),
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_secs(1),
        }
    }
}

impl Intensity {
    /// The delay before the `n`-th restart within the window (`n` counts from 1).
    pub fn backoff(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }
}

/// One component to run.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// Its id, unique in the system.
    pub id: ComponentId,
    /// The compiled component (restarts reuse it: no recompilation).
    pub component: LoadedComponent,
    /// What it may do.
    pub grants: Grants,
    /// Memory, time and fuel limits per instance.
    pub limits: ResourceLimits,
    /// The `config-data` passed to `initialize`.
    pub config_data: Option<Vec<u8>>,
    /// Mailbox capacity; `None` for the system default.
    pub mailbox_capacity: Option<usize>,
    /// When it is restarted.
    pub restart: RestartPolicy,
    /// A component it talks to most: with [`crate::Placement::Shards`], it is placed on the
    /// same shard if that one runs here when it starts.
    pub neighbour: Option<ComponentId>,
}

impl ComponentSpec {
    /// A spec with no grants, default limits, the default mailbox and a permanent policy.
    pub fn new(id: ComponentId, component: LoadedComponent) -> Self {
        Self {
            id,
            component,
            grants: Grants::default(),
            limits: ResourceLimits::default(),
            config_data: None,
            mailbox_capacity: None,
            restart: RestartPolicy::Permanent,
            neighbour: None,
        }
    }

    /// Sets the grants.
    pub fn with_grants(mut self, grants: Grants) -> Self {
        self.grants = grants;
        self
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: ResourceLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the `config-data`.
    pub fn with_config(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.config_data = Some(data.into());
        self
    }

    /// Sets the mailbox capacity.
    pub fn with_mailbox(mut self, capacity: usize) -> Self {
        self.mailbox_capacity = Some(capacity);
        self
    }

    /// Sets the restart policy.
    pub fn with_restart(mut self, restart: RestartPolicy) -> Self {
        self.restart = restart;
        self
    }

    /// Names the component it talks to most (see [`ComponentSpec::neighbour`]).
    pub fn with_neighbour(mut self, neighbour: ComponentId) -> Self {
        self.neighbour = Some(neighbour);
        self
    }
}

/// A supervision group: members started in order, supervised together.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    /// The group's name, unique in the system.
    pub name: String,
    /// Which members restart when one fails.
    pub strategy: Strategy,
    /// Restart limits and backoff.
    pub intensity: Intensity,
    /// The members, in start order.
    pub members: Vec<ComponentSpec>,
}

impl GroupSpec {
    /// An empty one-for-one group with the default intensity.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            strategy: Strategy::OneForOne,
            intensity: Intensity::default(),
            members: Vec::new(),
        }
    }

    /// Sets the strategy.
    pub fn with_strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the intensity.
    pub fn with_intensity(mut self, intensity: Intensity) -> Self {
        self.intensity = intensity;
        self
    }

    /// Adds a member after the existing ones.
    pub fn with_member(mut self, member: ComponentSpec) -> Self {
        self.members.push(member);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let i = Intensity {
            max_restarts: 10,
            window: Duration::from_secs(1),
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(70),
        };
        let delays: Vec<u128> = (1..=5).map(|n| i.backoff(n).as_millis()).collect();
        assert_eq!(delays, vec![10, 20, 40, 70, 70]);
        assert_eq!(i.backoff(200), Duration::from_millis(70));
    }
}
