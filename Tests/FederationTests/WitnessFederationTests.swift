import Foundation
import QuartetCrypto
import QuartetHarness
import QuartetLedger
import QuartetReplication
import QuartetStore
import QuartetTestKit
import Testing

/// Nations witness each other (C2SP tlog-witness and tlog-cosignature) on the running demo
/// federation, checked by a verifier holding only the policy, by Python `cryptography` written
/// from the spec, and by Go's sumdb/note; and a split view shown by a modified wales node.
@Suite(.serialized) struct WitnessFederationTests {
    static let origin = "quartet.ot-workforce.uk/wales"

    /// The witness vkeys the federation file lists, by node.
    static func witnessKeys(_ federation: LocalFederation) throws -> [String: String] {
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: federation.root.appendingPathComponent("federation.json"))) as! [String: Any]
        var out: [String: String] = [:]
        for node in file["nodes"] as! [[String: Any]] { out[node["id"] as! String] = node["witness"] as? String }
        return out
    }

    /// wales's checkpoint as wales serves it, once it is at `size` with `count` cosignatures of
    /// other members' witnesses (wales's own witness's line comes besides: `ownCosignature`).
    static func cosigned(_ federation: LocalFederation, size: UInt64, count: Int, withOwn: Bool = false, timeout: TimeInterval = 30) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key,
                                        "\(federation.api("wales"))/v1/logs/wales/checkpoint"]).body
            let lines = last.split(separator: "\n").filter { $0.hasPrefix("\u{2014} ") && !$0.hasPrefix(ownCosignature) }
            // The own line comes once the others' quorum is in.
            let own = !withOwn || last.contains("\n\(ownCosignature)")
            if last.contains("\n\(size)\n"), lines.count >= 1 + count, own { return last }
            usleep(100_000)
        }
        throw TestKitError("wales's checkpoint did not reach size \(size) with \(count) cosignatures within \(timeout) s: \(last)")
    }

    /// A modified wales: its key over `leaves` (a history of that many entries), sent to
    /// `node`'s witness from size `old` with a valid consistency proof; the note and the answer
    /// (with its headers when `headers`).
    static func show(_ leaves: [Hash], from old: UInt64, to node: String, _ federation: LocalFederation, headers: Bool = false) throws -> (note: SignedNote, body: String, status: Int) {
        let key = try DataDirectory(path: federation.path("wales", "data")).readSigningKey(log: "wales")
        let size = UInt64(leaves.count)
        let tree: Merkle.SubtreeHashes = { level, index in try Merkle.subtreeHash(of: leaves, level: level, index: index) }
        let note = try NoteSigner(name: origin, key: key)
            .sign(Checkpoint(origin: origin, size: size, root: Merkle.root(ofLeaves: leaves), timeMillis: UInt64(Date().timeIntervalSince1970 * 1000)))
        let proof = old == size || old == 0 ? [] : try Merkle.consistencyProof(from: old, to: size, subtree: tree)
        let body = federation.root.appendingPathComponent("add-checkpoint-\(UUID().uuidString).txt")
        try Data(("old \(old)\n" + proof.map { $0.base64 + "\n" }.joined() + "\n" + note.serialized).utf8).write(to: body)
        let answer = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "--data-binary", "@\(body.path)"]
                                         + (headers ? ["-D", "-"] : []) + ["\(federation.api(node))/witness/add-checkpoint"])
        return (note, answer.body, answer.status)
    }

    /// The leaf hashes of wales's first `count` entries, as wales serves them.
    static func walesLeaves(_ federation: LocalFederation, _ count: Int) throws -> [Hash] {
        let entries = try federation.get("wales", "/v1/logs/wales/entries?from=0&limit=\(count)")["entries"] as! [[String: Any]]
        return try entries.map { try Hash(base64: $0["leaf_hash"] as! String) }
    }

    /// Waits until `node` raises an equivocation alert about `log`, and expects it.
    static func expectEquivocation(of log: String, at node: String, _ federation: LocalFederation, within seconds: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(seconds)
        var alerts: [[String: Any]] = []
        while Date() < deadline {
            alerts = try federation.get(node, "/v1/alerts")["alerts"] as! [[String: Any]]
            if alerts.contains(where: { $0["kind"] as? String == "equivocation" && $0["log"] as? String == log }) { return }
            usleep(200_000)
        }
        Issue.record("no equivocation alert about \(log) at \(node) within \(seconds) s: \(alerts)")
    }

    /// The start of wales's own witness's cosignature line.
    static let ownCosignature = "\u{2014} \(origin)/witness "

    func verify(_ federation: LocalFederation, policy: String, note: String) throws -> TestKit.ProcessResult {
        let file = federation.root.appendingPathComponent("note-\(UUID().uuidString).txt")
        try Data(note.utf8).write(to: file)
        return try TestKit.quartet(["verify-checkpoint", "--policy", policy, file.path, "--format", "json"])
    }

    @Test func everyNationCosignsAndAModifiedNodeCannotShowTwoHistories() throws {
        let federation = try LocalFederation()
        try federation.start()
        defer { federation.stop() }
        let keys = try Self.witnessKeys(federation)
        #expect(Set(keys.keys) == Set(LocalFederation.all) && keys.values.allSatisfy { $0.contains("/witness+") }, "\(keys)")
        for i in 0..<3 { try federation.append("wales", #"{"i":\#(i)}"#) }
        // wales's four witnesses cosign its checkpoint.
        let note = try Self.cosigned(federation, size: 3, count: 4)

        // A verifier holding only the policy (`quartet policy`: a majority of wales's witnesses).
        let policyText = try TestKit.quartet(["policy", "--federation", federation.root.appendingPathComponent("federation.json").path, "--log", "wales"])
        #expect(policyText.status == 0 && policyText.stdout.contains("group members 3 uk england scotland northern-ireland"), "\(policyText)")
        let policy = federation.root.appendingPathComponent("wales.policy")
        try Data(policyText.stdout.utf8).write(to: policy)
        let ok = try verify(federation, policy: policy.path, note: note)
        #expect(ok.status == 0 && ok.stdout.contains("\"size\" : 3") && ok.stdout.contains("\"quorum_time\""), "\(ok)")
        // Said in text with how late the quorum's witnesses had seen no larger tree; bounded by
        // --max-age (a node may serve an old checkpoint a quorum did cosign).
        let noteFile = federation.root.appendingPathComponent("note-fresh.txt")
        try Data(note.utf8).write(to: noteFile)
        let fresh = try TestKit.quartet(["verify-checkpoint", "--policy", policy.path, noteFile.path, "--max-age", "3600"])
        #expect(fresh.status == 0 && fresh.stdout.contains("had seen no larger tree as late as"), "\(fresh)")
        // One witness's line mangled: the other three still meet the quorum, and the line is not
        // counted but named (the page's checker says the same).
        var mangled = try SignedNote(parsing: note)
        let witnessLine = try #require(mangled.signatures.firstIndex { $0.keyName.contains("england") }, "\(note)")
        mangled.signatures[witnessLine].signature[30] ^= 1
        let mangledFile = federation.root.appendingPathComponent("note-mangled.txt")
        try Data(mangled.serialized.utf8).write(to: mangledFile)
        let warned = try TestKit.quartet(["verify-checkpoint", "--policy", policy.path, mangledFile.path])
        #expect(warned.status == 0 && warned.stdout.contains("warning: not counted, a line by the key of "), "\(warned)")
        let warnedJSON = try verify(federation, policy: policy.path, note: mangled.serialized)
        #expect(warnedJSON.status == 0 && warnedJSON.stdout.contains("\"refused\" : [") && warnedJSON.stdout.contains("does not verify"), "\(warnedJSON)")

        // The policy of every log (no --log): one quorum for all, and each log's own node is
        // among its witnesses, so it asks one more than a majority of the others (4 of 5). A
        // checkpoint wales cosigns itself, with two of the others, is not enough (3 of 5 was:
        // a log and two honest witnesses on each side could give two histories a quorum).
        let everyText = try TestKit.quartet(["policy", "--federation", federation.root.appendingPathComponent("federation.json").path])
        #expect(everyText.status == 0 && everyText.stdout.contains("group members 4 uk wales england scotland northern-ireland"), "\(everyText)")
        let every = federation.root.appendingPathComponent("every.policy")
        try Data(everyText.stdout.utf8).write(to: every)
        #expect(try verify(federation, policy: every.path, note: note).status == 0, "four others' cosignatures meet it")
        let parsed = try SignedNote(parsing: note)
        let walesWitness = try CosignatureSigner(name: Self.origin + "/witness",
                                                 key: try WitnessStore.witnessKey(DataDirectory(path: federation.path("wales", "data"))))
        let twoOthers = parsed.signatures.filter { $0.keyName == Self.origin || $0.keyName.hasSuffix("/witness") }.prefix(3)
        let selfCosigned = SignedNote(text: parsed.text, signatures: Array(twoOthers)
                                      + [try walesWitness.cosign(body: parsed.text, time: UInt64(Date().timeIntervalSince1970))]).serialized
        let selfRefused = try verify(federation, policy: every.path, note: selfCosigned)
        #expect(selfRefused.status == 1 && selfRefused.stderr.contains("does not meet the quorum members (4 of"), "\(selfRefused)")
        // A note beyond a signed note's limit is refused having read only that much.
        let huge = try verify(federation, policy: every.path, note: String(repeating: "x", count: 4 << 20))
        #expect(huge.status == 1 && huge.stderr.contains("longer than"), "\(huge.stderr)")
        let weak = try TestKit.quartet(["policy", "--federation", federation.root.appendingPathComponent("federation.json").path, "--quorum", "3"])
        #expect(weak.status == 0 && weak.stderr.contains("warning") && weak.stdout.contains("group members 3 "), "\(weak)")

        // Python `cryptography`, from the spec, and Go's sumdb/note with wales's own key.
        let python = try #require(TestKit.which("python3"))
        let cosignedFile = federation.root.appendingPathComponent("cosigned.txt")
        try Data(note.utf8).write(to: cosignedFile)
        let script = TestKit.repositoryRoot.appendingPathComponent("Tests/Interop/check_cosignatures.py").path
        let others = ["uk", "england", "scotland", "northern-ireland"]
        let independent = try TestKit.run(python, [script, cosignedFile.path] + others.map { keys[$0]! })
        #expect(independent.status == 0 && independent.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == 4, "\(independent)")
        let go = try TestKit.goNoteChecker()
        let walesKey = federation.path("wales", "vkey")
        let opened = try TestKit.run(go, [], stdin: Array(try JSONSerialization.data(withJSONObject: ["vkey": walesKey, "note": note])))
        #expect(opened.status == 0 && opened.stdout.contains("ok note \(Self.origin) size 3"), "\(opened)")

        // uk's view (which reads the other members' cosigned checkpoints every few seconds)
        // shows wales witnessed by 4 of 4; wales's /metrics shows each witness's lag.
        var witnessed: [String: Any] = [:]
        let viewDeadline = Date().addingTimeInterval(20)
        while Date() < viewDeadline {
            let logs = try federation.get("uk", "/v1/logs")["logs"] as! [[String: Any]]
            witnessed = logs.first { $0["log"] as? String == "wales" }?["witnessed"] as? [String: Any] ?? [:]
            if witnessed["size"] as? Int == 3, (witnessed["witnesses"] as? [String])?.count == 4 { break }
            usleep(250_000)
        }
        #expect(witnessed["quorum"] as? Bool == true && witnessed["of"] as? Int == 4
                && witnessed["witnesses"] as? [String] == ["england", "northern-ireland", "scotland", "uk"], "\(witnessed)")
        let dashboard = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("uk"))/"])
        #expect(dashboard.body.contains("witnessed by 4 of 4 at size 3"), "the overview does not show wales witnessed")
        let metrics = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("wales"))/metrics"])
        #expect(metrics.body.contains("quartet_witness_behind_entries{witness=\"england\"} 0"), "\(metrics.body.prefix(300))")
        // (AlertRulesTests.exposedWithWitnesses: the series the alert rules watch.)
        #expect(metrics.body.contains("quartet_witness_failing{witness=\"england\"} 0"), "\(metrics.body.prefix(300))")
        #expect(metrics.body.contains("quartet_witness_ahead_of_copy_seconds{log=\"england\"} 0"), "\(metrics.body.prefix(300))")

        // A figure's provenance at uk goes to a checkpoint of uk's log that a quorum cosigned,
        // and says who; a verifier with uk's policy accepts that checkpoint as served.
        let plans = TestKit.repositoryRoot.appendingPathComponent("config/plans").path
        let imported = try TestKit.quartet(["import", "plan", "\(plans)/uk-plan.yaml", "--config", federation.config("uk"),
                                            "--token", federation.path("uk", "operator_token")])
        #expect(imported.status == 0, "\(imported)")
        var provenance: [String: Any] = [:]
        let provenanceDeadline = Date().addingTimeInterval(20)
        while Date() < provenanceDeadline {
            provenance = try federation.get("uk", "/v1/view/figures/priority:P1/provenance")
            if ((provenance["witnessed"] as? [String: Any])?["uk"] as? [String: Any])?["quorum"] as? Bool == true { break }
            usleep(250_000)
        }
        let ukWitnessed = try #require((provenance["witnessed"] as? [String: Any])?["uk"] as? [String: Any], "\(provenance.keys)")
        #expect(ukWitnessed["quorum"] as? Bool == true && ukWitnessed["of"] as? Int == 4, "\(ukWitnessed)")
        let ukNote = try #require((provenance["checkpoints"] as? [String: String])?["uk"])
        let ukPolicy = federation.root.appendingPathComponent("uk.policy")
        try Data(try TestKit.quartet(["policy", "--federation", federation.root.appendingPathComponent("federation.json").path, "--log", "uk"]).stdout.utf8).write(to: ukPolicy)
        let ukChecked = try verify(federation, policy: ukPolicy.path, note: ukNote)
        #expect(ukChecked.status == 0, "\(ukChecked)")
        // Every entry's proof leads to that checkpoint's size.
        let ukSize = Int(ukNote.split(separator: "\n")[1])!
        #expect((provenance["entries"] as! [[String: Any]]).allSatisfy { ($0["inclusion"] as! [String: Any])["size"] as? Int == ukSize })

        // A modified wales signs a checkpoint of size 4 with a leaf it never published, and shows
        // it to scotland's witness alone, with a valid consistency proof from size 3. scotland's
        // copy holds 3 entries: its witness vouches for no more than that (503, finding 231).
        let leaves = try Self.walesLeaves(federation, 3) + [Hash.leaf(Array("a history only scotland sees".utf8))]
        let shown = try Self.show(leaves, from: 3, to: "scotland", federation)
        #expect(shown.status == 503 && shown.body.contains("holds 3 entries"), "\(shown)")

        // The real wales appends its own entry 3: every witness cosigns it, scotland too.
        try federation.append("wales", #"{"i":3}"#)
        let real = try Self.cosigned(federation, size: 4, count: 4)
        let realFile = federation.root.appendingPathComponent("real.txt")
        try Data(real.utf8).write(to: realFile)
        let realCheck = try TestKit.run(python, [script, realFile.path] + others.map { keys[$0]! })
        #expect(realCheck.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == 4, "\(realCheck)")
        // The fork, shown to scotland now that its copy holds size 4, is refused (409, the size
        // it holds) and kept as evidence of a split view; it meets no quorum anywhere.
        let again = try Self.show(leaves, from: 4, to: "scotland", federation, headers: true)
        #expect(again.status == 409 && again.body.contains("text/x.tlog.size") && again.body.hasSuffix("\r\n\r\n4\n"), "\(again)")
        #expect(try verify(federation, policy: policy.path, note: real).status == 0)
        // Shown to england's witness too (uk is left unshown: the evidence must travel to it
        // below), the fork is refused there as well (england cosigned the real size 4); with
        // whatever cosignatures the witnesses gave it, an outside verifier holding only the
        // quorum policy rejects the fork's checkpoint, signed by wales's own key as it is.
        let elsewhere = try Self.show(leaves, from: 4, to: "england", federation)
        #expect(elsewhere.status == 409 || (elsewhere.status == 403 && elsewhere.body.contains("quarantined")), "england: \(elsewhere)")
        let gathered = [again, elsewhere].filter { $0.status == 200 }.map(\.body).joined()
        let forkChecked = try verify(federation, policy: policy.path, note: again.note.serialized + gathered)
        #expect(forkChecked.status != 0 && forkChecked.stderr.contains("quorum"), "\(forkChecked)")
        // The four leaves of a history and one more, signed by wales's key at size 5 and sent to
        // `node`'s witness with a consistency proof from size 4.
        func extend(_ four: [Hash], with leaf: String, at node: String) throws -> (body: String, status: Int) {
            let shown = try Self.show(four + [Hash.leaf(Array(leaf.utf8))], from: 4, to: node, federation)
            return (shown.body, shown.status)
        }
        // The fork moved on from its size 4 does not lead from what scotland cosigned (422), or
        // scotland's node holds wales quarantined on its evidence already (403).
        let movedOn = try extend(leaves, with: "more of the history only scotland sees", at: "scotland")
        #expect(movedOn.status == 422 || (movedOn.status == 403 && movedOn.body.contains("quarantined")), "\(movedOn)")
        // The evidence travels: the other nodes quarantine wales's log.
        try Self.expectEquivocation(of: "wales", at: "uk", federation, within: 15)
        // uk, which holds wales's log quarantined now, cosigns it no more: not even a checkpoint
        // extending the real history it cosigned (a consistency proof from its size 4).
        let quarantinedAtUK = try extend(try Self.walesLeaves(federation, 4), with: "a fifth entry", at: "uk")
        #expect(quarantinedAtUK.status == 403 && quarantinedAtUK.body.contains("quarantined"), "\(quarantinedAtUK)")
    }

    /// Finding 231: a witness cosigns only what its copy of the log holds. A modified wales
    /// shows england a fork two entries beyond england's copy: refused (503, after waiting for
    /// the copy), where before it was cosigned and a log keeping its pushes behind could walk
    /// every witness along the fork with nothing ever compared. The real history then reaches
    /// that size and is cosigned by every witness, england too; the fork shown again is refused
    /// as a split view and becomes evidence.
    @Test func aWitnessCosignsOnlyWhatItsCopyHolds() throws {
        let federation = try LocalFederation()
        try federation.start()
        defer { federation.stop() }
        for i in 0..<3 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = try Self.cosigned(federation, size: 3, count: 4)
        let real = try Self.walesLeaves(federation, 3)
        let fork = real + [Hash.leaf(Array("only the readers see this".utf8)), Hash.leaf(Array("nor this".utf8))]
        let started = Date()
        let ahead = try Self.show(fork, from: 3, to: "england", federation)
        #expect(ahead.status == 503 && ahead.body.contains("holds 3 entries, fewer than the checkpoint's 5"), "\(ahead)")
        #expect(Date().timeIntervalSince(started) >= 1.5, "refused before waiting for the copy")

        // The real history reaches size 5: every witness cosigns it, england too.
        try federation.append("wales", #"{"i":3}"#)
        try federation.append("wales", #"{"i":4}"#)
        _ = try Self.cosigned(federation, size: 5, count: 4)
        // The fork at that size, shown again, is a split view: refused, and evidence.
        let split = try Self.show(fork, from: 5, to: "england", federation)
        #expect(split.status == 409 && split.body == "5\n", "\(split)")
        try Self.expectEquivocation(of: "wales", at: "england", federation, within: 20)
    }

    /// A log's own node cosigns its checkpoints too, so the policy of every log (one quorum for
    /// all, 4 of 5, counting each log's own witness) is met with one member's witness down:
    /// wales and three others. Its own line does not count as one of its witnesses ("3 of 4"
    /// at wales and at uk), and without it the three others are not enough.
    @Test func thePolicyOfEveryLogHoldsWithOneWitnessDown() throws {
        let federation = try LocalFederation()
        try federation.start(["uk", "wales", "england", "scotland"])
        defer { federation.stop() }
        for i in 0..<3 { try federation.append("wales", #"{"i":\#(i)}"#) }
        let note = try Self.cosigned(federation, size: 3, count: 3, withOwn: true)
        let lines = note.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let everyText = try TestKit.quartet(["policy", "--federation", federation.root.appendingPathComponent("federation.json").path])
        #expect(everyText.status == 0 && everyText.stdout.contains("group members 4 "), "\(everyText)")
        let every = federation.root.appendingPathComponent("every.policy")
        try Data(everyText.stdout.utf8).write(to: every)
        let met = try verify(federation, policy: every.path, note: note)
        #expect(met.status == 0 && met.stdout.contains("\"wales\""), "\(met)")
        let withoutOwn = lines.filter { !$0.hasPrefix(Self.ownCosignature) }.joined(separator: "\n")
        let short = try verify(federation, policy: every.path, note: withoutOwn)
        #expect(short.status == 1 && short.stderr.contains("does not meet the quorum members (4 of"), "\(short)")
        // Counted among its witnesses nowhere: wales's and uk's /v1/logs say 3 of 4.
        for node in ["wales", "uk"] {
            var witnessed: [String: Any] = [:]
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                let logs = try federation.get(node, "/v1/logs")["logs"] as! [[String: Any]]
                witnessed = logs.first { $0["log"] as? String == "wales" }?["witnessed"] as? [String: Any] ?? [:]
                if witnessed["size"] as? Int == 3 { break }
                usleep(250_000)
            }
            #expect(witnessed["of"] as? Int == 4 && witnessed["quorum"] as? Bool == true
                    && witnessed["witnesses"] as? [String] == ["england", "scotland", "uk"], "\(node): \(witnessed)")
        }
    }

    /// A log that lost the cosignatures it gathered (`witness/cosignatures.sqlite`, kept with
    /// `synchronous=NORMAL`) asks its witnesses from size 0 again after a restart: each answers
    /// 409 with the size it holds, the request goes again from that size, and the next
    /// checkpoint gathers every witness as before.
    @Test func aLogThatForgotWhatWasCosignedLearnsItFromTheWitnesses() throws {
        let federation = try LocalFederation()
        try federation.start()
        defer { federation.stop() }
        for i in 0..<3 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = try Self.cosigned(federation, size: 3, count: 4)
        federation.stop()
        let witness = URL(fileURLWithPath: federation.path("wales", "data")).appendingPathComponent("witness")
        try FileManager.default.removeItem(at: witness.appendingPathComponent("cosignatures.sqlite"))
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(at: witness.appendingPathComponent("cosignatures.sqlite" + suffix)) }
        try federation.start()
        try federation.append("wales", #"{"i":3}"#)
        let note = try Self.cosigned(federation, size: 4, count: 4)
        #expect(note.contains("\n4\n"))
        let witnesses = try federation.get("wales", "/v1/witnesses")["witnesses"] as! [[String: Any]]
        #expect(witnesses.count == 4 && witnesses.allSatisfy { $0["cosigned_size"] as? Int == 4 && $0["failing"] as? Bool == false }, "\(witnesses)")
    }

    /// A witness tells a log's writer, when the writer connects, the newest checkpoint of its
    /// log it cosigned (`witnessed`, protocol 3), before its heads: a writer restored from an
    /// older copy learns what was witnessed even where no replica holds it (OwnLogSyncTests has
    /// the rule). Here a hand-driven "wales" greets uk and must hear it first.
    @Test func aWitnessTellsTheWriterWhatItCosignedBeforeItsHeads() async throws {
        let federation = try LocalFederation()
        try federation.start(["uk", "wales", "england"])
        defer { federation.stop() }
        for i in 0..<3 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = try Self.cosigned(federation, size: 3, count: 2)
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let peer = try await AttackTests.greeted(as: "wales", federation)
        // The first of the two in the order uk sent them.
        let first = try peer.wait { message in
            if case .witnessed = message { return true }
            if case .heads = message { return true }
            return false
        }
        guard case .witnessed(let log, let note) = first else { Issue.record("uk sent \(first.name) before witnessed"); return }
        #expect(log == "wales")
        let signed = try SignedNote(parsing: note)
        let checkpoint = try Checkpoint(parsing: signed.text)
        #expect(checkpoint.origin == Self.origin && checkpoint.size == 3)
        let vkey = try #require(((try JSONSerialization.jsonObject(with: Data(contentsOf: federation.root.appendingPathComponent("federation.json"))) as? [String: Any])?["nodes"]
            as? [[String: Any]])?.first { $0["id"] as? String == "wales" }?["vkey"] as? String)
        _ = try NoteVerifier(vkey: vkey).verifyCheckpoint(signed)
    }

    /// A member whose witness cosigns every request correctly but only after 8 s (so it never
    /// fails and never backs off) does not hold wales's other witnesses back: each new
    /// checkpoint is cosigned by uk, england and northern-ireland well before that witness
    /// answers (a round waits only while more witnesses are out than may be missing from a
    /// quorum). Found by an attack: the round waited for every witness, up to 10 s.
    @Test func aSlowWitnessDoesNotHoldTheOthersBack() throws {
        let federation = try LocalFederation()
        let slow = try Self.scotlandWitnessInPython(federation, delay: 8)
        defer { _ = slow.stop(signal: SIGKILL, grace: .seconds(5)) }
        try federation.start(["uk", "wales", "england", "northern-ireland"])
        defer { federation.stop() }
        for round in 0..<3 {
            let first = try federation.append("wales", #"{"round":\#(round),"i":0}"#)
            let size = try federation.append("wales", #"{"round":\#(round),"i":1}"#) + 1
            #expect(size == first + 2)
            let started = Date()
            var cosigned: [String: Int] = [:]
            while Date().timeIntervalSince(started) < 20 {
                let witnesses = try federation.get("wales", "/v1/witnesses")["witnesses"] as! [[String: Any]]
                cosigned = Dictionary(uniqueKeysWithValues: witnesses.map { ($0["id"] as! String, $0["cosigned_size"] as? Int ?? -1) })
                if ["uk", "england", "northern-ireland"].allSatisfy({ cosigned[$0] ?? -1 >= Int(size) }) { break }
                usleep(50_000)
            }
            // Causally, not by a clock: the three others had cosigned the size while the slow
            // witness (8 s an answer) had not yet — the round did not wait for it.
            let waited = Date().timeIntervalSince(started)
            #expect(["uk", "england", "northern-ireland"].allSatisfy({ cosigned[$0] ?? -1 >= Int(size) }), "round \(round): not cosigned by the others after \(waited) s (\(cosigned))")
            #expect(cosigned["scotland"] ?? -1 < Int(size), "round \(round): the others' cosignatures of size \(size) came only after the slow witness's (\(waited) s; \(cosigned))")
        }
        // The slow witness's cosignatures verify and count as well, once they come.
        _ = try Self.cosigned(federation, size: 6, count: 4)
    }

    /// Scotland's witness played by Tests/Interop/slow_witness.py (its key, its certificate, its
    /// API port), answering after `delay` seconds; with `lag`, its copy of every log a size
    /// behind the largest checkpoint it was sent. Returned once it listens.
    static func scotlandWitnessInPython(_ federation: LocalFederation, delay: Int, lag: Bool = false) throws -> ChildProcess {
        let python = try #require(TestKit.which("python3"))
        let pki = federation.root.appendingPathComponent("pki/scotland")
        let port = try #require(URL(string: federation.api("scotland"))?.port)
        let witness = try ChildProcess.spawn(ChildSettings(executable: python.path, arguments: [
            TestKit.repositoryRoot.appendingPathComponent("Tests/Interop/slow_witness.py").path, "\(port)",
            pki.appendingPathComponent("scotland.pem").path, pki.appendingPathComponent("scotland.key").path, federation.ca,
            URL(fileURLWithPath: federation.path("scotland", "data")).appendingPathComponent("witness/key.pem").path,
            "quartet.ot-workforce.uk/scotland/witness", "\(delay)"] + (lag ? ["lag"] : [])))
        // It answers anything but a witness request with 404 once it listens.
        let listening = Date().addingTimeInterval(20)
        while (try? federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("scotland"))/healthz"]))?.status != 404 {
            guard Date() < listening else {
                _ = witness.stop(signal: SIGKILL, grace: .seconds(5))
                throw TestKitError("the witness in Python did not start listening")
            }
            usleep(100_000)
        }
        return witness
    }

    /// A witness whose copy of wales stays behind every checkpoint it is sent (a stream of
    /// appends outrunning its replication by more than its 2 s wait) is sent the newest
    /// checkpoint its 503 says its copy holds, and cosigns that (was: asked the newest again and
    /// again, answered 503 every time, and never cosigned while the stream lasted).
    @Test func aWitnessWhoseCopyLagsCosignsTheNewestCheckpointItHolds() throws {
        let federation = try LocalFederation()
        let lagging = try Self.scotlandWitnessInPython(federation, delay: 0, lag: true)
        defer { _ = lagging.stop(signal: SIGKILL, grace: .seconds(5)) }
        try federation.start(["uk", "wales", "england", "northern-ireland"])
        defer { federation.stop() }
        var size = 0
        for i in 0..<4 { size = Int(try federation.append("wales", #"{"i":\#(i)}"#)) + 1 }
        // It holds one less than the largest checkpoint it was sent: the newest it can cosign.
        let deadline = Date().addingTimeInterval(30)
        var scotland: [String: Any] = [:]
        while Date() < deadline {
            let witnesses = try federation.get("wales", "/v1/witnesses")["witnesses"] as! [[String: Any]]
            scotland = witnesses.first { $0["id"] as? String == "scotland" } ?? [:]
            if scotland["cosigned_size"] as? Int == size - 1 { break }
            usleep(100_000)
        }
        #expect(scotland["cosigned_size"] as? Int == size - 1, "scotland's lagging witness: \(scotland)")
        // Its cosignature is kept with the checkpoint of that size.
        let note = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key,
                                        "\(federation.api("wales"))/v1/logs/wales/checkpoint?cosigned-by=scotland"])
        #expect(note.status == 200 && note.body.contains("\n\(size - 1)\n") && note.body.contains("\u{2014} quartet.ot-workforce.uk/scotland/witness "), "\(note)")
    }

    /// A member restored with a new witness key, listed by a reload: the log's node asks the new
    /// key at once, though the log is quiet (was: the old key's size counted as the new key's,
    /// not asked for up to 10 minutes, shown up to date; review of 2026-12-06, finding 305).
    @Test func aWitnessListedUnderANewKeyIsAskedAtOnce() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales", "england"])
        for i in 0..<3 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = try Self.cosigned(federation, size: 3, count: 2)
        // uk's witness key replaced (its old key and state moved aside), the file lists the new one.
        _ = federation.processes.removeValue(forKey: "uk")?.stop()
        let witness = URL(fileURLWithPath: federation.path("uk", "data")).appendingPathComponent("witness")
        try FileManager.default.moveItem(at: witness, to: federation.root.appendingPathComponent("uk-witness-old"))
        let printed = try TestKit.quartet(["key", "witness-vkey", "--data", federation.path("uk", "data"), "--log", "uk"])
        try #require(printed.status == 0, "\(printed.stderr)")
        let vkey = printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let layout = FederationLayout(root: federation.root)
        var file = try ProvisionedFile.read(FederationFile.self, from: layout.federationFile)
        let index = try #require(file.nodes.firstIndex { $0.id == "uk" })
        try #require(file.nodes[index].witness != vkey)
        file.nodes[index].witness = vkey
        file.version += 1
        try federation.writeSigned(file, to: layout.federationFile)
        // (Its witness, with no state, learns what it cosigned from its peers first: with three of
        // the five members running, one answer is enough.)
        try federation.start(["uk"], onePeerAnswers: true)
        for node in ["wales", "england"] { federation.processes[node]!.child.signal(SIGHUP) }
        // wales is quiet: its checkpoint of 3 gets a line by uk's new key all the same.
        let newKeyID = try #require(vkey.split(separator: "+").dropFirst().first.map(String.init))
        let deadline = Date().addingTimeInterval(30)
        var served = ""
        var byNewKey = false
        repeat {
            served = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("wales"))/v1/logs/wales/checkpoint"]).body
            byNewKey = served.split(separator: "\n").contains { line in
                guard line.hasPrefix("\u{2014} quartet.ot-workforce.uk/uk/witness "), let encoded = line.split(separator: " ").last,
                      let bytes = Data(base64Encoded: String(encoded)), bytes.count >= 4 else { return false }
                return bytes.prefix(4).map { String(format: "%02x", $0) }.joined() == newKeyID
            }
            if !byNewKey { usleep(200_000) }
        } while !byNewKey && Date() < deadline
        #expect(byNewKey, "wales's checkpoint has no cosignature by uk's new witness key within 30 s: \(served) \(federation.processes["wales"]!.log.suffix(3000))")
        #expect(served.contains("\n3\n"))
    }

    /// A witness whose key and state were rolled back together (a disk snapshot restored with
    /// `witness/` in it) cannot tell locally; its peers can. At start it asks them what it
    /// cosigned (finding 169), raises its state to it, and cosigns no log before they answer.
    @Test func aWitnessRestoredFromAnOlderSnapshotLearnsWhatItCosignedFromItsPeers() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        let nodes = ["uk", "wales", "england"]
        try federation.start(nodes)
        func cosignedByUK(atLeast size: Int) throws -> Int {
            let deadline = Date().addingTimeInterval(30)
            var last = -1
            while Date() < deadline {
                let witnesses = try federation.get("wales", "/v1/witnesses")["witnesses"] as! [[String: Any]]
                last = witnesses.first { $0["id"] as? String == "uk" }?["cosigned_size"] as? Int ?? -1
                if last >= size { return last }
                usleep(100_000)
            }
            throw TestKitError("uk's witness did not cosign wales's size \(size) within 30 s (\(last))")
        }
        for i in 0..<3 { try federation.append("wales", #"{"i":\#(i)}"#) }
        let before = try cosignedByUK(atLeast: 3)
        // The snapshot: uk stopped, its witness key and state copied.
        let witness = URL(fileURLWithPath: federation.path("uk", "data")).appendingPathComponent("witness")
        let snapshot = federation.root.appendingPathComponent("uk-witness-snapshot")
        _ = federation.processes.removeValue(forKey: "uk")?.stop()
        try FileManager.default.copyItem(at: witness, to: snapshot)
        try federation.start(["uk"])
        for i in 3..<10 { try federation.append("wales", #"{"i":\#(i)}"#) }
        let after = try cosignedByUK(atLeast: 10)
        #expect(after > before)
        // england read uk's cosignature of wales's log (every 5 s, from wales's checkpoint).
        let reading = Date().addingTimeInterval(20)
        var shown = ""
        repeat {
            shown = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key,
                                         "\(federation.api("england"))/v1/logs/wales/checkpoint?cosigned-by=uk"]).body
            if shown.contains("\n\(after)\n") { break }
            usleep(200_000)
        } while Date() < reading
        #expect(shown.contains("\n\(after)\n") && shown.contains("\u{2014} quartet.ot-workforce.uk/uk/witness "), "\(shown)")
        let note = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("wales"))/v1/logs/wales/checkpoint"]).body
        // The snapshot restored over uk's witness, and uk started again with wales down (wales
        // would otherwise heal uk's state at once by resending its checkpoint from uk's old size:
        // here only england can tell uk what it cosigned, so one answer is enough).
        _ = federation.processes.removeValue(forKey: "uk")?.stop()
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        try FileManager.default.removeItem(at: witness)
        try FileManager.default.copyItem(at: snapshot, to: witness)
        try federation.start(["uk"], onePeerAnswers: true)
        // Asked from size 0, the witness names the size it holds: what it cosigned before the
        // restore, learnt from its peers, not the snapshot's (503 while it asks them).
        let body = federation.root.appendingPathComponent("add-0.txt")
        try Data(("old 0\n\n" + note).utf8).write(to: body)
        var answer: (body: String, status: Int) = ("", 0)
        let deadline = Date().addingTimeInterval(30)
        repeat {
            answer = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "--data-binary", "@\(body.path)",
                                          "\(federation.api("uk"))/witness/add-checkpoint"])
            if answer.status == 503 { #expect(answer.body.contains("learning from its peers")); usleep(100_000) }
        } while answer.status == 503 && Date() < deadline
        #expect(answer.status == 409, "\(answer)")
        let held = Int(answer.body.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect(held >= after, "the restored witness holds size \(held) of wales, below the \(after) it cosigned before the restore (the snapshot had \(before))")
        #expect(federation.processes["uk"]!.log.contains("raised to what a peer showed it cosigned"))
    }

    /// Finding 275: a member's node sending forged checkpoints (here england's certificate, a
    /// checkpoint of wales signed by a key not wales's) is refused (403) until its refusal
    /// budget is spent, then answered 429 before any work; another member's witnessing goes on.
    @Test func aMemberSendingForgeriesIsHeldToABudgetAndTheOthersAreNot() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales", "england"])
        try federation.append("wales", #"{"i":0}"#)
        _ = try federation.waitConverged(["uk", "wales", "england"]) { federation.size($0, "wales") == 1 }
        let curl = try #require(TestKit.which("curl"))
        let pki = federation.root.appendingPathComponent("pki/england").path
        let url = "\(federation.api("uk"))/witness/add-checkpoint"
        func flood(_ body: URL, _ count: Int) throws -> (answers: [Int], bodies: [String]) {
            // One connection, many requests (faster than a budget refills).
            let result = try TestKit.run(curl, ["-sS", "--max-time", "60", "--cacert", federation.ca, "--cert", "\(pki)/england.pem", "--key", "\(pki)/england.key",
                                                "--data-binary", "@\(body.path)", "-w", "\n@@%{http_code}\n"] + Array(repeating: url, count: count))
            let bodies = result.stdout.components(separatedBy: "\n@@")
            return (bodies.dropFirst().map { Int($0.prefix(3)) ?? 0 }, bodies)
        }
        // Wales's own checkpoint from a size uk's witness does not hold: 409s, which an honest
        // node meets and follows (and a reader can cause), spend nothing — 30 of them, more
        // than the budget holds, are all answered 409.
        let real = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("wales"))/v1/logs/wales/checkpoint"]).body
        let stale = federation.root.appendingPathComponent("stale.txt")
        try Data(("old 0\n\n" + real.components(separatedBy: "\n\n").prefix(2).joined(separator: "\n\n").trimmingCharacters(in: .newlines) + "\n").utf8).write(to: stale)
        let conflicts = try flood(stale, 30)
        // (The first may be cosigned, if uk's witness had not cosigned wales yet.)
        #expect(conflicts.answers.count == 30 && conflicts.answers.filter { $0 == 409 }.count >= 29 && !conflicts.answers.contains(429),
                "\(conflicts.answers) \(conflicts.bodies.prefix(2))")
        let forger = try NoteSigner(name: Self.origin, key: try Ed25519PrivateKey())
        let note = try forger.sign(Checkpoint(origin: Self.origin, size: 9, root: Hash.leaf([9]), timeMillis: UInt64(Date().timeIntervalSince1970 * 1000)))
        let body = federation.root.appendingPathComponent("forged.txt")
        try Data(("old 0\n\n" + note.serialized).utf8).write(to: body)
        let (answers, bodies) = try flood(body, 60)
        #expect(answers.count == 60, "\(bodies.prefix(2))")
        let firstWait = try #require(answers.firstIndex(of: 429), "never held: \(answers)")
        #expect(firstWait >= 20 && answers[..<firstWait].allSatisfy { $0 == 403 }, "\(answers)")
        #expect(bodies[firstWait].contains("refused more than 10 of this caller's add-checkpoint requests a second"), "\(bodies[firstWait])")
        // Wales's own rounds are not held: its next checkpoint is cosigned by uk.
        try federation.append("wales", #"{"i":1}"#)
        var shown = (body: "", status: 0)
        let deadline = Date().addingTimeInterval(20)
        repeat {
            shown = try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "\(federation.api("wales"))/v1/logs/wales/checkpoint?cosigned-by=uk"])
            if shown.status == 200 && shown.body.contains("\n2\n") { break }
            usleep(200_000)
        } while Date() < deadline
        #expect(shown.status == 200 && shown.body.contains("\n2\n") && shown.body.contains("\u{2014} quartet.ot-workforce.uk/uk/witness "), "\(shown)")
    }

    /// Finding 169: what a witness cosigned is read from the witness itself by its peers, not
    /// only from each log's node, which could withhold it. Here uk's witness cosigns a checkpoint
    /// of wales that wales's node never sees cosigned (wales is down; the checkpoint is submitted
    /// by hand, as anyone may): england learns it from uk, and a witness restored from an older
    /// state would learn it from england (`aWitnessRestoredFromAnOlderSnapshotLearnsWhatItCosignedFromItsPeers`).
    @Test func whatAWitnessCosignedIsKnownToItsPeersWithoutTheLogsNode() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales", "england"])
        for i in 0..<3 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = try federation.waitConverged(["uk", "wales", "england"]) { federation.size($0, "wales") == 3 }
        // uk away while wales grows to 5 (england holds it), then wales away and uk back.
        _ = federation.processes.removeValue(forKey: "uk")?.stop()
        for i in 3..<5 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = try federation.waitConverged(["wales", "england"]) { federation.size($0, "wales") == 5 }
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        try federation.start(["uk"], onePeerAnswers: true)
        func reader(_ arguments: [String]) throws -> (body: String, status: Int) {
            try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key] + arguments)
        }
        // Wales's checkpoint of size 5 as england holds it, submitted to uk from the size uk holds,
        // with a line claiming uk's witness key put first (as a hostile log could): it must not
        // hide uk's own line from the peers.
        let held5 = try reader(["\(federation.api("england"))/v1/logs/wales/checkpoint"]).body
        #expect(held5.contains("\n5\n"), "\(held5)")
        let ukVkey = ((try federation.get("england", "/v1/witnesses")["witnesses"] as! [[String: Any]]).first { $0["id"] as? String == "uk" }?["vkey"] as? String) ?? ""
        let ukKeyID = try CosignatureVerifier(vkey: ukVkey).keyID
        let junk = "\u{2014} quartet.ot-workforce.uk/uk/witness " + Data(ukKeyID + [UInt8](repeating: 7, count: 72)).base64EncodedString() + "\n"
        let parts = held5.components(separatedBy: "\n\n")
        let note = parts[0] + "\n\n" + junk + parts.dropFirst().joined(separator: "\n\n")
        let body = federation.root.appendingPathComponent("add.txt")
        func submit(old: Int, proof: [String]) throws -> (body: String, status: Int) {
            try Data(("old \(old)\n" + proof.map { $0 + "\n" }.joined() + "\n" + note).utf8).write(to: body)
            return try reader(["--data-binary", "@\(body.path)", "\(federation.api("uk"))/witness/add-checkpoint"])
        }
        var answer = try submit(old: 0, proof: [])
        let deadline = Date().addingTimeInterval(30)
        while answer.status == 503 && Date() < deadline { usleep(100_000); answer = try submit(old: 0, proof: []) }
        #expect(answer.status == 409, "\(answer)")
        let held = Int(answer.body.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        #expect((1...4).contains(held), "\(answer)")
        let proof = try federation.get("england", "/v1/logs/wales/proofs/consistency?from=\(held)&to=5")["proof"] as! [String]
        answer = try submit(old: held, proof: proof)
        #expect(answer.status == 200 && answer.body.hasPrefix("\u{2014} quartet.ot-workforce.uk/uk/witness "), "\(answer)")
        #expect(!answer.body.contains(junk))
        // An origin this node would never make (the shape of Go's checksum database, spaces and
        // all) is still an origin: one the witness does not know, 404 (C2SP tlog-witness), not 400.
        let foreignBody = federation.root.appendingPathComponent("foreign.txt")
        try Data(("old 0\n\ngo.sum database tree\n1\n\(Hash.emptyTree.base64)\n\n\u{2014} sum.golang.org "
                  + Data([UInt8](repeating: 9, count: 68)).base64EncodedString() + "\n").utf8).write(to: foreignBody)
        let foreign = try reader(["--data-binary", "@\(foreignBody.path)", "\(federation.api("uk"))/witness/add-checkpoint"])
        #expect(foreign.status == 404 && foreign.body.contains("does not know the log go.sum database tree"), "\(foreign)")
        // So is one of Quartet's shape that no member has, whatever the rest (a leading zero).
        try Data(("old 0\n\nquartet.example/atlantis\n01\n\(Hash.emptyTree.base64)\n\n\u{2014} quartet.example/atlantis "
                  + Data([UInt8](repeating: 9, count: 68)).base64EncodedString() + "\n").utf8).write(to: foreignBody)
        let atlantis = try reader(["--data-binary", "@\(foreignBody.path)", "\(federation.api("uk"))/witness/add-checkpoint"])
        #expect(atlantis.status == 404, "\(atlantis)")
        // What uk's witness stored of it: the text and wales's own line only, not the lines the
        // submitter added (the junk, the other witnesses' cosignatures), which were written and
        // synced whole (a reader padding every checkpoint multiplied each witness's writes).
        let database = federation.path("uk", "data") + "/witness/witness.sqlite"
        let stored = try TestKit.run(try #require(TestKit.which("python3")), ["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT note FROM latest WHERE origin = 'quartet.ot-workforce.uk/wales'\").fetchone()[0])", database])
        #expect(stored.status == 0 && stored.stdout.contains("\n5\n"), "\(stored)")
        #expect(stored.stdout.components(separatedBy: "\u{2014} ").count == 2 && stored.stdout.contains("\u{2014} quartet.ot-workforce.uk/wales "), "\(stored.stdout)")
        // uk serves what it cosigned, with its line; england keeps it within a refresh (5 s).
        let cosigned = try federation.get("uk", "/v1/witness/cosigned")
        #expect((cosigned["notes"] as? [String])?.contains { $0.contains("\n5\n") && $0.contains("\u{2014} quartet.ot-workforce.uk/uk/witness ") && !$0.contains(junk) } == true, "\(cosigned)")
        var shown = (body: "", status: 0)
        let reading = Date().addingTimeInterval(20)
        repeat {
            shown = try reader(["\(federation.api("england"))/v1/logs/wales/checkpoint?cosigned-by=uk"])
            if shown.status == 200 && shown.body.contains("\n5\n") { break }
            usleep(200_000)
        } while Date() < reading
        #expect(shown.status == 200 && shown.body.contains("\n5\n") && shown.body.contains("\u{2014} quartet.ot-workforce.uk/uk/witness "), "\(shown)")
    }

    /// A node whose witness lost its state (a restored or recovered data directory) or whose
    /// key is not the one the federation file lists still runs, and its witness answers 503
    /// saying why and what to do, instead of cosigning.
    @Test func aWitnessThatLostItsStateOrKeyRefusesToCosignAndSaysWhy() throws {
        let federation = try LocalFederation()
        let witness = URL(fileURLWithPath: federation.path("uk", "data")).appendingPathComponent("witness")
        let key = try DataDirectory(path: federation.path("wales", "data")).readSigningKey(log: "wales")
        let note = try NoteSigner(name: Self.origin, key: key)
            .sign(Checkpoint(origin: Self.origin, size: 0, root: .emptyTree, timeMillis: UInt64(Date().timeIntervalSince1970 * 1000)))
        let body = federation.root.appendingPathComponent("add.txt")
        try Data(("old 0\n\n" + note.serialized).utf8).write(to: body)
        func submit() throws -> (body: String, status: Int) {
            try federation.curl(["--cert", federation.reader.certificate, "--key", federation.reader.key, "--data-binary", "@\(body.path)",
                                 "\(federation.api("uk"))/witness/add-checkpoint"])
        }
        let keyFile = witness.appendingPathComponent("key.pem")
        let originalKey = try Data(contentsOf: keyFile)
        // The state gone, the key kept.
        try FileManager.default.removeItem(at: witness.appendingPathComponent("witness.sqlite"))
        try federation.start(["uk"], onlyCopy: true)
        let lost = try submit()
        #expect(lost.status == 503 && lost.body.contains("witness state is missing beside its key"), "\(lost)")
        federation.stop()
        // The empty state made at that start does not pass for the lost one at the next.
        try federation.start(["uk"], onlyCopy: true)
        let again = try submit()
        #expect(again.status == 503 && again.body.contains("witness state is missing beside its key"), "\(again)")
        federation.stop()
        // Both gone: a new key, which the federation file does not list.
        try FileManager.default.removeItem(at: witness)
        try federation.start(["uk"], onlyCopy: true)
        let unlisted = try submit()
        #expect(unlisted.status == 503 && unlisted.body.contains("as this node's witness key, but") && unlisted.body.contains("/uk/witness+"), "\(unlisted)")
        // The answer names no file of the witness's host (members keep it and show it to their
        // readers); its operator's log does (finding 287).
        #expect(!unlisted.body.contains(federation.root.path) && !unlisted.body.contains("witness/key.pem") && unlisted.body.contains("operator's log says what to do"), "\(unlisted)")
        #expect(try federation.get("uk", "/healthz")["status"] as? String == "ok")
        federation.stop()
        // The listed key copied back over the new one (to spare a federation change): the state
        // beside it is the new key's, empty of what the old key cosigned.
        try FileManager.default.removeItem(at: keyFile)
        #expect(FileManager.default.createFile(atPath: keyFile.path, contents: originalKey, attributes: [.posixPermissions: 0o600]))
        try federation.start(["uk"], onlyCopy: true)
        let copiedBack = try submit()
        #expect(copiedBack.status == 503 && copiedBack.body.contains("belongs to another key"), "\(copiedBack)")
    }
}
