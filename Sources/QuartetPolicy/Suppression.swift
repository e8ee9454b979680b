import Foundation

/// Statistical disclosure control for published counts: what a recipient with `aggregate` access
/// may learn of a restricted table, and nothing it could solve back to a small count.
///
/// The earlier method (hide 1 to min-cell-size − 1, hide more cells so no line has a single
/// hidden one, publish zeros and the true totals) was reversible: the true totals, the published
/// zeros and the exact visible counts let a reader solve hidden cells by subtraction. This method
/// follows the NHS England HES analysis guide and the OpenSAFELY output-checking conventions
/// instead, and decides each cell on its own true value only:
///
/// - every count below the minimum cell size is hidden, zero included (a published zero is as
///   disclosive as a published 1, and helped the subtraction);
/// - every other count is published rounded half up to a multiple of the rounding base;
/// - a count whose rounded value only one true count (of those not hidden) rounds to is hidden
///   too (minimum cell size 7, base 5: 7 is the only count of 7 or more that rounds to 5);
/// - row, column and grand totals are sums of the published cells (hidden cells as 0), never of
///   the true counts, so they add nothing a reader could not compute from the cells.
///
/// So what is published of a cell is a function of that cell's true value alone, and every value
/// a reader can see (a null or a rounded count) is shared by at least two true counts: the set of
/// true tables consistent with a published one is the product of each cell's set, so no cell and
/// no relation between cells can be solved from one published table. docs/agreements.md says
/// what it does not protect against.
public enum Suppression {
    /// The rounding base when an agreement states none.
    public static let defaultRounding = 5
    /// The rounding bases an agreement may state: 1 would publish exact counts, which this method
    /// exists to avoid.
    public static let roundingRange = 2...1000
    /// The minimum cell sizes an agreement may state.
    public static let minCellSizeRange = 1...1000
    /// The largest count accepted. A bound on the input (hostile rows cannot overflow a sum), and
    /// part of the method: a reader knows no true count exceeds it.
    public static let maxCount = 1_000_000_000
    /// The largest number of distinct labels along either dimension of a table.
    public static let maxLabels = 1_000
    /// The largest number of cells in a table.
    public static let maxCells = 10_000
    /// What `totals` says in a published method: the totals are sums of the published cells.
    public static let totalsOfPublishedCells = "published-cells"

    /// The parameters of the method, checked: what an agreement states, as applied.
    public struct Method: Sendable, Hashable {
        /// The smallest count that may be published: the agreement's minimum cell size, but at
        /// least 2, so that hidden cells always stand for at least two true counts (a minimum of 1
        /// would hide zero alone, and every null would then read as 0).
        public let minCellSize: Int
        /// Published counts are multiples of this.
        public let rounding: Int

        public init(minCellSize: Int, rounding: Int = Suppression.defaultRounding) throws(PolicyError) {
            guard Suppression.minCellSizeRange.contains(minCellSize) else {
                throw PolicyError("min_cell_size: expected \(Suppression.minCellSizeRange.lowerBound) to \(Suppression.minCellSizeRange.upperBound), got \(minCellSize)")
            }
            guard Suppression.roundingRange.contains(rounding) else {
                throw PolicyError("rounding: expected \(Suppression.roundingRange.lowerBound) to \(Suppression.roundingRange.upperBound), got \(rounding)")
            }
            self.minCellSize = max(minCellSize, 2)
            self.rounding = rounding
        }

        /// `count` rounded half up to a multiple of the base (base 5: remainders 0–2 down, 3–4 up).
        /// For counts of 0 to `Suppression.maxCount`; no overflow is possible there.
        public func rounded(_ count: Int) -> Int { (count + rounding / 2) / rounding * rounding }

        /// The true counts a published value stands for, or nil when the value is not one this
        /// method publishes: not a positive multiple of the base, or standing for fewer than two
        /// counts (those counts are hidden instead).
        public func trueCounts(publishedAs value: Int) -> ClosedRange<Int>? {
            guard value >= rounding, value % rounding == 0, value <= rounded(Suppression.maxCount) else { return nil }
            let below = rounding / 2, above = rounding - 1 - rounding / 2
            let low = max(minCellSize, value - below), high = min(value + above, Suppression.maxCount)
            guard high - low >= 1 else { return nil }
            return low...high
        }

        /// What is published of a true count: its rounded value, or nil (hidden). Depends on the
        /// count alone.
        public func publish(_ count: Int) -> Int? {
            guard count >= minCellSize, count <= Suppression.maxCount else { return nil }
            let value = rounded(count)
            return trueCounts(publishedAs: value) == nil ? nil : value
        }

