import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetCrypto
@testable import QuartetNode
import QuartetPlan
@testable import QuartetStore
import QuartetTestKit
import Logging
import Synchronization
import Testing

/// The operator's forms without a node: decoding a posted form, the payload each kind makes,
/// where a refusal is shown, and the token a form needs.
@Suite struct WebFormTests {
    @Test func aPostedFormDecodesBoundedAndFirstValueWins() throws {
        let v = WebForm.decode("measure=P2.A4.M1&note=two+words%20%26%3D&period=2025&measure=P9.A9.M9&empty=&%ZZ=bad")
        #expect(v["measure"] == "P2.A4.M1", "a repeated field keeps its first value")
        #expect(v["note"] == "two words &=")
        #expect(v["empty"] == "")
        // Never cut: a cut text was signed into the log as typed (finding 290); the validator
        // names a field over its length, and the body's bound bounds them all.
        let long = WebForm.decode("note=" + String(repeating: "%E7%95%8C", count: 1400))
        #expect(long["note"] == String(repeating: "界", count: 1400))
        let text = WebForm.decode("measure=Q&period=2025&text=" + String(repeating: "a", count: 5000))
        #expect(try WebForm.payload(.reading, text, measures: ["Q": .qualitative]) == .object(["measure": .string("Q"), "period": .string("2025"), "text": .string(String(repeating: "a", count: 5000))]))
        // The longest text the validator takes fits the form's body, each character percent-encoded.
        #expect(8000 * 12 + 1024 <= API.maxFormBody)
        let many = WebForm.decode((0..<100).map { "f\($0)=1" }.joined(separator: "&"))
        #expect(many.count == WebForm.maxFields)
        // A textarea's CRLF line breaks become newlines (text refuses a carriage return).
        #expect(WebForm.decode("note=one%0D%0Atwo%0Dthree%0Afour")["note"] == "one\ntwo\nthree\nfour")
        // A post is refused whole where any of it cannot be read as sent (it was saved without it).
        for (body, said) in [("measure=P2.A4.M1&measure=P9.A9.M9", "the field \"measure\" is given twice"),
                             ("measure=P2.A4.M1&note=%ZZ", "is not percent-encoded UTF-8"), ("note=%FF%FE", "is not percent-encoded UTF-8"),
                             ((0..<33).map { "f\($0)=1" }.joined(separator: "&"), "the form has 33 fields")] {
            #expect(throws: WebForm.FieldError.self, "\(body.prefix(40))") { _ = try WebForm.decodeForm(body) }
            do { _ = try WebForm.decodeForm(body) } catch { #expect(error.message.contains(said) && error.message.contains("nothing was saved"), "\(error.message)") }
        }
        #expect(try WebForm.decodeForm("measure=P2.A4.M1&note=two+words&empty=") == ["measure": "P2.A4.M1", "note": "two words", "empty": ""])
    }

    @Test func eachKindMakesItsPayloadAndAReadingsValueFollowsTheMeasuresKind() throws {
        let kinds: [String: MeasureKind] = ["P2.A4.M1": .count, "P1.A2.M2": .milestone, "P3.A1.M1": .qualitative, "P4.A5.M1": .distribution]
        let status = try WebForm.payload(.status, ["action": " P1.A1 ", "status": "on-track", "as_of": "2025-03-31", "note": ""], measures: kinds)
        #expect(status == .object(["action": .string("P1.A1"), "status": .string("on-track"), "as_of": .string("2025-03-31")]), "trimmed; an empty note left out")
        let count = try WebForm.payload(.reading, ["measure": "P2.A4.M1", "period": "2025", "value": "12", "note": "n"], measures: kinds)
        #expect(count == .object(["measure": .string("P2.A4.M1"), "period": .string("2025"), "value": .number(12), "note": .string("n")]))
        let milestone = try WebForm.payload(.reading, ["measure": "P1.A2.M2", "period": "2025-Q1", "achieved": "yes"], measures: kinds)
        #expect(milestone == .object(["measure": .string("P1.A2.M2"), "period": .string("2025-Q1"), "achieved": .bool(true)]))
        let text = try WebForm.payload(.reading, ["measure": "P3.A1.M1", "period": "2025", "text": "Reported"], measures: kinds)
        #expect(text == .object(["measure": .string("P3.A1.M1"), "period": .string("2025"), "text": .string("Reported")]))
        // What a person did not write as a number: hexadecimal (Swift's `Double` reads 0x10 as
        // 16), a bare point or plus, a non-zero number that a Double would store as 0.
        for typed in ["0x10", "0x1p3", ".5", "5.", "+5", "1e-999", "1e999", "inf", "1e", "1_000"] {
            let refusal = #expect(throws: WebForm.FieldError.self) { try WebForm.payload(.reading, ["measure": "P2.A4.M1", "period": "2025", "value": typed], measures: kinds) }
            #expect(refusal?.field == "value" && refusal?.message.contains("decimal number") == true, "\(typed)")
        }
        #expect(try WebForm.payload(.reading, ["measure": "P2.A4.M1", "period": "2025", "value": "0.0"], measures: kinds) == .object(["measure": .string("P2.A4.M1"), "period": .string("2025"), "value": .number(0)]))
        for (values, field) in [(["measure": "P2.A4.M1", "value": "twelve"], "value"), (["measure": "P2.A4.M1", "value": "nan"], "value"),
                                (["measure": "P1.A2.M2", "achieved": "maybe"], "achieved"), (["measure": "P4.A5.M1"], "measure"), (["measure": "P9.A9.M9"], "measure")] {
            let refusal = #expect(throws: WebForm.FieldError.self) { try WebForm.payload(.reading, values, measures: kinds) }
            #expect(refusal?.field == field, "\(values)")
        }
    }

    @Test func theValidatorsMessageIsShownBesideTheFieldItNames() {
        let error = WebForm.FieldError(message: "payload.as_of: expected a date as YYYY-MM-DD, got \"2025-02-30\"")
        #expect(error.field == "as_of")
        #expect(WebForm.FieldError(message: "the log is held").field == nil)
        let body = WebForm.Body(kind: .status, values: ["as_of": "2025-02-30", "note": "<b>kept</b>"], error: error, token: "t0k", submission: "5ub", actions: [("P1.A1", "Title")],
                                measures: [], receipt: nil)
        let asOf = body.fields.first { $0.name == "as_of" }
        #expect(asOf?.error == error.message && asOf?.describedBy == "h-as_of e-as_of" && asOf?.value == "2025-02-30")
        #expect(body.fields.filter { $0.error != nil }.count == 1)
        #expect(body.action == "/record/status?csrf=t0k&submission=5ub")
        let html = WebPage.Frame(node: "wales", viewer: "quartet://operator/wales").render("form", title: "t", crumbs: [], script: false, body: body)
        #expect(html.contains("id=\"e-as_of\"") && html.contains("aria-describedby=\"h-as_of e-as_of\""))
        #expect(html.contains("&lt;b&gt;kept&lt;/b&gt;") && !html.contains("<b>kept"))
        #expect(html.contains("<option value=\"P1.A1\">P1.A1 — Title</option>"))
    }

    @Test func aFormTokenIsPerCallerAndPerProcess() {
        let a = FormToken.token(for: "operator-wales token one")
        #expect(a.count == 32 && a == FormToken.token(for: "operator-wales token one"))
        #expect(a != FormToken.token(for: "operator-wales token two"))
    }
}

/// The audit page's CSV lines.
@Suite struct CSVRowTests {
    @Test func fieldsAreQuotedAndFormulasDefused() {
        #expect(CSVRow.line(["a", "b,c", "say \"hi\""]) == "\"a\",\"b,c\",\"say \"\"hi\"\"\"\n")
        // A plain number is not a formula; anything else starting like one is defused.
        #expect(CSVRow.line(["=HYPERLINK(\"x\")", "+1", "-2", "-2+1", "@a", "ok"]) == "\"'=HYPERLINK(\"\"x\"\")\",\"'+1\",\"-2\",\"'-2+1\",\"'@a\",\"ok\"\n")
        // Decided by scalar: a quote merged with a combining mark is still doubled.
        #expect(CSVRow.line(["q\"\u{301},=1"]) == "\"q\"\"\u{301},'=1\"\n")
    }
}

/// The form check the access middleware runs on a form post: this node's origin and the token
/// made for the same caller, nothing less.
@Suite struct FormTokenCheckTests {
    static func post(origin: String?, csrf: String?, authority: String = "wales.example:8443") -> Request {
        var fields = HTTPFields()
        fields[.contentType] = "application/x-www-form-urlencoded"
        if let origin { fields[.origin] = origin }
        let path = "/record/status" + (csrf.map { "?csrf=\($0)" } ?? "")
        return Request(head: HTTPRequest(method: .post, scheme: "https", authority: authority, path: path, headerFields: fields), body: .init(buffer: ByteBuffer()))
    }

