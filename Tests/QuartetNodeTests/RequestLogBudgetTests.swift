import Foundation
import Hummingbird
import Logging
import NIOCore
@testable import QuartetNode
import QuartetTLS
import Synchronization
import Testing

/// The API's request lines that anyone can cause — refusals (401, 403) and failures (5xx: an
/// anonymous `/readyz` while the node is not ready) — are each bounded per minute, and the
/// line after a gap says how many were not written.
@Suite struct RequestLogBudgetTests {
    @Test func failuresAndRefusalsAreEachBudgeted() async throws {
        let captured = Captured()
        let logger = Logger(label: "test") { _ in CollectingLogHandler(logLevel: .info) { text in captured.lines.withLock { $0.append(text) } } }
        let clock: @Sendable () -> ContinuousClock.Instant = { captured.now.withLock { $0 } }
        let router = Router(context: NodeRequestContext.self)
        router.add(middleware: RequestLogMiddleware<NodeRequestContext>(metrics: NodeMetrics(ownLog: "wales"), node: "wales",
                                                                        refusals: LogBudget(lines: 3, per: .seconds(60), clock: clock),
                                                                        failures: LogBudget(lines: 3, per: .seconds(60), clock: clock),
                                                                        faults: LogBudget(lines: 1, per: .seconds(60), clock: clock)))
        router.get("/unready") { _, _ -> String in throw HTTPError(.serviceUnavailable, message: "not ready") }
        router.get("/broken") { _, _ -> String in throw CancellationError() }
        router.get("/refused") { _, _ -> String in throw HTTPError(.forbidden, message: "no") }
        // The connection failing under the request (a reset while its body came; here, as in
        // the router test, no connection is open): the client's leaving, not a fault.
        router.get("/reset") { _, _ -> String in throw IOError(errnoCode: ECONNRESET, reason: "read(descriptor:pointer:size:)") }
        let client = RouterClient(router.buildResponder(), logger: logger)
        for _ in 0..<50 {
            try await client.execute(uri: "/unready", method: .get) { #expect($0.status == .serviceUnavailable) }
        }
        var written = captured.lines.withLock { $0 }
        #expect(written.count == 3, "\(written)")
        #expect(written.allSatisfy { $0.contains("status=503") })
        // Refusals have a budget of their own: failures spent theirs, refusals are still logged.
        try await client.execute(uri: "/refused", method: .get) { #expect($0.status == .forbidden) }
        written = captured.lines.withLock { $0 }
        #expect(written.count == 4 && written.last?.contains("status=403") == true, "\(written)")
        // An internal error is one line, its cause in the log only, within a budget of its own:
        // the 503s anyone can ask for do not keep it out.
        try await client.execute(uri: "/broken", method: .get) { answer in
            #expect(answer.status == .internalServerError)
            #expect(!String(buffer: answer.body).contains("CancellationError"))
        }
        written = captured.lines.withLock { $0 }
        #expect(written.count == 5 && written.last?.contains("CancellationError") == true, "\(written)")
        try await client.execute(uri: "/broken", method: .get)
        #expect(captured.lines.withLock { $0.count } == 5, "the fault budget (1 here) is spent")
        // Resets are not faults (anyone could spend the fault lines with them): 499, at debug.
        captured.now.withLock { $0 += .seconds(61) }
        for _ in 0..<3 { try await client.execute(uri: "/reset", method: .get) { #expect($0.status.code == 499) } }
        #expect(captured.lines.withLock { $0.count } == 5, "a reset was logged as a fault")
        captured.now.withLock { $0 -= .seconds(61) }
        // A minute on, the next of each is written, with the count of those that were not.
        captured.now.withLock { $0 += .seconds(61) }
        try await client.execute(uri: "/broken", method: .get)
        try await client.execute(uri: "/unready", method: .get)
        written = captured.lines.withLock { $0 }
        #expect(written.count == 7, "\(written)")
        #expect(written[5].contains("faults_not_logged=1") && written[5].contains("CancellationError"), "\(written[5])")
        #expect(written[6].contains("failures_not_logged=47") && written[6].contains("status=503"), "\(written[6])")
    }
}

private final class Captured: Sendable {
    let lines = Mutex<[String]>([])
    let now = Mutex(ContinuousClock.now)
}


/// Lines a request would repeat are said once per key, and at most `capacity` keys are kept.
@Suite struct OnceLinesTests {
    @Test func eachKeyOnceAndNoMoreKeysThanTheCapacity() {
        let once = OnceLines(capacity: 3)
        #expect(once.first("wales\u{0}7"))
        #expect(!once.first("wales\u{0}7"), "the second page's request says nothing again")
        #expect(once.first("england\u{0}2") && once.first("scotland\u{0}1"))
        #expect(!once.first("northern-ireland\u{0}4"), "beyond the capacity, nothing more is said")
        #expect(!once.first("wales\u{0}7"))
    }
}