        /// The smallest value a published cell may show.
        public var smallestPublished: Int {
            var value = rounding
            // Terminates: from minCellSize + rounding on, a value stands for `rounding` counts.
            while trueCounts(publishedAs: value) == nil { value += rounding }
            return value
        }
    }

    /// A published table: cells (nil where hidden) and the totals of the published cells.
    public struct Result: Sendable, Hashable {
        /// The cells, rows of columns, nil where hidden.
        public var cells: [[Int?]]
        /// The sum of each row's published cells; nil where the row has none.
        public var rowTotals: [Int?]
        /// The sum of each column's published cells; nil where the column has none.
        public var columnTotals: [Int?]
        /// The sum of every published cell; nil where there is none.
        public var grandTotal: Int?

        public init(cells: [[Int?]], rowTotals: [Int?], columnTotals: [Int?], grandTotal: Int?) {
            self.cells = cells
            self.rowTotals = rowTotals
            self.columnTotals = columnTotals
            self.grandTotal = grandTotal
        }

        /// How many cells are hidden: what the nulls show, nothing more.
        public var hiddenCells: Int { cells.reduce(0) { $0 + $1.count { $0 == nil } } }
    }

    /// Publishes a table of true counts (rows of columns; a short row is padded with zeros) under
    /// the method. Refuses, naming `table[r][c]`, a count below 0 or above `maxCount`, and a table
    /// larger than `maxLabels` × `maxLabels` or `maxCells`.
    public static func suppress(_ table: [[Int]], minCellSize: Int, rounding: Int = defaultRounding) throws(PolicyError) -> Result {
        let method = try Method(minCellSize: minCellSize, rounding: rounding)
        let columns = table.map(\.count).max() ?? 0
        try checkShape(rows: table.count, columns: columns, field: "table")
        var cells: [[Int?]] = []
        cells.reserveCapacity(table.count)
        for (r, row) in table.enumerated() {
            var out: [Int?] = []
            out.reserveCapacity(columns)
            for c in 0..<columns {
                let count = c < row.count ? row[c] : 0
                guard (0...maxCount).contains(count) else {
                    throw PolicyError("table[\(r)][\(c)]: expected a whole number from 0 to \(maxCount), got \(count)")
                }
                out.append(method.publish(count))
            }
            cells.append(out)
        }
        return try withTotals(cells)
    }

    /// Whether `published` is a table this method could have produced with these parameters:
    /// rectangular and within the size bounds, every cell null or a value the method publishes,
    /// and every total the sum of the published cells. Pure; see `check` for the reason.
    public static func conforms(published: Result, minCellSize: Int, rounding: Int) -> Bool {
        do { try check(published: published, minCellSize: minCellSize, rounding: rounding); return true } catch { return false }
    }

    /// As `conforms`, throwing the first reason the table is not one this method produces (raw
    /// counts posted as an aggregate fail here: a count that is not a multiple of the base, or
    /// below the smallest published value, or true totals).
    public static func check(published: Result, minCellSize: Int, rounding: Int) throws(PolicyError) {
        let method = try Method(minCellSize: minCellSize, rounding: rounding)
        let columns = published.cells.first?.count ?? 0
        try checkShape(rows: published.cells.count, columns: columns, field: "cells")
        for (r, row) in published.cells.enumerated() {
            guard row.count == columns else { throw PolicyError("cells[\(r)]: expected \(columns) cells, as in the first row, got \(row.count)") }
            for (c, cell) in row.enumerated() {
                guard let value = cell else { continue }
                guard method.trueCounts(publishedAs: value) != nil else {
                    throw PolicyError("cells[\(r)][\(c)]: \(value) is not a value this method publishes (a multiple of \(method.rounding) from \(method.smallestPublished), each standing for at least two counts of \(method.minCellSize) or more)")
                }
            }
        }
        let expected = try withTotals(published.cells)
        guard published.rowTotals == expected.rowTotals else { throw PolicyError("row_totals: expected the sums of the published cells, \(describe(expected.rowTotals))") }
        guard published.columnTotals == expected.columnTotals else {
            throw PolicyError("column_totals: expected the sums of the published cells, \(describe(expected.columnTotals))")
        }
        guard published.grandTotal == expected.grandTotal else {
            throw PolicyError("grand_total: expected the sum of the published cells, \(expected.grandTotal.map(String.init) ?? "null")")
        }
    }

    static func describe(_ totals: [Int?]) -> String { "[" + totals.map { $0.map(String.init) ?? "null" }.joined(separator: ", ") + "]" }

