/// A UK total of a measure for a year or a quarter (`Total` in docs/openapi.yaml): the sum of
/// the nations' readings, against the plan's yearly target.
public struct ViewTotal: Codable, Sendable, Equatable {
    /// `total:<measure>:<period>`.
    public var figure: String
    public var measure: String
    /// A year (2025) or a quarter (2025-Q2).
    public var period: String
    public var year: Int
    public var value: Double
    /// Per nation, what it added.
    public var contributions: [String: Double]
    /// How many readings make the total.
    public var entries: Int
    public var text: String?
    public var unit: String?
    /// The yearly target, for a yearly total of a measure that has one.
    public var target: Double?
    /// value / target; on the wire with `target` only, and null there when the target is 0.
    public var progress: Double?
    public var targetQuote: String?

    public init(figure: String, measure: String, period: String, year: Int, value: Double, contributions: [String: Double],
                entries: Int, text: String? = nil, unit: String? = nil, target: Double? = nil, progress: Double? = nil,
                targetQuote: String? = nil) {
        self.figure = figure
        self.measure = measure
        self.period = period
        self.year = year
        self.value = value
        self.contributions = contributions
        self.entries = entries
        self.text = text
        self.unit = unit
        self.target = target
        self.progress = progress
        self.targetQuote = targetQuote
    }

    enum CodingKeys: String, CodingKey {
        case figure, measure, period, year, value, contributions, entries, text, unit, target, progress
        case targetQuote = "target_quote"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(figure, forKey: .figure)
        try c.encode(measure, forKey: .measure)
        try c.encode(period, forKey: .period)
        try c.encode(year, forKey: .year)
        try c.encode(value, forKey: .value)
        try c.encode(contributions, forKey: .contributions)
        try c.encode(entries, forKey: .entries)
        try c.encodeIfPresent(text, forKey: .text)
        try c.encodeIfPresent(unit, forKey: .unit)
        if let target {
            try c.encode(target, forKey: .target)
            try c.encode(progress, forKey: .progress)  // null when the target is 0
        }
        try c.encodeIfPresent(targetQuote, forKey: .targetQuote)
    }
}

/// A published aggregate of a restricted dataset (`Aggregate`): the payload the holder appended
/// (QuartetPolicy's `Suppression.aggregate` writes it), with where it is. Suppressed counts are
/// null.
public struct ViewAggregate: Codable, Sendable, Equatable {
    /// `aggregate:<log>:<index>`.
    public var figure: String
    public var log: String
    public var index: UInt64
    public var label: String
    public var agreement: String
    public var dataset: String?
    public var period: String?
    public var minCellSize: Int
    public var method: Method
    public var rows: Dimension
    public var columns: Dimension
    public var cells: [[Int?]]
    public var rowTotals: [Int?]
    public var columnTotals: [Int?]
    public var grandTotal: Int?
    public var suppressed: Suppressed

    public init(figure: String, log: String, index: UInt64, label: String, agreement: String, dataset: String? = nil, period: String? = nil,
                minCellSize: Int, method: Method, rows: Dimension, columns: Dimension, cells: [[Int?]], rowTotals: [Int?],
                columnTotals: [Int?], grandTotal: Int?, suppressed: Suppressed) {
        self.figure = figure
        self.log = log
        self.index = index
        self.label = label
        self.agreement = agreement
        self.dataset = dataset
        self.period = period
        self.minCellSize = minCellSize
        self.method = method
        self.rows = rows
        self.columns = columns
        self.cells = cells
        self.rowTotals = rowTotals
        self.columnTotals = columnTotals
        self.grandTotal = grandTotal
        self.suppressed = suppressed
    }

    public struct Method: Codable, Sendable, Equatable {
        public var minCellSize: Int
        public var rounding: Int
        public var totals: String
        public init(minCellSize: Int, rounding: Int, totals: String) {
            self.minCellSize = minCellSize
            self.rounding = rounding
            self.totals = totals
        }
        enum CodingKeys: String, CodingKey {
            case rounding, totals
            case minCellSize = "min_cell_size"
        }
    }

    public struct Dimension: Codable, Sendable, Equatable {
        public var name: String
        public var labels: [String]
        public init(name: String, labels: [String]) {
            self.name = name
            self.labels = labels
        }
    }

    public struct Suppressed: Codable, Sendable, Equatable {
        /// How many cells are null.
        public var cells: Int
        public init(cells: Int) { self.cells = cells }
    }

    enum CodingKeys: String, CodingKey {
        case figure, log, index, label, agreement, dataset, period, method, rows, columns, cells, suppressed
        case minCellSize = "min_cell_size"
        case rowTotals = "row_totals"
        case columnTotals = "column_totals"
        case grandTotal = "grand_total"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(figure, forKey: .figure)
        try c.encode(log, forKey: .log)
        try c.encode(index, forKey: .index)
        try c.encode(label, forKey: .label)
        try c.encode(agreement, forKey: .agreement)
        try c.encodeIfPresent(dataset, forKey: .dataset)
        try c.encodeIfPresent(period, forKey: .period)
        try c.encode(minCellSize, forKey: .minCellSize)
        try c.encode(method, forKey: .method)
        try c.encode(rows, forKey: .rows)
        try c.encode(columns, forKey: .columns)
        try c.encode(cells, forKey: .cells)
        try c.encode(rowTotals, forKey: .rowTotals)
        try c.encode(columnTotals, forKey: .columnTotals)
        try c.encode(grandTotal, forKey: .grandTotal)  // null when suppressed
        try c.encode(suppressed, forKey: .suppressed)
    }
}
