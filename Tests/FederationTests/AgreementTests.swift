import Foundation
import QuartetHarness
import QuartetStore
import QuartetTestKit
import Testing

/// Agreements and restricted data at a test federation, through the CLI as people use it.
extension LocalFederation {
    var readerToken: String { (demo["reader"] as! [String: Any])["token"] as! String }
    func operatorToken(_ node: String) -> String { path(node, "operator_token") }

    /// `quartet agreement sign` with the demo's key of `owner` (or `key`); the signed note's path.
    func signAgreement(id: String, owner: String = "HEIW", holder: String = "wales", label: String = "heiw.workforce.headcount",
                       recipients: [String], validUntil: String = "2028-01-01T00:00:00Z", key: String? = nil) throws -> String {
        guard let ownerKey = key ?? (demo["owner_keys"] as? [String: String])?[owner] else { throw TestKitError("no demo key for \(owner)") }
        let note = root.appendingPathComponent("\(id).note").path
        let result = try TestKit.quartet(["agreement", "sign", "--key", ownerKey, "--owner", owner, "--id", id, "--holder", holder, "--label", label]
                                         + recipients.flatMap { ["--recipient", $0] }
                                         + ["--purpose", "UK OT workforce planning", "--valid-from", "2024-01-01T00:00:00Z",
                                            "--valid-until", validUntil, "--min-cell-size", "5", "--out", note])
        guard result.status == 0 else { throw TestKitError("agreement sign: \(result.stderr)") }
        // Minimum 5 publishes counts NHS practice hides (5 to 7): said before signing.
        guard result.stderr.contains("warning: min-cell-size 5 with rounding 5 publishes true counts from 5") else {
            throw TestKitError("agreement sign said nothing of a minimum below NHS practice: \(result.stderr)")
        }
        return note
    }

    /// `quartet agreement establish` at `node`, as its operator.
    func establishAgreement(_ note: String, at node: String = "wales") throws -> TestKit.ProcessResult {
        try TestKit.quartet(["agreement", "establish", note, "--config", config(node), "--token", operatorToken(node)])
    }

    /// `quartet record dataset` at `node`, as its operator, with JSON output.
    /// (Rows that name no dataset are given one of their own, for 2025: the node sets each table
    /// of a dataset against its others, `AppendAdmission.layoutConflict`.)
    func recordRows(_ payload: [String: Any], label: String = "heiw.workforce.headcount", at node: String = "wales") throws -> TestKit.ProcessResult {
        let file = root.appendingPathComponent("rows-\(UUID().uuidString).json")
        var payload = payload
        if payload["dataset"] == nil { payload["dataset"] = "rows-\(UUID().uuidString.prefix(8))"; payload["period"] = "2025" }
        try JSONSerialization.data(withJSONObject: payload).write(to: file)
        return try TestKit.quartet(["record", "dataset", "--label", label, "--payload", file.path, "--config", config(node),
                                    "--token", operatorToken(node), "--format", "json"])
    }

