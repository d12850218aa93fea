//! What the host's HTTP servers (the admin endpoint, ingress) share: binding a listener, the
//! serving task, and stopping it.

use std::future::Future;
use std::net::SocketAddr;

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A server task: where it listens, how to tell it to stop, and the task.
#[derive(Debug)]
pub(crate) struct Serving {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Binds `addr` for a tokio listener; the error says why, for the caller's message.
pub(crate) fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), String> {
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("cannot listen there: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let listener = TcpListener::from_std(listener).map_err(|e| format!("cannot serve: {e}"))?;
    Ok((listener, bound))
}

impl Serving {
    /// Spawns `serve`, which ends when the receiver it is given changes.
    pub(crate) fn spawn<F>(addr: SocketAddr, serve: impl FnOnce(watch::Receiver<bool>) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(stopped));
        Self {
            addr,
            stop,
            task: Mutex::new(Some(task)),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Tells the task to stop and waits for it.
    pub(crate) async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }
}
