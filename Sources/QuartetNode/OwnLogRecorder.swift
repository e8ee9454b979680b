import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetPolicy
import QuartetStore

/// The records a node writes in its own log by itself: `disclosure.recorded` for the restricted
/// payloads it sends in full (its signed, append-only record of where data went) and
/// `purge.recorded` for the payloads it drops when agreements end.
///
/// Disclosures are gathered for up to a second (a stream of restricted entries costs one
/// record a second per recipient, log and agreement, not one each), so each is first written to
/// a journal next to the database, before the batch is sent: a node killed before the record is
/// in its log (SIGKILL, a crash) records it from the journal when it starts again, and a
/// graceful stop flushes. The journal is written without fsync: it survives the process, not
/// the machine (docs/security.md). A record can appear twice after a crash between its append
/// and the journal's removal; never not at all.
///
/// Sending the same entries again (a peer asking twice) records nothing new: spans already
/// recorded, or waiting, for the same recipient, log, agreement and access are skipped, so a
/// peer cannot make the records grow by repeating requests.
final class OwnLogRecorder: Sendable {
    let writer = NIOLockedValueBox<LogWriter?>(nil)
    private let journal: URL
    private let ownLog: String
    private let logger: Logger

    private struct Key: Hashable {
        var recipient: String, log: String, agreement: String, access: Access
    }

    private struct PendingDisclosure {
        var key: Key
        var ranges: [ClosedRange<UInt64>] = []
        var count = 0
        var first: UInt64
    }

    private struct State {
        var disclosures: [Key: PendingDisclosure] = [:]
        /// Purge records' payloads (JSON).
        var purges: [[UInt8]] = []
        var flushInProgress = false
        /// Renamed journals whose records failed to go in: removed after the next flush that works.
        var unflushed: [URL] = []
        /// Whether `recover` has run (purges wait for it, so a purge's record is not replayed twice).
        var recovered = false
        /// Spans recorded (in the log, or waiting), per key, merged.
        var recorded: [Key: [ClosedRange<UInt64>]] = [:]
        var scheduled = false
        var generation = 0
    }

    private let state = NIOLockedValueBox(State())

    init(journal: URL, ownLog: String, logger: Logger) {
        self.journal = journal
        self.ownLog = ownLog
        self.logger = logger
    }

    // MARK: Recording

    /// The engine is about to send the restricted payloads of `log` at exactly the indices in
    /// `ranges` to `recipient` under `agreement`. Only indices not recorded before (or
    /// waiting) for the same recipient, log, agreement and access are recorded, so a peer
    /// asking again, or for spans one entry longer each time, adds nothing but what it was
    /// newly given. Journalled before it returns.
    func record(recipient: String, log: String, ranges: [ClosedRange<UInt64>], agreement: String, access: Access) {
        let key = Key(recipient: recipient, log: log, agreement: agreement, access: access)
        let now = wallClockMillis()
        let (schedule, lines) = state.withLockedValue { state -> (Bool, [String]) in
            var lines: [String] = []
            for range in ranges {
                for new in Self.uncovered(range, by: state.recorded[key] ?? []) {
                    var item = state.disclosures[key] ?? PendingDisclosure(key: key, first: now)
                    let count = Int(clamping: new.upperBound - new.lowerBound + 1)
                    item.ranges = Self.merge(item.ranges, new)
                    item.count += count
                    state.disclosures[key] = item
                    state.recorded[key] = Self.merge(state.recorded[key] ?? [], new)
                    lines.append(JournalLine.disclosure(.init(recipient: recipient, log: log, agreement: agreement, access: access,
                                                              from: new.lowerBound, to: new.upperBound, count: count, time: now)).text)
                }
            }
            if lines.isEmpty || state.scheduled { return (false, lines) }
            state.scheduled = true
            return (true, lines)
        }
        for line in lines { appendToJournal(line) }
        if schedule { DispatchQueue.global().asyncAfter(deadline: .now() + 1) { Task { await self.flush() } } }
    }

    /// A purge happened; its record goes in at once (through the journal).
    func recordPurge(_ record: PurgeRecord) {
        appendToJournal(JournalLine.purge(record).text)
        let bytes = JournalLine.encode(record)
        state.withLockedValue { $0.purges.append(bytes) }
        Task { await flush() }
    }

    // MARK: Flushing