    /// The index a `--format json` receipt names.
    static func index(_ result: TestKit.ProcessResult) -> Int? {
        (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["index"] as? Int
    }
}

/// Data-sharing agreements on the ledger with real processes: countersigned by the data owner,
/// established at the holder, honoured at the aggregator; without the owner's countersignature
/// refused at append and, when a modified node appends one anyway, ignored where it arrives.
@Suite(.serialized) struct AgreementLedgerTests {
    @Test func onlyAgreementsCountersignedByTheOwnerAreHonoured() async throws {
        let federation = try LocalFederation()
        try federation.start(["uk", "wales"], onePeerAnswers: true)
        defer { federation.stop() }
        let ownerKeys = try #require(federation.demo["owner_keys"] as? [String: String])
        let walesToken = federation.operatorToken("wales")
        let readerToken = federation.readerToken
        func sign(id: String, key: String, holder: String = "wales") throws -> String {
            try federation.signAgreement(id: id, holder: holder, recipients: ["uk=aggregate"] + (holder == "england" ? [] : ["england=none"]), key: key)
        }
        func establish(_ note: String) throws -> TestKit.ProcessResult { try federation.establishAgreement(note) }

        // Countersigned by HEIW's pinned key: on the ledger.
        let good = try sign(id: "HEIW-2024", key: try #require(ownerKeys["HEIW"]))
        let first = try establish(good)
        #expect(first.status == 0, "\(first)")
        let again = try establish(good)
        #expect(again.status != 0 && again.stderr.contains("already on the ledger"), "\(again)")
        // Signed with another owner's key under HEIW's name: refused, naming why.
        let forged = try sign(id: "HEIW-2024-B", key: try #require(ownerKeys["NHS-SCOTLAND"]))
        let refused = try establish(forged)
        #expect(refused.status != 0 && refused.stderr.contains("not countersigned by data owner HEIW"), "\(refused)")
        // For another holder: refused at wales.
        let elsewhere = try establish(try sign(id: "HEIW-2024-C", key: try #require(ownerKeys["HEIW"]), holder: "england"))
        #expect(elsewhere.status != 0 && elsewhere.stderr.contains("can only be appended to the england log"), "\(elsewhere)")

        // A modified wales appends the forged agreement anyway (past the API's checks, into its
        // store; the stock `quartet append` refuses agreement entries offline).
        federation.stop()
        let payload = federation.root.appendingPathComponent("forged.json")
        let note = try String(contentsOfFile: forged, encoding: .utf8)
        try JSONSerialization.data(withJSONObject: ["note": note]).write(to: payload)
        let offline = try TestKit.quartet(["append", "--data", federation.path("wales", "data"), "--type", "agreement.established", "--payload", payload.path])
        #expect(offline.status != 0 && offline.stderr.contains("through the node's API"), "\(offline)")
        let store = try LedgerStore.open(DataDirectory(path: federation.path("wales", "data")), mode: .writer)
        _ = try await LogWriter(store: store, log: "wales").append(AppendRequest(type: "agreement.established", author: "modified-wales",
                                                                                  payload: Array(try Data(contentsOf: payload))))
        try store.close()
        try federation.start(["uk", "wales"], onePeerAnswers: true)

        // uk honours the countersigned agreement and ignores the forged one.
        var listing: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            listing = try federation.get("uk", "/v1/agreements")
            if (listing["ignored"] as? [Any])?.isEmpty == false { break }
            usleep(200_000)
        }
        let agreements = try #require(listing["agreements"] as? [[String: Any]])
        #expect(agreements.map { $0["id"] as? String } == ["HEIW-2024"], "\(listing)")
        #expect(agreements.first?["status"] as? String == "in-force")
        #expect((agreements.first?["recipients"] as? [String: String]) == ["uk": "aggregate", "england": "none"])
        let ignored = try #require(listing["ignored"] as? [[String: Any]])
        #expect(ignored.count == 1 && (ignored.first?["reason"] as? String)?.contains("not countersigned by data owner HEIW") == true, "\(ignored)")
        #expect(ignored.first?["log"] as? String == "wales")

        // Revocation by the holder, seen at uk.
        let revoked = try TestKit.quartet(["agreement", "revoke", "--id", "HEIW-2024", "--reason", "owner withdrew consent",
                                           "--config", federation.config("wales"), "--token", walesToken])
        #expect(revoked.status == 0, "\(revoked)")
        var status = ""
        let revokeDeadline = Date().addingTimeInterval(30)
        while Date() < revokeDeadline && status != "revoked" {
            status = try federation.get("uk", "/v1/agreements/HEIW-2024")["status"] as? String ?? ""
            usleep(200_000)
        }
        #expect(status == "revoked")
        // Replication goes on after the revocation (a recipient with frames still queued would
        // have had its connection reset, finding 286: `AgreementEndResetsTests`).
        let after = try federation.append("wales", #"{"after":"revocation"}"#)
        _ = try federation.waitConverged(["uk"]) { federation.size($0, "wales") == Int(after) + 1 }
        let list = try TestKit.quartet(["agreement", "list", "--config", federation.config("uk"), "--token", readerToken])
        #expect(list.status == 0 && list.stdout.contains("HEIW-2024  revoked") && list.stdout.contains("ignored wales/"), "\(list)")
        // The dashboard shows them.
        let dashboard = try federation.curl(["-H", "authorization: Bearer \(readerToken)", "\(federation.api("uk"))/"])
        #expect(dashboard.body.contains("Data-sharing agreements") && dashboard.body.contains("HEIW-2024") && dashboard.body.contains("1 agreement entry ignored"))
    }
}

/// Restricted data under agreements with real processes: the payload reaches only nodes an
/// agreement in force gives full access, directly or through relays; everywhere else the entry
/// is a stub, and the bytes are not on disk.
@Suite(.serialized) struct RestrictedDataTests {
    /// Whether any file under `directory` contains `marker`.
    func onDisk(_ marker: String, under directory: String) throws -> Bool {
        let needle = Data(marker.utf8)
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            let path = (directory as NSString).appendingPathComponent(relative)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = FileManager.default.contents(atPath: path) else { continue }
            if data.range(of: needle) != nil { return true }
        }
        return false
    }

    @Test func aRestrictedRowGoesNowhereWithoutFullAccess() throws {
        let federation = try LocalFederation()
        try federation.start()
        defer { federation.stop() }
        let walesToken = federation.operatorToken("wales")
        let readerToken = federation.readerToken
        // HEIW's agreement: uk may have aggregates only, england nothing.
        let note = try federation.signAgreement(id: "HEIW-2024", recipients: ["uk=aggregate", "england=none"])
        #expect(try federation.establishAgreement(note).status == 0)

        // A restricted row with a unique marker, recorded at wales.
        let marker = "MARKER-\(UUID().uuidString)"
        let rows: [String: Any] = ["dataset": "ot-headcount-by-band-and-board", "period": "2025",
                                   "rows": [["band": "6", "board": "Cardiff and Vale", "count": 3, "note": marker]]]
        let recorded = try federation.recordRows(rows)
        #expect(recorded.status == 0, "\(recorded)")
        let index = try #require(LocalFederation.index(recorded))
        // A label no agreement here covers is refused.
        let uncovered = try federation.recordRows(rows, label: "nhss.workforce.headcount")
        #expect(uncovered.status != 0 && uncovered.stderr.contains("no data-sharing agreement in force covers"), "\(uncovered)")
        // Something public after it, so the log moves on.
        try federation.append("wales", #"{"after":"the row"}"#)

        let heads = try federation.waitConverged(LocalFederation.all) { federation.size($0, "wales") >= index + 3 }
        #expect(federation.size(heads, "wales") >= index + 3, "the row, its aggregate, the public entry (and disclosure records)")
        // The bytes are at wales only.
        #expect(try onDisk(marker, under: federation.path("wales", "data")), "the marker should be in wales's own data directory")
        for node in ["uk", "england", "scotland", "northern-ireland"] {
            #expect(try !onDisk(marker, under: federation.path(node, "data")), "the restricted row reached \(node)'s disk")
        }
        // uk has aggregate access: it holds the published aggregate, the single small count suppressed.
        var aggregates: [[String: Any]] = []
        let aggregateDeadline = Date().addingTimeInterval(15)
        while Date() < aggregateDeadline && aggregates.isEmpty {
            aggregates = try federation.get("uk", "/v1/view/aggregates")["aggregates"] as? [[String: Any]] ?? []
            if aggregates.isEmpty { usleep(100_000) }
        }
        let aggregate = try #require(aggregates.first { $0["log"] as? String == "wales" }, "\(aggregates)")
        #expect(aggregate["label"] as? String == "heiw.workforce.headcount" && aggregate["min_cell_size"] as? Int == 5)
        #expect((aggregate["cells"] as? [[Any]])?.first?.first is NSNull, "the count of 3 must be suppressed: \(aggregate)")
        #expect((aggregate["row_totals"] as? [Any])?.first is NSNull, "a lone suppressed cell hides its total too")
        #expect(((aggregate["rows"] as? [String: Any])?["name"] as? String) == "band")
        // england (no access) has neither the rows nor the aggregate.
        #expect((try federation.get("england", "/v1/view/aggregates")["aggregates"] as? [Any])?.isEmpty == true)
        // Egress did it: wales (and every relay) sent stubs, so no node had to refuse a payload.
        for node in ["uk", "england", "scotland", "northern-ireland"] {
            let alerts = try federation.get(node, "/v1/alerts")["alerts"] as! [[String: Any]]
            #expect(!alerts.contains { $0["kind"] as? String == "violation" }, "\(node): \(alerts)")
        }
        // Everyone else holds the stub, which verifies like any entry.
        let atUK = try federation.get("uk", "/v1/logs/wales/entries?from=\(index)&limit=1")
        let stub = try #require((atUK["entries"] as? [[String: Any]])?.first)
        #expect(stub["payload"] is NSNull && stub["classification"] as? String == "heiw.workforce.headcount")
        // The row and its aggregate are padded to 4 KiB: their lengths, in headers every node and
        // reader sees, say nothing of the counts (nor, for the aggregate, of what it suppressed).
        let pair = try #require(try federation.get("uk", "/v1/logs/wales/entries?from=\(index)&limit=2")["entries"] as? [[String: Any]])
        #expect(pair.count == 2 && pair.last?["type"] as? String == "dataset.aggregate", "\(pair)")
        #expect(pair.allSatisfy { ($0["payload_length"] as? Int).map { $0 > 0 && $0 % 4096 == 0 } == true }, "\(pair.map { $0["payload_length"] ?? "?" })")
        // Through wales's API: its operator sees the row, a reader the stub.
        let asOperator = try federation.curl(["-H", "authorization: Bearer \(walesToken)", "\(federation.api("wales"))/v1/logs/wales/entries?from=\(index)&limit=1"])
        #expect(asOperator.body.contains(marker))
        let asReader = try federation.curl(["-H", "authorization: Bearer \(readerToken)", "\(federation.api("wales"))/v1/logs/wales/entries?from=\(index)&limit=1"])
        #expect(asReader.status == 200 && !asReader.body.contains(marker))
        // England is `none` in the agreement: its operator reads at uk neither the aggregate in
        // the view nor its payload in the log, though readers do (the agreement publishes it to
        // them); wales's operator, the holder's, does.
        let england = ["--cert", federation.path("england", "operator_certificate"), "--key", federation.path("england", "operator_key")]
        for path in ["/v1/view/aggregates", "/v1/view"] {
            let seen = try federation.curl(england + ["\(federation.api("uk"))\(path)"])
            #expect(seen.status == 200 && !seen.body.contains("\"min_cell_size\""), "\(path): \(seen.body.prefix(400))")
        }
        let englandEntries = try federation.curl(england + ["\(federation.api("uk"))/v1/logs/wales/entries?from=\(index + 1)&limit=1"])
        #expect(englandEntries.status == 200 && englandEntries.body.contains("\"payload\":null"), "\(englandEntries.body.prefix(400))")
        let holder = try federation.curl(["--cert", federation.path("wales", "operator_certificate"), "--key", federation.path("wales", "operator_key"),
                                          "\(federation.api("uk"))/v1/view/aggregates"])
        #expect(holder.status == 200 && holder.body.contains("\"min_cell_size\""), "\(holder.body.prefix(400))")
        // Every node still verifies the whole log offline from its bytes after stopping.
        federation.stop()
        for node in LocalFederation.all {
            let verify = try TestKit.quartet(["verify", "--data", federation.path(node, "data")])
            #expect(verify.status == 0, "\(node): \(verify.stdout) \(verify.stderr)")
        }
    }
}

extension RestrictedDataTests {
    @Test func aFullAccessRecipientGetsThePayloadAndTheSenderRecordsTheDisclosure() throws {
        let federation = try LocalFederation()
        try federation.start()
        defer { federation.stop() }
        let walesToken = federation.operatorToken("wales")
        let readerToken = federation.readerToken
        let note = try federation.signAgreement(id: "HEIW-2024", recipients: ["england=full", "uk=aggregate"])
        #expect(try federation.establishAgreement(note).status == 0)
        let marker = "SHARED-\(UUID().uuidString)"
        let recorded = try federation.recordRows(["rows": [["band": "7", "count": 14, "note": marker]]])
        let index = try #require(LocalFederation.index(recorded), "\(recorded)")

        // The disclosure to england is recorded in wales's own log, which replicates like any public entry.
        var disclosures: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && disclosures.isEmpty {
            let answer = try federation.curl(["-H", "authorization: Bearer \(walesToken)", "\(federation.api("wales"))/v1/agreements/HEIW-2024/disclosures"])
            disclosures = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["disclosures"] as? [[String: Any]] ?? []
            if disclosures.isEmpty { usleep(200_000) }
        }
        func covers(_ d: [String: Any], _ i: Int) -> Bool { (d["ranges"] as? [[Int]] ?? []).contains { $0.count == 2 && $0[0] <= i && i <= $0[1] } }
        #expect(disclosures.contains { $0["recipient"] as? String == "england" && $0["access"] as? String == "full" && covers($0, index) }, "\(disclosures)")
        // uk (aggregate access) was sent the aggregate only; nobody else anything.
        #expect(disclosures.allSatisfy { $0["recipient"] as? String == "england" || ($0["recipient"] as? String == "uk" && $0["access"] as? String == "aggregate") },
                "\(disclosures)")
        _ = try federation.waitConverged(LocalFederation.all) { federation.size($0, "wales") > index + 1 }
        #expect(try onDisk(marker, under: federation.path("england", "data")), "england has full access")
        for node in ["uk", "scotland", "northern-ireland"] {
            #expect(try !onDisk(marker, under: federation.path(node, "data")), "the row reached \(node)'s disk")
        }
        // Readers may not see disclosures; an auditor (by certificate) may, at any node.
        let asReader = try federation.curl(["-H", "authorization: Bearer \(readerToken)", "\(federation.api("uk"))/v1/agreements/HEIW-2024/disclosures"])
        #expect(asReader.status == 403, "\(asReader)")
        let auditorDir = federation.root.appendingPathComponent("pki/auditors").path
        let issued = try TestKit.quartet(["pki", "issue", "--ca", federation.root.appendingPathComponent("pki/ca").path, "--auditor", "heiw", "--out", auditorDir])
        #expect(issued.status == 0, "\(issued)")
        let asAuditor = try federation.curl(["--cert", "\(auditorDir)/auditor-heiw.pem", "--key", "\(auditorDir)/auditor-heiw.key",
                                             "\(federation.api("uk"))/v1/agreements/HEIW-2024/disclosures"])
        #expect(asAuditor.status == 200 && asAuditor.body.contains("england"), "\(asAuditor)")
        // In pages: one record a page, each page after the last; bad page parameters are 400s.
        let route = "\(federation.api("wales"))/v1/agreements/HEIW-2024/disclosures"
        func page(_ query: String) throws -> (status: Int, body: [String: Any]) {
            let answer = try federation.curl(["-H", "authorization: Bearer \(walesToken)", route + query])
            return (answer.status, (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:])
        }
        func records(_ body: [String: Any]) -> [String] {
            ((body["disclosures"] as? [[String: Any]] ?? []) + (body["purges"] as? [[String: Any]] ?? [])).map {
                let r = $0["record"] as? [String: Any] ?? [:]
                return "\(r["log"] as? String ?? "?"):\(r["index"] as? Int ?? -1)"
            }
        }
        var paged: [String] = []
        var after = ""
        for _ in 0..<50 {
            let answer = try page("?limit=1" + after)
            #expect(answer.status == 200 && records(answer.body).count == 1, "\(answer)")
            paged += records(answer.body)
            guard let next = answer.body["next"] as? String else { break }
            #expect(next == paged.last, "next names the page's last record")
            after = "&after=" + next
        }
        let whole = try page("")
        #expect(paged == records(whole.body).sorted { a, b in
            let (x, y) = (a.split(separator: ":"), b.split(separator: ":"))
            return (x[0], Int(x[1])!) < (y[0], Int(y[1])!)
        } && whole.body["total"] as? Int == paged.count,
                "\(paged) \(whole)")
        for bad in ["?limit=0", "?limit=1001", "?limit=-1", "?after=wales", "?after=Wales:1", "?after=wales:x", "?after=:3"] {
            #expect(try page(bad).status == 400, "\(bad)")
        }
        let audit = try TestKit.quartet(["audit", "--owner", "HEIW", "--config", federation.config("wales"), "--token", walesToken])
        #expect(audit.status == 0 && audit.stdout.contains("HEIW-2024") && audit.stdout.contains("→ england (full, recorded by wales at wales/")
                && !audit.stdout.contains("OUTSIDE"), "\(audit)")
        // The owner's id in any case is the owner; one the federation does not know is refused,
        // not an empty audit that exits 0.
        let lower = try TestKit.quartet(["audit", "--owner", "heiw", "--config", federation.config("wales"), "--token", walesToken])
        #expect(lower.status == 0 && lower.stdout.contains("HEIW-2024"), "\(lower)")
        let unknown = try TestKit.quartet(["audit", "--owner", "HEIW-TYPO", "--config", federation.config("wales"), "--token", walesToken])
        #expect(unknown.status != 0 && unknown.stderr.contains("no data owner of that id"), "\(unknown)")
        // With --require-witnessed the audit passes once the records are under a checkpoint a
        // quorum of wales's witnesses cosigned, and says who.
        var witnessedAudit = audit
        let auditDeadline = Date().addingTimeInterval(20)
        repeat {
            witnessedAudit = try TestKit.quartet(["audit", "--owner", "HEIW", "--require-witnessed", "--config", federation.config("wales"), "--token", walesToken])
            if witnessedAudit.status == 0 { break }
            usleep(250_000)
        } while Date() < auditDeadline
        #expect(witnessedAudit.status == 0 && witnessedAudit.stdout.contains("records in wales up to index") && witnessedAudit.stdout.contains("witnessed by"),
                "\(witnessedAudit)")
        // With the owner's own policy file, the audit checks it itself: the covering checkpoint
        // against the policy's keys and quorum, each record's entry and its inclusion.
        let federationFile = federation.root.appendingPathComponent("federation.json").path
        let policyFile = federation.root.appendingPathComponent("owner.policy").path
        try Data(try TestKit.quartet(["policy", "--federation", federationFile]).stdout.utf8).write(to: URL(fileURLWithPath: policyFile))
        var checkedAudit = audit
        let checkedDeadline = Date().addingTimeInterval(20)
        repeat {
            checkedAudit = try TestKit.quartet(["audit", "--owner", "HEIW", "--require-witnessed", "--policy", policyFile, "--config", federation.config("wales"), "--token", walesToken])
            if checkedAudit.status == 0 { break }
            usleep(250_000)
        } while Date() < checkedDeadline
        #expect(checkedAudit.status == 0 && checkedAudit.stdout.contains("record(s) checked here in the checkpoint of size")
                && checkedAudit.stdout.contains("which meets your policy"), "\(checkedAudit)")
        // A policy that trusts other log keys (scotland's alone): wales's records are not covered.
        let otherPolicy = federation.root.appendingPathComponent("scotland.policy").path
        try Data(try TestKit.quartet(["policy", "--federation", federationFile, "--log", "scotland"]).stdout.utf8).write(to: URL(fileURLWithPath: otherPolicy))
        let outside = try TestKit.quartet(["audit", "--owner", "HEIW", "--require-witnessed", "--policy", otherPolicy, "--config", federation.config("wales"), "--token", walesToken])
        #expect(outside.status == 3 && outside.stdout.contains("NOT shown covered under your policy") && outside.stdout.contains("does not meet your policy"), "\(outside)")
        // A policy asks for the coverage by itself: without --require-witnessed, the same.
        let outsideAlone = try TestKit.quartet(["audit", "--owner", "HEIW", "--policy", otherPolicy, "--config", federation.config("wales"), "--token", walesToken])
        #expect(outsideAlone.status == 3 && outsideAlone.stdout.contains("NOT shown covered under your policy"), "\(outsideAlone)")

