import CoreMetrics
import Foundation
import Prometheus
import Synchronization
import QuartetReplication

/// The node's metrics, exposed at `/metrics` in the Prometheus text format.
///
/// What happens is counted where it happens, through swift-metrics (`Counter`, `Timer`), with a
/// factory over this node's own Prometheus registry: several nodes share a process in the
/// benchmarks and tests, so nothing is bootstrapped process-wide. What is read rather than
/// counted (log sizes, lag, connections) is set on gauges each time `/metrics` is scraped.
final class NodeMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    let ownAppends: CoreMetrics.Counter
    let ownBatches: CoreMetrics.Counter
    let viewUpdates: CoreMetrics.Counter
    let viewEntries: CoreMetrics.Counter
    let viewUpdateTime: CoreMetrics.Timer
    let httpRefusals: CoreMetrics.Counter
    let httpRequestTime: CoreMetrics.Timer
    let rejectedBatches: CoreMetrics.Counter
    /// Times a peer's requests had to wait for its read budget (`ReadBudget`).
    let readBudgetWaits: CoreMetrics.Counter
    /// Failures of the `Idempotency-Key` store (`submissions.sqlite`): a key not recorded (its
    /// request refused 503), an answer or a refusal not written, a prune failed, a damaged
    /// file moved aside. Their lines are budgeted; this counts every one.
    let submissionStoreFailures: CoreMetrics.Counter
    private let responseCounters = Mutex<[Int: CoreMetrics.Counter]>([:])
    /// Per gauge name set through `keepOnly`: the label values its series had at the last scrape.
    private let labelled = Mutex<[String: Set<[String]>]>([:])

    init(ownLog: String) {
        var factory = PrometheusMetricsFactory(registry: registry)
        let fast: [Duration] = [.microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(10),
                                .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5)]
        factory.durationHistogramBuckets = ["quartet_view_update_seconds": fast, "quartet_http_request_seconds": fast]
        self.factory = factory
        ownAppends = CoreMetrics.Counter(label: "quartet_own_appends_total", dimensions: [("log", ownLog)], factory: factory)
        ownBatches = CoreMetrics.Counter(label: "quartet_own_batches_total", dimensions: [("log", ownLog)], factory: factory)
        viewUpdates = CoreMetrics.Counter(label: "quartet_view_updates_total", factory: factory)
        viewEntries = CoreMetrics.Counter(label: "quartet_view_entries_total", factory: factory)
        viewUpdateTime = CoreMetrics.Timer(label: "quartet_view_update_seconds", factory: factory)
        httpRefusals = CoreMetrics.Counter(label: "quartet_http_refusals_total", factory: factory)
        httpRequestTime = CoreMetrics.Timer(label: "quartet_http_request_seconds", factory: factory)
        rejectedBatches = CoreMetrics.Counter(label: "quartet_rejected_batches_total", factory: factory)
        readBudgetWaits = CoreMetrics.Counter(label: "quartet_peer_read_budget_waits_total", factory: factory)
        submissionStoreFailures = CoreMetrics.Counter(label: "quartet_submission_store_failures_total", factory: factory)
        // Every alert kind is shown from zero, so a rule can watch for the first one.
        for kind in ReplicationAlert.Kind.allCases { _ = alertCounter(kind) }
    }

    func alertCounter(_ kind: ReplicationAlert.Kind) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: "quartet_alerts_total", dimensions: [("kind", kind.rawValue)], factory: factory)
    }

    /// An API response: counted by status code (401 and 403 also as refusals) and timed.
    func httpResponse(status: Int, duration: Duration) {
        httpResponse(status: status)
        httpRequestTime.recordNanoseconds(duration.nanoseconds)
    }

    /// An answer counted without a duration: one no route gave (a request the HTTP parser
    /// refused, `ExchangeHandler`), whose time is not a route's.
    func httpResponse(status: Int) {
        responseCounter(status).increment()
        if status == 401 || status == 403 { httpRefusals.increment() }
    }

    /// The counter of one status code, made once: making it looks the metric up in the
    /// registry by name and labels, which cost more than the rest of a `/healthz` answer's
    /// bookkeeping. The codes are the server's own, so the table stays small.
    private func responseCounter(_ status: Int) -> CoreMetrics.Counter {
        if let counter = responseCounters.withLock({ $0[status] }) { return counter }
        let counter = CoreMetrics.Counter(label: "quartet_http_responses_total", dimensions: [("code", String(status))], factory: factory)
        responseCounters.withLock { $0[status] = counter }
        return counter
    }

    /// TLS handshakes refused or abandoned, per port (the peer port's count includes this
    /// node's own failed dials), counted from the log budgets at each scrape: every one, logged
    /// or not.
    func countTLSRefusals(api: Int, peer: Int) {
        tlsRefusals.withLock { counted in
            for (port, total) in [("api", api), ("peer", peer)] {
                let new = total - (counted[port] ?? 0)
                guard new > 0 else { continue }
                CoreMetrics.Counter(label: "quartet_tls_refusals_total", dimensions: [("port", port)], factory: factory).increment(by: new)
                counted[port] = total
            }
        }
    }
    private let tlsRefusals = Mutex<[String: Int]>([:])

    /// An `unavailable` answer sent to a peer or received from one.
    func unavailable(sent: Bool, log: String) {
        CoreMetrics.Counter(label: "quartet_unavailable_total", dimensions: [("direction", sent ? "sent" : "received"), ("log", log)], factory: factory).increment()
    }

    /// A gauge set when scraped; `help` becomes its `# HELP` line.
    func gauge(_ name: String, _ labels: [(String, String)] = [], help: String) -> Prometheus.Gauge {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// For a gauge set when scraped, one series per value of `label`: the series whose value is
    /// not among `values` any more (a witness a reload removed, say) are removed, where their
    /// last value would otherwise stay in every scrape.
    func keepOnly(_ name: String, label: String, help: String, values: Set<String>) {
        keepOnly(name, labels: [label], help: help, values: Set(values.map { [$0] }))
    }

    /// As above, for a gauge with several labels (`values`: each series' label values, in the
    /// order of `labels`).
    func keepOnly(_ name: String, labels: [String], help: String, values: Set<[String]>) {
        let gone = labelled.withLock { held -> Set<[String]> in
            defer { held[name] = values }
            return (held[name] ?? []).subtracting(values)
        }
        for series in gone where series.count == labels.count { registry.unregisterGauge(gauge(name, Array(zip(labels, series)), help: help)) }
    }

    /// The text exposition of everything registered.
    func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    /// The duration in milliseconds, as a Double.
    public var milliseconds: Double { seconds * 1000 }

    /// Whole nanoseconds (saturating at the bounds of Int64).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, overflowAgain) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow || overflowAgain ? (seconds < 0 ? .min : .max) : sum
    }
}
