//! Prometheus metrics: what an operator watches.
//!
//! Every server has its own [`Metrics`] (its own registry, so that several
//! servers in one process, as in the tests, count apart), shared by the
//! parts that count: the gRPC layer ([`grpc`]), the writer, the watches,
//! the Redis feed and an edge's forwarding. `--metrics-listen` serves them
//! as Prometheus text at `/metrics` ([`http`]). Label values are only ever
//! from small fixed sets (methods, codes, reasons): never actors, row paths
//! or request ids. docs/METRICS.md lists every metric and its meaning.

pub mod grpc;
pub mod http;

use std::sync::Arc;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

use crate::watch::WatchStats;

/// Latency buckets in seconds, from a leaf write to a grand total's.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    pub grpc: grpc::GrpcMetrics,
    pub writer: WriterMetrics,
    pub watch: Arc<WatchStats>,
    pub redis: RedisMetrics,
    pub edge: EdgeMetrics,
    /// Calls refused for their credentials or what they allow, by reason.
    pub auth_denials: IntCounterVec,
    head_revision: IntGauge,
}

/// What the writer thread counts.
#[derive(Clone, Debug)]
pub struct WriterMetrics {
    /// Requests committed together in one transaction.
    pub group_requests: Histogram,
    /// From a group's first statement to its commit returning.
    pub commit_seconds: Histogram,
    /// Requests waiting for the writer after a group.
    pub queue_depth: IntGauge,
    /// Facts one committed request changed or created.
    pub facts_changed: Histogram,
    /// Committed revisions whose fact changes the `facts` table does not
    /// hold yet (they are durable in the fact history).
    pub facts_behind: IntGauge,
    /// Time to write the committed fact changes into `facts`.
    pub catch_up_seconds: Histogram,
}

/// What the Redis feed counts.
#[derive(Clone, Debug)]
pub struct RedisMetrics {
    /// Committed revisions the writer's relay has not yet appended.
    pub relay_lag: IntGauge,
    /// Failed Redis calls, by part (`relay`, `reader`).
    pub errors: IntCounterVec,
    /// Times the edge's stream reader resumed after losing Redis.
    pub reconnects: IntCounter,
}

/// What an edge's calls to its writer count.
#[derive(Clone, Debug)]
pub struct EdgeMetrics {
    /// A forwarded call's time, retries included, by method.
    pub forward_seconds: HistogramVec,
    /// Forwarded calls that failed on the way to the writer (not refused
    /// by it), by method.
    pub forward_failures: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let registry = Registry::new();
        let reg = Registrar(&registry);
        let metrics = Metrics {
            grpc: grpc::GrpcMetrics::new(&reg),
            writer: WriterMetrics {
                group_requests: reg.histogram(
                    "duckgrid_commit_group_requests",
                    "Requests committed together in one transaction (group commit).",
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0],
                ),
                commit_seconds: reg.histogram(
                    "duckgrid_commit_seconds",
                    "Time to apply and commit one group of writes.",
                    LATENCY_BUCKETS,
                ),
                queue_depth: reg.gauge(
                    "duckgrid_write_queue_depth",
                    "Write requests waiting for the writer.",
                ),
                facts_changed: reg.histogram(
                    "duckgrid_write_facts_changed",
                    "Facts one committed write changed or created.",
                    &[0.0, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7],
                ),
                facts_behind: reg.gauge(
                    "duckgrid_facts_behind_revisions",
                    "Committed revisions the facts table has yet to catch up with (their changes are durable in the fact history).",
                ),
                catch_up_seconds: reg.histogram(
                    "duckgrid_facts_catch_up_seconds",
                    "Time to write committed fact changes into the facts table, behind the writes.",
                    LATENCY_BUCKETS,
                ),
            },
            watch: Arc::new(WatchStats {
                open: reg.gauge("duckgrid_watch_streams", "WatchUpdates streams open."),
                events_sent: reg.counter(
                    "duckgrid_watch_events_sent_total",
                    "Change events handed to watch streams.",
                ),
                too_slow: reg.counter(
                    "duckgrid_watch_too_slow_total",
                    "Watches ended because their client stopped reading (RESOURCE_EXHAUSTED).",
                ),
                catch_ups: reg.counter(
                    "duckgrid_watch_catch_ups_total",
                    "Times a watch fell out of the live buffer and read history instead.",
                ),
                max_buffered_bytes: Default::default(),
            }),
            redis: RedisMetrics {
                relay_lag: reg.gauge(
                    "duckgrid_redis_relay_lag_revisions",
                    "Committed revisions not yet appended to the Redis stream (writer).",
                ),
                errors: reg.counter_vec(
                    "duckgrid_redis_errors_total",
                    "Failed Redis calls, by part (relay, reader).",
                    &["part"],
                ),
                reconnects: reg.counter(
                    "duckgrid_redis_reader_reconnects_total",
                    "Times the stream reader resumed after losing Redis (edge).",
                ),
            },
            edge: EdgeMetrics {
                forward_seconds: reg.histogram_vec(
                    "duckgrid_edge_forward_seconds",
                    "Time of a call an edge forwarded to its writer, retries included.",
                    LATENCY_BUCKETS,
                    &["grpc_method"],
                ),
                forward_failures: reg.counter_vec(
                    "duckgrid_edge_forward_failures_total",
                    "Forwarded calls that could not reach the writer.",
                    &["grpc_method"],
                ),
            },
            auth_denials: reg.counter_vec(
                "duckgrid_auth_denials_total",
                "Calls refused as UNAUTHENTICATED or PERMISSION_DENIED, by ErrorInfo reason.",
                &["reason"],
            ),
            head_revision: reg.gauge(
                "duckgrid_head_revision",
                "The newest revision this process knows committed.",
            ),
            registry,
        };
        Arc::new(metrics)
    }

    /// The metrics in Prometheus' text format; `head` is the process's
    /// head revision now.
    pub fn render(&self, head: i64) -> String {
        self.head_revision.set(head);
        let encoder = prometheus::TextEncoder::new();
        encoder
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
    }
}

/// Makes and registers metrics. Names are fixed and distinct, so a failure
/// is a bug in this module, found by its tests.
struct Registrar<'a>(&'a Registry);

impl Registrar<'_> {
    fn keep<C: prometheus::core::Collector + Clone + 'static>(&self, c: C) -> C {
        self.0
            .register(Box::new(c.clone()))
            .expect("metric names are distinct");
        c
    }

    fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.keep(IntCounter::new(name, help).expect("valid metric"))
    }

    fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.keep(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.keep(IntGauge::new(name, help).expect("valid metric"))
    }

    fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        self.keep(Histogram::with_opts(opts).expect("valid metric"))
    }

    fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        buckets: &[f64],
        labels: &[&str],
    ) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        self.keep(HistogramVec::new(opts, labels).expect("valid metric"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_registers_and_renders() {
        let metrics = Metrics::new();
        metrics.writer.facts_changed.observe(3.0);
        let text = metrics.render(42);
        assert!(text.contains("duckgrid_head_revision 42"), "{text}");
        assert!(
            text.contains("duckgrid_write_facts_changed_bucket{le=\"10\"} 1"),
            "{text}"
        );
    }
}
