import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import QuartetReplication
import QuartetStore

// (Over ~350 lines: disclosure and purge records, their journal, its replay at start and the flush
// at stop are one lifecycle.)

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
/// A purge is journalled twice, durably (fsync: purges are rare): before its commit, the
/// entries it may clear (`purgeStarting`), and after, the entries it cleared (`recordPurge`).
/// A node that stops between the two records at its next start those of the first that it no
/// longer holds (`recover`), so a committed purge is never left unrecorded.
///
/// Sending the same entries again (a peer asking twice) records nothing new: spans already
/// recorded, or waiting, for the same recipient, log, agreement and access are skipped, so a
/// peer cannot make the records grow by repeating requests.
final class OwnLogRecorder: Sendable {
    let writer = NIOLockedValueBox<LogWriter?>(nil)
    /// Whether the writer's refusal for good was logged (`flush`).
    private let refusalSaid = NIOLockedValueBox(false)
    private let journal: URL
    private let ownLog: String
    private let logger: Logger

    struct Key: Hashable {
        var recipient: String, log: String, agreement: String, access: Access
    }

    struct PendingDisclosure {
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
        /// Flushes waiting for the one in progress, each handed the turn when it ends (no
        /// polling: a cancelled task's sleep returns at once, and the poll spun a thread).
        var flushWaiters: [CheckedContinuation<Void, Never>] = []
        /// Renamed journals whose records failed to go in: removed after the next flush that works.
        var unflushed: [URL] = []
        /// Whether `recover` has run (purges wait for it, so a purge's record is not replayed twice).
        var recovered = false
        /// Spans recorded (in the log, or waiting), per key, merged.
        var recorded: [Key: [ClosedRange<UInt64>]] = [:]
        var scheduled = false
        var generation = 0
        /// Journal lines of purges started and not yet recorded: written again to the fresh
        /// journal after a flush removes the one they were in.
        var starting: [Int: String] = [:]
        var nextStarting = 0

        /// `range` (none of it recorded yet for `key`) disclosed: `count` payloads, waiting for
        /// the next record, and remembered as recorded. In place: a copy of the ranges per call
        /// would make a log of alternating restricted and public entries quadratic.
        mutating func disclose(_ range: ClosedRange<UInt64>, count: Int, key: Key, first: UInt64) {
            if disclosures[key] == nil { disclosures[key] = PendingDisclosure(key: key, first: first) }
            OwnLogRecorder.insert(range, into: &disclosures[key]!.ranges)
            let total = disclosures[key]!.count.addingReportingOverflow(count)
            disclosures[key]!.count = total.overflow ? Int.max : total.partialValue
            disclosures[key]!.first = min(disclosures[key]!.first, first)
            OwnLogRecorder.insert(range, into: &recorded[key, default: []])
        }
    }

    /// How many indices `range` holds (saturating).
    static func length(_ range: ClosedRange<UInt64>) -> Int {
        range.upperBound - range.lowerBound >= UInt64(Int.max) ? Int.max : Int(range.upperBound - range.lowerBound) + 1
    }

    private let state = NIOLockedValueBox(State())
    /// Held across writing journal lines and taking them into `state`, and across a flush's
    /// rename and its reading of `state`: a line written to the journal a flush is renaming
    /// must be in what that flush appends (or it would be removed with the file, kept only in
    /// memory until the next flush). Taken before `state`'s lock, never after.
    private let journalLock = NIOLock()
    /// Whether the journal's directory entry is known synced (false once it is renamed away
    /// or made anew; a durable line syncs the directory first).
    private let journalEntrySynced = NIOLockedValueBox(JournalEntry())

    /// Whether the journal's entry in its directory is known synced. `generation` counts the
    /// journals made (and moved away): a directory sync started before the current journal
    /// existed does not count for it.
    struct JournalEntry: Sendable {
        var generation: UInt64 = 0
        var synced = false

        mutating func replaced() {
            generation &+= 1
            synced = false
        }
    }

