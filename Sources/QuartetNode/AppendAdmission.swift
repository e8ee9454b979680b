import Foundation
import QuartetLedger
import QuartetPlan
import QuartetPolicy
import QuartetStore
import Synchronization

/// An append refused before anything was written: what was wrong and where (`entries[3].payload.value: …`).
/// The credential an append came with was withdrawn (a reload) while it waited its turn:
/// nothing of it was signed.
struct CredentialWithdrawn: Error, CustomStringConvertible {
    var description: String { "the credential this request came with no longer admits it (withdrawn by a reload, or the sign-in ended) — it changed while the request waited its turn; nothing was appended" }
}

struct AdmissionError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
    init(_ message: String) { self.message = message }
}

/// Admission of appends to this node's own log, outside the HTTP layer: the header, plan and
/// policy checks against the view, and the order appends may go in.
///
/// Two appends are checked against the view as it will be when the earlier is in, without
/// serialising every append behind the one before's fsync:
/// - An append of entries that change what later appends are checked against — plan
///   definitions (priorities, actions, revisions, withdrawals, measures), data-sharing
///   agreements and dataset rows (checked against the tables published before them,
///   `sameDatasetConflict`) — is *exclusive*: it waits for every append in flight, is checked against the
///   view, and holds the lock until it is durable (and so folded into the view, which happens
///   before the writer acknowledges). Two imports of the same plan therefore end with one
///   accepted and one refused, and a status update cannot slip past the withdrawal of its action.
/// - Every other append (readings, status updates, evidence) is *shared*: it
///   depends on the definitions only, which no shared append changes, so any number of them are
///   checked and queued at once; each holds the lock only until its entries are queued
///   (`LogWriter.enqueue`, which keeps queue order in the log) and then waits for durability
///   outside it, sharing the writer's group commits.
/// Exclusive waiters go first once they are queued (shared appends arriving after one wait
/// behind it), so a stream of readings cannot starve an import.
final class AppendAdmission: Sendable {
    let log: String
    let view: ViewMaintainer
    let writer: LogWriter
    /// Appends' order (internal: tests hold it to make an append wait its turn).
    let lock = SharedExclusiveLock()
    /// This node's clock against its witnesses': restricted entries wait while they disagree.
    let clock: ClockWatch

    init(log: String, view: ViewMaintainer, writer: LogWriter, clock: ClockWatch = ClockWatch()) {
        self.log = log
        self.view = view
        self.writer = writer
        self.clock = clock
    }

    /// Checks `items` (each `{type, classification?, payload}`, with the path prefix its errors
    /// name) and appends them in order; returns once they are durable.
    /// `stillAdmitted`: asked once the append has its turn, right before its entries are signed
    /// (it may have waited for its body, for the own log to open, or behind other appends: a
    /// reload may have withdrawn its credential meanwhile, finding 300).
    func append(_ items: [(prefix: String, value: JSONValue)], author: String, stillAdmitted: (@Sendable () -> Bool)? = nil) async throws -> [AppendReceipt] {
        func checkAdmitted() throws(CredentialWithdrawn) {
            if let stillAdmitted, !stillAdmitted() { throw CredentialWithdrawn() }
        }
        // A node being recovered (`quartet recover`) folds no plan: every check against the log
        // so far would pass or fail against nothing (an action defined twice, the 64-measure
        // cap passed), signed for good; and a recovery that fails discards the directory.
        guard view.foldsView else {
            throw StoreError(.unavailable, "this node is being recovered (quartet recover): it takes appends once it is served again (quartet serve)")
        }
        // Before the lock: a node still learning its own log's length from peers holds appends
        // (bad input is refused first, without waiting).
        if writer.unavailableReason != nil {
            _ = try Self.requests(items, author: author, view: view, log: log, scratch: true)
            try await writer.waitUntilAvailable()
        }
        if items.contains(where: { Self.isExclusive($0.value) }) {
            return try await lock.exclusive {
                let requests = try Self.requests(items, author: author, view: view, log: log, scratch: true)
                try Self.refuseRestrictedAhead(requests, logTime: writer.committedTime, now: wallClockMillis(), clockHold: clock.holdReason)
                try checkAdmitted()
                return try await writer.append(contentsOf: requests, bounded: true)
            }
        }
        // Held only until the entries are queued: the writer keeps queue order, and an exclusive
        // append after them checks nothing they change.
        let ticket = try await lock.shared {
            let requests = try Self.requests(items, author: author, view: view, log: log, scratch: false)
            try Self.refuseRestrictedAhead(requests, logTime: writer.committedTime, now: wallClockMillis(), clockHold: clock.holdReason)
            try checkAdmitted()
            return try writer.enqueue(contentsOf: requests, bounded: true)
        }
        return try await ticket.receipts()
    }