    static func checkShape(rows: Int, columns: Int, field: String) throws(PolicyError) {
        guard rows <= maxLabels else { throw PolicyError("\(field): at most \(maxLabels) rows, got \(rows)") }
        guard columns <= maxLabels else { throw PolicyError("\(field): at most \(maxLabels) columns, got \(columns)") }
        guard rows * columns <= maxCells else { throw PolicyError("\(field): at most \(maxCells) cells, got \(rows) × \(columns)") }
    }

    /// The cells with their totals, summed with checked arithmetic (the sizes and counts are
    /// bounded, so an overflow means a caller skipped those checks: refused, never a trap).
    static func withTotals(_ cells: [[Int?]]) throws(PolicyError) -> Result {
        let columns = cells.first?.count ?? 0
        func add(_ a: Int?, _ b: Int?) throws(PolicyError) -> Int? {
            guard let b else { return a }
            let (sum, overflow) = (a ?? 0).addingReportingOverflow(b)
            guard !overflow else { throw PolicyError("cells: the published counts add up to more than this platform's integers hold") }
            return sum
        }
        var rowTotals: [Int?] = Array(repeating: nil, count: cells.count)
        var columnTotals: [Int?] = Array(repeating: nil, count: columns)
        var grandTotal: Int?
        for (r, row) in cells.enumerated() {
            for (c, cell) in row.enumerated() where c < columns {
                rowTotals[r] = try add(rowTotals[r], cell)
                columnTotals[c] = try add(columnTotals[c], cell)
                grandTotal = try add(grandTotal, cell)
            }
        }
        return Result(cells: cells, rowTotals: rowTotals, columnTotals: columnTotals, grandTotal: grandTotal)
    }
}

/// Derives the published aggregate of a restricted dataset: the rows' `count`s cross-tabulated
/// by their first two text fields (sorted by name; `note` is not a dimension), published by
/// `Suppression`'s method. The result is the payload of a `dataset.aggregate` entry:
///
/// `{"label", "agreement", "min_cell_size", "method": {"min_cell_size", "rounding", "totals":
/// "published-cells"}, "rows": {"name", "labels"}, "columns": {"name", "labels"}, "cells",
/// "row_totals", "column_totals", "grand_total", "suppressed": {"cells"}, "dataset"?, "period"?}`
///
/// with null for a hidden cell (and for a total of a line with no published cell); `suppressed`
/// counts the null cells and nothing else.
public enum DatasetAggregate {
    /// The largest number of rows a dataset may have.
    public static let maxRows = 100_000

