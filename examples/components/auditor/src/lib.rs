//! auditor (`orders/auditor/1`): an audit trail of the pipeline, fed by broadcast.
//!
//! - `booked id=.. cents=..` / `rejected id=.. reason=..`: logged and counted;
//! - `report` (a request): `booked=<n> rejected=<n> booked-cents=<n>`.
//!
//! Grants it needs: none (it only receives).

use std::cell::Cell;

use pipeline_common::{
    Component, ComponentMessage, LogLevel, Reply, export_pipeline_component, failure, log, number,
    reply, text, verb,
};

thread_local! {
    static BOOKED: Cell<u64> = const { Cell::new(0) };
    static REJECTED: Cell<u64> = const { Cell::new(0) };
    static CENTS: Cell<u64> = const { Cell::new(0) };
}

struct Auditor;

impl Component for Auditor {
    const NAME: &'static str = "auditor";
    const DESCRIPTION: &'static str = "keeps an audit trail of booked and rejected orders";
    const OPERATIONS: &'static [&'static str] = &["booked", "rejected", "report"];
    const STATEFUL: bool = true;

    fn handle(message: ComponentMessage) -> Reply {
        let body = text(&message);
        match verb(&body) {
            "booked" => {
                BOOKED.set(BOOKED.get() + 1);
                CENTS.set(CENTS.get() + number(&body, "cents").unwrap_or(0));
                log(LogLevel::Info, &format!("audit: {body}"));
                Ok(None)
            }
            "rejected" => {
                REJECTED.set(REJECTED.get() + 1);
                log(LogLevel::Info, &format!("audit: {body}"));
                Ok(None)
            }
            "report" => reply(format!(
                "booked={} rejected={} booked-cents={}",
                BOOKED.get(),
                REJECTED.get(),
                CENTS.get()
            )),
            other => Err(failure(format!("unknown verb `{other}`"))),
        }
    }
}

export_pipeline_component!(Auditor);
