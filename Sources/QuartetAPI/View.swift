/// The answers of the `/v1/view` routes (docs/openapi.yaml). The parts are in ViewLogs.swift,
/// ViewPriority.swift, ViewAction.swift and ViewTotals.swift.

/// `GET /v1/view`: the whole combined strategy view.
public struct CombinedView: Codable, Sendable, Equatable {
    /// The node that answered.
    public var node: String
    /// When the answer was made (checkpoint ages are as of then).
    public var generatedAt: String
    /// Grows with every entry the view folds.
    public var viewVersion: UInt64
    public var logs: [ViewLogSummary]
    public var priorities: [ViewPriority]
    /// The yearly UK totals (quarters are in `/v1/view/totals`).
    public var totals: [ViewTotal]
    public var aggregates: [ViewAggregate]

    public init(node: String, generatedAt: String, viewVersion: UInt64, logs: [ViewLogSummary], priorities: [ViewPriority],
                totals: [ViewTotal], aggregates: [ViewAggregate]) {
        self.node = node
        self.generatedAt = generatedAt
        self.viewVersion = viewVersion
        self.logs = logs
        self.priorities = priorities
        self.totals = totals
        self.aggregates = aggregates
    }

    enum CodingKeys: String, CodingKey {
        case node, logs, priorities, totals, aggregates
        case generatedAt = "generated_at"
        case viewVersion = "view_version"
    }
}

/// `GET /v1/view/totals`.
public struct ViewTotals: Codable, Sendable, Equatable {
    public var node: String
    public var totals: [ViewTotal]
    public init(node: String, totals: [ViewTotal]) {
        self.node = node
        self.totals = totals
    }
}

/// `GET /v1/view/aggregates`.
public struct ViewAggregates: Codable, Sendable, Equatable {
    public var node: String
    public var aggregates: [ViewAggregate]
    public init(node: String, aggregates: [ViewAggregate]) {
        self.node = node
        self.aggregates = aggregates
    }
}

/// `GET /v1/view/nations/{nation}`: one log's actions with their measures and evidence.
public struct NationView: Codable, Sendable, Equatable {
    public var log: ViewLogSummary
    public var actions: [ViewAction]
    public init(log: ViewLogSummary, actions: [ViewAction]) {
        self.log = log
        self.actions = actions
    }
}

/// `GET /v1/view/measures/{id}?period=`: the measure in each log (and the nation measures that
/// add up into a UK measure) with their readings, and the UK totals.
public struct MeasureView: Codable, Sendable, Equatable {
    public var measure: String
    /// The period asked for; null on the wire when none was.
    public var period: String?
    public var series: [ViewMeasure]
    public var totals: [ViewTotal]

    public init(measure: String, period: String?, series: [ViewMeasure], totals: [ViewTotal]) {
        self.measure = measure
        self.period = period
        self.series = series
        self.totals = totals
    }

    enum CodingKeys: String, CodingKey { case measure, period, series, totals }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(measure, forKey: .measure)
        try c.encode(period, forKey: .period)  // null when none
        try c.encode(series, forKey: .series)
        try c.encode(totals, forKey: .totals)
    }
}

/// `GET /v1/view/figures/{id}/provenance`: the entries behind a figure, each with its inclusion
/// proof against the latest checkpoint of its log, and those checkpoints (signed notes).
/// Generic over the entry and proof types, which are the logs side's (`Entry`,
/// `InclusionProof` in docs/openapi.yaml).
public struct FigureProvenance<Entry: Codable & Sendable, Inclusion: Codable & Sendable>: Codable, Sendable {
    public struct Item: Codable, Sendable {
        public var entry: Entry
        public var inclusion: Inclusion
        public init(entry: Entry, inclusion: Inclusion) {
            self.entry = entry
            self.inclusion = inclusion
        }
    }

    /// Who witnessed a checkpoint (docs/witness.md).
    public struct Witnessed: Codable, Sendable, Equatable {
        /// The members whose witnesses cosigned it (their cosignature lines follow the log's
        /// signature in the checkpoint).
        public var witnesses: [String]
        /// How many witnesses the log has.
        public var of: Int
        /// Whether they are a quorum (a majority).
        public var quorum: Bool

        public init(witnesses: [String], of: Int, quorum: Bool) {
            self.witnesses = witnesses
            self.of = of
            self.quorum = quorum
        }
    }

    public var figure: String
    public var entries: [Item]
    /// Per log, the checkpoint the proofs lead to, as a signed note with its cosignatures: the
    /// newest a quorum of witnesses cosigned that holds the entries, or else the latest.
    public var checkpoints: [String: String]
    /// Per log, who witnessed that checkpoint.
    public var witnessed: [String: Witnessed]?
    /// How many of the figure's entries were left out to keep the answer bounded (the oldest:
    /// the first, what made the figure, is kept where the bound allows; absent when none were): a figure built from more entries than one
    /// answer holds cannot be checked whole.
    public var omitted: Int?
    /// The value this node states for the figure, from the same view as the entries (a
    /// reading's value, a status, a UK total; docs/entries.md, "Recomputing a figure"): what a
    /// reader's own recompute must come to. Absent for a figure not recomputed so (a priority,
    /// a cell, an aggregate).
    public var stated: PayloadValue?
    /// Per log whose checkpoint holds key rotations: its `key.rotation` entries below that
    /// checkpoint's size, in index order, each with its inclusion proof to it (absent when the
    /// log never rotated). A reader whose policy names a key the log has since moved from
    /// follows them from that key to the key that signed the checkpoint.
    public var rotations: [String: [Item]]?

    public init(figure: String, entries: [Item], checkpoints: [String: String], witnessed: [String: Witnessed]? = nil, omitted: Int? = nil) {
        self.figure = figure
        self.entries = entries
        self.checkpoints = checkpoints
        self.witnessed = witnessed
        self.omitted = omitted
    }
}
