import QuartetLedger
@testable import QuartetReplication
import Testing

@Suite struct CommitCoalescerTests {
    static func batch(_ log: String, from: UInt64, count: Int, payloadBytes: Int = 10) -> Batch {
        let entries = (0 ..< count).map { i in
            WireEntry(headerBytes: [UInt8(truncatingIfNeeded: Int(from) + i)],
                      payload: try! EntryPayload(salt: [UInt8](repeating: 1, count: EntryPayload.saltLength), bytes: [UInt8](repeating: 2, count: payloadBytes)))
        }
        return Batch(log: log, from: from, note: "note \(from + UInt64(count))", entries: entries)
    }

    static func checkpoint(_ size: UInt64) -> Checkpoint {
        Checkpoint(origin: "example.org/wales", size: size, root: .emptyTree, timeMillis: size)
    }

    @Test func commitsThatWaitTogetherLeaveAsOneBatchWithTheNewestCheckpoint() {
        var coalescer = CommitCoalescer()
        let first = coalescer.add(Self.batch("wales", from: 0, count: 3), checkpoint: Self.checkpoint(3))
        let second = coalescer.add(Self.batch("wales", from: 3, count: 2), checkpoint: Self.checkpoint(5))
        let third = coalescer.add(Self.batch("wales", from: 5, count: 1), checkpoint: Self.checkpoint(6))
        #expect(first && !second && !third)
        let commits = coalescer.drain()
        #expect(commits.count == 1)
        #expect(commits[0].batch.from == 0 && commits[0].batch.end == 6)
        #expect(commits[0].batch.entries == Self.batch("wales", from: 0, count: 3).entries + Self.batch("wales", from: 3, count: 2).entries
                + Self.batch("wales", from: 5, count: 1).entries)
        #expect(commits[0].batch.note == "note 6")
        #expect(commits[0].checkpoint == Self.checkpoint(6))
        #expect(commits[0].checkpoints.map(\.size) == [3, 5, 6])
        #expect(coalescer.isEmpty)
        // Drained: the next commit schedules a drain again and leaves alone.
        let again = coalescer.add(Self.batch("wales", from: 6, count: 1), checkpoint: Self.checkpoint(7))
        let alone = coalescer.drain()
        #expect(again && alone.map(\.batch.from) == [6])
    }

    @Test func aGapAnotherLogOrTheWireLimitsStartANewBatch() {
        var coalescer = CommitCoalescer(maxEntries: 4, maxBytes: 10_000)
        _ = coalescer.add(Self.batch("wales", from: 0, count: 3), checkpoint: Self.checkpoint(3))
        _ = coalescer.add(Self.batch("wales", from: 3, count: 2), checkpoint: Self.checkpoint(5))  // 5 > maxEntries
        _ = coalescer.add(Self.batch("uk", from: 5, count: 1), checkpoint: Self.checkpoint(6))  // another log
        _ = coalescer.add(Self.batch("uk", from: 9, count: 1), checkpoint: Self.checkpoint(10))  // not consecutive
        let drained = coalescer.drain()
        #expect(drained.map { [$0.batch.log, "\($0.batch.from)-\($0.batch.end)"] } == [["wales", "0-3"], ["wales", "3-5"], ["uk", "5-6"], ["uk", "9-10"]])

        var small = CommitCoalescer(maxEntries: 100, maxBytes: 300)
        _ = small.add(Self.batch("wales", from: 0, count: 1, payloadBytes: 100), checkpoint: Self.checkpoint(1))
        _ = small.add(Self.batch("wales", from: 1, count: 1, payloadBytes: 100), checkpoint: Self.checkpoint(2))
        _ = small.add(Self.batch("wales", from: 2, count: 1, payloadBytes: 100), checkpoint: Self.checkpoint(3))
        let split = small.drain()
        #expect(split.map(\.batch.entries.count) == [2, 1])
    }
}