    /// Restricted entries are not written while the log's time is ahead of the clock: a log
    /// whose node's clock once ran ahead dates every entry after at that time (its times never
    /// go back), so rows recorded today would count as recorded after an agreement's
    /// `valid-from` the owner set in the future, and go to that recipient (finding 238). Only
    /// restricted appends are held; public ones go on.
    /// (`logTime` is read only for a request holding restricted entries: the writer's state
    /// is behind its lock.)
    /// And not while this node's clock disagrees with its witnesses' (`clockHold`, finding 289):
    /// a clock run fast dates rows after an agreement's `valid-from` before it comes, and the
    /// guard above cannot see it while the log's time is that same clock's — 503, the operator
    /// sets the clock right.
    static func refuseRestrictedAhead(_ requests: [AppendRequest], logTime readLogTime: @autoclosure () -> UInt64, now: UInt64,
                                      clockHold: @autoclosure () -> String? = nil) throws {
        guard requests.contains(where: { $0.classification != EntryHeader.publicClassification }) else { return }
        if let reason = clockHold() { throw StoreError(.unavailable, "classification: \(reason)") }
        let logTime = readLogTime()
        guard logTime > now &+ DataFlow.clockToleranceMillis else { return }
        throw AdmissionError("classification: this log's newest entry is dated \(ViewQueries.iso(logTime)), \((logTime - now) / 1000) s ahead of this node's clock (\(ViewQueries.iso(now))): restricted data is not recorded until the clock passes it, since its entries would carry that later time and count as recorded after it under an agreement (docs/operations.md, \"A clock that ran ahead\")")
    }

    /// The path of the first null inside `value` (objects by sorted key, arrays by index), or nil.
    static func firstNull(in value: JSONValue, at path: String) -> String? {
        switch value {
        case .null: return path
        case .object(let fields):
            for key in fields.keys.sorted() { if let found = firstNull(in: fields[key]!, at: "\(path).\(key)") { return found } }
            return nil
        case .array(let items):
            for (i, item) in items.enumerated() { if let found = firstNull(in: item, at: "\(path)[\(i)]") { return found } }
            return nil
        default: return nil
        }
    }

    /// The types Quartet itself defines, by family (the part before the first dot).
    static let reservedTypes: [String: [String]] = Dictionary(grouping: PlanEntryType.allCases.map(\.rawValue) + PolicyEntryType.allCases.map(\.rawValue)
                                                              + [KeyRotation.entryType, "dataset.rows", Policy.aggregateType]) {
        String($0.prefix { $0 != "." })
    }

    /// Why `type` is refused for being no type of a family Quartet defines (`plan.`,
    /// `progress.`, `agreement.`, …), or nil: a misspelt `progress.readings` was signed with any
    /// payload and read by nothing (its checks and the fold's go by the exact type). Other
    /// families (`test.note`, a deployment's own) are free.
    static func unknownReservedType(_ type: String) -> String? {
        let family = String(type.prefix { $0 != "." })
        guard let known = reservedTypes[family], !known.contains(type) else { return nil }
        return "type: \"\(type)\" is no type of the \(family) family Quartet defines: expected one of \(known.sorted().joined(separator: ", "))"
    }

    /// Whether an item changes what later appends are checked against (an item that is not even
    /// well formed is refused by the checks, so it needs no lock of its own).
    static func isExclusive(_ value: JSONValue) -> Bool {
        guard case .object(let fields) = value, case .string(let type)? = fields["type"] else { return false }
        if let kind = PlanEntryType(rawValue: type) { return ![.status, .reading, .evidence].contains(kind) }
        // Rows are checked against the tables published before them (`sameDatasetConflict`):
        // two requests at once must not each pass without the other's.
        if type == "dataset.rows" { return true }
        return PolicyEntryType(rawValue: type) != nil
    }

