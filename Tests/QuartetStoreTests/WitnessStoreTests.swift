import Foundation
import GRDB
import QuartetCrypto
import QuartetLedger
@testable import QuartetStore
import QuartetTestKit
import Synchronization
import Testing

/// The witness state on disk: what a witness last cosigned per origin reaches `decide` whether it
/// was stored by this open or an earlier one (it is kept in memory after the first read), an
/// accepted checkpoint is in the file when `witness` returns, and a refused conflicting
/// checkpoint is kept as evidence without moving what was cosigned.
@Suite struct WitnessStoreTests {
    let origin = "quartet.test/wales"

    func signed(size: UInt64, root: Hash, key: Ed25519PrivateKey) throws -> (Checkpoint, SignedNote) {
        let checkpoint = Checkpoint(origin: origin, size: size, root: root)
        return (checkpoint, try NoteSigner(name: origin, key: key).sign(checkpoint))
    }

    /// The sizes stored in the file, read through a connection of its own.
    func stored(_ directory: DataDirectory) throws -> (latest: [Int64], evidence: Int) {
        let queue = try DatabaseQueue(path: WitnessStore.databasePath(directory))
        return try queue.read { db in
            (try Int64.fetchAll(db, sql: "SELECT size FROM latest WHERE origin = ?", arguments: [origin]),
             try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM evidence") ?? 0)
        }
    }

    @Test func whatWasCosignedReachesDecideFromMemoryAndFromTheFileAndIsDurable() throws {
        let url = try TestKit.temporaryDirectory("witness")
        defer { try? FileManager.default.removeItem(at: url) }
        let directory = DataDirectory(path: url.path)
        let key = try Ed25519PrivateKey()
        let (three, threeNote) = try signed(size: 3, root: Hash.leaf([1]), key: key)
        let (five, fiveNote) = try signed(size: 5, root: Hash.leaf([2]), key: key)
        let (otherFive, otherFiveNote) = try signed(size: 5, root: Hash.leaf([3]), key: key)
        var seen: [UInt64?] = []
        do {
            let store = try WitnessStore(directory)
            for (checkpoint, note) in [(three, threeNote), (five, fiveNote)] {
                let result = try store.witness(origin: origin, note: note, clock: { 1 }) { latest throws(Witnessing.Refusal) in
                    seen.append(latest?.size)
                    return checkpoint
                }
                #expect(try result.get().checkpoint == checkpoint)
                #expect(try stored(directory).latest == [Int64(checkpoint.size)])
            }
            // Another root at the size cosigned: refused, kept as evidence, the latest unchanged.
            let refused = try store.witness(origin: origin, note: otherFiveNote, clock: { 2 }) { latest throws(Witnessing.Refusal) in
                seen.append(latest?.size)
                throw Witnessing.Refusal(.conflict, "two roots", size: latest?.size, conflicting: otherFiveNote)
            }
            #expect(throws: Witnessing.Refusal.self) { try refused.get() }
            #expect(try stored(directory) == ([5], 1))
            #expect(otherFive.size == 5)
        }
        // A new open reads it from the file.
        let reopened = try WitnessStore(directory)
        _ = try reopened.witness(origin: origin, note: fiveNote, clock: { 3 }) { latest throws(Witnessing.Refusal) in
            seen.append(latest?.size)
            #expect(latest?.root == five.root && latest?.note == fiveNote)
            return five
        }
        #expect(seen == [nil, 3, 5, 5])
        #expect(try reopened.latest(origin)?.size == 5)
    }

    /// The spec's rollback race: two requests that both read the size the witness last
    /// cosigned (L) and ask it to grow to L+1 and L+2, decided at once on two threads. The
    /// read of what is stored, the decision and the store are one serialized section, so
    /// exactly one is cosigned and the other is answered 409 naming the winner's size; what
    /// the file holds never goes back.
    @Test func twoRequestsFromTheSameSizeDecidedAtOnceCosignOneAndRollNothingBack() throws {
        let url = try TestKit.temporaryDirectory("witness-race")
        defer { try? FileManager.default.removeItem(at: url) }
        let directory = DataDirectory(path: url.path)
        let store = try WitnessStore(directory)
        let key = try Ed25519PrivateKey()
        let verifier = try NoteSigner(name: origin, key: key).verifier
        let rounds = 40
        let leaves = (0..<(3 + 2 * rounds)).map { Hash.leaf([UInt8($0 & 0xFF), UInt8($0 >> 8)]) }
        func request(from old: UInt64, to size: UInt64) throws -> Witnessing.Request {
            let prefix = Array(leaves.prefix(Int(size)))
            let (_, note) = try signed(size: size, root: Merkle.root(ofLeaves: prefix), key: key)
            let proof = old == 0 ? [] : try Merkle.consistencyProof(from: old, to: size) { level, index in try Merkle.subtreeHash(of: prefix, level: level, index: index) }
            return Witnessing.Request(oldSize: old, proof: proof, note: note)
        }
        let origin = self.origin
        @Sendable func submit(_ request: Witnessing.Request) throws -> Result<WitnessStore.Accepted, Witnessing.Refusal> {
            let checkpoint = try Witnessing.verify(request, logs: [origin: [verifier]])
            return try store.witness(origin: origin, note: request.note, clock: { 1 }) { latest throws(Witnessing.Refusal) in
                try Witnessing.decide(request, checkpoint: checkpoint, latest: latest)
            }
        }
        _ = try submit(try request(from: 0, to: 3)).get()
        var held: UInt64 = 3
        for _ in 0..<rounds {
            let pair = [try request(from: held, to: held + 1), try request(from: held, to: held + 2)]
            let results = Mutex<[Int: Result<WitnessStore.Accepted, Witnessing.Refusal>]>([:])
            // Two threads of their own (not the dispatch pool, which may run both blocks on one
            // thread), released together.
            let start = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
            for (i, each) in pair.enumerated() {
                Thread {
                    start.wait()
                    let result = try? submit(each)
                    results.withLock { $0[i] = result }
                    done.signal()
                }.start()
            }
            start.signal(); start.signal()
            done.wait(); done.wait()
            let both = results.withLock { $0 }
            let won = both.compactMap { i, result in (try? result.get()).map { _ in i } }
            try #require(won.count == 1, "both or neither of two requests from size \(held) cosigned: \(both)")
            let winner = pair[won[0]].note
            let size = try Checkpoint(parsing: winner.text).size
            let loser = try #require(both[1 - won[0]])
            guard case .failure(let refusal) = loser else { Issue.record("the other request was not refused"); return }
            #expect(refusal.status == .conflict && refusal.size == size, "\(refusal)")
            #expect(try stored(directory).latest == [Int64(size)] && size > held)
            held = size
        }
    }

    /// A cosignature's time is read after the decision and does not go back for an origin: not
    /// behind the clock of a request decided earlier, nor behind what was stored before a
    /// restart (a clock stepped back), unless that is beyond the 10 minutes a collector takes.
    @Test func cosignatureTimesOfAnOriginNeverGoBack() throws {
        let url = try TestKit.temporaryDirectory("witness-times")
        defer { try? FileManager.default.removeItem(at: url) }
        let directory = DataDirectory(path: url.path)
        let key = try Ed25519PrivateKey()
        let (three, threeNote) = try signed(size: 3, root: Hash.leaf([1]), key: key)
        let (five, fiveNote) = try signed(size: 5, root: Hash.leaf([2]), key: key)
        do {
            let store = try WitnessStore(directory)
            var read = false
            let first = try store.witness(origin: origin, note: threeNote, clock: { read = true; return 5_000 }) { _ throws(Witnessing.Refusal) in
                #expect(!read, "the clock was read before the decision")
                return three
            }
            #expect(try first.get().timeMillis == 5_000)
            // The clock stepped back: the time stays.
            #expect(try store.witness(origin: origin, note: fiveNote, clock: { 4_000 }) { _ throws(Witnessing.Refusal) in five }.get().timeMillis == 5_000)
            #expect(try store.witness(origin: origin, note: fiveNote, clock: { 6_000 }) { _ throws(Witnessing.Refusal) in five }.get().timeMillis == 6_000)
        }
        // Reopened with the clock a little behind what was stored: the stored time (that of the
        // checkpoint stored; a re-cosignature of the same one is not written).
        do {
            let reopened = try WitnessStore(directory)
            #expect(try reopened.witness(origin: origin, note: fiveNote, clock: { 4_500 }) { _ throws(Witnessing.Refusal) in five }.get().timeMillis == 5_000)
        }
        // A time far ahead of the clock (one that ran hours fast) is not carried: the clock's.
        let (seven, sevenNote) = try signed(size: 7, root: Hash.leaf([4]), key: key)
        do {
            let fast = try WitnessStore(directory)
            #expect(try fast.witness(origin: origin, note: sevenNote, clock: { 10_000_000 }) { _ throws(Witnessing.Refusal) in seven }.get().timeMillis == 10_000_000)
        }
        let reopened = try WitnessStore(directory)
        #expect(try reopened.witness(origin: origin, note: sevenNote, clock: { 5_000 }) { _ throws(Witnessing.Refusal) in seven }.get().timeMillis == 5_000)
    }

    /// Every 1,000 cosignatures kept, the log just kept drops those 100,000 sizes or more below
    /// it; the newest and other logs' stay.
    /// A cosignatures file from before lines were kept with their note gains the column at
    /// start, its rows kept; a line kept with a note is served with it (`cosignatures(log:by:)`)
    /// and not over the copy's note (`cosignatures(log:size:)`).
    @Test func anOlderCosignaturesFileGainsTheNoteColumnAndLinesKeepTheirNote() throws {
        let url = try TestKit.temporaryDirectory("witness")
        defer { try? FileManager.default.removeItem(at: url) }
        let directory = DataDirectory(path: url.path)
        try FileManager.default.createDirectory(at: url.appendingPathComponent("witness"), withIntermediateDirectories: true)
        do {
            let old = try DatabaseQueue(path: url.appendingPathComponent("witness/cosignatures.sqlite").path)
            try old.write { db in
                try db.execute(sql: """
                    CREATE TABLE cosignatures (log TEXT NOT NULL, size INTEGER NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL,
                        time INTEGER NOT NULL, PRIMARY KEY (log, size, witness)) WITHOUT ROWID;
                    INSERT INTO cosignatures VALUES ('wales', 3, 'uk', 'old line', 1);
                    """)
            }
        }
        let store = try WitnessStore(directory)
        #expect(try store.cosignatures(log: "wales", size: 3)["uk"]?.line == "old line")
        try store.keepCosignature(log: "wales", size: 4, witness: "uk", line: "line over another note", time: 2, note: "the note\n")
        let byUK = try store.cosignatures(log: "wales", by: "uk")
        #expect(byUK.map(\.size) == [4, 3])
        #expect(byUK.first?.note == "the note\n" && byUK.last?.note == nil)
        #expect(try store.cosignatures(log: "wales", size: 4).isEmpty)
        // A witness's newer line for a size replaces its older one; an older one read back later
        // (from its own record of what it cosigned) does not put the older time back.
        try store.keepCosignature(log: "wales", size: 3, witness: "uk", line: "newer line", time: 50)
        try store.keepCosignature(log: "wales", size: 3, witness: "uk", line: "old line", time: 1)
        #expect(try store.cosignatures(log: "wales", size: 3)["uk"]?.line == "newer line")
        // A line dated a day ahead (a clock that ran fast) keeps older lines out only while it is
        // within the skew of now: a day ahead, the next honest line replaces it.
        let now: UInt64 = 1_800_000_000
        try store.keepCosignature(log: "wales", size: 5, witness: "wales", line: "fast clock", time: now + 86_400, now: now)
        try store.keepCosignature(log: "wales", size: 5, witness: "wales", line: "clock put right", time: now, now: now)
        #expect(try store.cosignatures(log: "wales", by: "wales").first?.line == "clock put right")
        try store.keepCosignature(log: "wales", size: 5, witness: "wales", line: "within the skew", time: now + 300, now: now)
        try store.keepCosignature(log: "wales", size: 5, witness: "wales", line: "older", time: now, now: now)
        #expect(try store.cosignatures(log: "wales", by: "wales").first?.line == "within the skew")
        // Opened again: the column is there already.
        _ = try WitnessStore(directory)
    }

    /// Both witness stores cut their write-ahead logs back when they start over (finding 276).
    @Test func bothWitnessStoresLimitTheirWriteAheadLogs() throws {
        let url = try TestKit.temporaryDirectory("witness")
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try WitnessStore(DataDirectory(path: url.path))
        #expect(try store.walSizeLimits() == [67_108_864, 67_108_864])
    }

    @Test func keptCosignaturesArePrunedPerLogByRange() throws {
        let url = try TestKit.temporaryDirectory("witness")
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try WitnessStore(DataDirectory(path: url.path))
        try store.keepCosignature(log: "england", size: 3, witness: "uk", line: "england 3", time: 1)
        for size in 1...998 { try store.keepCosignature(log: "wales", size: UInt64(size), witness: "uk", line: "wales \(size)", time: 1) }
        try store.keepCosignature(log: "wales", size: 200_000, witness: "uk", line: "wales 200000", time: 1)
        #expect(try store.cosignatures(log: "wales", size: 5)["uk"]?.line == "wales 5", "999 of wales kept: not pruned yet")
        try store.keepCosignature(log: "wales", size: 200_001, witness: "uk", line: "wales 200001", time: 1)
        #expect(try store.cosignatures(log: "wales", size: 5).isEmpty)
        #expect(try store.cosignatures(log: "wales", size: 998).isEmpty)
        #expect(try store.cosignatures(log: "wales", size: 200_000)["uk"]?.line == "wales 200000")
        #expect(try store.cosignatures(log: "england", size: 3)["uk"]?.line == "england 3")
        // A quiet log is pruned by its own count, whichever log's line is the thousandth of all
        // (finding 276: a count shared by all logs pruned england here only by chance).
        for size in 4...1_001 { try store.keepCosignature(log: "england", size: UInt64(size), witness: "uk", line: "england \(size)", time: 1) }
        for size in 200_002...200_003 { try store.keepCosignature(log: "wales", size: UInt64(size), witness: "uk", line: "wales \(size)", time: 1) }
        #expect(try store.cosignatures(log: "england", size: 3)["uk"]?.line == "england 3", "999 of england kept")
        try store.keepCosignature(log: "england", size: 500_000, witness: "uk", line: "england 500000", time: 1)
        #expect(try store.cosignatures(log: "england", size: 3).isEmpty)
        #expect(try store.cosignatures(log: "england", size: 500_000)["uk"]?.line == "england 500000")
    }

    @Test func keptCosignaturesArePrunedToTheNewestSizesKeepingEachWitnessNewest() throws {
        let url = try TestKit.temporaryDirectory("witness")
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try WitnessStore(DataDirectory(path: url.path))
        // A log committing one entry at a time: far less than 100,000 sizes, but only the newest
        // 1,000 kept, and the witness that stopped at size 1 keeps its newest line.
        try store.keepCosignature(log: "england", size: 3, witness: "uk", line: "england 3", time: 1)
        try store.keepCosignature(log: "wales", size: 1, witness: "scotland", line: "scotland 1", time: 7)
        for size in 1...2_999 { try store.keepCosignature(log: "wales", size: UInt64(size), witness: "uk", line: "wales \(size)", time: 9) }
        #expect(try store.cosignatures(log: "wales", size: 1_999).isEmpty)
        #expect(try store.cosignatures(log: "wales", size: 2_000)["uk"]?.line == "wales 2000")
        #expect(try store.cosignatures(log: "wales", size: 1)["scotland"]?.line == "scotland 1")
        #expect(try store.cosignatures(log: "wales", size: 1)["uk"] == nil)
        let newest = try store.newestCosigned(log: "wales")
        #expect(newest.count == 2)
        #expect(newest["uk"]?.size == 2_999 && newest["uk"]?.time == 9)
        #expect(newest["scotland"]?.size == 1 && newest["scotland"]?.time == 7)
        #expect(try store.newestCosigned(log: "england").mapValues(\.size) == ["uk": 3])
        #expect(try store.newestCosigned(log: "scotland").isEmpty)
    }

}
