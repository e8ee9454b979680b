import Foundation
import HTTPTypes
import Hummingbird
import QuartetLedger
@testable import QuartetNode
import QuartetPolicy
import QuartetReplication
import QuartetStore
import Synchronization
import Testing

/// One verdict on the node's clock (finding 289), judged at every read from the witnesses'
/// signed times, read by every part that judges agreements by the time, and shown to the
/// operator.
@Suite struct ClockWatchTests {
    /// A wall clock and a monotonic clock a test moves.
    final class Clocks: Sendable {
        let wall = Mutex<UInt64>(1_780_000_000_000)
        let start = ContinuousClock.now
        let elapsed = Mutex<Duration>(.zero)
        func watch() -> ClockWatch {
            ClockWatch(wall: { self.wall.withLock { $0 } }, monotonic: { self.start + self.elapsed.withLock { $0 } })
        }
        var now: ContinuousClock.Instant { start + elapsed.withLock { $0 } }
        func reading(offset: Int64) -> ClockWatch.Reading {
            // A witness whose clock read `wall − offset` when its answer arrived, now.
            ClockWatch.Reading(signedSeconds: UInt64(Int64(wall.withLock { $0 } / 1000) - offset), arrived: now)
        }
    }

    /// A step of the wall clock is seen by the first read after it, with no new answer (judged
    /// on a schedule, a purge or a send could act on the stepped clock first).
    @Test func aStepOfTheWallClockIsSeenAtTheNextRead() {
        let clocks = Clocks()
        let watch = clocks.watch()
        watch.update(readings: ["england": clocks.reading(offset: 0), "scotland": clocks.reading(offset: 1), "uk": clocks.reading(offset: 0)])
        #expect(watch.holdReason == nil)
        clocks.elapsed.withLock { $0 += .seconds(5) }
        clocks.wall.withLock { $0 += 5000 }
        #expect(watch.holdReason == nil, "time passing on both clocks alike")
        clocks.wall.withLock { $0 -= 86_400_000 }
        #expect(watch.holdReason?.contains("s behind its witnesses'") == true, "set back a day")
        clocks.wall.withLock { $0 += 2 * 86_400_000 }
        #expect(watch.holdReason?.contains("s ahead of its witnesses'") == true, "a day fast")
    }

    /// A verdict that disagrees holds until the witnesses are heard to agree: answers that stop
    /// coming (a partition) do not end it; fresh ones that agree do.
    @Test func aHoldEndsOnlyWhenTheWitnessesAgree() {
        let clocks = Clocks()
        let watch = clocks.watch()
        watch.update(readings: ["england": clocks.reading(offset: 3600), "scotland": clocks.reading(offset: 3600)])
        #expect(watch.current.suspect)
        clocks.elapsed.withLock { $0 += .seconds(Int64(ClockCheck.freshSeconds) + 60) }
        clocks.wall.withLock { $0 += (UInt64(ClockCheck.freshSeconds) + 60) * 1000 }
        #expect(watch.current.suspect, "no fresh answer: still held")
        watch.update(readings: ["england": clocks.reading(offset: 0), "scotland": clocks.reading(offset: 0)])
        #expect(watch.current == .agrees(offsetSeconds: 0, witnesses: 2))
        // Without a verdict ever (no witness answered), nothing is held.
        #expect(Clocks().watch().current == .unknown(fresh: 0))
    }

    /// Egress, ingress, the restricted-append guard and the purges read the verdict the witness
    /// collector keeps: one object, not copies that could disagree.
    @Test func everyPartThatJudgesByTheClockReadsOneVerdict() throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let clock = node.node.collector.clock
        #expect(node.node.engine.clock === clock)
        #expect(node.node.admission.clock === clock)
        #expect(node.node.purger.clock === clock)
        clock.fix(.disagrees(offsetSeconds: -3600, witnesses: ["england", "scotland"]))
        #expect(node.node.engine.clock.holdReason?.contains("3600 s behind its witnesses'") == true)
        clock.fix(nil)
        // The collector gives it what its witnesses said in this run: none yet.
        node.node.collector.judgeClock()
        #expect(clock.current == .unknown(fresh: 0))
    }

    /// While held, no batch holding a restricted entry leaves — neither its payloads nor stubs
    /// in their place, which a recipient keeps for good — and no agreement is judged ended.
    @Test func whileHeldNoRestrictedEntryLeavesAndNoPurgeRuns() throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let engine = node.node.engine
        let salt = [UInt8](repeating: 7, count: EntryPayload.saltLength)
        let restricted = try Entry(log: "wales", index: 2, timeMillis: 1_780_000_000_000, type: "dataset.rows", classification: "heiw.workforce.headcount",
                                   author: "wales", payload: Array(#"{"rows":[]}"#.utf8), salt: salt)
        let open = try Entry(log: "wales", index: 3, timeMillis: 1_780_000_000_000, type: "test.note", classification: EntryHeader.publicClassification,
                             author: "wales", payload: Array("{}".utf8), salt: salt)
        let mixed = Batch(log: "wales", from: 2, note: "", entries: [WireEntry(restricted), WireEntry(open)])
        let publicOnly = Batch(log: "wales", from: 3, note: "", entries: [WireEntry(open)])
        func egress(_ batch: Batch) -> Batch? { engine.queue.sync { engine.egress(batch, to: "england")?.batch } }
        let sent = try #require(egress(mixed), "not held: the batch goes (the row as a stub: no agreement)")
        #expect(sent.entries[0].payload == nil && sent.entries[1].payload != nil)
        #expect(node.node.purger.checkEnded())
        node.node.collector.clock.fix(.disagrees(offsetSeconds: 86_400, witnesses: ["england", "uk"]))
        #expect(egress(mixed) == nil, "held: not even as stubs")
        #expect(egress(publicOnly) == publicOnly, "public data flows")
        #expect(!node.node.purger.checkEnded(), "no agreement is judged ended by the clock")
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
            clock.fix(.disagrees(offsetSeconds: 86_400, witnesses: ["england", "scotland"]))
            let suspect = try await metrics()
            #expect(suspect.contains("\nquartet_clock_disagrees 1.0\n"), "\(suspect)")
            #expect(suspect.contains("\nquartet_clock_offset_seconds 86400"), "\(suspect)")
            clock.fix(.agrees(offsetSeconds: 0.5, witnesses: 3))
            let agrees = try await metrics()
            #expect(agrees.contains("\nquartet_clock_disagrees 0.0\n") && agrees.contains("\nquartet_clock_offset_seconds 0.5"), "\(agrees)")
            clock.fix(.unknown(fresh: 1))
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
