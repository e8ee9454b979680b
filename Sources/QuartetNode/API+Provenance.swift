import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetCrypto
import QuartetLedger
import QuartetPlan
import QuartetReplication
import QuartetStore

/// A figure's provenance: its entries with inclusion proofs, bounded, against the checkpoint
/// a quorum of each log's witnesses cosigned.
extension API {
    /// The entries behind a figure, each with its inclusion proof against the latest checkpoint
    /// of its log, and those checkpoints (signed notes) so anyone can check them offline.
    func provenance(figure: String, refs all: [EntryRef], identity: FederationIdentity) throws -> ViewProvenance {
        try provenanceAndKeys(figure: figure, refs: all, identity: identity).answer
    }

    /// `provenance`, and per log of it the verifier key in force at the size of its checkpoint
    /// (an older one a quorum cosigned may predate a rotation) with the key the federation file
    /// pins (they differ after a rotation: the browser follows the answer's `rotations` from
    /// the pinned key to the key that signed the checkpoint): what the figure page gives its
    /// script. A log whose keys cannot be read here has none (the browser fails its checkpoint,
    /// "no verifier key", not the whole page).
    func provenanceAndKeys(figure: String, refs all: [EntryRef], identity: FederationIdentity) throws
        -> (answer: ViewProvenance, keys: [String: (vkey: String, pinned: String)]) {
        // Bounded like a page of entries: a figure a log's operator inflated (an action revised
        // thousands of times) costs one answer, not one read, proof and payload per revision.
        let refs = Self.boundedRefs(all)
        var checkpoints: [String: String] = [:]
        var witnessed: [String: ViewProvenance.Witnessed] = [:]
        var sizes: [String: UInt64] = [:]
        var entries: [ViewProvenance.Item] = []
        let logs = Dictionary(uniqueKeysWithValues: try store.logs().map { ($0.name, $0) })
        // Per log, the checkpoint the proofs go to: the newest that a quorum of its witnesses
        // cosigned and that holds every entry of the figure (with those cosignatures), or else
        // the latest, with whatever cosignatures it has.
        var needed: [String: UInt64] = [:]
        for ref in refs { needed[ref.log] = max(needed[ref.log] ?? 0, ref.index + 1) }
        for (name, least) in needed {
            guard let log = logs[name], let chosen = try witnessedCheckpoint(log, covering: least) else { continue }
            checkpoints[name] = chosen.note
            sizes[name] = chosen.size
            if let w = chosen.witnessed { witnessed[name] = w }
        }
        // Newest first, so the payload budget keeps the entries that make the figure now.
        var bytes = 0
        var left = all.count - refs.count
        for (position, ref) in refs.enumerated().reversed() {
            guard let log = logs[ref.log], let size = sizes[ref.log] else { continue }
            guard let entry = try store.entries(log, from: ref.index, limit: 1).first else { continue }
            bytes += entry.payload?.bytes.count ?? 0
            if bytes > API.maxResponsePayloadBytes, !entries.isEmpty {
                left += position + 1
                break
            }
            let proof = try store.inclusionProof(log, index: ref.index, size: size)
            entries.append(ViewProvenance.Item(entry: EntryBody(disclosable(entry, to: identity, policy: view.policy)),
                                               inclusion: InclusionProofBody(proof)))
        }
        entries.reverse()
        var answer = ViewProvenance(figure: figure, entries: entries, checkpoints: checkpoints, witnessed: witnessed, omitted: left > 0 ? left : nil)
        // Each log's key rotations below its checkpoint (public entries: no agreement withholds
        // them), at most `KeyChain.maxRotations` a log; a log whose keys cannot be read here is
        // left without, and a reader's check of its checkpoint then fails if it rotated.
        var rotations: [String: [ViewProvenance.Item]] = [:]
        var keys: [String: (vkey: String, pinned: String)] = [:]
        for (name, size) in sizes {
            guard let log = logs[name], let (chain, pinned) = followedChain(log) else { continue }
            keys[name] = (chain.verifier(forSize: size).vkey, pinned)
            guard !chain.rotations.isEmpty else { continue }
            do {
                let held = try store.rotations(log, size: size, chain: chain).map { ViewProvenance.Item(entry: EntryBody($0.entry), inclusion: InclusionProofBody($0.inclusion)) }
                if !held.isEmpty { rotations[name] = held }
            } catch {
                if saidOnce.first("unreadable rotations\u{0}\(name)\u{0}\(error)") {
                    logger.error("cannot read the key rotations of a log for a figure's provenance", metadata: ["log": "\(name)", "error": "\(error)"])
                }
            }
        }
        if !rotations.isEmpty { answer.rotations = rotations }
        return (answer, keys)
    }

