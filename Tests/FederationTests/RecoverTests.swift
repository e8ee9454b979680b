import Foundation
import QuartetHarness
import QuartetTestKit
import Testing

/// A node that lost its disk rebuilds it from the federation with `quartet recover` (issue 15,
/// part 2): its own log and every replica come back verified, a restricted payload comes back
/// from the full-access recipient that holds it, one no peer held in full is reported lost, and
/// the node then appends after the federation's latest checkpoint without equivocating.
@Suite(.serialized) struct RecoverTests {
    /// `quartet recover --format json` for wales with `key`.
    static func recover(_ federation: LocalFederation, key: String, extra: [String] = []) throws -> (result: TestKit.ProcessResult, report: [String: Any]?) {
        let result = try TestKit.quartet(["recover", "--config", federation.config("wales"), "--key", key, "--format", "json", "--timeout", "30"] + extra)
        let report = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return (result, report)
    }

    static func log(_ report: [String: Any]?, _ name: String) -> [String: Any]? {
        (report?["logs"] as? [[String: Any]])?.first { $0["log"] as? String == name }
    }

    /// Wales's key saved the way an operator's key backup holds it; wales stopped and its data
    /// directory gone. Returns the key's path.
    static func loseWalesDisk(_ federation: LocalFederation) throws -> String {
        let key = federation.root.appendingPathComponent("wales-key-backup.pem").path
        try FileManager.default.copyItem(atPath: federation.path("wales", "data") + "/keys/wales.pem", toPath: key)
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        try FileManager.default.removeItem(atPath: federation.path("wales", "data"))
        return key
    }

    /// A restricted row at wales under an agreement of HEIW giving `recipients`; its index.
    static func restrictedRow(_ federation: LocalFederation, recipients: [String]) throws -> Int {
        let note = try federation.signAgreement(id: "HEIW-2024", recipients: recipients)
        let established = try federation.establishAgreement(note)
        guard established.status == 0 else { throw TestKitError("agreement establish: \(established)") }
        let recorded = try federation.recordRows(["rows": [["band": "7", "count": 14, "note": "RECOVER-\(UUID().uuidString)"]]])
        guard let index = LocalFederation.index(recorded) else { throw TestKitError("record dataset: \(recorded)") }
        return index
    }

    static func checkNoEquivocation(_ federation: LocalFederation, _ nodes: [String]) throws {
        for node in nodes {
            let (kinds, quarantined) = try RestoreTests.alerts(federation, at: node)
            #expect(!kinds.contains("equivocation") && !kinds.contains("own-log-ahead"), "\(node): \(kinds)")
            #expect(quarantined == 0, "\(node) quarantined a log")
        }
    }

    @Test func walesRebuildsItsDiskFromPeersAndAppendsWhereTheFederationLeftOff() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        let nodes = ["uk", "wales", "england"]
        try federation.start(nodes)
        // england may hold the row in full, uk only its aggregate: a row that came back from uk
        // is a stub whose payload england sends back.
        let row = try Self.restrictedRow(federation, recipients: ["england=full", "uk=aggregate"])
        _ = try RestoreTests.appendMany(federation, count: 300, tag: "before")
        try federation.append("england", #"{"from":"england"}"#)
        let heads = try federation.waitConverged(nodes) { federation.size($0, "wales") > row + 300 && federation.size($0, "england") >= 1 }
        let size = federation.size(heads, "wales")
        let key = try Self.loseWalesDisk(federation)

        // The dry run says what would come back, and writes nothing.
        let dry = try TestKit.quartet(["recover", "--config", federation.config("wales"), "--dry-run", "--format", "json"])
        #expect(dry.status == 0, "\(dry)")
        let plan = try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any]
        #expect((plan?["would_recover"] as? [String: Int])?["wales"] == size, "\(dry.stdout)")
        let answered = (plan?["peers"] as? [[String: Any]] ?? []).filter { $0["answered"] as? Bool == true }.compactMap { $0["peer"] as? String }
        #expect(Set(answered) == ["uk", "england"], "\(dry.stdout)")
        #expect(!FileManager.default.fileExists(atPath: federation.path("wales", "data")), "the dry run left a data directory")

        // Another log's key is refused before anything is written.
        let wrong = try Self.recover(federation, key: federation.path("england", "data") + "/keys/england.pem")
        #expect(wrong.result.status != 0 && wrong.result.stderr.contains("is not the signing key of log wales"), "\(wrong.result)")
        #expect(!FileManager.default.fileExists(atPath: federation.path("wales", "data")))

