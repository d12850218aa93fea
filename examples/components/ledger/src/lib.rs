//! ledger (`orders/ledger/1`): books valid orders and keeps the totals in storage, so they
//! survive a restart of the component or of the host.
//!
//! For each `order id=.. customer=.. sku=.. qty=..` (from the validator) it
//! 1. requests `price sku=.. qty=..` from the pricing service;
//! 2. requests `discount customer=.. sku=.. qty=.. cents=..` from the discount plug-in;
//! 3. books `cents - discount`: storage keys `total-cents`, `orders`, `order/<id>` and
//!    `customer/<name>`; then broadcasts `booked id=<id> cents=<n>` to the auditor and ingest.
//!
//! A pricing error rejects the order (`rejected id=<id> reason=unpriced`). A discount plug-in
//! that fails, times out or errs costs the customer nothing: the order is booked at full price.
//!
//! - `totals` (a request): `orders=<n> total-cents=<n>`, read from storage;
//! - `shutdown` stores `shutdown=clean` and logs the totals.
//!
//! Grants it needs: `request` to `orders/pricing/1` and `plugins/discount/1`, `broadcast` to
//! `orders/auditor/1` and `orders/ingest/1`, storage read and write.

use std::cell::RefCell;
use std::collections::BTreeMap;

use pipeline_common::{
    Component, ComponentError, ComponentMessage, ERROR_CONTENT_TYPE, LogLevel, Reply, WasmError,
    export_component, failure, field, host_messaging, id, log, messaging_error, number,
    reply, storage, storage_error, text, verb,
};

const PRICING: &str = "orders/pricing/1";
const DISCOUNT: &str = "plugins/discount/1";
const OUTCOME_LISTENERS: [&str; 2] = ["orders/auditor/1", "orders/ingest/1"];
const TIMEOUT_MS: u64 = 5_000;

/// Where an order is, keyed by the correlation id of the request it waits on.
enum Stage {
    Pricing { order: String },
    Discount { order: String, cents: u64 },
}

thread_local! {
    static PENDING: RefCell<BTreeMap<String, Stage>> = const { RefCell::new(BTreeMap::new()) };
}

struct Ledger;

fn request(target: &str, payload: &str, stage: Stage) -> Result<(), WasmError> {
    let correlation = host_messaging::request(&id(target), payload.as_bytes(), TIMEOUT_MS)
        .map_err(|e| failure(format!("cannot request {target}: {}", messaging_error(&e))))?;
    PENDING.with_borrow_mut(|p| p.insert(correlation, stage));
    Ok(())
}

fn tell_listeners(outcome: &str) -> Result<(), WasmError> {
    let targets: Vec<_> = OUTCOME_LISTENERS.iter().map(|t| id(t)).collect();
    host_messaging::broadcast(&targets, outcome.as_bytes()).map_err(|e| {
        failure(format!(
            "cannot broadcast `{outcome}`: {}",
            messaging_error(&e)
        ))
    })
}

fn stored(key: &str) -> Result<u64, WasmError> {
    match storage::get(key) {
        Ok(Some(bytes)) => Ok(String::from_utf8_lossy(&bytes).parse().unwrap_or(0)),
        Ok(None) => Ok(0),
        Err(e) => Err(failure(format!("cannot read {key}: {}", storage_error(&e)))),
    }
}

fn store(key: &str, value: u64) -> Result<(), WasmError> {
    storage::set(key, value.to_string().as_bytes())
        .map_err(|e| failure(format!("cannot write {key}: {}", storage_error(&e))))
}

fn book(order: &str, cents: u64) -> Result<(), WasmError> {
    let order_id = field(order, "id").unwrap_or("?");
    let customer = field(order, "customer").unwrap_or("?");
    store(&format!("order/{order_id}"), cents)?;
    let customer_key = format!("customer/{customer}");
    store(&customer_key, stored(&customer_key)? + cents)?;
    store("orders", stored("orders")? + 1)?;
    store("total-cents", stored("total-cents")? + cents)?;
    tell_listeners(&format!("booked id={order_id} cents={cents}"))
}

fn callback_text(message: &ComponentMessage) -> Result<String, String> {
    let body = text(message);
    if message.metadata.content_type.as_deref() == Some(ERROR_CONTENT_TYPE) {
        Err(body)
    } else {
        Ok(body)
    }
}

impl Component for Ledger {
    const DESCRIPTION: &'static str = "books priced orders and persists the totals";
    const OPERATIONS: &'static [&'static str] = &["order", "totals"];
    const STATEFUL: bool = true;

    fn handle(message: ComponentMessage) -> Reply {
        let body = text(&message);
        match verb(&body) {
            "order" => {
                let sku = field(&body, "sku").unwrap_or("");
                let qty = field(&body, "qty").unwrap_or("");
                let stage = Stage::Pricing {
                    order: body.clone(),
                };
                request(PRICING, &format!("price sku={sku} qty={qty}"), stage)?;
                Ok(None)
            }
            "totals" => reply(format!(
                "orders={} total-cents={}",
                stored("orders")?,
                stored("total-cents")?
            )),
            other => Err(failure(format!("unknown verb `{other}`"))),
        }
    }

    fn callback(message: ComponentMessage) -> Result<(), WasmError> {
        let correlation = message.metadata.correlation_id.clone().unwrap_or_default();
        let Some(stage) = PENDING.with_borrow_mut(|p| p.remove(&correlation)) else {
            log(
                LogLevel::Warn,
                &format!("callback for unknown request {correlation}"),
            );
            return Ok(());
        };
        match (stage, callback_text(&message)) {
            (Stage::Pricing { order }, Ok(price)) => {
                let cents = number(&price, "cents").unwrap_or(0);
                let customer = field(&order, "customer").unwrap_or("");
                let sku = field(&order, "sku").unwrap_or("");
                let qty = field(&order, "qty").unwrap_or("");
                let ask = format!("discount customer={customer} sku={sku} qty={qty} cents={cents}");
                request(DISCOUNT, &ask, Stage::Discount { order, cents })
            }
            (Stage::Pricing { order }, Err(error)) => {
                let order_id = field(&order, "id").unwrap_or("?");
                log(
                    LogLevel::Warn,
                    &format!("order {order_id} not priced: {error}"),
                );
                tell_listeners(&format!("rejected id={order_id} reason=unpriced"))
            }
            (Stage::Discount { order, cents }, Ok(discount)) => {
                let discount = number(&discount, "cents").unwrap_or(0).min(cents);
                book(&order, cents - discount)
            }
            (Stage::Discount { order, cents }, Err(error)) => {
                let order_id = field(&order, "id").unwrap_or("?");
                log(
                    LogLevel::Warn,
                    &format!("discount plug-in failed on {order_id} ({error}): full price"),
                );
                book(&order, cents)
            }
        }
    }

    fn shutdown() -> Result<(), ComponentError> {
        storage::set("shutdown", b"clean")
            .map_err(|e| ComponentError::ShutdownFailed(storage_error(&e)))?;
        let orders = stored("orders").unwrap_or(0);
        let total = stored("total-cents").unwrap_or(0);
        log(
            LogLevel::Info,
            &format!("ledger shutdown: {orders} orders, {total} cents, stored"),
        );
        Ok(())
    }
}

export_component!(Ledger);
