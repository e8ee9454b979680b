import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
@testable import QuartetNode
import QuartetPlan
import QuartetPolicy
import QuartetStore
import Testing

/// The shared/exclusive lock's transitions, without tasks.
@Suite struct SharedExclusiveStateTests {
    @Test func sharedHoldersShareAndAnExclusiveWaiterStopsNewcomers() {
        var state = SharedExclusiveState<String>()
        func acquire(exclusive: Bool, _ waiter: String) -> Bool { state.acquire(exclusive: exclusive, waiter) }
        func release(exclusive: Bool) -> [String] { state.release(exclusive: exclusive) }
        #expect(acquire(exclusive: false, "r1"))
        #expect(acquire(exclusive: false, "r2"))
        #expect(!acquire(exclusive: true, "w1"), "an exclusive hold waits for the shared holders")
        #expect(!acquire(exclusive: false, "r3"), "a shared newcomer does not overtake the queued exclusive waiter")
        #expect(release(exclusive: false).isEmpty, "one shared holder remains")
        #expect(release(exclusive: false) == ["w1"])
        #expect(state.exclusive && state.shared == 0)
        #expect(!acquire(exclusive: false, "r4"))
        #expect(!acquire(exclusive: true, "w2"))
        #expect(!acquire(exclusive: false, "r5"))
        // The exclusive holder leaves: every shared waiter up to the next exclusive one goes.
        #expect(release(exclusive: true) == ["r3", "r4"])
        #expect(state.shared == 2 && !state.exclusive)
        #expect(release(exclusive: false).isEmpty)
        #expect(release(exclusive: false) == ["w2"])
        #expect(release(exclusive: true) == ["r5"])
        #expect(release(exclusive: false).isEmpty)
        #expect(state.shared == 0 && !state.exclusive && state.waiting.isEmpty)
        #expect(acquire(exclusive: true, "w3"), "a free lock is taken at once")
    }

