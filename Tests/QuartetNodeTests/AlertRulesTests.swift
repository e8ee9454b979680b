import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import QuartetCrypto
@testable import QuartetNode
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

    static let exposedWithWitnesses: Set<String> = ["quartet_witness_failing"]

    @Test func everyMetricTheRulesWatchIsExposed() async throws {
        let text = try String(contentsOf: Self.rules, encoding: .utf8)
        // Series a node has only with witnesses of its log in the federation file (the one
        // here names none): WitnessFederationTests reads them on the demo federation's /metrics.
        let names = Set(text.matches(of: /quartet_[a-z_]+/).map { String($0.output) }).subtracting(["quartet_rules"])
            .subtracting(Self.exposedWithWitnesses)
        #expect(names.count >= 6, "\(names)")
        let node = try InProcessNode(entries: 2)
        defer { node.remove() }
        let exposition = Mutex("")
        try await node.test(CertificateHeaderContext.self) { client, _ in
            var headers = HTTPFields()
            headers[.authorization] = "Bearer token-reader"
            let body = try await client.execute(uri: "/metrics", method: .get, headers: headers) { String(buffer: $0.body) }
            exposition.withLock { $0 = body }
        }
        let exposed = exposition.withLock { $0 }
        for name in names.sorted() {
            #expect(exposed.contains("\n\(name)") || exposed.contains("# TYPE \(name) "), "the rules watch \(name), which /metrics does not expose")
        }
        // The two expiry gauges are the dates of the files: the node's certificate and its CA.
        func value(_ name: String) -> Double? {
            exposed.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
        }
        let ca = try Certificate(pem: String(contentsOfFile: node.files.pki.caCertificate, encoding: .utf8))
        let leaf = try Certificate(pem: String(contentsOfFile: NodeConfiguration.load(path: node.files.configPath).certificate, encoding: .utf8))
        #expect(value("quartet_ca_certificate_expiry_timestamp_seconds") == ca.notAfter.timeIntervalSince1970)
        #expect(value("quartet_certificate_expiry_timestamp_seconds") == leaf.notAfter.timeIntervalSince1970)
        #expect(ca.notAfter != leaf.notAfter)
    }
}
