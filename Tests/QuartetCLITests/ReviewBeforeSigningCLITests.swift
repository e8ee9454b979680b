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
        let folder = (file as NSString).deletingLastPathComponent, name = (file as NSString).lastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).allSatisfy { !$0.hasPrefix(name + ".sig.partial-") }, "a refused sign leaves no file beside the signature")
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

        // A third member signs version 2 (later used as the version in use, whose signatures,
        // beside it, must be a quorum of its members).
        let englandSigned = try TestKit.quartet(["federation", "sign", "--file", file, "--member", "england", "--data",
                                           dir.appendingPathComponent("england/data").path, "--accepted", accepted])
        #expect(englandSigned.status == 0, "\(englandSigned)")

        // A first version: every field printed as new.
        let first = try TestKit.quartet(["federation", "sign", "--file", accepted, "--member", "wales", "--data", wales, "--fresh", "--no-previous"])
        #expect(first.status == 0 && first.stdout.contains("every field of version 1 is new") && first.stdout.contains("+ member england (added)"), "\(first)")

        // An older version than the one in use is flagged: nodes would refuse it.
        let older = try TestKit.quartet(["federation", "show", "--file", accepted, "--accepted", file])
        #expect(older.stdout.contains("warning: version 1 is older than version 2 in use"), "\(older.stdout)")
    }

    /// `object` with node `id` changed by `change`, written to `path` as JSON.
    func write(_ object: [String: Any], to path: String, node id: String, _ change: (inout [String: Any]) -> Void) throws {
        var object = object
        var nodes = try #require(object["nodes"] as? [[String: Any]])
        let i = try #require(nodes.firstIndex { $0["id"] as? String == id })
        change(&nodes[i])
        object["nodes"] = nodes
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    @Test func signSignsTheBytesReviewedPinnedByTheirDigestAgainstAChecked() throws {
        let dir = try demo("review-pin")
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let file = path("federation.json"), v1 = path("v1.json"), wales = path("wales/data")
        // The version in use, with the demo's signatures (all five members) beside it.
        try FileManager.default.copyItem(atPath: file, toPath: v1)
        try FileManager.default.copyItem(atPath: file + ".sig", toPath: v1 + ".sig")
        let base = try object(String(contentsOfFile: file, encoding: .utf8))
        var v2 = base
        v2["version"] = 2
        try write(v2, to: file, node: "england") { $0["peer"] = "england.example.net:7402" }

        // show names the digest, and notes the moved address.
        let shown = try TestKit.quartet(["federation", "show", "--file", file, "--accepted", v1])
        #expect(shown.status == 0, "\(shown)")
        let digest = try #require(shown.stdout.firstMatch(of: /sha256 ([0-9a-f]{64})/)?.1).description
        #expect(shown.stdout.contains("~ peer: ") && shown.stdout.contains("-> england.example.net:7402   [address changed: members will dial this host]"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("unsigned"), "\(shown.stdout)")
        let shownJSON = try object(try TestKit.quartet(["federation", "show", "--file", file, "--accepted", v1, "--format", "json"]).stdout)
        #expect(shownJSON["accepted_signed_by"] as? [String] == ["uk", "wales", "england", "scotland", "northern-ireland"] && shownJSON["accepted_warning"] == nil, "\(shownJSON)")

        // Another digest than the file's (it changed since it was reviewed): nothing is signed.
        let sigBefore = try Data(contentsOf: URL(fileURLWithPath: file + ".sig"))
        let v1Digest = try #require(try TestKit.quartet(["federation", "show", "--file", v1]).stdout.firstMatch(of: /sha256 ([0-9a-f]{64})/)?.1).description
        let stale = try TestKit.quartet(["federation", "sign", "--file", file, "--member", "wales", "--data", wales, "--fresh", "--accepted", v1, "--sha256", v1Digest])
        #expect(stale.status != 0 && stale.stderr.contains("not the file that was reviewed") && stale.stderr.contains(digest), "\(stale)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: file + ".sig")) == sigBefore)
        let malformed = try TestKit.quartet(["federation", "sign", "--file", file, "--member", "wales", "--data", wales, "--fresh", "--accepted", v1, "--sha256", "abc"])
        #expect(malformed.status != 0 && malformed.stderr.contains("64 hex digits"), "\(malformed)")

        // The digest reviewed: signed, and the output says which bytes.
        let signed = try TestKit.quartet(["federation", "sign", "--file", file, "--member", "wales", "--data", wales, "--fresh", "--accepted", v1,
                                          "--sha256", digest.uppercased()])
        #expect(signed.status == 0 && signed.stdout.contains("signed \(file) version 2 sha256 \(digest) as wales"), "\(signed)")
        let signedJSON = try object(try TestKit.quartet(["federation", "sign", "--file", file, "--member", "uk", "--data", path("uk/data"),
                                                         "--accepted", v1, "--sha256", digest, "--format", "json"]).stdout)
        #expect(signedJSON["sha256"] as? String == digest && signedJSON["signed_by"] as? [String] == ["uk", "wales"], "\(signedJSON)")

        // A baseline whose signatures are not over it (England's witness key dropped from the
        // version in use, to hide that the change drops it): refused, by show and by sign.
        let forged = path("forged.json")
        try write(base, to: forged, node: "england") { $0["witness"] = nil }
        try FileManager.default.copyItem(atPath: v1 + ".sig", toPath: forged + ".sig")
        for command in [["show", "--file", file], ["sign", "--file", file, "--member", "england", "--data", path("england/data")]] {
            let refused = try TestKit.quartet(["federation"] + command + ["--accepted", forged])
            #expect(refused.status != 0 && refused.stderr.contains("refused as the version in use") && refused.stderr.contains("changed after it was signed"), "\(refused)")
        }
        // Signed by too few of its own members: said loudly, not refused (a node accepts a
        // version on the quorum of the version before, which may have had other members).
        let few = path("few.json")
        try FileManager.default.copyItem(atPath: v1, toPath: few)
        #expect(try TestKit.quartet(["federation", "sign", "--file", few, "--member", "wales", "--data", wales, "--no-previous"]).status == 0)
        let underSigned = try TestKit.quartet(["federation", "show", "--file", file, "--accepted", few])
        #expect(underSigned.status == 0 && underSigned.stdout.contains("warning: the version in use (\(few)) is signed by wales of its own 5 members, fewer than 3"), "\(underSigned)")
        // Unsigned: a warning, not a refusal.
        try FileManager.default.removeItem(atPath: few + ".sig")
        let unsigned = try TestKit.quartet(["federation", "show", "--file", file, "--accepted", few])
        #expect(unsigned.status == 0 && unsigned.stdout.contains("warning: the version in use (\(few)) is unsigned"), "\(unsigned)")
        let unsignedJSON = try object(try TestKit.quartet(["federation", "show", "--file", file, "--accepted", few, "--format", "json"]).stdout)
        #expect(unsignedJSON["accepted_signed_by"] is NSNull && (unsignedJSON["accepted_warning"] as? String)?.contains("unsigned") == true, "\(unsignedJSON)")
    }

    @Test func verifyWithConfigRefusesWhatAReloadWould() throws {
        let dir = try demo("review-reload")
        defer { try? FileManager.default.removeItem(at: dir) }
        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }
        let file = path("federation.json"), config = path("wales/wales.json")
        // Wales's node has accepted version 1 (as a node that started once keeps it).
        let accepted = path("wales/data/federation.accepted.json")
        try FileManager.default.copyItem(atPath: file, toPath: accepted)
        try FileManager.default.copyItem(atPath: file + ".sig", toPath: accepted + ".sig")
        var v2 = try object(String(contentsOfFile: file, encoding: .utf8))
        v2["version"] = 2
        func signByQuorum(_ target: String) throws {
            for (i, id) in ["uk", "wales", "england"].enumerated() {
                let signed = try TestKit.quartet(["federation", "sign", "--file", target, "--member", id, "--data", path("\(id)/data"),
                                                  "--accepted", accepted] + (i == 0 ? ["--fresh"] : []))
                #expect(signed.status == 0, "\(signed)")
            }
        }
        // A moved address: a reload takes it.
        let moved = path("moved.json")
        try write(v2, to: moved, node: "england") { $0["api"] = "https://england.example.net:8402" }
        try signByQuorum(moved)
        let fine = try TestKit.quartet(["federation", "verify", "--file", moved, "--config", config])
        #expect(fine.status == 0 && fine.stdout.contains("version 2 would be accepted"), "\(fine)")
        // The aggregator made a nation: signed well enough, but a reload refuses it (a restart would not).
        let demoted = path("demoted.json")
        try write(v2, to: demoted, node: "uk") { $0["role"] = "nation" }
        try signByQuorum(demoted)
        #expect(try TestKit.quartet(["federation", "verify", "--file", demoted]).status == 0)
        let refused = try TestKit.quartet(["federation", "verify", "--file", demoted, "--config", config])
        #expect(refused.status == 1 && refused.stderr.contains("node wales would refuse it at a reload: member uk's role differs; that needs a restart"), "\(refused)")
        let refusedJSON = try object(try TestKit.quartet(["federation", "verify", "--file", demoted, "--config", config, "--format", "json"]).stdout)
        #expect(refusedJSON["accepted"] as? Bool == false && (refusedJSON["reason"] as? String)?.contains("at a reload") == true, "\(refusedJSON)")
        // A signature file whose statement names the federation with terminal controls (a CSI
        // that would erase the refusal and draw "would be accepted"): the refusal quotes it
        // escaped (finding 211).
        let hostile = path("hostile.json")
        try FileManager.default.copyItem(atPath: file, toPath: hostile)
        var statement = try String(contentsOfFile: file + ".sig", encoding: .utf8).components(separatedBy: "\n")
        statement[1] += "\u{9B}2K\u{9B}G"
        try statement.joined(separator: "\n").write(toFile: hostile + ".sig", atomically: true, encoding: .utf8)
        let escaped = try TestKit.quartet(["federation", "verify", "--file", hostile])
        #expect(escaped.status == 1 && !escaped.stderr.contains("\u{9B}") && escaped.stderr.contains("\\u{9B}2K"), "\(escaped)")
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
        // A node the file does not list yet, with its hosts from its own message: none of them
        // may be another member's there (here every member's is 127.0.0.1).
        let cymru = try TestKit.quartet(["pki", "request", "--node", "cymru", "--dns", "cymru.example", "--ip", "127.0.0.1", "--out", "\(inbox)/cymru"])
        #expect(cymru.status == 0, "\(cymru)")
        let taken = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/cymru/cymru.csr", "--node", "cymru", "--federation", federation,
                                         "--host", "cymru.example", "--host", "127.0.0.1"])
        #expect(taken.status != 0 && taken.stderr.contains("--host 127.0.0.1 is") && !FileManager.default.fileExists(atPath: "\(inbox)/cymru/cymru.pem"), "\(taken)")
        let own = try TestKit.quartet(["pki", "request", "--node", "cymru", "--dns", "cymru.example", "--out", "\(inbox)/cymru-own"])
        #expect(own.status == 0, "\(own)")
        let newMember = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/cymru-own/cymru.csr", "--node", "cymru", "--federation", federation,
                                             "--host", "cymru.example"])
        #expect(newMember.status == 0 && !newMember.stderr.contains("were not checked"), "\(newMember)")
        // A node the file lists takes its hosts from there, not --host.
        let both = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/exact/wales.csr", "--node", "wales", "--federation", federation, "--host", "127.0.0.1"])
        #expect(both.status != 0 && both.stderr.contains("give --host only for a node it does not list yet"), "\(both)")
        let operatorOK = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(inbox)/operator-england.csr", "--operator", "england", "--federation", federation])
        #expect(operatorOK.status == 0, "\(operatorOK)")
    }
}
