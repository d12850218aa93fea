//! Live upgrade on real fixtures: nothing lost or reordered while a sender keeps sending,
//! state handed over through `airssys:core/state-handoff@1.1.0`, broken versions rolled back,
//! group members upgraded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use test_fixtures::{fixture, fixture_path};
use wasm_host::{
    ActorError, ComponentId, Error, Grants, GroupSpec, Host, StorageGrant, StorageQuota,
    SystemEvent,
};

fn id(text: &str) -> ComponentId {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// Storage for the counter (it keeps its count there).
fn storage() -> Grants {
    Grants::none().with_storage(StorageGrant {
        read: true,
        write: true,
        delete: true,
        quota: StorageQuota::default(),
    })
}

async fn host_with(name: &str, component: &str) -> Host {
    let host = Host::builder().mailbox_capacity(64).build().unwrap();
    let code = host.load_component_file(fixture_path(component)).unwrap();
    host.start_component(host.spec(id(name), code).with_grants(storage()))
        .await
        .unwrap();
    host
}

async fn report(host: &Host, to: &ComponentId) -> String {
    String::from_utf8(host.request(to, "report").await.unwrap()).unwrap()
}

fn step_of(error: &Error) -> &'static str {
    match error {
        Error::Actor(ActorError::UpgradeFailed { step, .. }) => step,
        other => panic!("not an upgrade failure: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_while_a_sender_keeps_sending_lose_and_reorder_nothing() {
    let host = host_with("demo/seq/1", "sequencer-v2").await;
    let target = id("demo/seq/1");
    const MESSAGES: u64 = 3_000;
    let sender = {
        let target = target.clone();
        let host = &host;
        async move {
            for n in 1..=MESSAGES {
                // The mailbox (64) fills while an upgrade runs: the sender waits for room.
                host.send_timeout(&target, n.to_string(), Duration::from_secs(30))
                    .await
                    .unwrap();
            }
        }
    };
    let upgrader = async {
        let v2 = fixture("sequencer-v2");
        let mut handed = 0;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let up = host.upgrade(&target, &v2).await.unwrap();
            assert_eq!((up.from.as_str(), up.to.as_str()), ("2.0.0", "2.0.0"));
            handed += u32::from(up.state_handed_over);
        }
        handed
    };
    let ((), handed) = tokio::join!(sender, upgrader);
    assert_eq!(handed, 10, "every upgrade handed the state over");
    host.wait_idle().await;
    assert_eq!(
        report(&host, &target).await,
        format!("received={MESSAGES} out-of-order=0 senders=1")
    );
    assert_eq!(host.stats().restarts, 0);
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_count_survives_through_the_hand_off_and_a_1_0_version_starts_fresh() {
    let host = host_with("demo/seq/1", "sequencer").await;
    let target = id("demo/seq/1");
    let mut events = host.events();
    for n in 1..=5 {
        host.send(&target, n.to_string()).unwrap();
    }
    host.wait_idle().await;
    // 0.1.0 does not take part in the hand-off: 2.0.0 starts fresh.
    let up = host
        .upgrade(&target, &fixture("sequencer-v2"))
        .await
        .unwrap();
    assert_eq!((up.from.as_str(), up.to.as_str()), ("0.1.0", "2.0.0"));
    assert!(!up.state_handed_over);
    assert_eq!(
        report(&host, &target).await,
        "received=0 out-of-order=0 senders=0"
    );
    for n in 1..=7 {
        host.send(&target, n.to_string()).unwrap();
    }
    host.wait_idle().await;
    // 2.0.0 to 2.0.0: the count goes across.
    let up = host
        .upgrade(&target, &fixture("sequencer-v2"))
        .await
        .unwrap();
    assert!(up.state_handed_over);
    assert_eq!(
        report(&host, &target).await,
        "received=7 out-of-order=0 senders=1"
    );
    // The next number from the same sender is still in order after the switch.
    host.send(&target, "8").unwrap();
    host.wait_idle().await;
    assert_eq!(
        report(&host, &target).await,
        "received=8 out-of-order=0 senders=1"
    );
    let mut upgraded = 0;
    while let Ok(event) = events.try_recv() {
        if let SystemEvent::Upgraded { id, from, to } = event {
            assert_eq!(id, target);
            assert_eq!(to, "2.0.0");
            assert!(from == "0.1.0" || from == "2.0.0");
            upgraded += 1;
        }
    }
    assert_eq!(upgraded, 2);
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_broken_new_version_is_rolled_back_and_the_old_one_keeps_answering() {
    let host = host_with("demo/counter/1", "counter").await;
    let counter = id("demo/counter/1");
    assert_eq!(host.request(&counter, "inc").await.unwrap(), b"1");
    // Fails its initialize.
    let failed = host
        .upgrade(&counter, &fixture("counter-broken"))
        .await
        .unwrap_err();
    assert_eq!(step_of(&failed), "initialize");
    assert!(failed.to_string().contains("refuses to start"), "{failed}");
    // Not a component that fits the contract: refused before anything stops.
    let refused = host
        .upgrade(&counter, &fixture("wrong-export"))
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Runtime(_)), "{refused}");
    let refused = host.upgrade(&counter, b"\0asm garbage").await.unwrap_err();
    assert!(matches!(refused, Error::Runtime(_)), "{refused}");
    assert_eq!(host.request(&counter, "inc").await.unwrap(), b"2");
    assert_eq!(host.info(&counter).unwrap().version, "0.1.0");
    assert_eq!(host.stats().restarts, 0);
    let missing = host
        .upgrade(&id("demo/nobody/1"), &fixture("counter-v2"))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, Error::Actor(ActorError::NotRunning(_))),
        "{missing}"
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refused_restore_keeps_the_old_version_and_its_state() {
    let host = host_with("demo/seq/1", "sequencer-v2").await;
    let target = id("demo/seq/1");
    for n in 1..=3 {
        host.send(&target, n.to_string()).unwrap();
    }
    host.request(&target, "refuse-handoff").await.unwrap();
    let failed = host
        .upgrade(&target, &fixture("sequencer-v2"))
        .await
        .unwrap_err();
    assert_eq!(step_of(&failed), "restore");
    assert!(failed.to_string().contains("asked to refuse"), "{failed}");
    assert_eq!(
        report(&host, &target).await,
        "received=3 out-of-order=0 senders=1"
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_group_member_is_upgraded_and_restarts_on_its_new_code() {
    let host = Host::builder().build().unwrap();
    let counter = host.load_component_file(fixture_path("counter")).unwrap();
    let echo = host.load_component_file(fixture_path("echo")).unwrap();
    let group = GroupSpec::new("pair")
        .with_member(
            host.spec(id("demo/counter/1"), counter)
                .with_grants(storage()),
        )
        .with_member(host.spec(id("demo/echo/1"), echo));
    host.start_group(group).await.unwrap();
    let up = host
        .upgrade_file(&id("demo/counter/1"), fixture_path("counter-v2"))
        .await
        .unwrap();
    assert_eq!(up.to, "2.0.0");
    assert_eq!(
        host.request(&id("demo/echo/1"), "still").await.unwrap(),
        b"still"
    );
    assert_eq!(
        host.request(&id("demo/counter/1"), "inc").await.unwrap(),
        b"1"
    );
    // A later start of it runs the code it was upgraded to.
    host.stop_component(&id("demo/counter/1")).await.unwrap();
    host.start_stopped(&id("demo/counter/1")).await.unwrap();
    assert_eq!(host.info(&id("demo/counter/1")).unwrap().version, "2.0.0");
    let status = host.status(&id("demo/counter/1")).unwrap();
    assert_eq!(status.stats.restarts, 0, "an upgrade is not a restart");
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_for_the_old_versions_request_reaches_the_new_version() {
    let host = Host::builder().build().unwrap();
    let sleeper = host.load_component_file(fixture_path("sleeper")).unwrap();
    host.start_component(host.spec(id("demo/sleeper/1"), sleeper))
        .await
        .unwrap();
    let requester = host.load_component_file(fixture_path("requester")).unwrap();
    let grants = Grants::none().with_messaging(&[wasm_host::MessagingAction::Request], "demo/*/*");
    host.start_component(host.spec(id("demo/req/1"), requester).with_grants(grants))
        .await
        .unwrap();
    let req = id("demo/req/1");
    // The old version asks the sleeper, which answers in a second.
    let correlation = host
        .request(&req, "request demo/sleeper/1 5000 sleep 1000")
        .await
        .unwrap();
    let correlation = String::from_utf8(correlation).unwrap();
    assert!(correlation.starts_with("req-"), "{correlation}");
    // Upgraded meanwhile (to the same code: the new version starts with no callbacks seen).
    host.upgrade(&req, &fixture("requester")).await.unwrap();
    assert_eq!(host.request(&req, "count").await.unwrap(), b"0");
    host.wait_idle().await;
    let seen = String::from_utf8(host.request(&req, "callbacks").await.unwrap()).unwrap();
    assert!(
        seen.starts_with(&format!("{correlation}\t-\tslept 1000")),
        "the new version got the old one's callback: {seen}"
    );
    host.shutdown().await.unwrap();
}
