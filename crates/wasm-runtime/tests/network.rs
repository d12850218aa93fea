//! WASI sockets from a real fixture: outbound grants only, every refusal audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;

use common::{ask, engine, id, start};
use wasm_runtime::HostServices;
use wasm_security::{Capability, Grants, MemoryAuditLog, NetworkGrant};

fn grant(host: &str, port: Option<u16>) -> Grants {
    Grants {
        network: vec![NetworkGrant {
            host: host.into(),
            port,
        }],
        ..Grants::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_connect_succeeds_and_others_are_denied_and_audited() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = listener.local_addr().expect("address");
    let accepted = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut received = Vec::new();
        stream.read_to_end(&mut received).expect("read");
        received
    });

    let engine = engine();
    let audit = Arc::new(MemoryAuditLog::new(16));
    let services = HostServices::standalone().with_audit(audit.clone());
    let grants = grant("127.0.0.1", Some(addr.port()));
    let mut client = start(&engine, "netclient", &grants, services).await;
    assert_eq!(ask(&mut client, &format!("tcp {addr}")).await, "connected");
    assert_eq!(accepted.join().expect("acceptor"), b"ping");
    assert!(audit.is_empty(), "{:?}", audit.events());

    // Another port of the same host is not granted.
    let other = TcpListener::bind("127.0.0.1:0").expect("listener");
    let other_addr = other.local_addr().expect("address");
    let denied = ask(&mut client, &format!("tcp {other_addr}")).await;
    assert!(denied.starts_with("err:"), "{denied}");
    // UDP to a granted address (the client's ephemeral bind included) is allowed.
    assert_eq!(ask(&mut client, &format!("udp {addr}")).await, "sent");
    // Listening is refused even on a granted address, and so is name lookup.
    let listen = ask(&mut client, &format!("listen {addr}")).await;
    assert!(listen.starts_with("err:"), "{listen}");
    let lookup = ask(&mut client, "lookup localhost").await;
    assert!(lookup.starts_with("err:"), "{lookup}");

    let events = audit.denials_of(&id("test/netclient/1"));
    let resources: Vec<_> = events.iter().map(|e| e.resource.as_str()).collect();
    assert!(
        events.iter().all(|e| e.capability == Capability::Network),
        "{events:?}"
    );
    assert!(
        resources.contains(&format!("tcp-connect {other_addr}").as_str()),
        "{resources:?}"
    );
    assert!(
        resources
            .iter()
            .any(|r| r.starts_with("tcp-bind 127.0.0.1:")),
        "{resources:?}"
    );
    assert!(
        resources.contains(&"ip-name-lookup localhost"),
        "{resources:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_grant_nothing_connects() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let addr = listener.local_addr().expect("address");
    let engine = engine();
    let audit = Arc::new(MemoryAuditLog::new(16));
    let services = HostServices::standalone().with_audit(audit.clone());
    let mut client = start(&engine, "netclient", &Grants::default(), services).await;
    let denied = ask(&mut client, &format!("tcp {addr}")).await;
    assert!(denied.starts_with("err:"), "{denied}");
    let denied = ask(&mut client, &format!("udp {addr}")).await;
    assert!(denied.starts_with("err:"), "{denied}");
    let denied = ask(&mut client, "lookup localhost").await;
    assert!(denied.starts_with("err:"), "{denied}");
    let denials = audit.denials_of(&id("test/netclient/1"));
    assert!(
        denials
            .iter()
            .any(|e| e.resource == "ip-name-lookup localhost"),
        "{denials:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wildcard_host_grant_allows_name_lookup() {
    let engine = engine();
    let audit = Arc::new(MemoryAuditLog::new(16));
    let services = HostServices::standalone().with_audit(audit.clone());
    let mut client = start(&engine, "netclient", &grant("*", Some(80)), services).await;
    let lookup = ask(&mut client, "lookup localhost").await;
    assert!(lookup.starts_with("resolved "), "{lookup}");
    assert!(audit.is_empty(), "{:?}", audit.events());
}
