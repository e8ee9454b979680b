import Foundation
import QuartetTestKit
import Testing

/// What the signers see: `quartet federation show|sign --accepted` print every change a new
/// version makes, and `pki sign` certifies only the identity (and, for a listed node, the
/// hosts) the CA holder names. On a federation written by `quartet demo --no-start`.
@Suite(.serialized) struct ReviewBeforeSigningCLITests {
    /// A demo federation's directory (files only, nothing started).
    func demo(_ label: String) throws -> URL {
        let dir = try TestKit.temporaryDirectory(label)
        let made = try TestKit.quartet(["demo", "--dir", dir.path, "--no-start", "--no-seed"])
        #expect(made.status == 0, "\(made.stderr)")
        return dir
    }

    func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func signPrintsTheChangesFromTheAcceptedVersionAndNeedsOne() throws {
        let dir = try demo("review-sign")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("federation.json").path, accepted = dir.appendingPathComponent("v1.json").path
        try FileManager.default.copyItem(atPath: file, toPath: accepted)
        let wales = dir.appendingPathComponent("wales/data").path

        // The same file: no change, shown as such.
        let same = try TestKit.quartet(["federation", "show", "--file", file, "--accepted", accepted])
        #expect(same.status == 0 && same.stdout.contains("to version 1: no change"), "\(same)")

        // Version 2 drops England's witness key and moves HEIW's labels to HCPC.
        var json = try object(String(contentsOfFile: file, encoding: .utf8))
        json["version"] = 2
        var nodes = try #require(json["nodes"] as? [[String: Any]])
        let england = try #require(nodes.firstIndex { $0["id"] as? String == "england" })
        let witness = try #require(nodes[england]["witness"] as? String)
        nodes[england]["witness"] = nil
        json["nodes"] = nodes
        var owners = try #require(json["owners"] as? [[String: Any]])
        for i in owners.indices {
            if owners[i]["id"] as? String == "HEIW" { owners[i]["labels"] = [String]() }
            if owners[i]["id"] as? String == "HCPC" { owners[i]["labels"] = ["hcpc.*", "heiw.*"] }
        }
        json["owners"] = owners
        try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: file))

        // Every field is shown, witness keys and labels included.
        let shown = try TestKit.quartet(["federation", "show", "--file", file])
        #expect(shown.status == 0 && shown.stdout.contains("  witness: ") && shown.stdout.contains("data owner HCPC")
                && shown.stdout.contains("  label: heiw.*") && shown.stdout.contains("(no witness key: witnesses no log)"), "\(shown.stdout)")

        // Without the version in use, sign refuses and says what to give.
        let blind = try TestKit.quartet(["federation", "sign", "--file", file, "--member", "wales", "--data", wales, "--fresh"])
        #expect(blind.status != 0 && blind.stderr.contains("--accepted") && blind.stderr.contains("--no-previous"), "\(blind)")
        #expect(!FileManager.default.fileExists(atPath: file + ".sig.new"))
        let both = try TestKit.quartet(["federation", "sign", "--file", file, "--member", "wales", "--data", wales, "--fresh",
                                        "--accepted", accepted, "--no-previous"])
        #expect(both.status != 0, "\(both)")

        // With it, every change is printed before the signature.
        let signed = try TestKit.quartet(["federation", "sign", "--file", file, "--member", "wales", "--data", wales, "--fresh", "--accepted", accepted])
        #expect(signed.status == 0, "\(signed)")
        let out = signed.stdout
        #expect(out.contains("changes from version 1 (\(accepted)) to version 2:"), "\(out)")
        #expect(out.contains("~ member england") && out.contains("- witness: \(witness)"), "\(out)")
        #expect(out.contains("~ data owner HCPC") && out.contains("+ label: heiw.*") && out.contains("~ data owner HEIW") && out.contains("- label: heiw.*"), "\(out)")
        let diffAt = try #require(out.range(of: "changes from version")), signedAt = try #require(out.range(of: "signed \(file) version 2"))
        #expect(diffAt.lowerBound < signedAt.lowerBound, "the changes come before the signature: \(out)")

        // The same diff as JSON, from show and from sign.
        let json2 = try object(try TestKit.quartet(["federation", "show", "--file", file, "--accepted", accepted, "--format", "json"]).stdout)
        let changes = try #require(json2["changes"] as? [[String: Any]])
        #expect(changes.contains { $0["scope"] as? String == "member" && $0["id"] as? String == "england" && $0["field"] as? String == "witness"
                                   && $0["kind"] as? String == "removed" && $0["old"] as? String == witness }, "\(changes)")
        #expect(json2["accepted_version"] as? Int == 1)
        let members = try #require(json2["members"] as? [[String: Any]])
        #expect(members.first { $0["id"] as? String == "wales" }?["witness"] as? String != nil)
        let shownOwners = try #require(json2["owners"] as? [[String: Any]])
        #expect(shownOwners.first { $0["id"] as? String == "HCPC" }?["labels"] as? [String] == ["hcpc.*", "heiw.*"], "\(shownOwners)")
        let signedJSON = try object(try TestKit.quartet(["federation", "sign", "--file", file, "--member", "uk", "--data",
                                                         dir.appendingPathComponent("uk/data").path, "--accepted", accepted, "--format", "json"]).stdout)
        #expect((signedJSON["changes"] as? [[String: Any]])?.count == changes.count && signedJSON["signed_by"] as? [String] == ["uk", "wales"], "\(signedJSON)")

        // A first version: every field printed as new.
        let first = try TestKit.quartet(["federation", "sign", "--file", accepted, "--member", "wales", "--data", wales, "--fresh", "--no-previous"])
        #expect(first.status == 0 && first.stdout.contains("every field of version 1 is new") && first.stdout.contains("+ member england (added)"), "\(first)")

        // An older version than the one in use is flagged: nodes would refuse it.
        let older = try TestKit.quartet(["federation", "show", "--file", accepted, "--accepted", file])
        #expect(older.stdout.contains("warning: version 1 is older than version 2 in use"), "\(older.stdout)")
    }

    @Test func pkiSignNeedsTheIdentityAndAListedNodesHosts() throws {
        let dir = try demo("review-pki")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = dir.appendingPathComponent("pki/ca").path, federation = dir.appendingPathComponent("federation.json").path
        let inbox = dir.appendingPathComponent("inbox").path

        // Wales asks for England's operator certificate; the CA holder gives no identity.
        let forged = try TestKit.quartet(["pki", "request", "--operator", "england", "--out", inbox])
        #expect(forged.status == 0, "\(forged)")
        let blind = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/operator-england.csr"])
        #expect(blind.status != 0, "signed without an identity: \(blind)")
        for expected in ["quartet://operator/england", "--node", "--operator", "--reader", "--auditor"] {
            #expect(blind.stderr.contains(expected), "\(expected): \(blind.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(inbox)/operator-england.pem"))
        let wrong = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/operator-england.csr", "--operator", "wales"])
        #expect(wrong.status != 0 && wrong.stderr.contains("but the CA was told to sign quartet://operator/wales"), "\(wrong.stderr)")

        // A node listed in the federation file: exactly its peer and api hosts (127.0.0.1 in the demo).
        let defaults = try TestKit.quartet(["pki", "request", "--node", "wales", "--out", "\(inbox)/defaults"])
        #expect(defaults.status == 0, "\(defaults)")
        let refused = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/defaults/wales.csr", "--node", "wales", "--federation", federation])
        #expect(refused.status != 0 && refused.stderr.contains("asks for wales, localhost, ::1") && refused.stderr.contains("(127.0.0.1)"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(inbox)/defaults/wales.pem"))
        let exact = try TestKit.quartet(["pki", "request", "--node", "wales", "--ip", "127.0.0.1", "--out", "\(inbox)/exact"])
        #expect(exact.status == 0, "\(exact)")
        let signed = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/exact/wales.csr", "--node", "wales", "--federation", federation])
        #expect(signed.status == 0 && signed.stdout.contains("IP:          127.0.0.1"), "\(signed)")
        // A node or log the file does not list.
        let stranger = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/exact/wales.csr", "--node", "cymru", "--federation", federation])
        #expect(stranger.status != 0 && stranger.stderr.contains("lists no node cymru"), "\(stranger.stderr)")
        let operatorOK = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/operator-england.csr", "--operator", "england", "--federation", federation])
        #expect(operatorOK.status == 0, "\(operatorOK)")
    }
}
