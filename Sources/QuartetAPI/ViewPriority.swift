/// One UK priority across the nations (`Priority` in docs/openapi.yaml, and
/// `GET /v1/view/priorities/{id}`).
public struct ViewPriority: Codable, Sendable, Equatable {
    public var id: String
    public var title: String
    /// Null on the wire when the plan gives none.
    public var number: Int?
    public var goals: [String]
    /// `priority:<id>`.
    public var figure: String
    /// Per log: the cell of the priorities × nations matrix.
    public var nations: [String: ViewCell]
    public var ukActions: [ViewUKAction]
    /// Every action of the priority, log by log.
    public var actions: [ViewAction]

    public init(id: String, title: String, number: Int?, goals: [String], figure: String, nations: [String: ViewCell],
                ukActions: [ViewUKAction], actions: [ViewAction]) {
        self.id = id
        self.title = title
        self.number = number
        self.goals = goals
        self.figure = figure
        self.nations = nations
        self.ukActions = ukActions
        self.actions = actions
    }

    enum CodingKeys: String, CodingKey {
        case id, title, number, goals, figure, nations, actions
        case ukActions = "uk_actions"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(title, forKey: .title)
        try c.encode(number, forKey: .number)  // null when none
        try c.encode(goals, forKey: .goals)
        try c.encode(figure, forKey: .figure)
        try c.encode(nations, forKey: .nations)
        try c.encode(ukActions, forKey: .ukActions)
        try c.encode(actions, forKey: .actions)
    }
}

/// One cell of the priorities × nations matrix: how many actions, how many reported, the share
/// on track or done, and the colour the dashboard gives it.
public struct ViewCell: Codable, Sendable, Equatable {
    public var actions: Int
    public var reported: Int
    /// Share (0 to 1) of the actions done or on track.
    public var progress: Double
    /// red, amber, green, blue or grey.
    public var colour: String
    /// Actions per status (`on-track`: 2).
    public var statuses: [String: Int]
    /// `cell:<priority>:<log>`.
    public var figure: String
    /// The oldest as-of date among the actions' latest statuses (how old the cell's colour may
    /// be); absent when none reported.
    public var oldestAsOf: String?
    /// True when `oldestAsOf` is two reporting quarters or more behind the newest update in the
    /// view (`newestUpdate`): the colour speaks of then. Absent otherwise.
    public var stale: Bool?
    /// With `stale`: the newest status date in the matrix it is judged against.
    public var newestUpdate: String?

    public init(actions: Int, reported: Int, progress: Double, colour: String, statuses: [String: Int], figure: String, oldestAsOf: String? = nil,
                stale: Bool? = nil, newestUpdate: String? = nil) {
        self.actions = actions
        self.reported = reported
        self.progress = progress
        self.colour = colour
        self.statuses = statuses
        self.figure = figure
        self.oldestAsOf = oldestAsOf
        self.stale = stale
        self.newestUpdate = newestUpdate
    }

    enum CodingKeys: String, CodingKey {
        case actions, reported, progress, colour, statuses, figure, stale
        case oldestAsOf = "oldest_as_of"
        case newestUpdate = "newest_update"
    }
}

/// A UK action and, per nation, the nation actions mapped to it.
public struct ViewUKAction: Codable, Sendable, Equatable {
    public var id: String
    public var title: String
    public var nations: [String: [String]]
    /// Null on the wire when no status was reported.
    public var status: String?
    /// Present once the UK log withdrew the action (it is out of the plan; its last status stays).
    public var withdrawn: ViewWithdrawal?

    public init(id: String, title: String, nations: [String: [String]], status: String?, withdrawn: ViewWithdrawal? = nil) {
        self.id = id
        self.title = title
        self.nations = nations
        self.status = status
        self.withdrawn = withdrawn
    }

    enum CodingKeys: String, CodingKey { case id, title, nations, status, withdrawn }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(title, forKey: .title)
        try c.encode(nations, forKey: .nations)
        try c.encode(status, forKey: .status)  // null when none
        try c.encodeIfPresent(withdrawn, forKey: .withdrawn)
    }
}
