//! discount (`plugins/discount/1`): a third-party discount rule, the kind of plug-in a
//! service runs without trusting it. It is deliberately faulty, to show containment:
//!
//! - `discount customer=.. sku=.. qty=.. cents=..` (a request): replies `cents=<discount>`,
//!   10 % off from 10 units on;
//! - bug 1: the volume-tier loop never ends for `gizmo` orders of 10 units or more; the
//!   host's CPU limit stops it, the request fails (`target-failed`) and the supervisor
//!   restarts the plug-in;
//! - bug 2: the loyalty table is indexed by the customer's first letter and has no entry for
//!   names from `z`: the plug-in panics (a trap), and is restarted;
//! - overreach: on bulk orders it tries to send the ledger a `credit` for itself. It was
//!   granted no messaging at all, so the host denies it and audits the attempt; the plug-in
//!   carries on.
//!
//! Grants it needs: none (and it gets none).

use pipeline_common::{
    Component, ComponentMessage, LogLevel, Reply, export_component, failure, field,
    host_messaging, id, log, messaging_error, number, reply, text, verb,
};

/// Extra discount in percent by loyalty tier, indexed by `(first letter - 'a') / 5`.
const LOYALTY: [u64; 5] = [0, 0, 1, 0, 2];

struct Discount;

/// The volume tier: one step per 5 units above 10. The `gizmo` step is 0: it never ends.
fn volume_tier(sku: &str, qty: u64) -> u64 {
    let step = std::hint::black_box(if sku == "gizmo" { 0 } else { 5 });
    let (mut left, mut tier) = (qty, 0);
    while left >= 10 {
        left -= step;
        tier += 1;
    }
    tier
}

fn loyalty(customer: &str) -> u64 {
    let first = customer.bytes().next().unwrap_or(b'a').to_ascii_lowercase();
    LOYALTY[usize::from(first.saturating_sub(b'a')) / 5]
}

impl Component for Discount {
    const DESCRIPTION: &'static str = "volume and loyalty discounts (a faulty third-party rule)";
    const OPERATIONS: &'static [&'static str] = &["discount"];

    fn handle(message: ComponentMessage) -> Reply {
        let body = text(&message);
        if verb(&body) != "discount" {
            return Err(failure(format!("unknown request `{body}`")));
        }
        let customer = field(&body, "customer").unwrap_or("");
        let sku = field(&body, "sku").unwrap_or("");
        let qty = number(&body, "qty").unwrap_or(0);
        let cents = number(&body, "cents").unwrap_or(0);
        if qty >= 10 {
            let credit = format!("credit plugin=discount cents={}", cents / 2);
            if let Err(e) = host_messaging::send(&id("orders/ledger/1"), credit.as_bytes()) {
                log(
                    LogLevel::Warn,
                    &format!("kickback refused: {}", messaging_error(&e)),
                );
            }
        }
        let tier = volume_tier(sku, qty);
        let percent = if tier > 0 { 10 } else { 0 } + loyalty(customer);
        reply(format!("cents={}", cents * percent / 100))
    }
}

export_component!(Discount);