    @Test func onlyThisOriginWithThisCallersTokenPasses() throws {
        let author = "operator-wales cert 1A2B"
        let token = FormToken.token(for: author)
        #expect(FormToken.isForm(Self.post(origin: nil, csrf: nil)))
        try FormToken.check(Self.post(origin: "https://wales.example:8443", csrf: token), author: author)
        for (request, why) in [(Self.post(origin: nil, csrf: token), "no Origin"),
                               (Self.post(origin: "https://evil.example", csrf: token), "another origin"),
                               (Self.post(origin: "https://wales.example:9999", csrf: token), "another port"),
                               (Self.post(origin: "https://wales.example:8443", csrf: nil), "no token"),
                               (Self.post(origin: "https://wales.example:8443", csrf: FormToken.token(for: "operator-wales token other")), "another caller's token"),
                               (Self.post(origin: "https://wales.example:8443", csrf: String(token.dropLast())), "a cut token")] {
            let refusal = #expect(throws: HTTPError.self, "\(why)") { try FormToken.check(request, author: author) }
            #expect(refusal?.status == .forbidden, "\(why)")
        }
    }
}

/// The forms' submissions: one rendering, one entry (finding 323).
@Suite struct FormSubmissionsTests {
    @Test func aRepeatIsAnsweredOnlyWithTheValuesItSaved() {
        let submissions = FormSubmissions()
        let a = SHA256.hash(Array("a".utf8)), b = SHA256.hash(Array("b".utf8))
        #expect(submissions.begin(author: "op", id: "1", digest: a) == .first)
        #expect(submissions.begin(author: "op", id: "1", digest: a) == .pending)
        #expect(submissions.begin(author: "op", id: "1", digest: b) == .differs(saved: nil))
        // Another caller's id of the same text is its own.
        #expect(submissions.begin(author: "other", id: "1", digest: a) == .first)
        submissions.finish(author: "op", id: "1", .saved(7))
        #expect(submissions.begin(author: "op", id: "1", digest: a) == .saved(7))
        #expect(submissions.begin(author: "op", id: "1", digest: b) == .differs(saved: 7))
        // Refused by admission: free again, for any values.
        #expect(submissions.begin(author: "op", id: "2", digest: a) == .first)
        submissions.finish(author: "op", id: "2", .refused)
        #expect(submissions.begin(author: "op", id: "2", digest: b) == .first)
        // An outcome not known: kept, and said.
        submissions.finish(author: "op", id: "2", .unknown)
        #expect(submissions.begin(author: "op", id: "2", digest: b) == .unknown)
        // A finish without its turn changes nothing.
        submissions.finish(author: "op", id: "3", .saved(9))
        #expect(submissions.begin(author: "op", id: "3", digest: a) == .first)
    }

