import Foundation
import QuartetTestKit
import Testing

/// `quartet key rotate` and `key revoke` (issue 15, part 4): the log moves to a new key inside
/// the log; Go's sumdb/note verifies later checkpoints with the new verifier key (and with the
/// old one while it co-signs); `quartet verify` follows the chain; a running node's directory is
/// refused; the revocation goes into the federation file.
@Suite(.serialized) struct KeyRotationCLITests {
    @Test func aRotatedLogIsCheckedByGoWithTheNewKeyAndVerifies() throws {
        let files = try NodeFiles(node: "wales", members: ["uk", "england"], entries: 3)
        defer { files.remove() }
        let data = files.dataPath
        let checker = try InteropTests.buildGoChecker()
        func vkey() throws -> String { try TestKit.quartet(["key", "vkey", "--data", data, "--log", "wales"]).stdout.trimmingCharacters(in: .newlines) }
        func goAccepts(_ key: String) throws -> Bool {
            let note = try TestKit.quartet(["checkpoint", "--data", data, "--log", "wales"]).stdout
            let input = try JSONSerialization.data(withJSONObject: ["vkey": key, "note": note])
            return try TestKit.run(checker, [], stdin: Array(input)).status == 0
        }
        let first = try vkey()
        let rotated = try TestKit.quartet(["key", "rotate", "--config", files.configPath, "--format", "json"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(rotated.stdout.utf8)) as? [String: Any])
        #expect(report["index"] as? Int == 3 && report["previous"] as? String == first)
        let second = try vkey()
        #expect(second == report["vkey"] as? String && second != first)
        #expect(try TestKit.quartet(["key", "vkey", "--data", data, "--log", "wales", "--pinned"]).stdout.trimmingCharacters(in: .newlines) == first)
        // Appends after it: signed by the new key, co-signed by the old one in the overlap.
        let appended = try TestKit.quartet(["append", "--data", data, "--type", "test.note", "--payload", "-"], stdin: Array(#"{"after":"rotation"}"#.utf8))
        #expect(appended.status == 0, "\(appended.stderr)")
        #expect(try goAccepts(second) && goAccepts(first))
        // A rotation for a compromised key: no overlap; the old keys no longer sign.
        let again = try TestKit.quartet(["key", "rotate", "--config", files.configPath, "--no-overlap"])
        #expect(again.status == 0, "\(again.stderr)")
        _ = try TestKit.quartet(["append", "--data", data, "--type", "test.note", "--payload", "-"], stdin: Array(#"{"after":"second"}"#.utf8))
        let third = try vkey()
        #expect(try goAccepts(third))
        #expect(try !goAccepts(second) && !goAccepts(first))
        let verified = try TestKit.quartet(["verify", "--data", data])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        // Rotations are made by the command only.
        let posted = try TestKit.quartet(["append", "--data", data, "--type", "key.rotation", "--payload", "-"], stdin: Array("{}".utf8))
        #expect(posted.status != 0)

        // While the node runs, its directory is locked: the command says to stop it.
        let node = try NodeProcess(config: files.configPath, arguments: ["--i-am-the-only-copy"])
        let refused = try TestKit.quartet(["key", "rotate", "--config", files.configPath])
        _ = node.stop()
        #expect(refused.status != 0 && refused.stderr.contains("the node is running"), "\(refused.stderr)")

        // The revocation: into the federation file, with its version raised.
        let federationFile = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files.root.appendingPathComponent("federation.json").path))) as? [String: Any])
        let version = try #require(federationFile["version"] as? Int)
        // The file keeps its mode (the nodes' service user reads it; this process's umask is 077).
        #expect(chmod(files.root.appendingPathComponent("federation.json").path, 0o644) == 0)
        // A size no federation file can hold is refused, not a trap, and nothing is written.
        let unchanged = try Data(contentsOf: files.root.appendingPathComponent("federation.json"))
        let huge = try TestKit.quartet(["key", "revoke", "--file", files.root.appendingPathComponent("federation.json").path,
                                        "--member", "wales", "--vkey", first, "--after", "9223372036854775808"])
        #expect(huge.status == 1 && huge.stderr.contains("--after must be a whole number from 1 to 2^53, got 9223372036854775808"), "\(huge)")
        #expect(try Data(contentsOf: files.root.appendingPathComponent("federation.json")) == unchanged)
        let revoked = try TestKit.quartet(["key", "revoke", "--file", files.root.appendingPathComponent("federation.json").path,
                                           "--member", "wales", "--vkey", first, "--after", "4"])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        let updated = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: files.root.appendingPathComponent("federation.json").path))) as? [String: Any])
        #expect(updated["version"] as? Int == version + 1)
        let mode = try FileManager.default.attributesOfItem(atPath: files.root.appendingPathComponent("federation.json").path)[.posixPermissions] as? Int
        #expect(mode == 0o644, "the federation file is now \(String(mode ?? 0, radix: 8))")
        let wales = try #require((updated["nodes"] as? [[String: Any]])?.first { $0["id"] as? String == "wales" })
        #expect((wales["revoked"] as? [[String: Any]])?.first?["after"] as? Int == 4)
        // Checked against the file offline: the rotation first → second at index 3 is signed by
        // a key the file now revokes, to a key it names nowhere, so members stop the chain there.
        let disowned = try TestKit.quartet(["verify", "--data", data, "--federation", files.root.appendingPathComponent("federation.json").path])
        #expect(disowned.status == 1 && disowned.stdout.contains("FAIL ") && disowned.stdout.contains("index 3: the key rotation to \(second) is one the federation file disowns"), "\(disowned)")
        #expect(disowned.stdout.contains("the latest checkpoint (size 7) does not verify under the keys the federation file has in force there"), "\(disowned)")
        // Without the file, the store alone verifies.
        #expect(try TestKit.quartet(["verify", "--data", data]).status == 0)

        // The key in force is named as wales's current key: it signs federation files again,
        // and `quartet policy` names it. The pinned key is refused, and nothing is written.
        let federationPath = files.root.appendingPathComponent("federation.json").path
        for refusedKey in [first] {
            let before = try Data(contentsOf: URL(fileURLWithPath: federationPath))
            let refused = try TestKit.quartet(["key", "current", "--file", federationPath, "--member", "wales", "--vkey", refusedKey])
            #expect(refused.status != 0 && refused.stderr.contains("not changed"), "\(refused)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: federationPath)) == before)
        }
        // (The second rotation is at index 5: revoke its old key after 6, as for a compromise, naming third.)
        let named = try TestKit.quartet(["key", "revoke", "--file", federationPath, "--member", "wales", "--vkey", second, "--after", "6", "--current", third])
        #expect(named.status == 0, "\(named)")
        // Every key of the chain is now named (the revoked ones and the current one): it holds.
        let followed = try TestKit.quartet(["verify", "--data", data, "--federation", federationPath])
        #expect(followed.status == 0, "\(followed)")
        // A copy of the federation file beside it, named `name`, with wales's entry changed.
        func editedCopy(_ name: String, _ change: (inout [String: Any]) -> Void) throws -> String {
            var root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: federationPath))) as? [String: Any])
            var nodes = try #require(root["nodes"] as? [[String: Any]])
            let index = try #require(nodes.firstIndex { $0["id"] as? String == "wales" })
            change(&nodes[index])
            root["nodes"] = nodes
            let path = files.root.appendingPathComponent(name).path
            try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
            return path
        }
        // A file naming another pinned key for the log: said, not passed.
        let otherPath = try editedCopy("other-federation.json") { wales in
            wales["vkey"] = second
            wales["revoked"] = nil
            wales["current_vkey"] = nil
        }
        let pinned = try TestKit.quartet(["verify", "--data", data, "--federation", otherPath])
        #expect(pinned.status == 1 && pinned.stdout.contains("the store pins \(first), the federation file names"), "\(pinned.stdout) \(pinned.stderr)")
        // A file giving this directory's own log (its origin and key) to a log of another name:
        // the node would refuse it at start, and verify says so (not a silent pass).
        let renamedPath = try editedCopy("renamed-federation.json") { $0["log"] = "cymru" }
        let refusedFile = try TestKit.quartet(["verify", "--data", data, "--federation", renamedPath])
        #expect(refusedFile.status == 1 && refusedFile.stdout.contains("the federation file names no member whose log is wales")
                && refusedFile.stdout.contains("a node with this directory would refuse the file"), "\(refusedFile.stdout) \(refusedFile.stderr)")
        // A federation file that cannot be read is said first, as a usage error.
        let missing = try TestKit.quartet(["verify", "--data", data, "--federation", files.root.appendingPathComponent("nowhere.json").path])
        #expect(missing.status == 1 && missing.stderr.contains("--federation:") && missing.stdout.isEmpty, "\(missing)")
        let shown = try TestKit.quartet(["federation", "show", "--file", federationPath, "--format", "json"])
        let members = (try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])?["members"] as? [[String: Any]]
        #expect(members?.first { $0["id"] as? String == "wales" }?["current_vkey"] as? String == third, "\(shown)")
        let signed = try TestKit.quartet(["federation", "sign", "--file", federationPath, "--member", "wales", "--data", data, "--fresh"] + (FileManager.default.fileExists(atPath: "\(data)/federation.accepted.json") ? ["--accepted", "\(data)/federation.accepted.json"] : ["--no-previous"]))
        #expect(signed.status == 0, "wales signs with the key in force: \(signed)")
        // The config check takes the key in force after the rotations.
        let checked = try TestKit.quartet(["config", "check", "--config", files.configPath])
        #expect(!checked.stdout.contains("signing key") && !checked.stderr.contains("signing key"), "\(checked)")

        // Months later a routine rotation, third → fourth, and `key current` naming fourth. The
        // rotation to third was signed by a revoked key (second), so it counts only while the
        // file names third: a file naming fourth alone has every member stop the chain there
        // (shown on a hand-made copy) — `key current` refuses to write it, and with
        // --revoke-previous-after keeps third named, revoked beyond its rotation away.
        let routine = try TestKit.quartet(["key", "rotate", "--config", files.configPath, "--format", "json"])
        #expect(routine.status == 0, "\(routine.stderr)")
        let routineReport = try #require(try JSONSerialization.jsonObject(with: Data(routine.stdout.utf8)) as? [String: Any])
        let fourth = try #require(routineReport["vkey"] as? String), away = try #require(routineReport["index"] as? Int)
        _ = try TestKit.quartet(["append", "--data", data, "--type", "test.note", "--payload", "-"], stdin: Array(#"{"after":"routine"}"#.utf8))
        let droppedPath = try editedCopy("dropped-federation.json") { $0["current_vkey"] = fourth }
        let stopped = try TestKit.quartet(["verify", "--data", data, "--federation", droppedPath])
        #expect(stopped.status == 1 && stopped.stdout.contains("index 5: the key rotation to \(third) is one the federation file disowns"), "\(stopped)")
        let before = try Data(contentsOf: URL(fileURLWithPath: federationPath))
        let bare = try TestKit.quartet(["key", "current", "--file", federationPath, "--member", "wales", "--vkey", fourth])
        #expect(bare.status != 0 && bare.stderr.contains("--revoke-previous-after"), "\(bare)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: federationPath)) == before)
        let kept = try TestKit.quartet(["key", "current", "--file", federationPath, "--member", "wales", "--vkey", fourth, "--revoke-previous-after", "\(away + 1)"])
        #expect(kept.status == 0 && kept.stdout.contains("revokes \(third)"), "\(kept)")
        let stillFollowed = try TestKit.quartet(["verify", "--data", data, "--federation", federationPath])
        #expect(stillFollowed.status == 0, "\(stillFollowed)")
        // `key revoke --current` dropping a third current key (neither the one revoked nor the
        // new one) is refused likewise, whatever the file revoked before.
        let third3 = try Data(contentsOf: URL(fileURLWithPath: federationPath))
        let dropping = try TestKit.quartet(["key", "revoke", "--file", federationPath, "--member", "wales", "--vkey", first, "--after", "4", "--current", second])
        #expect(dropping.status != 0 && dropping.stderr.contains("is neither the key revoked nor --current"), "\(dropping)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: federationPath)) == third3)
        // The same on a file that revokes nothing yet (routine K1→K2, then K1 stolen): the
        // first revocation of a log's key must not drop its current key either.
        let fresh = try editedCopy("fresh-federation.json") { wales in
            wales["revoked"] = nil
            wales["current_vkey"] = second
        }
        let freshBefore = try Data(contentsOf: URL(fileURLWithPath: fresh))
        let firstRevocation = try TestKit.quartet(["key", "revoke", "--file", fresh, "--member", "wales", "--vkey", first, "--after", "4", "--current", third])
        #expect(firstRevocation.status != 0 && firstRevocation.stderr.contains("current key \(second) is neither the key revoked nor --current"), "\(firstRevocation)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: fresh)) == freshBefore)
        // A member signing a file that stops a log's chain is told which, before it signs.
        let warned = try TestKit.quartet(["federation", "sign", "--file", droppedPath, "--member", "wales", "--data", data, "--fresh", "--no-previous"])
        #expect(warned.stderr.contains("warning: log wales, entry 5: the key rotation to \(third) is one the federation file disowns"), "\(warned)")
    }
}
