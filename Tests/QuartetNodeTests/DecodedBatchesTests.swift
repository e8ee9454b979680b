import QuartetLedger
@testable import QuartetNode
import QuartetReplication
import QuartetStore
import Testing

/// Batches decoded ahead on the event loop: found only for the same entries, and bounded.
@Suite struct DecodedBatchesTests {
    static func batch(_ log: String, from: UInt64, count: Int, author: String = "") throws -> Batch {
        let entries = try (0..<count).map { i in
            try Entry(log: log, index: from + UInt64(i), timeMillis: 1, type: "t", classification: "public", author: author,
                      payload: Array("{\"i\":\(i)}".utf8), salt: [UInt8](repeating: UInt8(i % 256), count: 32))
        }
        return Batch(log: log, from: from, note: "note\n", entries: entries.map(WireEntry.init))
    }

    @Test func aBatchIsFoundOnlyWithTheSameEntriesAndOnlyOnce() throws {
        var decoded = DecodedBatches()
        let batch = try Self.batch("wales", from: 0, count: 64)
        decoded.add(batch, Result { () throws(StoreError) in try ReplicationEngine.entries(of: batch) })
        // Same log and span, other entries (another author): not the batch decoded.
        let other = decoded.take(try Self.batch("wales", from: 0, count: 64, author: "someone else"))
        #expect(other == nil)
        let taken = decoded.take(batch)
        let entries = try #require(try taken?.get())
        #expect(entries.map(\.headerBytes) == batch.entries.map(\.headerBytes))
        #expect(entries.map(\.header.index) == Array(0..<64))
        let again = decoded.take(batch)
        #expect(again == nil)
    }

    @Test func aBatchThatDoesNotDecodeFailsAsItWouldHave() throws {
        var batch = try Self.batch("wales", from: 0, count: 64)
        batch.entries[5].headerBytes[0] = 99  // an unknown header format version
        var decoded = DecodedBatches()
        decoded.add(batch, Result { () throws(StoreError) in try ReplicationEngine.entries(of: batch) })
        let taken = decoded.take(batch)
        let result = try #require(taken)
        #expect(throws: StoreError.self) { try result.get() }
    }

    @Test func atMostCapacityBatchesAreHeldOldestDroppedFirst() throws {
        var decoded = DecodedBatches()
        let batches = try (0..<(DecodedBatches.capacity + 2)).map { try Self.batch("wales", from: UInt64($0 * 64), count: 64) }
        for batch in batches { decoded.add(batch, .success([])) }
        let dropped = [decoded.take(batches[0]), decoded.take(batches[1])]
        #expect(dropped.allSatisfy { $0 == nil })
        for batch in batches.dropFirst(2) {
            let taken = decoded.take(batch)
            #expect(taken != nil)
        }
        #expect(!DecodedBatches.worthDecodingAhead(try Self.batch("wales", from: 0, count: DecodedBatches.minimumEntries - 1)))
        #expect(DecodedBatches.worthDecodingAhead(batches[0]))
        // A batch over what a member serves in one (8 MiB) is decoded where it is stored, not
        // held ahead: eight of them held were half a gibibyte a peer could pin.
        var large = try Self.batch("wales", from: 0, count: 64)
        for i in large.entries.indices {
            large.entries[i].payload = try EntryPayload(salt: [UInt8](repeating: 1, count: 32), bytes: [UInt8](repeating: 0x20, count: 140 << 10))
        }
        #expect(!DecodedBatches.worthDecodingAhead(large))
    }
}
