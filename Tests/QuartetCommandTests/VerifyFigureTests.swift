import Foundation
import QuartetAPI
import QuartetCrypto
import QuartetLedger
import QuartetNode
@testable import quartet
import Testing

/// `quartet verify-figure` on a provenance answer made here: two logs signed with keys of the
/// test's own, a policy naming them, and a UK total the entries give — then the ways an answer
/// can lie (a value stated otherwise, a payload altered, a reading left out, a log the policy
/// does not name, entries left out by the bound).
@Suite struct VerifyFigureTests {
    struct Log {
        let name: String
        var key: Ed25519PrivateKey
        var signer: NoteSigner
        var entries: [Entry] = []

        init(_ name: String) throws {
            self.name = name
            key = try Ed25519PrivateKey()
            signer = try NoteSigner(name: "example.org/\(name)", key: key)
        }

        /// Moves the log to `next` by a `key.rotation` entry, signed by `previous` (the key in
        /// force unless given) and by `next`.
        mutating func rotate(to next: Ed25519PrivateKey, signedBy previous: Ed25519PrivateKey? = nil) throws {
            let rotation = try KeyRotation.make(origin: signer.name, index: UInt64(entries.count), previous: previous ?? key, key: next)
            try append(KeyRotation.entryType, String(decoding: rotation.payload, as: UTF8.self))
            key = next
            signer = try NoteSigner(name: signer.name, key: next)
        }

        mutating func append(_ type: String, _ payload: String) throws {
            entries.append(try Entry(log: name, index: UInt64(entries.count), timeMillis: 1_767_225_600_000, type: type, classification: "public",
                                     author: "operator-\(name)", payload: Array(payload.utf8), salt: [UInt8](repeating: UInt8(truncatingIfNeeded: entries.count), count: 32)))
        }

        var leaves: [Hash] { entries.map(\.leafHash) }

        /// The checkpoint of the first `size` entries (all), cosigned by `VerifyFigureTests.witness`.
        func note(size: Int? = nil) throws -> String {
            let size = size ?? entries.count
            var note = try signer.sign(Checkpoint(origin: signer.name, size: UInt64(size), root: Merkle.root(ofLeaves: Array(leaves.prefix(size))), timeMillis: 1_767_225_600_000))
            note.signatures.append(try VerifyFigureTests.witness.cosign(body: note.text, time: 1_767_225_600))
            return note.serialized
        }

        func item(_ index: Int) throws -> ViewProvenance.Item {
            let e = entries[index]
            let proof = try Merkle.inclusionProof(index: UInt64(index), size: UInt64(entries.count)) { level, i in try Merkle.subtreeHash(of: leaves, level: level, index: i) }
            let body = EntryBody(log: name, index: UInt64(index), timeMillis: 0, time: "", type: e.header.type, classification: "public", author: "",
                                 payloadCommitment: "", payloadLength: 0, leafHash: e.leafHash.base64, header: Base64.encode(e.headerBytes),
                                 payload: .null, payloadBase64: e.payload.map { Base64.encode($0.bytes) }, salt: e.payload.map { Base64.encode($0.salt) })
            return .init(entry: body, inclusion: InclusionProofBody(log: name, index: UInt64(index), size: UInt64(entries.count), leafHash: e.leafHash.base64,
                                                                    root: Merkle.root(ofLeaves: leaves).base64, proof: proof.map(\.base64)))
        }
    }

    static let action = #"{"id":"P2.A2","priority":"P2","statements":["Workshops"]}"#
    /// The one witness whose cosignature every checkpoint here carries.
    static let witness = try! CosignatureSigner(name: "example.org/witness", key: Ed25519PrivateKey())