    @Test func exclusiveWaitersGoOneAtATime() {
        var state = SharedExclusiveState<Int>()
        func acquire(exclusive: Bool, _ waiter: Int) -> Bool { state.acquire(exclusive: exclusive, waiter) }
        func release(exclusive: Bool) -> [Int] { state.release(exclusive: exclusive) }
        #expect(acquire(exclusive: true, 0))
        for i in 1...3 { #expect(!acquire(exclusive: true, i)) }
        for i in 1...3 { #expect(release(exclusive: true) == [i]) }
        #expect(release(exclusive: true).isEmpty)
        #expect(state.waiting.isEmpty && !state.exclusive)
    }
}

/// Appends through the API, concurrently, in process: the checks hold when appends race.
@Suite struct AppendAdmissionTests {
    static let operatorHeaders: HTTPFields = [.authorization: "Bearer token-wales-op", .contentType: "application/json"]

    static func post(_ client: RouterClient, _ body: String) async throws -> (status: HTTPResponse.Status, body: String) {
        try await client.execute(uri: "/v1/logs/wales/entries", method: .post, headers: operatorHeaders, body: ByteBuffer(string: body)) {
            ($0.status, String(buffer: $0.body))
        }
    }

    static func index(_ body: String) -> Int? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["index"] as? Int
    }

    /// A log adds at most `PlanLimits.measuresPerUKMeasure` count measures up into one UK
    /// measure, counted with what the same request and requests racing it queue: two requests
    /// of 33 each, valid alone, are not both taken.
    @Test func theMeasuresMappedToAUKMeasureAreCountedAcrossARequestAndRacingOnes() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            func measures(_ range: Range<Int>) -> String {
                range.map { #"{"type":"plan.measure","payload":{"id":"P1.A9.M\#($0)","action":"P1.A9","text":"Count \#($0)","kind":"count","uk_measure":"P1.A1.M1"}}"# }
                    .joined(separator: ",")
            }
            let action = #"{"type":"plan.action","payload":{"id":"P1.A9","priority":"P1","statements":["Grow the workforce"]}}"#
            // 65 in one request: refused whole, naming the entry and the limit.
            let one = try await Self.post(client, #"{"entries":[\#(action),\#(measures(1..<66))]}"#)
            #expect(one.status == .badRequest && one.body.contains("uk_measure") && one.body.contains("64"), "\(one)")
            #expect(try await Self.post(client, #"{"entries":[\#(action)]}"#).status == .created)
            // Two of 33 at once: one is taken, the other refused whole.
            let raced = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String).self) { group in
                group.addTask { try await Self.post(client, #"{"entries":[\#(measures(1..<34))]}"#) }
                group.addTask { try await Self.post(client, #"{"entries":[\#(measures(34..<67))]}"#) }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(raced.filter { $0.0 == .created }.count == 1 && raced.filter { $0.0 == .badRequest && $0.1.contains("uk_measure") }.count == 1, "\(raced)")
        }
    }

    /// An append whose credential a reload withdrew while it waited its turn (its body, the own
    /// log opening, other appends) is not signed: it is asked again right before its entries
    /// are queued (finding 300); one still admitted is taken.
    @Test func anAppendWhoseCredentialWasWithdrawnWhileItWaitedIsNotSigned() async throws {
        let node = try InProcessNode(entries: 2)
        defer { node.remove() }
        let admission = node.node.api().admission
        let action: JSONValue = .object(["type": .string("plan.action"), "payload": .object(["id": .string("P1.A9"), "priority": .string("P1"), "statements": .array([.string("Grow the workforce")])])])
        // One exclusive (a plan entry), one not (queued under the shared lock).
        let note: JSONValue = .object(["type": .string("t"), "payload": .object(["x": .number(1)])])
        for item in [action, note] {
            await #expect(throws: CredentialWithdrawn.self) { try await admission.append([("", item)], author: "operator-wales token x", stillAdmitted: { false }) }
        }
        let taken = try await admission.append([("", action)], author: "operator-wales token x", stillAdmitted: { true })
        #expect(taken.map(\.index) == [2], "nothing of the refused appends was signed")
    }

    /// A status, a withdrawal or evidence dated after tomorrow, or a reading of a period not
    /// begun by then, is refused at the append, saying which field and today's date: the newest
    /// as-of date decides a status and nothing is taken back, so a year mistyped (2062) fixed
    /// the action's status until then (finding 234). Tomorrow, and periods begun, are taken.
    @Test func entriesDatedInAYearToComeAreRefusedAtTheAppend() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        let now = wallClockMillis()
        let day: UInt64 = 86_400_000
        let date: @Sendable (UInt64) -> String = { String(ViewQueries.iso($0).prefix(10)) }
        let year = Int(date(now).prefix(4))!
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let action = #"{"type":"plan.action","payload":{"id":"P1.A9","priority":"P1","statements":["Grow the workforce"]}}"#
            let measure = #"{"type":"plan.measure","payload":{"id":"P1.A9.M1","action":"P1.A9","text":"Count","kind":"count"}}"#
            #expect(try await Self.post(client, #"{"entries":[\#(action),\#(measure)]}"#).status == .created)
            func status(_ asOf: String) -> String { #"{"type":"progress.status","payload":{"action":"P1.A9","status":"done","as_of":"\#(asOf)"}}"# }
            func reading(_ period: String) -> String { #"{"type":"progress.reading","payload":{"measure":"P1.A9.M1","period":"\#(period)","value":1}}"# }
            for (entry, field) in [(status("2062-01-05"), "payload.as_of"), (status(date(now + 3 * day)), "payload.as_of"),
                                   (reading("\(year + 1)-Q2"), "payload.period"), (reading("\(year + 2)"), "payload.period"),
                                   (#"{"type":"progress.evidence","payload":{"action":"P1.A9","kind":"case-study","title":"t","link":"https://example.org/x","date":"2999-01-01"}}"#, "payload.date"),
                                   (#"{"type":"plan.action.withdrawn","payload":{"id":"P1.A9","reason":"r","as_of":"2999-12-31"}}"#, "payload.as_of")] {
                let refused = try await Self.post(client, #"{"entries":[\#(entry)]}"#)
                // (Today as the node saw it: the test may run across midnight.)
                let today = [date(now), date(wallClockMillis())]
                #expect(refused.status == .badRequest && refused.body.contains(field) && today.contains { refused.body.contains("today is \($0)") },
                        "\(entry): \(refused)")
            }
            // Today and tomorrow, and periods begun, go in.
            for entry in [status(date(now)), status(date(now + day)), reading(String(year)), reading("\(year)-Q1"), reading("\(year - 1)-12")] {
                let taken = try await Self.post(client, #"{"entries":[\#(entry)]}"#)
                #expect(taken.status == .created, "\(entry): \(taken)")
            }
        }
        // The rule, by the day (UTC), a day's grace.
        let noon: UInt64 = 1_798_718_400_000   // 2026-12-31T12:00:00Z
        let reading = { (period: String) in JSONValue.object(["measure": .string("P1.A1.M1"), "period": .string(period), "value": .number(1)]) }
        try PlanValidator.refuseAhead(.reading, reading("2027-01"), nowMillis: noon)
        try PlanValidator.refuseAhead(.reading, reading("2027-Q1"), nowMillis: noon)
        #expect(throws: PlanError.self) { try PlanValidator.refuseAhead(.reading, reading("2027-02"), nowMillis: noon) }
        #expect(throws: PlanError.self) { try PlanValidator.refuseAhead(.reading, reading("2027-Q2"), nowMillis: noon) }
        let status = { (asOf: String) in JSONValue.object(["action": .string("P1.A1"), "status": .string("done"), "as_of": .string(asOf)]) }
        try PlanValidator.refuseAhead(.status, status("2027-01-01"), nowMillis: noon)
        #expect(throws: PlanError.self) { try PlanValidator.refuseAhead(.status, status("2027-01-02"), nowMillis: noon) }
        #expect(Period("2027-Q3")?.firstDay == "2027-07-01" && Period("2027")?.firstDay == "2027-01-01" && Period("2027-11")?.firstDay == "2027-11-01")
    }

    /// A log dated ahead of the clock (its node's clock once ran fast) takes no restricted
    /// entry until the clock passes it: each would carry the later time and count as recorded
    /// after an agreement's `valid-from` set in that future (finding 238). Public ones go on.
    @Test func restrictedEntriesWaitForTheClockToPassTheLogsTime() throws {
        let now: UInt64 = 1_780_000_000_000
        let rows = AppendRequest(type: "dataset.rows", classification: "heiw.workforce.headcount", payload: Array("{}".utf8))
        let note = AppendRequest(type: "test.note", payload: Array("{}".utf8))
        #expect { try AppendAdmission.refuseRestrictedAhead([note, rows], logTime: now + 31_000, now: now) } throws: {
            "\($0)".contains("31 s ahead of this node's clock")
        }
        try AppendAdmission.refuseRestrictedAhead([note], logTime: now + 3_600_000, now: now)
        try AppendAdmission.refuseRestrictedAhead([rows], logTime: now + 29_000, now: now)
        try AppendAdmission.refuseRestrictedAhead([rows], logTime: now - 5_000, now: now)
        // Nor while this node's clock disagrees with its witnesses' (finding 289): the log's
        // time is that same clock's, so the check above cannot see a clock run fast. 503, with
        // the reason; public entries go on.
        let hold = ClockCheck.Verdict.disagrees(offsetSeconds: 86_400, witnesses: ["england", "scotland"]).holdReason
        #expect { try AppendAdmission.refuseRestrictedAhead([note, rows], logTime: now - 5_000, now: now, clockHold: hold) } throws: {
            ($0 as? StoreError)?.code == .unavailable && "\($0)".contains("86400 s ahead of its witnesses' (england, scotland)")
        }
        try AppendAdmission.refuseRestrictedAhead([note], logTime: now - 5_000, now: now, clockHold: hold)
        try AppendAdmission.refuseRestrictedAhead([rows], logTime: now - 5_000, now: now, clockHold: nil)
    }

    /// A node being recovered folds no plan, so its checks would run against nothing: an
    /// action the log holds taken again, a status of an action it lacks refused. It takes no
    /// append at all (a review found `quartet recover` took them for up to an hour).
    @Test func aNodeBeingRecoveredTakesNoAppend() async throws {
        let node = try InProcessNode(foldsView: false)
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let action = #"{"type":"plan.action","payload":{"id":"P1.A9","priority":"P1","statements":["Grow the workforce"]}}"#
            let answer = try await Self.post(client, action)
            #expect(answer.status == .serviceUnavailable && answer.body.contains("being recovered"), "\(answer)")
            let status = try await client.execute(uri: "/v1/record/status", method: .post, headers: Self.operatorHeaders,
                                                  body: ByteBuffer(string: #"{"action":"P1.A1","status":"on-track","as_of":"2026-01-01"}"#)) { $0 }
            // The answer itself says when to come back (the error's Retry-After was dropped on
            // its way to the answer: the final review of finding 328).
            #expect(status.status == .serviceUnavailable && status.headers[.retryAfter] == "2", "\(status.headers)")
        }
        let wales = try #require(try node.node.store.logs().first { $0.name == "wales" })
        #expect(try node.node.store.size(wales) == 2, "nothing appended")
    }

    @Test func racingAppendsThatAreValidAloneButNotTogetherEndRight() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            // The same import eight times at once: one is the import, the others repeat it.
            let importBody = #"{"entries":[{"type":"plan.action","payload":{"id":"P1.A9","priority":"P1","statements":["Grow the workforce"]}},"# +
                #"{"type":"plan.measure","payload":{"id":"P1.A9.M1","action":"P1.A9","text":"Therapists recruited","kind":"count"}}]}"#
            let imports = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String).self) { group in
                for _ in 0..<8 { group.addTask { try await Self.post(client, importBody) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(imports.filter { $0.0 == .created }.count == 1, "\(imports)")
            #expect(imports.filter { $0.0 == .badRequest && $0.1.contains("already exists") }.count == 7, "\(imports)")

            // Readings share: fifty at once are all accepted, each its own entry.
            let reading = #"{"type":"progress.reading","payload":{"measure":"P1.A9.M1","period":"2026-Q1","value":3}}"#
            let readings = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String).self) { group in
                for _ in 0..<50 { group.addTask { try await Self.post(client, reading) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(readings.allSatisfy { $0.0 == .created }, "\(readings.filter { $0.0 != .created })")
            #expect(Set(readings.compactMap { Self.index($0.1) }).count == 50)

            // A withdrawal racing status updates of the same action: every status the node
            // accepted is before the withdrawal in the log; the ones after it were refused.
            let withdrawal = #"{"type":"plan.action.withdrawn","payload":{"id":"P1.A9","reason":"merged into P1.A1","as_of":"2026-03-01"}}"#
            let status = #"{"type":"progress.status","payload":{"action":"P1.A9","status":"on-track","as_of":"2026-02-01"}}"#
            let raced = try await withThrowingTaskGroup(of: (withdrawal: Bool, status: HTTPResponse.Status, body: String).self) { group in
                for i in 0..<21 {
                    group.addTask {
                        let answer = try await Self.post(client, i == 10 ? withdrawal : status)
                        return (i == 10, answer.status, answer.body)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let withdrawn = try #require(raced.first { $0.withdrawal })
            #expect(withdrawn.status == .created, "\(withdrawn)")
            let withdrawnAt = try #require(Self.index(withdrawn.body))
            for answer in raced where !answer.withdrawal {
                if answer.status == .created {
                    let at = try #require(Self.index(answer.body))
                    #expect(at < withdrawnAt, "a status update was accepted after the withdrawal (\(at) > \(withdrawnAt))")
                } else {
                    #expect(answer.status == .badRequest && answer.body.contains("withdrawn"), "\(answer)")
                }
            }
            // After the race, the action is withdrawn for everyone.
            #expect(try await Self.post(client, status).body.contains("was withdrawn"))
        }
    }

    /// Through the route: an append waiting its turn behind another is not signed once a
    /// reload drops the operator's token meanwhile (401, the turn's own message), and nothing
    /// is appended (finding 300(3); the route hands admission the caller's real check).
    @Test func anAppendWaitingItsTurnIsRefusedOnceItsTokenIsDropped() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let lock = node.node.admission.lock
            let (release, releaser) = AsyncStream<Void>.makeStream()
            let holding = Task { await lock.exclusive { for await _ in release { break } } }
            try await eventually { lock.heldExclusively }
            let size = try node.node.store.heldTip(node.node.store.log(named: "wales")).size
            let waiting = Task { try await Self.post(client, #"{"type":"test.note","payload":{"text":"waits"}}"#) }
            try await eventually { lock.waiting == 1 }
            _ = node.node.live.dropTokens(keeping: node.node.live.tokens.filter { $0.name != "wales-op" })
            releaser.yield()
            await holding.value
            let answer = try await waiting.value
            #expect(answer.status == .unauthorized && answer.body.contains("withdrawn"), "\(answer)")
            #expect(try node.node.store.heldTip(node.node.store.log(named: "wales")).size == size)
        }
    }

    /// One rendering of a form is one submission: sent twice (again after the answer, or two
    /// at once: a double click, two tabs) it records one entry and answers both with its
    /// receipt; a new rendering records a new one; a post without the page's submission id
    /// records nothing.
    @Test func aFormSentTwiceRecordsOneEntry() async throws {
        // A second token under the operator's token's name (another digest): its sign-in passes
        // the same form token check (by author), but its submissions are its own.
        let node = try InProcessNode(extraTokens: [TokenGrant(name: "wales-op", identity: .operator("wales"), sha256: TokenGrant.digest("token-replaced"))])
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let action = #"{"type":"plan.action","payload":{"id":"P1.A9","priority":"P1","statements":["Grow the workforce"]}}"#
            #expect(try await Self.post(client, action).status == .created)
            let cookie: HTTPFields = [.cookie: "__Host-quartet-wales=" + (try node.node.sessions.open(digest: TokenGrant.digest("token-wales-op")))]
            func formAction() async throws -> String {
                let page = try await client.execute(uri: "/record/status", method: .get, headers: cookie) { String(buffer: $0.body) }
                let found = try #require(page.firstMatch(of: /action="(\/record\/status\?csrf=[0-9a-f]{32}&amp;submission=[0-9a-f]{32})"/), "\(page)")
                return String(found.1).replacingOccurrences(of: "&amp;", with: "&")
            }
            func send(_ uri: String, as signedIn: HTTPFields = cookie) async throws -> (status: HTTPResponse.Status, location: String?) {
                var headers = signedIn
                headers[.contentType] = "application/x-www-form-urlencoded"
                headers[.origin] = "https://localhost"
                return try await client.execute(uri: uri, method: .post, headers: headers,
                                                body: ByteBuffer(string: "action=P1.A9&status=on-track&as_of=2026-02-01&note=once")) { ($0.status, $0.headers[.location]) }
            }
            let log = try node.node.store.log(named: "wales")
            let size = try node.node.store.heldTip(log).size
            let uri = try await formAction()
            let first = try await send(uri), again = try await send(uri)
            #expect(first.status == .seeOther && again.status == .seeOther && first.location == again.location && first.location == "/record/status?saved=\(size)",
                    "\(first) \(again)")
            let atOnce = try await formAction()
            let answers = try await withThrowingTaskGroup(of: (status: HTTPResponse.Status, location: String?).self) { group in
                for _ in 0..<4 { group.addTask { try await send(atOnce) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.status == .seeOther && $0.location == "/record/status?saved=\(size + 1)" }, "\(answers)")
            #expect(try node.node.store.heldTip(log).size == size + 2)
            // The same rendering sent again with other values: refused, saying what was saved.
            var changed = cookie
            changed[.contentType] = "application/x-www-form-urlencoded"
            changed[.origin] = "https://localhost"
            let other = try await client.execute(uri: atOnce, method: .post, headers: changed,
                                                 body: ByteBuffer(string: "action=P1.A9&status=at-risk&as_of=2026-02-01&note=mended")) { ($0.status, String(buffer: $0.body)) }
            #expect(other.0 == .conflict && other.1.contains("sent before with other values and saved as entry wales/\(size + 1)"), "\(other)")
            #expect(try node.node.store.heldTip(log).size == size + 2)
            // Without the page's submission id: refused, nothing recorded.
            let bare = try await send(String(uri.prefix { $0 != "&" }))
            #expect(bare.status == .badRequest && bare.location == nil, "\(bare)")
            #expect(try node.node.store.heldTip(log).size == size + 2)
            // The first rendering sent by the other credential: a submission of its own.
            let replaced: HTTPFields = [.cookie: "__Host-quartet-wales=" + (try node.node.sessions.open(digest: TokenGrant.digest("token-replaced")))]
            let theirs = try await send(uri, as: replaced)
            #expect(theirs.status == .seeOther && theirs.location == "/record/status?saved=\(size + 2)", "\(theirs)")
            #expect(try node.node.store.heldTip(log).size == size + 3)
        }
    }

    /// A type of a family Quartet defines that Quartet does not define (a misspelling) is
    /// refused, not signed and read by nothing; a family of one's own is free; a plan field
    /// given as null is refused, not signed as null (found by a live fuzz of the API).
    @Test func aMisspeltTypeAndANullFieldAreRefused() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let log = try node.node.store.log(named: "wales")
            let size = try node.node.store.heldTip(log).size
            for type in ["progress.readings", "progress.reading.", "plan.measure.revised", "agreement.renewed", "dataset.table", "key.rotated"] {
                let answer = try await Self.post(client, #"{"type":"\#(type)","payload":{"measure":"P1.A1.M1","period":"2025","value":1}}"#)
                #expect(answer.status == .badRequest && answer.body.contains("is no type of the") && answer.body.contains("family Quartet defines"), "\(type): \(answer)")
            }
            #expect(try await Self.post(client, #"{"type":"wales.note","payload":{"text":"ours"}}"#).status == .created)
            #expect(try await Self.post(client, #"{"type":"plan.action","payload":{"id":"P1.A9","priority":"P1","statements":["Grow the workforce"]}}"#).status == .created)
            let nullNote = try await Self.post(client, #"{"type":"progress.status","payload":{"action":"P1.A9","status":"on-track","as_of":"2026-02-01","note":null}}"#)
            #expect(nullNote.status == .badRequest && nullNote.body.contains("payload.note: null is not a value here"), "\(nullNote)")
            // Anywhere inside, named by its path.
            let nested = try await Self.post(client, #"{"type":"plan.action","payload":{"id":"P1.A8","priority":"P1","statements":["Grow the workforce",null]}}"#)
            #expect(nested.status == .badRequest && nested.body.contains("payload.statements[1]: null is not a value here"), "\(nested)")
            #expect(try node.node.store.heldTip(log).size == size + 2)
        }
    }

    /// Rows are an owner's data: posted public they would be served raw to every reader.
    @Test func publicDatasetRowsAreRefused() async throws {
        let node = try InProcessNode()
        defer { node.remove() }
        try await node.test(CertificateHeaderContext.self) { client, _ in
            let rows = #"{"type":"dataset.rows","payload":{"dataset":"headcount","period":"2025","rows":[{"band":"6","count":3}]}}"#
            let refused = try await Self.post(client, rows)
            #expect(refused.status == .badRequest && refused.body.contains("dataset.rows entries are a data owner's rows"), "\(refused)")
            let stated = #"{"type":"dataset.rows","classification":"public","payload":{"dataset":"headcount","period":"2025","rows":[]}}"#
            #expect(try await Self.post(client, stated).status == .badRequest)
        }
    }
}

/// A restricted payload's padded length follows its layout, not the digits of its counts: two
/// tables alike but for their counts pad alike, wherever a 4 KiB boundary falls.
@Suite struct PaddingTests {
    @Test func numbersAndNullsAreMeasuredAtTenCharactersOutsideStrings() {
        #expect(AppendAdmission.measuredLength(Array(#"{"x":"a\"1","n":12,"z":null}"#.utf8)) == 42)
        #expect(AppendAdmission.measuredLength(Array(#"{"n":-12345678901.5}"#.utf8)) == 20)
        #expect(AppendAdmission.measuredLength(Array(#"["9 in a string", true]"#.utf8)) == 23)
    }

    @Test func tablesThatDifferOnlyInTheirCountsPadToOneLength() {
        func table(_ counts: [Int], note: String) -> [UInt8] {
            Array(("{\"note\":\"" + note + "\",\"rows\":[" + counts.map { "{\"count\":\($0)}" }.joined(separator: ",") + "]}").utf8)
        }
        // Padding of the note moves the boundary across every position the digits could cross.
        for width in 0..<120 {
            let note = String(repeating: "n", count: 3_900 + width)
            let small = AppendAdmission.padded(table([9, 8, 10, 0], note: note))
            let large = AppendAdmission.padded(table([9_999_999_999, 12, 1_000_000, 3], note: note))
            #expect(small.count == large.count && small.count % 4096 == 0, "note of \(note.count): \(small.count) against \(large.count)")
        }
    }
}

/// One dataset and period recorded under two labels (an owner's retirement has holders record
/// their data again under the successor's labels) with methods that do not protect jointly is
/// refused: a reader keeping both tables could pin counts (finding 225).
@Suite struct SameDatasetTests {
    static func aggregate(label: String, dataset: String = "ot-headcount", period: String = "2025", minimum: Int, base: Int) -> JSONValue {
        .object(["label": .string(label), "dataset": .string(dataset), "period": .string(period),
                 "method": .object(["min_cell_size": .number(Double(minimum)), "rounding": .number(Double(base))])])
    }

    @Test func aMethodThatDoesNotProtectJointlyWithTheOtherLabelsIsRefused() {
        let rows: [String: Any] = ["dataset": "ot-headcount", "period": "2025", "rows": []]
        let held = [Self.aggregate(label: "heiw.workforce.ot", minimum: 10, base: 5)]
        let refused = AppendAdmission.sameDatasetConflict(rows: rows, label: "newowner.ot", method: (8, 6), held: held)
        #expect(refused?.contains("published under heiw.workforce.ot with min-cell-size 10, rounding 5") == true, "\(refused ?? "nil")")
        // The same method, or one that protects jointly with it, passes; so do another period,
        // another dataset, the same label (the per-label rule's), and rows naming no dataset.
        #expect(AppendAdmission.sameDatasetConflict(rows: rows, label: "newowner.ot", method: (10, 5), held: held) == nil)
        #expect(AppendAdmission.sameDatasetConflict(rows: rows, label: "newowner.ot", method: (10, 10), held: held) == nil)
        #expect(AppendAdmission.sameDatasetConflict(rows: ["dataset": "ot-headcount", "period": "2026"], label: "newowner.ot", method: (8, 6), held: held) == nil)
        #expect(AppendAdmission.sameDatasetConflict(rows: ["dataset": "other", "period": "2025"], label: "newowner.ot", method: (8, 6), held: held) == nil)
        #expect(AppendAdmission.sameDatasetConflict(rows: rows, label: "heiw.workforce.ot", method: (8, 6), held: held) == nil)
        #expect(AppendAdmission.sameDatasetConflict(rows: ["rows": []], label: "newowner.ot", method: (8, 6), held: held) == nil)
        // Rows take the exclusive path: two requests at once do not each pass without the other's.
        #expect(AppendAdmission.isExclusive(.object(["type": .string("dataset.rows"), "classification": .string("heiw.workforce.ot")])))
        #expect(!AppendAdmission.isExclusive(.object(["type": .string("progress.reading")])))
        // Names compared by letters and digits, case folded.
        let spelt = [Self.aggregate(label: "heiw.workforce.ot", dataset: "OT Headcount", period: " 2025 ", minimum: 10, base: 5)]
        #expect(AppendAdmission.sameDatasetConflict(rows: rows, label: "newowner.ot", method: (8, 6), held: spelt) != nil)
        // A method held as a number no Int holds is skipped, not trapped on.
        let odd: [JSONValue] = [.object(["label": .string("x"), "dataset": .string("ot-headcount"), "period": .string("2025"),
                                         "method": .object(["min_cell_size": .number(1e300), "rounding": .number(.nan)])])]
        #expect(AppendAdmission.sameDatasetConflict(rows: rows, label: "newowner.ot", method: (8, 6), held: odd) == nil)
        // A quarter of the year published under the other label is the same counts too.
        #expect(AppendAdmission.sameDatasetConflict(rows: ["dataset": "ot-headcount", "period": "2025-Q3"], label: "newowner.ot", method: (8, 6), held: held) != nil)
    }
}

/// Tables of one dataset under one label at two levels of detail (a year and its quarters, a
/// band group beside its bands) let a reader bound and pin hidden cells from the coarser
/// table's rounded true sums: refused at the append (finding 250).
@Suite struct DatasetLayoutTests {
    static func held(period: String, rows: (String, [String]) = ("band", ["5", "6", "7"]), columns: (String, [String]) = ("board", ["Cardiff", "Powys"]),
                     label: String = "heiw.workforce.ot", dataset: String = "ot-joiners") -> JSONValue {
        .object(["label": .string(label), "dataset": .string(dataset), "period": .string(period),
                 "rows": .object(["name": .string(rows.0), "labels": .array(rows.1.map(JSONValue.string))]),
                 "columns": .object(["name": .string(columns.0), "labels": .array(columns.1.map(JSONValue.string))])])
    }
    static func rows(_ period: String?, dataset: String? = "ot-joiners", bands: [String] = ["5", "6", "7"], boards: [String] = ["Cardiff", "Powys"]) -> [String: Any] {
        var out: [String: Any] = ["rows": bands.flatMap { band in boards.map { ["band": band, "board": $0, "count": 3] as [String: Any] } }]
        if let dataset { out["dataset"] = dataset }
        if let period { out["period"] = period }
        return out
    }
    static func conflict(_ rows: [String: Any], _ held: [JSONValue], label: String = "heiw.workforce.ot") -> String? {
        AppendAdmission.layoutConflict(rows: rows, label: label, held: held)
    }

    @Test func periodsThatOverlapWithoutBeingOneAreRefused() {
        let quarters = ["2025-Q1", "2025-Q2"].map { Self.held(period: $0) }
        // The year over its quarters, a month inside one, another quarter's months: refused.
        #expect(Self.conflict(Self.rows("2025"), quarters)?.contains("2025 overlaps 2025-Q1") == true, "\(Self.conflict(Self.rows("2025"), quarters) ?? "nil")")
        #expect(Self.conflict(Self.rows("2025-05"), quarters)?.contains("overlaps 2025-Q2") == true)
        #expect(Self.conflict(Self.rows("2025"), [Self.held(period: "2025-12-31")])?.contains("a period, and dataset ot-joiners has tables of days") == true)
        // The next quarter, the same quarter again (a table recorded again), another dataset,
        // another label, a day beside other days: taken.
        #expect(Self.conflict(Self.rows("2025-Q3"), quarters) == nil)
        #expect(Self.conflict(Self.rows("2025-Q2"), quarters) == nil)
        #expect(Self.conflict(Self.rows("2025", dataset: "ot-leavers"), quarters) == nil)
        #expect(Self.conflict(Self.rows("2025"), quarters, label: "heiw.workforce.other") == nil)
        #expect(Self.conflict(Self.rows("2025-06-30"), [Self.held(period: "2025-03-31")]) == nil)
        // Names compared as the cross-label rule compares them.
        #expect(Self.conflict(Self.rows("2025", dataset: "OT Joiners"), quarters) != nil)
        // A day beside a day of another dataset kind is refused as a day beside periods.
        #expect(Self.conflict(Self.rows("2024-02"), [Self.held(period: "2024-02-29")])?.contains("a period, and dataset ot-joiners has tables of days") == true)
    }

    /// Finding 283: a dataset named to look like another (an invisible grapheme joiner, a
    /// Cyrillic letter, full-width letters) is the other, or refused: its year is not set
    /// beside the first's quarters with nothing compared.
    @Test func aDatasetNamedToLookLikeAnotherIsTheOtherOrRefused() {
        let quarters = ["2025-Q1", "2025-Q2"].map { Self.held(period: $0) }
        // Full-width letters and accents fold to the same dataset: the year over its quarters is refused.
        for lookalike in ["ｏｔ-joiners", "OT Jo\u{0301}iners", "ot-joiners\u{FE0F}"] {
            let found = Self.conflict(Self.rows("2025", dataset: lookalike), quarters)
            #expect(found?.contains("overlaps") == true || found?.contains("invisible") == true, "\(lookalike): \(found ?? "nil")")
        }
        #expect(AppendAdmission.datasetKey("ｏｔ-Jöiners") == AppendAdmission.datasetKey("ot-joiners"))
        // An invisible character or a letter of another alphabet: refused whatever is held.
        let joiner = Self.conflict(Self.rows("2025", dataset: "ot-join\u{034F}ers"), [])
        #expect(joiner?.contains("invisible character U+034F") == true, "\(joiner ?? "nil")")
        let cyrillic = Self.conflict(Self.rows("2025", dataset: "\u{043E}t-joiners"), [])
        #expect(cyrillic?.contains("not a Latin letter or a digit") == true, "\(cyrillic ?? "nil")")
        // A right-to-left mark in a dimension's row label, a look-alike colon in one: refused.
        var marked = Self.rows("2025-Q3")
        marked["rows"] = [["band": "5\u{200F}", "board": "Cardiff", "count": 3]]
        #expect(Self.conflict(marked, [])?.contains("payload.rows[0].band: an invisible character U+200F") == true, "\(Self.conflict(marked, []) ?? "nil")")
        marked["rows"] = [["band": "5\u{A789} 6", "board": "Cardiff", "count": 3]]
        #expect(Self.conflict(marked, [])?.contains("reads as a separator") == true)
        // A name is bounded (it is folded for every held table at each append).
        let long = Self.conflict(Self.rows("2025", dataset: String(repeating: "\u{FDFA}", count: 201)), [])
        #expect(long?.contains("at most 200 characters") == true, "\(long ?? "nil")")
        // Welsh and accented Latin names are names.
        #expect(Self.conflict(Self.rows("2025", dataset: "Gweithlu ŵyr — café"), []) == nil)
    }

    @Test func rowsNamingNoDatasetOrAPeriodOfNoKnownFormAreRefused() {
        #expect(Self.conflict(Self.rows("2025", dataset: nil), [])?.contains("must name their \"dataset\" and \"period\"") == true)
        #expect(Self.conflict(Self.rows(nil), [])?.contains("must name") == true)
        #expect(Self.conflict(Self.rows("2025", dataset: " - "), [])?.contains("must name") == true)
        for bad in ["Q1 2025", "2025-Q5", "2025-13", "2025-02-30", "FY2025", ""] {
            #expect(Self.conflict(Self.rows(bad), [])?.hasPrefix("payload.period: expected YYYY") == true, "\(bad)")
        }
        for good in ["2025", "2025-Q4", "2025-11", "2025-03-31"] { #expect(Self.conflict(Self.rows(good), []) == nil, "\(good)") }
    }

    @Test func aRegroupingOrOtherDimensionsAreRefusedAMissingGroupIsNot() {
        let held = [Self.held(period: "2025-Q1", rows: ("band", ["5", "6", "7", "8a", "8b", "8c"]))]
        // 8b and 8c as one group: refused.
        let regrouped = Self.conflict(Self.rows("2025-Q2", bands: ["5", "6", "7", "8a", "8b+"]), held)
        #expect(regrouped?.contains("the band values 8b+ regroup") == true, "\(regrouped ?? "nil")")
        // Board alone, or band by region: other dimensions, refused.
        #expect(Self.conflict(["dataset": "ot-joiners", "period": "2025-Q2", "rows": [["board": "Cardiff", "count": 4]]], held)?.contains("a table of band × board") == true)
        #expect(Self.conflict(["dataset": "ot-joiners", "period": "2025-Q2", "rows": [["band": "5", "region": "South", "count": 4]]], held)?.contains("band × region") == true)
        // A band with nobody that quarter, or a new one beside all the old: taken.
        #expect(Self.conflict(Self.rows("2025-Q2", bands: ["5", "6", "7"]), held) == nil)
        #expect(Self.conflict(Self.rows("2025-Q2", bands: ["5", "6", "7", "8a", "8b", "8c", "8d"]), held) == nil)
        #expect(Self.conflict(Self.rows("2025-Q2", boards: ["Cardiff"]), held) == nil)
        // A row without a dimension the first row has would be counted under "all" (a group
        // beside its parts): refused, first table or not.
        var rows = Self.rows("2025-Q2")
        rows["rows"] = (rows["rows"] as! [[String: Any]]) + [["band": "8b", "count": 9]]
        #expect(Self.conflict(rows, held)?.contains("payload.rows[6]: no text \"board\", which the first row has") == true)
        #expect(Self.conflict(rows, [])?.contains("no text \"board\"") == true)
    }

    /// A table of the dataset recorded before periods were read (none, or free text) cannot be
    /// placed: only that period again goes beside it.
    @Test func aTableWhosePeriodCannotBePlacedTakesOnlyItsOwnPeriodBeside() {
        let legacy = [Self.held(period: "2025/26")]
        #expect(Self.conflict(Self.rows("2025-Q1"), legacy)?.contains("whose period this node cannot place (2025/26") == true)
        var none = Self.held(period: "x")
        if case .object(var fields) = none { fields["period"] = nil; none = .object(fields) }
        #expect(Self.conflict(Self.rows("2025"), [none])?.contains("cannot place (none") == true)
        // Another dataset beside it is untouched.
        #expect(Self.conflict(Self.rows("2025-Q1", dataset: "ot-leavers"), legacy) == nil)
    }
}