        // Revocation: england purges the row (the stub stays), records the purge, and nothing new flows.
        let revoked = try TestKit.quartet(["agreement", "revoke", "--id", "HEIW-2024", "--reason", "consent withdrawn",
                                           "--config", federation.config("wales"), "--token", walesToken])
        #expect(revoked.status == 0, "\(revoked)")
        // Every holder records its own purge (uk's may come first): wait for england's.
        let englandPurged: ([String: Any]) -> Bool = {
            ($0["record"] as? [String: Any])?["log"] as? String == "england" && ($0["entries"] as? [Int])?.contains(index) == true
        }
        var purges: [[String: Any]] = []
        let purgeDeadline = Date().addingTimeInterval(30)
        while Date() < purgeDeadline && !purges.contains(where: englandPurged) {
            let answer = try federation.curl(["-H", "authorization: Bearer \(walesToken)", "\(federation.api("wales"))/v1/agreements/HEIW-2024/disclosures"])
            purges = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["purges"] as? [[String: Any]] ?? []
            if !purges.contains(where: englandPurged) { usleep(200_000) }
        }
        #expect(purges.contains(where: englandPurged), "\(purges)")
        let atEngland = try federation.get("england", "/v1/logs/wales/entries?from=\(index)&limit=1")
        #expect((atEngland["entries"] as? [[String: Any]])?.first?["payload"] is NSNull)
        #expect(try !onDisk(marker, under: federation.path("england", "data")), "england's disk still holds the purged row")
        let refused = try federation.recordRows(["rows": [["count": 9, "note": "LATER-\(UUID().uuidString)"]]])
        #expect(refused.status != 0 && refused.stderr.contains("no data-sharing agreement in force"), "\(refused)")
        federation.stop()
        #expect(try TestKit.quartet(["verify", "--data", federation.path("england", "data")]).status == 0)
    }
}