    /// Checks appends before any is made: header fields, that the payload is a JSON object, and
    /// for the plan domain's types the payload's schema against the log as it will be when the
    /// earlier items of the same request are in (a batch may add an action and its measures).
    /// - Parameter scratch: fold each plan and policy item into a copy of the view, for the
    ///   items after it (exclusive appends); shared appends change nothing the checks read.
    static func requests(_ items: [(prefix: String, value: JSONValue)], author: String, view: ViewMaintainer, log: String,
                         scratch folding: Bool) throws(AdmissionError) -> [AppendRequest] {
        var (scratch, policy) = view.snapshots
        var out: [AppendRequest] = []
        // Aggregates this request makes, for the rows after them (`sameDatasetConflict`).
        var madeHere: [JSONValue] = []
        var derived = 0
        let now = wallClockMillis()
        for (prefix, value) in items {
            let made = out.count
            guard case .object(let fields) = value else { throw AdmissionError("\(prefix.isEmpty ? "body" : String(prefix.dropLast())): expected an object") }
            if let unknown = fields.keys.sorted().first(where: { !["type", "classification", "payload"].contains($0) }) {
                throw AdmissionError("\(prefix)\(unknown): unknown field; expected type, classification, payload")
            }
            guard case .string(let type)? = fields["type"] else { throw AdmissionError("\(prefix)type: expected a string") }
            guard type != KeyRotation.entryType else {
                throw AdmissionError("\(prefix)type: key.rotation entries are made by `quartet key rotate` (docs/operations.md, \"Rotating a log's key\"); they cannot be posted")
            }
            guard type != Policy.aggregateType else {
                throw AdmissionError("\(prefix)type: \(Policy.aggregateType) entries are made by the node from rows under an agreement (post dataset.rows); they cannot be posted")
            }
            if let refusal = Self.unknownReservedType(type) { throw AdmissionError(prefix + refusal) }
            var classification = EntryHeader.publicClassification
            if let value = fields["classification"] {
                guard case .string(let text) = value else { throw AdmissionError("\(prefix)classification: expected a string") }
                classification = text
            }
            // Rows are an owner's data: they go under its label and an agreement, never public
            // (a public dataset.rows would be served raw to every reader, no cell suppressed).
            guard type != "dataset.rows" || classification != EntryHeader.publicClassification else {
                throw AdmissionError("\(prefix)classification: dataset.rows entries are a data owner's rows and need the label of an agreement in force (quartet record dataset --label LABEL); public figures go in public entries")
            }
            // Restricted data only while an agreement in force covers its label here.
            if classification != EntryHeader.publicClassification {
                guard !policy.inForce(label: classification, holder: log, at: now).isEmpty else {
                    throw AdmissionError("\(prefix)classification: no data-sharing agreement in force covers \"\(classification)\" held by \(log); establish one first (quartet agreement establish)")
                }
                guard !PlanValidator.isPlanType(type), PolicyEntryType(rawValue: type) == nil else {
                    throw AdmissionError("\(prefix)classification: \(type) entries are public; restricted data goes in its own entries (e.g. dataset.rows)")
                }
            }
            guard let value = fields["payload"], case .object = value else { throw AdmissionError("\(prefix)payload: expected a JSON object") }
            let payload = value.encoded()
            if let kind = PlanEntryType(rawValue: type) {
                // A field given as null is read as left out (by these checks and by the fold),
                // but would be signed into the log as null against the schema: refused here.
                if let path = Self.firstNull(in: value, at: "payload") {
                    throw AdmissionError("\(prefix)\(path): null is not a value here; leave the field out")
                }
                do {
                    // The value parsed from the body, not the payload parsed again.
                    try PlanValidator.validate(kind, value, context: LogContext(view: scratch, log: log))
                    try PlanValidator.refuseAhead(kind, value, nowMillis: now)
                    try PlanValidator.refuseUnclearNames(kind, value)
                } catch {
                    throw AdmissionError(prefix + error.message)
                }
                if folding { try? scratch.apply(ViewEntry(log: log, index: scratch.logs[log]?.size ?? 0, timeMillis: 0, type: type, payload: payload)) }
            }
            if PolicyEntryType(rawValue: type) != nil {
                do { try policy.check(type: type, payload: payload, log: log) } catch {
                    throw AdmissionError(prefix + error.message)
                }
                if folding { policy.apply(log: log, index: scratch.logs[log]?.size ?? 0, timeMillis: now, type: type, payload: payload) }
            }
            // A restricted payload's length is in its header, which every node and reader sees:
            // padded with spaces to a multiple of 4 KiB, it says nothing of the counts inside.
            let stored = classification == EntryHeader.publicClassification ? payload : padded(payload)
            let request = AppendRequest(type: type, classification: classification, author: author, payload: stored)
            do { try request.validate() } catch { throw AdmissionError(prefix + error.message) }
            out.append(request)
            // Restricted rows come with their published aggregate, right after them: the holder's
            // counts with small cells suppressed, for recipients with aggregate access.
            if type == "dataset.rows", classification != EntryHeader.publicClassification {
                let agreements = policy.inForce(label: classification, holder: log, at: now)
                guard let governing = Policy.governing(agreements) else {
                    throw AdmissionError("\(prefix)no data-sharing agreement in force covers \(classification)")
                }
                guard let rows = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
                    throw AdmissionError("\(prefix)payload: expected a JSON object")
                }
                let bytes: [UInt8]
                do {
                    let aggregate = try DatasetAggregate.make(rows: rows, label: classification, minCellSize: governing.minCellSize,
                                                              rounding: governing.rounding, agreement: governing.id)
                    bytes = try DatasetAggregate.encoded(aggregate)
                } catch {
                    throw AdmissionError(prefix + "\(error)")
                }
                let held = (scratch.logs[log]?.aggregates.values.map(\.payload) ?? []) + madeHere
                if let conflict = Self.layoutConflict(rows: rows, label: classification, held: held)
                    ?? Self.sameDatasetConflict(rows: rows, label: classification, method: (governing.minCellSize, governing.rounding), held: held) {
                    throw AdmissionError(prefix + conflict)
                }
                if let made = try? JSONValue.parse(bytes) { madeHere.append(made) }
                // Padded as the rows are: its length (label lengths, digit counts, how many cells
                // were suppressed) is in the header too, and not every aggregate is published.
                let aggregate = AppendRequest(type: Policy.aggregateType, classification: classification, author: author, payload: padded(bytes))
                do { try aggregate.validate() } catch {
                    throw AdmissionError(prefix + "payload: its published aggregate would be refused: \(error.message); send fewer or smaller rows")
                }
                out.append(aggregate)
            }
            // What one request makes, aggregates included, is one commit and one push to each
            // peer: bounded well below a replication frame (a small body of rows shaped for
            // large tables could make a hundred MiB of padded aggregates).
            derived += out[made...].reduce(0) { $0 + $1.payload.count }
            guard derived <= Self.maxDerivedBytes else {
                throw AdmissionError("\(prefix.isEmpty ? "body" : String(prefix.dropLast())): the entries this request makes (rows with their published aggregates) come to more than \(Self.maxDerivedBytes >> 20) MiB; send fewer per request")
            }
        }
        return out
    }

    /// The most payload bytes the entries of one request may come to, derived aggregates and
    /// padding included.
    static let maxDerivedBytes = 32 << 20

    /// JSON bytes followed by spaces up to a multiple of 4,096 (JSON allows trailing
    /// whitespace, and the commitment covers the padded bytes): the next past the length the
    /// JSON would have with every number and `null` written in `numberWidth` characters
    /// (`measuredLength`). Padded from the real length, the block said on which side of a
    /// boundary the counts' digits summed to, which with a published table could pin a count
    /// (a 12 at base 6 standing for exactly 9); measured so, the length follows the layout
    /// alone — names, labels and how many cells — which the published aggregate shows anyway.
    static func padded(_ bytes: [UInt8]) -> [UInt8] {
        let block = 4096
        let target = min(EntryHeader.maxPayloadLength, (measuredLength(bytes) / block + 1) * block)
        return bytes.count >= target ? bytes : bytes + [UInt8](repeating: 0x20, count: target - bytes.count)
    }

    /// Every count is at most `Suppression.maxCount`, ten digits (a total past ten digits still
    /// lengthens the payload: only tables of ten thousand million and more).
    static let numberWidth = 10

    /// The length of JSON `bytes` with each number and `null` outside strings counted as
    /// `numberWidth` characters (or its own length, if longer).
    static func measuredLength(_ bytes: [UInt8]) -> Int {
        var length = 0, i = 0
        var inString = false
        while i < bytes.count {
            let byte = bytes[i]
            if inString {
                if byte == UInt8(ascii: "\\") { length += 2; i += 2; continue }
                if byte == UInt8(ascii: "\"") { inString = false }
                length += 1; i += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                length += 1; i += 1
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                var end = i + 1
                scan: while end < bytes.count {
                    switch bytes[end] {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"): end += 1
                    default: break scan
                    }
                }
                length += max(end - i, numberWidth)
                i = end
            case UInt8(ascii: "n") where i + 3 < bytes.count && bytes[i + 1] == UInt8(ascii: "u") && bytes[i + 2] == UInt8(ascii: "l") && bytes[i + 3] == UInt8(ascii: "l"):
                length += numberWidth
                i += 4
            default:
                length += 1; i += 1
            }
        }
        return length
    }
}

