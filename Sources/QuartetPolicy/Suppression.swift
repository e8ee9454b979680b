import Foundation
import Synchronization

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
    /// The smallest count NHS England's HES disclosure control shows (1 to 7 are hidden).
    public static let nhsSmallestCount = 8
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

        /// The smallest true count this method publishes (as a rounded value).
        public var smallestCountPublished: Int {
            var count = minCellSize
            while publish(count) == nil { count += 1 }
            return count
        }

        /// Why these parameters publish smaller counts than NHS practice allows, if they do:
        /// NHS England's HES disclosure control hides counts of 1 to 7 (`nhsSmallestCount` is
        /// the smallest it shows) and rounds the rest to 5. An owner may agree to publish less
        /// suppressed figures; `quartet agreement sign` says so before signing.
        public var belowNHSPractice: String? {
            let smallest = smallestCountPublished
            if smallest < Suppression.nhsSmallestCount {
                return "min-cell-size \(minCellSize) with rounding \(rounding) publishes true counts from \(smallest) (shown as \(publish(smallest)!)); "
                    + "NHS England's disclosure control (HES) hides counts of 1 to 7: min-cell-size \(Suppression.nhsSmallestCount) with rounding 5 publishes from 8, shown as 10"
            }
            // Hidden enough, but each value shown stands for fewer counts than HES's five.
            guard rounding < Suppression.defaultRounding else { return nil }
            return "rounding \(rounding) shows each count as one of \(rounding) values (\(publish(smallest + rounding)!) stands for \(trueCounts(publishedAs: publish(smallest + rounding)!)!.map(String.init).joined(separator: ", "))); "
                + "NHS England's disclosure control (HES) rounds to 5"
        }

        /// Whether a reader who sees a count published under this method and under `other` (two
        /// tables of one label, one before a change of agreement and one after, or at two
        /// holders) still cannot tell it from another count: every pair of values the two can
        /// show together (a null or a rounded count each) stands for at least two true counts,
        /// as each method alone guarantees. Bases 3 and 6 fail it (20 is 21 to base 3, 18 to
        /// base 6: 20 alone is both); a method and one coarser (base 5 and 10) pass. Checked
        /// over the counts where the two repeat (from the larger minimum on, the pairs recur
        /// with the bases' least common multiple); remembered per pair of methods.
        public func jointlyProtects(with other: Method) -> Bool {
            if self == other { return true }
            let key = self.minCellSize < other.minCellSize || (self.minCellSize == other.minCellSize && self.rounding <= other.rounding)
                ? JointKey(a: self, b: other) : JointKey(a: other, b: self)
            if let known = Self.joint.withLock({ $0[key] }) { return known }
            func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
            let period = rounding / gcd(rounding, other.rounding) * other.rounding, widest = max(rounding, other.rounding)
            // Past the larger minimum (and a bucket) the pairs repeat, shifted by the period;
            // the counts showing one pair are a run no longer than the wider base.
            let end = min(Suppression.maxCount, max(minCellSize, other.minCellSize) + period + 2 * widest + 2)
            var seen: [Pair: Int] = [:]
            for count in 0...end {
                seen[Pair(a: publish(count), b: other.publish(count)), default: 0] += 1
            }
            // Judged only where a pair's whole run lies inside the range counted.
            var single = false
            for count in 0...max(0, end - widest - 1) where seen[Pair(a: publish(count), b: other.publish(count))] == 1 { single = true; break }
            Self.joint.withLock { $0[key] = !single }
            return !single
        }

        private struct Pair: Hashable { let a: Int?; let b: Int? }
        private struct JointKey: Hashable { let a: Method; let b: Method }
        private static let joint = Mutex<[JointKey: Bool]>([:])

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