    /// Where a journal that cannot be written is said (`/readyz`, `/metrics`).
    private let writes: WriteHealth
    /// Whether the journal may end in a torn line (a short write whose truncation failed too):
    /// the next line then starts with a newline, or it would join the torn one and be skipped
    /// at replay with it. Under `journalLock`, as every write is.
    private let journalTorn = NIOLockedValueBox(false)

    init(journal: URL, ownLog: String, writes: WriteHealth = WriteHealth(), logger: Logger) {
        self.journal = journal
        self.ownLog = ownLog
        self.writes = writes
        self.logger = logger
    }

    // MARK: Recording

    /// The engine is about to send the restricted payloads of `log` at exactly the indices in
    /// `ranges` to `recipient` under `agreement`. Only indices not recorded before (or
    /// waiting) for the same recipient, log, agreement and access are recorded, so a peer
    /// asking again, or for spans one entry longer each time, adds nothing but what it was
    /// newly given. Journalled before it returns; false if the journal could not be written
    /// (nothing is then taken as recorded, and the caller must not send the payloads).
    @discardableResult
    func record(recipient: String, log: String, ranges: [ClosedRange<UInt64>], agreement: String, access: Access) -> Bool {
        record(recipient: recipient, log: log, [Disclosed(ranges: ranges, agreement: agreement, access: access)])
    }

    /// What went to a recipient under one agreement, as index ranges of `log`.
    struct Disclosed: Sendable {
        var ranges: [ClosedRange<UInt64>]
        var agreement: String
        var access: Access
    }

