import Foundation
import GRDB
import QuartetCrypto
import QuartetLedger
import Synchronization

/// The keys of each log over its history (`KeyChain`): the pinned key in `logs`, and the
/// rotations in `log_keys` (format 2), each the index of a `key.rotation` entry the log holds.
/// Rows are written in the transaction that stores the rotation entry, after the rotation was
/// checked against the chain as it stood; the entry itself stays the evidence (`quartet verify`
/// checks both agree).
extension LedgerStore {
    /// The log's chain as stored: its pinned key and the rotations, each read from its entry.
    ///
    /// A writer keeps each chain it read until this process stores a rotation of any log (it is
    /// the directory's only writer: `quartet key rotate` needs the node stopped); a reader reads
    /// it each time.
    public func keyChain(_ log: LogInfo) throws(StoreError) -> KeyChain {
        guard isWriter else { return try read("read the keys of \(log.name)") { db in try Self.keyChain(db, log) } }
        // The generation is taken before the read: a rotation committed after it makes what
        // this read returns stale, and its `rotationsStored` makes the generation move on.
        let generation = keyChains.generation
        if let kept = keyChains.chain(log: log.id, generation: generation) { return kept }
        let chain = try read("read the keys of \(log.name)") { db in try Self.keyChain(db, log) }
        keyChains.keep(chain, log: log.id, generation: generation)
        return chain
    }

    /// The log's `key.rotation` entries that a tree of `size` holds (index below `size`, so
    /// in force for a checkpoint of that size), in index order, each with its inclusion proof
    /// to that tree: what a reader follows from the pinned key to the key that signed a
    /// checkpoint of `size` (the browser's check, docs/web.md).
    /// `chain`: the log's chain if the caller has read it already.
    public func rotations(_ log: LogInfo, size: UInt64, chain: KeyChain? = nil) throws(StoreError) -> [(entry: Entry, inclusion: InclusionProof)] {
        var out: [(entry: Entry, inclusion: InclusionProof)] = []
        let known: KeyChain
        if let chain { known = chain } else { known = try keyChain(log) }
        for rotation in known.rotations where rotation.index < size {
            guard let entry = try entries(log, from: rotation.index, limit: 1).first, entry.header.type == KeyRotation.entryType else {
                throw StoreError(.corrupt, "log \(log.name) records a key rotation at index \(rotation.index) but holds no rotation entry there")
            }
            out.append((entry, try inclusionProof(log, index: rotation.index, size: size)))
        }
        return out
    }

    static func keyChain(_ db: Database, _ log: LogInfo) throws -> KeyChain {
        var chain = KeyChain(pinned: log.verifier)
        let rows = try Row.fetchAll(db, sql: "SELECT rotation_index, public_key FROM log_keys WHERE log_id = ? ORDER BY rotation_index", arguments: [log.id])
        for recordedRow in rows {
            guard let index = try? recordedRow.decode(Int64.self, atIndex: 0), index >= 0 else {
                throw StoreError(.corrupt, "log \(log.name): a key rotation is recorded at no index, or a negative one")
            }
            guard let row = try Row.fetchOne(db, sql: "SELECT key, header, salt, payload FROM entries WHERE key = ?",
                                             arguments: [Schema.entryKey(logID: log.id, index: UInt64(index))]) else {
                throw StoreError(.corrupt, "log \(log.name): the key rotation recorded at index \(index) has no entry")
            }
            let entry = try decodeEntry(row, log: log)
            do {
                guard let rotation = try KeyRotation.from(entry, origin: log.origin) else {
                    throw LedgerError(.malformed, "entry \(index) is a \(entry.header.type), not a key rotation")
                }
                // What is stored is opened by the rules it was stored under (a copy upgraded over
                // a chain the newer limits refuse still opens; `KeyChain.applyStored`).
                try chain.applyStored(rotation)
                // The key the proof and checkpoint reads take (`keyInForce`) must be the one the
                // entry rotates to: `verify` reads this chain, `serve` that column.
                guard let recorded = try? recordedRow.decode(Data.self, atIndex: 1), Array(recorded) == rotation.key.rawRepresentation else {
                    throw LedgerError(.malformed, "the key recorded beside it is not the key the entry rotates to")
                }
            } catch {
                throw StoreError(.corrupt, "log \(log.name): the key rotation recorded at index \(index) does not hold", cause: error)
            }
        }
        return chain
    }

    /// The verifier of checkpoints of `size`: the key the last rotation before it recorded (one
    /// indexed read; the rotations themselves were checked when stored, and `verify` checks
    /// them again), else the pinned key. Reads on the proof and checkpoint paths use this.
    static func keyInForce(_ db: Database, _ log: LogInfo, size: UInt64) throws -> NoteVerifier {
        let statement = try db.cachedStatement(sql: "SELECT public_key FROM log_keys WHERE log_id = ? AND rotation_index < ? ORDER BY rotation_index DESC LIMIT 1")
        let row = try Data.fetchOne(statement, arguments: [log.id, Int64(clamping: size)])
        guard let row else { return log.verifier }
        return NoteVerifier(name: log.origin, publicKey: try Ed25519PublicKey(rawRepresentation: Array(row)))
    }

