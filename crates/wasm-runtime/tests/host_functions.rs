//! Each host function exercised from a real fixture, with the capability granted and denied.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{RecordingRouter, Routed, ask, engine, id, limits, start, start_plain, start_with};
use wasm_core::{ComponentConfig, ComponentDirectory, ComponentId, ComponentInfo, StorageQuota};
use wasm_runtime::{HostServices, MemoryStorage};
use wasm_security::{
    Capability, Decision, FilesystemGrant, FsAccess, Grants, MemoryAuditLog, MessagingAction,
    MessagingGrant, StorageGrant, StorageOp,
};

fn services(router: &Arc<RecordingRouter>, audit: &Arc<MemoryAuditLog>) -> HostServices {
    HostServices::standalone()
        .with_router(router.clone())
        .with_audit(audit.clone())
}

fn messaging(actions: &[MessagingAction], targets: &str) -> Grants {
    Grants {
        messaging: vec![MessagingGrant {
            actions: actions.to_vec(),
            targets: targets.into(),
        }],
        ..Grants::default()
    }
}

fn storage(read: bool, write: bool, delete: bool, quota: StorageQuota) -> Grants {
    Grants {
        storage: Some(StorageGrant {
            read,
            write,
            delete,
            quota,
        }),
        ..Grants::default()
    }
}

#[tokio::test]
async fn send_request_and_cancel_reach_the_router_when_granted() {
    let engine = engine();
    let (router, audit) = (
        Arc::new(RecordingRouter::default()),
        Arc::new(MemoryAuditLog::new(16)),
    );
    let grants = messaging(
        &[MessagingAction::Send, MessagingAction::Request],
        "test/*/1",
    );
    let mut requester = start(&engine, "requester", &grants, services(&router, &audit)).await;
    assert_eq!(ask(&mut requester, "send test/echo/1 hi there").await, "ok");
    assert_eq!(
        ask(&mut requester, "request test/echo/1 250 ping").await,
        "corr-1"
    );
    assert_eq!(ask(&mut requester, "cancel corr-1").await, "ok");
    let me = id("test/requester/1");
    assert_eq!(
        router.calls(),
        vec![
            Routed::Send(me.clone(), id("test/echo/1"), b"hi there".to_vec()),
            Routed::Request(
                me.clone(),
                id("test/echo/1"),
                b"ping".to_vec(),
                Duration::from_millis(250)
            ),
            Routed::Cancel(me, wasm_core::CorrelationId::new("corr-1")),
        ]
    );
    assert!(audit.is_empty());
}

#[tokio::test]
async fn messaging_outside_the_grant_is_denied_audited_and_never_routed() {
    let engine = engine();
    let (router, audit) = (
        Arc::new(RecordingRouter::default()),
        Arc::new(MemoryAuditLog::new(16)),
    );
    // Send is granted to one namespace only; request is not granted at all.
    let grants = messaging(&[MessagingAction::Send], "friends/**");
    let mut requester = start(&engine, "requester", &grants, services(&router, &audit)).await;
    let denied = ask(&mut requester, "send test/echo/1 hi").await;
    assert!(denied.starts_with("err: DeliveryFailed"), "{denied}");
    assert!(
        denied.contains("messaging.send") && denied.contains("test/echo/1"),
        "{denied}"
    );
    let denied = ask(&mut requester, "request friends/a/1 100 hi").await;
    assert!(denied.contains("messaging.request"), "{denied}");
    assert!(router.calls().is_empty());
    let events = audit.denials_of(&id("test/requester/1"));
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].capability,
        Capability::Messaging(MessagingAction::Send)
    );
    assert_eq!(events[0].resource, "test/echo/1");
    assert_eq!(events[0].decision, Decision::Denied);
    // A malformed target is an invalid message, not a denial.
    let bad = ask(&mut requester, "send not-an-id hi").await;
    assert!(bad.starts_with("err:"), "{bad}");
}

#[tokio::test]
async fn broadcast_checks_every_target_before_sending_anything() {
    let engine = engine();
    let (router, audit) = (
        Arc::new(RecordingRouter::default()),
        Arc::new(MemoryAuditLog::new(16)),
    );
    let grants = messaging(&[MessagingAction::Broadcast], "audit/**");
    let mut broadcaster = start(&engine, "broadcaster", &grants, services(&router, &audit)).await;
    assert_eq!(
        ask(&mut broadcaster, "broadcast audit/a/1,audit/b/1 event").await,
        "ok"
    );
    let denied = ask(&mut broadcaster, "broadcast audit/a/1,secret/x/1 event").await;
    assert!(
        denied.contains("messaging.broadcast") && denied.contains("secret/x/1"),
        "{denied}"
    );
    assert_eq!(
        router.calls(),
        vec![Routed::Broadcast(
            id("test/broadcaster/1"),
            vec![id("audit/a/1"), id("audit/b/1")],
            b"event".to_vec()
        )]
    );
    assert_eq!(audit.denials_of(&id("test/broadcaster/1")).len(), 1);
}