    /// The aggregate of `payload` (`{"rows": [{..., "count": n}], "dataset"?, "period"?}`), the
    /// same for the same input (labels sorted; `encoded` gives its canonical bytes). Refuses,
    /// naming the field, anything but a non-empty array of at most `maxRows` objects with whole
    /// counts from 0 to `Suppression.maxCount`, counts of one cell that add up to more than that,
    /// more than `Suppression.maxLabels` labels along a dimension or `Suppression.maxCells`
    /// cells, and parameters out of range.
    public static func make(rows payload: [String: Any], label: String, minCellSize: Int, rounding: Int = Suppression.defaultRounding,
                            agreement: String) throws(PolicyError) -> [String: Any] {
        let method = try Suppression.Method(minCellSize: minCellSize, rounding: rounding)
        guard let list = payload["rows"] as? [Any], !list.isEmpty else {
            throw PolicyError("payload.rows: expected a non-empty array of objects, each with a whole-number count")
        }
        guard list.count <= maxRows else { throw PolicyError("payload.rows: at most \(maxRows) rows, got \(list.count)") }
        var rows: [(fields: [String: Any], count: Int)] = []
        rows.reserveCapacity(list.count)
        for (i, item) in list.enumerated() {
            guard let row = item as? [String: Any] else { throw PolicyError("payload.rows[\(i)]: expected an object") }
            guard let count = wholeNumber(row["count"]), (0...Suppression.maxCount).contains(count) else {
                throw PolicyError("payload.rows[\(i)].count: expected a whole number from 0 to \(Suppression.maxCount)")
            }
            rows.append((row, count))
        }
        let dimensions = Array(rows[0].fields.keys.filter { $0 != "count" && $0 != "note" && rows[0].fields[$0] is String }.sorted().prefix(2))
        let rowKey = dimensions.first, columnKey = dimensions.count > 1 ? dimensions[1] : nil
        func value(_ row: [String: Any], _ key: String?) -> String { key.flatMap { row[$0] as? String } ?? "all" }
        var rowIndex: [String: Int] = [:], columnIndex: [String: Int] = [:]
        for row in rows {
            rowIndex[value(row.fields, rowKey)] = 0
            columnIndex[value(row.fields, columnKey)] = 0
            guard rowIndex.count <= Suppression.maxLabels else { throw PolicyError("payload.rows: at most \(Suppression.maxLabels) distinct values of \(rowKey ?? "all")") }
            guard columnIndex.count <= Suppression.maxLabels else { throw PolicyError("payload.rows: at most \(Suppression.maxLabels) distinct values of \(columnKey ?? "all")") }
        }
        guard rowIndex.count * columnIndex.count <= Suppression.maxCells else {
            throw PolicyError("payload.rows: at most \(Suppression.maxCells) cells, got \(rowIndex.count) \(rowKey ?? "all") × \(columnIndex.count) \(columnKey ?? "all")")
        }
        let rowLabels = rowIndex.keys.sorted(), columnLabels = columnIndex.keys.sorted()
        for (i, l) in rowLabels.enumerated() { rowIndex[l] = i }
        for (i, l) in columnLabels.enumerated() { columnIndex[l] = i }
        var table = Array(repeating: Array(repeating: 0, count: columnLabels.count), count: rowLabels.count)
        for (i, row) in rows.enumerated() {
            let rowLabel = value(row.fields, rowKey), columnLabel = value(row.fields, columnKey)
            guard let r = rowIndex[rowLabel], let c = columnIndex[columnLabel] else { continue }  // every label was indexed above
            let sum = table[r][c] + row.count  // both at most maxCount: no overflow
            guard sum <= Suppression.maxCount else {
                throw PolicyError("payload.rows[\(i)].count: the counts of \(rowKey ?? "all") \"\(rowLabel)\", \(columnKey ?? "all") \"\(columnLabel)\" add up to more than \(Suppression.maxCount)")
            }
            table[r][c] = sum
        }
        let result = try Suppression.suppress(table, minCellSize: method.minCellSize, rounding: method.rounding)
        func json(_ v: Int?) -> Any { v.map { $0 as Any } ?? NSNull() }
        var out: [String: Any] = [
            "label": label, "agreement": agreement, "min_cell_size": method.minCellSize,
            "method": ["min_cell_size": method.minCellSize, "rounding": method.rounding, "totals": Suppression.totalsOfPublishedCells],
            "rows": ["name": rowKey ?? "all", "labels": rowLabels], "columns": ["name": columnKey ?? "all", "labels": columnLabels],
            "cells": result.cells.map { $0.map(json) },
            "row_totals": result.rowTotals.map(json), "column_totals": result.columnTotals.map(json), "grand_total": json(result.grandTotal),
            "suppressed": ["cells": result.hiddenCells],
        ]
        for key in ["dataset", "period"] { if let v = payload[key] as? String { out[key] = v } }
        return out
    }

    /// The canonical bytes of an aggregate (JSON, keys sorted, slashes unescaped): what the
    /// holder appends, and what `checkDerived` compares.
    public static func encoded(_ aggregate: [String: Any]) throws(PolicyError) -> [UInt8] {
        guard JSONSerialization.isValidJSONObject(aggregate),
              let data = try? JSONSerialization.data(withJSONObject: aggregate, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            throw PolicyError("aggregate: not encodable as JSON")
        }
        return Array(data)
    }

    /// For a node holding the rows: refuses `aggregate` unless it is exactly the aggregate `make`
    /// derives from `rows` with these parameters (compared as canonical bytes).
    public static func checkDerived(aggregate: [String: Any], rows: [String: Any], label: String, minCellSize: Int,
                                    rounding: Int = Suppression.defaultRounding, agreement: String) throws(PolicyError) {
        let derived = try encoded(make(rows: rows, label: label, minCellSize: minCellSize, rounding: rounding, agreement: agreement))
        guard try encoded(aggregate) == derived else {
            throw PolicyError("aggregate: not the table derived from the rows under \(agreement) (min_cell_size \(minCellSize), rounding \(rounding))")
        }
    }