extension RestrictedDataTests {
    @Test func whenAnAgreementExpiresTheFlowStopsAndRecipientsPurge() throws {
        let federation = try LocalFederation()
        try federation.start(["wales", "england"], onePeerAnswers: true)
        defer { federation.stop() }
        let walesToken = federation.operatorToken("wales")
        // In force for the next few seconds only.
        let until = ISO8601DateFormatter().string(from: Date().addingTimeInterval(6))
        let note = try federation.signAgreement(id: "HEIW-SHORT", recipients: ["england=full"], validUntil: until)
        #expect(try federation.establishAgreement(note).status == 0)
        let marker = "EXPIRING-\(UUID().uuidString)"
        let rows: [String: Any] = ["rows": [["band": "5", "count": 21, "note": marker]]]
        let recorded = try federation.recordRows(rows)
        #expect(recorded.status == 0, "\(recorded)")
        var arrived = false
        for _ in 0..<50 where !arrived {
            arrived = try onDisk(marker, under: federation.path("england", "data"))
            if !arrived { usleep(100_000) }
        }
        #expect(arrived, "england has full access while the agreement is in force")
        // Expired: new rows are refused at once, and england purges (checked every second).
        Thread.sleep(forTimeInterval: 7)
        let late = try federation.recordRows(rows)
        #expect(late.status != 0 && late.stderr.contains("no data-sharing agreement in force"), "\(late)")
        var purged = false
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline && !purged {
            purged = try !onDisk(marker, under: federation.path("england", "data"))
            if !purged { usleep(500_000) }
        }
        #expect(purged, "england did not purge the row after the agreement expired")
        let answer = try federation.curl(["-H", "authorization: Bearer \(walesToken)", "\(federation.api("wales"))/v1/agreements/HEIW-SHORT"])
        #expect(answer.body.contains("\"status\":\"expired\""), "\(answer.body)")
    }

