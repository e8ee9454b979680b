import Foundation
import Logging
@testable import QuartetNode
import QuartetLedger
import QuartetPolicy
import QuartetStore
import QuartetTestKit
import Testing

/// The recorder's journal (`<data>/pending-records`) as `Codable` lines: written as the
/// dictionary code wrote them, and a journal left by that code recorded at the next start.
@Suite struct OwnLogJournalTests {
    /// A line as the recorder wrote it before `JournalLine`: a dictionary through JSONSerialization.
    static func oldLine(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]), as: UTF8.self)
    }

    static var oldDisclosure: [String: Any] {
        ["kind": "disclosure", "recipient": "england", "log": "wales", "agreement": "HEIW-1", "access": "full",
         "from": 3, "to": 9, "count": 4, "time": 1_700_000_000_000]
    }
    static var oldPurge: [String: Any] {
        ["log": "uk", "entries": [4, 7], "agreement": "PHS-2", "reason": "revoked", "time": "2026-11-30T10:00:00Z"]
    }

    @Test func linesAndRecordsAreTheBytesTheOldCodeWrote() throws {
        let disclosure = JournalLine.disclosure(.init(recipient: "england", log: "wales", agreement: "HEIW-1", access: .full,
                                                      from: 3, to: 9, count: 4, time: 1_700_000_000_000))
        #expect(disclosure.text == (try Self.oldLine(Self.oldDisclosure)))
        let purge = PurgeRecord(agreement: "PHS-2", entries: [4, 7], log: "uk", reason: "revoked", time: "2026-11-30T10:00:00Z")
        #expect(JournalLine.purge(purge).text == (try Self.oldLine(["kind": "purge", "payload": Self.oldPurge])))
        #expect(JournalLine.encode(purge) == Array((try Self.oldLine(Self.oldPurge)).utf8))
        let record = DisclosureRecord(log: "wales", ranges: [[3, 9], [12, 12]], count: 5, recipient: "england", agreement: "HEIW-1",
                                      access: "full", time: "2026-11-30T10:00:00Z")
        let old: [String: Any] = ["log": "wales", "ranges": [[3, 9], [12, 12]], "count": 5, "recipient": "england", "agreement": "HEIW-1",
                                  "access": "full", "time": "2026-11-30T10:00:00Z"]
        #expect(JournalLine.encode(record) == Array((try Self.oldLine(old)).utf8))
        // Both read back; a disclosure whose span runs backwards or names no known access does not.
        for line in [disclosure, .purge(purge)] {
            #expect(try JSONDecoder().decode(JournalLine.self, from: Data(line.text.utf8)) == line)
        }
        var backwards = Self.oldDisclosure
        backwards["from"] = 10
        var unknown = Self.oldDisclosure
        unknown["access"] = "everything"
        for object in [backwards, unknown] {
            #expect(throws: DecodingError.self) { _ = try JSONDecoder().decode(JournalLine.self, from: Data((try Self.oldLine(object)).utf8)) }
        }
    }

    @Test func aJournalLeftByTheOldCodeIsRecordedInTheOwnLogAtStart() async throws {
        let dir = try TestKit.temporaryDirectory("journal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try TestKit.makeStore(log: "wales", at: dir.appendingPathComponent("data"))
        let writer = try LogWriter(store: store, log: "wales")
        let journal = dir.appendingPathComponent("pending-records")
        // Two whole lines and a torn last one (the node was killed while writing it).
        let lines = [try Self.oldLine(Self.oldDisclosure), try Self.oldLine(["kind": "purge", "payload": Self.oldPurge]), #"{"access":"fu"#]
        try Data(lines.joined(separator: "\n").utf8).write(to: journal)
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        let recorder = OwnLogRecorder(journal: journal, ownLog: "wales", logger: quiet)
        recorder.writer.withLockedValue { $0 = writer }
        await recorder.recover(known: Policy(owners: [:]), held: { _, _ in [] })

        let entries = try store.entries(store.log(named: "wales"), from: 0, limit: 10)
        #expect(entries.map(\.header.type) == [PolicyEntryType.disclosed.rawValue, PolicyEntryType.purged.rawValue])
        let disclosure = try JSONDecoder().decode(DisclosureRecord.self, from: Data(try #require(entries.first?.payload).bytes))
        #expect(disclosure == DisclosureRecord(log: "wales", ranges: [[3, 9]], count: 4, recipient: "england", agreement: "HEIW-1",
                                               access: "full", time: iso8601(1_700_000_000_000)))
        // The purge's bytes as journalled, padded with spaces to 4 KiB (as every record).
        let purge = try #require(entries.last?.payload).bytes
        let journalled = Array(try Self.oldLine(Self.oldPurge).utf8)
        #expect(purge.count % 4096 == 0 && Array(purge.prefix(journalled.count)) == journalled && purge.dropFirst(journalled.count).allSatisfy { $0 == 0x20 })
        // Recorded, so the journal is gone.
        #expect(!FileManager.default.fileExists(atPath: journal.path))
        try store.close()
    }

    /// A span asked for again, or one entry longer each time, is recorded only for the indices
    /// not recorded before (finding 85): the parts of a span no recorded range covers.
    @Test func onlyIndicesNotRecordedBeforeAreRecorded() {
        func uncovered(_ span: ClosedRange<UInt64>, _ ranges: [ClosedRange<UInt64>]) -> [ClosedRange<UInt64>] { OwnLogRecorder.uncovered(span, by: ranges) }
        #expect(uncovered(3...9, []) == [3...9])
        #expect(uncovered(3...9, [3...9]).isEmpty)
        #expect(uncovered(3...10, [3...9]) == [10...10], "one entry longer: the one new index")
        #expect(uncovered(0...20, [3...9, 12...12]) == [0...2, 10...11, 13...20])
        #expect(uncovered(5...6, [0...2, 10...12]) == [5...6])
        #expect(uncovered(10...12, [0...10]) == [11...12])
        #expect(uncovered(0...0, [1...5]) == [0...0])
        #expect(uncovered(UInt64.max...UInt64.max, [0...(UInt64.max - 1)]) == [UInt64.max...UInt64.max])
        #expect(uncovered(0...UInt64.max, [0...UInt64.max]).isEmpty)
        // Asked one longer, over and over: each record holds one index, never the whole span again.
        var recorded: [ClosedRange<UInt64>] = []
        var records: [[ClosedRange<UInt64>]] = []
        for end in UInt64(5)...9 {
            let new = uncovered(0...end, recorded)
            records.append(new)
            for range in new { OwnLogRecorder.insert(range, into: &recorded) }
        }
        #expect(records == [[0...5], [6...6], [7...7], [8...8], [9...9]])
        #expect(recorded == [0...9])
    }

    /// Ranges kept sorted and merged in place, by binary search: what a log of alternating
    /// restricted and public entries needs (one range per entry) without quadratic work.
    @Test func rangesAreInsertedInPlaceSortedAndMerged() {
        var ranges: [ClosedRange<UInt64>] = []
        for i in stride(from: UInt64(0), to: 200_000, by: 2) { OwnLogRecorder.insert(i...i, into: &ranges) }
        #expect(ranges.count == 100_000 && ranges.first == 0...0 && ranges.last == 199_998...199_998)
        // Filling a gap joins its neighbours; an overlap spanning several merges them all.
        OwnLogRecorder.insert(1...1, into: &ranges)
        #expect(ranges.prefix(2) == [0...2, 4...4])
        OwnLogRecorder.insert(5...11, into: &ranges)
        #expect(ranges.prefix(3) == [0...2, 4...12, 14...14])
        var small: [ClosedRange<UInt64>] = [3...5, 9...9]
        OwnLogRecorder.insert(0...1, into: &small)
        #expect(small == [0...1, 3...5, 9...9])
        OwnLogRecorder.insert(2...2, into: &small)
        #expect(small == [0...5, 9...9])
        OwnLogRecorder.insert(7...UInt64.max, into: &small)
        #expect(small == [0...5, 7...UInt64.max])
        OwnLogRecorder.insert(6...6, into: &small)
        #expect(small == [0...UInt64.max])
        // The uncovered parts of a span come from a binary search too.
        #expect(OwnLogRecorder.uncovered(150_001...150_004, by: ranges) == [150_001...150_001, 150_003...150_003])
    }

    /// A second's disclosures of such a log can hold tens of thousands of ranges: they go in
    /// several records, each well inside an entry's 1 MiB, counts adding up.
    @Test func aDisclosureOfVeryManyRangesIsSplitIntoRecordsThatFit() throws {
        var item = OwnLogRecorder.PendingDisclosure(key: .init(recipient: "england", log: "wales", agreement: "HEIW-1", access: .full),
                                                    first: 1_700_000_000_000)
        for i in stride(from: UInt64(0), to: 50_000, by: 2) { OwnLogRecorder.insert(i...i, into: &item.ranges) }
        item.count = 25_000
        let requests = OwnLogRecorder.disclosureRequests(item)
        #expect(requests.count == 3)
        var total = 0, ranges = 0
        for request in requests {
            #expect(request.payload.count < 256 << 10, "\(request.payload.count) bytes")
            let record = try JSONDecoder().decode(DisclosureRecord.self, from: Data(request.payload))
            total += record.count
            ranges += record.ranges.count
        }
        #expect(total == 25_000 && ranges == 25_000)
        // One record when it fits.
        var one = item
        one.ranges = [0...9]
        one.count = 10
        #expect(OwnLogRecorder.disclosureRequests(one).count == 1)
        // Padded to 4 KiB: a reader's stub of the record (its length in the header) says
        // nothing of the recipient, the agreement or how many ranges went.
        #expect(requests.allSatisfy { $0.payload.count % 4096 == 0 })
        var other = one
        other.key = .init(recipient: "northern-ireland", log: "wales", agreement: "HEIW-LONGER-AGREEMENT-ID-2025", access: .aggregate)
        other.ranges = [0...0, 2...2, 4...4, 6...6, 8...8]
        #expect(OwnLogRecorder.disclosureRequests(one)[0].payload.count == OwnLogRecorder.disclosureRequests(other)[0].payload.count)
    }

    /// A store of the wales log in a temporary directory, and a recorder journalling beside it
    /// into the log (its writer set).
    struct Fixture {
        let dir: URL, store: LedgerStore, journal: URL, recorder: OwnLogRecorder

        init() throws {
            dir = try TestKit.temporaryDirectory("journal")
            store = try TestKit.makeStore(log: "wales", at: dir.appendingPathComponent("data"))
            journal = dir.appendingPathComponent("pending-records")
            var quiet = Logger(label: "test")
            quiet.logLevel = .critical
            recorder = OwnLogRecorder(journal: journal, ownLog: "wales", logger: quiet)
            let writer = try LogWriter(store: store, log: "wales")
            recorder.writer.withLockedValue { $0 = writer }
        }

        func close() {
            try? store.close()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    /// The purge records a start replays from `lines` (the journal an earlier run left), given
    /// which entries the store still holds, as they went into the own log.
    static func recovered(_ lines: [String], held: @escaping (String, [UInt64]) throws -> Set<UInt64>) async throws -> [PurgeRecord] {
        let fixture = try Fixture()
        defer { fixture.close() }
        let (store, journal, recorder) = (fixture.store, fixture.journal, fixture.recorder)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: journal)
        await recorder.recover(known: Policy(owners: [:]), held: held)
        #expect(!FileManager.default.fileExists(atPath: journal.path))
        return try store.entries(store.log(named: "wales"), from: 0, limit: 100).map { entry in
            #expect(entry.header.type == PolicyEntryType.purged.rawValue)
            return try JSONDecoder().decode(PurgeRecord.self, from: Data(try #require(entry.payload).bytes))
        }
    }

    /// A purge is journalled before its commit with the entries it may clear: a node stopped
    /// between the commit and the record records, at its next start, those it no longer holds —
    /// and nothing for a purge that never committed, or for what its record already names.
    @Test func aPurgeStoppedBeforeItsRecordIsRecordedAtTheNextStart() async throws {
        let started = PurgeRecord(agreement: "PHS-2", entries: [4, 5, 6, 7], log: "uk", reason: "revoked", time: "2026-11-30T10:00:00Z")
        // Committed, not recorded: 5 was kept (another agreement still covers it).
        var asked: [(String, [UInt64])] = []
        let committed = try await Self.recovered([JournalLine.purgeStarting(started).text], held: { log, indices in
            asked.append((log, indices.sorted()))
            return [5]
        })
        #expect(committed == [PurgeRecord(agreement: "PHS-2", entries: [4, 6, 7], log: "uk", reason: "revoked", time: "2026-11-30T10:00:00Z")])
        #expect(asked.count == 1 && asked.first?.0 == "uk" && asked.first?.1 == [4, 5, 6, 7])
        // Never committed: everything is still held.
        #expect(try await Self.recovered([JournalLine.purgeStarting(started).text], held: { _, indices in Set(indices) }).isEmpty)
        // Recorded too: the record goes in once, and only entries it does not name are added.
        var recorded = started
        recorded.entries = [4, 7]
        let both = try await Self.recovered([JournalLine.purgeStarting(started).text, JournalLine.purge(recorded).text], held: { _, _ in [5, 6] })
        #expect(both == [recorded])
        // With 6 no longer held, it alone is added (5 is still held; 4 and 7 were recorded).
        let added = try await Self.recovered([JournalLine.purgeStarting(started).text, JournalLine.purge(recorded).text], held: { _, _ in [5] })
        #expect(added.count == 2 && added.first == recorded && added.last?.entries == [6], "\(added)")
        // A store that cannot say records nothing made up.
        struct Unreadable: Error {}
        #expect(try await Self.recovered([JournalLine.purgeStarting(started).text], held: { _, _ in throw Unreadable() }).isEmpty)
        // The line reads back as itself, and a build before it skips it as a line of another shape.
        let line = JournalLine.purgeStarting(started)
        #expect(try JSONDecoder().decode(JournalLine.self, from: Data(line.text.utf8)) == line)
        #expect(line.text.hasPrefix(#"{"kind":"purge-starting","payload":{"#))
    }

    /// A purge of hundreds of thousands of entries goes in as several records, each inside an
    /// entry's 1 MiB at the largest indices a log can have (one record too large for an entry
    /// failed every flush, and with it every disclosure record after it).
    @Test func aPurgeOfVeryManyEntriesIsSplitIntoRecordsThatFit() async throws {
        let top: UInt64 = (1 << 40) - 1
        let record = PurgeRecord(agreement: "PHS-2", entries: (0..<100_001).map { top - UInt64($0) }.reversed(), log: "uk", reason: "revoked",
                                 time: "2026-11-30T10:00:00Z")
        let parts = record.chunks(of: OwnLogRecorder.maxEntriesPerPurgeRecord)
        #expect(parts.count == 3 && parts.flatMap(\.entries) == record.entries)
        for part in parts { #expect(JournalLine.encode(part).count < EntryHeader.maxPayloadLength - 4096) }
        // Through a start's replay of an old build's single line: three records in the log.
        let replayed = try await Self.recovered([JournalLine.purge(record).text], held: { _, _ in [] })
        #expect(replayed == parts)
    }

    /// A flush while a purge is between its journal line and its commit keeps that line in the
    /// journal (the flush removes the file it was in); the purge's record removes it.
    @Test func aFlushDuringAPurgeKeepsItsStartingLine() async throws {
        let fixture = try Fixture()
        defer { fixture.close() }
        let (store, journal, recorder) = (fixture.store, fixture.journal, fixture.recorder)
        await recorder.recover(known: Policy(owners: [:]), held: { _, _ in [] })
        let started = PurgeRecord(agreement: "PHS-2", entries: [4, 5], log: "uk", reason: "revoked", time: "2026-11-30T10:00:00Z")
        let token = recorder.purgeStarting(started)
        recorder.record(recipient: "england", log: "wales", ranges: [3...9], agreement: "HEIW-1", access: .full)
        await recorder.flush()
        let kept = String(decoding: try Data(contentsOf: journal), as: UTF8.self)
        #expect(kept == JournalLine.purgeStarting(started).text + "\n")
        var done = started
        done.entries = [4]
        recorder.recordPurge(done, started: token)
        await recorder.flush()
        #expect(!FileManager.default.fileExists(atPath: journal.path))
        let types = try store.entries(store.log(named: "wales"), from: 0, limit: 10).map(\.header.type)
        #expect(types == [PolicyEntryType.disclosed.rawValue, PolicyEntryType.purged.rawValue])
    }

    /// A recorder whose journal lies in a directory not made yet (`missing`): it cannot be
    /// written until the test makes it. Returns the scratch directory to remove.
    static func recorderInMissingDirectory() throws -> (dir: URL, missing: URL, journal: URL, recorder: OwnLogRecorder) {
        let dir = try TestKit.temporaryDirectory("journal")
        let missing = dir.appendingPathComponent("missing")
        let journal = missing.appendingPathComponent("pending-records")
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        return (dir, missing, journal, OwnLogRecorder(journal: journal, ownLog: "wales", logger: quiet))
    }

    /// A journal that cannot be written fails the record, and nothing of it is taken as
    /// recorded: the caller withholds the payloads, and the same span is recorded in full once
    /// the journal can be written (before, it was sent unrecorded, and skipped ever after).
    @Test func aDisclosureTheJournalCannotTakeIsNotTakenAsRecorded() async throws {
        let (dir, missing, journal, recorder) = try Self.recorderInMissingDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(!recorder.record(recipient: "england", log: "wales", ranges: [3...9], agreement: "HEIW-1", access: .full))
        try FileManager.default.createDirectory(at: missing, withIntermediateDirectories: true)
        #expect(recorder.record(recipient: "england", log: "wales", ranges: [3...9], agreement: "HEIW-1", access: .full))
        let line = String(decoding: try Data(contentsOf: journal), as: UTF8.self)
        let decoded = try JSONDecoder().decode(JournalLine.self, from: Data(line.split(separator: "\n")[0].utf8))
        guard case .disclosure(let d) = decoded else { Issue.record("\(line)"); return }
        #expect(d.from == 3 && d.to == 9 && d.count == 7)
    }

    /// A batch disclosed under two agreements is recorded in one journal write, all or none:
    /// before, each agreement's part was a write of its own, so a journal failing at the second
    /// left the first recorded for a batch that was withheld (a record of more than went).
    @Test func aBatchUnderTwoAgreementsIsRecordedWholeOrNotAtAll() async throws {
        let (dir, missing, journal, recorder) = try Self.recorderInMissingDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let batch = [OwnLogRecorder.Disclosed(ranges: [3...5, 8...9], agreement: "HEIW-1", access: .full),
                     OwnLogRecorder.Disclosed(ranges: [6...7], agreement: "HCPC-1", access: .full),
                     // The same agreement twice in one call is recorded once.
                     OwnLogRecorder.Disclosed(ranges: [4...9], agreement: "HEIW-1", access: .full)]
        #expect(!recorder.record(recipient: "england", log: "wales", batch))
        try FileManager.default.createDirectory(at: missing, withIntermediateDirectories: true)
        #expect(recorder.record(recipient: "england", log: "wales", batch))
        let lines = try String(decoding: Data(contentsOf: journal), as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode(JournalLine.self, from: Data($0.utf8))
        }
        let spans = lines.compactMap { line -> String? in
            guard case .disclosure(let d) = line else { return nil }
            return "\(d.agreement) \(d.from)-\(d.to)"
        }
        #expect(spans.sorted() == ["HCPC-1 6-7", "HEIW-1 3-5", "HEIW-1 6-7", "HEIW-1 8-9"], "\(spans)")
        // Recorded: the same batch again adds nothing.
        #expect(recorder.record(recipient: "england", log: "wales", batch))
        #expect(try String(decoding: Data(contentsOf: journal), as: UTF8.self).split(separator: "\n").count == lines.count)
    }

    /// A journal line whose record no entry can hold (names of megabytes, in a copy restored
    /// from elsewhere) is said and dropped; the records beside it go in (before, the flush
    /// failed for ever and took every record with it).
    @Test func aRecordTooLargeForAnEntryDoesNotBlockTheOthers() async throws {
        let fixture = try Fixture()
        defer { fixture.close() }
        let huge = PurgeRecord(agreement: "PHS-2", entries: [4], log: "uk", reason: String(repeating: "r", count: 2 << 20), time: "2026-11-30T10:00:00Z")
        let lines = [JournalLine.purge(huge).text, try Self.oldLine(Self.oldDisclosure)]
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: fixture.journal)
        await fixture.recorder.recover(known: Policy(owners: [:]), held: { _, _ in [] })
        let entries = try fixture.store.entries(fixture.store.log(named: "wales"), from: 0, limit: 10)
        #expect(entries.map(\.header.type) == [PolicyEntryType.disclosed.rawValue])
        #expect(!FileManager.default.fileExists(atPath: fixture.journal.path))
    }
}
