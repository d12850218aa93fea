//! One storage transaction per call, on real fixtures: a call's writes are kept together or
//! not at all, the reply to a writing request waits for the commit, and a commit waiting on a
//! slow disk holds up no other component.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use test_fixtures::fixture_path;
use wasm_host::{
    CommitFuture, ComponentId, Grants, Host, MemoryStorage, Placement, RedbStorage, StorageBackend,
    StorageError, StorageGrant, StorageQuota, StorageUsage, WriteSet,
};

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

fn storage_grants() -> Grants {
    Grants::none().with_storage(StorageGrant {
        read: true,
        write: true,
        delete: true,
        quota: StorageQuota::default(),
    })
}

async fn start(host: &Host, name: &str, fixture: &str, grants: Grants) {
    let component = host.load_component_file(fixture_path(fixture)).unwrap();
    host.start_component(host.spec(id(name), component).with_grants(grants))
        .await
        .unwrap();
}

async fn ask(host: &Host, to: &str, payload: &str) -> String {
    let reply = host
        .request(&id(to), payload)
        .await
        .unwrap_or_else(|e| panic!("request {payload:?} to {to}: {e}"));
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_traps_after_two_writes_leaves_neither() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trap.redb");
    let host = Host::builder().storage_file(&file).build().unwrap();
    start(&host, "t/counter/1", "counter", storage_grants()).await;
    assert_eq!(ask(&host, "t/counter/1", "pair 1").await, "1");
    let trapped = host
        .request(&id("t/counter/1"), "pair-then-trap 2")
        .await
        .expect_err("the call trapped");
    assert!(trapped.to_string().contains("trapped"), "{trapped}");
    // The restarted instance sees neither write of the trapped call.
    assert_eq!(ask(&host, "t/counter/1", "exists 2/a").await, "false");
    assert_eq!(ask(&host, "t/counter/1", "exists 2/b").await, "false");
    assert_eq!(ask(&host, "t/counter/1", "keys").await, "1/a,1/b");
    assert_eq!(
        ask(&host, "t/counter/1", "usage").await,
        "used=8 quota=1048576 keys=2"
    );
    host.shutdown().await.unwrap();
    // And neither is in the file.
    let store = RedbStorage::open(&file).unwrap();
    let keys = store.list_keys(&id("t/counter/1"), None).unwrap();
    // (`shutdown` is what the counter's shutdown export stores.)
    assert_eq!(keys, vec!["1/a", "1/b", "shutdown"]);
    store.close().unwrap();
}

/// A disk whose commits wait, on a thread of their own, until the test opens it.
#[derive(Debug, Default)]
struct GatedDisk {
    inner: Arc<MemoryStorage>,
    gate: Arc<(Mutex<bool>, Condvar)>,
    waiting: Arc<AtomicUsize>,
}

impl GatedDisk {
    fn open(&self) {
        let (open, changed) = &*self.gate;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }
}

impl StorageBackend for GatedDisk {
    fn get(&self, namespace: &ComponentId, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(namespace, key)
    }

    fn list_keys(
        &self,
        namespace: &ComponentId,
        prefix: Option<&str>,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.list_keys(namespace, prefix)
    }

    fn usage(
        &self,
        namespace: &ComponentId,
        quota: &StorageQuota,
    ) -> Result<StorageUsage, StorageError> {
        self.inner.usage(namespace, quota)
    }

    fn commit(&self, writes: WriteSet) -> CommitFuture {
        let (done, answer) = tokio::sync::oneshot::channel();
        let (inner, gate, waiting) = (self.inner.clone(), self.gate.clone(), self.waiting.clone());
        waiting.fetch_add(1, Ordering::SeqCst);
        std::thread::spawn(move || {
            let (open, changed) = &*gate;
            let mut is_open = open.lock().unwrap();
            while !*is_open {
                is_open = changed.wait(is_open).unwrap();
            }
            inner.apply(&writes);
            waiting.fetch_sub(1, Ordering::SeqCst);
            let _ = done.send(());
        });
        Box::pin(async move {
            answer
                .await
                .map_err(|_| StorageError::IoError("the disk thread died".into()))
        })
    }
}

/// On one thread (the components on the test's runtime, not on shards): if a commit blocked
/// the executor, echo could never answer.
#[tokio::test(flavor = "current_thread")]
async fn a_request_to_a_component_without_storage_is_answered_while_another_waits_on_the_disk() {
    let disk = Arc::new(GatedDisk::default());
    let host = Arc::new(
        Host::builder()
            .placement(Placement::Caller)
            .storage_backend(disk.clone())
            .build()
            .unwrap(),
    );
    start(&host, "t/counter/1", "counter", storage_grants()).await;
    start(&host, "t/echo/1", "echo", Grants::none()).await;
    // Reads need no commit: answered with the disk closed.
    assert_eq!(ask(&host, "t/counter/1", "load").await, "none");
    let writer = {
        let host = host.clone();
        tokio::spawn(async move { ask(&host, "t/counter/1", "inc").await })
    };
    // Wait (without a clock) until the counter's commit is at the disk.
    while disk.waiting.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let echoed = tokio::time::timeout(Duration::from_secs(60), ask(&host, "t/echo/1", "hi"))
        .await
        .expect("echo was held up by another component's commit");
    assert_eq!(echoed, "hi");
    // The writing request is not answered before its commit is durable.
    assert!(!writer.is_finished());
    assert_eq!(disk.inner.get(&id("t/counter/1"), "count").unwrap(), None);
    disk.open();
    assert_eq!(writer.await.unwrap(), "1");
    assert_eq!(
        disk.inner.get(&id("t/counter/1"), "count").unwrap(),
        Some(b"1".to_vec())
    );
    host.shutdown().await.unwrap();
}
