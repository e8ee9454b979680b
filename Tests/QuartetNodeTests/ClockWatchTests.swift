import Foundation
import HTTPTypes
import Hummingbird
@testable import QuartetNode
import QuartetPolicy
import QuartetStore
import Testing

/// One verdict on the node's clock (finding 289), read by every part that judges agreements by
/// the time, and shown to the operator.
@Suite struct ClockWatchTests {
    /// Egress, ingress, the restricted-append guard and the purges read the verdict the witness
    /// collector judges: one object, not copies that could disagree.
    @Test func everyPartThatJudgesByTheClockReadsOneVerdict() throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let clock = node.node.collector.clock
        #expect(node.node.engine.clock === clock)
        #expect(node.node.admission.clock === clock)
        #expect(node.node.purger.clock === clock)
        clock.set(.disagrees(offsetSeconds: -3600, witnesses: ["england", "scotland"]))
        #expect(node.node.engine.clock.holdReason?.contains("3600 s behind its witnesses'") == true)
        #expect(node.node.admission.clock.holdReason != nil && node.node.purger.clock.holdReason != nil)
        // The collector judges it again from what its witnesses said in this run: none yet.
        node.node.collector.judgeClock()
        #expect(clock.current == .unknown(fresh: 0))
    }

    /// `/metrics` says whether the clock disagrees and by how much (the offset only while there
    /// is a verdict), for the alert rule.
    @Test func metricsShowTheVerdict() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let clock = node.node.collector.clock
        try await node.test(CertificateHeaderContext.self) { client, _ in
            func metrics() async throws -> String {
                var headers = HTTPFields()
                headers[.authorization] = "Bearer token-reader"
                return try await client.execute(uri: "/metrics", method: .get, headers: headers) { String(buffer: $0.body) }
            }
            clock.set(.disagrees(offsetSeconds: 86_400, witnesses: ["england", "scotland"]))
            let suspect = try await metrics()
            #expect(suspect.contains("\nquartet_clock_disagrees 1.0\n"), "\(suspect)")
            #expect(suspect.contains("\nquartet_clock_offset_seconds 86400"), "\(suspect)")
            clock.set(.agrees(offsetSeconds: 0.5, witnesses: 3))
            let agrees = try await metrics()
            #expect(agrees.contains("\nquartet_clock_disagrees 0.0\n") && agrees.contains("\nquartet_clock_offset_seconds 0.5"), "\(agrees)")
            clock.set(.unknown(fresh: 1))
            let unknown = try await metrics()
            #expect(unknown.contains("\nquartet_clock_disagrees 0.0\n") && !unknown.contains("\nquartet_clock_offset_seconds "), "\(unknown)")
        }
    }

    /// A host clock set before 1970 reads as 0, not a trap on every request.
    @Test func aClockBefore1970ReadsAsZero() {
        #expect(wallClockMillis(at: Date(timeIntervalSince1970: -1)) == 0)
        #expect(wallClockMillis(at: Date(timeIntervalSince1970: 1.5)) == 1500)
        #expect(wallClockMillis(at: .distantFuture) > 0)
    }
}
