import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetCrypto
import QuartetPolicy

/// The ended agreements whose purges this data directory has finished (`purges-done`, one
/// line each: the agreement's id and the log and index of its entry): a start does not scan
/// a holder's log again for each of them. Without it every start scanned, per ended agreement,
/// every header of its holder's log (seconds for a million entries), twice.
///
/// Finished means both passes ran without an error (`Purger`): the first at the end, the
/// second 5 s later for batches let through just before it. After that nothing arrives under
/// the agreement (ingress and egress judge at the wall clock, and a replica batch is judged
/// again as it is stored), so nothing is left to scan for. The file is a cache: lost, or left
/// out of a backup (`backup` copies it not), it costs one scan per ended agreement at the next
/// start; an unreadable or oversized one is ignored, said in the log. Lines are appended
/// without fsync: one lost to a crash is a scan again.
final class PurgeMarks: Sendable {
    /// The largest file read (ids of at most 64 bytes: about a million marks).
    static let limit = 64 << 20
    let path: String
    private let logger: Logger
    private let done: NIOLockedValueBox<Set<String>>

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
        var marks: Set<String> = []
        if FileManager.default.fileExists(atPath: path) {
            do {
                let bytes = try RegularFile.read(path, limit: Self.limit, followSymlinks: false)
                for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where Self.isKey(line) { marks.insert(String(line)) }
            } catch {
                logger.warning("the purges done before are not read; each ended agreement's holder log is scanned again",
                               metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
        done = NIOLockedValueBox(marks)
    }

    /// The mark of `state`'s purge: the agreement's id and the entry that put it on the ledger
    /// (its log and index). By entry, not by id: an agreement signed again under its id (after
    /// a key change) is another entry, whose end needs its own purge.
    static func key(_ state: AgreementState) -> String {
        "\(state.agreement.id) \(state.ref.log) \(state.ref.index)"
    }

    /// A line as `key` writes it: an agreement id, a log name and an index (each of the
    /// characters ids and log names take, at most 64 bytes each): a torn or foreign line, or
    /// one of an earlier form, is not a mark.
    static func isKey(_ line: Substring) -> Bool {
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, let index = UInt64(parts[2]), String(index) == parts[2] else { return false }
        return parts.prefix(2).allSatisfy { part in
            !part.isEmpty && part.utf8.count <= 64 && part.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F }
        }
    }

    func contains(_ key: String) -> Bool { done.withLockedValue { $0.contains(key) } }

    var count: Int { done.withLockedValue { $0.count } }

    /// Forgets `key` (its agreement is in force again: a label returned to its owner, a clock
    /// that had run past `valid-until` set right), in memory and in the file, so its next end
    /// is purged again. The file is written again whole, beside and renamed over (a failure is
    /// logged: the key would be read back at the next start, and that end not purged there).
    func forget(_ key: String) {
        guard let left = done.withLockedValue({ marks -> Set<String>? in marks.remove(key) == nil ? nil : marks }) else { return }
        let text = left.sorted().map { $0 + "\n" }.joined()
        do { try RegularFile.writeDurably(Array(text.utf8), to: path, replacing: true) } catch {
            logger.error("cannot forget a finished purge of an agreement in force again; its next end may not be purged at the next start",
                         metadata: ["file": "\(path)", "key": "\(key)", "error": "\(error)"])
        }
    }

    /// Marks `key` done, in memory and in the file (a failure to write is logged: a scan again
    /// at the next start).
    func markDone(_ key: String) {
        guard Self.isKey(Substring(key)), done.withLockedValue({ $0.insert(key).inserted }) else { return }
        let fd = RegularFile.openForAppending(path, create: true)
        guard fd >= 0 else {
            logger.warning("cannot note a finished purge", metadata: ["file": "\(path)", "errno": "\(errno)"])
            return
        }
        defer { close(fd) }
        let bytes = Array((key + "\n").utf8)
        if bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) != bytes.count {
            logger.warning("cannot note a finished purge", metadata: ["file": "\(path)", "errno": "\(errno)"])
        }
    }
}