    /// Records what one batch discloses to `recipient` under each agreement, all or nothing: the
    /// lines of every agreement go into the journal in one write, so a batch withheld because
    /// the journal refused it leaves no record of part of it (a record of more than went).
    /// False: nothing was recorded, and the batch must not be sent.
    func record(recipient: String, log: String, _ items: [Disclosed]) -> Bool {
        let now = wallClockMillis()
        journalLock.lock()
        defer { journalLock.unlock() }
        // What is new, found first (per agreement and access, against what is recorded and
        // what this call adds before it); taken as recorded only once its lines are in the journal.
        let new = state.withLockedValue { state -> [(key: Key, range: ClosedRange<UInt64>)] in
            var adding: [Key: [ClosedRange<UInt64>]] = [:]
            var new: [(key: Key, range: ClosedRange<UInt64>)] = []
            for item in items {
                let key = Key(recipient: recipient, log: log, agreement: item.agreement, access: item.access)
                for range in item.ranges {
                    for piece in Self.uncovered(range, by: state.recorded[key] ?? []) {
                        for part in Self.uncovered(piece, by: adding[key] ?? []) {
                            new.append((key, part))
                            Self.insert(part, into: &adding[key, default: []])
                        }
                    }
                }
            }
            return new
        }
        guard !new.isEmpty else { return true }
        let lines = new.map { key, range in
            JournalLine.disclosure(.init(recipient: key.recipient, log: key.log, agreement: key.agreement, access: key.access,
                                         from: range.lowerBound, to: range.upperBound, count: Self.length(range), time: now)).text
        }
        guard appendToJournal(lines.joined(separator: "\n")) else { return false }
        let schedule = state.withLockedValue { state -> Bool in
            for (key, range) in new {
                for part in Self.uncovered(range, by: state.recorded[key] ?? []) {
                    state.disclose(part, count: Self.length(part), key: key, first: now)
                }
            }
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
        if schedule { DispatchQueue.global().asyncAfter(deadline: .now() + 1) { Task { await self.flush() } } }
        return true
    }

    /// At most this many entries in one purge record: ~700 KB of JSON at the largest indices,
    /// inside an entry's 1 MiB (a purge of a few hundred thousand entries as one record could
    /// never be appended, and would block every record after it).
    static let maxEntriesPerPurgeRecord = Policy.maxEntriesPerPurgeRecord

    /// A purge is about to clear at most the entries of `record` (those it found held): journalled
    /// durably before its commit, so a stop between the commit and `recordPurge` still leaves
    /// the purge's trace. Returns the token `recordPurge` or `purgeAbandoned` takes.
    func purgeStarting(_ record: PurgeRecord) -> Int {
        let text = record.chunks(of: Self.maxEntriesPerPurgeRecord).map { JournalLine.purgeStarting($0).text }.joined(separator: "\n")
        let (token, fd) = journalLock.withLock {
            let token = state.withLockedValue { state in
                state.nextStarting += 1
                state.starting[state.nextStarting] = text
                return state.nextStarting
            }
            return (token, writeJournal(text))
        }
        if !(fd.map { finish($0, durable: true) } ?? false) {
            logger.error("a purge goes ahead without its line in the journal: if the node stops before its record, the purge is not recorded",
                         metadata: ["agreement": "\(record.agreement)", "log": "\(record.log)"])
        }
        return token
    }

    /// The purge `token` named cleared nothing, or failed: nothing to record (its journal line,
    /// if the node stops before the next flush, is found to have cleared nothing).
    func purgeAbandoned(_ token: Int) {
        _ = state.withLockedValue { $0.starting.removeValue(forKey: token) }
    }

    /// A purge happened; its record goes in at once (through the journal, durably), as one
    /// record per `maxEntriesPerPurgeRecord` entries.
    func recordPurge(_ record: PurgeRecord, started token: Int? = nil) {
        let records = record.chunks(of: Self.maxEntriesPerPurgeRecord)
        let fd = journalLock.withLock {
            let fd = writeJournal(records.map { JournalLine.purge($0).text }.joined(separator: "\n"))
            state.withLockedValue { state in
                state.purges.append(contentsOf: records.map { JournalLine.encode($0) })
                if let token { state.starting.removeValue(forKey: token) }
            }
            return fd
        }
        if let fd { _ = finish(fd, durable: true) }
        Task { await flush() }
    }

    // MARK: Flushing

    /// Appends every waiting record to the own log (one group commit) and drops the journal
    /// lines they came from once durable.
    func flush() async {
        guard let writer = writer.withLockedValue({ $0 }) else { return }
        // The own log takes no more appends this run (another process signs it): the records
        // stay journalled for the next start, said once (was: an error and a retry every 5 s
        // for the rest of the run, a renamed journal file kept at each).
        if writer.isRefused {
            if refusalSaid.withLockedValue({ said in defer { said = true }; return !said }) {
                logger.warning("the own log takes no appends this run: disclosures and purges stay journalled and are recorded at the next start")
            }
            return
        }
        // One flush at a time (each renames the journal, appends, removes the renamed file).
        let turn = state.withLockedValue { state -> Bool in
            if state.flushInProgress { return false }
            state.flushInProgress = true
            return true
        }
        if !turn {
            await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state -> Bool in
                    if !state.flushInProgress {
                        state.flushInProgress = true
                        return true
                    }
                    state.flushWaiters.append(waiter)
                    return false
                }
                if now { waiter.resume() }
            }
        }
        defer {
            // The turn passes to the next waiting flush (still in progress), or ends.
            let next = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                guard !state.flushWaiters.isEmpty else {
                    state.flushInProgress = false
                    return nil
                }
                return state.flushWaiters.removeFirst()
            }
            next?.resume()
        }
        let (items, purges, renamed) = journalLock.withLock { state.withLockedValue { state -> ([PendingDisclosure], [[UInt8]], URL?) in
            defer { state.disclosures = [:]; state.purges = []; state.scheduled = false }
            state.generation += 1
            // New journal lines go to a fresh file from here on.
            let renamed = journal.appendingPathExtension("\(ProcessInfo.processInfo.processIdentifier).\(state.generation).flushing")
            let moved = (try? FileManager.default.moveItem(at: journal, to: renamed)) != nil
            journalEntrySynced.withLockedValue { $0.replaced() }
            return (state.disclosures.values.sorted { $0.first < $1.first }, state.purges, moved ? renamed : nil)
        } }
        // Padded like restricted payloads: the records are stubs to readers (only the owner's
        // auditors and the holder's operator read them), and a stub's length, in its header,
        // would otherwise tell the agreement, the recipient and how many ranges went.
        var requests = items.flatMap(Self.disclosureRequests)
            + purges.map { AppendRequest(type: PolicyEntryType.purged.rawValue, author: "node", payload: AppendAdmission.padded($0)) }
        // A record no entry can hold (a journal line with names of megabytes, from a copy
        // restored from elsewhere) would fail every flush and every record with it: it is said
        // and dropped; the rest go in.
        requests.removeAll { request in
            guard request.payload.count > EntryHeader.maxPayloadLength else { return false }
            logger.error("a disclosure or purge record too large for an entry is dropped", metadata: [
                "bytes": "\(request.payload.count)", "start": "\(PeerText.clean(String(decoding: request.payload.prefix(200), as: UTF8.self)))"])
            return true
        }
        guard !requests.isEmpty else {
            rejournalStarting()
            if let renamed { try? FileManager.default.removeItem(at: renamed) }
            return
        }
        do {
            _ = try await writer.append(contentsOf: requests)
            let leftovers = state.withLockedValue { state -> [URL] in
                defer { state.unflushed = [] }
                return state.unflushed
            }
            rejournalStarting()
            for url in leftovers + [renamed].compactMap({ $0 }) { try? FileManager.default.removeItem(at: url) }
        } catch {
            // Put them back and try again in 5 s; their journal stays until they are in.
            logger.error("cannot record disclosures and purges; retrying in 5 s (the journal keeps them)", metadata: ["error": "\(error)"])
            let retry = state.withLockedValue { state -> Bool in
                for item in items {
                    if state.disclosures[item.key] == nil { state.disclosures[item.key] = PendingDisclosure(key: item.key, first: item.first) }
                    for range in item.ranges { Self.insert(range, into: &state.disclosures[item.key]!.ranges) }
                    let total = state.disclosures[item.key]!.count.addingReportingOverflow(item.count)
                    state.disclosures[item.key]!.count = total.overflow ? Int.max : total.partialValue
                    state.disclosures[item.key]!.first = min(state.disclosures[item.key]!.first, item.first)
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
    /// the policy as folded from the log, so spans already recorded are not recorded again;
    /// `held(log, indices)` says which of a copy's entries still have their payloads here, so a
    /// purge journalled as starting (the run stopped before recording it) is recorded for the
    /// entries it cleared, and for none if it never committed.
    func recover(known policy: Policy, held: (String, [UInt64]) throws -> Set<UInt64>) async {
        state.withLockedValue { state in
            for (agreement, list) in policy.disclosures {
                for d in list where d.recordLog == ownLog {
                    guard let access = Access(rawValue: d.access) else { continue }
                    let key = Key(recipient: d.recipient, log: d.log, agreement: agreement, access: access)
                    for range in d.ranges { Self.insert(range, into: &state.recorded[key, default: []]) }
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
        // Entries purge lines name, by agreement and log (a purge abandoned and tried again
        // 5 s later names the same entries under another time).
        var started: [PurgeRecord.Identity: [UInt64]] = [:], recordedPurges: [[String]: Set<UInt64>] = [:]
        for file in files {
            let url = directory.appendingPathComponent(file)
            // A regular file within the bound backup copies, never through a link (a restored
            // copy's planted FIFO or link to a device would hang or fill memory at start).
            let data: [UInt8]
            do { data = try RegularFile.read(url.path, limit: DataDirectory.pendingRecordsLimit, followSymlinks: false) } catch {
                logger.error("a journal of disclosure and purge records cannot be read; its records are not replayed", metadata: ["file": "\(url.path)", "error": "\(error)"])
                continue
            }
            for raw in data.split(separator: UInt8(ascii: "\n")) {
                // A torn last line (or one of another shape) is skipped.
                guard let line = try? JSONDecoder().decode(JournalLine.self, from: Data(raw)) else { continue }
                replayed += 1
                switch line {
                case .purge(let record):
                    recordedPurges[[record.agreement, record.log], default: []].formUnion(record.entries)
                    let bytes = record.chunks(of: Self.maxEntriesPerPurgeRecord).map { JournalLine.encode($0) }
                    state.withLockedValue { $0.purges.append(contentsOf: bytes) }
                case .purgeStarting(let record):
                    started[record.identity, default: []].append(contentsOf: record.entries)
                case .disclosure(let d):
                    let key = Key(recipient: d.recipient, log: d.log, agreement: d.agreement, access: d.access)
                    let time = d.time ?? wallClockMillis()
                    state.withLockedValue { state in
                        // What is not recorded yet of the line's span, as `record` takes it (a line
                        // of an older build counted fewer payloads than its span holds).
                        var left = d.count
                        for piece in Self.uncovered(d.from...d.to, by: state.recorded[key] ?? []) {
                            let count = min(left, Self.length(piece))
                            left -= count
                            state.disclose(piece, count: count, key: key, first: time)
                        }
                    }
                }
            }
        }
        // A purge started and not recorded: the entries it listed that are no longer held were
        // cleared by it (nothing runs between the stop and this); the latest such purge of an
        // agreement and log first, each entry recorded once.
        for (identity, entries) in started.sorted(by: { $0.key.time > $1.key.time }) {
            let candidates = Set(entries).subtracting(recordedPurges[[identity.agreement, identity.log]] ?? [])
            guard !candidates.isEmpty else { continue }
            let cleared: [UInt64]
            do { cleared = candidates.subtracting(try held(identity.log, Array(candidates))).sorted() } catch {
                logger.error("cannot tell what a purge journalled as starting cleared; it is not recorded", metadata: [
                    "agreement": "\(identity.agreement)", "log": "\(identity.log)", "error": "\(error)"])
                continue
            }
            guard !cleared.isEmpty else { continue }
            recordedPurges[[identity.agreement, identity.log], default: []].formUnion(cleared)
            let record = PurgeRecord(agreement: identity.agreement, entries: cleared, log: identity.log, reason: identity.reason, time: identity.time)
            state.withLockedValue { $0.purges.append(contentsOf: record.chunks(of: Self.maxEntriesPerPurgeRecord).map { JournalLine.encode($0) }) }
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
        // Synced, renamed into place and the directory synced before the files it replaces go:
        // purges recovered from starting lines exist nowhere else.
        if FileManager.default.createFile(atPath: fresh.path, contents: Data(lines.map { $0 + "\n" }.joined().utf8)),
           Self.sync(fresh.path), rename(fresh.path, journal.path) == 0, syncDirectory() {
            for file in files where file != journal.lastPathComponent {
                try? FileManager.default.removeItem(at: directory.appendingPathComponent(file))
            }
        }
        logger.notice("recording disclosures and purges journalled by an earlier run", metadata: ["lines": "\(replayed)"])
        await flush()
    }

    /// Purges started and not recorded yet keep their lines in the journal that stays (before
    /// a flush removes the file they were in).
    private func rejournalStarting() {
        let fd = journalLock.withLock { () -> Int32? in
            let starting = state.withLockedValue { $0.starting.sorted { $0.key < $1.key }.map(\.value).joined(separator: "\n") }
            return starting.isEmpty ? nil : writeJournal(starting)
        }
        if let fd { _ = finish(fd, durable: true) }
    }

    /// Syncs the file at `path`.
    private static func sync(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }

    /// Syncs the journal's directory (its entry there), noting it synced.
    private func syncDirectory() -> Bool {
        let generation = journalEntrySynced.withLockedValue { $0.generation }
        let dir = open(journal.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
        guard dir >= 0, fsync(dir) == 0 else {
            let error = errno
            if dir >= 0 { close(dir) }
            logger.error("cannot sync the directory of the disclosure journal", metadata: ["file": "\(journal.path)", "errno": "\(error)"])
            journalFailed(errno: error, "fsync the directory of \(journal.path)")
            return false
        }
        close(dir)
        // Only for the journal that existed when the sync began (another may have been made
        // meanwhile: its entry is not known synced).
        journalEntrySynced.withLockedValue { if $0.generation == generation { $0.synced = true } }
        return true
    }

    /// Whether the records of an earlier run have been replayed (`recover`).
    var recovered: Bool { state.withLockedValue { $0.recovered } }

    // MARK: Helpers

    /// Appends `line` (one or more lines) to the journal; `durable`: fsynced, and the
    /// directory too unless the journal's entry in it is known synced.
    @discardableResult
    private func appendToJournal(_ line: String, durable: Bool = false) -> Bool {
        guard let fd = writeJournal(line) else { return false }
        return finish(fd, durable: durable)
    }

    /// Writes `line` (one or more lines) to the journal; the descriptor, still open, for
    /// `finish` (a durable line is synced there, outside `journalLock`: a purge's fsyncs must
    /// not hold up the engine's records), or nil if it could not be written.
    private func writeJournal(_ line: String) -> Int32? {
        // A regular file, never through a link nor a planted FIFO.
        var fd = RegularFile.openForAppending(journal.path, create: false)
        let created = fd < 0 && errno == ENOENT
        if created {
            fd = RegularFile.openForAppending(journal.path, create: true)
            journalEntrySynced.withLockedValue { $0.replaced() }
        }
        guard fd >= 0 else {
            let error = errno
            logger.error("cannot write the disclosure journal", metadata: ["file": "\(journal.path)", "errno": "\(error)"])
            journalFailed(errno: error, "open \(journal.path)")
            return nil
        }
        let torn = journalTorn.withLockedValue { $0 }
        let bytes = Array(((torn ? "\n" : "") + line + "\n").utf8)
        // Where the line starts: a short write (a full disk) is cut back to it, so no torn
        // line is left for the next line to join (the two would be skipped at replay as one).
        let end = lseek(fd, 0, SEEK_END)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            let error = errno
            logger.error("cannot write the disclosure journal", metadata: ["file": "\(journal.path)", "errno": "\(error)"])
            // A short write is the disk's (no room for the rest).
            journalFailed(errno: written < 0 ? error : ENOSPC, "write \(journal.path)")
            if written > 0 {
                // Cut back to where the line began; failing that, the next line starts anew.
                let cut = end >= 0 && ftruncate(fd, end) == 0
                journalTorn.withLockedValue { $0 = torn || !cut }
            }
            close(fd)
            return nil
        }
        if torn { journalTorn.withLockedValue { $0 = false } }
        return fd
    }

    /// A journal call failed with `code`: said as a write failure (`WriteHealth`) when it is the
    /// disk's or the file system's — no room, a quota, an IO error, a read-only mount, a file
    /// too large — not the process's (no descriptor left, an interrupted call), which the node's
    /// log says.
    private func journalFailed(errno code: Int32, _ what: String) {
        guard Self.diskErrnos.contains(code) else { return }
        writes.failed(.journal, described: "\(what): \(String(cString: strerror(code)))", nowMillis: wallClockMillis())
    }

    static let diskErrnos: Set<Int32> = [ENOSPC, EDQUOT, EIO, EROFS, EFBIG]

    /// Syncs (if `durable`) and closes what `writeJournal` wrote.
    private func finish(_ fd: Int32, durable: Bool) -> Bool {
        defer { close(fd) }
        guard durable else {
            writes.succeeded(.journal)
            return true
        }
        if fsync(fd) != 0 {
            let error = errno
            logger.error("cannot sync the disclosure journal", metadata: ["file": "\(journal.path)", "errno": "\(error)"])
            journalFailed(errno: error, "fsync \(journal.path)")
            return false
        }
        if !journalEntrySynced.withLockedValue({ $0.synced }) && !syncDirectory() { return false }
        writes.succeeded(.journal)
        return true
    }

    /// At most this many ranges in one record: ~180 KB of JSON, well inside an entry's 1 MiB
    /// (a second's disclosures of a log alternating restricted and public entries can hold
    /// tens of thousands of ranges; one record too large for an entry would block every
    /// record after it, retried for ever).
    static let maxRangesPerRecord = Policy.maxRangesPerDisclosureRecord

    /// The records of one pending disclosure: one, or one per `maxRangesPerRecord` ranges, each
    /// counting the payloads of its own ranges (the first takes what the count holds beyond them).
    static func disclosureRequests(_ item: PendingDisclosure) -> [AppendRequest] {
        let chunks = stride(from: 0, to: max(item.ranges.count, 1), by: maxRangesPerRecord).map {
            Array(item.ranges[$0..<min($0 + maxRangesPerRecord, item.ranges.count)])
        }
        // (Saturating: no index range a log can hold comes near, but nothing here may trap.)
        func plus(_ a: Int, _ b: Int) -> Int { let (sum, overflow) = a.addingReportingOverflow(b); return overflow ? Int.max : sum }
        let lengths = chunks.map { $0.reduce(0) { plus($0, length($1)) } }
        let rest = lengths.dropFirst().reduce(0, plus)
        return chunks.enumerated().map { i, ranges in
            let record = DisclosureRecord(log: item.key.log, ranges: ranges.map { [$0.lowerBound, $0.upperBound] },
                                          count: i == 0 ? max(0, item.count - rest) : lengths[i],
                                          recipient: item.key.recipient, agreement: item.key.agreement, access: item.key.access.rawValue,
                                          time: iso8601(item.first))
            return AppendRequest(type: PolicyEntryType.disclosed.rawValue, author: "node", payload: AppendAdmission.padded(JournalLine.encode(record)))
        }
    }

    /// Whether `ranges` (sorted, disjoint) cover all of `span`.
    /// The parts of `span` that no range of `ranges` (sorted and merged, as `insert` keeps
    /// them) covers, in order.
    static func uncovered(_ span: ClosedRange<UInt64>, by ranges: [ClosedRange<UInt64>]) -> [ClosedRange<UInt64>] {
        var out: [ClosedRange<UInt64>] = []
        var next = span.lowerBound
        // From the first range that ends at or after the span's start (binary search).
        var low = 0, high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < span.lowerBound { low = mid + 1 } else { high = mid }
        }
        for range in ranges[low...] {
            if range.upperBound < next { continue }
            if range.lowerBound > span.upperBound { break }
            if range.lowerBound > next { out.append(next...(range.lowerBound - 1)) }
            if range.upperBound >= span.upperBound { return out }
            next = range.upperBound + 1
        }
        out.append(next...span.upperBound)
        return out
    }

    /// Adds `span` to `ranges` (sorted, disjoint, adjacent ones joined), in place: found by
    /// binary search, so a span past the last (the usual case: a log served in order) is
    /// appended in O(1), and only the ranges it touches are replaced. A log of alternating
    /// restricted and public entries keeps one range per restricted entry: inserting each by a
    /// scan and a copy of them all made catching up on it quadratic.
    static func insert(_ span: ClosedRange<UInt64>, into ranges: inout [ClosedRange<UInt64>]) {
        // The first range that ends at or after span.lowerBound - 1 (touching or overlapping).
        let reach = span.lowerBound == 0 ? 0 : span.lowerBound - 1
        var low = 0, high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < reach { low = mid + 1 } else { high = mid }
        }
        var end = low
        var merged = span
        // Every range that starts at or before span.upperBound + 1 joins it.
        while end < ranges.count && (span.upperBound == UInt64.max || ranges[end].lowerBound <= span.upperBound + 1) {
            merged = min(merged.lowerBound, ranges[end].lowerBound)...max(merged.upperBound, ranges[end].upperBound)
            end += 1
        }
        ranges.replaceSubrange(low..<end, with: [merged])
    }
}
