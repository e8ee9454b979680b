import Foundation
import QuartetCrypto
import QuartetLedger
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
    @Test func aFigurePageCarriesTheRotationToItsCheckpoint() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales"], onePeerAnswers: true)
        let plans = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/plans").path
        func run(_ arguments: [String]) throws {
            // A node just restarted may hold appends for a moment while a peer confirms its log.
            let deadline = Date().addingTimeInterval(20)
            while true {
                let result = try TestKit.quartet(arguments)
                if result.status == 0 { return }
                guard Date() < deadline else { throw TestKitError("quartet \(arguments.joined(separator: " ")): \(result.stdout) \(result.stderr)") }
                usleep(300_000)
            }
        }
        for (node, plan) in [("uk", "uk-plan.yaml"), ("wales", "wales-plan.yaml")] {
            try run(["import", "plan", "\(plans)/\(plan)", "--config", federation.config(node), "--token", federation.path(node, "operator_token")])
        }
        func reading(_ value: String) throws {
            try run(["record", "reading", "--measure", "P2.A4.M1", "--period", "2025", "--value", value, "--config", federation.config("wales"),
                     "--token", federation.path("wales", "operator_token")])
        }
        try reading("4")
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let rotated = try TestKit.quartet(["key", "rotate", "--config", federation.config("wales"), "--no-overlap"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"), arguments: LocalFederation.onePeerAnswers)
        try reading("6")
        let heads = try federation.waitConverged(["uk", "wales"])
        let walesSize = UInt64(federation.size(heads, "wales"))

        // The page at uk, and the data its script checks.
        let page = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key,
                                        "\(federation.api("uk"))/figures/reading:wales:P2.A4.M1:2025"])
        #expect(page.status == 200, "\(page.body.prefix(300))")
        let open = #"<script type="application/json" id=provenance-data>"#
        let start = try #require(page.body.range(of: open)), end = try #require(page.body.range(of: "</script>", range: start.upperBound..<page.body.endIndex))
        let data = try #require(try JSONSerialization.jsonObject(with: Data(page.body[start.upperBound..<end.lowerBound].utf8)) as? [String: Any])
        let keys = try #require((data["keys"] as? [String: [String: String]])?["wales"])
        let federationFile = try JSONSerialization.jsonObject(with: Data(contentsOf: federation.root.appendingPathComponent("federation.json"))) as! [String: Any]
        let pinned = try #require((federationFile["nodes"] as! [[String: Any]]).first { $0["id"] as? String == "wales" }?["vkey"] as? String)
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
    }
}
