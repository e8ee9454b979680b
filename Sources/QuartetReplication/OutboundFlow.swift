/// Backpressure for what a node writes to one peer connection.
///
/// A peer that asks and never reads must not make the node queue batch after batch (each up to
/// `ProtocolLimits.batchBytesBudget`): answers wait while the connection has more than
/// `softLimitBytes` unwritten, at most one waiting request per log (a newer request for a log
/// replaces the one waiting; an identical one is a replay and is dropped), and a connection
/// whose unwritten bytes pass `hardLimitBytes` — pushes of new commits to a peer that does not
/// read, or answers to requests for logs the node does not hold — is closed (and one that takes
/// nothing for 30 s). The shell keeps reading a connection that is not writable: two nodes
/// catching up from each other would otherwise each stop reading the other and stall.
///
/// Pure: the shell reports bytes queued and bytes written; this decides.
public struct OutboundFlow: Sendable {
    /// The limits of one connection.
    public struct Settings: Sendable, Equatable {
        /// Requests wait while more than this is unwritten. Default 16 MiB (two full batches).
        public var softLimitBytes: Int = 16 << 20
        /// A connection with more than this unwritten is closed. Default 80 MiB: above the
        /// largest frame (64 MiB) plus the soft limit, so one legitimate oversized origin batch
        /// never trips it.
        public var hardLimitBytes: Int = 80 << 20
        /// Logs with a request waiting. A peer asks for one range per log at a time; the default,
        /// 64, is far above any federation's number of logs. Past it the peer is misbehaving.
        public var maxWaitingLogs: Int = 64

        public init() {}
    }

    /// What to do with a request a peer sent.
    public enum RequestDecision: Sendable, Equatable {
        /// Serve it now.
        case serve
        /// It waits until the connection drains (`next()` returns it).
        case waiting
        /// The same request is already waiting: a replay, dropped.
        case duplicate
        /// Too many logs waiting: close the connection.
        case overflow(String)
    }

    public let settings: Settings
    /// Bytes handed to the connection and not yet written to the socket.
    public private(set) var unwritten = 0
    /// Waiting requests, oldest first, at most one per log.
    public private(set) var waiting: [(log: String, from: UInt64)] = []

    public init(settings: Settings = Settings()) { self.settings = settings }

    /// A request arrived. `allowed`: whether the peer's `ReadBudget` lets it be served now
    /// (if not, it waits as it would for the connection to drain).
    public mutating func request(log: String, from: UInt64, allowed: Bool = true) -> RequestDecision {
        if let i = waiting.firstIndex(where: { $0.log == log }) {
            if waiting[i].from == from { return .duplicate }
            waiting[i].from = from
            return .waiting
        }
        guard unwritten > settings.softLimitBytes || !waiting.isEmpty || !allowed else { return .serve }
        guard waiting.count < settings.maxWaitingLogs else {
            return .overflow("more than \(settings.maxWaitingLogs) logs with requests waiting while \(unwritten) bytes are unwritten")
        }
        waiting.append((log, from))
        return .waiting
    }

    /// Whether `bytes` more may be handed to the connection: false when they would take it past
    /// its hard limit (it is closed instead, and nothing of them recorded as sent).
    public func admits(_ bytes: Int) -> Bool {
        unwritten.addingReportingOverflow(max(0, bytes)).partialValue <= settings.hardLimitBytes
    }

    /// `bytes` were handed to the connection (at `nowMillis`, monotonic). Returns false when the
    /// connection is past its hard limit and must be closed.
    public mutating func queued(_ bytes: Int, nowMillis: UInt64 = 0) -> Bool {
        unwritten = unwritten.addingReportingOverflow(max(0, bytes)).partialValue
        queuedTotal &+= UInt64(max(0, bytes))
        // At most a mark a second, dated by the last byte it holds: the time a byte is said
        // queued is never before it was (a peer is never closed early).
        if marks.last.map({ nowMillis >= $0.firstMillis + 1000 }) ?? true {
            marks.append((nowMillis, nowMillis, queuedTotal))
        } else {
            marks[marks.count - 1].total = queuedTotal
            marks[marks.count - 1].atMillis = nowMillis
        }
        return unwritten <= settings.hardLimitBytes
    }

    /// `bytes` handed earlier were written (or dropped with a failed write); writes end in the
    /// order they were queued.
    public mutating func written(_ bytes: Int) {
        unwritten = max(0, unwritten - max(0, bytes))
        writtenTotal &+= UInt64(max(0, bytes))
        while let first = marks.first, first.total <= writtenTotal { marks.removeFirst() }
    }

    /// Since when (monotonic ms) the oldest byte still unwritten has waited, at the latest; nil
    /// when everything is written. A peer that reads slowly enough to finish a small frame now
    /// and then, but never catches up, has its oldest byte wait longer and longer: a close at a
    /// stall of this age holds such a peer too, not only one that reads nothing.
    public var oldestUnwrittenSinceMillis: UInt64? { unwritten > 0 ? marks.first?.atMillis : nil }

    private var queuedTotal: UInt64 = 0
    private var writtenTotal: UInt64 = 0
    /// The bytes queued by each time (`total` counts all queued by `atMillis`, the last queued
    /// into the mark; a new mark at most a second after a mark's first); those written are
    /// dropped.
    private var marks: [(firstMillis: UInt64, atMillis: UInt64, total: UInt64)] = []

    /// The next waiting request to serve now that the connection has drained enough (and the
    /// peer's read budget `allowed` it), if any. The shell calls it until it returns nil (each
    /// serve queues bytes and spends budget, which stops it).
    public mutating func next(allowed: Bool = true) -> (log: String, from: UInt64)? {
        guard allowed, unwritten <= settings.softLimitBytes, !waiting.isEmpty else { return nil }
        return waiting.removeFirst()
    }
}

/// Text from a peer (or any client) made safe to log and to show: control characters (a newline
/// would forge a log line, U+009B starts a terminal's escape sequence), line and paragraph
/// separators and the bidirectional controls (U+202E would show a log line's text reordered:
/// a path read as another status) are written as `\u{…}` escapes, and the length is bounded.
public enum PeerText {
    /// At most this many bytes of UTF-8 are kept (default for alerts and log lines).
    public static let defaultLimit = 1024

    /// Whether `scalar` is written as an escape.
    public static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029 || v == 0x061C || v == 0x200E || v == 0x200F
            || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
    }

    public static func clean(_ text: String, limit: Int = defaultLimit) -> String {
        var out = ""
        var truncated = false
        for scalar in text.unicodeScalars {
            let piece: String
            if isHidden(scalar) {
                piece = "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                piece = String(scalar)
            }
            guard out.utf8.count + piece.utf8.count <= limit else { truncated = true; break }
            out += piece
        }
        return truncated ? out + "…" : out
    }
}