    /// For any node receiving an aggregate: refuses, naming the field, a payload this method
    /// could not have produced under an agreement with these parameters — any key but those
    /// `make` writes, a method other than the agreement's, labels not sorted and distinct, cells
    /// of the wrong shape or values it does not publish, totals other than the sums of the
    /// published cells, a `suppressed` other than the count of nulls. Raw rows posted as an
    /// aggregate fail here. Pure.
    public static func check(aggregate: [String: Any], minCellSize: Int, rounding: Int = Suppression.defaultRounding) throws(PolicyError) {
        let method = try Suppression.Method(minCellSize: minCellSize, rounding: rounding)
        let required: Set<String> = ["label", "agreement", "min_cell_size", "method", "rows", "columns", "cells", "row_totals",
                                     "column_totals", "grand_total", "suppressed"]
        let allowed = required.union(["dataset", "period"])
        if let unknown = aggregate.keys.sorted().first(where: { !allowed.contains($0) }) { throw PolicyError("aggregate: unknown field \"\(unknown)\"") }
        if let missing = required.sorted().first(where: { aggregate[$0] == nil }) { throw PolicyError("aggregate.\(missing): missing") }
        for key in ["label", "agreement", "dataset", "period"] where aggregate[key] != nil {
            guard aggregate[key] is String else { throw PolicyError("aggregate.\(key): expected a string") }
        }
        guard wholeNumber(aggregate["min_cell_size"]) == method.minCellSize else {
            throw PolicyError("aggregate.min_cell_size: expected \(method.minCellSize), the agreement's")
        }
        guard let stated = aggregate["method"] as? [String: Any], stated.count == 3,
              wholeNumber(stated["min_cell_size"]) == method.minCellSize, wholeNumber(stated["rounding"]) == method.rounding,
              stated["totals"] as? String == Suppression.totalsOfPublishedCells else {
            throw PolicyError("aggregate.method: expected {\"min_cell_size\": \(method.minCellSize), \"rounding\": \(method.rounding), \"totals\": \"\(Suppression.totalsOfPublishedCells)\"}, the agreement's")
        }
        func labels(_ key: String) throws(PolicyError) -> Int {
            guard let dimension = aggregate[key] as? [String: Any], dimension.count == 2, dimension["name"] is String,
                  let labels = dimension["labels"] as? [Any], labels.count <= Suppression.maxLabels else {
                throw PolicyError("aggregate.\(key): expected {\"name\": \"...\", \"labels\": [at most \(Suppression.maxLabels) strings]}")
            }
            var previous: String?
            for (i, item) in labels.enumerated() {
                guard let label = item as? String, previous.map({ $0 < label }) ?? true else {
                    throw PolicyError("aggregate.\(key).labels[\(i)]: expected a string after the one before it (sorted, distinct)")
                }
                previous = label
            }
            return labels.count
        }
        let rowCount = try labels("rows"), columnCount = try labels("columns")
        try Suppression.checkShape(rows: rowCount, columns: columnCount, field: "aggregate.cells")
        func values(_ any: Any?, _ count: Int, _ field: String) throws(PolicyError) -> [Int?] {
            guard let list = any as? [Any], list.count == count else { throw PolicyError("\(field): expected an array of \(count)") }
            var out: [Int?] = []
            for (i, item) in list.enumerated() {
                if item is NSNull { out.append(nil); continue }
                guard let v = wholeNumber(item) else { throw PolicyError("\(field)[\(i)]: expected a whole number or null") }
                out.append(v)
            }
            return out
        }
        guard let cellRows = aggregate["cells"] as? [Any], cellRows.count == rowCount else {
            throw PolicyError("aggregate.cells: expected an array of \(rowCount) rows")
        }
        var cells: [[Int?]] = []
        for (r, row) in cellRows.enumerated() { cells.append(try values(row, columnCount, "aggregate.cells[\(r)]")) }
        let published = Suppression.Result(cells: cells, rowTotals: try values(aggregate["row_totals"], rowCount, "aggregate.row_totals"),
                                           columnTotals: try values(aggregate["column_totals"], columnCount, "aggregate.column_totals"),
                                           grandTotal: try values([aggregate["grand_total"] ?? NSNull()], 1, "aggregate.grand_total").first ?? nil)
        do { try Suppression.check(published: published, minCellSize: minCellSize, rounding: rounding) } catch {
            throw PolicyError("aggregate." + error.message)
        }
        guard let suppressed = aggregate["suppressed"] as? [String: Any], suppressed.count == 1,
              wholeNumber(suppressed["cells"]) == published.hiddenCells else {
            throw PolicyError("aggregate.suppressed: expected {\"cells\": \(published.hiddenCells)}, the number of null cells")
        }
    }

    /// `check` as a yes or no.
    public static func conforms(aggregate: [String: Any], minCellSize: Int, rounding: Int = Suppression.defaultRounding) -> Bool {
        do { try check(aggregate: aggregate, minCellSize: minCellSize, rounding: rounding); return true } catch { return false }
    }

    /// A whole number from JSON or Swift: an integer, or a float with no fraction within Int's
    /// range; never a boolean (JSON `true` would otherwise read as 1).
    static func wholeNumber(_ any: Any?) -> Int? {
        guard let any, type(of: any) != Bool.self else { return nil }
        if let number = any as? NSNumber, String(cString: number.objCType) == "c" { return nil }
        return any as? Int
    }
}
