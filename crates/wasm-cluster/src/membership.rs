//! Following the cluster's buckets: the directory is read whole before the host serves, then
//! kept current by two watches. When a host's lease lapses, each request it was asked is
//! answered `target-failed` at once; it may come back as it was (it was cut off, or paused),
//! and finish what it had. When it ends (a new process took its name, it left, or it stayed
//! away past `give_up`), every message sent to it that it had not said it was done with is
//! reported here as a dead letter, and the slots held for it are given back.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use wasm_core::{ComponentId, ErrorCallback};

use crate::directory::{HostChange, Owner};
use crate::error::{Error, Result};
use crate::frame::decode_message;
use crate::peer::Peer;
use crate::stats::add;
use crate::transport::Inner;
use crate::watch::{Change, Watcher};

/// How often a quiet watch is compared with its bucket.
const STALL_CHECK: Duration = Duration::from_secs(5);

/// Which bucket a watch follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Hosts,
    Owners,
}

impl Inner {
    fn bucket(&self, which: Bucket) -> &kv::Store {
        match which {
            Bucket::Hosts => &self.store.hosts,
            Bucket::Owners => &self.store.owners,
        }
    }

    /// Reads both buckets whole, then follows them in the background.
    pub(crate) async fn watch_directory(self: Arc<Self>) -> Result<()> {
        for which in [Bucket::Hosts, Bucket::Owners] {
            let (watch, last) = self.read_whole(which).await?;
            let task = tokio::spawn(self.clone().follow(which, watch, last));
            self.tasks.lock().push(task);
        }
        Ok(())
    }

    /// Starts a watch of `which` and applies the last value of every key now; returns the
    /// watch and the last revision seen.
    async fn read_whole(self: &Arc<Self>, which: Bucket) -> Result<(Watcher, u64)> {
        let bucket = self.bucket(which);
        let failed = |what: &str, source: async_nats::Error| Error::JetStream {
            what: format!("cannot {what} the bucket `{}`", bucket.name),
            url: self.config.url_text(),
            source,
        };
        let mut watch = Watcher::start(bucket, None)
            .await
            .map_err(|e| failed("watch", e))?;
        let mut last = 0;
        if !watch.empty {
            while let Some(change) = watch.next().await {
                let change = change.map_err(|e| failed("read", e.into()))?;
                last = change.revision;
                let caught_up = change.pending == 0;
                self.apply(which, &change);
                if caught_up {
                    break;
                }
            }
        }
        Ok((watch, last))
    }

