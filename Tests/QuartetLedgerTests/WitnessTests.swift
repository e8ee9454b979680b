import QuartetCrypto
@testable import QuartetLedger
import Testing

/// C2SP tlog-cosignature, tlog-policy and the witness's add-checkpoint decision, without IO.
@Suite struct CosignatureTests {
    static let body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"

    @Test func aCosignatureIsTheTimeAndASignatureOverTheHeaderAndTheBody() throws {
        let key = try Ed25519PrivateKey()
        let signer = try CosignatureSigner(name: "witness.example/w1", key: key)
        let line = try signer.cosign(body: Self.body, time: 1_679_315_147)
        // Key id: SHA-256(name || \n || 0x04 || key)[:4], written out here, not through the code.
        let id = Array(SHA256.hash(Array("witness.example/w1\n".utf8) + [0x04] + key.publicKey.rawRepresentation).prefix(4))
        #expect(line.keyID == id)
        #expect(line.signature.count == 72)
        #expect(Array(line.signature.prefix(8)) == [0, 0, 0, 0, 0x64, 0x18, 0x50, 0xCB], "1679315147 big-endian")
        let message = Array("cosignature/v1\ntime 1679315147\n\(Self.body)".utf8)
        #expect(key.publicKey.isValidSignature(Array(line.signature.dropFirst(8)), for: message))
        let note = SignedNote(text: Self.body, signatures: [line])
        #expect(try signer.verifier.verify(note) == 1_679_315_147)
        // The vkey round-trips and names type 0x04.
        let vkey = signer.verifier.vkey
        #expect(try CosignatureVerifier(vkey: vkey) == signer.verifier)
        #expect(Base64.decode(String(vkey.split(separator: "+", maxSplits: 2)[2]))?.first == 0x04)
    }

    /// The worked example of docs/formats.md section 11, computed with Python `cryptography`
    /// from the spec text (seed bytes 1…32): Quartet must produce the same key and line.
    @Test func theWorkedExampleMatchesAnIndependentImplementation() throws {
        let key = try Ed25519PrivateKey(rawRepresentation: Array(1...32))
        let signer = try CosignatureSigner(name: "quartet.ot-workforce.uk/scotland/witness", key: key)
        #expect(signer.verifier.vkey == "quartet.ot-workforce.uk/scotland/witness+4b05f7a2+BHm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk")
        let body = "quartet.ot-workforce.uk/wales\n3\nZ3T+4j1PlvyMw1zI6tiRQkMYiTN3Oi0dKKsOqNsLkqA=\nquartet-time 1764590400000\n"
        let line = try signer.cosign(body: body, time: 1_764_590_401)
        let serialized = SignedNote(text: body, signatures: [line]).serialized.dropFirst(body.count + 1)
        #expect(serialized == "\u{2014} quartet.ot-workforce.uk/scotland/witness SwX3ogAAAABpLYNBi2YquyzYLkSPD9974VB0u+Elqt18o9CnhCeIBnwvymEbzcpsNV/pwlE+dexnUN8KXl+voHBO5JFJMwHGIrMrCg==\n")
    }

    @Test func aCosignatureOnAnotherBodyOrTimeOrFromALogKeyDoesNotVerify() throws {
        let key = try Ed25519PrivateKey()
        let signer = try CosignatureSigner(name: "w1", key: key)
        var line = try signer.cosign(body: Self.body, time: 100)
        let other = Self.body.replacingOccurrences(of: "20852163", with: "20852164")
        #expect(throws: LedgerError.self) { try signer.verifier.verify(SignedNote(text: other, signatures: [line])) }
        line.signature[7] ^= 1
        #expect(throws: LedgerError.self) { try signer.verifier.verify(SignedNote(text: Self.body, signatures: [line])) }
        // A log's note signature by the same key is not a cosignature (its key id differs).
        let logLine = try NoteSigner(name: "w1", key: key).sign(text: Self.body).signatures[0]
        #expect(!signer.verifier.owns(logLine))
        // A log vkey (type 0x01) is refused as a witness key, with a reason.
        let logVkey = NoteVerifier(name: "w1", publicKey: key.publicKey).vkey
        #expect { try CosignatureVerifier(vkey: logVkey) } throws: { ($0 as? LedgerError)?.message.contains("0x04") == true }
        // Lines of other witnesses are ignored; a missing line is named.
        #expect { try signer.verifier.verify(SignedNote(text: Self.body, signatures: [logLine])) } throws: {
            ($0 as? LedgerError)?.message == "no cosignature by witness w1"
        }
    }
}