    /// Appends every waiting record to the own log (one group commit) and drops the journal
    /// lines they came from once durable.
    func flush() async {
        guard let writer = writer.withLockedValue({ $0 }) else { return }
        // One flush at a time (each renames the journal, appends, removes the renamed file).
        while !state.withLockedValue({ state in
            if state.flushInProgress { return false }
            state.flushInProgress = true
            return true
        }) { try? await Task.sleep(for: .milliseconds(20)) }
        defer { state.withLockedValue { $0.flushInProgress = false } }
        let (items, purges, renamed) = state.withLockedValue { state -> ([PendingDisclosure], [[UInt8]], URL?) in
            defer { state.disclosures = [:]; state.purges = []; state.scheduled = false }
            state.generation += 1
            // New journal lines go to a fresh file from here on.
            let renamed = journal.appendingPathExtension("\(ProcessInfo.processInfo.processIdentifier).\(state.generation).flushing")
            let moved = (try? FileManager.default.moveItem(at: journal, to: renamed)) != nil
            return (state.disclosures.values.sorted { $0.first < $1.first }, state.purges, moved ? renamed : nil)
        }
        let requests = items.map(Self.disclosureRequest) + purges.map { AppendRequest(type: PolicyEntryType.purged.rawValue, author: "node", payload: $0) }
        guard !requests.isEmpty else {
            if let renamed { try? FileManager.default.removeItem(at: renamed) }
            return
        }
        do {
            _ = try await writer.append(contentsOf: requests)
            let leftovers = state.withLockedValue { state -> [URL] in
                defer { state.unflushed = [] }
                return state.unflushed
            }
            for url in leftovers + [renamed].compactMap({ $0 }) { try? FileManager.default.removeItem(at: url) }
        } catch {
            // Put them back and try again in 5 s; their journal stays until they are in.
            logger.error("cannot record disclosures and purges; retrying in 5 s (the journal keeps them)", metadata: ["error": "\(error)"])
            let retry = state.withLockedValue { state -> Bool in
                for item in items {
                    var merged = state.disclosures[item.key] ?? PendingDisclosure(key: item.key, first: item.first)
                    for range in item.ranges { merged.ranges = Self.merge(merged.ranges, range) }
                    merged.count += item.count
                    merged.first = min(merged.first, item.first)
                    state.disclosures[item.key] = merged
                }
                state.purges = purges + state.purges
                if let renamed { state.unflushed.append(renamed) }
                if state.scheduled { return false }
                state.scheduled = true
                return true
            }
            if retry { DispatchQueue.global().asyncAfter(deadline: .now() + 5) { Task { await self.flush() } } }
        }
    }