    /// A data owner rotating its key (a compromise, say) with a statement its old key signs:
    /// nodes take the new file, and every agreement the old key signed ends — recipients purge
    /// and record it, and its records stay readable by its id — rather than being dropped
    /// unpurged (docs/security.md, finding 153).
    @Test func anOwnersKeyRotationEndsWhatItsOldKeySignedAndRecipientsPurge() throws {
        let federation = try LocalFederation()
        try federation.start(["wales", "england"], onePeerAnswers: true)
        defer { federation.stop() }
        let walesToken = federation.operatorToken("wales")
        let note = try federation.signAgreement(id: "HEIW-OLD-KEY", recipients: ["england=full"])
        #expect(try federation.establishAgreement(note).status == 0)
        let marker = "ROTATED-\(UUID().uuidString)"
        let recorded = try federation.recordRows(["rows": [["band": "6", "count": 12, "note": marker]]])
        let index = try #require(LocalFederation.index(recorded), "\(recorded)")
        var arrived = false
        for _ in 0..<100 where !arrived {
            arrived = try onDisk(marker, under: federation.path("england", "data"))
            if !arrived { usleep(100_000) }
        }
        #expect(arrived, "england has full access while the agreement is in force")
        federation.stop()

        // HEIW's new key, and its statement signed by the old one; the members sign version 2.
        let oldKey = try #require((federation.demo["owner_keys"] as? [String: String])?["HEIW"])
        let made = try TestKit.quartet(["agreement", "keygen", "--owner", "HEIW", "--out", federation.root.appendingPathComponent("heiw-next").path, "--format", "json"])
        let newVkey = try #require((try JSONSerialization.jsonObject(with: Data(made.stdout.utf8)) as? [String: Any])?["vkey"] as? String, "\(made)")
        let path = federation.root.appendingPathComponent("federation.json").path
        var file = try ProvisionedFile.read(FederationFile.self, from: path)
        let at = try #require(file.owners?.firstIndex { $0.id == "HEIW" })
        // Its labels are named, not taken from the file (which is not checked here): without
        // them the change is refused, saying what the file lists.
        let labels = try #require(file.owners?[at].labels)
        let unnamed = try TestKit.quartet(["agreement", "owner-change", "--federation", path, "--key", oldKey, "--owner", "HEIW", "--new-vkey", newVkey])
        #expect(unnamed.status != 0 && unnamed.stderr.contains("--label") && labels.allSatisfy { unnamed.stderr.contains($0) }, "\(unnamed)")
        let change = try TestKit.quartet(["agreement", "owner-change", "--federation", path, "--key", oldKey, "--owner", "HEIW", "--new-vkey", newVkey, "--format", "json"]
                                         + labels.flatMap { ["--label", $0] })
        let statement = try #require((try JSONSerialization.jsonObject(with: Data(change.stdout.utf8)) as? [String: Any])?["statement"] as? String, "\(change)")
        // Without the statement the members' quorum alone cannot change the key: refused at start.
        file.version += 1
        file.owners![at].vkey = newVkey
        try federation.writeSigned(file, to: path)
        // (killed after 20 s if it does start).
        let refused = try TestKit.run(try #require(TestKit.which("timeout")), ["20", try TestKit.quartetBinary().path, "serve", "--config", federation.config("wales")])
        #expect(refused.status != 0 && refused.stderr.contains("without a statement signed by its key"), "\(refused)")
        file.version += 1
        file.owners![at].statements = [statement]
        try federation.writeSigned(file, to: path)
        try federation.start(["wales", "england"], onePeerAnswers: true)

        // England purges the row and records the purge under the agreement's id.
        var purged = false
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && !purged {
            purged = try !onDisk(marker, under: federation.path("england", "data"))
            if !purged { usleep(250_000) }
        }
        #expect(purged, "england still holds a row of an agreement signed by a key HEIW changed from")
        let agreement = try federation.curl(["-H", "authorization: Bearer \(walesToken)", "\(federation.api("wales"))/v1/agreements/HEIW-OLD-KEY"])
        #expect(agreement.status == 200 && agreement.body.contains("\"status\":\"withdrawn\""), "\(agreement)")
        var purges: [[String: Any]] = []
        let recordDeadline = Date().addingTimeInterval(30)
        repeat {
            let answer = try federation.curl(["-H", "authorization: Bearer \(walesToken)", "\(federation.api("wales"))/v1/agreements/HEIW-OLD-KEY/disclosures"])
            purges = (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["purges"] as? [[String: Any]] ?? []
            if purges.isEmpty { usleep(250_000) }
        } while purges.isEmpty && Date() < recordDeadline
        #expect(purges.contains { ($0["entries"] as? [Int])?.contains(index) == true && ($0["reason"] as? String) == "withdrawn" }, "\(purges)")
        // New rows under the old agreement are refused.
        let late = try federation.recordRows(["rows": [["count": 9, "note": "LATE-\(UUID().uuidString)"]]])
        #expect(late.status != 0 && late.stderr.contains("no data-sharing agreement in force"), "\(late)")
        // Both passes of england's purge done, a restart does not scan wales's log for it again.
        let marks = federation.path("england", "data") + "/purges-done"
        var marked = false
        let markDeadline = Date().addingTimeInterval(20)
        while Date() < markDeadline && !marked {
            marked = ((try? String(contentsOfFile: marks, encoding: .utf8)) ?? "").split(separator: "\n").contains { $0.hasPrefix("HEIW-OLD-KEY wales ") }
            if !marked { usleep(250_000) }
        }
        #expect(marked, "england noted no finished purge")
        _ = federation.processes["england"]?.stop(signal: SIGTERM, timeout: 10)
        federation.processes["england"] = try NodeProcess(config: federation.config("england"), arguments: LocalFederation.onePeerAnswers)
        #expect(federation.processes["england"]!.log.contains("purges finished before are not scanned for again"), "\(federation.processes["england"]!.log)")
    }
}
