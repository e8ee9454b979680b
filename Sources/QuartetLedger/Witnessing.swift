/// The witness side of C2SP tlog-witness `add-checkpoint`, without IO: parse the request body,
/// then decide it against the logs the witness knows and the checkpoint it last cosigned for the
/// origin. The shell must run `decide` and store its result atomically (one transaction per
/// origin), or two requests could roll the witness back (the spec's race).
public enum Witnessing {
    /// The most consistency-proof lines a request may carry (the spec).
    public static let maxProofLines = 63
    /// The largest request body: the old size line, 63 proof lines and a checkpoint note.
    public static let maxBodyBytes = 32 + maxProofLines * 45 + SignedNote.maxLength

    /// A parsed request.
    public struct Request: Sendable, Equatable {
        public var oldSize: UInt64
        public var proof: [Hash]
        public var note: SignedNote

        public init(oldSize: UInt64, proof: [Hash], note: SignedNote) {
            self.oldSize = oldSize
            self.proof = proof
            self.note = note
        }

        /// The body as sent: `old <size>`, the proof lines, a blank line, the checkpoint.
        public var body: String {
            "old \(oldSize)\n" + proof.map { $0.base64 + "\n" }.joined() + "\n" + note.serialized
        }

        public init(parsing body: [UInt8]) throws(Refusal) {
            guard body.count <= Witnessing.maxBodyBytes else { throw Refusal(.badRequest, "the request is longer than \(Witnessing.maxBodyBytes) bytes") }
            // Checked on the bytes received: decoded first, an invalid byte would become U+FFFD
            // and a note that is not UTF-8 (which C2SP signed-note forbids) could be cosigned.
            guard String(validating: body, as: UTF8.self) != nil else { throw Refusal(.badRequest, "the request is not valid UTF-8") }
            guard let blank = (0..<max(body.count - 1, 0)).first(where: { body[$0] == 0x0A && body[$0 + 1] == 0x0A }) else {
                throw Refusal(.badRequest, "the request has no blank line between the proof and the checkpoint")
            }
            let head = body[...blank].split(separator: 0x0A).map { String(decoding: $0, as: UTF8.self) }
            guard let first = head.first, first.hasPrefix("old "), let size = Witnessing.decimal(first.dropFirst(4)) else {
                throw Refusal(.badRequest, "the first line must be `old <size>` (a decimal with no leading zeroes)")
            }
            let lines = head.dropFirst()
            guard lines.count <= Witnessing.maxProofLines else { throw Refusal(.badRequest, "more than \(Witnessing.maxProofLines) consistency proof lines") }
            var proof: [Hash] = []
            for (i, line) in lines.enumerated() {
                do { proof.append(try Hash(base64: line)) } catch {
                    throw Refusal(.badRequest, "consistency proof line \(i + 1) is not the base64 of a 32-byte hash")
                }
            }
            let note: SignedNote
            do { note = try SignedNote(parsing: String(decoding: body[(blank + 2)...], as: UTF8.self)) } catch {
                throw Refusal(.badRequest, "the checkpoint: \(error.message)")
            }
            self.init(oldSize: size, proof: proof, note: note)
        }
    }

    /// A witness that holds a replica of the log vouches only for what its replica holds: it
    /// cosigns a checkpoint only once the replica holds the checkpoint's size (where `decide`
    /// then compares the roots: another root is refused as a split view, and the node makes it
    /// evidence). Before finding 231 it cosigned beyond the replica, comparing later: a log
    /// keeping its pushes behind what it got cosigned walked every witness along a fork the
    /// replicas never reached, and one fork checkpoint could always be cosigned by a quorum with
    /// no evidence ever. Refused with 503: the request usually overtakes its own push, and asked
    /// again (the node decides it again as the replica grows, for a while) it is answered.
    public static func copyGate(origin: String, requested: UInt64, copySize: UInt64) throws(Refusal) {
        guard requested > copySize else { return }
        // (The log side tells this 503 from a witness's others by the wording "fewer than the
        // checkpoint's" (`WitnessCollector.check`): keep it.)
        throw Refusal(.unavailable, "this witness's copy of \(origin) holds \(copySize) entries, fewer than the checkpoint's \(requested): it cosigns what its copy holds and agrees with (ask again once the entries have reached it)")
    }

