import Foundation
import HTTPTypes
import Hummingbird
import QuartetCrypto
@testable import QuartetNode
import QuartetReplication
import QuartetTestKit
import Synchronization
import Testing

/// deploy/prometheus: the alert rules are valid for promtool and watch only metrics a node
/// really exposes (a renamed metric would leave an alert that can never fire).
@Suite struct AlertRulesTests {
    static let rules = TestKit.repositoryRoot.appendingPathComponent("deploy/prometheus/quartet-rules.yml")

    @Test func promtoolAcceptsTheRules() throws {
        let promtool = try #require(TestKit.which("promtool"), "promtool is missing (scripts/setup.sh installs Debian's prometheus package)")
        let result = try TestKit.run(promtool, ["check", "rules", Self.rules.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("SUCCESS"), "\(result.stdout)")
    }

    /// The rules' unit tests (deploy/prometheus/quartet-rules-test.yml): the federation-version
    /// rule names the node left behind and the one stating a made-up version, the alerts that
    /// are evidence fire at their first count, and missing series fire their rules.
    @Test func theRulesUnitTestsPass() throws {
        let promtool = try #require(TestKit.which("promtool"), "promtool is missing (scripts/setup.sh installs Debian's prometheus package)")
        let tests = TestKit.repositoryRoot.appendingPathComponent("deploy/prometheus/quartet-rules-test.yml")
        let result = try TestKit.run(promtool, ["test", "rules", tests.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    /// Every kind of alert a node raises that is evidence of an attack or a fault is watched by
    /// a rule (a kind only counted pages nobody).
    @Test func everyAlertKindThatIsEvidenceIsWatched() throws {
        let text = try String(contentsOf: Self.rules, encoding: .utf8)
        // Counted and listed, not alerted on: each comes with one of the watched ones or is routine.
        let routine: Set<ReplicationAlert.Kind> = [.rejected, .protocolViolation, .ownLogRecovered]
        for kind in ReplicationAlert.Kind.allCases where !routine.contains(kind) {
            #expect(text.contains("quartet_alerts_total{kind=\"\(kind.rawValue)\"}"), "no rule watches alerts of kind \(kind.rawValue)")
        }
    }

    /// The documented scrape configuration bounds what one member's /metrics can put into the
    /// Prometheus every member's alerts run on, with room for a node's own series.
    @Test func theScrapeConfigurationBoundsEachTarget() async throws {
        let promtool = try #require(TestKit.which("promtool"), "promtool is missing")
        let configuration = TestKit.repositoryRoot.appendingPathComponent("deploy/prometheus/prometheus.yml")
        let result = try TestKit.run(promtool, ["check", "config", "--syntax-only", configuration.path])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let text = try String(contentsOf: configuration, encoding: .utf8)
        for limit in ["sample_limit:", "label_limit:", "label_value_length_limit:", "body_size_limit:", "regex: 'quartet_.*'"] {
            #expect(text.contains(limit), "prometheus.yml sets no \(limit)")
        }
        let sampleLimit = try #require(text.firstMatch(of: /sample_limit: ([0-9]+)/).flatMap { Int($0.output.1) })
        let exposed = try await Self.exposition().text
        let samples = exposed.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.count
        #expect(samples > 20 && samples * 4 < sampleLimit, "a node exposes \(samples) samples against a limit of \(sampleLimit)")
        #expect(exposed.contains("\nquartet_ready "), "no quartet_ready")
    }

    /// One in-process node's /metrics, as a reader reads it, and the node's CA and certificate
    /// (read before the node's files are removed).
    static func exposition() async throws -> (text: String, files: (ca: Certificate, leaf: Certificate)) {
        let node = try InProcessNode(entries: 2)
        defer { node.remove() }
        let exposition = Mutex("")
        try await node.test(CertificateHeaderContext.self) { client, _ in
            var headers = HTTPFields()
            headers[.authorization] = "Bearer token-reader"
            let body = try await client.execute(uri: "/metrics", method: .get, headers: headers) { String(buffer: $0.body) }
            exposition.withLock { $0 = body }
        }
        let ca = try Certificate(pem: String(contentsOfFile: node.files.pki.caCertificate, encoding: .utf8))
        let leaf = try Certificate(pem: String(contentsOfFile: NodeConfiguration.load(path: node.files.configPath).certificate, encoding: .utf8))
        return (exposition.withLock { $0 }, (ca, leaf))
    }

    /// (The clock's offset: only once witnesses have answered in this run, `ClockWatchTests`.)
    static let exposedWithWitnesses: Set<String> = ["quartet_witness_failing", "quartet_clock_offset_seconds"]

    @Test func everyMetricTheRulesWatchIsExposed() async throws {
        let text = try String(contentsOf: Self.rules, encoding: .utf8)
        // Series a node has only with witnesses of its log in the federation file (the one
        // here names none): WitnessFederationTests reads them on the demo federation's /metrics.
        let names = Set(text.matches(of: /quartet_[a-z_]+/).map { String($0.output) }).subtracting(["quartet_rules"])
            .subtracting(Self.exposedWithWitnesses)
        #expect(names.count >= 6, "\(names)")
        let (exposed, files) = try await Self.exposition()
        for name in names.sorted() {
            #expect(exposed.contains("\n\(name)") || exposed.contains("# TYPE \(name) "), "the rules watch \(name), which /metrics does not expose")
        }
        // The two expiry gauges are the dates of the files: the node's certificate and its CA.
        func value(_ name: String) -> Double? {
            exposed.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        let (ca, leaf) = files
        #expect(value("quartet_ca_certificate_expiry_timestamp_seconds") == ca.notAfter.timeIntervalSince1970)
        #expect(value("quartet_certificate_expiry_timestamp_seconds") == leaf.notAfter.timeIntervalSince1970)
        #expect(ca.notAfter != leaf.notAfter)
    }
}
