//! ingest (`orders/ingest/1`): the entry point of the order pipeline.
//!
//! - a batch (any message that is not `status`, `booked ...` or `rejected ...`): one order per
//!   line, `<order-id> <customer> <sku> <qty>`; blank lines and `#` comments are skipped.
//!   Each order goes to the validator as `order id=.. customer=.. sku=.. qty=..`, missing
//!   words left out (the validator rejects them). Replies `accepted=<n>` to a request.
//! - `booked ...` / `rejected ...`: the outcome of an order, broadcast by the ledger and the
//!   validator; counted.
//! - `status`: `received=<n> booked=<n> rejected=<n>`.
//!
//! Grants it needs: `send` to `orders/validator/1`.

use std::cell::Cell;

use pipeline_common::{
    Component, ComponentMessage, LogLevel, Reply, export_component, failure,
    host_messaging, id, log, messaging_error, reply, text, verb,
};

const VALIDATOR: &str = "orders/validator/1";

thread_local! {
    static RECEIVED: Cell<u64> = const { Cell::new(0) };
    static BOOKED: Cell<u64> = const { Cell::new(0) };
    static REJECTED: Cell<u64> = const { Cell::new(0) };
}

struct Ingest;

/// The order message for one batch line, or `None` for a blank or comment line.
fn order(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut message = String::from("order");
    for (key, value) in ["id", "customer", "sku", "qty"]
        .iter()
        .zip(line.split_whitespace())
    {
        message.push_str(&format!(" {key}={value}"));
    }
    Some(message)
}

impl Component for Ingest {
    const DESCRIPTION: &'static str = "splits a batch of order lines into order messages";
    const OPERATIONS: &'static [&'static str] = &["<batch>", "booked", "rejected", "status"];
    const STATEFUL: bool = true;

    fn handle(message: ComponentMessage) -> Reply {
        let body = text(&message);
        match verb(&body) {
            "status" => reply(format!(
                "received={} booked={} rejected={}",
                RECEIVED.get(),
                BOOKED.get(),
                REJECTED.get()
            )),
            "booked" => {
                BOOKED.set(BOOKED.get() + 1);
                Ok(None)
            }
            "rejected" => {
                REJECTED.set(REJECTED.get() + 1);
                Ok(None)
            }
            _ => {
                let mut accepted = 0u64;
                for order in body.lines().filter_map(order) {
                    host_messaging::send(&id(VALIDATOR), order.as_bytes()).map_err(|e| {
                        failure(format!("cannot pass `{order}` on: {}", messaging_error(&e)))
                    })?;
                    accepted += 1;
                }
                RECEIVED.set(RECEIVED.get() + accepted);
                log(
                    LogLevel::Info,
                    &format!("batch of {accepted} orders accepted"),
                );
                reply(format!("accepted={accepted}"))
            }
        }
    }
}

export_component!(Ingest);
