import Foundation
@testable import QuartetNode
import Testing

/// When `quartet recover` may finish: the own log whole; other members' logs may be left short
/// of a checkpoint their writer signed (a writer may sign what it never sends), after a wait.
@Suite struct RecoveryStatusTests {
    static func status(own: (UInt64, UInt64), other: (UInt64, UInt64), synced: Bool = true) -> RecoveryStatus {
        RecoveryStatus(ownSynced: synced, heard: 2, connected: ["uk", "england"], backfilling: false, filledFrom: [:],
                       logs: [.init(name: "wales", own: true, held: own.0, seen: own.1, from: [:]),
                              .init(name: "england", own: false, held: other.0, seen: other.1, from: [:])])
    }

    @Test func theOwnLogMustBeWholeAndOthersMayBeShort() {
        let lied = Self.status(own: (1836, 1836), other: (378, 1_000_000_000_000))
        #expect(!lied.complete)
        #expect(lied.ownComplete, "a recovery whose own log is whole may finish")
        #expect(lied.short.map(\.name) == ["england"])
        #expect(!Self.status(own: (100, 1836), other: (378, 378)).ownComplete, "the own log short: not finished")
        #expect(!Self.status(own: (1836, 1836), other: (378, 378), synced: false).ownComplete)
        #expect(Self.status(own: (1836, 1836), other: (378, 378)).complete)
    }

    /// A moment `ms` milliseconds after `start`.
    static let start = ContinuousClock.now
    static func at(_ ms: Int) -> ContinuousClock.Instant { start + .milliseconds(ms) }

    /// The own log whole while a member trickles a batch of its own log every poll: the recovery
    /// ends `limit` after the own log became whole, not when the trickle stops (it never does).
    @Test func aTrickleOfAnotherLogDoesNotKeepARecoveryRunning() {
        var watch = RecoveryWatch(limit: .seconds(60), now: Self.at(0))
        var decisions: [(Int, RecoveryWatch.Decision)] = []
        for poll in 0...1300 {
            let ms = poll * 100
            // From 5 s on the own log is whole; england's log grows by one entry per poll and
            // its writer's checkpoint always runs one ahead.
            let own: (UInt64, UInt64) = ms < 5_000 ? (UInt64(ms / 10), 500) : (500, 500)
            let held = UInt64(378 + poll)
            let decision = watch.next(Self.status(own: own, other: (held, held + 1)), now: Self.at(ms))
            decisions.append((ms, decision))
            if decision != .wait { break }
        }
        #expect(decisions.last?.1 == .finished)
        // 60 s after the own log became whole at 5 s, to the poll.
        #expect(decisions.last.map { (65_000...65_100).contains($0.0) } == true, "\(decisions.last.map { "\($0.0) ms" } ?? "none")")
    }

