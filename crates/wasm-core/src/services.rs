//! Service traits the runtime's host functions call and higher layers implement.
//!
//! The runtime never names actors or databases: `wasm-actor` implements [`MessageRouter`] and
//! [`ComponentDirectory`], and storage backends implement [`StorageBackend`]. Capability checks
//! happen in the runtime before any of these is called, so implementations may assume the
//! caller was allowed to make the call.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::errors::{MessagingError, StorageError};
use crate::id::ComponentId;
use crate::message::{CorrelationId, ErrorCallback, MessagePayload, Timestamp};
use crate::metadata::ComponentInfo;
use crate::storage::{StorageQuota, StorageUsage};
use crate::trace::TraceContext;
use crate::txn::WriteSet;

/// A delivery that finishes after a round trip to another host.
pub type RoutedFuture<T> = Pin<Box<dyn Future<Output = Result<T, MessagingError>> + Send>>;

/// What [`MessageRouter::call`] gives back: the reply's payload, or why there is none.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<MessagePayload, CallError>> + Send>>;

/// Why a call ([`MessageRouter::call`]) has no reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// It was refused before it was sent, as [`MessageRouter::request`] refuses.
    NotSent(MessagingError),
    /// It was sent, and answered with this error instead of a reply.
    Answered(ErrorCallback),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotSent(error) => write!(f, "not sent: {error}"),
            Self::Answered(answer) => write!(f, "answered with {answer}"),
        }
    }
}

/// What a routing call gives back: the result at once (every delivery inside one host), or a
/// future that resolves once another host has queued the message or refused it.
///
/// Local delivery never allocates a future: only a target on another host is [`Routed::Later`].
pub enum Routed<T> {
    /// Decided now.
    Done(Result<T, MessagingError>),
    /// Decided by another host; await it (it never waits for the target to handle the message).
    Later(RoutedFuture<T>),
}

impl<T> Routed<T> {
    /// The result, waiting for the other host when there is one.
    ///
    /// # Errors
    ///
    /// The delivery's error, as the routing call documents it.
    pub async fn finish(self) -> Result<T, MessagingError> {
        match self {
            Self::Done(result) => result,
            Self::Later(future) => future.await,
        }
    }

    /// Applies `f` to a successful result, now or later.
    pub fn map<U: 'static>(self, f: impl FnOnce(T) -> U + Send + 'static) -> Routed<U>
    where
        T: 'static,
    {
        match self {
            Self::Done(result) => Routed::Done(result.map(f)),
            Self::Later(future) => Routed::Later(Box::pin(async move { future.await.map(f) })),
        }
    }
}

impl<T> From<Result<T, MessagingError>> for Routed<T> {
    fn from(result: Result<T, MessagingError>) -> Self {
        Self::Done(result)
    }
}

impl<T> fmt::Debug for Routed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Done(_) => f.write_str("Routed::Done"),
            Self::Later(_) => f.write_str("Routed::Later"),
        }
    }
}

/// Delivers messages between components.
///
/// No method waits for the target to handle the message. Inside one host every method
/// decides at once; for a target on another host, `send`, `request` and `broadcast` return a
/// [`Routed::Later`] that resolves when that host has queued the message (or refused it).
pub trait MessageRouter: Send + Sync + fmt::Debug {
    /// Queues a fire-and-forget message from `from` in `to`'s mailbox.
    ///
    /// # Errors
    ///
    /// [`MessagingError::TargetNotFound`] if `to` is not running, [`MessagingError::QueueFull`]
    /// if its mailbox is full; nothing was queued then.
    fn send(&self, from: &ComponentId, to: &ComponentId, payload: MessagePayload) -> Routed<()>;

    /// Queues a request and returns its correlation id. The answer reaches `from` later as
    /// exactly one callback (reply or error callback) unless it is cancelled; after `timeout`
    /// the router delivers a timeout error callback.
    ///
    /// # Errors
    ///
    /// As [`MessageRouter::send`]; no callback follows an error.
    fn request(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
    ) -> Routed<CorrelationId>;