    /// `log`'s keys as the federation has them followed (its revocations and named keys, as
    /// replication and the witness follow them): a rotation the file disowns (a revoked key's,
    /// to a key it names nowhere) stops the chain before it, so no reader is led to the key it
    /// rotates to; with the key the file pins. Nil (said once per log and error) when the keys
    /// cannot be read.
    func followedChain(_ log: LogInfo) -> (chain: KeyChain, pinned: String)? {
        do {
            var chain = try store.keyChain(log)
            let member = federation.members.first { $0.log == log.name }
            if let member {
                let followed = member.keyChain(following: chain.rotations)
                chain = followed.chain
                // Said once per log and rotation: every figure asks again.
                if let stop = followed.stopped, saidOnce.first("stopped\u{0}\(log.name)\u{0}\(stop.rotation.index)\u{0}\(stop.rotation.verifier.vkey)") {
                    logger.warning("a log's copy holds a key rotation the federation file disowns: provenance follows its keys only up to it",
                                   metadata: ["log": "\(log.name)", "index": "\(stop.rotation.index)", "reason": "\(stop.reason)"])
                }
            }
            return (chain, member?.verifier.vkey ?? NoteVerifier(name: chain.origin, publicKey: chain.pinned).vkey)
        } catch {
            if saidOnce.first("unreadable keys\u{0}\(log.name)\u{0}\(error)") {
                logger.error("cannot read the keys of a log for a figure's provenance", metadata: ["log": "\(log.name)", "error": "\(error)"])
            }
            return nil
        }
    }

    /// The checkpoint of `log` to show as covering its first `least` entries: the newest that a
    /// quorum of its witnesses cosigned and that holds them, with those cosignatures, or else the
    /// latest, with whatever cosignatures it has; nil when the log has no checkpoint. Only lines
    /// that verify over the note under the witness keys the federation lists are served (the
    /// log's own node's line too: a policy of every log counts it, though it is not one of the
    /// log's witnesses). Served by provenance and by `GET /v1/logs/{log}/checkpoint?covering=N`.
    func witnessedCheckpoint(_ log: LogInfo, covering least: UInt64) throws -> (note: String, size: UInt64, witnessed: ViewProvenance.Witnessed?)? {
        guard let head = try store.latestCheckpoint(log) else { return nil }
        let name = log.name
        let federation = self.federation
        let keys = Dictionary(federation.members.compactMap { m in m.witness.map { (m.id, $0) } }, uniquingKeysWith: { a, _ in a })
        let of = federation.members.filter { $0.log != name && $0.witness != nil }.count
        let quorum = WitnessPolicy.majority(of: of)
        var chosen = head
        let owners = WitnessCollector.owners(of: name, federation)
        if of > 0, let rows = try? witness.store.witnessed(log: name, excluding: owners) {
            // Only members listed now, by the witness key listed now (the lines' signatures
            // are checked below, over the note chosen).
            for row in rows where row.witnesses.filter({ keys[$0] != nil }).count >= quorum && row.size >= least && row.size <= head.checkpoint.size {
                let lines = (try? witness.store.cosignatures(log: name, size: row.size)) ?? [:]
                guard WitnessCollector.underListedKeys(row.witnesses, lines: lines, keys: keys).count >= quorum else { continue }
                if let stored = try store.checkpoint(log, size: row.size) { chosen = stored; break }
            }
        }
        let text = (try? SignedNote(parsing: chosen.note))?.text ?? ""
        let kept = (try? witness.store.cosignatures(log: name, size: chosen.checkpoint.size)) ?? [:]
        let lines = kept.filter { id, entry in
            guard let verifier = federation.member(id)?.witness,
                  let line = (try? SignedNote(parsing: text + "\n" + entry.line + "\n"))?.signatures.first else { return false }
            return (try? verifier.verify(line, body: text)) != nil
        }
        let others = lines.keys.filter { !owners.contains($0) }.sorted()
        return (chosen.note + lines.keys.sorted().map { lines[$0]!.line + "\n" }.joined(), chosen.checkpoint.size,
                of > 0 ? .init(witnesses: others, of: of, quorum: others.count >= quorum) : nil)
    }

    /// At most `maxProvenanceEntries` of a figure's entries (`refs` in order), a fair share per
    /// log — each log's smaller need met first, the rest split evenly — and of each log its
    /// first (what made it) and its newest, in order. One log's thousands of entries behind a
    /// UK total no longer push the other nations' off the answer.
    static func boundedRefs(_ refs: [EntryRef], max: Int = maxProvenanceEntries) -> [EntryRef] {
        guard refs.count > max else { return refs }
        guard max > 1 else { return Array(refs.suffix(max)) }
        let byLog = Dictionary(grouping: refs, by: \.log)
        var left = max
        var kept: [EntryRef] = []
        for (i, log) in byLog.keys.sorted(by: { (byLog[$0]!.count, $0) < (byLog[$1]!.count, $1) }).enumerated() {
            let list = byLog[log]!
            let n = min(list.count, left / (byLog.count - i))
            left -= n
            switch n {
            case list.count: kept += list
            case 0: break
            case 1: kept.append(list.last!)
            default: kept += [list[0]] + list.suffix(n - 1)
            }
        }
        return kept.sorted()
    }

    /// The most entries one provenance answer holds (as a page of `/v1/logs/{log}/entries`).
    static let maxProvenanceEntries = 1000
}
