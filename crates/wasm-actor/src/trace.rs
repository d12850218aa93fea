//! The trace context of the call in progress, so the messages a component sends while it
//! handles a traced message carry that trace on.
//!
//! The actor runs each handle call inside [`scope`]; the router, called by the component's
//! host functions from inside that call (same task, same poll), reads [`current`]. Outside a
//! scope (the embedding host's own sends) there is no current trace unless the host set one.
//! [`observed`] runs one handle call in its span, with its trace current.

use std::fmt;
use std::future::Future;

use tracing::Instrument;
use wasm_core::{ComponentId, ComponentMessage, TraceContext};

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

/// Runs one handle call in its span, with its trace context current (the context of a span
/// whose parent is the sending span, when the message is traced). A span no subscriber wants
/// is not entered, and an untraced call sets no context.
pub(crate) async fn observed<F: Future>(
    id: &ComponentId,
    message: &ComponentMessage,
    request: bool,
    callback: bool,
    link: Option<&dyn SpanLink>,
    call: F,
) -> F::Output {
    let span = handle_span(id, message, request, callback);
    let mut handling = message.metadata.trace.map(|parent| parent.child());
    if let (Some(parent), Some(this)) = (message.metadata.trace, handling.as_mut())
        && !span.is_disabled()
    {
        if let Some(linked) = link.and_then(|l| l.link(&span, &parent)) {
            *this = this.with_span_id(linked);
        }
        span.record("trace_id", this.trace_id_hex());
        span.record("span_id", this.span_id_hex());
        span.record("parent_span_id", parent.span_id_hex());
    }
    match (handling, span.is_disabled()) {
        (None, true) => call.await,
        (None, false) => call.instrument(span).await,
        (Some(_), true) => scope(handling, call).await,
        (Some(_), false) => scope(handling, call.instrument(span)).await,
    }
}

/// The span of one handle call: who handles what from whom, under which correlation id; the
/// trace fields are filled in when the message is traced. A request's span and its
/// callback's share the correlation id, and the callback's parent is the requesting span.
fn handle_span(
    id: &ComponentId,
    message: &ComponentMessage,
    request: bool,
    callback: bool,
) -> tracing::Span {
    let kind = match (callback, request) {
        (true, _) => "callback",
        (false, true) => "request",
        (false, false) => "message",
    };
    tracing::info_span!(
        target: "airssys::message",
        "handle",
        component = %id,
        sender = %message.sender,
        kind,
        correlation_id = message.metadata.correlation_id.as_ref().map(|c| c.as_str()),
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        parent_span_id = tracing::field::Empty,
    )
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