    /// Other logs short and nothing moving: a whole own log finishes after the wait; a short one
    /// fails, saying what was missing.
    @Test func nothingMovingForTheWaitFinishesOrFailsByTheOwnLog() {
        var whole = RecoveryWatch(limit: .seconds(10), now: Self.at(0))
        var short = RecoveryWatch(limit: .seconds(10), now: Self.at(0))
        let wholeStatus = Self.status(own: (500, 500), other: (378, 1_000_000))
        let shortStatus = Self.status(own: (100, 500), other: (378, 378))
        for ms in stride(from: 0, through: 10_000, by: 100) {
            #expect(whole.next(wholeStatus, now: Self.at(ms)) == .wait)
            #expect(short.next(shortStatus, now: Self.at(ms)) == .wait)
        }
        #expect(whole.next(wholeStatus, now: Self.at(10_100)) == .finished)
        #expect(short.next(shortStatus, now: Self.at(10_100)) == .failed("no progress for 10 s (holds 478 entries; wales 100 of 500)"))
        // The own log whole only from 5 s on (its stubs' payloads asked for by then), nothing else
        // moving: finished when nothing has moved for the wait, not 10 s after it became whole.
        var late = RecoveryWatch(limit: .seconds(10), now: Self.at(0))
        var asking = wholeStatus
        asking.backfilling = true
        for ms in stride(from: 0, to: 5_000, by: 100) { #expect(late.next(asking, now: Self.at(ms)) == .wait) }
        for ms in stride(from: 5_000, through: 10_000, by: 100) { #expect(late.next(wholeStatus, now: Self.at(ms)) == .wait) }
        #expect(late.next(wholeStatus, now: Self.at(10_100)) == .finished)
    }

    /// The own log stuck short while another member's log grows at every poll: the other log's
    /// progress does not keep the recovery running; it fails after the wait, naming the own log.
    @Test func anotherLogGrowingDoesNotKeepAStuckRecoveryRunning() {
        var watch = RecoveryWatch(limit: .seconds(10), now: Self.at(0))
        var last: (Int, RecoveryWatch.Decision) = (0, .wait)
        for poll in 0...200 {
            let held = UInt64(378 + poll)
            last = (poll * 100, watch.next(Self.status(own: (100, 500), other: (held, held)), now: Self.at(poll * 100)))
            if last.1 != .wait { break }
        }
        #expect(last.0 == 10_100)
        if case .failed(let reason) = last.1 { #expect(reason.contains("wales 100 of 500"), "\(reason)") } else { Issue.record("\(last.1)") }
    }

    /// A recovery's marker is found whatever is at its name: a dangling link there (a copied or
    /// tampered directory) must not pass for a finished recovery.
    @Test func aMarkerThatIsADanglingLinkStillMarksTheDirectoryUnfinished() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("recovering-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(!Recovery.isUnfinished(directory.path))
        #expect(symlink(directory.appendingPathComponent("nowhere").path, directory.appendingPathComponent(Recovery.markerName).path) == 0)
        #expect(Recovery.isUnfinished(directory.path))
    }

    /// Progress on a short own log keeps the recovery waiting however long it takes; the own log
    /// coming short again (a larger checkpoint of it seen) restarts the clock of the rest.
    @Test func progressOnTheOwnLogKeepsItWaiting() {
        var watch = RecoveryWatch(limit: .seconds(10), now: Self.at(0))
        for poll in 0..<3_000 {
            let decision = watch.next(Self.status(own: (UInt64(poll), 1_000_000), other: (378, 378)), now: Self.at(poll * 100))
            #expect(decision == .wait)
            if decision != .wait { break }
        }
        var again = RecoveryWatch(limit: .seconds(10), now: Self.at(0))
        #expect(again.next(Self.status(own: (500, 500), other: (378, 400)), now: Self.at(0)) == .wait)
        #expect(again.next(Self.status(own: (500, 600), other: (379, 400)), now: Self.at(9_000)) == .wait)
        #expect(again.next(Self.status(own: (600, 600), other: (380, 400)), now: Self.at(10_500)) == .wait, "the own log whole again only since 10.5 s")
        #expect(again.next(Self.status(own: (600, 600), other: (381, 400)), now: Self.at(20_400)) == .wait)
        #expect(again.next(Self.status(own: (600, 600), other: (382, 400)), now: Self.at(20_600)) == .finished)
        // Everything here: finished at once.
        var done = RecoveryWatch(limit: .seconds(10), now: Self.at(0))
        #expect(done.next(Self.status(own: (600, 600), other: (400, 400)), now: Self.at(0)) == .finished)
    }

    /// Nobody answering fails with the reason a person can act on.
    @Test func noPeerAnsweringFailsSayingSo() {
        var watch = RecoveryWatch(limit: .seconds(5), now: Self.at(0))
        let silent = RecoveryStatus(ownSynced: false, heard: 0, connected: [], backfilling: false, filledFrom: [:],
                                    logs: [.init(name: "wales", own: true, held: 0, seen: 0, from: [:])])
        #expect(watch.next(silent, now: Self.at(0)) == .wait)
        #expect(watch.next(silent, now: Self.at(5_000)) == .wait)
        #expect(watch.next(silent, now: Self.at(5_001)) == .failed("no peer answered within 5 s (connected: none)"))
    }
}
