//! The trace context of the call in progress, so the messages a component sends while it
//! handles a traced message carry that trace on.
//!
//! The actor runs each handle call inside [`scope`]; the router, called by the component's
//! host functions from inside that call (same task, same poll), reads [`current`]. Outside a
//! scope (the embedding host's own sends) there is no current trace unless the host set one.

use std::fmt;
use std::future::Future;

use wasm_core::TraceContext;

/// Joins the span of a traced message to another tracing system (the command's OpenTelemetry
/// exporter, for one), so that its spans carry the same W3C ids as the messages.
///
/// Called once per traced `handle` span that a subscriber records, before the call runs.
pub trait SpanLink: Send + Sync + fmt::Debug {
    /// Makes `span` a child of `parent` (the sending span) in the other system, and returns
    /// the span id it has there; the messages the call sends carry that id as their parent.
    /// `None` keeps the id airssys chose.
    fn link(&self, span: &tracing::Span, parent: &TraceContext) -> Option<u64>;
}

tokio::task_local! {
    static CURRENT: Option<TraceContext>;
}

/// Runs `call` with `trace` as the current trace context.
pub(crate) async fn scope<F: Future>(trace: Option<TraceContext>, call: F) -> F::Output {
    CURRENT.scope(trace, call).await
}

/// Runs `f` with `trace` as the current trace context (for a synchronous send).
pub(crate) fn sync_scope<R>(trace: Option<TraceContext>, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(trace, f)
}

/// The trace context messages sent now should carry: the span of the call in progress.
pub(crate) fn current() -> Option<TraceContext> {
    CURRENT.try_with(|t| *t).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_context_holds_inside_its_scope_only() {
        assert_eq!(current(), None);
        let trace = TraceContext::new_root();
        let seen = scope(Some(trace), async {
            tokio::task::yield_now().await;
            current()
        })
        .await;
        assert_eq!(seen, Some(trace));
        assert_eq!(current(), None);
        assert_eq!(sync_scope(Some(trace), current), Some(trace));
    }
}
