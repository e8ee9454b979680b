import Foundation
import QuartetCrypto
import QuartetTestKit
import Testing

/// Runs `quartet` and decodes its `--format json` output.
func json(_ arguments: [String], stdin: [UInt8]? = nil) throws -> Any {
    let result = try TestKit.quartet(arguments + ["--format", "json"], stdin: stdin)
    guard result.status == 0 else { throw TestKitError("quartet \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)") }
    return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
}

func object(_ arguments: [String], stdin: [UInt8]? = nil) throws -> [String: Any] {
    try #require(try json(arguments, stdin: stdin) as? [String: Any])
}

/// A data directory with log `wales` and `count` entries appended through the CLI.
func populatedDirectory(count: Int) throws -> URL {
    let dir = try TestKit.temporaryDirectory("cli")
    let data = dir.appendingPathComponent("data").path
    _ = try object(["init", "--log", "wales", "--data", data])
    for i in 0..<count {
        _ = try object(["append", "--data", data, "--type", "test.reading", "--author", "op-\(i % 3)", "--payload", "-"],
                       stdin: Array(#"{"measure":"wales.t1.m1","period":"2026-Q\#(i % 4 + 1)","value":\#(i),"marker":"MARKER-\#(i)-END"}"#.utf8))
    }
    return dir
}

@Suite(.serialized) struct CLITests {
    /// A token is one node's credential: `$QUARTET_TOKEN` goes only to a node whose
    /// configuration lists it (an operator's exported token must not reach another member's
    /// node); `--token` still sends one on purpose. Decided before any connection.
    @Test func anExportedTokenIsSentOnlyToANodeThatAcceptsIt() throws {
        let fixture = try NodeFiles()
        defer { fixture.remove() }
        let token = "qt_exported-operator-token"
        let quartet = try TestKit.quartetBinary()
        let refused = try TestKit.run(quartet, ["view", "--config", fixture.configPath, "--timeout", "2"], environment: ["QUARTET_TOKEN": token])
        #expect(refused.status != 0 && refused.stderr.contains("QUARTET_TOKEN is not a token wales accepts"), "\(refused)")
        // Listed in the configuration: sent (the node is not running, so the connection fails instead).
        let url = URL(fileURLWithPath: fixture.configPath)
        var config = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let digest = SHA256.hash(Array(token.utf8)).map { String(format: "%02x", $0) }.joined()
        config["tokens"] = [["name": "op", "role": "operator", "sha256": digest]]
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        let sent = try TestKit.run(quartet, ["view", "--config", fixture.configPath, "--timeout", "2"], environment: ["QUARTET_TOKEN": token])
        // (It went as far as the connection, with the token: refused, it would stop before it.)
        #expect(sent.status != 0 && !sent.stderr.contains("QUARTET_TOKEN") && sent.stderr.contains("cannot reach node wales"), "\(sent)")
    }

    /// A token made for one node (`token new --node`) is not sent to another, however it is
    /// given; an operator's token must name its node.
    @Test func aTokenOfAnotherNodeIsNotSent() throws {
        let fixture = try NodeFiles()
        defer { fixture.remove() }
        let quartet = try TestKit.quartetBinary()
        let englands = "qt_england_" + String(repeating: "A", count: 43)
        let given = try TestKit.run(quartet, ["view", "--config", fixture.configPath, "--timeout", "2", "--token", englands])
        #expect(given.status != 0 && given.stderr.contains("the token was issued for node england") && !given.stderr.contains("cannot reach"), "\(given)")
        // Its own node's token goes (the node is not running: the connection fails instead).
        let own = try TestKit.run(quartet, ["view", "--config", fixture.configPath, "--timeout", "2", "--token", "qt_wales_" + String(repeating: "A", count: 43)])
        #expect(own.status != 0 && own.stderr.contains("cannot reach node wales"), "\(own)")
        let unnamed = try TestKit.quartet(["token", "new", "--name", "op", "--role", "operator"])
        #expect(unnamed.status != 0 && unnamed.stderr.contains("an operator's token is for one node"), "\(unnamed)")
        let named = try TestKit.quartet(["token", "new", "--name", "op", "--role", "operator", "--node", "wales", "--format", "json"])
        #expect(named.status == 0 && (named.stdout.contains("\"token\" : \"qt_wales_") || named.stdout.contains("\"token\":\"qt_wales_")), "\(named)")
    }

    /// A signing key given on the command line (`agreement sign --key`, `federation sign`,
    /// `recover`) is read only when no other user has access to it, as the node reads its own
    /// (finding 274).
    @Test func aSigningKeyOthersCanReadIsRefused() throws {
        let dir = try TestKit.temporaryDirectory("owner-key")
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("heiw.pem").path
        try Data(try Ed25519PrivateKey().pemRepresentation().utf8).write(to: URL(fileURLWithPath: key))
        let note = dir.appendingPathComponent("a.note").path
        let sign = ["agreement", "sign", "--key", key, "--owner", "HEIW", "--id", "heiw-key-mode", "--holder", "wales", "--label", "heiw.workforce.headcount",
                    "--recipient", "uk=aggregate", "--purpose", "UK OT workforce planning", "--valid-from", "2024-01-01T00:00:00Z", "--valid-until", "2028-01-01T00:00:00Z",
                    "--min-cell-size", "7", "--out", note]
        chmod(key, 0o640)
        let refused = try TestKit.quartet(sign)
        #expect(refused.status != 0 && refused.stderr.contains("readable or writable by other users (mode 640)") && !FileManager.default.fileExists(atPath: note), "\(refused)")
        // A symlink to it is not followed.
        let link = dir.appendingPathComponent("link.pem").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: key)
        chmod(key, 0o600)
        var linked = sign
        linked[3] = link
        let viaLink = try TestKit.quartet(linked)
        #expect(viaLink.status != 0 && viaLink.stderr.contains("symlink"), "\(viaLink)")
        chmod(key, 0o600)
        let signed = try TestKit.quartet(sign)
        #expect(signed.status == 0 && FileManager.default.fileExists(atPath: note), "\(signed)")
    }

    /// A token from a file of the user's own (`--token-file`, or `-` for standard input), not a
    /// command line every user of the host reads (finding 273): a file others can read, a
    /// symlink, two tokens or none are refused before any connection; a good one is sent.
    @Test func aTokenFileIsTheUsersOwnAndHoldsOneToken() throws {
        let fixture = try NodeFiles()
        defer { fixture.remove() }
        let quartet = try TestKit.quartetBinary()
        let dir = try TestKit.temporaryDirectory("token-file")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("reader.token").path
        func write(_ text: String, mode: Int) throws {
            try? FileManager.default.removeItem(atPath: file)
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        }
        func view(_ arguments: [String], stdin: [UInt8]? = nil) throws -> TestKit.ProcessResult {
            try TestKit.run(quartet, ["view", "--config", fixture.configPath, "--timeout", "2"] + arguments, stdin: stdin)
        }
        try write("qt_reader-token\n", mode: 0o644)
        let open = try view(["--token-file", file])
        #expect(open.status != 0 && open.stderr.contains("readable or writable by other users (mode 644)") && !open.stderr.contains("cannot reach"), "\(open)")
        try write("qt_reader-token\n", mode: 0o600)
        let link = dir.appendingPathComponent("link.token").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file)
        let linked = try view(["--token-file", link])
        #expect(linked.status != 0 && linked.stderr.contains("it is a symlink, which is not followed") && !linked.stderr.contains("cannot reach"), "\(linked)")
        let both = try view(["--token-file", file, "--token", "qt_x"])
        #expect(both.status != 0 && both.stderr.contains("not both"), "\(both)")
        try write("qt_one qt_two\n", mode: 0o600)
        let two = try view(["--token-file", file])
        #expect(two.status != 0 && two.stderr.contains("one token, on one line") && !two.stderr.contains("cannot reach"), "\(two)")
        // The token itself where its file's path goes: refused without echoing it.
        let pasted = try view(["--token-file", "qt_0RtWlPkGNiV6BOTNKS8DYMFbUdJcyXpM2b0g1pJxcIo"])
        #expect(pasted.status != 0 && pasted.stderr.contains("looks like a token itself") && !(pasted.stdout + pasted.stderr).contains("0RtWlPk"), "\(pasted)")
        let empty = try view(["--token-file", "-"], stdin: [])
        #expect(empty.status != 0 && empty.stderr.contains("holds no token"), "\(empty)")
        // A good file, and standard input: read, and the command goes as far as the connection.
        try write("qt_reader-token\n", mode: 0o600)
        for (arguments, stdin) in [(["--token-file", file], nil), (["--token-file", "-"], Array("qt_reader-token\n".utf8))] as [([String], [UInt8]?)] {
            let sent = try view(arguments, stdin: stdin)
            #expect(sent.status != 0 && sent.stderr.contains("cannot reach node wales"), "\(arguments): \(sent)")
        }
        // Together with a certificate, the token would go unused: refused.
        let withCert = try view(["--token-file", file, "--cert", file, "--key", file])
        #expect(withCert.status != 0 && withCert.stderr.contains("not both"), "\(withCert)")
        // With the node running and the token one it accepts: a file saved with CRLF (a Windows
        // editor) gives the token whole ("\r\n" is one Character: its last character was
        // dropped with it once), and a token one character short is refused by the node.
        let url = URL(fileURLWithPath: fixture.configPath)
        var config = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let digest = SHA256.hash(Array("qt_reader-token".utf8)).map { String(format: "%02x", $0) }.joined()
        config["tokens"] = [["name": "analyst", "role": "reader", "sha256": digest]]
        try JSONSerialization.data(withJSONObject: config).write(to: url)
        let node = try NodeProcess(config: fixture.configPath, arguments: ["--i-am-the-only-copy"])
        defer { _ = node }
        try write("qt_reader-token\r\n", mode: 0o600)
        let crlf = try view(["--token-file", file])
        #expect(crlf.status == 0, "\(crlf)")
        try write("qt_reader-toke\n", mode: 0o600)
        let short = try view(["--token-file", file])
        #expect(short.status != 0 && !short.stderr.contains("cannot reach"), "\(short)")
    }

    /// Help and version come out as ArgumentParser prints them, exit 0 (the command errors the
    /// CLI escapes must not include its help, which it throws).
    @Test func helpAndVersionExitZero() throws {
        for arguments in [["--help"], ["help", "backup"], ["backup", "--help"], ["serve", "-h"], ["key", "rotate", "--help"]] {
            let result = try TestKit.quartet(arguments)
            #expect(result.status == 0 && result.stdout.contains("USAGE:") && !result.stderr.contains("Error"), "\(arguments): \(result)")
        }
        let version = try TestKit.quartet(["--version"])
        #expect(version.status == 0 && !version.stdout.isEmpty, "\(version)")
        let unknown = try TestKit.quartet(["no-such-command"])
        #expect(unknown.status == 64, "\(unknown)")
    }

    @Test func initWritesAKeyOpenSSLReads() throws {
        let dir = try TestKit.temporaryDirectory("cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let created = try object(["init", "--log", "wales", "--data", data])
        let keyPath = try #require(created["key"] as? String)
        let attributes = try FileManager.default.attributesOfItem(atPath: keyPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let openssl = try #require(TestKit.which("openssl"), "openssl is not installed")
        let text = try TestKit.run(openssl, ["pkey", "-in", keyPath, "-noout", "-text"])
        #expect(text.status == 0 && text.stdout.contains("ED25519 Private-Key"), "\(text.stderr)")
        let vkey = try #require(created["vkey"] as? String)
        #expect(vkey.hasPrefix("quartet.ot-workforce.uk/wales+"))
        #expect(try TestKit.quartet(["key", "vkey", "--data", data, "--log", "wales"]).stdout == vkey + "\n")
        // A second init of the same log is refused and keeps the key.
        let again = try TestKit.quartet(["init", "--log", "wales", "--data", data])
        #expect(again.status != 0 && again.stderr.contains("already exists"))
        #expect(try TestKit.quartet(["key", "vkey", "--data", data, "--log", "wales"]).stdout == vkey + "\n")
        // A key with no log (an init killed between writing the key and adding the log) is
        // neither replaced nor a bare "File exists": the error says what it may be and what to do.
        let leftKey = dir.appendingPathComponent("left").path
        try FileManager.default.createDirectory(atPath: leftKey + "/keys", withIntermediateDirectories: true)
        try Data("key\n".utf8).write(to: URL(fileURLWithPath: leftKey + "/keys/england.pem"))
        let left = try TestKit.quartet(["init", "--log", "england", "--data", leftKey])
        #expect(left.status != 0 && left.stderr.contains("interrupted `quartet init`") && left.stderr.contains("holds no log england"), "\(left)")
        #expect(try String(contentsOfFile: leftKey + "/keys/england.pem", encoding: .utf8) == "key\n")
    }

    @Test func appendListCheckpointProveVerify() throws {
        let dir = try populatedDirectory(count: 5)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let payloadFile = dir.appendingPathComponent("p.json")
        try Data(#"{"status":"on-track","note":"from a file"}"#.utf8).write(to: payloadFile)
        let appended = try object(["append", "--data", data, "--type", "test.status", "--classification", "public",
                                   "--author", "op-x", "--payload", payloadFile.path])
        #expect(appended["log"] as? String == "wales" && appended["index"] as? Int == 5)
        let note = try #require(appended["checkpoint"] as? String)
        #expect(note.hasPrefix("quartet.ot-workforce.uk/wales\n6\n"))
        #expect(try TestKit.quartet(["checkpoint", "--data", data, "--log", "wales"]).stdout == note)

        let entries = try #require(try json(["log", "--data", data, "--log", "wales", "--from", "4", "--limit", "10"]) as? [[String: Any]])
        #expect(entries.map { $0["index"] as? Int } == [4, 5])
        #expect(entries[1]["author"] as? String == "op-x" && entries[1]["type"] as? String == "test.status")
        #expect((entries[1]["payload"] as? [String: Any])?["note"] as? String == "from a file")
        #expect(entries[1]["leaf_hash"] as? String == appended["leaf_hash"] as? String)

        let inclusion = try object(["proof", "inclusion", "--data", data, "--log", "wales", "--index", "2"])
        #expect(Set(inclusion.keys) == ["log", "index", "size", "leaf_hash", "root", "proof"])
        #expect(inclusion["size"] as? Int == 6 && (inclusion["proof"] as? [String])?.count == 3)
        let older = try object(["proof", "inclusion", "--data", data, "--log", "wales", "--index", "2", "--size", "3"])
        #expect(older["size"] as? Int == 3)
        let consistency = try object(["proof", "consistency", "--data", data, "--log", "wales", "--from", "3"])
        #expect(consistency["from"] as? Int == 3 && consistency["to"] as? Int == 6)
        #expect(consistency["from_root"] as? String == older["root"] as? String)

        // A mistyped --data is said as such, not as damage that sends the operator to a backup;
        // a negative number is refused as a value, not taken for an option.
        let nowhere = try TestKit.quartet(["verify", "--data", data + "-mistyped"])
        #expect(nowhere.status != 0 && nowhere.stdout.contains("no data directory at") && !nowhere.stdout.contains("damaged"), "\(nowhere)")
        let negative = try TestKit.quartet(["log", "--data", data, "--log", "wales", "--from", "-1"])
        #expect(negative.status != 0 && negative.stderr.contains("The value '-1' is invalid for '--from"), "\(negative)")
        let verify = try TestKit.quartet(["verify", "--data", data])
        #expect(verify.status == 0 && verify.stdout.contains("ok   wales: 6 entries, 6 checkpoints"), "\(verify.stdout)")
        let human = try TestKit.quartet(["log", "--data", data, "--log", "wales", "--limit", "1"])
        #expect(human.stdout.contains("wales/0") && human.stdout.contains("MARKER-0-END"))
    }

    @Test func badInputGetsAClearErrorAndChangesNothing() throws {
        let dir = try populatedDirectory(count: 2)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let before = try TestKit.quartet(["checkpoint", "--data", data, "--log", "wales"]).stdout

        let notObject = try TestKit.quartet(["append", "--data", data, "--type", "t", "--payload", "-"], stdin: Array("[1,2,3]".utf8))
        #expect(notObject.status == 1 && notObject.stderr.contains("payload from standard input: expected a JSON object, got an array"), "\(notObject.stderr)")
        let broken = try TestKit.quartet(["append", "--data", data, "--type", "t", "--payload", "-"], stdin: Array(#"{"a": 1,}"#.utf8))
        #expect(broken.status == 1 && broken.stderr.contains("invalid JSON at byte 8"), "\(broken.stderr)")
        let missingFile = try TestKit.quartet(["append", "--data", data, "--type", "t", "--payload", "/nonexistent.json"])
        #expect(missingFile.status == 1 && missingFile.stderr.contains("--payload: /nonexistent.json: cannot open it: No such file or directory"), "\(missingFile.stderr)")
        let unknown = try TestKit.quartet(["log", "--data", data, "--log", "england"])
        #expect(unknown.status == 1 && unknown.stderr.contains("no log named england") && unknown.stderr.contains("logs here: wales"))
        let noDir = try TestKit.quartet(["log", "--data", dir.appendingPathComponent("nope").path, "--log", "wales"])
        #expect(noDir.status == 1 && noDir.stderr.contains("no data directory"))
        let badType = try TestKit.quartet(["append", "--data", data, "--type", "Bad Type", "--payload", "-"], stdin: Array("{}".utf8))
        #expect(badType.status == 1 && badType.stderr.contains("type:"))
        // A plan type is checked as the API checks it, against the log as folded: a reading of
        // a measure the log lacks, or a count of 1e308, would be unreadable at every node.
        let noMeasure = try TestKit.quartet(["append", "--data", data, "--type", "progress.reading", "--payload", "-"],
                                            stdin: Array(#"{"measure":"P2.A4.M1","period":"2025","value":1e308}"#.utf8))
        #expect(noMeasure.status == 1 && noMeasure.stderr.contains("this log has no measure P2.A4.M1"), "\(noMeasure.stderr)")
        // A priority in a nation's log (the UK log, "uk" with no federation accepted, takes them).
        let priority = try TestKit.quartet(["append", "--data", data, "--type", "plan.priority", "--payload", "-"], stdin: Array(#"{"id":"P1","title":"One"}"#.utf8))
        #expect(priority.status == 1 && priority.stderr.contains("belongs in the UK plan's log"), "\(priority.stderr)")
        // Restricted rows and their aggregates are made by the node's admission only (agreement,
        // suppression, padding): never written offline, whatever the classification.
        for type in ["dataset.aggregate", "dataset.rows"] {
            let forged = try TestKit.quartet(["append", "--data", data, "--type", type, "--classification", "heiw.workforce.headcount", "--payload", "-"],
                                             stdin: Array(#"{"label":"heiw.workforce.headcount","cells":[[3]]}"#.utf8))
            #expect(forged.status != 0 && forged.stderr.contains("made through the node's API"), "\(type): \(forged.stderr)")
        }
        let restricted = try TestKit.quartet(["append", "--data", data, "--type", "test.note", "--classification", "heiw.workforce.headcount", "--payload", "-"],
                                             stdin: Array(#"{"count":3}"#.utf8))
        #expect(restricted.status != 0 && restricted.stderr.contains("append writes public entries only"), "\(restricted.stderr)")

        // A missing, then an unreadable, signing key.
        let key = dir.appendingPathComponent("data/keys/wales.pem")
        let moved = dir.appendingPathComponent("wales.pem.bak")
        try FileManager.default.moveItem(at: key, to: moved)
        let noKey = try TestKit.quartet(["append", "--data", data, "--type", "t", "--payload", "-"], stdin: Array("{}".utf8))
        #expect(noKey.status == 1 && noKey.stderr.contains("cannot read the signing key of log wales at \(key.path)"), "\(noKey.stderr)")
        try Data("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".utf8).write(to: key)
        chmod(key.path, 0o600)
        let badKey = try TestKit.quartet(["append", "--data", data, "--type", "t", "--payload", "-"], stdin: Array("{}".utf8))
        #expect(badKey.status == 1 && badKey.stderr.contains("not a usable Ed25519 PKCS#8 PEM key"), "\(badKey.stderr)")
        try FileManager.default.removeItem(at: key)
        try FileManager.default.moveItem(at: moved, to: key)

        // An "agreement" of 200 KB (a signed note is at most 64 KiB): refused before it is read
        // whole (finding 211; a 1 GiB file took 2 GB).
        let big = dir.appendingPathComponent("agreement.note")
        try Data(repeating: UInt8(ascii: "a"), count: 200_000).write(to: big)
        let tooBig = try TestKit.quartet(["agreement", "establish", big.path, "--config", dir.appendingPathComponent("none.json").path])
        #expect(tooBig.status != 0 && tooBig.stderr.contains("200000 bytes"), "\(tooBig.stderr)")

        #expect(try TestKit.quartet(["checkpoint", "--data", data, "--log", "wales"]).stdout == before)
        #expect(try TestKit.quartet(["verify", "--data", data]).status == 0)
    }

    @Test func anotherFormatVersionIsRefused() throws {
        let dir = try populatedDirectory(count: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let sqlite = try #require(TestKit.which("python3"))
        try TestKit.run(sqlite, ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE meta SET value='7' WHERE key='format_version'\"); c.commit()",
                                 "\(data)/quartet.sqlite"])
        let result = try TestKit.quartet(["log", "--data", data, "--log", "wales"])
        #expect(result.status == 1 && result.stderr.contains("has format version 7, written by a newer quartet"), "\(result.stderr)")
    }

    @Test func verifyNamesTheLogAndFirstBadIndexOfACorruptedFile() throws {
        let dir = try populatedDirectory(count: 8)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let file = URL(fileURLWithPath: "\(data)/quartet.sqlite")
        // Flip one byte of entry 5's payload in the database file itself.
        var bytes = try Data(contentsOf: file)
        let marker = Data("MARKER-5-END".utf8)
        let range = try #require(bytes.range(of: marker), "the payload is not in the main database file")
        bytes[range.lowerBound + 7] ^= 0x01
        try bytes.write(to: file)
        let result = try TestKit.quartet(["verify", "--data", data])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL log wales: index 5:"), "\(result.stdout)")
        let report = try JSONSerialization.jsonObject(with: Data(try TestKit.quartet(["verify", "--data", data, "--format", "json"]).stdout.utf8)) as? [String: Any]
        let problem = try #require((report?["problems"] as? [[String: Any]])?.first)
        #expect(problem["log"] as? String == "wales" && problem["index"] as? Int == 5 && report?["ok"] as? Bool == false)
    }

    @Test func verifyReportsATruncatedFile() throws {
        let dir = try populatedDirectory(count: 40)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let file = URL(fileURLWithPath: "\(data)/quartet.sqlite")
        let bytes = try Data(contentsOf: file)
        try bytes.prefix(bytes.count / 4096 * 4096 * 3 / 4).write(to: file)
        let result = try TestKit.quartet(["verify", "--data", data])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL \(file.path) is damaged or truncated") && result.stdout.contains("malformed"), "\(result.stdout)\(result.stderr)")
    }

    @Test func aKeyReadableByOthersIsRefused() throws {
        let dir = try populatedDirectory(count: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        chmod("\(data)/keys/wales.pem", 0o644)
        let result = try TestKit.quartet(["append", "--data", data, "--type", "t", "--payload", "-"], stdin: Array("{}".utf8))
        #expect(result.status == 1 && result.stderr.contains("readable by other users"), "\(result.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: data)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o700, "the data directory holds payloads and salts")
    }
}

/// `quartet demo --dir` (and `pki … --out`, `agreement keygen --out`) in a directory another
/// user can change: refused before anything is written or run (a node's log file replaced by a link, or a planted configuration, would act
/// as the user running it: finding 292).
@Suite struct DemoDirectoryTests {
    @Test func aDirectoryOthersCanWriteIsRefused() throws {
        let dir = try TestKit.temporaryDirectory("demo-dir")
        defer { try? FileManager.default.removeItem(at: dir) }
        let open = dir.appendingPathComponent("open")
        try FileManager.default.createDirectory(at: open, withIntermediateDirectories: true)
        chmod(open.path, 0o777)
        let refused = try TestKit.quartet(["demo", "--dir", open.appendingPathComponent("qd").path, "--no-start", "--no-seed"])
        #expect(refused.status != 0 && refused.stderr.contains("is writable by other users (mode 777)"), "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: open.appendingPathComponent("qd").path), "nothing written")
        // Keys and certificates likewise: a CA made, or an owner's key, where another user can
        // swap in a file or a link of theirs.
        for arguments in [["pki", "init", "--out"], ["agreement", "keygen", "--owner", "HEIW", "--out"]] {
            let keys = try TestKit.quartet(arguments + [open.appendingPathComponent("keys").path])
            #expect(keys.status != 0 && keys.stderr.contains("is writable by other users (mode 777)"), "\(arguments): \(keys)")
        }
        #expect(!FileManager.default.fileExists(atPath: open.appendingPathComponent("keys").path), "nothing written")
        // The sticky bit (as /tmp has it) keeps others from replacing what this user makes there.
        chmod(open.path, 0o1777)
        let made = try TestKit.quartet(["demo", "--dir", open.appendingPathComponent("qd").path, "--no-start", "--no-seed"])
        #expect(made.status == 0, "\(made)")
    }
}
