//! validator (`orders/validator/1`): checks each order before it costs anything.
//!
//! - `order id=.. customer=.. sku=.. qty=..`: a valid order (every field present, `sku` of
//!   lower-case letters and `-`, `qty` a whole number from 1 to 1000) goes on to the ledger
//!   unchanged; an invalid one is broadcast as `rejected id=<id> reason=<reason>` to the
//!   auditor and the ingest component.
//! - `stats`: `valid=<n> invalid=<n>`.
//!
//! Grants it needs: `send` to `orders/ledger/1`, `broadcast` to `orders/auditor/1` and
//! `orders/ingest/1`.

use std::cell::Cell;

use pipeline_common::{
    Component, ComponentMessage, LogLevel, Reply, export_component, failure, field,
    host_messaging, id, log, messaging_error, reply, text, verb,
};

const LEDGER: &str = "orders/ledger/1";
const OUTCOME_LISTENERS: [&str; 2] = ["orders/auditor/1", "orders/ingest/1"];

thread_local! {
    static VALID: Cell<u64> = const { Cell::new(0) };
    static INVALID: Cell<u64> = const { Cell::new(0) };
}

struct Validator;

/// Why an order is invalid, as one word, or `None` if it is valid.
fn problem(order: &str) -> Option<&'static str> {
    for key in ["id", "customer", "sku", "qty"] {
        if field(order, key).is_none_or(str::is_empty) {
            return Some(match key {
                "id" => "missing-id",
                "customer" => "missing-customer",
                "sku" => "missing-sku",
                _ => "missing-qty",
            });
        }
    }
    let sku = field(order, "sku").unwrap_or("");
    if !sku.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        return Some("malformed-sku");
    }
    match field(order, "qty").and_then(|q| q.parse::<u64>().ok()) {
        None => Some("qty-not-a-number"),
        Some(0) => Some("qty-not-positive"),
        Some(q) if q > 1000 => Some("qty-too-large"),
        Some(_) => None,
    }
}

impl Component for Validator {
    const DESCRIPTION: &'static str = "checks orders, forwards the good ones, reports the bad ones";
    const OPERATIONS: &'static [&'static str] = &["order", "stats"];
    const STATEFUL: bool = true;

    fn handle(message: ComponentMessage) -> Reply {
        let body = text(&message);
        match verb(&body) {
            "order" => {
                match problem(&body) {
                    None => {
                        host_messaging::send(&id(LEDGER), body.as_bytes()).map_err(|e| {
                            failure(format!(
                                "cannot forward to the ledger: {}",
                                messaging_error(&e)
                            ))
                        })?;
                        VALID.set(VALID.get() + 1);
                    }
                    Some(reason) => {
                        let order_id = field(&body, "id").unwrap_or("?");
                        let outcome = format!("rejected id={order_id} reason={reason}");
                        log(
                            LogLevel::Warn,
                            &format!("order {order_id} rejected: {reason}"),
                        );
                        let targets: Vec<_> = OUTCOME_LISTENERS.iter().map(|t| id(t)).collect();
                        host_messaging::broadcast(&targets, outcome.as_bytes()).map_err(|e| {
                            failure(format!("cannot report {order_id}: {}", messaging_error(&e)))
                        })?;
                        INVALID.set(INVALID.get() + 1);
                    }
                }
                Ok(None)
            }
            "stats" => reply(format!("valid={} invalid={}", VALID.get(), INVALID.get())),
            other => Err(failure(format!("unknown verb `{other}`"))),
        }
    }
}

export_component!(Validator);
