//! The cluster under faults, with real `airssys-wasm` processes, a real nats-server (and a
//! three-server NATS cluster), and a TCP proxy the test owns between a host and its server:
//! partitions, pauses, kills and restarts, a server down mid-flood. Each case checks the
//! invariants: every request gets exactly one callback with its own answer; nothing is
//! handled twice; each sender's order holds; every message sent with `ok` is handled once or
//! reported as a dead letter (one of the two); no id is served by two hosts; and a component
//! on a healthy host goes on with its other work while a peer is cut off, paused or dead.
//! Leases are short (1 to 2 s) so that each case takes a few seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fault_support;

use std::time::{Duration, Instant};

use fault_support::{Entry, Near, Proc, RunCheck, config, handled, id, start_run};
use test_fixtures::{NatsServer, Proxy, fixture_path};

fn flows<'a>(ids: &[&'a str]) -> Vec<Entry<'a>> {
    ids.iter()
        .map(|id| Entry {
            id,
            fixture: "flow",
            extra: "",
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_id_started_on_two_hosts_at_the_same_instant_runs_on_one() {
    let server = NatsServer::start(&[]);
    let a = Near::connect(config(&server.url(), "race-a", 2000, 20_000)).await;
    let b = Near::connect(config(&server.url(), "race-b", 2000, 20_000)).await;
    let code_a = a.host.load_component_file(fixture_path("echo")).unwrap();
    let code_b = b.host.load_component_file(fixture_path("echo")).unwrap();
    for round in 0..100 {
        let x = id(&format!("race/echo/{round}"));
        let (on_a, on_b) = tokio::join!(
            a.host
                .start_component(a.host.spec(x.clone(), code_a.clone())),
            b.host
                .start_component(b.host.spec(x.clone(), code_b.clone()))
        );
        assert!(
            on_a.is_ok() != on_b.is_ok(),
            "round {round}: {on_a:?} / {on_b:?}"
        );
        let refused = on_a.err().or(on_b.err()).map(|e| e.to_string()).unwrap();
        assert!(
            refused.contains(&x.to_string()) && refused.contains("already runs on host `race-"),
            "{refused}"
        );
    }
    // Two processes whose manifests both run one id, started together: one runs it, the
    // other stops, naming the host that has it.
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let at = format!("race/flow/p{round}");
        let mut one = Proc::start(
            dir.path(),
            &format!("p{round}-1"),
            &server.url(),
            "lease_ms = 2000",
            &flows(&[&at]),
        );
        let mut two = Proc::start(
            dir.path(),
            &format!("p{round}-2"),
            &server.url(),
            "lease_ms = 2000",
            &flows(&[&at]),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        let (loser, winner) = loop {
            match (one.exited(), two.exited()) {
                (Some(status), None) => break ((one, status), two),
                (None, Some(status)) => break ((two, status), one),
                (Some(a), Some(b)) => panic!("both stopped: {a} / {b}"),
                (None, None) => {}
            }
            assert!(Instant::now() < deadline, "neither stopped");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let ((loser, status), mut winner) = (loser, winner);
        assert!(!status.success());
        let log = loser.log_text();
        assert!(
            log.contains(&at) && log.contains(&format!("already runs on host `{}`", winner.name)),
            "{log}"
        );
        assert_eq!(
            a.ask(&at, "sink x x").await,
            "count=0 max=0 duplicates=0 reordered=0 missing="
        );
        winner.stop();
    }
}

/// The runs of the partition and pause cases: near's producer sends to far's sink and far's
/// producer to near's sink, both sinks slow enough that requests are pending both ways when
/// the fault begins; then near's producer also runs to a sink of its own host.
struct TwoWay {
    near: Near,
    far: Proc,
    _dir: tempfile::TempDir,
}

const TO_FAR: RunCheck<'static> = RunCheck {
    tag: "to-far",
    producer: "near/flow/1",
    sink: "far/flow/1",
    count: 2000,
    every: 10,
};
const TO_NEAR: RunCheck<'static> = RunCheck {
    tag: "to-near",
    producer: "far/flow/2",
    sink: "near/flow/2",
    count: 2000,
    every: 10,
};
const LOCAL: RunCheck<'static> = RunCheck {
    tag: "local",
    producer: "near/flow/1",
    sink: "near/flow/3",
    count: 500,
    every: 5,
};

