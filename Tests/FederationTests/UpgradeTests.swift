import Foundation
import QuartetTestKit
import Testing

/// Rolling upgrades (issue 15, part 5): a member still on the previous replication protocol
/// replicates with upgraded ones, and an upgraded binary migrates a data directory of the
/// previous format at start, after copying it aside.
@Suite(.serialized) struct UpgradeTests {
    /// England on version 3 (the previous one: no `federation`), on version 2 (no `witnessed`)
    /// and on version 1 (the first).
    @Test(arguments: [3, 2, 1])
    func aNodeOnAnOlderProtocolVersionConvergesWithUpgradedOnes(version: Int) throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        federation.processes["england"] = try NodeProcess(config: federation.config("england"), arguments: ["--protocol-version", String(version)])
        try federation.start(["uk", "wales"])
        for i in 0..<20 {
            try federation.append("wales", #"{"i":\#(i)}"#)
            try federation.append("england", #"{"i":\#(i)}"#)
        }
        let heads = try federation.waitConverged(["uk", "wales", "england"]) { federation.size($0, "wales") == 20 && federation.size($0, "england") == 20 }
        #expect(federation.size(heads, "england") == 20)
        let peers = try federation.get("uk", "/v1/peers")["peers"] as! [[String: Any]]
        let versions = Dictionary(uniqueKeysWithValues: peers.compactMap { peer in (peer["protocol_version"] as? Int).map { (peer["node"] as! String, $0) } })
        #expect(versions == ["england": version, "wales": 4])
        for node in ["uk", "wales", "england"] {
            let kinds = (try federation.get(node, "/v1/alerts")["alerts"] as! [[String: Any]]).map { $0["kind"] as! String }
            #expect(kinds.isEmpty, "\(node): \(kinds)")
        }
    }

    @Test func anUpgradedNodeMigratesTheDataDirectoryAtStartAfterACopy() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["wales"], onlyCopy: true)
        for i in 0..<5 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        // The directory as the previous release (format 1) left it.
        let data = federation.path("wales", "data")
        let database = data + "/quartet.sqlite"
        let downgrade = try TestKit.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.executescript("DROP TABLE log_keys; DELETE FROM grdb_migrations WHERE identifier = 'v2'; UPDATE meta SET value = '1' WHERE key = 'format_version';")
            db.commit()
            """, database])
        #expect(downgrade.status == 0, "\(downgrade.stderr)")
        let version = try TestKit.quartet(["version", "--format", "json"])
        let versions = try JSONSerialization.jsonObject(with: Data(version.stdout.utf8)) as! [String: Any]
        #expect((versions["format"] as! [String: Any])["current"] as? Int == 2)

        let node = try NodeProcess(config: federation.config("wales"), arguments: ["--i-am-the-only-copy"])
        federation.processes["wales"] = node
        let copies = try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasPrefix("before-format-2-") && $0.hasSuffix(".sqlite") }
        #expect(copies.count == 1)
        #expect(node.log.contains("migrated"), "\(node.log)")
        #expect(try federation.append("wales", #"{"after":"migration"}"#) == 5)
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let verified = try TestKit.quartet(["verify", "--data", data])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        // A format the meta table says is older than the schema it holds (changed by hand) is
        // refused, with no copy made at each open (there were three after three appends).
        func setFormat(_ value: Int) throws {
            _ = try TestKit.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute(\"UPDATE meta SET value = '\(value)' WHERE key = 'format_version'\"); db.commit()", database])
        }
        try setFormat(1)
        let note = URL(fileURLWithPath: data).deletingLastPathComponent().appendingPathComponent("note.json").path
        try Data(#"{"n":1}"#.utf8).write(to: URL(fileURLWithPath: note))
        for _ in 0..<2 {
            let tampered = try TestKit.quartet(["append", "--data", data, "--type", "test.note", "--payload", note])
            #expect(tampered.status != 0 && tampered.stderr.contains("its meta table was changed"), "\(tampered.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasPrefix("before-format-2-") }.count == 1)
        try setFormat(2)
        // An older binary (here: a directory marked with a newer format) is refused with the reason.
        _ = try TestKit.run(URL(fileURLWithPath: "/usr/bin/python3"), ["-c", "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute(\"UPDATE meta SET value = '3' WHERE key = 'format_version'\"); db.commit()", database])
        let timeout = try #require(TestKit.which("timeout"))
        let serve = try TestKit.run(timeout, ["20", try TestKit.quartetBinary().path, "serve", "--config", federation.config("wales"), "--i-am-the-only-copy"])
        #expect(serve.status != 0 && serve.status != 124 && (serve.stdout + serve.stderr).contains("written by a newer quartet"), "\(serve.status) \(serve.stderr)")
        let refused = try TestKit.quartet(["verify", "--data", data])
        #expect(refused.status != 0 && (refused.stdout + refused.stderr).contains("written by a newer quartet"), "\(refused.stdout) \(refused.stderr)")
    }
}