#[derive(Debug)]
struct TwoComponents;

impl ComponentDirectory for TwoComponents {
    fn components(&self) -> Vec<ComponentId> {
        vec![id("a/b/1"), id("c/d/1")]
    }

    fn info(&self, component: &ComponentId) -> Option<ComponentInfo> {
        (component == &id("a/b/1")).then(|| ComponentInfo {
            id: component.clone(),
            name: "b".into(),
            version: "2.0.0".into(),
            health: "healthy".into(),
        })
    }
}

#[tokio::test]
async fn the_directory_shows_only_what_the_discover_grant_names() {
    let engine = engine();
    let audit = Arc::new(wasm_security::MemoryAuditLog::new(16));
    let services = HostServices::standalone()
        .with_directory(Arc::new(TwoComponents))
        .with_audit(audit.clone());
    // No grant: nobody is listed, metadata is refused naming the capability; both audited.
    let mut blind = start(&engine, "logger", &Grants::default(), services.clone()).await;
    assert_eq!(ask(&mut blind, "list").await, "");
    let refused = ask(&mut blind, "info a/b/1").await;
    assert!(
        refused.starts_with("err:") && refused.contains("`discover` is not granted"),
        "{refused}"
    );
    let denials: Vec<String> = audit
        .denials_of(&id("test/logger/1"))
        .iter()
        .map(|e| format!("{} {}", e.capability.as_str(), e.resource))
        .collect();
    assert_eq!(denials, vec!["discover list-components", "discover a/b/1"]);
    // A grant for one namespace shows that namespace only.
    let grants = Grants::default().with_discover("c/**");
    let mut narrow = start(&engine, "logger", &grants, services).await;
    assert_eq!(ask(&mut narrow, "list").await, "c/d/1");
    assert!(
        ask(&mut narrow, "info a/b/1")
            .await
            .contains("`discover` is not granted")
    );
}

#[tokio::test]
async fn host_services_answer_time_identity_directory_and_log() {
    let engine = engine();
    let services = HostServices::standalone().with_directory(Arc::new(TwoComponents));
    let grants = Grants::default().with_discover("**");
    let mut logger = start(&engine, "logger", &grants, services).await;
    assert_eq!(ask(&mut logger, "self").await, "test/logger/1");
    assert_eq!(ask(&mut logger, "list").await, "a/b/1,c/d/1");
    assert_eq!(ask(&mut logger, "info a/b/1").await, "b 2.0.0 healthy");
    let missing = ask(&mut logger, "info x/y/1").await;
    assert!(
        missing.starts_with("err:") && missing.contains("x/y/1"),
        "{missing}"
    );
    assert_eq!(
        ask(&mut logger, "log info hello from the guest").await,
        "ok"
    );
    let time = ask(&mut logger, "time").await;
    let (precise, millis) = time.split_once(' ').expect("two fields");
    let seconds: u64 = precise
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("seconds");
    let millis: u64 = millis.parse().expect("millis");
    let now = wasm_core::Timestamp::now();
    assert!(now.seconds.abs_diff(seconds) < 60, "{time}");
    assert!(
        millis / 1000 >= seconds && millis / 1000 <= seconds + 1,
        "{time}"
    );
}

#[tokio::test]
async fn storage_works_within_the_grant_and_quota() {
    let engine = engine();
    let quota = StorageQuota {
        max_bytes: 64,
        max_keys: 3,
    };
    let grants = storage(true, true, true, quota);
    let mut counter = start(&engine, "counter", &grants, HostServices::standalone()).await;
    assert_eq!(ask(&mut counter, "inc").await, "1");
    assert_eq!(ask(&mut counter, "inc").await, "2");
    assert_eq!(ask(&mut counter, "load").await, "2");
    assert_eq!(ask(&mut counter, "put user.a alpha").await, "ok");
    assert_eq!(ask(&mut counter, "exists user.a").await, "true");
    assert_eq!(ask(&mut counter, "keys user.").await, "user.a");
    assert_eq!(ask(&mut counter, "keys").await, "count,user.a");
    assert_eq!(ask(&mut counter, "usage").await, "used=17 quota=64 keys=2");
    assert_eq!(ask(&mut counter, "put user.b beta").await, "ok");
    let over = ask(&mut counter, "put user.c gamma").await;
    assert_eq!(over, "err: QuotaExceeded");
    assert_eq!(ask(&mut counter, "exists user.c").await, "false");
    assert_eq!(ask(&mut counter, "del user.a").await, "ok");
    assert_eq!(ask(&mut counter, "exists user.a").await, "false");
    let long_key = "k".repeat(2000);
    let invalid = ask(&mut counter, &format!("put {long_key} v")).await;
    assert!(invalid.starts_with("err: InvalidKey"), "{invalid}");
}