        let (result, report) = try Self.recover(federation, key: key)
        #expect(result.status == 0, "\(result)")
        let own = try #require(Self.log(report, "wales"), "\(result.stdout)")
        #expect(own["own"] as? Bool == true && own["entries"] as? Int == size, "\(own)")
        #expect((own["lost"] as? [Int]) == [], "england held the row in full: \(own)")
        // (england may have grown since: it records what it discloses.)
        #expect((Self.log(report, "england")?["entries"] as? Int ?? 0) >= federation.size(heads, "england"), "\(result.stdout)")
        // Never over a directory that holds data.
        let again = try Self.recover(federation, key: key)
        #expect(again.result.status != 0 && again.result.stderr.contains("holds a database"), "\(again.result)")

        let verify = try TestKit.quartet(["verify", "--data", federation.path("wales", "data")])
        #expect(verify.status == 0, "\(verify)")
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"))
        // The row's payload is back at wales.
        let entry = try federation.curl(["-H", "authorization: Bearer \(federation.operatorToken("wales"))",
                                         "\(federation.api("wales"))/v1/logs/wales/entries?from=\(row)&limit=1"])
        #expect(entry.status == 200 && entry.body.contains("RECOVER-"), "\(entry)")
        // wales appends after the federation's latest checkpoint of its log.
        let next = try federation.append("wales", #"{"after":"recover"}"#)
        #expect(next >= UInt64(size), "index \(next) is below the \(size) entries the federation held")
        _ = try federation.waitConverged(nodes) { federation.size($0, "wales") > Int(next) }
        try Self.checkNoEquivocation(federation, nodes)
    }

