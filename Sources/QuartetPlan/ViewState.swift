import Foundation

/// An entry of a log, by position: what every figure of the view is traced back to.
public struct EntryRef: Hashable, Sendable, Comparable {
    public let log: String
    public let index: UInt64
    public init(log: String, index: UInt64) {
        self.log = log
        self.index = index
    }
    public static func < (a: EntryRef, b: EntryRef) -> Bool { (a.log, a.index) < (b.log, b.index) }
}

/// What the fold needs of an entry: its position, type, time and payload (nil for a stub).
public struct ViewEntry: Sendable {
    public let log: String
    public let index: UInt64
    public let timeMillis: UInt64
    public let type: String
    public let payload: [UInt8]?
    /// Whether the entry is classified `public`. Plan entries are public by nature: a
    /// restricted one is not folded (its payload must not reach every reader through the view).
    public let isPublic: Bool
    /// The label a restricted entry is classified with (nil: public, or not said).
    public let classification: String?
    /// This node's admission checked it (`PlanValidator`) against the state the fold reaches
    /// it in, as the node's own commits are: the fold does not check it again. False for
    /// everything else (replicas, the own log's tail taken from peers, a start's fold).
    public var admitted = false
    public init(log: String, index: UInt64, timeMillis: UInt64, type: String, payload: [UInt8]?, isPublic: Bool = true, classification: String? = nil) {
        self.log = log
        self.index = index
        self.timeMillis = timeMillis
        self.type = type
        self.payload = payload
        self.isPublic = isPublic
        self.classification = isPublic ? nil : classification
    }
    var ref: EntryRef { EntryRef(log: log, index: index) }
}

/// The signed checkpoint a log's figures were computed from.
public struct ViewCheckpoint: Sendable, Equatable {
    public let size: UInt64
    public let rootBase64: String
    public let timeMillis: UInt64?
    public init(size: UInt64, rootBase64: String, timeMillis: UInt64?) {
        self.size = size
        self.rootBase64 = rootBase64
        self.timeMillis = timeMillis
    }
}

public struct PriorityState: Sendable {
    public var payload: PriorityPayload
    public var ref: EntryRef
}

public struct StatusState: Sendable {
    public var payload: StatusPayload
    public var ref: EntryRef
    /// When its entry was written (the entry's time, ms): a status dated ahead of it counts
    /// from that day where the view compares reporting dates (`newestUpdate`, which makes the
    /// date; the fold, on every status at every node, does not).
    public var recordedMillis: UInt64
}

public struct EvidenceState: Sendable {
    public var payload: EvidencePayload
    public var ref: EntryRef
}

public struct ActionState: Sendable {
    public var payload: ActionPayload
    /// The entry that defined the action, then each revision.
    public var refs: [EntryRef]
    public var withdrawn: (payload: WithdrawalPayload, ref: EntryRef)?
    public var status: StatusState?
    /// Every status update in log order, the latest `historyLimit` of them (the action page's
    /// timeline; the log holds them all).
    public var history: [StatusState] = []
    public var evidence: [EvidenceState] = []

    public static let historyLimit = 100
}

public struct ReadingState: Sendable {
    public var payload: ReadingPayload
    public var ref: EntryRef
    /// Earlier readings of the same measure and period that this one replaced.
    public var replaced: Int
    /// The entry of the reading this one replaced (the measure page names it).
    public var superseded: EntryRef? = nil
    /// The measure's kind when this reading was folded (a measure may be redefined with another
    /// kind later; its readings keep the kind they were admitted under): only a reading admitted
    /// as a count adds into a UK total (a percentage's fraction cannot be summed into a count).
    public var admittedAs: MeasureKind
}

public struct MeasureState: Sendable {
    public var payload: MeasurePayload
    public var refs: [EntryRef]
    /// Written by the fold only (`record`), which keeps `latestPeriod` with it.
    public internal(set) var readings: [Period: ReadingState] = [:]
    /// The years its readings fall in (a changed mapping moves those years' totals, found here
    /// rather than by a pass over every reading).
    public var years: Set<Int> = []
    /// The latest period with a reading, kept as readings come (readings are never removed):
    /// every page showing an action asked each of its measures for its latest reading, a scan
    /// of every reading each time (a measure with a reading for every month of 1900–2999 made
    /// each such page cost a second).
    public private(set) var latestPeriod: Period?

    /// The reading of the latest period.
    public var latest: (period: Period, reading: ReadingState)? {
        latestPeriod.flatMap { period in readings[period].map { (period, $0) } }
    }

    /// Records `reading` for `period` (replacing the one there).
    mutating func record(_ reading: ReadingState, for period: Period) {
        readings[period] = reading
        if latestPeriod.map({ $0 < period }) ?? true { latestPeriod = period }
    }
}

/// One log's part of the view.
public struct LogView: Sendable {
    public var log: String
    /// Entries folded (the next index expected).
    public var size: UInt64 = 0
    public var checkpoint: ViewCheckpoint?
    public var actions: [String: ActionState] = [:]
    public var measures: [String: MeasureState] = [:]
    /// Entries held only as stubs (their payload not on this node).
    public var stubs: UInt64 = 0
    /// Entries of plan types whose payload does not fit the schema (another node's bug): kept in
    /// the log, left out of the view, counted and the first few remembered.
    public var unreadable: UInt64 = 0
    public var unreadableSamples: [(index: UInt64, reason: String)] = []
    /// Entries of types the view does not use.
    public var otherEntries: UInt64 = 0
    /// Published aggregates of restricted datasets (`dataset.aggregate`) held here, by index
    /// (dropped when purged).
    public var aggregates: [UInt64: HeldAggregate] = [:]
}

/// An aggregate payload the view holds, with its entry's time: whether it is published depends
/// on the agreement it names and on when it was recorded (`ViewQueries.published`).
public struct HeldAggregate: Sendable {
    public var payload: JSONValue
    public var recorded: UInt64
    /// The agreement the payload says it was made under.
    public var agreement: String? {
        guard case .object(let fields) = payload, case .string(let id)? = fields["agreement"] else { return nil }
        return id
    }
}

/// A UK total of one comparable count measure for a year or a quarter (years against the
/// plan's yearly target).
public struct UKTotal: Sendable {
    public var measure: String
    public var period: Period
    public var year: Int { period.year }
    public var value: Double
    /// Each nation's contribution: for a year, its reading for the year, or the sum of its
    /// quarters, or of its months; for a quarter, its reading for the quarter, or the sum of its
    /// months in it.
    public var contributions: [String: Double]
    /// The readings added (in no particular order).
    public var refs: [EntryRef]
}
