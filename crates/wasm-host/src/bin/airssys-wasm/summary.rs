//! What happened while a system ran: counted from its event stream (nothing is sampled, a
//! lagging subscriber says how many events it lost) and from the system's counters.

use std::fmt::Write as _;

use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use wasm_host::{Events, SystemEvent};

/// Counts of the events that matter to an operator.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Component instances started (first starts and restarts).
    pub started: u64,
    /// Instances that failed (trap, limit, timeout, unhealthy).
    pub failures: u64,
    /// Restarts by supervisors.
    pub restarts: u64,
    /// Capability checks that refused a call.
    pub denials: u64,
    /// Messages that could not be handled.
    pub dead_letters: u64,
    /// Groups that gave up after too many restarts.
    pub groups_failed: u64,
    /// Components switched to new code (the actor layer logs each).
    pub upgrades: u64,
    /// Events lost because the counter lagged behind.
    pub lost: u64,
}

impl Tally {
    /// Counts an event, and logs those nothing else logs: restarts and dead letters. A failure
    /// or a group giving up is logged by its supervisor already, a denial by the audit.
    fn add(&mut self, event: &SystemEvent) {
        match event {
            SystemEvent::Started { .. } => self.started += 1,
            SystemEvent::Failed { .. } => self.failures += 1,
            SystemEvent::Restarted { id, attempt } => {
                self.restarts += 1;
                tracing::info!(target: "airssys::cli", component = %id, attempt, "component restarted");
            }
            SystemEvent::CapabilityDenied { .. } => self.denials += 1,
            SystemEvent::DeadLetter {
                target,
                sender,
                payload,
                reason,
            } => {
                self.dead_letters += 1;
                tracing::warn!(
                    target: "airssys::cli",
                    component = %target,
                    %sender,
                    payload = %preview(payload),
                    %reason,
                    "dead letter: a message was not handled"
                );
            }
            SystemEvent::GroupFailed { .. } => self.groups_failed += 1,
            SystemEvent::Upgraded { .. } => self.upgrades += 1,
            // The transport logs hosts joining and leaving.
            SystemEvent::Stopped { .. }
            | SystemEvent::HostUp { .. }
            | SystemEvent::HostDown { .. } => {}
        }
    }
}

/// The most of a payload shown in a log line, in characters.
const PREVIEW_CHARS: usize = 80;

/// A payload as one short line of text for the log: lossy UTF-8, line breaks shown as `\n`,
/// cut after [`PREVIEW_CHARS`] characters.
fn preview(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    let mut out: String = text
        .chars()
        .take(PREVIEW_CHARS)
        .collect::<String>()
        .replace('\n', "\\n");
    if text.chars().nth(PREVIEW_CHARS).is_some() {
        out.push_str("...");
    }
    out
}

/// A task counting a system's events until it is told to finish.
#[derive(Debug)]
pub struct Counter {
    finish: oneshot::Sender<()>,
    task: JoinHandle<Tally>,
}

impl Counter {
    /// Starts counting `events` (subscribe before starting components to miss nothing).
    pub fn spawn(events: Events) -> Self {
        let (finish, finished) = oneshot::channel();
        let task = tokio::spawn(count(events, finished));
        Self { finish, task }
    }

    /// Counts what is still queued, then returns the tally.
    pub async fn finish(self) -> Tally {
        let _ = self.finish.send(());
        self.task.await.unwrap_or_default()
    }
}

async fn count(mut events: Events, mut finished: oneshot::Receiver<()>) -> Tally {
    let mut tally = Tally::default();
    loop {
        tokio::select! {
            biased;
            event = events.recv() => match event {
                Ok(event) => tally.add(&event),
                Err(broadcast::error::RecvError::Lagged(n)) => tally.lost += n,
                Err(broadcast::error::RecvError::Closed) => return tally,
            },
            _ = &mut finished => break,
        }
    }
    loop {
        match events.try_recv() {
            Ok(event) => tally.add(&event),
            Err(broadcast::error::TryRecvError::Lagged(n)) => tally.lost += n,
            Err(_) => return tally,
        }
    }
}

/// The summary printed when a system stops: `key: value` lines.
pub fn render(stopped_by: &str, tally: &Tally, stats: &wasm_host::SystemStats) -> String {
    let mut out = String::from("summary:\n");
    let lines: [(&str, String); 12] = [
        ("stopped by", stopped_by.to_owned()),
        ("messages handled", stats.messages_handled.to_string()),
        ("callbacks handled", stats.callbacks_handled.to_string()),
        ("requests answered", stats.requests_answered.to_string()),
        ("instances started", tally.started.to_string()),
        ("failures", tally.failures.to_string()),
        ("restarts", tally.restarts.to_string()),
        ("capability denials", tally.denials.to_string()),
        ("dead letters", tally.dead_letters.to_string()),
        ("groups failed", tally.groups_failed.to_string()),
        ("upgrades", tally.upgrades.to_string()),
        ("events lost", tally.lost.to_string()),
    ];
    for (key, value) in lines {
        let _ = writeln!(out, "  {key}: {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_preview_is_one_short_line() {
        assert_eq!(
            preview(b"discount customer=zoe sku=gadget"),
            "discount customer=zoe sku=gadget"
        );
        assert_eq!(preview(b"o-1 a\no-2 b"), "o-1 a\\no-2 b");
        let long = "x".repeat(PREVIEW_CHARS + 1);
        assert_eq!(
            preview(long.as_bytes()),
            format!("{}...", "x".repeat(PREVIEW_CHARS))
        );
        assert_eq!(
            preview("x".repeat(PREVIEW_CHARS).as_bytes()).len(),
            PREVIEW_CHARS
        );
    }
}