@Suite struct WitnessPolicyTests {
    struct Parties {
        let log: NoteSigner
        let witnesses: [CosignatureSigner]
        init(count: Int = 3) throws {
            log = try NoteSigner(name: "quartet.example/wales", key: Ed25519PrivateKey())
            witnesses = try (0..<count).map { try CosignatureSigner(name: "quartet.example/witness/w\($0)", key: Ed25519PrivateKey()) }
        }

        func policy(_ quorum: String) -> String {
            "# the federation's policy\nlog \(log.verifier.vkey) https://wales.example\n"
                + witnesses.enumerated().map { "witness W\($0.offset) \($0.element.verifier.vkey)\n" }.joined()
                + "\tgroup nations \(quorum) " + witnesses.indices.map { "W\($0)" }.joined(separator: " ") + "  \n\nquorum nations\n"
        }

        func note(cosignedBy: [Int], size: UInt64 = 5) throws -> SignedNote {
            let checkpoint = Checkpoint(origin: log.name, size: size, root: Hash.leaf([1]))
            var note = try log.sign(checkpoint)
            for i in cosignedBy { note.signatures.append(try witnesses[i].cosign(body: note.text, time: 1_700_000_000)) }
            return note
        }
    }

    @Test func aCheckpointMeetsTheQuorumOnlyWithEnoughValidCosignatures() throws {
        let parties = try Parties()
        let policy = try WitnessPolicy(parsing: parties.policy("2"))
        #expect(policy.groups == [.init(name: "nations", threshold: 2, members: ["W0", "W1", "W2"])])
        #expect(policy.logURLs == ["https://wales.example"])
        let verified = try policy.verify(try parties.note(cosignedBy: [0, 2]))
        #expect(verified.witnesses.keys.sorted() == ["W0", "W2"] && verified.checkpoint.size == 5)
        #expect { try policy.verify(try parties.note(cosignedBy: [1])) } throws: {
            ($0 as? LedgerError)?.message.contains("does not meet the quorum nations (2 of W0, W1, W2): cosigned by W1") == true
        }
        // A forged second cosignature does not count, and is named.
        var forged = try parties.note(cosignedBy: [0, 1])
        forged.signatures[2].signature[20] ^= 1
        #expect { try policy.verify(forged) } throws: { ($0 as? LedgerError)?.message.contains("refused: W1") == true }
        // With the quorum met by the others, it still does not count, and is named.
        var third = try parties.note(cosignedBy: [0, 1, 2])
        third.signatures[3].signature[20] ^= 1
        let met = try policy.verify(third)
        #expect(met.witnesses.keys.sorted() == ["W0", "W1"] && met.refused.count == 1 && met.refused[0].hasPrefix("W2: "), "\(met.refused)")
        #expect(try policy.verify(try parties.note(cosignedBy: [0, 1, 2])).refused.isEmpty)
        // Lines from keys the policy does not know are ignored.
        let stranger = try CosignatureSigner(name: "stranger", key: Ed25519PrivateKey())
        var extra = try parties.note(cosignedBy: [0, 1])
        extra.signatures.append(try stranger.cosign(body: extra.text, time: 1))
        #expect(try policy.verify(extra).witnesses.count == 2)
        // A checkpoint of a log outside the policy is refused; one under the log's name by a key
        // the policy does not name is said to be so (a rotation since the policy was written).
        let other = try NoteSigner(name: "quartet.example/wales", key: Ed25519PrivateKey()).sign(Checkpoint(origin: "quartet.example/wales", size: 5, root: Hash.leaf([1])))
        #expect { try policy.verify(other) } throws: { ($0 as? LedgerError)?.message.contains("signed as quartet.example/wales by a key the policy does not name") == true }
        let elsewhere = try NoteSigner(name: "quartet.example/scotland", key: Ed25519PrivateKey()).sign(Checkpoint(origin: "quartet.example/scotland", size: 5, root: Hash.leaf([1])))
        #expect { try policy.verify(elsewhere) } throws: { ($0 as? LedgerError)?.message == "the checkpoint is not signed by any log of the policy" }
        // `quorum none` needs no witness; `all` and `any` are thresholds.
        #expect(try WitnessPolicy(parsing: "log \(parties.log.verifier.vkey)\nquorum none\n").verify(try parties.note(cosignedBy: [])).witnesses.isEmpty)
        #expect(try WitnessPolicy(parsing: parties.policy("all")).groups[0].threshold == 3)
        #expect(try WitnessPolicy(parsing: parties.policy("any")).groups[0].threshold == 1)
        // The written form parses back to the same policy.
        #expect(try WitnessPolicy(parsing: policy.text) == policy)
        // A comment is any line whose first octet past blanks is `#`, a combining mark after it
        // or not (tlog-policy).
        #expect(try WitnessPolicy(parsing: "#\u{301} accented comment\n  # indented\n" + policy.text) == policy)
    }

    /// How fresh a checkpoint is by its witnesses' word: the latest time by which witnesses
    /// meeting the quorum had each seen no larger tree (a node serving an old checkpoint a
    /// quorum did cosign shows its age; `verify-checkpoint --max-age`).
    @Test func theQuorumTimeIsTheLatestTimeByWhichTheQuorumStillHolds() throws {
        let parties = try Parties()
        var note = try parties.log.sign(Checkpoint(origin: parties.log.name, size: 5, root: Hash.leaf([1])))
        for (i, time) in [(0, 1_700_000_300), (1, 1_700_000_100), (2, 1_700_000_200)] {
            note.signatures.append(try parties.witnesses[i].cosign(body: note.text, time: UInt64(time)))
        }
        let policy = try WitnessPolicy(parsing: parties.policy("2"))
        let signed = try policy.verify(note).witnesses
        #expect(signed == ["W0": 1_700_000_300, "W1": 1_700_000_100, "W2": 1_700_000_200])
        #expect(policy.quorumTime(signed) == 1_700_000_200, "W0 and W2 are two of three from 200 on")
        #expect(try WitnessPolicy(parsing: parties.policy("all")).quorumTime(signed) == 1_700_000_100)
        #expect(try WitnessPolicy(parsing: parties.policy("any")).quorumTime(signed) == 1_700_000_300)
        #expect(policy.quorumTime(["W0": 5]) == nil, "one of three meets no quorum")
        #expect(try WitnessPolicy(parsing: "log \(parties.log.verifier.vkey)\nquorum none\n").quorumTime(signed) == nil)
    }

    @Test func malformedPoliciesAreRefusedWithTheLineAndTheReason() throws {
        let parties = try Parties(count: 2)
        let w0 = "witness W0 \(parties.witnesses[0].verifier.vkey)\n"
        let w1 = "witness W1 \(parties.witnesses[1].verifier.vkey)\n"
        let cases: [(String, String)] = [
            (w0 + "quorum W1\n", "line 2: quorum names W1, which is not defined above it"),
            (w0 + w1, "no quorum line"),
            (w0 + "quorum W0\nquorum W0\n", "line 3: a second quorum line"),
            (w0 + w1 + "group g 3 W0 W1\nquorum g\n", "threshold must be all, any or a number from 1 to 2, got 3"),
            (w0 + w1 + "group g 0 W0 W1\nquorum g\n", "got 0"),
            (w0 + w1 + "group g +2 W0 W1\nquorum g\n", "got +2"),
            (w0 + w1 + "group g 02 W0 W1\nquorum g\n", "got 02"),
            ("log \(parties.log.verifier.vkey)\nlog \(NoteVerifier(name: parties.log.verifier.name, publicKey: parties.witnesses[0].verifier.publicKey).vkey)\n" + w1 + "quorum W1\n",
             "line 2: the log \(parties.log.verifier.name) is listed twice"),
            (w0 + w1 + "group g 1 W0 W0\nquorum g\n", "lists a member twice"),
            (w0 + w1 + "group g any W0\ngroup h any W0 W1\nquorum h\n", "W0 is a member of more than one group"),
            (w0 + "witness W0 \(parties.witnesses[1].verifier.vkey)\nquorum W0\n", "line 2: the name W0 is already defined"),
            (w0 + "witness W9 \(parties.witnesses[0].verifier.vkey)\nquorum W0\n", "the key of witness W9 is listed twice"),
            ("witness none \(parties.witnesses[0].verifier.vkey)\nquorum none\n", "the name none is already defined"),
            ("witness W0 \(parties.log.verifier.vkey)\nquorum W0\n", "0x04"),
            (w0 + "quorum W0\nfrobnicate\n", "line 3: unknown keyword frobnicate"),
            (w0 + "quorum W0\r\n", "control character 0xd"),
            ("witness K \(parties.witnesses[0].verifier.vkey)\nwitness \u{212A} \(parties.witnesses[1].verifier.vkey)\nquorum K\n", "only in Unicode form"),
            (String(repeating: "#\n", count: 40_000), "longer than"),
        ]
        for (text, expected) in cases {
            #expect { try WitnessPolicy(parsing: text) } throws: { ($0 as? LedgerError)?.message.contains(expected) == true }
        }
    }

    /// Two keys of one name whose key ids collide (a 4-byte hash: found here by a birthday search,
    /// as anyone can) are refused wherever they meet — two witnesses, or a log and a witness — since
    /// a signature line names only name and id and would be read for one of the two.
    @Test func keysOneSignatureLineCouldNotTellApartAreRefused() throws {
        let name = "example.test/twin"
        var seen: [[UInt8]: (type: UInt8, raw: [UInt8])] = [:]
        var pair: [(type: UInt8, raw: [UInt8])] = []
        var i: UInt32 = 0
        while pair.isEmpty {
            i += 1
            let raw = SHA256.hash(Array("key \(i)".utf8))
            // Either type: the id covers it, so a log's and a witness's key may collide too (two
            // logs' keys of one name are refused as one log listed twice before that).
            let type: UInt8 = i % 3 == 0 ? 0x01 : 0x04
            let id = Array(SHA256.hash(Array(name.utf8) + [0x0A, type] + raw).prefix(4))
            if let other = seen[id], other.raw != raw, other.type == 0x04 || type == 0x04 { pair = [other, (type, raw)] } else { seen[id] = (type, raw) }
        }
        func vkey(_ key: (type: UInt8, raw: [UInt8])) -> String {
            "\(name)+\(Hex.encode(Array(SHA256.hash(Array(name.utf8) + [0x0A, key.type] + key.raw).prefix(4))))+\(Base64.encode([key.type] + key.raw))"
        }
        let log = try NoteSigner(name: "example.test/log", key: Ed25519PrivateKey()).verifier.vkey
        // Witnesses first where both are (one log line per origin), the log's key first otherwise.
        let lines = pair.sorted { $0.type < $1.type }.enumerated().map { n, key in key.type == 0x01 ? "log \(vkey(key))\n" : "witness T\(n) \(vkey(key))\n" }
        let text = (pair.allSatisfy { $0.type == 0x04 } ? "log \(log)\n" : "") + lines.joined() + "quorum \(pair.contains { $0.type == 0x04 } ? "T1" : "none")\n"
        #expect { try WitnessPolicy(parsing: text) } throws: { error in
            let message = (error as? LedgerError)?.message ?? ""
            return message.contains("the key name \(name) with key id") && message.contains("ambiguous keys")
        }
        // Either key alone is a policy.
        let alone = pair.first { $0.type == 0x04 } ?? pair[0]
        let single = alone.type == 0x04 ? "log \(log)\nwitness T \(vkey(alone))\nquorum T\n" : "log \(vkey(alone))\nquorum none\n"
        #expect(throws: Never.self) { try WitnessPolicy(parsing: single) }
    }

    /// Keys in base64 the node itself would not write (padding added, a space, the URL-safe
    /// alphabet) are refused, as the page's checker refuses them (Tests/Browser/web_test.py).
    @Test func keysInAnyButTheNodesBase64AreRefused() throws {
        let log = try NoteSigner(name: "example.test/log", key: Ed25519PrivateKey()).verifier.vkey
        let witness = try CosignatureSigner(name: "example.test/w", key: Ed25519PrivateKey()).verifier.vkey
        #expect(throws: Never.self) { try WitnessPolicy(parsing: "log \(log)\nwitness w \(witness)\nquorum w\n") }
        let key = String(witness.split(separator: "+", maxSplits: 2)[2])
        var urlSafe = key.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        if urlSafe == key { urlSafe = String(key.dropLast()) + "-" }
        for bad in [witness + "==", witness + "=", witness.replacingOccurrences(of: key, with: urlSafe), witness.replacingOccurrences(of: key, with: String(key.dropLast(4)))] {
            #expect(throws: LedgerError.self, "\(bad)") { try WitnessPolicy(parsing: "log \(log)\nwitness w \(bad)\nquorum w\n") }
        }
    }
}

