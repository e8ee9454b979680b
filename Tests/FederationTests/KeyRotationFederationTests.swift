import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetStore
import QuartetTestKit
import Testing

/// Peers follow a member's key rotation (issue 15, part 4): wales rotates while stopped, appends
/// after it under the new key alone, and uk takes it all with no alert; uk's copy verifies.
@Suite(.serialized) struct KeyRotationFederationTests {
    @Test func peersFollowARotationFromThePinnedKey() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales"], onePeerAnswers: true)
        for i in 0..<5 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = try federation.waitConverged(["uk", "wales"]) { federation.size($0, "wales") == 5 }
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let rotated = try TestKit.quartet(["key", "rotate", "--config", federation.config("wales"), "--no-overlap"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"), arguments: LocalFederation.onePeerAnswers)
        for i in 0..<5 { try federation.append("wales", #"{"after":\#(i)}"#) }
        _ = try federation.waitConverged(["uk", "wales"]) { federation.size($0, "wales") == 11 }
        let kinds = (try federation.get("uk", "/v1/alerts")["alerts"] as! [[String: Any]]).map { $0["kind"] as! String }
        #expect(kinds.isEmpty, "\(kinds)")
        federation.stop()
        let verified = try TestKit.quartet(["verify", "--data", federation.path("uk", "data")])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        let chain = try TestKit.quartet(["key", "vkey", "--data", federation.path("uk", "data"), "--log", "wales"]).stdout
        // uk holds the key in force that wales's rotation named.
        let current = chain.trimmingCharacters(in: .newlines)
        #expect(!current.isEmpty && rotated.stdout.contains("new key:      \(current)"), "\(rotated.stdout) / \(current)")
    }

    /// A figure's "How do we know?" page after a rotation names the key in force at the size of
    /// the checkpoint it serves and carries the log's rotation entry with its inclusion proof to
    /// that checkpoint: what the reader's browser follows from the pinned key (docs/web.md).
    /// Runs `quartet arguments` until it succeeds (20 s at most): a node just restarted may hold
    /// appends for a moment while its peers confirm its log.
    static func run(_ arguments: [String]) throws {
        let deadline = Date().addingTimeInterval(20)
        while true {
            let result = try TestKit.quartet(arguments)
            if result.status == 0 { return }
            guard Date() < deadline else { throw TestKitError("quartet \(arguments.joined(separator: " ")): \(result.stdout) \(result.stderr)") }
            usleep(300_000)
        }
    }

    /// The seed plans of uk and wales imported.
    static func importPlans(_ federation: LocalFederation) throws {
        let plans = TestKit.repositoryRoot.appendingPathComponent("config/plans").path
        for (node, plan) in [("uk", "uk-plan.yaml"), ("wales", "wales-plan.yaml")] {
            try run(["import", "plan", "\(plans)/\(plan)", "--config", federation.config(node), "--token", federation.path(node, "operator_token")])
        }
    }

    /// Wales's reading of P2.A4.M1 for 2025.
    static func reading(_ federation: LocalFederation, _ value: String) throws {
        try run(["record", "reading", "--measure", "P2.A4.M1", "--period", "2025", "--value", value, "--config", federation.config("wales"),
                 "--token", federation.path("wales", "operator_token")])
    }

    /// The data the "How do we know?" page of that reading at uk gives its script.
    static func pageData(_ federation: LocalFederation) throws -> [String: Any] {
        let page = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key,
                                        "\(federation.api("uk"))/figures/reading:wales:P2.A4.M1:2025"])
        guard page.status == 200 else { throw TestKitError("the figure page at uk: \(page.status) \(page.body.prefix(300))") }
        let open = #"<script type="application/json" id=provenance-data>"#
        let start = try #require(page.body.range(of: open)), end = try #require(page.body.range(of: "</script>", range: start.upperBound..<page.body.endIndex))
        return try #require(try JSONSerialization.jsonObject(with: Data(page.body[start.upperBound..<end.lowerBound].utf8)) as? [String: Any])
    }

    /// Wales's pinned key, as the federation file lists it.
    static func pinnedKey(_ federation: LocalFederation) throws -> String {
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: federation.root.appendingPathComponent("federation.json"))) as! [String: Any]
        return try #require((file["nodes"] as! [[String: Any]]).first { $0["id"] as? String == "wales" }?["vkey"] as? String)
    }

    @Test func aFigurePageCarriesTheRotationToItsCheckpoint() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales"], onePeerAnswers: true)
        try Self.importPlans(federation)
        try Self.reading(federation, "4")
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let rotated = try TestKit.quartet(["key", "rotate", "--config", federation.config("wales"), "--no-overlap"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"), arguments: LocalFederation.onePeerAnswers)
        try Self.reading(federation, "6")
        let heads = try federation.waitConverged(["uk", "wales"])
        let walesSize = UInt64(federation.size(heads, "wales"))

        // The page at uk, and the data its script checks.
        let data = try Self.pageData(federation)
        let keys = try #require((data["keys"] as? [String: [String: String]])?["wales"])
        let pinned = try Self.pinnedKey(federation)
        #expect(keys["pinned"] == pinned && keys["vkey"] != pinned, "\(keys)")
        // The served checkpoint is signed by the key in force, after the rotation.
        let note = try #require((data["checkpoints"] as? [String: String])?["wales"])
        let verifier = try NoteVerifier(vkey: try #require(keys["vkey"]))
        let checkpoint = try verifier.verifyCheckpoint(try SignedNote(parsing: note))
        #expect(checkpoint.size <= walesSize)
        // Its one rotation: included in that checkpoint, from the pinned key to the key in force.
        let items = try #require((data["rotations"] as? [String: [[String: Any]]])?["wales"])
        #expect(items.count == 1)
        let entry = try #require(items.first?["entry"] as? [String: Any]), inclusion = try #require(items.first?["inclusion"] as? [String: Any])
        #expect(entry["type"] as? String == "key.rotation" && UInt64(inclusion["size"] as! Int) == checkpoint.size)
        let index = UInt64(entry["index"] as! Int)
        let proof = try (inclusion["proof"] as! [String]).map { try Hash(try #require(Base64.decode($0))) }
        try Merkle.verifyInclusion(index: index, size: checkpoint.size, leaf: .leaf(try #require(Base64.decode(entry["header"] as! String))),
                                   proof: proof, root: checkpoint.root)
        let rotation = try KeyRotation(origin: checkpoint.origin, index: index, payload: try #require(Base64.decode(entry["payload_base64"] as! String)))
        #expect(NoteVerifier(name: checkpoint.origin, publicKey: rotation.previous).vkey == pinned)
        #expect(NoteVerifier(name: checkpoint.origin, publicKey: rotation.key).vkey == keys["vkey"])

        // The provenance answer carries the same rotation, and the reader's own binary follows it
        // from the key of a policy written before the rotation (the federation file still pins
        // the old key) to the key that signed the checkpoint (docs/witness.md).
        let figure = "reading:wales:P2.A4.M1:2025"
        let answer = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key,
                                          "\(federation.api("uk"))/v1/view/figures/\(figure)/provenance"])
        #expect(answer.status == 200, "\(answer.body.prefix(300))")
        let answered = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
        #expect(((answered["rotations"] as? [String: [[String: Any]]])?["wales"]?.first?["entry"] as? [String: Any])?["index"] as? Int == Int(index))
        let written = try TestKit.quartet(["policy", "--federation", federation.root.appendingPathComponent("federation.json").path])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(written.stdout.contains("log \(pinned)"), "\(written.stdout)")
        let policyFile = federation.root.appendingPathComponent("before-rotation.policy"), answerFile = federation.root.appendingPathComponent("reading.json")
        // The federation file lists five members; two run here: their two witnesses the quorum.
        let policyText = written.stdout.split(separator: "\n").filter { !$0.hasPrefix("group ") && !$0.hasPrefix("quorum ") }.joined(separator: "\n")
            + "\ngroup running all uk wales\nquorum running\n"
        try policyText.write(to: policyFile, atomically: true, encoding: .utf8)
        // Asked again until the witnesses' cosignatures of the newest checkpoint are in it.
        var answerBody = answer.body
        var checked = TestKit.ProcessResult(status: 1, stdout: "", stderr: "not run")
        let deadline = Date().addingTimeInterval(30)
        while true {
            try answerBody.write(to: answerFile, atomically: true, encoding: .utf8)
            checked = try TestKit.quartet(["verify-figure", "--policy", policyFile.path, "--figure", figure, answerFile.path, "--format", "json"])
            guard checked.status != 0, Date() < deadline else { break }
            usleep(500_000)
            answerBody = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key,
                                              "\(federation.api("uk"))/v1/view/figures/\(figure)/provenance"]).body
        }
        #expect(checked.status == 0, "\(checked.stdout) \(checked.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(checked.stdout.utf8)) as? [String: Any])
        #expect(report["recomputed"] as? String == "6")
        #expect(((report["checkpoints"] as? [String: [String: Any]])?["wales"])?["rotations_followed"] as? Int == 1, "\(checked.stdout)")
        // Without the rotations the same answer fails: the old key signed nothing of that size.
        var stripped = try #require(try JSONSerialization.jsonObject(with: Data(answerBody.utf8)) as? [String: Any])
        stripped.removeValue(forKey: "rotations")
        try JSONSerialization.data(withJSONObject: stripped).write(to: answerFile)
        let refused = try TestKit.quartet(["verify-figure", "--policy", policyFile.path, "--figure", figure, answerFile.path])
        #expect(refused.status != 0 && refused.stderr.contains("the checkpoint of wales does not meet your policy")
                && refused.stderr.contains("by a key the policy does not name"), "\(refused.stdout) \(refused.stderr)")
    }

    /// `verify-figure --whole` of a UK total reads whole every log the policy names, a log the
    /// answer leaves out at its newest checkpoint: england, rotated after the reader's policy was
    /// written, is followed along the rotation found among its entries (they make its root
    /// first), its checkpoint's quorum and age judged before it is read (docs/witness.md).
    @Test func readingWholeFollowsTheRotationOfALogTheAnswerLeavesOut() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales", "england"], onePeerAnswers: true)
        try Self.importPlans(federation)
        try Self.reading(federation, "4")
        try federation.append("england", #"{"before":0}"#)
        _ = try federation.waitConverged(["uk", "wales", "england"]) { federation.size($0, "england") == 1 }
        _ = federation.processes.removeValue(forKey: "england")?.stop()
        let rotated = try TestKit.quartet(["key", "rotate", "--config", federation.config("england"), "--no-overlap"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        federation.processes["england"] = try NodeProcess(config: federation.config("england"), arguments: LocalFederation.onePeerAnswers)
        // (A node just restarted may hold appends for a moment while its peers confirm its log.)
        var size: UInt64 = 0
        let appendBy = Date().addingTimeInterval(20)
        while size == 0 {
            do { size = try federation.append("england", #"{"after":0}"#) + 1 } catch {
                guard Date() < appendBy else { throw error }
                usleep(300_000)
            }
        }
        _ = try federation.waitConverged(["uk", "wales", "england"]) { federation.size($0, "england") == Int(size) }

        // The policy written before the rotation (the file pins england's old key), of the three
        // running logs, its quorum any two of their witnesses; a reader's client file for uk.
        let written = try TestKit.quartet(["policy", "--federation", federation.root.appendingPathComponent("federation.json").path])
        #expect(written.status == 0, "\(written.stderr)")
        let policyFile = federation.root.appendingPathComponent("whole.policy"), client = federation.root.appendingPathComponent("uk-client.json")
        let stopped = ["/v1/logs/scotland", "/v1/logs/northern-ireland"]
        try (written.stdout.split(separator: "\n").filter { line in !line.hasPrefix("group ") && !line.hasPrefix("quorum ") && !stopped.contains { line.hasSuffix($0) } }
                .joined(separator: "\n")
             + "\ngroup running 2 uk wales england\nquorum running\n").write(to: policyFile, atomically: true, encoding: .utf8)
        try JSONSerialization.data(withJSONObject: ["node": "uk", "log": "uk", "api": federation.api("uk"), "tls": ["ca": federation.ca]]).write(to: client)
        let totals = try #require(try federation.get("uk", "/v1/view")["totals"] as? [[String: Any]])
        let figure = try #require(totals.compactMap { $0["figure"] as? String }.first { $0.hasPrefix("total:") && $0.hasSuffix(":2025") }, "\(totals)")
        // Asked again until the witnesses' cosignatures of the newest checkpoints are in.
        var checked = TestKit.ProcessResult(status: 1, stdout: "", stderr: "not run")
        let deadline = Date().addingTimeInterval(40)
        while true {
            checked = try TestKit.quartet(["verify-figure", "--policy", policyFile.path, "--figure", figure, "--config", client.path,
                                           "--cert", federation.reader.certificate, "--key", federation.reader.key, "--whole", "--max-age", "900", "--format", "json"])
            guard checked.status != 0, Date() < deadline else { break }
            usleep(500_000)
        }
        #expect(checked.status == 0, "\(checked.stdout) \(checked.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(checked.stdout.utf8)) as? [String: Any])
        let read = try #require((report["whole"] as? [String: Any])?["logs"] as? [String: Int], "\(checked.stdout)")
        #expect((read["england"] ?? 0) >= Int(size) && (report["checkpoints"] as? [String: Any])?["england"] == nil, "\(checked.stdout)")
    }

    /// A page whose reading's newest quorum-cosigned checkpoint predates a rotation serves that
    /// checkpoint, with the key in force at its size (the pinned one) and no rotation (none is
    /// inside it): the key was once taken at the log's latest size, and the reader's browser
    /// then failed a checkpoint a quorum had cosigned.
    @Test func aPageServingACheckpointFromBeforeARotationNamesTheKeyOfThatCheckpoint() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start()
        try Self.importPlans(federation)
        try Self.reading(federation, "4")
        _ = try federation.waitConverged(["uk", "wales"])
        // Until the page at uk serves a checkpoint a quorum (3 of wales's 4 witnesses) cosigned.
        func lines(_ data: [String: Any]) -> Int {
            ((data["checkpoints"] as? [String: String])?["wales"]).map { note in note.split(separator: "\n").filter { $0.hasPrefix("— ") }.count } ?? 0
        }
        let deadline = Date().addingTimeInterval(40)
        var before = try Self.pageData(federation)
        while lines(before) < 4, Date() < deadline {
            usleep(500_000)
            before = try Self.pageData(federation)
        }
        #expect(lines(before) >= 4, "\(before["checkpoints"] ?? "none")")
        let witnessedSize = try Checkpoint(parsing: try SignedNote(parsing: try #require((before["checkpoints"] as? [String: String])?["wales"])).text).size

        // Two witnesses go; wales rotates and appends: its later checkpoints gather 2 of 4.
        for node in ["england", "scotland"] { _ = federation.processes.removeValue(forKey: node)?.stop() }
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let rotated = try TestKit.quartet(["key", "rotate", "--config", federation.config("wales"), "--no-overlap"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"))
        var size: UInt64 = 0
        for i in 0..<3 { size = try federation.append("wales", #"{"after":\#(i)}"#) + 1 }
        _ = try federation.waitConverged(["uk", "wales", "northern-ireland"]) { federation.size($0, "wales") == Int(size) }

        let data = try Self.pageData(federation)
        let pinned = try Self.pinnedKey(federation)
        let keys = try #require((data["keys"] as? [String: [String: String]])?["wales"])
        #expect(keys["pinned"] == pinned && keys["vkey"] == pinned, "\(keys)")
        #expect((data["rotations"] as? [String: Any])?["wales"] == nil, "\(data["rotations"] ?? "none")")
        let note = try SignedNote(parsing: try #require((data["checkpoints"] as? [String: String])?["wales"]))
        let checkpoint = try NoteVerifier(vkey: pinned).verifyCheckpoint(note)
        #expect(checkpoint.size == witnessedSize && checkpoint.size < size, "served \(checkpoint.size), witnessed \(witnessedSize), log \(size)")
    }

    /// A key the log rotated away from gets nothing cosigned beyond the rotation (docs/security.md,
    /// finding 60): whoever kept wales's old key signs a checkpoint beyond the rotation and shows
    /// it to scotland's witness, which holds the rotation: refused as signed by no key it trusts
    /// (403). The witness used to trust the pinned key at every size and cosign (200, or 409 with
    /// its size).
    @Test func aKeyRotatedAwayFromGetsNothingCosignedBeyondTheRotation() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales", "scotland"], onePeerAnswers: true)
        for i in 0..<3 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = try federation.waitConverged(["scotland", "wales"]) { federation.size($0, "wales") == 3 }
        let old = try DataDirectory(path: federation.path("wales", "data")).readSigningKey(log: "wales")
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let rotated = try TestKit.quartet(["key", "rotate", "--config", federation.config("wales"), "--no-overlap"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"), arguments: LocalFederation.onePeerAnswers)
        var size: UInt64 = 0
        for i in 0..<2 { size = try federation.append("wales", #"{"after":\#(i)}"#) + 1 }
        _ = try federation.waitConverged(["scotland", "wales"]) { federation.size($0, "wales") == Int(size) }

        let logs = try federation.get("scotland", "/v1/logs")["logs"] as! [[String: Any]]
        let origin = try #require(logs.first { $0["log"] as? String == "wales" }?["origin"] as? String)
        let forged = try NoteSigner(name: origin, key: old)
            .sign(Checkpoint(origin: origin, size: size + 5, root: Hash.leaf(Array("a history wales never wrote".utf8)),
                             timeMillis: UInt64(Date().timeIntervalSince1970 * 1000)))
        let body = federation.root.appendingPathComponent("old-key.txt")
        try Data(("old 0\n\n" + forged.serialized).utf8).write(to: body)
        let answer = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "--data-binary", "@\(body.path)",
                                          "\(federation.api("scotland"))/witness/add-checkpoint"])
        #expect(answer.status == 403, "\(answer)")
    }
}