    /// Cancels a pending request that `from` made. No callback follows.
    ///
    /// # Errors
    ///
    /// [`MessagingError::InvalidMessage`] if `id` names no pending request of `from`.
    fn cancel_request(&self, from: &ComponentId, id: &CorrelationId) -> Result<(), MessagingError>;

    /// Sends a request as [`MessageRouter::request`] does, and resolves to its answer instead
    /// of delivering it as a callback: for callers with no `handle-callback` (HTTP handler
    /// instances). `trace` is the trace the request carries, when the caller is outside a
    /// traced call of this router's own. The request's deadline still holds if the future is
    /// dropped; its answer is then discarded.
    ///
    /// The default refuses every call: a router that cannot wait for answers says so.
    fn call(
        &self,
        from: &ComponentId,
        to: &ComponentId,
        payload: MessagePayload,
        timeout: Duration,
        trace: Option<TraceContext>,
    ) -> CallFuture {
        let _ = (from, payload, timeout, trace);
        let refused = MessagingError::DeliveryFailed(format!(
            "this host's router cannot wait for answers, so `{to}` was not asked"
        ));
        Box::pin(std::future::ready(Err(CallError::NotSent(refused))))
    }

    /// Queues the same message in every target's mailbox, after checking that every target
    /// exists and has room: on error no target received it.
    ///
    /// # Errors
    ///
    /// The first failing target's error, as for [`MessageRouter::send`].
    fn broadcast(
        &self,
        from: &ComponentId,
        targets: &[ComponentId],
        payload: MessagePayload,
    ) -> Routed<()>;
}

/// Answers questions about the running components.
pub trait ComponentDirectory: Send + Sync + fmt::Debug {
    /// The ids of the running components, sorted.
    fn components(&self) -> Vec<ComponentId>;

    /// What is known about one running component; `None` if it is not running.
    fn info(&self, id: &ComponentId) -> Option<ComponentInfo>;
}

/// What [`StorageBackend::commit`] gives back: resolves once the writes are durable, or
/// failed and none of them was kept.
pub type CommitFuture = Pin<Box<dyn Future<Output = Result<(), StorageError>> + Send>>;

/// Key-value storage with one namespace per component.
///
/// Components never write to a backend directly: each call's writes are buffered in a
/// [`crate::StorageTxn`] (which validates keys with [`crate::storage::validate_key`] and
/// enforces the quota with [`crate::storage::check_quota`], so every backend behaves the same)
/// and reach the backend as one [`WriteSet`] through [`StorageBackend::commit`]. Reads see only
/// committed data, and never wait for a commit in progress.
pub trait StorageBackend: Send + Sync + fmt::Debug {
    /// Reads a committed value.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidKey`] for a bad key, [`StorageError::IoError`] if the backend fails.
    fn get(&self, namespace: &ComponentId, key: &str) -> Result<Option<Vec<u8>>, StorageError>;

    /// Whether the key is present (committed).
    ///
    /// # Errors
    ///
    /// As for [`StorageBackend::get`].
    fn exists(&self, namespace: &ComponentId, key: &str) -> Result<bool, StorageError> {
        Ok(self.get(namespace, key)?.is_some())
    }

    /// The namespace's committed keys, sorted, optionally only those starting with `prefix`.
    ///
    /// # Errors
    ///
    /// [`StorageError::IoError`] if the backend fails.
    fn list_keys(
        &self,
        namespace: &ComponentId,
        prefix: Option<&str>,
    ) -> Result<Vec<String>, StorageError>;

    /// The namespace's committed usage, reported against `quota`.
    ///
    /// # Errors
    ///
    /// [`StorageError::IoError`] if the backend fails.
    fn usage(
        &self,
        namespace: &ComponentId,
        quota: &StorageQuota,
    ) -> Result<StorageUsage, StorageError>;

    /// Commits one call's writes: all of them or none, durable (as far as the backend is
    /// durable at all) when the future resolves `Ok`. The future must not block the thread
    /// that polls it. Usage is kept in step with the data by the backend; the quota was
    /// checked when the writes were made.
    ///
    /// The caller does not make a second commit to the same namespace before the first has
    /// resolved, so a backend may batch commits of different namespaces freely.
    fn commit(&self, writes: WriteSet) -> CommitFuture;
}

/// The source of wall-clock time for components.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