    /// Why a request was refused, with the HTTP status the spec gives it.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Status: Int, Sendable {
            case badRequest = 400
            case forbidden = 403
            case notFound = 404
            case conflict = 409
            case unprocessable = 422
            /// Not now: asked again later, it may be answered (a witness whose copy of the log
            /// has not caught up with what it would vouch for).
            case unavailable = 503
        }

        public var status: Status
        public var message: String
        /// For 409: the size the witness last cosigned (the response body).
        public var size: UInt64?
        /// A checkpoint the log signed that conflicts with the one the witness cosigned at the
        /// same size: evidence of a split view (the stored note and this one).
        public var conflicting: SignedNote?
        /// With `conflicting`: the checkpoint the witness cosigned at that size, as the decision
        /// saw it (read again later, a concurrent request may have moved it on).
        public var cosigned: SignedNote?

        public init(_ status: Status, _ message: String, size: UInt64? = nil, conflicting: SignedNote? = nil, cosigned: SignedNote? = nil) {
            self.status = status
            self.message = message
            self.size = size
            self.conflicting = conflicting
            self.cosigned = cosigned
        }

        public var description: String { "\(status.rawValue): \(message)" }
    }

    /// What the witness holds for an origin: the checkpoint it last cosigned.
    public struct Latest: Sendable, Equatable {
        public var size: UInt64
        public var root: Hash
        public var note: SignedNote

        public init(size: UInt64, root: Hash, note: SignedNote) {
            self.size = size
            self.root = root
            self.note = note
        }
    }

    /// Decides `request`: the checkpoint to cosign (and store as the latest), or why not.
    /// - Parameters:
    ///   - logs: the log keys the witness trusts, by origin.
    ///   - latest: what it last cosigned for the checkpoint's origin, if anything.
    ///   - held: the root of the log at a size in the witness's own replica, if it holds that
    ///     much (asked only once the signature verified): a checkpoint with another root is
    ///     refused as a split view.
    public static func decide(_ request: Request, logs: [String: [NoteVerifier]], latest: Latest?,
                              held: (UInt64) -> Hash? = { _ in nil }) throws(Refusal) -> Checkpoint {
        try decide(request, checkpoint: verify(request, logs: logs), latest: latest, held: held)
    }

    /// The first half of `decide`, which needs nothing the witness stores: the checkpoint, if a
    /// key the witness trusts for its origin signed it and its sizes are ones the witness can
    /// hold. A shell may run it before taking its per-origin lock (it is the costly half: a
    /// signature verification), then `decide(_:checkpoint:latest:held:)` under the lock.
    public static func verify(_ request: Request, logs: [String: [NoteVerifier]]) throws(Refusal) -> Checkpoint {
        try verified(request, logs: logs).checkpoint
    }

    /// `verify`, and the trusted key whose line verified: a note may carry lines under several
    /// of the log's trusted keys (a rotation's overlap), and only the one that verified is
    /// known good (a line under another trusted key may be anything a submitter wrote).
    public static func verified(_ request: Request, logs: [String: [NoteVerifier]]) throws(Refusal) -> (checkpoint: Checkpoint, key: NoteVerifier) {
        let origin = request.note.text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        // Origins are matched as bytes: a name Unicode calls equivalent is another log.
        guard let keys = logs.first(where: { $0.key.utf8.elementsEqual(origin.utf8) })?.value else {
            throw Refusal(.notFound, "this witness does not know the log \(origin)")
        }
        // A member's log whose keys this witness trusts none of now (all revoked at this size,
        // or its copy unreadable): a refused key, as the spec has it, not an unknown log.
        guard !keys.isEmpty else {
            throw Refusal(.forbidden, "this witness trusts no key of \(origin) for this checkpoint")
        }
        var found: (checkpoint: Checkpoint, key: NoteVerifier)?
        for key in keys where request.note.signatures.contains(where: { $0.keyName.utf8.elementsEqual(key.name.utf8) && $0.keyID == key.keyID }) {
            if let verified = try? key.verifyCheckpoint(request.note) { found = (verified, key); break }
        }
        guard let (checkpoint, key) = found else { throw Refusal(.forbidden, "no signature on the checkpoint verifies with a key of \(origin) this witness trusts") }
        guard checkpoint.size <= UInt64(Int64.max) else { throw Refusal(.badRequest, "a tree size of 2^63 or more is beyond what this witness stores") }
        guard request.oldSize <= checkpoint.size else {
            throw Refusal(.badRequest, "old size \(request.oldSize) is beyond the checkpoint's size \(checkpoint.size)")
        }
        return (checkpoint, key)
    }

    /// The second half of `decide`: `checkpoint` (what `verify` returned for `request`) against
    /// what the witness last cosigned for its origin and what its replica holds.
    /// - Parameter copySize: the entries of the log the witness's replica holds, where it holds
    ///   one (`copyGate`).
    public static func decide(_ request: Request, checkpoint: Checkpoint, latest: Latest?,
                              held: (UInt64) -> Hash? = { _ in nil }, copySize: UInt64? = nil) throws(Refusal) -> Checkpoint {
        let origin = checkpoint.origin
        let known = latest?.size ?? 0
        guard request.oldSize == known else {
            throw Refusal(.conflict, "old size \(request.oldSize) is not the size this witness last cosigned for \(origin), \(known)", size: known)
        }
        if let latest {
            if checkpoint.size == latest.size {
                guard checkpoint.root == latest.root else {
                    throw Refusal(.conflict, "\(origin) signed two different roots for size \(checkpoint.size); this witness cosigned the other",
                                  size: known, conflicting: request.note, cosigned: latest.note)
                }
                // RFC 9162: the proof between a tree and itself is empty.
                guard request.proof.isEmpty else {
                    throw Refusal(.unprocessable, "a consistency proof from size \(latest.size) to the same size must be empty")
                }
            } else {
                do { try Merkle.verifyConsistency(from: latest.size, to: checkpoint.size, firstRoot: latest.root, secondRoot: checkpoint.root, proof: request.proof) } catch {
                    throw Refusal(.unprocessable, "the consistency proof from \(latest.size) to \(checkpoint.size) does not verify: \(error.message)")
                }
            }
        } else if !request.proof.isEmpty {
            throw Refusal(.unprocessable, "a consistency proof from size 0 must be empty")
        } else if checkpoint.size == 0 && checkpoint.root != Hash.emptyTree {
            // Kept, it would make every later proof from size 0 fail (RFC 9162 fixes the empty
            // tree's root): the witness would be stuck on the log for good.
            throw Refusal(.unprocessable, "a checkpoint of size 0 must have the empty tree's root")
        }
        // Only what the replica holds (after the refusals that are final: a stale old size is a
        // 409, a bad proof a 422, lines a Quartet log never signs a 400 — not a 503 to ask
        // again; within the replica, a split view signed with such lines is refused as one).
        if let copySize, checkpoint.size > copySize {
            if let refusal = checkpoint.extensionRefusal { throw Refusal(.badRequest, refusal) }
            try copyGate(origin: origin, requested: checkpoint.size, copySize: copySize)
        }
        // (The node reports the evidence: this checkpoint with the replica's newest signed one
        // and a consistency proof to it, `CopyContradiction` in QuartetNode.)
        if let root = held(checkpoint.size), root != checkpoint.root {
            throw Refusal(.conflict, "\(origin) at size \(checkpoint.size) has another root in this witness's replica; a split view", size: known)
        }
        // Last, so a split view signed with such lines is still refused and kept as one.
        if let refusal = checkpoint.extensionRefusal { throw Refusal(.badRequest, refusal) }
        return checkpoint
    }

    /// A decimal with no leading zeroes (or `0`), as the spec writes sizes.
    public static func decimal(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text == "0" || text.first != "0" else { return nil }
        return UInt64(text)
    }
}
