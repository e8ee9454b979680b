/// One log as the combined view sees it (`LogSummary` in docs/openapi.yaml): its size, what
/// could not be read, its latest checkpoint and whether the node verified it.
public struct ViewLogSummary: Codable, Sendable, Equatable {
    public var log: String
    /// The display name ("Northern Ireland").
    public var name: String
    public var entries: UInt64
    public var stubs: UInt64
    public var unreadable: UInt64
    public var actions: Int
    public var measures: Int
    public var verified: Bool
    public var alerts: [String]
    /// Null on the wire when the node holds no checkpoint of the log.
    public var checkpoint: ViewCheckpointSummary?
    /// Absent on the wire when nothing was unreadable.
    public var unreadableSamples: [ViewUnreadableSample]?

    public init(log: String, name: String, entries: UInt64, stubs: UInt64, unreadable: UInt64, actions: Int, measures: Int,
                verified: Bool, alerts: [String], checkpoint: ViewCheckpointSummary?, unreadableSamples: [ViewUnreadableSample]?) {
        self.log = log
        self.name = name
        self.entries = entries
        self.stubs = stubs
        self.unreadable = unreadable
        self.actions = actions
        self.measures = measures
        self.verified = verified
        self.alerts = alerts
        self.checkpoint = checkpoint
        self.unreadableSamples = unreadableSamples
    }

    enum CodingKeys: String, CodingKey {
        case log, name, entries, stubs, unreadable, actions, measures, verified, alerts, checkpoint
        case unreadableSamples = "unreadable_samples"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(log, forKey: .log)
        try c.encode(name, forKey: .name)
        try c.encode(entries, forKey: .entries)
        try c.encode(stubs, forKey: .stubs)
        try c.encode(unreadable, forKey: .unreadable)
        try c.encode(actions, forKey: .actions)
        try c.encode(measures, forKey: .measures)
        try c.encode(verified, forKey: .verified)
        try c.encode(alerts, forKey: .alerts)
        try c.encode(checkpoint, forKey: .checkpoint)  // null when none
        try c.encodeIfPresent(unreadableSamples, forKey: .unreadableSamples)
    }
}

/// A log's latest checkpoint (`Checkpoint`): `time` and `age_seconds` are absent when the
/// checkpoint carries no time.
public struct ViewCheckpointSummary: Codable, Sendable, Equatable {
    public var size: UInt64
    /// The root hash, base64.
    public var root: String
    /// ISO 8601 with milliseconds.
    public var time: String?
    /// How old the checkpoint was when the answer was made.
    public var ageSeconds: Double?

    public init(size: UInt64, root: String, time: String? = nil, ageSeconds: Double? = nil) {
        self.size = size
        self.root = root
        self.time = time
        self.ageSeconds = ageSeconds
    }

    enum CodingKeys: String, CodingKey {
        case size, root, time
        case ageSeconds = "age_seconds"
    }
}

/// An entry the view could not read, and why.
public struct ViewUnreadableSample: Codable, Sendable, Equatable {
    public var index: UInt64
    public var reason: String
    public init(index: UInt64, reason: String) {
        self.index = index
        self.reason = reason
    }
}

/// Where an entry is: its log and index.
public struct ViewEntryPointer: Codable, Sendable, Equatable, Hashable {
    public var log: String
    public var index: UInt64
    public init(log: String, index: UInt64) {
        self.log = log
        self.index = index
    }
}