    /// Records the rotations among `entries` (about to be inserted in the same transaction),
    /// checked against the stored chain; returns the chain they leave.
    @discardableResult
    static func recordRotations(_ db: Database, _ log: LogInfo, entries: [Entry]) throws -> KeyChain? {
        guard entries.indices.contains(where: { entries[$0].header.type == KeyRotation.entryType }) else { return nil }
        var chain = try keyChain(db, log)
        for entry in entries {
            let rotation: KeyRotation?
            do {
                rotation = try KeyRotation.from(entry, origin: log.origin)
                if let rotation { try chain.apply(rotation) }
            } catch {
                throw StoreError(.invalidInput, "log \(log.name) entry \(entry.header.index): \(error)")
            }
            guard let rotation else { continue }
            try db.execute(sql: "INSERT INTO log_keys (log_id, rotation_index, public_key) VALUES (?, ?, ?)",
                           arguments: [log.id, Int64(rotation.index), Data(rotation.key.rawRepresentation)])
        }
        return chain
    }

    /// Appends a `key.rotation` entry to an own log, from the key in force (`previous`) to `key`,
    /// in one transaction with its checkpoint, which `key` signs (and `previous` too when
    /// `overlap`: clients that know only the old key still verify it). The caller holds the
    /// writer lock and no `LogWriter` of the log is open.
    public func appendRotation(_ log: LogInfo, previous: Ed25519PrivateKey, key: Ed25519PrivateKey, overlap: Bool,
                               nowMillis: UInt64 = wallClockMillis()) throws(StoreError) -> (rotation: KeyRotation, checkpoint: StoredCheckpoint) {
        guard isWriter, log.isOwn else { throw StoreError(.notOwnLog, "log \(log.name) is not this directory's own log, or the store is not open for writing") }
        // Kept chains are read again after this, whatever its outcome.
        defer { keyChains.rotationsStored() }
        do {
            return try pool.write { db in
                let chain = try Self.keyChain(db, log)
                guard chain.current == previous.publicKey else {
                    throw StoreError(.key, "the key given is not the key in force for \(log.name) (\(NoteVerifier(name: log.origin, publicKey: chain.current).vkey))")
                }
                var frontier = try self.frontier(db, log)
                let lastTime = try Int64.fetchOne(db, sql: "SELECT MAX(time_ms) FROM checkpoints WHERE log_id = ?", arguments: [log.id]) ?? 0
                let time = max(nowMillis, UInt64(lastTime))
                let rotation = try KeyRotation.make(origin: log.origin, index: frontier.size, previous: previous, key: key)
                let entry = try Entry(log: log.name, index: frontier.size, timeMillis: time, type: KeyRotation.entryType,
                                      classification: EntryHeader.publicClassification, author: "quartet key rotate",
                                      payload: rotation.payload, salt: try SecureRandom.bytes(count: EntryPayload.saltLength))
                var nodes: [StoredNode] = []
                Self.extend(&frontier, with: entry.leafHash, collecting: &nodes)
                let checkpoint = Checkpoint(origin: log.origin, size: frontier.size, root: frontier.root, timeMillis: time)
                var note = try NoteSigner(name: log.origin, key: key).sign(checkpoint)
                if overlap { note.signatures += try NoteSigner(name: log.origin, key: previous).sign(checkpoint).signatures }
                try Self.recordRotations(db, log, entries: [entry])
                try Self.insertBatch(db, log: log, entries: [entry], nodes: nodes, checkpoint: checkpoint, note: note.serialized, timeMillis: time)
                return (rotation, StoredCheckpoint(checkpoint: checkpoint, note: note.serialized))
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "cannot append the key rotation of \(log.name)", cause: error)
        }
    }
}

/// The key chains a writer read, kept until it stores a key rotation (`LedgerStore.keyChain`):
/// the witness asks for a log's chain at every request.
final class KeyChainCache: Sendable {
    private let state = Mutex<(generation: UInt64, chains: [Int64: KeyChain])>((0, [:]))

    /// Moves on each time a rotation is stored.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// The chain kept for `log`, if kept in `generation` (the current one).
    func chain(log: Int64, generation: UInt64) -> KeyChain? {
        state.withLock { $0.generation == generation ? $0.chains[log] : nil }
    }

    /// Keeps `chain`, read after `generation` was taken, unless a rotation was stored since.
    func keep(_ chain: KeyChain, log: Int64, generation: UInt64) {
        state.withLock { state in
            guard state.generation == generation else { return }
            state.chains[log] = chain
        }
    }

    /// A transaction that stored a rotation committed: every kept chain is read again.
    func rotationsStored() {
        state.withLock { state in
            state.generation &+= 1
            state.chains = [:]
        }
    }
}