#[tokio::test]
async fn storage_without_the_capability_is_denied_and_audited() {
    let engine = engine();
    let audit = Arc::new(MemoryAuditLog::new(16));
    let read_only = storage(true, false, false, StorageQuota::default());
    let services = HostServices::standalone().with_audit(audit.clone());
    let mut counter = start(&engine, "counter", &read_only, services).await;
    assert_eq!(ask(&mut counter, "load").await, "none");
    let denied = ask(&mut counter, "put k v").await;
    assert!(
        denied.contains("permission denied") && denied.contains("storage.write"),
        "{denied}"
    );
    let denied = ask(&mut counter, "del k").await;
    assert!(denied.contains("storage.delete"), "{denied}");
    let events = audit.denials_of(&id("test/counter/1"));
    assert_eq!(
        events.iter().map(|e| e.capability).collect::<Vec<_>>(),
        vec![
            Capability::Storage(StorageOp::Write),
            Capability::Storage(StorageOp::Delete)
        ]
    );
}

#[tokio::test]
async fn the_intruder_is_denied_and_cannot_see_another_components_keys() {
    let engine = engine();
    let (router, audit) = (
        Arc::new(RecordingRouter::default()),
        Arc::new(MemoryAuditLog::new(16)),
    );
    let shared = Arc::new(MemoryStorage::new());
    let all = storage(true, true, true, StorageQuota::default());
    let counter_services = HostServices::standalone().with_storage(shared.clone());
    let mut counter = start(&engine, "counter", &all, counter_services).await;
    assert_eq!(ask(&mut counter, "inc").await, "1");

    let services = services(&router, &audit).with_storage(shared);
    let mut intruder = start(&engine, "intruder", &all, services).await;
    let sent = ask(&mut intruder, "send test/counter/1").await;
    assert!(sent.starts_with("denied:"), "{sent}");
    let asked = ask(&mut intruder, "request test/counter/1").await;
    assert!(asked.starts_with("denied:"), "{asked}");
    assert_eq!(ask(&mut intruder, "steal count").await, "none");
    assert_eq!(ask(&mut intruder, "steal ../counter/1/count").await, "none");
    assert_eq!(
        ask(&mut intruder, "steal test/counter/1/count").await,
        "none"
    );
    assert!(router.calls().is_empty());
    assert_eq!(audit.denials_of(&id("test/intruder/1")).len(), 2);
}

#[tokio::test]
async fn wasi_sees_only_granted_environment_and_directories() {
    let engine = engine();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("note.txt"), "granted file").expect("write");
    let grants = Grants {
        env: vec![("GREETING".into(), "hej".into())],
        filesystem: vec![FilesystemGrant {
            host_path: dir.path().to_owned(),
            guest_path: "/data".into(),
            access: FsAccess::Read,
        }],
        ..Grants::default()
    };
    let config = ComponentConfig::default();
    let mut logger = start_with(
        &engine,
        "logger",
        "test/logger/1",
        &grants,
        HostServices::standalone(),
        limits(),
        config,
    )
    .await;
    assert_eq!(ask(&mut logger, "env GREETING").await, "hej");
    assert_eq!(ask(&mut logger, "env HOME").await, "unset");
    assert_eq!(
        ask(&mut logger, "read /data/note.txt").await,
        "granted file"
    );
    let write = ask(&mut logger, "write /data/new.txt x").await;
    assert!(write.starts_with("err:"), "{write}");
    assert!(!dir.path().join("new.txt").exists());
    let outside = ask(&mut logger, "read /etc/hostname").await;
    assert!(outside.starts_with("err:"), "{outside}");

    // Without grants there is no environment and no filesystem at all.
    let mut bare = start_plain(&engine, "logger").await;
    assert_eq!(ask(&mut bare, "env GREETING").await, "unset");
    assert!(
        ask(&mut bare, "read /data/note.txt")
            .await
            .starts_with("err:")
    );
}

#[tokio::test]
async fn read_write_preopens_allow_writes() {
    let engine = engine();
    let dir = tempfile::tempdir().expect("temp dir");
    let grants = Grants {
        filesystem: vec![FilesystemGrant {
            host_path: dir.path().to_owned(),
            guest_path: "/data".into(),
            access: FsAccess::ReadWrite,
        }],
        ..Grants::default()
    };
    let mut logger = start(&engine, "logger", &grants, HostServices::standalone()).await;
    assert_eq!(ask(&mut logger, "write /data/out.txt written").await, "ok");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.txt")).expect("file"),
        "written"
    );
}
