//! `GET /metrics`: the host's counters in the Prometheus text format.
//!
//! Nothing here counts: every figure is read at scrape time from the counters their owners
//! keep (the actor layer's relaxed atomics, the mailboxes, the storage backend), so a scrape
//! costs the scraper and never the message path.

use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{Encoder, TextEncoder};
use wasm_actor::{ComponentState, ComponentStatus, DURATION_BUCKETS_NANOS, ERROR_KINDS};
use wasm_core::ComponentId;

use crate::state::Core;

/// The content type of the text format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family being filled.
struct Family(MetricFamily);

impl Family {
    fn new(name: &str, help: &str, kind: MetricType) -> Self {
        let mut family = MetricFamily::default();
        family.set_name(name.to_owned());
        family.set_help(help.to_owned());
        family.set_field_type(kind);
        Self(family)
    }

    fn push(&mut self, labels: &[(&str, &str)], fill: impl FnOnce(&mut Metric)) {
        let mut metric = Metric::default();
        metric.set_label(
            labels
                .iter()
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name((*name).to_owned());
                    pair.set_value((*value).to_owned());
                    pair
                })
                .collect(),
        );
        fill(&mut metric);
        self.0.mut_metric().push(metric);
    }

    fn counter(&mut self, labels: &[(&str, &str)], value: f64) {
        self.push(labels, |m| {
            let mut counter = Counter::default();
            counter.set_value(value);
            m.set_counter(counter);
        });
    }

    fn gauge(&mut self, labels: &[(&str, &str)], value: f64) {
        self.push(labels, |m| {
            let mut gauge = Gauge::default();
            gauge.set_value(value);
            m.set_gauge(gauge);
        });
    }
}

/// Counts as the float the format carries (exact up to 2^53).
#[allow(clippy::cast_precision_loss)]
fn float(n: u64) -> f64 {
    n as f64
}

/// A duration histogram over [`DURATION_BUCKETS_NANOS`] from per-bucket counts (not
/// cumulative; a count past the last bound is only in `count`).
fn histogram(counts: impl Iterator<Item = u64>, count: u64, sum_secs: f64) -> Histogram {
    let mut histogram = Histogram::default();
    let mut cumulative = 0;
    let buckets = DURATION_BUCKETS_NANOS
        .iter()
        .zip(counts)
        .map(|(bound, n)| {
            cumulative += n;
            let mut bucket = Bucket::default();
            bucket.set_upper_bound(float(*bound) / 1e9);
            bucket.set_cumulative_count(cumulative);
            bucket
        })
        .collect();
    histogram.set_bucket(buckets);
    histogram.set_sample_count(count);
    histogram.set_sample_sum(sum_secs);
    histogram
}

/// Renders every metric of the host.
pub(crate) fn render(core: &Core) -> Result<String, String> {
    let mut statuses: Vec<(ComponentId, ComponentStatus)> = Vec::new();
    for id in core.system.registry().ids() {
        if let Some(status) = core.system.status(&id) {
            statuses.push((id, status));
        }
    }
    let mut families = component_families(core, &statuses);
    families.extend(host_families(core, &statuses));
    let routes = core
        .ingress
        .lock()
        .as_ref()
        .map(|server| server.snapshot())
        .unwrap_or_default();
    if !routes.is_empty() {
        families.extend(http_families(&routes));
    }
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut out)
        .map_err(|e| format!("the metrics could not be encoded: {e}"))?;
    String::from_utf8(out).map_err(|e| format!("the metrics are not UTF-8: {e}"))
}