@Suite struct WitnessingTests {
    static let leaves = (0..<20).map { Hash.leaf([UInt8($0)]) }
    static func root(_ size: Int) -> Hash { Merkle.root(ofLeaves: Array(leaves.prefix(size))) }
    static func proof(_ from: UInt64, _ to: UInt64) throws -> [Hash] {
        let leaves = Array(Self.leaves.prefix(Int(to)))
        return try Merkle.consistencyProof(from: from, to: to) { level, index in try Merkle.subtreeHash(of: leaves, level: level, index: index) }
    }

    let log: NoteSigner
    let logs: [String: [NoteVerifier]]
    init() throws {
        log = try NoteSigner(name: "quartet.example/wales", key: Ed25519PrivateKey())
        logs = [log.name: [log.verifier]]
    }

    func note(_ size: Int, root: Hash? = nil) throws -> SignedNote {
        try log.sign(Checkpoint(origin: log.name, size: UInt64(size), root: root ?? Self.root(size)))
    }

    func refusal(_ request: Witnessing.Request, latest: Witnessing.Latest?, held: Hash? = nil) -> Witnessing.Refusal? {
        do { _ = try Witnessing.decide(request, logs: logs, latest: latest, held: { _ in held }); return nil } catch { return error }
    }

    /// Under two trusted keys (a rotation's overlap), a line under one that does not verify
    /// beside a good one under the other: the note is taken, and the key named is the one whose
    /// line verified, so the witness keeps that line alone, not the submitter's.
    @Test func theKeyWhoseLineVerifiedIsTheOneNamed() throws {
        let next = try NoteSigner(name: log.name, key: Ed25519PrivateKey())
        let good = try next.sign(Checkpoint(origin: log.name, size: 4, root: Self.root(4)))
        let bogus = SignedNote.Signature(keyName: log.name, keyID: log.verifier.keyID, signature: [UInt8](repeating: 7, count: 64))
        let note = SignedNote(text: good.text, signatures: [bogus] + good.signatures)
        let request = Witnessing.Request(oldSize: 0, proof: [], note: note)
        let (checkpoint, key) = try Witnessing.verified(request, logs: [log.name: [log.verifier, next.verifier]])
        #expect(checkpoint.size == 4)
        #expect(key == next.verifier)
        #expect(key.originOnly(note).signatures == good.signatures, "only the line that verified is kept")
    }

