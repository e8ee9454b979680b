import Foundation
import QuartetCrypto
#if canImport(Glibc)
import Glibc
#endif

/// The record of own-log payloads this node lost: entries of its own log that came back from
/// peers as stubs (a restored older copy, or `quartet recover`) because no peer that answered
/// held them in full. The writer holds every payload of its own log, so `verify` takes a stub
/// there for a deleted payload, except at an index recorded here: the stub is what the
/// federation had, the leaf and every checkpoint still verify, and the loss is known.
///
/// `<data>/lost-payloads`, one `LOG INDEX` line per entry after each record's `#` line, appended (and fsynced) before the
/// stubs are stored, so a crash in between leaves an index recorded that is no stub, never a
/// stub unrecorded; an index whose payload came back later is simply no stub any more.
extension DataDirectory {
    public var lostPayloadsPath: String { url.appendingPathComponent("lost-payloads").path }

    /// At most this much of the record is read (4 million indices of a long log name).
    public static let lostPayloadsLimit = 256 << 20
    /// At most this much of a log's kept equivocation evidence (`evidence/<log>`) is read.
    public static let evidenceFileLimit = 64 << 20
    /// At most this much of the disclosure and purge records' journal (`pending-records`, and
    /// each `.flushing` copy) is read.
    public static let pendingRecordsLimit = 256 << 20

    /// Appends `indices` of `log` to the record.
    public func recordLostPayloads(log: String, indices: [UInt64]) throws(StoreError) {
        guard !indices.isEmpty else { return }
        // A regular file, never through a link nor a planted FIFO (this runs inside the store's
        // write transaction: a blocked open would hold the writer).
        let created = !FileManager.default.fileExists(atPath: lostPayloadsPath)
        let fd = RegularFile.openForAppending(lostPayloadsPath, create: true)
        guard fd >= 0 else { throw StoreError(.io, "cannot open \(lostPayloadsPath) (a regular file, not a link): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Each record starts with a line of its own (`#`): a line an earlier write left torn (a
        // kill in a long write, a power cut before its sync, a full disk) joins it and is
        // skipped, never taking this record's first line with it, nor reading as another index
        // (`wales 4` of a torn `wales 41`: the index it lost is recorded again when its batch
        // is, the batch having failed with it).
        let bytes = Array(("#\n" + indices.map { "\(log) \($0)\n" }.joined()).utf8)
        let end = lseek(fd, 0, SEEK_END)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            let reason = String(cString: strerror(written >= 0 && written < bytes.count ? ENOSPC : errno))
            // A short write is cut back to where the record began (failing that, the next
            // record's `#` line ends it).
            if written > 0, end >= 0 { _ = ftruncate(fd, end) }
            throw StoreError(.io, "cannot write \(lostPayloadsPath): \(reason)")
        }
        // A new record's name too: the stubs it excuses commit durably right after.
        if created { Self.syncDirectory(url.path) }
    }

    /// The recorded indices per log (empty when there is no record). Lines that do not parse
    /// (a record's `#` line, a torn line joined to it) are skipped: they excuse nothing.
    public func lostPayloads() -> [String: Set<UInt64>] {
        // A regular file, never through a link (a restored copy's planted FIFO or link to a
        // device would hang or fill memory at start).
        guard let data = try? RegularFile.read(lostPayloadsPath, limit: Self.lostPayloadsLimit, followSymlinks: false) else { return [:] }
        var out: [String: Set<UInt64>] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            let parts = line.split(separator: UInt8(ascii: " "))
            guard parts.count == 2, let index = UInt64(String(decoding: parts[1], as: UTF8.self)) else { continue }
            out[String(decoding: parts[0], as: UTF8.self), default: []].insert(index)
        }
        return out
    }
}