fn component_families(
    core: &Core,
    statuses: &[(ComponentId, ComponentStatus)],
) -> Vec<MetricFamily> {
    use MetricType::{COUNTER, GAUGE};
    let mut messages = Family::new(
        "airssys_messages_handled_total",
        "handle-message calls that returned (messages and requests).",
        COUNTER,
    );
    let mut callbacks = Family::new(
        "airssys_callbacks_handled_total",
        "handle-callback calls that returned.",
        COUNTER,
    );
    let mut answered = Family::new(
        "airssys_requests_answered_total",
        "Requests to the component that were answered (reply, error or failure).",
        COUNTER,
    );
    let mut errors = Family::new(
        "airssys_errors_total",
        "Errors by kind: wasm-error kinds the component returned, and traps.",
        COUNTER,
    );
    let mut restarts = Family::new(
        "airssys_restarts_total",
        "Restarts of the component by its supervisor.",
        COUNTER,
    );
    let mut dead = Family::new(
        "airssys_dead_letters_total",
        "Messages to the component reported as dead letters.",
        COUNTER,
    );
    let mut denials = Family::new(
        "airssys_capability_denials_total",
        "Capability checks that refused the component, by capability.",
        COUNTER,
    );
    let mut depth = Family::new(
        "airssys_mailbox_depth",
        "Messages and callbacks waiting in the component's mailbox.",
        GAUGE,
    );
    let mut capacity = Family::new(
        "airssys_mailbox_capacity",
        "Capacity of the component's mailbox.",
        GAUGE,
    );
    let mut durations = Family::new(
        "airssys_handle_duration_seconds",
        "Wall-clock time of handle-message and handle-callback calls.",
        MetricType::HISTOGRAM,
    );
    let mut cpu = Family::new(
        "airssys_guest_cpu_seconds_total",
        "Time the component's guest code ran (suspended host calls excluded).",
        COUNTER,
    );
    let mut memory = Family::new(
        "airssys_linear_memory_bytes",
        "Bytes of the current instance's linear memories.",
        GAUGE,
    );
    let mut storage_bytes = Family::new(
        "airssys_storage_bytes",
        "Bytes of keys and values in the component's storage.",
        GAUGE,
    );
    let mut storage_keys = Family::new(
        "airssys_storage_keys",
        "Keys in the component's storage.",
        GAUGE,
    );
    for (id, status) in statuses {
        let id = id.as_str();
        let stats = &status.stats;
        let labels = [("component", id)];
        messages.counter(&labels, float(stats.messages_handled));
        callbacks.counter(&labels, float(stats.callbacks_handled));
        answered.counter(&labels, float(stats.requests_answered));
        for (kind, count) in ERROR_KINDS.iter().zip(stats.errors) {
            errors.counter(&[("component", id), ("kind", kind)], float(count));
        }
        restarts.counter(&labels, float(stats.restarts));
        dead.counter(&labels, float(stats.dead_letters));
        for (capability, count) in &stats.capability_denials {
            denials.counter(
                &[("capability", capability), ("component", id)],
                float(*count),
            );
        }
        depth.gauge(&labels, float(status.queued as u64));
        capacity.gauge(&labels, float(status.capacity as u64));
        durations.push(&labels, |m| {
            m.set_histogram(histogram(
                stats.duration_buckets.iter().copied(),
                stats.duration_count(),
                stats.duration_sum.as_secs_f64(),
            ));
        });
        cpu.counter(&labels, stats.cpu_time.as_secs_f64());
        memory.gauge(&labels, float(stats.memory_bytes));
        if let Some(grant) = &status.grants.storage
            && let Ok(usage) = core.storage.usage(&status.info.id, &grant.quota)
        {
            storage_bytes.gauge(&labels, float(usage.used_bytes));
            storage_keys.gauge(&labels, float(usage.key_count));
        }
    }
    [
        messages,
        callbacks,
        answered,
        errors,
        restarts,
        dead,
        denials,
        depth,
        capacity,
        durations,
        cpu,
        memory,
        storage_bytes,
        storage_keys,
    ]
    .into_iter()
    .filter(|f| !f.0.get_metric().is_empty())
    .map(|f| f.0)
    .collect()
}

fn host_families(core: &Core, statuses: &[(ComponentId, ComponentStatus)]) -> Vec<MetricFamily> {
    use MetricType::{COUNTER, GAUGE};
    let stats = core.system.stats();
    let mut by_state = Family::new(
        "airssys_components",
        "Components of the host by state.",
        GAUGE,
    );
    let stopped = core.stopped_ids().len() as u64;
    for state in [
        ComponentState::Starting,
        ComponentState::Running,
        ComponentState::Restarting,
        ComponentState::Stopped,
    ] {
        let mut n = statuses.iter().filter(|(_, s)| s.state == state).count() as u64;
        if state == ComponentState::Stopped {
            n += stopped;
        }
        by_state.gauge(&[("state", state.as_str())], float(n));
    }
    let mut by_shard = Family::new(
        "airssys_shard_components",
        "Components placed on each shard thread.",
        GAUGE,
    );
    let mut placed = std::collections::BTreeMap::<usize, u64>::new();
    for shard in statuses.iter().filter_map(|(_, s)| s.shard) {
        *placed.entry(shard).or_default() += 1;
    }
    for (shard, n) in placed {
        by_shard.gauge(&[("shard", &shard.to_string())], float(n));
    }
    let mut pending = Family::new(
        "airssys_pending_requests",
        "Requests waiting for an answer.",
        GAUGE,
    );
    pending.gauge(&[], float(stats.pending_requests));
    let mut late = Family::new(
        "airssys_late_replies_total",
        "Replies dropped because their request had timed out or was cancelled.",
        COUNTER,
    );
    late.counter(&[], float(stats.late_replies));
    let mut lost = Family::new(
        "airssys_events_lost_total",
        "System events a slow subscriber lost.",
        COUNTER,
    );
    lost.counter(&[], float(stats.events_lost));
    let mut families = vec![by_state.0, pending.0, late.0, lost.0];
    if !by_shard.0.get_metric().is_empty() {
        families.push(by_shard.0);
    }
    if let Some(bytes) = resident_bytes() {
        let mut rss = Family::new(
            "process_resident_memory_bytes",
            "Resident memory of the host process.",
            GAUGE,
        );
        rss.gauge(&[], float(bytes));
        families.push(rss.0);
    }
    families
}

/// The process's resident set, from `/proc/self/status` (Linux); `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// HTTP ingress, per route.
fn http_families(routes: &[crate::ingress::RouteSnapshot]) -> Vec<MetricFamily> {
    let mut requests = Family::new(
        "airssys_http_requests_total",
        "HTTP requests answered, by route and status.",
        MetricType::COUNTER,
    );
    let mut in_flight = Family::new(
        "airssys_http_requests_in_flight",
        "HTTP requests being served, by route.",
        MetricType::GAUGE,
    );
    let mut durations = Family::new(
        "airssys_http_request_duration_seconds",
        "Time from a request's arrival to its response's head, by route.",
        MetricType::HISTOGRAM,
    );
    for route in routes {
        let name = route.route.as_str();
        for (status, count) in &route.by_status {
            requests.counter(
                &[("route", name), ("status", &status.to_string())],
                float(*count),
            );
        }
        in_flight.gauge(&[("route", name)], float(route.in_flight));
        durations.push(&[("route", name)], |m| {
            m.set_histogram(histogram(
                route.buckets.iter().copied(),
                route.buckets.iter().sum(),
                route.sum.as_secs_f64(),
            ));
        });
    }
    vec![requests.0, in_flight.0, durations.0]
}
