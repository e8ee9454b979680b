import Foundation
import GRDB
import QuartetLedger

extension LedgerStore {
    /// The indices of `log`'s entries held as stubs (header only), ascending. For a node's own
    /// log these are payloads lost with its disk that no peer sent back in full.
    public func stubIndices(_ log: LogInfo) throws(StoreError) -> [UInt64] {
        try read("list the stubs of \(log.name)") { db in
            let first = Schema.entryKey(logID: log.id, index: 0)
            let last = Schema.entryKey(logID: log.id, index: (1 << Schema.indexBits) - 1)
            let mask = (Int64(1) << Int64(Schema.indexBits)) - 1
            return try Int64.fetchAll(db, sql: "SELECT key FROM entries WHERE key BETWEEN ? AND ? AND payload IS NULL ORDER BY key",
                                      arguments: [first, last]).map { UInt64($0 & mask) }
        }
    }

    /// Which of `indices` of `log` are held as stubs, ascending: one keyed read each, not a pass
    /// over the log.
    public func stubIndices(_ log: LogInfo, among indices: some Collection<UInt64>) throws(StoreError) -> [UInt64] {
        try read("look up stubs of \(log.name)") { db in
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM entries WHERE key = ? AND payload IS NULL")
            var stubs: [UInt64] = []
            for index in indices.sorted() where index < (1 << Schema.indexBits) {
                if try Int.fetchOne(statement, arguments: [Schema.entryKey(logID: log.id, index: index)]) != nil { stubs.append(index) }
            }
            return stubs
        }
    }

    /// Gives stubs of `log` their payloads back: each of `entries` that carries a payload fills
    /// the stored entry at its index only if that entry is a stub, its stored header bytes are
    /// exactly the entry's, and the salt and payload hash to the header's commitment (checked
    /// by `Entry` and again here). The header, and so the leaf and every checkpoint, is
    /// unchanged: a payload that fits is the one the writer committed to, and anything else is
    /// skipped, so no peer can plant data this way. One transaction; returns the indices filled.
    public func fillStubs(_ log: LogInfo, with entries: [Entry]) throws(StoreError) -> [UInt64] {
        guard isWriter else { throw StoreError(.invalidInput, "this store was opened for reading") }
        let candidates = entries.filter { $0.payload != nil && $0.header.log == log.name && $0.payload!.commitment == $0.header.payloadCommitment
            && $0.payload!.bytes.count == Int($0.header.payloadLength) }
        guard !candidates.isEmpty else { return [] }
        do {
            return try pool.write { db -> [UInt64] in
                var filled: [UInt64] = []
                for entry in candidates {
                    let key = Schema.entryKey(logID: log.id, index: entry.header.index)
                    guard let row = try Row.fetchOne(db, sql: "SELECT header FROM entries WHERE key = ? AND payload IS NULL", arguments: [key]) else { continue }
                    guard Array(row["header"] as Data) == entry.headerBytes, let payload = entry.payload else { continue }
                    try db.execute(sql: "UPDATE entries SET salt = ?, payload = ? WHERE key = ? AND payload IS NULL",
                                   arguments: [Data(payload.salt), Data(payload.bytes), key])
                    filled.append(entry.header.index)
                }
                return filled
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "cannot fill stubs of \(log.name)", cause: UnderlyingError("\(error)"))
        }
    }
}