    @Test func aPayloadNoPeerHeldInFullIsReportedLostAndTheLogStillVerifies() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        let nodes = ["uk", "wales"]
        try federation.start(nodes, onePeerAnswers: true)
        // Only wales ever held the row in full (uk may have the aggregate only).
        let row = try Self.restrictedRow(federation, recipients: ["england=none", "uk=aggregate"])
        try federation.append("wales", #"{"after":"the row"}"#)
        let heads = try federation.waitConverged(nodes) { federation.size($0, "wales") > row + 1 }
        let size = federation.size(heads, "wales")
        let key = try Self.loseWalesDisk(federation)

        let (result, report) = try Self.recover(federation, key: key, extra: LocalFederation.onePeerAnswers)
        #expect(result.status == 0, "\(result)")
        let own = try #require(Self.log(report, "wales"), "\(result.stdout)")
        #expect(own["entries"] as? Int == size)
        #expect((own["lost"] as? [Int]) == [row], "\(own)")
        #expect((own["from"] as? [String: Int])?["uk"] == size, "\(own)")
        // The lost payload is recorded as such: the log verifies.
        let text = try TestKit.quartet(["verify", "--data", federation.path("wales", "data")])
        #expect(text.status == 0, "\(text)")
        let record = try String(contentsOfFile: federation.path("wales", "data") + "/lost-payloads", encoding: .utf8)
        #expect(record.split(separator: "\n").contains("wales \(row)"), "\(record)")

        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"), arguments: LocalFederation.onePeerAnswers)
        let next = try federation.append("wales", #"{"after":"recover"}"#)
        #expect(next >= UInt64(size))
        _ = try federation.waitConverged(nodes) { federation.size($0, "wales") > Int(next) }
        try Self.checkNoEquivocation(federation, nodes)
    }

    /// A log that rotated its key is recovered with the key it rotated to (the one in the
    /// operator's newest key backup): the directory starts from the pinned key, the rotation
    /// comes back with the log, and the node signs with the new key once it holds it.
    @Test func aRotatedLogIsRecoveredWithTheKeyItRotatedTo() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        let nodes = ["uk", "wales", "england"]
        try federation.start(nodes)
        _ = try RestoreTests.appendMany(federation, count: 20, tag: "before")
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let pinnedKey = federation.root.appendingPathComponent("wales-old-key.pem").path
        try FileManager.default.copyItem(atPath: federation.path("wales", "data") + "/keys/wales.pem", toPath: pinnedKey)
        let rotated = try TestKit.quartet(["key", "rotate", "--config", federation.config("wales"), "--no-overlap", "--format", "json"])
        #expect(rotated.status == 0, "\(rotated)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(rotated.stdout.utf8)) as? [String: Any])
        let newKey = try #require(report["vkey"] as? String)
        // The federation edits it prints go to a working copy (the file in force keeps its .sig).
        #expect((report["revoke"] as? String)?.contains("--file federation.next.json") == true && (report["steps"] as? String)?.contains("--fresh") == true, "\(report)")
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"))
        let last = try federation.append("wales", #"{"after":"rotation"}"#)
        let heads = try federation.waitConverged(nodes) { federation.size($0, "wales") > Int(last) }
        let size = federation.size(heads, "wales")
        // Before the federation names the new key, the disk lost: recovering with the pinned key
        // the file still names takes the log back with its rotation, and says the key given is
        // not the key in force (exit status 1, the directory kept): not a success.
        do {
            let backup = federation.root.appendingPathComponent("wales-before-recover").path
            _ = federation.processes.removeValue(forKey: "wales")?.stop()
            try FileManager.default.moveItem(atPath: federation.path("wales", "data"), toPath: backup)
            let early = try Self.recover(federation, key: pinnedKey)
            #expect(early.result.status == 1 && early.result.stderr.contains("is not the key in force after the log's 1 rotation (\(newKey))"), "\(early.result)")
            #expect(Self.log(early.report, "wales")?["entries"] as? Int ?? 0 >= size, "\(early.result.stdout)")
            try FileManager.default.removeItem(atPath: federation.path("wales", "data"))
            try FileManager.default.moveItem(atPath: backup, toPath: federation.path("wales", "data"))
            federation.processes["wales"] = try NodeProcess(config: federation.config("wales"))
        }
        // The federation names the new key as wales's current one (a quorum signs; the running
        // members reload it), as the rotation's printout tells the operator to.
        let layout = FederationLayout(root: federation.root)
        let named = try TestKit.quartet(["key", "current", "--file", layout.federationFile, "--member", "wales", "--vkey", newKey])
        #expect(named.status == 0, "\(named)")
        for (i, member) in ["uk", "england", "scotland"].enumerated() {
            let signed = try TestKit.quartet(["federation", "sign", "--file", layout.federationFile, "--member", member,
                                              "--data", layout.dataDirectory(member)] + (i == 0 ? ["--fresh"] : []) + (FileManager.default.fileExists(atPath: "\(layout.dataDirectory(member))/federation.accepted.json") ? ["--accepted", "\(layout.dataDirectory(member))/federation.accepted.json"] : ["--no-previous"]))
            #expect(signed.status == 0, "\(signed)")
        }
        for member in ["uk", "england"] {
            let node = try #require(federation.processes[member])
            node.child.signal(SIGHUP)
            let deadline = Date().addingTimeInterval(20)
            while !node.log.contains("reload done") && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            #expect(node.log.contains("reload done"), "\(member): \(node.log.suffix(2000))")
        }
        // A data owner's policy names the key the log signs with now.
        let policy = try TestKit.quartet(["policy", "--federation", layout.federationFile, "--log", "wales"])
        #expect(policy.status == 0 && policy.stdout.contains("log \(newKey)"), "\(policy)")
        // The newest key backup (the rotated key) is what the operator recovers with.
        let key = try Self.loseWalesDisk(federation)
        // The dry run takes the peers' checkpoints signed by the new key (the old one no longer signs).
        let dry = try TestKit.quartet(["recover", "--config", federation.config("wales"), "--dry-run", "--format", "json"])
        let plan = try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any]
        #expect(dry.status == 0 && (plan?["would_recover"] as? [String: Int])?["wales"] == size, "\(dry)")
        // The old key, which would sign a second history if the peers lacked the rotation, is refused.
        let old = try Self.recover(federation, key: pinnedKey)
        #expect(old.result.status != 0 && old.result.stderr.contains("names as its current key"), "\(old.result)")

        let (result, recovered) = try Self.recover(federation, key: key)
        #expect(result.status == 0, "\(result)")
        #expect(Self.log(recovered, "wales")?["entries"] as? Int == size, "\(result.stdout)")
        let vkey = try TestKit.quartet(["key", "vkey", "--data", federation.path("wales", "data"), "--log", "wales"])
        #expect(vkey.stdout.trimmingCharacters(in: .newlines) == newKey, "\(vkey)")
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"), arguments: LocalFederation.onePeerAnswers)
        let next = try federation.append("wales", #"{"after":"recover"}"#)
        #expect(next >= UInt64(size))
        // The peers take checkpoints signed by the new key: they converge, with no alert.
        _ = try federation.waitConverged(nodes) { federation.size($0, "wales") > Int(next) }
        try Self.checkNoEquivocation(federation, nodes)
        let verify = try TestKit.quartet(["verify", "--data", federation.path("wales", "data")])
        #expect(verify.status == 0, "\(verify)")
    }

    @Test func recoverFailsCleanlyWhenNoPeerAnswers() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        let key = federation.root.appendingPathComponent("wales-key-backup.pem").path
        try FileManager.default.copyItem(atPath: federation.path("wales", "data") + "/keys/wales.pem", toPath: key)
        try FileManager.default.removeItem(atPath: federation.path("wales", "data"))
        let result = try TestKit.quartet(["recover", "--config", federation.config("wales"), "--key", key, "--timeout", "3"])
        #expect(result.status != 0 && result.stderr.contains("no peer answered"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: federation.path("wales", "data")), "a failed recovery left its directory behind")
        let dry = try TestKit.quartet(["recover", "--config", federation.config("wales"), "--dry-run", "--timeout", "2"])
        #expect(dry.status != 0 && dry.stderr.contains("no peer answered"), "\(dry)")

        // A recovery killed midway leaves a marked directory: serve refuses it, and the next
        // recover starts it over (here it fails again, no peer answering, and removes it).
        let data = federation.path("wales", "data")
        let killed = try ChildProcess.spawn(ChildSettings(executable: try TestKit.quartetBinary().path,
                                                          arguments: ["recover", "--config", federation.config("wales"), "--key", key, "--timeout", "60"]))
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: data + "/quartet.sqlite") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        killed.signal(SIGKILL)
        _ = killed.wait(timeout: .seconds(10))
        #expect(FileManager.default.fileExists(atPath: data + "/RECOVERING"), "the interrupted recovery left no marker")
        let serve = try TestKit.quartet(["serve", "--config", federation.config("wales")])
        #expect(serve.status != 0 && serve.stderr.contains("recovery that did not finish"), "\(serve)")
        let over = try TestKit.quartet(["recover", "--config", federation.config("wales"), "--key", key, "--timeout", "2"])
        #expect(over.status != 0 && over.stderr.contains("starting it over") && over.stderr.contains("no peer answered"), "\(over)")
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: data)) ?? []).filter { $0 != "writer.lock" }
        #expect(left.isEmpty, "a failed recovery left \(left) behind")

        // A recovery still running is not cleared by a second one.
        let running = try ChildProcess.spawn(ChildSettings(executable: try TestKit.quartetBinary().path,
                                                           arguments: ["recover", "--config", federation.config("wales"), "--key", key, "--timeout", "60"]))
        defer { _ = running.stop(signal: SIGKILL) }
        let started = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: data + "/quartet.sqlite") && Date() < started { Thread.sleep(forTimeInterval: 0.05) }
        let second = try TestKit.quartet(["recover", "--config", federation.config("wales"), "--key", key, "--timeout", "2"])
        #expect(second.status != 0 && second.stderr.contains("another process"), "\(second)")
        #expect(FileManager.default.fileExists(atPath: data + "/quartet.sqlite"), "the second recover removed the running one's database")
    }

    /// A second recover never clears a running one, even in the moment nobody holds the data
    /// directory's lock (between preparing it and starting the node: once seen wiping a running
    /// recovery's database): the marker names the recovering process. Here, deterministically,
    /// a marker naming a live process whose arguments hold `recover`; once it ends, the leftover
    /// is started over.
    @Test func aSecondRecoverNeverClearsARunningOne() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        let key = federation.root.appendingPathComponent("wales-key-backup.pem").path
        let data = federation.path("wales", "data")
        try FileManager.default.copyItem(atPath: data + "/keys/wales.pem", toPath: key)
        try FileManager.default.removeItem(atPath: data)
        let python = try #require(TestKit.which("python3"))
        let holder = try ChildProcess.spawn(ChildSettings(executable: python.path, arguments: ["-c", "import time; time.sleep(60)", "recover"]))
        defer { _ = holder.stop(signal: SIGKILL, grace: .seconds(5)) }
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try Data("quartet recover started 1 pid \(holder.pid)\n".utf8).write(to: URL(fileURLWithPath: data + "/RECOVERING"))
        try Data("the running recovery's database".utf8).write(to: URL(fileURLWithPath: data + "/quartet.sqlite"))
        let second = try TestKit.quartet(["recover", "--config", federation.config("wales"), "--key", key, "--timeout", "2"])
        #expect(second.status != 0 && second.stderr.contains("another process (pid \(holder.pid)) is recovering"), "\(second)")
        // Not removed, not made again: the running recovery's files are as it left them.
        #expect((try? String(contentsOfFile: data + "/quartet.sqlite", encoding: .utf8)) == "the running recovery's database",
                "the second recover cleared the running one's database")
        #expect((try? String(contentsOfFile: data + "/RECOVERING", encoding: .utf8)) == "quartet recover started 1 pid \(holder.pid)\n")
        _ = holder.stop(signal: SIGKILL, grace: .seconds(5))
        let over = try TestKit.quartet(["recover", "--config", federation.config("wales"), "--key", key, "--timeout", "2"])
        #expect(over.status != 0 && over.stderr.contains("starting it over") && over.stderr.contains("no peer answered"), "\(over)")
    }
}