    @Test func theOldestEndedAreForgottenFirstByWeight() {
        // The API's answers weigh their bytes: the oldest go once the limit is passed.
        let answers = Submissions<[UInt8]>(limit: 100) { _, answer in answer?.count ?? 0 }
        for (i, size) in [40, 40, 10].enumerated() {
            #expect(answers.begin(author: "op", id: "\(i)", digest: []) == .first)
            answers.finish(author: "op", id: "\(i)", .saved([UInt8](repeating: 1, count: size)))
        }
        #expect(answers.begin(author: "op", id: "0", digest: []) == .saved([UInt8](repeating: 1, count: 40)))
        answers.finish(author: "op", id: "3", .refused)
        #expect(answers.begin(author: "op", id: "4", digest: []) == .first)
        answers.finish(author: "op", id: "4", .saved([UInt8](repeating: 1, count: 20)))
        #expect(answers.begin(author: "op", id: "0", digest: []) == .first, "past the limit, the oldest is forgotten")
        #expect(answers.begin(author: "op", id: "1", digest: []) == .saved([UInt8](repeating: 1, count: 40)))
        // One answer heavier than the whole limit is still kept, alone.
        #expect(answers.begin(author: "op", id: "5", digest: []) == .first)
        answers.finish(author: "op", id: "5", .saved([UInt8](repeating: 1, count: 500)))
        #expect(answers.begin(author: "op", id: "5", digest: []) == .saved([UInt8](repeating: 1, count: 500)))
        #expect(answers.begin(author: "op", id: "1", digest: []) == .first)
    }