    /// At start: records journalled by an earlier run that did not reach the log. `known` is
    /// the policy as folded from the log, so spans already recorded are not recorded again.
    func recover(known policy: Policy) async {
        state.withLockedValue { state in
            for (agreement, list) in policy.disclosures {
                for d in list where d.recordLog == ownLog {
                    guard let access = Access(rawValue: d.access) else { continue }
                    let key = Key(recipient: d.recipient, log: d.log, agreement: agreement, access: access)
                    for range in d.ranges { state.recorded[key] = Self.merge(state.recorded[key] ?? [], range) }
                }
            }
        }
        let directory = journal.deletingLastPathComponent()
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0 == journal.lastPathComponent || ($0.hasPrefix(journal.lastPathComponent + ".") && $0.hasSuffix(".flushing")) }
            .sorted()
        defer { state.withLockedValue { $0.recovered = true } }
        guard !files.isEmpty else { return }
        var replayed = 0
        for file in files {
            let url = directory.appendingPathComponent(file)
            guard let data = try? Data(contentsOf: url) else { continue }
            for raw in data.split(separator: UInt8(ascii: "\n")) {
                // A torn last line (or one of another shape) is skipped.
                guard let line = try? JSONDecoder().decode(JournalLine.self, from: Data(raw)) else { continue }
                replayed += 1
                switch line {
                case .purge(let record):
                    let bytes = JournalLine.encode(record)
                    state.withLockedValue { $0.purges.append(bytes) }
                case .disclosure(let d):
                    let key = Key(recipient: d.recipient, log: d.log, agreement: d.agreement, access: d.access)
                    let time = d.time ?? wallClockMillis()
                    state.withLockedValue { state in
                        if Self.covers(state.recorded[key] ?? [], d.from...d.to) { return }
                        var item = state.disclosures[key] ?? PendingDisclosure(key: key, first: time)
                        item.ranges = Self.merge(item.ranges, d.from...d.to)
                        item.count += d.count
                        state.disclosures[key] = item
                        state.recorded[key] = Self.merge(state.recorded[key] ?? [], d.from...d.to)
                    }
                }
            }
        }
        // Everything read is in memory now: one fresh journal holds it (written, then put in
        // place by rename) until the flush below has it in the log.
        let lines = state.withLockedValue { state in
            state.disclosures.values.flatMap { item in
                item.ranges.enumerated().map { i, range in
                    JournalLine.disclosure(.init(recipient: item.key.recipient, log: item.key.log, agreement: item.key.agreement,
                                                 access: item.key.access, from: range.lowerBound, to: range.upperBound,
                                                 count: i == 0 ? item.count : 0, time: item.first)).text
                }
            } + state.purges.map { #"{"kind":"purge","payload":"# + String(decoding: $0, as: UTF8.self) + "}" }
        }
        let fresh = journal.appendingPathExtension("new")
        if FileManager.default.createFile(atPath: fresh.path, contents: Data(lines.map { $0 + "\n" }.joined().utf8)),
           rename(fresh.path, journal.path) == 0 {
            for file in files where file != journal.lastPathComponent {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(file))
            }
        }
        logger.notice("recording disclosures and purges journalled by an earlier run", metadata: ["lines": "\(replayed)"])
        await flush()
    }

    /// Whether the records of an earlier run have been replayed (`recover`).
    var recovered: Bool { state.withLockedValue { $0.recovered } }

    // MARK: Helpers

    private func appendToJournal(_ line: String) {
        let fd = open(journal.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else {
            logger.error("cannot write the disclosure journal", metadata: ["file": "\(journal.path)", "errno": "\(errno)"])
            return
        }
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    private static func disclosureRequest(_ item: PendingDisclosure) -> AppendRequest {
        let record = DisclosureRecord(log: item.key.log, ranges: item.ranges.map { [$0.lowerBound, $0.upperBound] }, count: item.count,
                                      recipient: item.key.recipient, agreement: item.key.agreement, access: item.key.access.rawValue,
                                      time: iso8601(item.first))
        return AppendRequest(type: PolicyEntryType.disclosed.rawValue, author: "node", payload: JournalLine.encode(record))
    }

    /// Whether `ranges` (sorted, disjoint) cover all of `span`.
    static func covers(_ ranges: [ClosedRange<UInt64>], _ span: ClosedRange<UInt64>) -> Bool {
        ranges.contains { $0.lowerBound <= span.lowerBound && span.upperBound <= $0.upperBound }
    }

    /// The parts of `span` that no range of `ranges` (sorted and merged, as `merge` keeps
    /// them) covers, in order.
    static func uncovered(_ span: ClosedRange<UInt64>, by ranges: [ClosedRange<UInt64>]) -> [ClosedRange<UInt64>] {
        var out: [ClosedRange<UInt64>] = []
        var next = span.lowerBound
        for range in ranges {
            if range.upperBound < next { continue }
            if range.lowerBound > span.upperBound { break }
            if range.lowerBound > next { out.append(next...(range.lowerBound - 1)) }
            if range.upperBound >= span.upperBound { return out }
            next = range.upperBound + 1
        }
        out.append(next...span.upperBound)
        return out
    }

    /// `ranges` with `span` added, kept sorted and merged (adjacent ones joined).
    static func merge(_ ranges: [ClosedRange<UInt64>], _ span: ClosedRange<UInt64>) -> [ClosedRange<UInt64>] {
        var out: [ClosedRange<UInt64>] = []
        var current = span
        for range in ranges {
            if range.upperBound < current.lowerBound && current.lowerBound - range.upperBound > 1 {
                out.append(range)
            } else if current.upperBound < range.lowerBound && range.lowerBound - current.upperBound > 1 {
                out.append(range)
            } else {
                current = min(range.lowerBound, current.lowerBound)...max(range.upperBound, current.upperBound)
            }
        }
        out.append(current)
        return out.sorted { $0.lowerBound < $1.lowerBound }
    }
}
