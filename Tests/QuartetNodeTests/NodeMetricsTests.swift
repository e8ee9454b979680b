@testable import QuartetNode
import QuartetReplication
import Testing

/// The node's metrics: counted through swift-metrics into the node's own Prometheus registry.
@Suite struct NodeMetricsTests {
    func value(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") { return Double(line.dropFirst(series.count + 1)) }
        return nil
    }

    @Test func countsTimesAndGaugesAppearInTheExposition() {
        let metrics = NodeMetrics(ownLog: "wales")
        var text = String(decoding: metrics.exposition(), as: UTF8.self)
        // Every alert kind from zero, before any happened.
        for kind in ReplicationAlert.Kind.allCases { #expect(value(text, "quartet_alerts_total{kind=\"\(kind.rawValue)\"}") == 0, "\(text)") }

        metrics.httpResponse(status: 200, duration: .milliseconds(2))
        metrics.httpResponse(status: 200, duration: .milliseconds(3))
        metrics.httpResponse(status: 403, duration: .microseconds(300))
        metrics.alertCounter(.violation).increment()
        metrics.ownAppends.increment(by: 33)
        metrics.ownBatches.increment()
        metrics.viewUpdateTime.recordNanoseconds(Duration.milliseconds(7).nanoseconds)
        metrics.gauge("quartet_log_entries", [("log", "wales")], help: "Entries held per log.").set(Int64(120))
        text = String(decoding: metrics.exposition(), as: UTF8.self)

        #expect(value(text, "quartet_http_responses_total{code=\"200\"}") == 2)
        #expect(value(text, "quartet_http_responses_total{code=\"403\"}") == 1)
        #expect(value(text, "quartet_http_refusals_total") == 1)
        #expect(value(text, "quartet_http_request_seconds_count") == 3)
        #expect(value(text, "quartet_alerts_total{kind=\"violation\"}") == 1)
        #expect(value(text, "quartet_own_appends_total{log=\"wales\"}") == 33)
        #expect(value(text, "quartet_own_batches_total{log=\"wales\"}") == 1)
        #expect(value(text, "quartet_view_update_seconds_count") == 1)
        #expect(abs((value(text, "quartet_view_update_seconds_sum") ?? 0) - 0.007) < 1e-9)
        #expect(value(text, "quartet_view_update_seconds_bucket{le=\"0.005\"}") == 0)
        #expect(value(text, "quartet_view_update_seconds_bucket{le=\"0.01\"}") == 1)
        #expect(value(text, "quartet_log_entries{log=\"wales\"}") == 120)
        #expect(text.contains("# HELP quartet_log_entries Entries held per log."))
        #expect(text.contains("# TYPE quartet_http_responses_total counter"))
        // A second gauge handle for the same series sets the same value.
        metrics.gauge("quartet_log_entries", [("log", "wales")], help: "Entries held per log.").set(Int64(121))
        #expect(value(String(decoding: metrics.exposition(), as: UTF8.self), "quartet_log_entries{log=\"wales\"}") == 121)
    }

    @Test func durationsBecomeWholeNanoseconds() {
        #expect(Duration.milliseconds(7).nanoseconds == 7_000_000)
        #expect(Duration.seconds(3).nanoseconds == 3_000_000_000)
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
    }
}