    @Test func theRequestBodyParsesAndRoundTrips() throws {
        let request = Witnessing.Request(oldSize: 4, proof: try Self.proof(4, 9), note: try note(9))
        #expect(try Witnessing.Request(parsing: Array(request.body.utf8)) == request)
        let bad: [(String, String)] = [
            ("old 04\n\n" + (try note(9)).serialized, "no leading zeroes"),
            ("old -1\n\n" + (try note(9)).serialized, "`old <size>`"),
            ("size 4\n\n" + (try note(9)).serialized, "`old <size>`"),
            ("old 4\nnot-a-hash\n\n" + (try note(9)).serialized, "line 1 is not the base64"),
            ("old 4\n" + String(repeating: Self.leaves[0].base64 + "\n", count: 64) + "\n" + (try note(9)).serialized, "more than 63"),
            ("old 4\n", "no blank line"),
            ("old 4\n\nquartet.example/wales\n9\n", "the checkpoint"),
        ]
        for (body, expected) in bad {
            #expect { try Witnessing.Request(parsing: Array(body.utf8)) } throws: {
                guard let r = $0 as? Witnessing.Refusal else { return false }
                return r.status == .badRequest && r.message.contains(expected)
            }
        }
        // A note that is not UTF-8 (C2SP signed-note: it MUST be) is refused on its bytes: an
        // unknown key's line named by a lone 0xFF was decoded to U+FFFD, ignored, and the
        // request cosigned.
        var invalid = Array(request.body.utf8)
        invalid += [0xE2, 0x80, 0x94, 0x20, 0xFF, 0x20] + Array("AAAAAAA=\n".utf8)
        #expect { try Witnessing.Request(parsing: invalid) } throws: {
            ($0 as? Witnessing.Refusal).map { $0.status == .badRequest && $0.message.contains("not valid UTF-8") } ?? false
        }
    }

    @Test func theWitnessCosignsOnlyConsistentGrowthFromWhatItLastCosigned() throws {
        let latest = Witnessing.Latest(size: 4, root: Self.root(4), note: try note(4))
        // First contact: old 0, no proof.
        #expect(try Witnessing.decide(.init(oldSize: 0, proof: [], note: try note(4)), logs: logs, latest: nil).size == 4)
        #expect(refusal(.init(oldSize: 0, proof: try Self.proof(2, 4), note: try note(4)), latest: nil)?.status == .unprocessable)
        // Growth with a good proof.
        #expect(try Witnessing.decide(.init(oldSize: 4, proof: try Self.proof(4, 9), note: try note(9)), logs: logs, latest: latest).size == 9)
        // Old size not what it cosigned: 409 naming its size.
        let stale = refusal(.init(oldSize: 0, proof: [], note: try note(9)), latest: latest)
        #expect(stale?.status == .conflict && stale?.size == 4)
        // A proof that does not lead from its root: 422.
        #expect(refusal(.init(oldSize: 4, proof: try Self.proof(3, 9), note: try note(9)), latest: latest)?.status == .unprocessable)
        // Old size past the checkpoint: 400.
        #expect(refusal(.init(oldSize: 10, proof: [], note: try note(9)), latest: latest)?.status == .badRequest)
        // Unknown origin: 404; no trusted signature: 403.
        let stranger = try NoteSigner(name: "quartet.example/mars", key: Ed25519PrivateKey()).sign(Checkpoint(origin: "quartet.example/mars", size: 1, root: Self.root(1)))
        #expect(refusal(.init(oldSize: 0, proof: [], note: stranger), latest: nil)?.status == .notFound)
        let impostor = try NoteSigner(name: log.name, key: Ed25519PrivateKey()).sign(Checkpoint(origin: log.name, size: 4, root: Self.root(4)))
        #expect(refusal(.init(oldSize: 0, proof: [], note: impostor), latest: nil)?.status == .forbidden)
        // A member's log none of whose keys is trusted now (all revoked at this size): 403, a
        // refused key, not 404, an unknown log.
        #expect { try Witnessing.decide(.init(oldSize: 0, proof: [], note: try note(4)), logs: [log.name: []], latest: nil) } throws: {
            ($0 as? Witnessing.Refusal)?.status == .forbidden
        }
        // Size 0 with a root other than the empty tree's: 422 (kept, every later proof from 0 would fail).
        let emptyWrong = try log.sign(Checkpoint(origin: log.name, size: 0, root: Self.root(1)))
        #expect(refusal(.init(oldSize: 0, proof: [], note: emptyWrong), latest: nil)?.status == .unprocessable)
        let empty = try log.sign(Checkpoint(origin: log.name, size: 0, root: Hash.emptyTree))
        #expect(try Witnessing.decide(.init(oldSize: 0, proof: [], note: empty), logs: logs, latest: nil).size == 0)
        // Signed by the log's key, but with lines a Quartet log never signs: 400, saying why.
        let padded = try log.sign(Checkpoint(origin: log.name, size: 4, root: Self.root(4), extensions: ["quartet-time 1", String(repeating: "x", count: 30_000)]))
        let extended = refusal(.init(oldSize: 0, proof: [], note: padded), latest: nil)
        #expect(extended?.status == .badRequest && extended?.message.contains("2 extension lines") == true)
    }

    /// A witness holding a copy of the log cosigns only what its copy holds (finding 231): a log
    /// keeping its pushes behind what it gets cosigned cannot get a witness to vouch for a fork
    /// no copy holds. Asked again once the copy holds it, the same request is answered.
    @Test func aWitnessWithACopyCosignsOnlyWhatItsCopyHolds() throws {
        let latest = Witnessing.Latest(size: 4, root: Self.root(4), note: try note(4))
        func decide(old: UInt64, to size: Int, latest: Witnessing.Latest?, copy: UInt64, proof: [Hash]? = nil) -> Result<UInt64, Witnessing.Refusal> {
            Result { () throws(Witnessing.Refusal) -> UInt64 in
                let request = Witnessing.Request(oldSize: old, proof: proof ?? (old == 0 ? [] : try! Self.proof(old, UInt64(size))), note: try! note(size))
                return try Witnessing.decide(request, checkpoint: Witnessing.verify(request, logs: logs), latest: latest, copySize: copy).size
            }
        }
        #expect(try decide(old: 4, to: 9, latest: latest, copy: 9).get() == 9)
        #expect(try decide(old: 4, to: 9, latest: latest, copy: 12).get() == 9)
        #expect(try decide(old: 0, to: 9, latest: nil, copy: 9).get() == 9)
        // Beyond the copy: 503, saying how far the copy is (first contact too).
        for (old, l) in [(UInt64(4), Optional(latest)), (0, nil)] {
            guard case .failure(let refused) = decide(old: old, to: 9, latest: l, copy: 8) else { Issue.record("cosigned beyond the copy"); return }
            #expect(refused.status == .unavailable && refused.message.contains("holds 8 entries, fewer than the checkpoint's 9"), "\(refused)")
        }
        // Refusals that are final come first: an old size not the one cosigned gets its 409
        // (the log resends from it), a proof that does not verify its 422.
        guard case .failure(let stale) = decide(old: 2, to: 9, latest: latest, copy: 8) else { Issue.record("a stale old size was cosigned"); return }
        #expect(stale.status == .conflict && stale.size == 4)
        guard case .failure(let bad) = decide(old: 4, to: 9, latest: latest, copy: 8, proof: try Self.proof(3, 9)) else { Issue.record("a bad proof was cosigned"); return }
        #expect(bad.status == .unprocessable)
        let padded = try log.sign(Checkpoint(origin: log.name, size: 9, root: Self.root(9), extensions: ["quartet-time 1", "x"]))
        let extended = Witnessing.Request(oldSize: 4, proof: try Self.proof(4, 9), note: padded)
        // Lines a Quartet log never signs, beyond the copy: the 400 at once, not a 503 to ask again.
        do {
            _ = try Witnessing.decide(extended, checkpoint: Witnessing.verify(extended, logs: logs), latest: latest, copySize: 8)
            Issue.record("a checkpoint with lines a Quartet log never signs was cosigned")
        } catch {
            #expect(error.status == .badRequest, "\(error)")
        }
        // Without a copy (a log this node does not hold), no gate: the spec's witness.
        #expect(try Witnessing.decide(.init(oldSize: 4, proof: try Self.proof(4, 12), note: try note(12)), logs: logs, latest: latest).size == 12)
    }

    @Test func twoRootsForOneSizeAreRefusedAndKeptAsEvidence() throws {
        let latest = Witnessing.Latest(size: 4, root: Self.root(4), note: try note(4))
        let fork = try note(4, root: Hash.leaf([0xFF]))
        let refused = refusal(.init(oldSize: 4, proof: [], note: fork), latest: latest)
        #expect(refused?.status == .conflict && refused?.size == 4 && refused?.conflicting == fork)
        // A fork signed with extension lines a Quartet log never signs is still a split view (kept).
        let extendedFork = try log.sign(Checkpoint(origin: log.name, size: 4, root: Hash.leaf([0xFE]), extensions: ["quartet-time 1", "x"]))
        let splitView = refusal(.init(oldSize: 4, proof: [], note: extendedFork), latest: latest)
        #expect(splitView?.status == .conflict && splitView?.conflicting == extendedFork)
        // With the checkpoint cosigned at that size, as the decision saw it: the evidence's other half.
        #expect(refused?.cosigned == latest.note)
        // The same root again is cosigned again, with the empty proof a tree has to itself.
        #expect(try Witnessing.decide(.init(oldSize: 4, proof: [], note: try note(4)), logs: logs, latest: latest).size == 4)
        #expect(refusal(.init(oldSize: 4, proof: [Self.leaves[0]], note: try note(4)), latest: latest)?.status == .unprocessable)
        // A witness holding the log refuses a checkpoint its replica contradicts.
        let held = refusal(.init(oldSize: 0, proof: [], note: try note(9)), latest: nil, held: Hash.leaf([7]))
        #expect(held?.status == .conflict && held?.conflicting == nil)
        // A size of 2^63 or more is refused before anything is stored.
        let huge = try log.sign(Checkpoint(origin: log.name, size: UInt64(Int64.max) + 1, root: Hash.leaf([1])))
        #expect(refusal(.init(oldSize: 0, proof: [], note: huge), latest: nil)?.status == .badRequest)
        // An origin that is another spelling of a known one under Unicode (K and the Kelvin
        // sign) is another log: unknown.
        let kelvin = try NoteSigner(name: "quartet.example/\u{212A}", key: Ed25519PrivateKey())
        let known: [String: [NoteVerifier]] = ["quartet.example/K": [kelvin.verifier]]
        let variant = try kelvin.sign(Checkpoint(origin: kelvin.name, size: 1, root: Self.root(1)))
        #expect { try Witnessing.decide(.init(oldSize: 0, proof: [], note: variant), logs: known, latest: nil) } throws: {
            ($0 as? Witnessing.Refusal)?.status == .notFound
        }
    }
}