impl TwoWay {
    /// `far` connects through `far_url` (a proxy, or the server); both hosts' lease is 2 s and
    /// they give up on a peer away for `give_up_ms`.
    async fn start(server_url: &str, far_url: &str, give_up_ms: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let near = Near::connect(config(server_url, "near", 2000, give_up_ms)).await;
        for at in ["near/flow/1", "near/flow/2", "near/flow/3"] {
            near.start_flow(at).await;
        }
        let far = Proc::start(
            dir.path(),
            "far",
            far_url,
            &format!("lease_ms = 2000\ngive_up_ms = {give_up_ms}"),
            &flows(&["far/flow/1", "far/flow/2"]),
        );
        near.ask_until("far/flow/1", "slow 2", |r| r == "ok").await;
        near.ask("near/flow/2", "slow 2").await;
        // Long request timeouts: a request pending to a host that goes away is answered when
        // its lease lapses, not by its timeout.
        start_run(&near, &TO_FAR, 60_000).await;
        start_run(&near, &TO_NEAR, 60_000).await;
        // Both ways under way before the fault.
        while handled(&near, TO_FAR.sink, TO_FAR.producer, TO_FAR.tag).await < 100
            || handled(&near, TO_NEAR.sink, TO_NEAR.producer, TO_NEAR.tag).await < 100
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            near,
            far,
            _dir: dir,
        }
    }

    /// While far is cut off: near's producer, which has far's messages in hand, runs to a
    /// local sink to the end (its sends to far return at once, refused, whatever far does).
    async fn local_run_while_far_is_away(&self) {
        start_run(&self.near, &LOCAL, 60_000).await;
        self.near
            .ask_until(LOCAL.producer, &format!("report {}", LOCAL.tag), |r| {
                fault_support::Report::parse(r).done()
            })
            .await;
    }

    /// Checks the runs. `given_up`: far was away past `give_up_ms`, so each side reported
    /// what the other had not confirmed, and a message handled in the moments before the
    /// partition (its acknowledgement lost) may be reported as well.
    async fn check(self, given_up: bool) {
        let mut dead = self.near.dead_letters();
        for run in [&TO_FAR, &TO_NEAR, &LOCAL] {
            // The far host's dead letters so far; the runs are finished once checked.
            dead.extend(self.far.dead_letters());
            let both = run.check(&self.near, &dead, given_up).await;
            // Only what far handled from near before its fence closed (3/4 of a 2 s lease of
            // a sink taking 2 ms a message), and near from far in the ack's last millisecond.
            assert!(
                both <= 1000,
                "{}: {both} both handled and reported",
                run.tag
            );
        }
        let far_log = self.far.log_text();
        assert!(far_log.contains("lease lost"), "{far_log}");
        let again = if given_up {
            "serving again as a new incarnation"
        } else {
            "serving again"
        };
        assert!(far_log.contains(again), "{far_log}");
        assert!(self.near.downs().contains(&"far".to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_partitioned_past_its_lease_loses_and_repeats_nothing_and_its_peers_go_on() {
    let server = NatsServer::start(&[]);
    let proxy = Proxy::start(server.addr());
    let two = TwoWay::start(&server.url(), &proxy.url(), 20_000).await;
    proxy.partition();
    let began = Instant::now();
    two.local_run_while_far_is_away().await;
    // Twice the lease: far's lapses on the server, its peer answers what it asked of far.
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(began.elapsed())).await;
    proxy.heal();
    two.check(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_partitioned_past_give_up_comes_back_new_and_every_unconfirmed_message_is_reported()
{
    let server = NatsServer::start(&[]);
    let proxy = Proxy::start(server.addr());
    let two = TwoWay::start(&server.url(), &proxy.url(), 4000).await;
    proxy.partition();
    let began = Instant::now();
    two.local_run_while_far_is_away().await;
    // The lease (2 s) and give_up_ms (4 s) and a second: near has given far up.
    while !two.near.downs().contains(&"far".to_owned()) || began.elapsed() < Duration::from_secs(7)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.heal();
    two.check(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_paused_past_its_lease_loses_and_repeats_nothing_and_its_peers_go_on() {
    let server = NatsServer::start(&[]);
    let two = TwoWay::start(&server.url(), &server.url(), 20_000).await;
    two.far.pause();
    let began = Instant::now();
    two.local_run_while_far_is_away().await;
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(began.elapsed())).await;
    two.far.resume();
    two.check(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_killed_and_restarted_under_its_name_at_once_takes_no_answer_meant_for_the_old() {
    let server = NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let near = Near::connect(config(&server.url(), "near", 2000, 20_000)).await;
    near.start_flow("near/flow/1").await;
    near.start_flow("near/flow/2").await;
    // Each host's own lease counts for it: far's is longer than near's.
    let mut far = Proc::start(
        dir.path(),
        "far",
        &server.url(),
        "lease_ms = 3000\ngive_up_ms = 30000",
        &flows(&["far/flow/1", "far/flow/2"]),
    );
    // Slow sinks on both sides: 50 requests pend each way. Both of far's components are
    // reached first (claimed, seen by near, with room there), however slow the machine.
    near.ask_until("far/flow/1", "slow 50", |r| r == "ok").await;
    near.ask_until("far/flow/2", "report none", |_| true).await;
    near.ask("near/flow/2", "slow 50").await;
    let start =
        |tag: &str, count: u64, sink: &str| format!("start {tag} {count} 1 60000 {sink} 50");
    assert_eq!(
        near.ask("near/flow/1", &start("to-far", 200, "far/flow/1"))
            .await,
        "started"
    );
    assert_eq!(
        near.ask("far/flow/2", &start("old", 200, "near/flow/2"))
            .await,
        "started"
    );
    for (producer, tag) in [("near/flow/1", "to-far"), ("far/flow/2", "old")] {
        near.ask_until(producer, &format!("report {tag}"), |r| {
            fault_support::Report::parse(r).num("pending") == 50
        })
        .await;
    }
    // Killed, and started again under its name at once: the new process waits for the old
    // lease to lapse, then takes the name and the ids.
    far.kill();
    far.spawn();
    // Each of near's requests pending to the killed host: exactly one callback, an error.
    let report = fault_support::Report::parse(
        &near
            .ask_until("near/flow/1", "report to-far", |r| {
                fault_support::Report::parse(r).num("pending") < 50
            })
            .await,
    );
    assert_eq!(report.num("unknown"), 0, "{report:?}");
    assert_eq!(report.num("mismatched"), 0, "{report:?}");
    // The new far's requests to near's (still busy) sink are numbered as the old one's were:
    // the old incarnation's answers, still coming, must not be taken for theirs.
    assert_eq!(
        near.ask_until("far/flow/2", &start("new", 100, "near/flow/2"), |_| true)
            .await,
        "started"
    );
    let new = fault_support::Report::parse(
        &near
            .ask_until("far/flow/2", "report new", |r| {
                fault_support::Report::parse(r).done()
            })
            .await,
    );
    assert_eq!(
        (
            new.num("answered"),
            new.num("errors"),
            new.num("unknown"),
            new.num("mismatched")
        ),
        (100, 0, 0, 0),
        "{new:?}"
    );
    // near's run to far goes on with the new far to its end; the old far's 50 got errors.
    let report = fault_support::Report::parse(
        &near
            .ask_until("near/flow/1", "report to-far", |r| {
                fault_support::Report::parse(r).done()
            })
            .await,
    );
    assert_eq!(report.num("answered"), 200, "{report:?}");
    assert_eq!(
        (report.num("unknown"), report.num("mismatched")),
        (0, 0),
        "{report:?}"
    );
    assert!(report.num("errors") >= 50, "{report:?}");
    // Its peer took the end of the old incarnation from its own lease.
    let log = far.log_text();
    assert!(
        log.contains("the host name is held; waiting for that lease to lapse"),
        "{log}"
    );
    let downs = near.down_reasons();
    assert!(
        downs
            .iter()
            .any(|(host, reason)| host == "far" && reason.contains("its 3000 ms lease lapsed")),
        "{downs:?}"
    );
    far.stop();
}

/// near (in-process) and far (a process), each with a producer and a sink, flooding each
/// other with sends and requests (every tenth a request).
async fn flood(
    near_urls: &[String],
    far_urls: &[String],
    dir: &std::path::Path,
    cluster: &str,
    replicas: usize,
) -> (Near, Proc) {
    let mut near_config = config(&near_urls[0], "near", 2000, 30_000);
    near_config.urls = near_urls.to_vec();
    near_config.replicas = replicas;
    let near = Near::connect(near_config).await;
    near.start_flow("near/flow/1").await;
    near.start_flow("near/flow/2").await;
    let far = Proc::start_on(
        dir,
        "far",
        far_urls,
        cluster,
        "",
        &flows(&["far/flow/1", "far/flow/2"]),
    );
    near.ask_until("far/flow/1", "slow 0", |r| r == "ok").await;
    (near, far)
}

const FLOOD_TO_FAR: RunCheck<'static> = RunCheck {
    tag: "to-far",
    producer: "near/flow/1",
    sink: "far/flow/1",
    count: 20_000,
    every: 10,
};
const FLOOD_TO_NEAR: RunCheck<'static> = RunCheck {
    tag: "to-near",
    producer: "far/flow/2",
    sink: "near/flow/2",
    count: 20_000,
    every: 10,
};

/// Starts both floods and returns once both are under way.
async fn flood_under_way(near: &Near) {
    start_run(near, &FLOOD_TO_FAR, 60_000).await;
    start_run(near, &FLOOD_TO_NEAR, 60_000).await;
    while handled(
        near,
        FLOOD_TO_FAR.sink,
        FLOOD_TO_FAR.producer,
        FLOOD_TO_FAR.tag,
    )
    .await
        < 500
        || handled(
            near,
            FLOOD_TO_NEAR.sink,
            FLOOD_TO_NEAR.producer,
            FLOOD_TO_NEAR.tag,
        )
        .await
            < 500
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn check_floods(near: &Near, far: &Proc) {
    for run in [&FLOOD_TO_FAR, &FLOOD_TO_NEAR] {
        let mut dead = near.dead_letters();
        dead.extend(far.dead_letters());
        run.check(near, &dead, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_server_down_for_five_seconds_mid_flood_loses_and_repeats_nothing() {
    let mut server = NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let url = vec![server.url()];
    let (near, far) = flood(
        &url,
        &url,
        dir.path(),
        "lease_ms = 2000\ngive_up_ms = 30000",
        1,
    )
    .await;
    flood_under_way(&near).await;
    server.kill();
    tokio::time::sleep(Duration::from_secs(5)).await;
    server.resume();
    check_floods(&near, &far).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_of_a_three_server_cluster_killed_mid_flood_loses_and_repeats_nothing() {
    let mut servers = NatsServer::cluster(3);
    let dir = tempfile::tempdir().unwrap();
    let urls = NatsServer::urls(&servers);
    // near on server 0 first, far on server 1 first; the buckets have three replicas.
    let far_urls = vec![urls[1].clone(), urls[2].clone(), urls[0].clone()];
    let (near, far) = flood(
        &urls,
        &far_urls,
        dir.path(),
        "lease_ms = 4000\ngive_up_ms = 40000\nreplicas = 3",
        3,
    )
    .await;
    flood_under_way(&near).await;
    // The server far is connected to goes: far moves to another, the buckets keep two
    // replicas.
    servers[1].kill();
    check_floods(&near, &far).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_over_three_hosts_reaches_all_or_none_and_one_killed_between_its_halves_is_reported()
 {
    let server = NatsServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let near = Near::connect(config(&server.url(), "near", 1000, 10_000)).await;
    let side = Near::connect(config(&server.url(), "side", 1000, 10_000)).await;
    let grants =
        wasm_host::Grants::none().with_messaging(&[wasm_host::MessagingAction::Broadcast], "**");
    let cast = near
        .host
        .load_component_file(fixture_path("broadcaster"))
        .unwrap();
    near.host
        .start_component(near.host.spec(id("near/cast/1"), cast).with_grants(grants))
        .await
        .unwrap();
    let counter =
        |host: &wasm_host::Host| host.load_component_file(fixture_path("counter")).unwrap();
    let storage = wasm_host::Grants::none().with_storage(wasm_host::StorageGrant {
        read: true,
        write: true,
        delete: true,
        quota: wasm_host::StorageQuota::default(),
    });
    near.host
        .start_component(
            near.host
                .spec(id("near/count/1"), counter(&near.host))
                .with_grants(storage.clone()),
        )
        .await
        .unwrap();
    // One slot: a hold that is not given back would refuse everything after it.
    side.host
        .start_component(
            side.host
                .spec(id("side/count/1"), counter(&side.host))
                .with_grants(storage)
                .with_mailbox(1),
        )
        .await
        .unwrap();
    // far keeps its count on disk: what it handled before it is killed is read back after.
    let mut far = Proc::start_on(
        dir.path(),
        "far",
        &[server.url()],
        "lease_ms = 1000\ngive_up_ms = 10000",
        "storage = \"far.redb\"",
        &[Entry {
            id: "far/count/1",
            fixture: "counter",
            extra: "[components.capabilities.storage]\nread = true\nwrite = true",
        }],
    );
    near.ask_until("far/count/1", "get", |c| c == "0").await;
    let targets = "near/count/1,side/count/1,far/count/1";
    // far paused: it holds nothing in time, so nobody gets it, and the hold side gave is
    // given back.
    far.pause();
    let refused = near
        .ask("near/cast/1", &format!("broadcast {targets} inc"))
        .await;
    assert!(refused.starts_with("err: DeliveryFailed"), "{refused}");
    far.resume();
    let deadline = Instant::now() + Duration::from_secs(30);
    while side.host.send(&id("side/count/1"), "inc").is_err() {
        assert!(
            Instant::now() < deadline,
            "side's only slot was never given back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(near.ask("near/count/1", "get").await, "0");
    assert_eq!(
        side.ask_until("side/count/1", "get", |c| c == "1").await,
        "1"
    );
    // Broadcasts one after the other; far is killed among them and started again.
    let casting = async {
        let mut ok = 0u64;
        for _ in 0..200 {
            let reply = near
                .host
                .request(&id("near/cast/1"), format!("broadcast {targets} inc"))
                .await
                .unwrap();
            if reply == b"ok" {
                ok += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ok
    };
    let killing = async {
        near.ask_until("far/count/1", "get", |c| {
            c.parse::<u64>().unwrap_or(0) >= 20
        })
        .await;
        far.kill();
        far.spawn();
    };
    let (ok, ()) = tokio::join!(casting, killing);
    // near and side got every broadcast that was `ok`, once.
    let near_count: u64 = near
        .ask_until("near/count/1", "get", |_| true)
        .await
        .parse()
        .unwrap();
    assert_eq!(near_count, ok);
    let side_count: u64 = side
        .ask_until("side/count/1", "get", |c| {
            c.parse::<u64>().unwrap_or(0) > ok
        })
        .await
        .parse()
        .unwrap();
    assert_eq!(side_count, ok + 1);
    // far: what it stored, and what near reported lost with it, cover every `ok`; the only
    // overlap can be what it handled in its last moments, before it could say so.
    let stored: u64 = near
        .ask_until("far/count/1", "load", |c| c.parse::<u64>().is_ok())
        .await
        .parse()
        .unwrap();
    let lost = near
        .dead_letters()
        .iter()
        .filter(|d| d.target == "far/count/1")
        .count() as u64;
    assert!(stored <= ok, "far handled {stored} of {ok}");
    assert!(
        stored + lost >= ok,
        "far stored {stored}, {lost} reported, of {ok}"
    );
    assert!(
        stored + lost <= ok + 8,
        "far stored {stored}, {lost} reported, of {ok}"
    );
    far.stop();
}