    @Test func theOldestEndedAreForgottenFirst() {
        let submissions = FormSubmissions()
        for i in 0...FormSubmissions.capacity {
            #expect(submissions.begin(author: "op", id: "\(i)", digest: []) == .first)
            submissions.finish(author: "op", id: "\(i)", .saved(UInt64(i)))
        }
        #expect(submissions.begin(author: "op", id: "0", digest: []) == .first, "the oldest is forgotten")
        #expect(submissions.begin(author: "op", id: "1", digest: []) == .saved(1))
        #expect(submissions.begin(author: "op", id: "\(FormSubmissions.capacity)", digest: []) == .saved(UInt64(FormSubmissions.capacity)))
        #expect(FormSubmissions.isWellFormed(String(repeating: "a", count: 32)) && !FormSubmissions.isWellFormed(String(repeating: "A", count: 32))
                && !FormSubmissions.isWellFormed("ab"))
    }
}

/// Submissions kept on disk (`SubmissionStore`): a node restarted (a new `Submissions` over the
/// same file) answers a repeat as the first ended — saved, refused (free again), not known, or
/// begun when the process died (not known: the log says) — and never appends it twice.
@Suite struct DurableSubmissionsTests {
    struct Failed: Error {}

    func submissions(_ store: SubmissionStore) -> Submissions<[UInt8]> { API.appendKeys(store: store) }