    /// Applies every change of `which` as it comes; a watch that ends starts again after the
    /// last revision seen. So does one that has not moved while the bucket has moved past it
    /// (checked every [`STALL_CHECK`]): whatever stopped it, the directory catches up.
    async fn follow(self: Arc<Self>, which: Bucket, mut watch: Watcher, mut last: u64) {
        let mut check = tokio::time::interval(STALL_CHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut checked = last;
            loop {
                tokio::select! {
                    change = watch.next() => match change {
                        Some(Ok(change)) => {
                            last = change.revision;
                            self.apply(which, &change);
                        }
                        Some(Err(e)) => {
                            tracing::warn!(bucket = ?which, error = %e, "the directory watch failed; starting it again");
                            break;
                        }
                        None => break,
                    },
                    _ = check.tick() => {
                        if last == checked && self.bucket_moved_past(which, last).await {
                            add(&self.stats.watch_restarts, 1);
                            tracing::warn!(bucket = ?which, last, "the directory watch stopped behind its bucket; starting it again");
                            break;
                        }
                        checked = last;
                    }
                }
            }
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                match Watcher::start(self.bucket(which), Some(last + 1)).await {
                    Ok(again) => {
                        watch = again;
                        break;
                    }
                    Err(e) => {
                        tracing::debug!(bucket = ?which, error = %e, "cannot watch the directory yet");
                    }
                }
            }
        }
    }

    /// Whether the server holds a change of `which` after revision `last` (bounded by the
    /// configured timeout; no answer counts as no).
    async fn bucket_moved_past(&self, which: Bucket, last: u64) -> bool {
        let mut stream = self.bucket(which).stream.clone();
        match tokio::time::timeout(self.config.timeout, stream.info()).await {
            Ok(Ok(info)) => info.state.last_sequence > last,
            _ => false,
        }
    }

    fn apply(self: &Arc<Self>, which: Bucket, change: &Change) {
        match which {
            Bucket::Hosts => {
                for host in self.directory.apply_host(change, self.config.give_up) {
                    self.host_changed(host);
                }
            }
            Bucket::Owners => {
                if let Some((id, Some(owner))) = self.directory.apply_owner(change) {
                    self.owner_seen(&id, &owner);
                }
            }
        }
    }

    pub(crate) fn host_changed(self: &Arc<Self>, change: HostChange) {
        let router = self.router();
        match change {
            HostChange::Joined { host } => {
                if host != self.config.host {
                    tracing::info!(%host, cluster = %self.config.name, "host joined");
                    if let Some(router) = router {
                        router.host_up(&host);
                    }
                }
            }
            // This host's own lease: the lease task finds out when it renews.
            HostChange::Lapsed { host, .. }
            | HostChange::Returned { host, .. }
            | HostChange::Ended { host, .. }
                if host == self.config.host => {}
            HostChange::Lapsed {
                host,
                incarnation,
                reason,
            } => {
                tracing::warn!(%host, %reason, "host away: its requests are answered now, what it had not confirmed waits for it to come back");
                self.fail_asked(
                    &(host.clone(), incarnation),
                    &format!("host {host} is gone: {reason}"),
                );
                if let Some(router) = router {
                    router.host_down(&host, &reason);
                }
            }
            HostChange::Returned { host, .. } => {
                tracing::info!(%host, "host back: it renewed its lease again");
                if let Some(router) = router {
                    router.host_up(&host);
                }
            }
            HostChange::Ended {
                host,
                incarnation,
                reason,
                was_away,
            } => {
                self.incarnation_ended(&host, incarnation, &reason);
                if !was_away && let Some(router) = router {
                    router.host_down(&host, &reason);
                }
            }
        }
    }

    /// A record names this incarnation for an id it does not run (a claim that was given up
    /// for lost and landed after all): it is deleted.
    fn owner_seen(self: &Arc<Self>, id: &ComponentId, owner: &Owner) {
        if *owner.host == *self.config.host && owner.incarnation == self.incarnation() {
            self.drop_unclaimed(id, owner.revision);
        }
    }

    /// Incarnation `incarnation` of `host` ended: settles everything owed to or by it.
    pub(crate) fn incarnation_ended(&self, host: &str, incarnation: u64, reason: &str) {
        tracing::warn!(%host, incarnation = %format!("{incarnation:016x}"), %reason, "host gone for good");
        let key = (host.to_owned(), incarnation);
        self.confirmed.lock().remove(&key);
        self.ended
            .lock()
            .insert(key.clone(), std::time::Instant::now());
        let why = format!("host {host} is gone: {reason}");
        let removed = {
            let mut peers = self.peers.write();
            match peers.get(&incarnation) {
                Some(peer) if peer.host == host => peers.remove(&incarnation),
                _ => None,
            }
        };
        if let Some(peer) = removed {
            self.let_go_of(
                &peer,
                &format!("{why}; it had not confirmed handling the message"),
            );
        }
        self.fail_asked(&key, &why);
    }

    /// Ends every exchange with `peer`, whose incarnation is over: the messages it had not
    /// said it was done with (kept on windows, broadcast fills) are reported as dead letters
    /// with `why`, pending holds are answered, and the room held here for it is given back.
    pub(crate) fn let_go_of(&self, peer: &Peer, why: &str) {
        peer.lost.store(true, std::sync::atomic::Ordering::Release);
        let router = self.router();
        let mut lost = Vec::new();
        {
            let mut out = peer.outgoing.lock();
            for window in out.windows.values() {
                lost.extend(
                    window
                        .kept
                        .iter()
                        .map(|bytes| (window.target.clone(), bytes.clone())),
                );
            }
            lost.extend(
                out.fills
                    .drain()
                    .map(|(_, (target, bytes, _))| (target, bytes)),
            );
            for (target, answer) in out.holds.values_mut() {
                answer.get_or_insert_with(|| {
                    Err(wasm_core::MessagingError::TargetNotFound(target.clone()))
                });
            }
            out.windows.clear();
            out.current.clear();
            out.asks.clear();
        }
        peer.changed.notify_waiters();
        {
            let mut incoming = peer.incoming.lock();
            for (window, _) in incoming.windows.values_mut() {
                let held = window.let_go();
                self.unhold(router, &window.target, held);
            }
            for (_, (target, _)) in incoming.holds.drain() {
                self.unhold(router, &target, 1);
            }
        }
        add(&self.stats.lost_with_host, lost.len() as u64);
        let Some(router) = router else { return };
        for (target, bytes) in lost {
            match decode_message(&bytes) {
                Ok(wire) => router.report_undelivered(
                    &target,
                    &wire.message.sender,
                    wire.message.payload,
                    why.to_owned(),
                ),
                Err(e) => {
                    tracing::error!(component = %target, error = %e, "a kept message cannot be read back")
                }
            }
        }
    }

    /// Answers `target-failed` to every request sent to incarnation `key` and not answered.
    fn fail_asked(&self, key: &(String, u64), why: &str) {
        let answered: Vec<_> = {
            let mut asked = self.asked.lock();
            let ids: Vec<_> = asked
                .iter()
                .filter(|(_, a)| &a.peer == key)
                .map(|(c, _)| c.clone())
                .collect();
            for id in &ids {
                asked.remove(id);
            }
            ids
        };
        if let Some(router) = self.router() {
            let callback = ErrorCallback::TargetFailed(why.to_owned());
            for correlation in answered {
                router.answer_from_remote(&correlation, Err(callback.clone()));
            }
        }
    }
}
