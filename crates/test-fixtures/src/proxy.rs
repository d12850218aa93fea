//! A TCP proxy a test owns, between a host and its NATS server, that can go silent: a
//! partition as the host sees it (and as the server sees it). While partitioned it forwards
//! nothing either way and closes nothing: bytes already read wait, new ones are not read,
//! and connections made meanwhile are accepted but not joined to the server. Healed, it
//! goes on where it stopped.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crate::nats::free_port;

#[derive(Debug, Default)]
struct Gate {
    partitioned: Mutex<bool>,
    healed: Condvar,
    stopped: AtomicBool,
}

impl Gate {
    /// Returns once traffic may flow (at once unless partitioned).
    fn pass(&self) {
        let mut partitioned = self
            .partitioned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *partitioned && !self.stopped.load(Ordering::Acquire) {
            partitioned = self
                .healed
                .wait_timeout(partitioned, Duration::from_millis(50))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    fn set(&self, partitioned: bool) {
        *self
            .partitioned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = partitioned;
        self.healed.notify_all();
    }
}

/// A proxy from a free loopback port to `upstream`.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    gate: Arc<Gate>,
}

impl Proxy {
    /// Starts forwarding from a free loopback port to `upstream`.
    ///
    /// # Panics
    ///
    /// If it cannot listen.
    pub fn start(upstream: SocketAddr) -> Self {
        let port = free_port();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .unwrap_or_else(|e| panic!("the proxy cannot listen on port {port}: {e}"));
        let gate = Arc::new(Gate::default());
        let accepting = gate.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stopped.load(Ordering::Acquire) {
                    return;
                }
                let Ok(client) = client else { continue };
                let gate = accepting.clone();
                thread::spawn(move || join(client, upstream, &gate));
            }
        });
        Self { port, gate }
    }

    /// The proxy's NATS URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Stops forwarding, both ways, without closing anything.
    pub fn partition(&self) {
        self.gate.set(true);
    }

    /// Forwards again.
    pub fn heal(&self) {
        self.gate.set(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.gate.stopped.store(true, Ordering::Release);
        self.gate.set(false);
        // Wakes the accepting thread so it sees the stop.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// Joins one client connection to the server (once traffic may flow) and pumps both ways.
fn join(client: TcpStream, upstream: SocketAddr, gate: &Arc<Gate>) {
    gate.pass();
    let Ok(server) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(client_in), Ok(server_in)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = gate.clone();
    thread::spawn(move || pump(client_in, server, &up));
    pump(server_in, client, gate);
}

/// Copies `from` to `to` until either closes, holding back while partitioned.
fn pump(mut from: TcpStream, mut to: TcpStream, gate: &Gate) {
    let mut buffer = vec![0u8; 64 * 1024];
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    loop {
        gate.pass();
        if gate.stopped.load(Ordering::Acquire) {
            break;
        }
        let n = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        // Read before the partition began: held until it heals.
        gate.pass();
        if to.write_all(&buffer[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
