import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetTestKit
import Testing

/// The plan domain end to end on five real processes: plans imported and progress recorded with
/// the CLI through the nodes' APIs, the combined view at the aggregator, provenance checked
/// against the pinned keys, CSV, access control, the dashboard.
@Suite(.serialized) struct ViewTests {
    static let plans = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/plans").path

    func token(_ federation: LocalFederation, operatorOf node: String) -> String { federation.path(node, "operator_token") }
    var readerTokenKey: String { "token" }

    /// Runs `quartet` and parses its JSON output.
    func quartetJSON(_ arguments: [String]) throws -> [String: Any] {
        let result = try TestKit.quartet(arguments + ["--format", "json"])
        guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw TestKitError("quartet \(arguments.joined(separator: " ")): \(result.status) \(result.stdout) \(result.stderr)")
        }
        return object
    }

    @Test func plansProgressAndTheCombinedViewAcrossFiveNodes() throws {
        let federation = try LocalFederation()
        try federation.start()
        defer { federation.stop() }
        let readerToken = (federation.demo["reader"] as! [String: Any])["token"] as! String

        // A plan the node would refuse (a year out of range) is refused by --dry-run too, naming
        // the item and the field, before anything is appended (it said "would append").
        let walesPlan = try String(contentsOfFile: "\(Self.plans)/wales-plan.yaml", encoding: .utf8)
        let year = try #require(walesPlan.range(of: "\n      start_year: 2024"), "no action's start_year: 2024 in the Wales plan")
        let badPlan = federation.root.appendingPathComponent("wales-plan.yaml")
        try Data(walesPlan.replacingCharacters(in: year, with: "\n      start_year: -2024").utf8).write(to: badPlan)
        for sibling in ["measures-catalogue.yaml", "quantitative-targets.yaml"] {
            try FileManager.default.copyItem(atPath: "\(Self.plans)/\(sibling)", toPath: federation.root.appendingPathComponent(sibling).path)
        }
        let dry = try TestKit.quartet(["import", "plan", badPlan.path, "--dry-run", "--config", federation.config("wales"), "--token", token(federation, operatorOf: "wales")])
        #expect(dry.status != 0 && dry.stderr.contains("plan.action P") && dry.stderr.contains("start_year") && dry.stderr.contains("got -2024;")
                && dry.stderr.contains("nothing would be appended"), "\(dry)")

        // Import: UK plan at uk, Wales plan at wales, the UK actions adopted at england.
        for (node, plan) in [("uk", "uk-plan.yaml"), ("wales", "wales-plan.yaml"), ("england", "uk-plan.yaml")] {
            let first = try quartetJSON(["import", "plan", "\(Self.plans)/\(plan)", "--config", federation.config(node), "--token", token(federation, operatorOf: node)])
            #expect(first["appended"] as? Int == first["planned"] as? Int && (first["planned"] as? Int ?? 0) > 50, "\(node): \(first)")
            let again = try quartetJSON(["import", "plan", "\(Self.plans)/\(plan)", "--config", federation.config(node), "--token", token(federation, operatorOf: node)])
            #expect(again["appended"] as? Int == 0, "\(node): importing twice appended \(again)")
        }
        // The Wales plan cannot go to england.
        let wrong = try TestKit.quartet(["import", "plan", "\(Self.plans)/wales-plan.yaml", "--config", federation.config("england"), "--token", token(federation, operatorOf: "england")])
        #expect(wrong.status != 0 && wrong.stderr.contains("import it into the wales log"), "\(wrong)")

        // Record progress with the CLI.
        let e1 = try quartetJSON(["record", "reading", "--measure", "P2.A2.M1", "--period", "2025-Q1", "--value", "2", "--config", federation.config("england"),
                                  "--token", token(federation, operatorOf: "england")])
        _ = try quartetJSON(["record", "reading", "--measure", "P2.A2.M1", "--period", "2025-Q2", "--value", "3", "--config", federation.config("england"),
                             "--token", token(federation, operatorOf: "england")])
        _ = try quartetJSON(["record", "status", "--action", "P2.A4", "--status", "at-risk", "--as-of", "2025-06-30", "--note", "venue lost",
                             "--config", federation.config("wales"), "--token", token(federation, operatorOf: "wales")])
        _ = try quartetJSON(["record", "reading", "--measure", "P2.A4.M1", "--period", "2025", "--value", "4", "--config", federation.config("wales"),
                             "--token", token(federation, operatorOf: "wales")])
        _ = try quartetJSON(["record", "evidence", "--action", "P1.A3", "--kind", "case-study", "--title", "Acute to community", "--link",
                             "https://example.org/cs/1", "--config", federation.config("wales"), "--token", token(federation, operatorOf: "wales")])
        #expect(e1["log"] as? String == "england")
        // A bad reading is refused with the field named, and nothing is appended.
        let bad = try TestKit.quartet(["record", "reading", "--measure", "P2.A2.M1", "--period", "2025-Q9", "--value", "1",
                                       "--config", federation.config("england"), "--token", token(federation, operatorOf: "england")])
        #expect(bad.status != 0 && bad.stderr.contains("payload.period"), "\(bad)")
        // Restricted data is refused without an agreement in force covering its label.
        let restricted = try federation.curl(["-H", "authorization: Bearer \(token(federation, operatorOf: "wales"))", "-H", "content-type: application/json", "-d",
                                              #"{"type":"dataset.rows","classification":"heiw.workforce.headcount","payload":{"rows":[]}}"#,
                                              "\(federation.api("wales"))/v1/logs/wales/entries"])
        #expect(restricted.status == 400 && restricted.body.contains("no data-sharing agreement in force covers"), "\(restricted)")
        // A reader may not record.
        let asReader = try TestKit.quartet(["record", "status", "--action", "P1.A1", "--status", "done", "--config", federation.config("england"), "--token", readerToken])
        #expect(asReader.status != 0 && asReader.stderr.contains("403"), "\(asReader)")
        // From a workstation: a client file names the node, its log, its API URL and the CA, and
        // holds none of the node's files (the node's configuration needs its private key).
        let client = federation.root.appendingPathComponent("wales-client.json")
        func writeClient(api: String) throws {
            try JSONSerialization.data(withJSONObject: ["node": "wales", "log": "wales", "api": api, "tls": ["ca": federation.ca]]).write(to: client)
        }
        try writeClient(api: federation.api("wales"))
        let fromAfar = try quartetJSON(["record", "evidence", "--action", "P1.A3", "--kind", "report", "--title", "From a workstation", "--link",
                                        "https://example.org/r/1", "--config", client.path, "--token", token(federation, operatorOf: "wales")])
        #expect(fromAfar["log"] as? String == "wales", "\(fromAfar)")
        let noCredential = try TestKit.quartet(["record", "status", "--action", "P1.A3", "--status", "done", "--config", client.path])
        #expect(noCredential.status != 0 && noCredential.stderr.contains("is a client file: give --cert and --key"), "\(noCredential)")
        try writeClient(api: federation.api("wales") + "/v1/logs/england")
        let withPath = try TestKit.quartet(["record", "status", "--action", "P1.A3", "--status", "done", "--config", client.path, "--token", token(federation, operatorOf: "wales")])
        #expect(withPath.status != 0 && withPath.stderr.contains("api") && withPath.stderr.contains("https://HOST[:PORT]"), "\(withPath)")

        // The aggregator's view: wait until every log has arrived.
        let deadline = Date().addingTimeInterval(30)
        var view: [String: Any] = [:]
        while Date() < deadline {
            view = try federation.get("uk", "/v1/view")
            let totals = view["totals"] as? [[String: Any]] ?? []
            let workshops = totals.first { $0["figure"] as? String == "total:P2.A2.M1:2025" }
            let events = totals.first { $0["figure"] as? String == "total:P2.A6.M1:2025" }
            if workshops?["value"] as? Double == 5, events?["value"] as? Double == 4 { break }
            usleep(200_000)
        }
        let totals = view["totals"] as? [[String: Any]] ?? []
        let workshops = try #require(totals.first { $0["figure"] as? String == "total:P2.A2.M1:2025" }, "\(totals)")
        #expect(workshops["value"] as? Double == 5)
        #expect(workshops["target"] as? Double == 10)
        #expect(workshops["progress"] as? Double == 0.5)
        #expect((workshops["contributions"] as? [String: Double]) == ["england": 5])
        let logs = try #require(view["logs"] as? [[String: Any]])
        #expect(logs.map { $0["log"] as? String } == ["uk", "wales", "england", "scotland", "northern-ireland"])
        let wales = try #require(logs.first { $0["log"] as? String == "wales" })
        #expect(wales["verified"] as? Bool == true)
        #expect(((wales["checkpoint"] as? [String: Any])?["size"] as? Int) == wales["entries"] as? Int)
        let p2 = try #require((view["priorities"] as? [[String: Any]])?.first { $0["id"] as? String == "P2" })
        let cells = try #require(p2["nations"] as? [String: [String: Any]])
        #expect(cells["wales"]?["colour"] as? String == "amber")
        // Wales's P2.A4 serves UK actions P2.A6 and P2.A2.
        let ukActions = try #require(p2["uk_actions"] as? [[String: Any]])
        #expect((ukActions.first { $0["id"] as? String == "P2.A2" }?["nations"] as? [String: [String]])?["wales"] == ["P2.A4"])

        // Provenance: every entry behind the figure, with an inclusion proof that verifies
        // against a checkpoint signed with the key the federation file pins.
        let provenance = try federation.get("uk", "/v1/view/figures/total:P2.A2.M1:2025/provenance")
        let federationFile = try JSONSerialization.jsonObject(with: Data(contentsOf: federation.root.appendingPathComponent("federation.json"))) as! [String: Any]
        var vkeys: [String: String] = [:]
        for node in federationFile["nodes"] as! [[String: Any]] { vkeys[node["id"] as! String] = node["vkey"] as? String }
        let checkpoints = try #require(provenance["checkpoints"] as? [String: String])
        let items = try #require(provenance["entries"] as? [[String: Any]])
        #expect(items.count >= 4, "readings and the measure definitions: \(items.count)")
        var types = Set<String>()
        for item in items {
            let entry = try #require(item["entry"] as? [String: Any])
            let proof = try #require(item["inclusion"] as? [String: Any])
            let log = try #require(entry["log"] as? String)
            let vkey = try #require(vkeys[log])
            let note = try #require(checkpoints[log])
            let checkpoint = try NoteVerifier(vkey: vkey).verifyCheckpoint(try SignedNote(parsing: note))
            let headerText = try #require(entry["header"] as? String)
            let header = try #require(Base64.decode(headerText))
            let path = try (proof["proof"] as! [String]).map { text -> Hash in
                guard let bytes = Base64.decode(text) else { throw TestKitError("proof hash \(text) is not base64") }
                return try Hash(bytes)
            }
            try Merkle.verifyInclusion(index: UInt64(entry["index"] as! Int), size: checkpoint.size, leaf: .leaf(header),
                                       proof: path, root: checkpoint.root)
            #expect(UInt64(proof["size"] as! Int) == checkpoint.size)
            types.insert(entry["type"] as! String)
        }
        // The readings, the measures' definitions and the entries defining their actions (a
        // reader's recompute takes a measure only under an action its log has).
        #expect(types == ["progress.reading", "plan.measure", "plan.action"])
        // The value to recompute, from the same view as the entries.
        #expect(provenance["stated"] as? Double == 5, "\(provenance["stated"] ?? "none")")
        let unknown = try federation.curl(["-H", "authorization: Bearer \(readerToken)", "\(federation.api("uk"))/v1/view/figures/total:P9.A1.M1:2025/provenance"])
        #expect(unknown.status == 404 && unknown.body.contains("no UK total"), "\(unknown)")

        // A measure across the logs, with a period; CSV by header and by parameter.
        let measure = try federation.get("uk", "/v1/view/measures/P2.A2.M1?period=2025")
        #expect((measure["series"] as? [[String: Any]])?.contains { $0["log"] as? String == "england" && ($0["readings"] as? [Any])?.count == 2 } == true)
        let csvByHeader = try federation.curl(["-H", "authorization: Bearer \(readerToken)", "-H", "accept: text/csv", "\(federation.api("uk"))/v1/view/totals"])
        #expect(csvByHeader.status == 200 && csvByHeader.body.hasPrefix("measure,period,value,target,progress,wales,england,scotland,northern-ireland,entries"), "\(csvByHeader)")
        #expect(csvByHeader.body.contains("P2.A2.M1,2025,5,10,0.5,,5,,,2"), "\(csvByHeader.body)")
        #expect(csvByHeader.body.contains("P2.A2.M1,2025-Q2,3,,,,3,,,1"), "\(csvByHeader.body)")
        let csvByParameter = try federation.curl(["-H", "authorization: Bearer \(readerToken)", "\(federation.api("uk"))/v1/view/nations/wales?format=csv"])
        #expect(csvByParameter.body.contains("P2,wales,P2.A4,P2.A6 P2.A2,at-risk,2025-06-30,,0,"), "\(csvByParameter.body.prefix(400))")
        let badPeriod = try federation.curl(["-H", "authorization: Bearer \(readerToken)", "\(federation.api("uk"))/v1/view/measures/P2.A2.M1?period=2025-13"])
        #expect(badPeriod.status == 400 && badPeriod.body.contains("period"), "\(badPeriod)")

        // `quartet view` in the terminal.
        let table = try TestKit.quartet(["view", "--config", federation.config("uk"), "--token", readerToken])
        #expect(table.status == 0 && table.stdout.contains("P2.A2.M1 2025") && table.stdout.contains("of target 10"), "\(table)")
        let nationTable = try TestKit.quartet(["view", "--config", federation.config("uk"), "--token", readerToken, "--nation", "wales"])
        #expect(nationTable.status == 0 && nationTable.stdout.contains("wales P2.A4") && nationTable.stdout.contains("at-risk"), "\(nationTable)")
        let priorityTable = try TestKit.quartet(["view", "--config", federation.config("uk"), "--token", readerToken, "--priority", "P2"])
        #expect(priorityTable.status == 0 && priorityTable.stdout.contains("Demonstrating value and impact") && priorityTable.stdout.contains("amber"), "\(priorityTable)")
        let csv = try TestKit.quartet(["view", "--config", federation.config("uk"), "--token", readerToken, "--measure", "P2.A2.M1", "--format", "csv"])
        #expect(csv.status == 0 && csv.stdout.contains("england,P2.A2.M1,P2.A2.M1,count,2025-Q2,3"), "\(csv)")

        // Access: only /healthz without credentials; wrong tokens 401; errors are JSON with a request id.
        let anonymousHealth = try federation.curl(["\(federation.api("uk"))/healthz"])
        #expect(anonymousHealth.status == 200)
        for path in ["/v1/view", "/v1/logs", "/metrics", "/v1/peers", "/v1/alerts"] {
            let anonymous = try federation.curl(["\(federation.api("uk"))\(path)"])
            #expect(anonymous.status == 401, "\(path): \(anonymous)")
            let object = try JSONSerialization.jsonObject(with: Data(anonymous.body.utf8)) as? [String: Any]
            #expect(object?["request_id"] is String && (object?["error"] as? [String: Any])?["status"] as? Int == 401, "\(anonymous.body)")
        }
        // Wales's operator token (the demo makes it for wales: qt_wales_…) at uk: refused as
        // another node's, saying so; a token of no node that uk does not list: not accepted.
        let wrongToken = try federation.curl(["-H", "authorization: Bearer \(token(federation, operatorOf: "wales"))", "\(federation.api("uk"))/v1/view"])
        #expect(wrongToken.status == 401 && wrongToken.body.contains("issued for node wales, not this node (uk)"), "\(wrongToken)")
        let unknownToken = try federation.curl(["-H", "authorization: Bearer qt_\(String(repeating: "A", count: 43))", "\(federation.api("uk"))/v1/view"])
        #expect(unknownToken.status == 401 && unknownToken.body.contains("not one this node accepts"), "\(unknownToken)")
        // The refusal is logged with the request id the client was given.
        let refusedID = try #require(try JSONSerialization.jsonObject(with: Data(unknownToken.body.utf8)) as? [String: Any])["request_id"] as? String
        let log = federation.processes["uk"]!.log
        let line = log.split(separator: "\n").first { $0.contains("refused") && $0.contains("not one this node accepts") }
        #expect(line?.contains(try #require(refusedID)) == true, "uk's log has no refusal line with \(refusedID ?? "?"): \(line ?? "none")")

        // The dashboard: HTML and SVG, nothing external.
        let dashboard = try federation.curl(["-H", "authorization: Bearer \(readerToken)", "\(federation.api("uk"))/"])
        #expect(dashboard.status == 200 && dashboard.body.contains("Priorities × nations") && dashboard.body.contains("<svg"), "\(dashboard.body.prefix(300))")
        #expect(!dashboard.body.contains("src=\"http") && !dashboard.body.contains("href=\"http") && !dashboard.body.contains("<script"))
        let signIn = try federation.curl(["\(federation.api("uk"))/"])
        #expect(signIn.status == 401 && signIn.body.contains("<form"), "\(signIn)")

        // Metrics include the view and the API.
        let metrics = try federation.curl(["-H", "authorization: Bearer \(readerToken)", "\(federation.api("uk"))/metrics"])
        #expect(metrics.body.contains("quartet_view_update_seconds_count") && metrics.body.contains("quartet_http_refusals_total"), "\(metrics.body.prefix(200))")
    }

    @Test func theViewIsRebuiltFromTheDataDirectoryAfterARestart() throws {
        let federation = try LocalFederation()
        try federation.start(["wales"], onlyCopy: true)
        defer { federation.stop() }
        let walesToken = token(federation, operatorOf: "wales")
        _ = try quartetJSON(["import", "plan", "\(Self.plans)/wales-plan.yaml", "--config", federation.config("wales"), "--token", walesToken])
        _ = try quartetJSON(["record", "status", "--action", "P4.A1", "--status", "done", "--as-of", "2025-12-31", "--config", federation.config("wales"), "--token", walesToken])
        // Eight concurrent requests add the same new action: exactly one may succeed.
        let curl = try #require(TestKit.which("curl"))
        let body = #"{"type":"plan.action","payload":{"id":"P4.A9","priority":"P4","statements":["We will test."]}}"#
        let racers = try (0..<8).map { _ -> (Process, Pipe) in
            let process = Process()
            process.executableURL = curl
            process.arguments = ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", federation.ca, "-H", "authorization: Bearer \(walesToken)",
                                 "-H", "content-type: application/json", "-d", body, "\(federation.api("wales"))/v1/logs/wales/entries"]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            return (process, out)
        }
        let codes = racers.map { process, out -> String in
            process.waitUntilExit()
            return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
        #expect(codes.filter { $0 == "201" }.count == 1, "\(codes)")
        #expect(codes.filter { $0 == "400" }.count == 7, "\(codes)")
        let before = try federation.get("wales", "/v1/view/nations/wales")
        _ = federation.processes["wales"]!.stop(signal: SIGKILL, timeout: 5)
        try federation.start(["wales"], onlyCopy: true)
        let after = try federation.get("wales", "/v1/view/nations/wales")
        let status = { (o: [String: Any]) in (o["actions"] as? [[String: Any]])?.first { $0["id"] as? String == "P4.A1" }?["status"] as? String }
        #expect(status(before) == "done")
        #expect(status(after) == "done")
        #expect((after["log"] as? [String: Any])?["entries"] as? Int == (before["log"] as? [String: Any])?["entries"] as? Int)
    }
}