    /// The UK log defines P2.A2.M1 as a count; Wales maps its own measure to it and reads 5,
    /// corrected to 7.
    func logs() throws -> (uk: Log, wales: Log) {
        var uk = try Log("uk")
        try uk.append("plan.action", Self.action)
        try uk.append("plan.measure", #"{"id":"P2.A2.M1","action":"P2.A2","text":"Workshops held","kind":"count"}"#)
        var wales = try Log("wales")
        try wales.append("plan.action", #"{"id":"P2.A4","priority":"P2","statements":["Impact"]}"#)
        try wales.append("plan.measure", #"{"id":"P2.A4.M1","action":"P2.A4","text":"Workshops","kind":"count","uk_measure":"P2.A2.M1"}"#)
        try wales.append("progress.reading", #"{"measure":"P2.A4.M1","period":"2025","value":5}"#)
        try wales.append("progress.reading", #"{"measure":"P2.A4.M1","period":"2025","value":7}"#)
        return (uk, wales)
    }

    /// A policy naming `logs`' keys in force, with `quorum none` or, `witnessed`, the witness.
    func policy(_ logs: [Log], witnessed: Bool = false) throws -> WitnessPolicy {
        let lines = logs.map { "log \($0.signer.verifier.vkey) https://\($0.name).example/v1/logs/\($0.name)" }
        let quorum = witnessed ? "witness W \(Self.witness.verifier.vkey)\nquorum W\n" : "quorum none\n"
        return try WitnessPolicy(parsing: lines.joined(separator: "\n") + "\n" + quorum)
    }

    func answer(_ figure: String, _ logs: [(Log, [Int])], stated: PayloadValue?) throws -> ViewProvenance {
        var answer = ViewProvenance(figure: figure, entries: try logs.flatMap { log, indices in try indices.map { try log.item($0) } },
                                    checkpoints: Dictionary(uniqueKeysWithValues: try logs.map { ($0.0.name, try $0.0.note()) }))
        answer.stated = stated
        return answer
    }

    func check(_ answer: ViewProvenance, _ policy: WitnessPolicy, asked: String? = nil) -> Result<VerifyFigureCommand.Report, VerifyFigureCommand.Failure> {
        Result { () throws(VerifyFigureCommand.Failure) in
            try VerifyFigureCommand.check(answer, figure: asked ?? answer.figure, policy: policy, ukLog: "uk", maxAge: nil, now: 1_767_225_700)
        }
    }

    @Test func aTotalTheEntriesGiveIsRecomputedAndAnythingElseFails() throws {
        let (uk, wales) = try logs()
        let policy = try policy([uk, wales])
        let honest = try answer("total:P2.A2.M1:2025", [(uk, [0, 1]), (wales, [0, 1, 2, 3])], stated: .number(7))
        let report = try check(honest, policy).get()
        #expect(report.recomputed == "7" && report.checkpoints.keys.sorted() == ["uk", "wales"])
        // The answer for another figure than the one asked (another period; an id that looks
        // the same, with an invisible mark), or one of a kind not recomputed.
        #expect(check(honest, policy, asked: "total:P2.A2.M1:2024").failure?.contains("not total:P2.A2.M1:2024") == true)
        var lookalike = honest
        lookalike.figure = "total\u{200B}:P2.A2.M1:2025"
        #expect(check(lookalike, policy, asked: "total:P2.A2.M1:2025").failure?.contains("the answer is for figure") == true)
        var cell = honest
        cell.figure = "cell:P2:wales"
        #expect(check(cell, policy).failure?.contains("is not recomputed") == true)

        // Stated otherwise.
        var stated = honest
        stated.stated = .number(5)
        #expect(check(stated, policy).failure?.contains("give 7, not the 5") == true)
        // The correction left out, the old value stated: the fold of what is given says 5, so
        // this passes — what reading the logs whole is for (the command says so).
        let older = try answer("total:P2.A2.M1:2025", [(uk, [0, 1]), (wales, [0, 1, 2])], stated: .number(5))
        #expect((try? check(older, policy).get())?.recomputed == "5")
        // The measure's definition left out: the readings count for nothing.
        let undefined = try answer("total:P2.A2.M1:2025", [(uk, [0, 1]), (wales, [0, 2, 3])], stated: .number(7))
        #expect(check(undefined, policy).failure?.contains("give no such figure") == true)
        // A payload altered: its commitment fails.
        var altered = honest
        altered.entries[5].entry.payloadBase64 = Base64.encode(Array(#"{"measure":"P2.A4.M1","period":"2025","value":9}"#.utf8))
        #expect(check(altered, policy).failure?.contains("entry wales/3") == true)
        // A proof to another size than the checkpoint's.
        var resized = honest
        resized.entries[0].inclusion.size = 1
        #expect(check(resized, policy).failure?.contains("not the checkpoint's 2") == true)
        // An entry given twice.
        var twice = honest
        twice.entries.append(twice.entries[2])
        #expect(check(twice, policy).failure?.contains("given twice") == true)
        // A log the policy does not name: its checkpoint does not meet the policy.
        #expect(check(honest, try self.policy([uk])).failure?.contains("the checkpoint of wales does not meet your policy") == true)
        // Wales's checkpoint filed as England's (the policy's line for its key names wales).
        var misfiled = honest
        misfiled.entries = misfiled.entries.filter { $0.entry.log == "uk" }
        misfiled.checkpoints["england"] = misfiled.checkpoints.removeValue(forKey: "wales")
        #expect(check(misfiled, policy).failure?.contains("names the log wales, not england") == true)
        // A public entry served without its payload (the correction withheld, the old value
        // stated): refused, not counted as nothing.
        var withheld = try answer("total:P2.A2.M1:2025", [(uk, [0, 1]), (wales, [0, 1, 2, 3])], stated: .number(5))
        withheld.entries[5].entry.payloadBase64 = nil
        withheld.entries[5].entry.salt = nil
        #expect(check(withheld, policy).failure?.contains("entry wales/3: a public entry is served without its payload") == true)
        // Entries left out by the answer's bound.
        var bounded = honest
        bounded.omitted = 3
        #expect(check(bounded, policy).failure?.contains("leaves out 3") == true)
    }

    @Test func aReadingAndAStatusAreRecomputedToo() throws {
        var (uk, wales) = try logs()
        try wales.append("progress.status", #"{"action":"P2.A4","status":"at-risk","as_of":"2025-06-30"}"#)
        try wales.append("progress.status", #"{"action":"P2.A4","status":"on-track","as_of":"2025-03-31"}"#)
        let policy = try policy([uk, wales])
        let reading = try answer("reading:wales:P2.A4.M1:2025", [(wales, [0, 1, 2, 3])], stated: .number(7))
        #expect((try? check(reading, policy).get())?.recomputed == "7")
        // The latest as-of date decides, not the later entry.
        let status = try answer("status:wales:P2.A4", [(wales, [0, 4, 5])], stated: .string("at-risk"))
        #expect((try? check(status, policy).get())?.recomputed == "\"at-risk\"")
        var wrong = status
        wrong.stated = .string("on-track")
        #expect(check(wrong, policy).failure?.contains("not the \"on-track\"") == true)
        // An action no status was recorded for: stated null, recomputed null.
        let none = try answer("status:wales:P2.A4", [(wales, [0])], stated: .null)
        #expect((try? check(none, policy).get())?.recomputed == "null")
    }

    /// A log that moved to a new key after the reader's policy was written: the answer's
    /// rotations are followed from the policy's key (past the one that rotated to it, for a
    /// policy written between rotations), each checked as an entry of the log in the
    /// checkpoint and signed by the key in force and the new key, where the policy has a
    /// quorum; anything else fails.
    @Test func aLogsKeyRotationsAreFollowedFromThePolicysKey() throws {
        let (uk, wales) = try logs()
        let before = try policy([uk, wales], witnessed: true)
        let next = try Ed25519PrivateKey()
        var rotated = wales
        try rotated.rotate(to: next)
        try rotated.append("progress.reading", #"{"measure":"P2.A4.M1","period":"2025","value":9}"#)
        var honest = try answer("total:P2.A2.M1:2025", [(uk, [0, 1]), (rotated, [0, 1, 2, 3, 5])], stated: .number(9))
        // Without the rotations the new key's checkpoint meets no key of the policy.
        #expect(check(honest, before).failure?.contains("the checkpoint of wales does not meet your policy") == true)
        honest.rotations = ["wales": [try rotated.item(4)]]
        let report = try check(honest, before).get()
        #expect(report.recomputed == "9" && report.checkpoints["wales"]?.rotationsFollowed == 1 && report.checkpoints["uk"]?.rotationsFollowed == nil)
        // A policy written after the rotation needs none.
        let after = try check(honest, try policy([uk, rotated], witnessed: true)).get()
        #expect(after.recomputed == "9" && after.checkpoints["wales"]?.rotationsFollowed == nil)
        // With quorum none only the log's keys vouch, and the reader cannot know which the
        // federation revoked: a rotated key is not followed.
        #expect(check(honest, try policy([uk, wales])).failure?.contains("the policy's quorum is none") == true)

        // Two rotations: a policy written before both follows both; one written between them
        // names the first's new key and follows the second from there.
        var twice = rotated
        let third = try Ed25519PrivateKey()
        try twice.rotate(to: third)
        try twice.append("progress.reading", #"{"measure":"P2.A4.M1","period":"2025","value":11}"#)
        var both = try answer("total:P2.A2.M1:2025", [(uk, [0, 1]), (twice, [0, 1, 2, 3, 7])], stated: .number(11))
        both.rotations = ["wales": [try twice.item(4), try twice.item(6)]]
        #expect(try check(both, before).get().checkpoints["wales"]?.rotationsFollowed == 2)
        let between = try check(both, try policy([uk, rotated], witnessed: true)).get()
        #expect(between.recomputed == "11" && between.checkpoints["wales"]?.rotationsFollowed == 1)
        // Followed from the key between, the chain may not come back to the key before it
        // (no node's chain may).
        var back = twice
        try back.rotate(to: wales.key)
        try back.append("progress.reading", #"{"measure":"P2.A4.M1","period":"2025","value":13}"#)
        var returned = try answer("total:P2.A2.M1:2025", [(uk, [0, 1]), (back, [0, 1, 2, 3, 9])], stated: .number(13))
        returned.rotations = ["wales": [try back.item(4), try back.item(6), try back.item(8)]]
        let fromBetween = check(returned, try policy([uk, rotated], witnessed: true))
        #expect(fromBetween.failure?.contains("key.rotation at index 8 of example.org/wales rotates to") == true, "\(fromBetween)")
        // (The policy's own key, there the pinned one, is taken directly whatever rotations are
        // given: a node can always leave them out; the witnesses' quorum is what stops a
        // retired key's fork.)
        // Out of order; a checkpoint before the second rotation given it anyway.
        var reversed = both
        reversed.rotations?["wales"]?.reverse()
        #expect(check(reversed, before).failure?.contains("key rotation wales/4: the key rotations are not in index order") == true)
        var early = honest
        early.rotations = ["wales": [try rotated.item(4), try twice.item(6)]]
        #expect(check(early, before).failure?.contains("key rotation wales/6: beyond the checkpoint of wales, of size 6") == true)

        // A rotation the policy's key did not sign (a stranger's key "rotating" the log).
        var forged = wales
        try forged.rotate(to: next, signedBy: try Ed25519PrivateKey())
        try forged.append("progress.reading", #"{"measure":"P2.A4.M1","period":"2025","value":9}"#)
        var stranger = try answer("total:P2.A2.M1:2025", [(uk, [0, 1]), (forged, [0, 1, 2, 3, 5])], stated: .number(9))
        stranger.rotations = ["wales": [try forged.item(4)]]
        #expect(check(stranger, before).failure?.contains("not signed by the key in force") == true)
        // A rotation of another log's origin, with its own tree: its entry names uk.
        var ukRotated = uk
        try ukRotated.rotate(to: next)
        var elsewhere = honest
        elsewhere.rotations = ["wales": [try ukRotated.item(2)]]
        #expect(check(elsewhere, before).failure?.contains("key rotation uk/2: given as a key rotation of wales") == true)
        // The rotation's proof to another size, or another entry given as the rotation.
        var resized = honest
        resized.rotations?["wales"]?[0].inclusion.size = 5
        #expect(check(resized, before).failure?.contains("key rotation wales/4: its proof is to size 5, not the checkpoint's 6") == true)
        var other = honest
        other.rotations = ["wales": [try rotated.item(3)]]
        #expect(check(other, before).failure?.contains("key rotation wales/3: an entry of type progress.reading") == true)
        // A rotation's payload altered: its commitment fails before anything is followed.
        var altered = honest
        altered.rotations?["wales"]?[0].entry.payloadBase64 = Base64.encode(try KeyRotation.make(origin: rotated.signer.name, index: 4, previous: wales.key, key: Ed25519PrivateKey()).payload)
        #expect(check(altered, before).failure?.contains("key rotation wales/4: entry wales/4: payload does not match the header's commitment") == true, "\(check(altered, before))")
        // Rotations filed under another log, or for a log the answer has no checkpoint of.
        var misfiled = honest
        misfiled.rotations = ["uk": [try rotated.item(4)]]
        #expect(check(misfiled, before).failure?.contains("given as a key rotation of uk") == true)
        var stray = honest
        stray.rotations?["england"] = [try rotated.item(4)]
        #expect(check(stray, before).failure?.contains("key rotations of england but no checkpoint of it") == true)
        // More than a log may hold.
        var padded = honest
        padded.rotations = ["wales": Array(repeating: try rotated.item(4), count: KeyChain.maxRotations + 1)]
        #expect(check(padded, before).failure?.contains("more than a log may hold") == true)
    }

    /// `--whole` reads a log whole (up to 2,000,000 entries) only on a checkpoint that passes
    /// what can be judged before the log's entries are read: a checkpoint verified under the
    /// policy is taken; one signed by a key the policy does not name (the log rotated since)
    /// only once the policy names its origin and its log, the quorum cosigned it and it is
    /// fresh — each refusal with its own reason; and no more rotations are gathered than a log
    /// may hold.
    @Test func aLogIsReadWholeOnlyOnACheckpointThatPassesWhatCanBeJudgedFirst() throws {
        var (uk, wales) = try logs()
        let policy = try policy([uk, wales], witnessed: true)
        let now: UInt64 = 1_767_225_700
        func head(_ text: String, of log: String = "wales", now: UInt64 = now) -> Result<VerifyFigureCommand.WholeHead, VerifyFigureCommand.Failure> {
            Result { () throws(VerifyFigureCommand.Failure) in try VerifyFigureCommand.wholeHead(text, of: log, policy: policy, maxAge: 3600, now: now) }
        }
        func refusal(_ result: Result<VerifyFigureCommand.WholeHead, VerifyFigureCommand.Failure>) -> String {
            if case .failure(let failure) = result { return failure.description }
            return "taken: \(result)"
        }
        #expect(try head(try wales.note()).get() == .verified(size: 4, root: Merkle.root(ofLeaves: wales.leaves)))
        // Rotated to a key the policy does not name: claimed, its signature put off.
        try wales.rotate(to: try Ed25519PrivateKey())
        let rotated = try wales.note()
        let claimed = try Checkpoint(parsing: try SignedNote(parsing: rotated).text)
        #expect(try head(rotated).get() == .deferred(claimed))
        // Without the quorum's cosignature: refused before reading.
        let alone = try wales.signer.sign(claimed).serialized
        #expect(refusal(head(alone)).hasPrefix("read whole: the checkpoint of wales does not meet your policy"), "\(refusal(head(alone)))")
        // Cosigned long ago: refused for its age.
        #expect(refusal(head(rotated, now: now + 86_400)).hasPrefix("read whole: wales: the quorum last cosigned this checkpoint"), "\(refusal(head(rotated, now: now + 86_400)))")
        // Asked as another log's (the policy's line names wales): refused for the log.
        #expect(refusal(head(rotated, of: "uk")).contains("names the log wales, not uk"), "\(refusal(head(rotated, of: "uk")))")
        // An origin the policy does not name: refused with the policy's own reason.
        let stranger = try Log("zz")
        var strangerNote = try stranger.signer.sign(Checkpoint(origin: stranger.signer.name, size: 0, root: Merkle.root(ofLeaves: []), timeMillis: 1_767_225_600_000))
        strangerNote.signatures.append(try VerifyFigureTests.witness.cosign(body: strangerNote.text, time: 1_767_225_600))
        #expect(refusal(head(strangerNote.serialized, of: "zz")).hasPrefix("read whole: the checkpoint of zz does not meet your policy"), "\(refusal(head(strangerNote.serialized, of: "zz")))")
        // Rotations gathered from a claimed log: no more than a log may hold.
        var many = try Log("wales")
        for _ in 0...KeyChain.maxRotations { try many.rotate(to: try Ed25519PrivateKey()) }
        try many.append("plan.action", Self.action)
        var rotations: [KeyRotation] = []
        var refused: String?
        for entry in many.entries {
            do { try VerifyFigureCommand.collectRotation(entry, of: "wales", origin: many.signer.name, into: &rotations) } catch {
                refused = error.description
                break
            }
        }
        #expect(rotations.count == KeyChain.maxRotations + 1 && refused == "read whole: wales holds more key rotations than a log may (\(KeyChain.maxRotations))", "\(refused ?? "none")")
    }

    /// The answer is read strictly: a key given twice is refused (another reader of the file
    /// would see another figure or value), and a stated null is a value, not absent.
    @Test func theAnswerIsReadStrictly() throws {
        let twice = Data(#"{"figure":"total:A:2025","figure":"total:A:2024","entries":[],"checkpoints":{},"stated":1}"#.utf8)
        #expect(throws: VerifyFigureCommand.Failure.self) { try VerifyFigureCommand.decodeAnswer(twice) }
        let none = try VerifyFigureCommand.decodeAnswer(Data(#"{"figure":"status:wales:P2.A4","entries":[],"checkpoints":{},"stated":null}"#.utf8))
        #expect(none.stated == .null)
        let absent = try VerifyFigureCommand.decodeAnswer(Data(#"{"figure":"status:wales:P2.A4","entries":[],"checkpoints":{}}"#.utf8))
        #expect(absent.stated == nil)
    }
}

extension Result where Failure == VerifyFigureCommand.Failure {
    var failure: String? { if case .failure(let f) = self { return f.description }; return nil }
}