/// The states of a lock held by many shared holders or one exclusive holder, with waiters in
/// arrival order; pure, so its transitions are tested without tasks (`SharedExclusiveLockTests`).
struct SharedExclusiveState<Waiter> {
    private(set) var shared = 0
    private(set) var exclusive = false
    private(set) var waiting: [(exclusive: Bool, waiter: Waiter)] = []

    /// Takes the lock now (true), or queues `waiter` (false). Nobody overtakes a queued waiter.
    mutating func acquire(exclusive wantsExclusive: Bool, _ waiter: Waiter) -> Bool {
        if waiting.isEmpty && !exclusive && (!wantsExclusive || shared == 0) {
            if wantsExclusive { exclusive = true } else { shared += 1 }
            return true
        }
        waiting.append((wantsExclusive, waiter))
        return false
    }

    /// Releases one hold; returns the waiters that now hold the lock (to be resumed): the next
    /// exclusive waiter alone, or every shared waiter up to the next exclusive one.
    mutating func release(exclusive wasExclusive: Bool) -> [Waiter] {
        if wasExclusive {
            precondition(exclusive, "released an exclusive hold nobody had")
            exclusive = false
        } else {
            precondition(shared > 0, "released a shared hold nobody had")
            shared -= 1
        }
        var granted: [Waiter] = []
        while let next = waiting.first {
            if next.exclusive {
                guard shared == 0, !exclusive, granted.isEmpty else { break }
                exclusive = true
                granted.append(next.waiter)
                waiting.removeFirst()
                break
            }
            guard !exclusive else { break }
            shared += 1
            granted.append(next.waiter)
            waiting.removeFirst()
        }
        return granted
    }
}

/// An async lock over `SharedExclusiveState`: holders may suspend while holding it.
final class SharedExclusiveLock: Sendable {
    private let state = Mutex(SharedExclusiveState<CheckedContinuation<Void, Never>>())

    func shared<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire(exclusive: false)
        defer { release(exclusive: false) }
        return try await body()
    }

    func exclusive<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire(exclusive: true)
        defer { release(exclusive: true) }
        return try await body()
    }

    /// Holds waiting for the lock now, and whether it is held exclusively (for tests).
    var waiting: Int { state.withLock { $0.waiting.count } }
    var heldExclusively: Bool { state.withLock { $0.exclusive } }

    private func acquire(exclusive: Bool) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if state.withLock({ $0.acquire(exclusive: exclusive, continuation) }) { continuation.resume() }
        }
    }

    private func release(exclusive: Bool) {
        for waiter in state.withLock({ $0.release(exclusive: exclusive) }) { waiter.resume() }
    }
}