    @Test func aRestartForgetsNoSubmission() async throws {
        let root = try TestKit.temporaryDirectory("submissions")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = DataDirectory(path: root.path)
        let now = wallClockMillis()
        let a = SHA256.hash(Array("a".utf8)), b = SHA256.hash(Array("b".utf8))
        let far = ContinuousClock.now + .seconds(5)
        do {
            let before = submissions(try SubmissionStore(directory, nowMillis: now))
            #expect(try await before.turn(author: "op", id: "saved", digest: a, until: far) == .first)
            _ = try await before.finishing(author: "op", id: "saved", save: { $0 }, appendedNothing: { _ in false }) { [UInt8]([1, 2, 3]) }
            #expect(try await before.turn(author: "op", id: "refused", digest: a, until: far) == .first)
            await #expect(throws: Failed.self) {
                _ = try await before.finishing(author: "op", id: "refused", save: { $0 }, appendedNothing: { _ in true }) { () async throws -> [UInt8] in throw Failed() }
            }
            #expect(try await before.turn(author: "op", id: "unknown", digest: a, until: far) == .first)
            await #expect(throws: Failed.self) {
                _ = try await before.finishing(author: "op", id: "unknown", save: { $0 }, appendedNothing: { _ in false }) { () async throws -> [UInt8] in throw Failed() }
            }
            // Begun, and the process dies before it ends.
            #expect(try await before.turn(author: "op", id: "begun", digest: a, until: far) == .first)
        }
        // Restarted: memory empty, the file as left.
        let store = try SubmissionStore(directory, nowMillis: now)
        let after = submissions(store)
        // (Another body first: the digest compared is the one the store kept.)
        #expect(try await after.turn(author: "op", id: "saved", digest: b, until: far) == .differs(saved: [1, 2, 3]))
        #expect(try await after.turn(author: "op", id: "saved", digest: a, until: far) == .saved([1, 2, 3]))
        #expect(try await after.turn(author: "other", id: "saved", digest: a, until: far) == .first, "another caller's id is its own")
        #expect(try await after.turn(author: "op", id: "refused", digest: b, until: far) == .first)
        #expect(try await after.turn(author: "op", id: "unknown", digest: a, until: far) == .unknown)
        #expect(try await after.turn(author: "op", id: "begun", digest: a, until: far) == .unknown)
        // Another kind's ids in the same file are its own.
        let other = Submissions<[UInt8]>(limit: 100, durable: .init(store: store, begins: SubmissionBegins(store: store), namespace: "other", encode: { $0 }, decode: { $0 }, logger: Logger(label: "test"))) { _, _ in 1 }
        #expect(try await other.turn(author: "op", id: "saved", digest: a, until: far) == .first)
        // Forgotten after a day, and beyond the capacity: the oldest recorded first, whatever
        // the clock said when each was recorded (here the newest is dated earliest).
        #expect(try store.count() == 6)
        #expect(try store.recallOrBegin("z-newest", digest: a, nowMillis: now - 3_600_000) == nil)
        let later = try SubmissionStore(directory, capacity: 3, nowMillis: now)
        #expect(try later.count() == 3)
        #expect(try later.recallOrBegin("z-newest", digest: b, nowMillis: now) == SubmissionStore.Recorded(digest: a, saved: nil))
        // And beyond the bytes: the newest (72 bytes' worth: key, digest, 32) alone is under 100.
        _ = try SubmissionStore(directory, maxBytes: 100, nowMillis: now)
        #expect(try later.count() == 1)
        _ = try SubmissionStore(directory, nowMillis: now + SubmissionStore.keptMillis + 60_000)
        #expect(try later.count() == 0)
    }

    /// Submissions begun together are recorded together (one transaction, one sync), each with
    /// its own answer; a key twice in one transaction is begun once.
    @Test func submissionsBegunTogetherAreRecordedTogether() async throws {
        let root = try TestKit.temporaryDirectory("submissions")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try SubmissionStore(DataDirectory(path: root.path), nowMillis: wallClockMillis())
        let answers = submissions(store)
        let turns = try await withThrowingTaskGroup(of: Submissions<[UInt8]>.Turn.self) { group in
            for i in 0..<64 { group.addTask { try await answers.turn(author: "op", id: "k\(i)", digest: [UInt8(i)], until: .now + .seconds(5)) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(turns.count == 64 && turns.allSatisfy { $0 == .first })
        #expect(try store.count() == 64)
        // Together: fewer transactions than submissions (one each, without the group commit).
        let transactions = store.beginTransactions.withLock { $0 }
        #expect(transactions < 64, "\(transactions) transactions for 64 submissions begun together")
        let twice = try store.recallOrBegin([("same", [1]), ("same", [2])], nowMillis: wallClockMillis())
        #expect(twice == [nil, SubmissionStore.Recorded(digest: [1], saved: nil)])
    }

    /// A key the store cannot record (here its table gone under it) is refused, nothing begun,
    /// and counted as every failure of the store is (`quartet_submission_store_failures_total`:
    /// their lines are budgeted).
    @Test func aKeyThatCannotBeRecordedIsRefusedAndCounted() async throws {
        let root = try TestKit.temporaryDirectory("submissions")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = DataDirectory(path: root.path)
        let store = try SubmissionStore(directory, nowMillis: wallClockMillis())
        let failures = Mutex(0)
        let answers = API.appendKeys(store: store, failed: { failures.withLock { $0 += 1 } })
        #expect(try await answers.turn(author: "op", id: "kept", digest: [1], until: .now + .seconds(5)) == .first)
        let python = try #require(TestKit.which("python3"))
        try TestKit.run(python, ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('DROP TABLE submissions'); c.commit()", SubmissionStore.path(directory)])
        await #expect(throws: SubmissionStore.Unrecorded.self) {
            _ = try await answers.turn(author: "op", id: "new", digest: [2], until: .now + .seconds(5))
        }
        #expect(failures.withLock { $0 } == 1)
        // What the first saved cannot be written either: said, counted, and the answer given.
        let saved = try await answers.finishing(author: "op", id: "kept", save: { $0 }, appendedNothing: { _ in false }) { [UInt8]([7]) }
        #expect(saved == [7] && failures.withLock { $0 } == 2)
        // The key not recorded is not taken: asked again once the store works, it is the first.
        _ = try SubmissionStore(directory, nowMillis: wallClockMillis())
        #expect(try await answers.turn(author: "op", id: "new", digest: [2], until: .now + .seconds(5)) == .first)
    }

    /// A file that is not a database (damaged) is moved aside and a new one made: the node
    /// starts, and says so.
    @Test func aDamagedFileIsMovedAsideAndSaid() throws {
        let root = try TestKit.temporaryDirectory("submissions")
        defer { try? FileManager.default.removeItem(at: root) }
        let directory = DataDirectory(path: root.path)
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: SubmissionStore.path(directory)))
        let said = Mutex<[String]>([])
        let store = try SubmissionStore(directory, nowMillis: 1_000, warn: { line in said.withLock { $0.append(line) } })
        #expect(try store.recallOrBegin("k", digest: [1], nowMillis: 1_000) == nil)
        #expect(said.withLock { $0 }.contains { $0.contains("cannot be opened") && $0.contains("moved aside") }, "\(said.withLock { $0 })")
        #expect(FileManager.default.fileExists(atPath: SubmissionStore.path(directory) + ".unreadable-1000"))
        // Not damaged, but not openable (here a directory in its place; a lock held, a full
        // disk): thrown, nothing moved.
        let other = try TestKit.temporaryDirectory("submissions")
        defer { try? FileManager.default.removeItem(at: other) }
        let blocked = DataDirectory(path: other.path)
        try FileManager.default.createDirectory(atPath: SubmissionStore.path(blocked), withIntermediateDirectories: true)
        #expect(throws: StoreError.self) { _ = try SubmissionStore(blocked, nowMillis: 1_000) }
        #expect(!FileManager.default.fileExists(atPath: SubmissionStore.path(blocked) + ".unreadable-1000"))
        // A table of the first form (no order column) is made again, and prunes.
        let first = try TestKit.temporaryDirectory("submissions")
        defer { try? FileManager.default.removeItem(at: first) }
        let early = DataDirectory(path: first.path)
        let python = try #require(TestKit.which("python3"))
        try TestKit.run(python, ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('CREATE TABLE submissions (key TEXT PRIMARY KEY NOT NULL, digest BLOB NOT NULL, saved BLOB, created_ms INTEGER NOT NULL) WITHOUT ROWID'); c.commit()",
                                 SubmissionStore.path(early)])
        let remade = try SubmissionStore(early, capacity: 1, nowMillis: 1_000)
        #expect(try remade.recallOrBegin("a", digest: [1], nowMillis: 1_000) == nil && remade.recallOrBegin("b", digest: [2], nowMillis: 1_000) == nil)
        _ = try SubmissionStore(early, capacity: 1, nowMillis: 1_000)
        #expect(try remade.count() == 1)
    }
}
