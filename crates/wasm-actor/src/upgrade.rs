//! Live upgrade: what an upgrade reports, and how a caller hands one to a component.
//!
//! The caller ([`crate::ActorSystem::upgrade`]) compiles and checks the new code, puts a
//! [`PendingUpgrade`](crate::registry::PendingUpgrade) in the component's slot and wakes the
//! mailbox. The instance takes it between two messages (after the one in hand): it builds
//! and initializes a new instance, hands the old one's state over when both versions take
//! part in the hand-off, and only then switches. Queued messages stay queued and go to the
//! new version in order; callbacks for requests the old version made reach the new one. A
//! failed step leaves the old instance running, untouched.

/// A finished upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The version that ran (its metadata's `version`).
    pub from: String,
    /// The version that runs now.
    pub to: String,
    /// Whether the old version's state was handed to the new one (`save` and `restore`);
    /// `false` when either version does not take part, so the new one started fresh.
    pub state_handed_over: bool,
}

/// Why an instance did not take an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpgradeError {
    pub(crate) step: &'static str,
    pub(crate) reason: String,
}

impl UpgradeError {
    pub(crate) fn at(step: &'static str, reason: impl ToString) -> Self {
        Self {
            step,
            reason: reason.to_string(),
        }
    }
}
