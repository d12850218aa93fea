//! The facade end to end on real fixtures: a manifest loads and answers, storage persists
//! across host restarts, quotas hold and components never see each other's keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use test_fixtures::fixture_path;
use wasm_host::{ComponentId, Host, Manifest};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// Writes a manifest into `dir` naming the fixtures by absolute path.
fn manifest(dir: &Path, storage: &str, quota: &str) -> PathBuf {
    let text = format!(
        r#"
[host]
storage = "{storage}"
mailbox = 32
shutdown_deadline_ms = 2000
request_timeout_ms = 10000

[host.limits]
max_execution_time_ms = 2000

[[components]]
id = "demo/echo/1"
path = "{echo}"

[[components]]
id = "demo/counter/1"
path = "{counter}"
restart = "transient"

[components.capabilities.storage]
read = true
write = true
delete = true
{quota}

[[components]]
id = "demo/counter/2"
path = "{counter}"

[components.capabilities.storage]
read = true
write = true

[[components]]
id = "demo/intruder/1"
path = "{intruder}"

[components.capabilities.messaging]
send = ["demo/echo/*"]

[components.capabilities.storage]
read = true

[[groups]]
name = "counters"
strategy = "one-for-all"
members = ["demo/counter/1", "demo/counter/2"]

[groups.intensity]
max_restarts = 3
window_ms = 5000
"#,
        echo = fixture_path("echo").display(),
        counter = fixture_path("counter").display(),
        intruder = fixture_path("intruder").display(),
    );
    let path = dir.join("system.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

async fn ask(host: &Host, to: &str, payload: &str) -> String {
    let reply = host
        .request(&id(to), payload)
        .await
        .unwrap_or_else(|e| panic!("request {payload:?} to {to}: {e}"));
    String::from_utf8_lossy(&reply).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_manifest_loads_and_answers_requests() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = manifest(dir.path(), ":memory:", "");
    let manifest = Manifest::from_file(&path)?;
    assert_eq!(manifest.groups()[0].members.len(), 2);
    let (host, _) = Host::from_manifest_file(&path).await?;
    assert_eq!(
        host.components(),
        vec![
            id("demo/counter/1"),
            id("demo/counter/2"),
            id("demo/echo/1"),
            id("demo/intruder/1")
        ]
    );
    assert_eq!(ask(&host, "demo/echo/1", "hello").await, "hello");
    assert_eq!(ask(&host, "demo/counter/1", "inc").await, "1");
    // The manifest's default limit reached the component.
    let info = host.info(&id("demo/echo/1")).ok_or("echo is not running")?;
    assert_eq!(info.id, id("demo/echo/1"));
    // The intruder may message echo, not the counter; the denial is audited.
    assert_eq!(
        ask(&host, "demo/intruder/1", "send demo/echo/1").await,
        "sent"
    );
    let denied = ask(&host, "demo/intruder/1", "send demo/counter/1").await;
    assert!(denied.starts_with("denied:"), "{denied}");
    assert!(!host.audit().denials_of(&id("demo/intruder/1")).is_empty());
    // Once idle the counters are exact: 4 requests handled plus the message the intruder
    // sent to echo; one denial. (The timeout is only a hang guard.)
    tokio::time::timeout(std::time::Duration::from_secs(60), host.wait_idle()).await?;
    assert!(host.is_idle());
    let stats = host.stats();
    assert_eq!(stats.messages_handled, 5, "{stats:?}");
    assert_eq!(stats.capability_denials, 1, "{stats:?}");
    assert_eq!(stats.requests_answered, 5 - 1, "{stats:?}");
    host.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_survives_a_host_restart() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = manifest(dir.path(), "data/store.redb", "");
    {
        let (host, _) = Host::from_manifest_file(&path).await?;
        for expected in ["1", "2", "3"] {
            assert_eq!(ask(&host, "demo/counter/1", "inc").await, expected);
        }
        assert_eq!(ask(&host, "demo/counter/1", "put note kept").await, "ok");
        host.shutdown().await?;
    }
    assert!(dir.path().join("data/store.redb").is_file());
    let (host, _) = Host::from_manifest_file(&path).await?;
    // `initialize` loaded the stored count; the stored values are there.
    assert_eq!(ask(&host, "demo/counter/1", "get").await, "3");
    assert_eq!(ask(&host, "demo/counter/1", "load").await, "3");
    assert_eq!(
        ask(&host, "demo/counter/1", "keys").await,
        "count,note,shutdown"
    );
    // The graceful shutdown called the component's `shutdown`, which wrote this key.
    assert_eq!(
        ask(&host, "demo/counter/1", "exists shutdown").await,
        "true"
    );
    assert_eq!(ask(&host, "demo/counter/1", "inc").await, "4");
    host.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_of_bytes_and_keys_hold() -> TestResult {
    let dir = tempfile::tempdir()?;
    // "count"+"1" = 6 bytes, "a"+"1234" = 5, "shutdown"+"clean" = 13 on shutdown.
    let path = manifest(dir.path(), "q.redb", "quota_bytes = 16\nquota_keys = 2");
    let (host, _) = Host::from_manifest_file(&path).await?;
    let c = "demo/counter/1";
    assert_eq!(ask(&host, c, "put a 1234").await, "ok");
    // 5 + 12 bytes > 16.
    assert_eq!(
        ask(&host, c, "put b 12345678901").await,
        "err: QuotaExceeded"
    );
    assert_eq!(ask(&host, c, "put b 1").await, "ok");
    // A third key is refused, replacing an existing one is fine.
    assert_eq!(ask(&host, c, "put c 1").await, "err: QuotaExceeded");
    assert_eq!(ask(&host, c, "put a 12").await, "ok");
    assert_eq!(ask(&host, c, "keys").await, "a,b");
    assert_eq!(ask(&host, c, "usage").await, "used=5 quota=16 keys=2");
    // Deleting frees room.
    assert_eq!(ask(&host, c, "del b").await, "ok");
    assert_eq!(ask(&host, c, "put c 1").await, "ok");
    // Keys are validated.
    let long = "k".repeat(1025);
    let reply = ask(&host, c, &format!("put {long} v")).await;
    assert!(reply.starts_with("err: InvalidKey("), "{reply}");
    host.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_never_reads_or_lists_anothers_keys() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = manifest(dir.path(), "iso.redb", "");
    let (host, _) = Host::from_manifest_file(&path).await?;
    assert_eq!(ask(&host, "demo/counter/1", "put secret 42").await, "ok");
    assert_eq!(ask(&host, "demo/counter/1", "exists secret").await, "true");
    // Same fixture, another id: another namespace.
    assert_eq!(ask(&host, "demo/counter/2", "exists secret").await, "false");
    assert_eq!(ask(&host, "demo/counter/2", "keys").await, "");
    // The intruder reads its own namespace, whatever key it names.
    assert_eq!(ask(&host, "demo/intruder/1", "steal secret").await, "none");
    assert_eq!(
        ask(&host, "demo/intruder/1", "steal demo/counter/1/secret").await,
        "none"
    );
    // Its messaging grant covers echo only.
    let denied = ask(&host, "demo/intruder/1", "send demo/counter/2").await;
    assert!(denied.starts_with("denied:"), "{denied}");
    host.shutdown().await?;
    // The data is in the file under the right namespace only.
    let store = wasm_host::RedbStorage::open(dir.path().join("iso.redb"))?;
    use wasm_host::StorageBackend;
    assert_eq!(
        store.get(&id("demo/counter/1"), "secret")?,
        Some(b"42".to_vec())
    );
    assert_eq!(store.get(&id("demo/counter/2"), "secret")?, None);
    assert!(store.list_keys(&id("demo/intruder/1"), None)?.is_empty());
    store.close()?;
    Ok(())
}

/// Writes a manifest of a sleeper and a counter, each with a tiny mailbox.
fn small_mailboxes(dir: &Path) -> PathBuf {
    let text = format!(
        r#"
[host]
storage = ":memory:"
request_timeout_ms = 30000

[[components]]
id = "demo/sleeper/1"
path = "{sleeper}"
mailbox = 1

[[components]]
id = "demo/counter/1"
path = "{counter}"
mailbox = 4

[components.capabilities.storage]
read = true
write = true
"#,
        sleeper = fixture_path("sleeper").display(),
        counter = fixture_path("counter").display(),
    );
    let path = dir.join("small.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_refuses_a_full_mailbox_at_once_and_send_timeout_waits_for_room() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (host, _) = Host::from_manifest_file(small_mailboxes(dir.path())).await?;
    let sleeper = id("demo/sleeper/1");
    // The sleeper takes this and sleeps; its one-slot mailbox then fills with the next send.
    host.send(&sleeper, "sleep 500")?;
    let mut refused = None;
    for _ in 0..1000 {
        match host.send(&sleeper, "ping") {
            Ok(()) => tokio::task::yield_now().await,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("a one-slot mailbox behind a sleeping component fills");
    assert!(refused.is_queue_full(), "{refused}");
    assert_eq!(
        refused.messaging(),
        Some(&wasm_host::MessagingError::QueueFull)
    );
    assert!(matches!(
        refused,
        wasm_host::Error::Actor(wasm_host::ActorError::Delivery { .. })
    ));
    // The awaiting send gets in once the sleeper wakes and takes the queued ping.
    host.send_timeout(&sleeper, "ping", std::time::Duration::from_secs(30))
        .await?;

    // Every message of a stream sent with send_timeout is handled, none refused or lost.
    let counter = id("demo/counter/1");
    for _ in 0..500 {
        host.send_timeout(&counter, "inc", std::time::Duration::from_secs(30))
            .await?;
    }
    host.wait_idle().await;
    assert_eq!(ask(&host, "demo/counter/1", "get").await, "500");

    // A target that does not exist is not waited for.
    let missing = host
        .send_timeout(&id("demo/none/1"), "x", std::time::Duration::from_secs(30))
        .await
        .expect_err("no such component");
    assert!(!missing.is_queue_full());
    assert!(matches!(
        missing.messaging(),
        Some(wasm_host::MessagingError::TargetNotFound(_))
    ));
    host.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn build_refuses_default_limits_the_pool_cannot_hold() {
    let pool = wasm_host::PoolingConfig {
        max_instances: 16,
        max_memory_bytes: 16 * 1024 * 1024,
        ..Default::default()
    };
    let refused = match Host::builder().pooling(Some(pool)).memory_storage().build() {
        Ok(_) => panic!("64 MiB default limits do not fit 16 MiB slots"),
        Err(e) => e,
    };
    let text = refused.to_string();
    assert!(
        matches!(refused, wasm_host::Error::Limits { .. }),
        "{refused:?}"
    );
    assert!(
        text.contains("67108864") && text.contains("16777216"),
        "{text}"
    );
    // Limits within the slots build, and a component starts.
    let host = Host::builder()
        .pooling(Some(pool))
        .memory_storage()
        .default_limits(wasm_host::ResourceLimits {
            max_memory_bytes: 16 * 1024 * 1024,
            ..Default::default()
        })
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let echo = host
        .load_component_file(fixture_path("echo"))
        .unwrap_or_else(|e| panic!("{e}"));
    let spec = host.spec(id("demo/echo/1"), echo);
    host.start_component(spec)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ask(&host, "demo/echo/1", "hi").await, "hi");
    host.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
}
