//! pricing (`orders/pricing/1`): a price service answered by request-response.
//!
//! Its configuration (`config` in the manifest) is the price list in cents, for example
//! `widget=250 gadget=1200`.
//!
//! - `price sku=<sku> qty=<n>` (a request): replies `cents=<qty * unit price>`; an unknown sku
//!   is an error reply, which reaches the requester as an `error-reply` callback.
//!
//! Grants it needs: none.

use std::cell::RefCell;

use pipeline_common::{
    Component, ComponentConfig, ComponentError, ComponentMessage, Reply, export_component,
    failure, field, number, reply, text, verb,
};

thread_local! {
    static PRICES: RefCell<Vec<(String, u64)>> = const { RefCell::new(Vec::new()) };
}

struct Pricing;

impl Component for Pricing {
    const DESCRIPTION: &'static str = "prices orders from its configured price list";
    const OPERATIONS: &'static [&'static str] = &["price"];

    fn initialize(config: ComponentConfig) -> Result<(), ComponentError> {
        let list =
            String::from_utf8_lossy(config.config_data.as_deref().unwrap_or_default()).into_owned();
        let mut prices = Vec::new();
        for entry in list.split_whitespace() {
            let parsed = entry
                .split_once('=')
                .and_then(|(sku, cents)| Some((sku.to_owned(), cents.parse().ok()?)));
            match parsed {
                Some(price) => prices.push(price),
                None => {
                    return Err(ComponentError::InitializationFailed(format!(
                        "price list entry `{entry}` is not `<sku>=<cents>`"
                    )));
                }
            }
        }
        if prices.is_empty() {
            return Err(ComponentError::InitializationFailed(
                "the price list (config) is empty".into(),
            ));
        }
        PRICES.set(prices);
        Ok(())
    }

    fn handle(message: ComponentMessage) -> Reply {
        let body = text(&message);
        if verb(&body) != "price" {
            return Err(failure(format!("unknown request `{body}`")));
        }
        let sku = field(&body, "sku").unwrap_or("");
        let qty = number(&body, "qty").ok_or_else(|| failure("qty is not a number"))?;
        let unit = PRICES
            .with_borrow(|prices| prices.iter().find(|(s, _)| s == sku).map(|(_, c)| *c))
            .ok_or_else(|| failure(format!("unknown sku `{sku}`")))?;
        reply(format!("cents={}", unit.saturating_mul(qty)))
    }
}

export_component!(Pricing);
