//! This host's lease on its name: taken at connect, renewed three times per lease period
//! (each renewal checked against the last revision, with the server's per-message TTL), and
//! the fence that follows it: components are served only until a quarter of a lease before
//! the lease could lapse, counted from when the last renewal the server took was sent.
//!
//! A renewal the server refuses means the lease lapsed (or another process took the name):
//! the other hosts take this incarnation as ended. So this host drops what came from them,
//! starts again as a new incarnation (a new inbox, a new record), claims its ids again, and
//! only then serves again. An id another host took meanwhile is evicted here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::kv::Operation;
use futures_util::StreamExt;
use wasm_core::ComponentId;

use crate::claims::{PARALLEL, Taken};
use crate::error::{Error, Result};
use crate::records::HostRecord;
use crate::stats::add;
use crate::store::{Expect, WriteError};
use crate::subject::host_key;
use crate::transport::{Inner, Owned};

impl Inner {
    fn renew_every(&self) -> Duration {
        self.config.lease / 3
    }

    /// How long after a renewal was sent components may still be served.
    fn fence_after(&self) -> Duration {
        self.config.lease.saturating_sub(self.config.lease / 4)
    }

    fn host_record(&self, incarnation: u64) -> Vec<u8> {
        HostRecord {
            incarnation,
            lease_ms: u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX),
            pid: std::process::id(),
            machine: machine_name(),
            since_ms: Self::now_ms(),
            labels: self.config.labels.clone(),
            places: self.config.places,
        }
        .encode()
    }

    fn lease_taken(&self, revision: u64, sent: Instant) {
        {
            let mut session = self.session.write();
            session.revision = revision;
            session.renewed = Some(sent);
        }
        add(&self.stats.renewals, 1);
        self.open_fence();
    }

    /// Moves the fence to what the lease allows (while serving).
    pub(crate) fn open_fence(&self) {
        let session = self.session.read();
        if let (true, Some(renewed), Some(router)) =
            (session.serving, session.renewed, self.router())
        {
            router.serve_until(renewed + self.fence_after());
        }
    }

    /// Takes this host's name for the current incarnation. A record of a previous process
    /// is waited out (up to its lease and two seconds); one that is renewed meanwhile belongs
    /// to a live process, and the name is refused.
    pub(crate) async fn claim_name(&self) -> Result<()> {
        let key = host_key(&self.config.host);
        let secs = Some(self.config.lease_secs());
        let started = Instant::now();
        let mut seen: Option<u64> = None;
        let failed = |what: String, source: async_nats::Error| Error::JetStream {
            what,
            url: self.config.url_text(),
            source,
        };
        loop {
            let record = self.host_record(self.incarnation());
            let sent = Instant::now();
            let store = &self.store;
            let written = tokio::time::timeout(
                self.config.timeout,
                store.write(&store.hosts, &key, record, Expect::Absent, secs),
            )
            .await;
            match written {
                Ok(Ok(revision)) => {
                    self.lease_taken(revision, sent);
                    return Ok(());
                }
                Ok(Err(WriteError::Conflict)) => {}
                Ok(Err(WriteError::Failed(e))) => {
                    return Err(failed(
                        format!("cannot take the host name `{}`", self.config.host),
                        e.into(),
                    ));
                }
                Err(elapsed) => {
                    return Err(failed(
                        format!("cannot take the host name `{}`", self.config.host),
                        Box::new(elapsed),
                    ));
                }
            }
            let entry = store.entry(&store.hosts, &key).await.map_err(|e| {
                failed(
                    format!("cannot read the lease of `{}`", self.config.host),
                    e.into(),
                )
            })?;
            if let Some(entry) = entry.filter(|e| e.operation == Operation::Put) {
                let holder = HostRecord::decode(&entry.value)
                    .map(|r| r.describe())
                    .unwrap_or_else(|e| format!("an unreadable record ({e})"));
                let lease = HostRecord::decode(&entry.value)
                    .map_or(Duration::ZERO, |r| Duration::from_millis(r.lease_ms));
                match seen {
                    Some(revision) if revision != entry.revision => {
                        return Err(Error::HostNameTaken {
                            host: self.config.host.clone(),
                            cluster: self.config.name.clone(),
                            holder: format!(
                                "{holder}; it renewed its lease while this process waited"
                            ),
                        });
                    }
                    None => {
                        tracing::info!(host = %self.config.host, %holder, "the host name is held; waiting for that lease to lapse");
                        seen = Some(entry.revision);
                    }
                    Some(_) => {}
                }
                if started.elapsed() > lease + Duration::from_secs(2) {
                    return Err(Error::HostNameTaken {
                        host: self.config.host.clone(),
                        cluster: self.config.name.clone(),
                        holder: format!("{holder}; its lease did not lapse"),
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Renews the lease for ever (until the transport closes).
    pub(crate) async fn lease_loop(self: Arc<Self>) {
        let key = host_key(&self.config.host);
        let secs = Some(self.config.lease_secs());
        let retry = (self.config.lease / 10).max(Duration::from_millis(50));
        let mut next = Instant::now() + self.renew_every();
        let mut failing = false;
        loop {
            let wake = self.signals.wake.notified();
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                () = wake => {}
            }
            if self.closing.load(std::sync::atomic::Ordering::Acquire) {
                return;
            }
            let (incarnation, revision) = {
                let session = self.session.read();
                (session.incarnation, session.revision)
            };
            let sent = Instant::now();
            let store = &self.store;
            let written = tokio::time::timeout(
                self.renew_every().min(self.config.timeout),
                store.write(
                    &store.hosts,
                    &key,
                    self.host_record(incarnation),
                    Expect::Revision(revision),
                    secs,
                ),
            )
            .await;
            match written {
                Ok(Ok(revision)) => {
                    if failing {
                        tracing::info!(host = %self.config.host, "lease renewed again");
                        failing = false;
                    }
                    self.lease_taken(revision, sent);
                    next = sent + self.renew_every();
                }
                Ok(Err(WriteError::Conflict)) => {
                    match store.entry(&store.hosts, &key).await {
                        // A renewal given up for lost that landed after all: go on from it.
                        Ok(Some(entry))
                            if entry.operation == Operation::Put
                                && HostRecord::decode(&entry.value)
                                    .is_ok_and(|r| r.incarnation == incarnation) =>
                        {
                            self.session.write().revision = entry.revision;
                            next = Instant::now();
                        }
                        Ok(_) => {
                            self.clone()
                                .rejoin("its lease lapsed on the server", revision)
                                .await;
                            next = Instant::now() + self.renew_every();
                        }
                        Err(e) => {
                            tracing::debug!(host = %self.config.host, error = %e, "cannot read the lease");
                            next = Instant::now() + retry;
                        }
                    }
                }
                Ok(Err(WriteError::Failed(e))) => {
                    if !failing {
                        tracing::warn!(host = %self.config.host, error = %e, "cannot renew the lease; trying again");
                        failing = true;
                    }
                    next = Instant::now() + retry;
                }
                Err(_) => {
                    if !failing {
                        tracing::warn!(host = %self.config.host, "the lease renewal was not answered in time; trying again");
                        failing = true;
                    }
                    next = Instant::now() + retry;
                }
            }
        }
    }

    /// The lease lapsed on the server. Away for less than half of `give_up` (by this host's
    /// own clock, counted from when it stopped serving, which is before the server could
    /// delete its record), it takes its name again as the same incarnation: the other hosts
    /// still keep what they owe it and what it owes them, so nothing is dropped, and each id
    /// another host took meanwhile is evicted here. Away longer, its peers may have given up
    /// on it: it starts again as a new incarnation and drops what came from them (they report
    /// it).
    async fn rejoin(self: Arc<Self>, reason: &str, old_revision: u64) {
        add(&self.stats.leases_lost, 1);
        let host = self.config.host.clone();
        self.session.write().serving = false;
        if let Some(router) = self.router() {
            router.serve_until(Instant::now());
        }
        let stopped = self
            .session
            .read()
            .renewed
            .map_or(Instant::now(), |renewed| renewed + self.fence_after());
        let away = Instant::now().saturating_duration_since(stopped);
        if away < self.config.give_up / 2 {
            tracing::warn!(%host, %reason, away_ms = away.as_millis(), "lease lost: serving stops until this host holds its name and its ids again");
            if !self.retake_name(old_revision).await {
                return;
            }
            tokio::spawn(self.recheck_all());
            return;
        }
        tracing::warn!(%host, %reason, away_ms = away.as_millis(), "lease lost for long: this host joins again as a new incarnation");
        let why = format!("host {host} lost its cluster lease ({reason})");
        if let Some(router) = self.router() {
            let dropped = router.lease_lost(&why);
            if dropped > 0 {
                tracing::warn!(%host, dropped, "messages from other hosts dropped unhandled (their senders report them)");
            }
        }
        self.forget_peers();
        let incarnation = crate::incarnation::new();
        self.session.write().incarnation = incarnation;
        while let Err(e) = self.clone().open_inbox().await {
            tracing::warn!(%host, error = %e, "cannot open the new inbox; trying again");
            tokio::time::sleep(self.renew_every()).await;
        }
        if !self.retake_name(old_revision).await {
            return;
        }
        tokio::spawn(self.reclaim_all());
    }

    /// The ids this host holds, with their claims, as they are now.
    fn owned_now(&self) -> Vec<(ComponentId, Owned)> {
        self.owned
            .lock()
            .iter()
            .map(|(id, o)| (id.clone(), *o))
            .collect()
    }

    /// After a short lapse: every id is still this incarnation's unless another host took
    /// it meanwhile (it saw no live owner); those are evicted. Then serves again.
    async fn recheck_all(self: Arc<Self>) {
        let owned = self.owned_now();
        let incarnation = self.incarnation();
        let inner = &self;
        futures_util::stream::iter(owned)
            .map(|(id, owned)| async move {
                let store = &inner.store;
                loop {
                    match store.entry(&store.owners, &crate::subject::owner_key(&id)).await {
                        Ok(entry) => {
                            let ours = entry
                                .filter(|e| e.operation == Operation::Put && e.revision == owned.revision)
                                .and_then(|e| crate::records::OwnerRecord::decode(&e.value).ok())
                                .is_some_and(|r| r.host == inner.config.host && r.incarnation == incarnation);
                            if !ours {
                                inner.lose(&id, "another host took its id while this host's lease had lapsed");
                            }
                            return;
                        }
                        Err(e) => {
                            tracing::debug!(component = %id, error = %e, "cannot read the claim yet");
                            tokio::time::sleep(inner.renew_every()).await;
                        }
                    }
                }
            })
            .buffer_unordered(PARALLEL)
            .collect::<Vec<()>>()
            .await;
        self.serve_again();
        tracing::info!(host = %self.config.host, "serving again");
    }

    /// Another host took `id` while this one's lease was in doubt: it is no longer this
    /// host's (its storage copy included), and its component here is evicted.
    fn lose(&self, id: &ComponentId, reason: &str) {
        self.owned.lock().remove(id);
        if let Some(storage) = self.storage.get() {
            storage.release(id);
        }
        if let Some(router) = self.router() {
            router.evict(id, reason);
        }
    }

    /// Components are served again, up to where the lease allows.
    fn serve_again(&self) {
        self.session.write().serving = true;
        self.open_fence();
    }

    /// Ends every exchange of the old incarnation: the peers take it as ended and let go of
    /// what it sent them; what it sent them and they had not confirmed is reported here.
    fn forget_peers(&self) {
        let peers: Vec<_> = self.peers.write().drain().map(|(_, peer)| peer).collect();
        for peer in peers {
            self.let_go_of(
                &peer,
                "this host was away past half of its give_up_ms and starts again as a new \
                 incarnation; the target's host had not confirmed handling the message",
            );
        }
        self.asked.lock().clear();
        self.confirmed.lock().clear();
    }

    /// Writes the name for the new incarnation over the old record (or where it lapsed).
    /// `false` if another process took the name meanwhile: this host cannot go on.
    async fn retake_name(&self, old_revision: u64) -> bool {
        let key = host_key(&self.config.host);
        let secs = Some(self.config.lease_secs());
        let mut expect = Expect::Revision(old_revision);
        loop {
            let record = self.host_record(self.incarnation());
            let sent = Instant::now();
            let store = &self.store;
            match store.write(&store.hosts, &key, record, expect, secs).await {
                Ok(revision) => {
                    self.lease_taken(revision, sent);
                    return true;
                }
                Err(WriteError::Conflict) if expect != Expect::Absent => expect = Expect::Absent,
                Err(WriteError::Conflict) => {
                    tracing::error!(host = %self.config.host, "another process took this host's name while this one was cut off; its components are stopped and it leaves the cluster");
                    self.closing
                        .store(true, std::sync::atomic::Ordering::Release);
                    if let Some(router) = self.router() {
                        let owned: Vec<ComponentId> =
                            self.owned.lock().drain().map(|(id, _)| id).collect();
                        for id in owned {
                            router
                                .evict(&id, "another process took this host's name in the cluster");
                        }
                    }
                    return false;
                }
                Err(WriteError::Failed(e)) => {
                    tracing::debug!(host = %self.config.host, error = %e, "cannot take the name again yet");
                    tokio::time::sleep(self.renew_every()).await;
                }
            }
        }
    }

    /// Claims every id again for the new incarnation; one another host took meanwhile is
    /// evicted. Then serves again.
    async fn reclaim_all(self: Arc<Self>) {
        let owned = self.owned_now();
        let count = owned.len();
        let inner = &self;
        futures_util::stream::iter(owned)
            .map(|(id, owned)| async move {
                loop {
                    match inner.take(&id, Expect::Revision(owned.revision)).await {
                        Ok(again) => {
                            inner.owned.lock().insert(id, again);
                            return;
                        }
                        Err(Taken::Held(reason)) => {
                            inner.lose(&id, &reason);
                            return;
                        }
                        Err(Taken::Failed(e)) => {
                            tracing::debug!(component = %id, error = %e, "cannot claim again yet");
                            tokio::time::sleep(inner.renew_every()).await;
                        }
                    }
                }
            })
            .buffer_unordered(PARALLEL)
            .collect::<Vec<()>>()
            .await;
        self.serve_again();
        tracing::info!(host = %self.config.host, ids = count, incarnation = %format!("{:016x}", self.incarnation()), "serving again as a new incarnation");
        if let Some(router) = self.router() {
            for info in router.local_components() {
                self.announce(info).await;
            }
        }
    }
}

/// This machine's name, for the host record.
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_owned())
}
