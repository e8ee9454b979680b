import Foundation
import QuartetPolicy
import Testing

// MARK: Test machinery

/// SplitMix64: every run sees the same tables.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

/// The message of a refusal, or nil when there was none.
private func refusal(_ body: () throws(PolicyError) -> Void) -> String? {
    do { try body(); return nil } catch { return error.message }
}

private func publish(_ table: [[Int]], _ m: Int, _ b: Int) -> Suppression.Result {
    do { return try Suppression.suppress(table, minCellSize: m, rounding: b) } catch {
        Issue.record("refused \(table): \(error)")
        return Suppression.Result(cells: [], rowTotals: [], columnTotals: [], grandTotal: nil)
    }
}

/// The smallest limit of at least `n` that ends a rounding bucket of base `b`, so a search over
/// 0...limit sees every count of every published value it meets (a bucket cut short by the
/// search's own limit would look like a single candidate when it is not).
private func alignedLimit(_ b: Int, atLeast n: Int) -> Int {
    var limit = n
    while limit % b != b - 1 - b / 2 { limit += 1 }
    return limit
}

/// Every table of `rows` × `columns` counts in 0...limit, grouped by what `publish` makes of it:
/// for each possible published output, the set of true values each cell takes over the tables
/// that publish it (a bit set per cell, row-major) and how many tables do. This is the reader's
/// exhaustive search: nothing about the method is assumed but its output.
private func completions<P: Hashable>(rows: Int, columns: Int, limit: Int, _ publish: ([[Int]]) -> P) -> [(values: [UInt64], tables: Int)] {
    precondition(limit < 64)
    var index: [P: Int] = [:]
    var groups: [(values: [UInt64], tables: Int)] = []
    var flat = Array(repeating: 0, count: rows * columns)
    var table = Array(repeating: Array(repeating: 0, count: columns), count: rows)
    while true {
        let key = publish(table)
        let g: Int
        if let found = index[key] {
            g = found
        } else {
            g = groups.count
            index[key] = g
            groups.append((Array(repeating: 0, count: flat.count), 0))
        }
        for i in flat.indices { groups[g].values[i] |= 1 << UInt64(flat[i]) }
        groups[g].tables += 1
        // The next table, as an odometer.
        var i = 0
        while i < flat.count && flat[i] == limit {
            flat[i] = 0
            table[i / columns][i % columns] = 0
            i += 1
        }
        if i == flat.count { break }
        flat[i] += 1
        table[i / columns][i % columns] += 1
    }
    return groups
}

/// What an exhaustive search found a published output to give away.
private struct Disclosure {
    /// Outputs in which some cell has one possible true value: (an example table, the cell).
    var solvedCells: [(table: [Int], cell: Int)] = []
    /// Outputs whose consistent tables are fewer than the product of each cell's possible
    /// values: the output ties cells together (a sum, a difference), even if none is solved.
    var relatedCells = 0
}

private func disclosure<P: Hashable>(rows: Int, columns: Int, limit: Int, _ publish: ([[Int]]) -> P) -> Disclosure {
    var found = Disclosure()
    for group in completions(rows: rows, columns: columns, limit: limit, publish) {
        if let cell = group.values.firstIndex(where: { $0.nonzeroBitCount < 2 }) {
            found.solvedCells.append((group.values.map { $0.trailingZeroBitCount }, cell))
        }
        if group.values.reduce(1, { $0 * $1.nonzeroBitCount }) != group.tables { found.relatedCells += 1 }
    }
    return found
}

/// For one table: every value each cell may take, alone, with the rest of the table as it is,
/// that publishes the same output. Each such table is a completion a reader cannot rule out, so
/// two values here prove the cell is not solvable (the full set of completions is larger).
private func aloneValues<P: Equatable>(_ table: [[Int]], limit: Int, _ publish: ([[Int]]) -> P) -> [[[Int]]] {
    let published = publish(table)
    return table.indices.map { r in
        table[r].indices.map { c in
            (0...limit).filter { v in
                var t = table
                t[r][c] = v
                return publish(t) == published
            }
        }
    }
}

/// The method this one replaced (hide 1 to m − 1, publish zeros, exact counts and true totals,
/// hide more cells until no line has a single hidden one), kept here only to show that the
/// searches above catch a reversible method.
private struct OldPublished: Hashable {
    var cells: [[Int?]]
    var rowTotals: [Int?]
    var columnTotals: [Int?]
    var primary: Int
    var secondary: Int
}

private func oldSuppress(_ table: [[Int]], minCellSize: Int) -> OldPublished {
    let rows = table.count, columns = table.first?.count ?? 0
    var hidden = table.map { $0.map { $0 > 0 && $0 < minCellSize } }
    let primary = hidden.joined().count { $0 }
    var rowTotalHidden = Array(repeating: false, count: rows), columnTotalHidden = Array(repeating: false, count: columns)
    var secondary = 0, changed = true
    while changed {
        changed = false
        for r in 0..<rows where !rowTotalHidden[r] && hidden[r].count(where: { $0 }) == 1 {
            if let c = (0..<columns).filter({ !hidden[r][$0] && table[r][$0] > 0 }).min(by: { table[r][$0] < table[r][$1] }) {
                hidden[r][c] = true
                secondary += 1
            } else {
                rowTotalHidden[r] = true
            }
            changed = true
        }
        for c in 0..<columns where !columnTotalHidden[c] && (0..<rows).count(where: { hidden[$0][c] }) == 1 {
            if let r = (0..<rows).filter({ !hidden[$0][c] && table[$0][c] > 0 }).min(by: { table[$0][c] < table[$1][c] }) {
                hidden[r][c] = true
                secondary += 1
            } else {
                columnTotalHidden[c] = true
            }
            changed = true
        }
    }
    return OldPublished(cells: (0..<rows).map { r in (0..<columns).map { c in hidden[r][c] ? nil : table[r][c] } },
                        rowTotals: (0..<rows).map { rowTotalHidden[$0] ? nil : table[$0].reduce(0, +) },
                        columnTotals: (0..<columns).map { c in columnTotalHidden[c] ? nil : table.reduce(0) { $0 + $1[c] } },
                        primary: primary, secondary: secondary)
}

/// This method with one rule left out, to show each rule is needed: true totals instead of the
/// published cells' sums, or the rule hiding a count that alone rounds to its value skipped.
private func variant(_ table: [[Int]], _ m: Int, _ b: Int, trueTotals: Bool = false, hideSingles: Bool = true) -> Suppression.Result {
    var result = publish(table, m, b)
    if !hideSingles {
        let method = try! Suppression.Method(minCellSize: m, rounding: b)
        result.cells = table.map { $0.map { v in v >= method.minCellSize && method.rounded(v) > 0 ? method.rounded(v) : nil } }
    }
    if trueTotals {
        result.rowTotals = table.map { $0.reduce(0, +) }
        result.columnTotals = (0..<(table.first?.count ?? 0)).map { c in table.reduce(0) { $0 + $1[c] } }
        result.grandTotal = table.joined().reduce(0, +)
    }
    return result
}

// MARK: The method

@Suite struct SuppressionTests {
    /// A demo-like table of OT headcount by band (rows) and NHS England region (columns, sorted
    /// as `DatasetAggregate` sorts them), London second, its bands 8a and 8b+ both 1.
    static let bands = ["5", "6", "7", "8a", "8b+"]
    static let regions = ["East of England", "London", "Midlands", "North East and Yorkshire", "North West", "South East", "South West"]
    static let england = [
        [31, 38, 27, 22, 35, 29, 18],
        [24, 33, 19, 26, 21, 30, 14],
        [12, 16, 9, 11, 15, 10, 8],
        [6, 1, 7, 5, 9, 8, 6],
        [2, 1, 0, 3, 0, 2, 1],
    ]
    static let london = 1

    @Test func theLondonCellsWereSolvableAndAreNoLonger() throws {
        let table = Self.england
        // Before: every completion of the old output (hidden cells searched over 0...40, pruned
        // by the true totals it published, each candidate checked by publishing it again).
        let old = oldSuppress(table, minCellSize: 5)
        #expect(old.cells[3][Self.london] == nil && old.cells[4][Self.london] == nil)
        let hidden = (0..<5).flatMap { r in (0..<7).compactMap { c in old.cells[r][c] == nil ? (r, c) : nil } }
        var seen = Array(repeating: Set<Int>(), count: hidden.count)
        var trial = table.map { $0.map { _ in 0 } }
        for r in 0..<5 { for c in 0..<7 { trial[r][c] = old.cells[r][c] ?? 0 } }
        func fits(_ r: Int, _ c: Int, complete: (Int, Int) -> Bool) -> Bool {
            let rowSum = trial[r].reduce(0, +), columnSum = trial.reduce(0) { $0 + $1[c] }
            if let total = old.rowTotals[r], rowSum > total || (complete(r, -1) && rowSum != total) { return false }
            if let total = old.columnTotals[c], columnSum > total || (complete(-1, c) && columnSum != total) { return false }
            return true
        }
        func search(_ i: Int) {
            if i == hidden.count {
                if oldSuppress(trial, minCellSize: 5) == old { for (k, (r, c)) in hidden.enumerated() { seen[k].insert(trial[r][c]) } }
                return
            }
            let (r, c) = hidden[i]
            // Whether every hidden cell of the row (or column) has been assigned.
            let complete: (Int, Int) -> Bool = { rr, cc in !hidden[(i + 1)...].contains { ($0.0 == rr && rr >= 0) || ($0.1 == cc && cc >= 0) } }
            for v in 0...40 {
                trial[r][c] = v
                if fits(r, c, complete: complete) { search(i + 1) }
            }
            trial[r][c] = 0
        }
        search(0)
        let a = try #require(hidden.firstIndex { $0 == (3, Self.london) }), b = try #require(hidden.firstIndex { $0 == (4, Self.london) })
        #expect(seen[a] == [1] && seen[b] == [1], "the old method's London cells are solved: \(seen[a]), \(seen[b])")

        // After: London's hidden cells, searched together over 0...40 with the rest as it is,
        // publish the same table for every pair of 0 to 4 and nothing else.
        let method = (m: 5, b: 5)
        let published = publish(table, method.m, method.b)
        #expect(published.cells[3][Self.london] == nil && published.cells[4][Self.london] == nil)
        var pairs: [[Int]] = []
        for x in 0...40 {
            for y in 0...40 {
                var t = table
                t[3][Self.london] = x
                t[4][Self.london] = y
                if publish(t, method.m, method.b) == published { pairs.append([x, y]) }
            }
        }
        #expect(pairs.count == 25 && pairs.contains([1, 1]) && pairs.contains([0, 0]) && pairs.contains([4, 0]) && pairs.contains([4, 4]))
        // Every cell of the table, hidden or rounded, stands for at least two counts.
        let limit = alignedLimit(5, atLeast: 45)
        for (r, row) in aloneValues(table, limit: limit, { publish($0, 5, 5) }).enumerated() {
            for (c, values) in row.enumerated() { #expect(values.count >= 2, "\(Self.bands[r]) \(Self.regions[c]): \(values)") }
        }
        // The same per-cell check flags the old method's London cells.
        let oldAlone = aloneValues(table, limit: limit) { oldSuppress($0, minCellSize: 5) }
        #expect(oldAlone[3][Self.london] == [1] && oldAlone[4][Self.london] == [1])
        // The London column's total is the sum of its published cells, not the true 89.
        #expect(published.columnTotals[Self.london] == 40 + 35 + 15)
        #expect(published.cells.map { $0[Self.london] } == [40, 35, 15, nil, nil])
    }

    /// Every table of a small shape with counts in 0...limit, for each minimum cell size and
    /// base: across all the tables that publish the same output, every cell takes at least two
    /// values, and the tables are all combinations of those values (no cell and no relation
    /// between cells can be solved from the output). Each limit ends a rounding bucket and takes
    /// in every hidden count and at least the first published value's counts (minimum 7, 12 at
    /// base 5 and 14 at base 10 are the cases where a count alone rounds to its value).
    @Test(arguments: [(2, 2, 5, 5, 12), (2, 2, 7, 5, 12), (2, 2, 2, 5, 12), (2, 2, 1, 5, 7), (2, 2, 10, 5, 12), (2, 2, 12, 5, 17),
                      (2, 2, 3, 3, 10), (2, 2, 5, 10, 14), (1, 3, 14, 10, 24), (2, 2, 2, 2, 6), (2, 2, 6, 4, 13), (1, 4, 7, 5, 12),
                      (2, 3, 5, 5, 7), (2, 3, 3, 3, 4), (3, 2, 2, 2, 4)])
    func exhaustively(rows: Int, columns: Int, m: Int, b: Int, limit: Int) throws {
        let method = try Suppression.Method(minCellSize: m, rounding: b)
        #expect(limit % b == b - 1 - b / 2 && limit >= alignedLimit(b, atLeast: method.smallestPublished))
        let found = disclosure(rows: rows, columns: columns, limit: limit) { publish($0, m, b) }
        #expect(found.solvedCells.isEmpty, "\(rows)×\(columns) m \(m) base \(b) up to \(limit): solved \(found.solvedCells.prefix(3))")
        #expect(found.relatedCells == 0)
    }

    /// The search can fail: it solves the old method's hidden cells, and this method's with a
    /// rule left out.
    @Test func theExhaustiveSearchCatchesReversibleMethods() {
        let old = disclosure(rows: 2, columns: 2, limit: 12) { oldSuppress($0, minCellSize: 5) }
        #expect(old.solvedCells.contains { $0.table == [1, 1, 10, 10] && $0.cell == 0 }, "two 1s beside two 10s: the row total 2 solves both")
        #expect(old.relatedCells > 0)
        // True totals: a single hidden cell is its row total minus the rest.
        let trueTotals = disclosure(rows: 2, columns: 2, limit: 12) { variant($0, 5, 5, trueTotals: true) }
        #expect(!trueTotals.solvedCells.isEmpty && trueTotals.relatedCells > 0)
        // Minimum 7, base 5, without the rule: a published 5 can only be 7.
        let singles = disclosure(rows: 2, columns: 2, limit: 12) { variant($0, 7, 5, hideSingles: false) }
        #expect(singles.solvedCells.contains { $0.table[$0.cell] == 7 })
    }

    /// Several hundred random tables (1–4 × 1–4, counts around the threshold) under many minimum
    /// cell sizes and bases: each cell alone, searched over every value, stands for at least two
    /// counts whatever it is; and tables drawn from those values all publish the same output.
    @Test func randomTablesGiveNoCellAway() throws {
        var random = SeededGenerator(state: 0x5EED_2025_0331)
        let configurations = [(5, 5), (7, 5), (2, 5), (1, 5), (10, 5), (12, 5), (3, 3), (5, 10), (14, 10), (2, 2), (6, 4), (11, 7), (20, 3)]
        var checked = 0, hiddenSeen = 0, roundedSeen = 0
        for n in 0..<650 {
            let (m, b) = configurations[n % configurations.count]
            let rows = 1 + random.below(4), columns = 1 + random.below(4)
            let top = m + 3 * b
            let table = (0..<rows).map { _ in (0..<columns).map { _ in random.below(top + 1) } }
            let published = publish(table, m, b)
            #expect(Suppression.conforms(published: published, minCellSize: m, rounding: b))
            let limit = alignedLimit(b, atLeast: top + b)
            let alone = aloneValues(table, limit: limit) { publish($0, m, b) }
            for r in 0..<rows {
                for c in 0..<columns {
                    #expect(alone[r][c].count >= 2, "m \(m) base \(b) \(table): cell [\(r)][\(c)] is \(alone[r][c])")
                    #expect(alone[r][c].contains(table[r][c]))
                    if published.cells[r][c] == nil { hiddenSeen += 1 } else { roundedSeen += 1 }
                }
            }
            for _ in 0..<6 {
                let drawn = alone.map { $0.map { $0.isEmpty ? 0 : $0[random.below($0.count)] } }
                #expect(publish(drawn, m, b) == published, "m \(m) base \(b): \(table) and \(drawn)")
            }
            checked += 1
        }
        #expect(checked == 650 && hiddenSeen > 500 && roundedSeen > 500)
    }

    @Test func countsAreHiddenRoundedOrHiddenForStandingAlone() throws {
        func row(_ m: Int, _ b: Int) throws -> [Int?] { try (0...20).map { try Suppression.Method(minCellSize: m, rounding: b).publish($0) } }
        // Zero is hidden with the small counts; 5, 6, 7 publish as 5, 8 to 12 as 10.
        #expect(try row(5, 5) == [nil, nil, nil, nil, nil, 5, 5, 5, 10, 10, 10, 10, 10, 15, 15, 15, 15, 15, 20, 20, 20])
        // Minimum 7: only 7 (of the counts shown) would round to 5, so 7 is hidden too.
        #expect(try row(7, 5).prefix(9) == [nil, nil, nil, nil, nil, nil, nil, nil, 10])
        // Minimum 12 (≡ 2 mod 5) hides 12; minimum 14 at base 10 hides 14.
        #expect(try row(12, 5)[12] == nil && row(12, 5)[13] == 15)
        #expect(try row(14, 10)[14] == nil && row(14, 10)[15] == 20)
        // A minimum of 1 or 2 still hides 0 to 2: a null must stand for two counts, and 2 alone
        // would round to 0.
        #expect(try row(1, 5).prefix(4) == [nil, nil, nil, 5])
        #expect(try row(2, 5) == row(1, 5))
        #expect(try row(2, 2).prefix(6) == [nil, nil, nil, 4, 4, 6])
        // Half up at an even base: 5 of 10 rounds up.
        #expect(try Suppression.Method(minCellSize: 5, rounding: 10).publish(5) == 10)
        #expect(try Suppression.Method(minCellSize: 7, rounding: 5).smallestPublished == 10)
        #expect(try Suppression.Method(minCellSize: 5, rounding: 5).trueCounts(publishedAs: 5) == 5...7)
        // At the top of the range: base 31 rounds 1,000,000,000 up to a value only it could have.
        let top = try Suppression.Method(minCellSize: 5, rounding: 31)
        #expect(top.publish(Suppression.maxCount) == nil && top.publish(Suppression.maxCount - 1) == 999_999_984)
        #expect(top.publish(Suppression.maxCount + 1) == nil && top.publish(-1) == nil)
        // The wide bases at the top still leave two counts per value.
        for b in Suppression.roundingRange {
            let method = try Suppression.Method(minCellSize: 5, rounding: b)
            for v in (Suppression.maxCount - 2 * b)...Suppression.maxCount {
                if let p = method.publish(v) { #expect((method.trueCounts(publishedAs: p)?.count ?? 0) >= 2) }
            }
        }
    }

    @Test func totalsAreOfThePublishedCells() throws {
        let result = try Suppression.suppress([[12, 3, 40], [25, 18, 7], [0, 9, 30]], minCellSize: 5)
        #expect(result.cells == [[10, nil, 40], [25, 20, 5], [nil, 10, 30]])
        #expect(result.rowTotals == [50, 50, 40] && result.columnTotals == [35, 30, 75] && result.grandTotal == 140)
        #expect(result.hiddenCells == 2)
        // A line with nothing published has no total; short rows are padded with zeros (hidden).
        let alone = try Suppression.suppress([[2, 0], [8]], minCellSize: 5)
        #expect(alone.cells == [[nil, nil], [10, nil]] && alone.rowTotals == [nil, 10] && alone.columnTotals == [10, nil] && alone.grandTotal == 10)
        let empty = try Suppression.suppress([], minCellSize: 5)
        #expect(empty.cells.isEmpty && empty.grandTotal == nil)
    }

    @Test func theVerifierAcceptsWhatTheMethodPublishesAndNothingElse() throws {
        let published = try Suppression.suppress([[12, 3, 40], [25, 18, 7], [0, 9, 30]], minCellSize: 5)
        #expect(Suppression.conforms(published: published, minCellSize: 5, rounding: 5))
        func check(_ change: (inout Suppression.Result) -> Void, m: Int = 5, b: Int = 5) -> String? {
            var table = published
            change(&table)
            return refusal { () throws(PolicyError) in try Suppression.check(published: table, minCellSize: m, rounding: b) }
        }
        // Raw counts, true totals, a value that stands alone, a short row.
        #expect(check { $0.cells[0][0] = 12 }?.hasPrefix("cells[0][0]: 12 is not a value this method publishes") == true)
        #expect(check { $0.rowTotals[0] = 55 } == "row_totals: expected the sums of the published cells, [50, 50, 40]")
        #expect(check { $0.columnTotals[1] = nil }?.hasPrefix("column_totals:") == true)
        #expect(check { $0.grandTotal = 155 } == "grand_total: expected the sum of the published cells, 140")
        #expect(check({ _ in }, m: 7)?.hasPrefix("cells[1][2]: 5 is not a value this method publishes (a multiple of 5 from 10") == true)
        #expect(check { $0.cells[0][0] = 0 }?.hasPrefix("cells[0][0]: 0 is not") == true)
        #expect(check { $0.cells[2] = [nil, 10] } == "cells[2]: expected 3 cells, as in the first row, got 2")
        #expect(check({ _ in }, b: 10) != nil)
        #expect(check({ _ in }, b: 1) == "rounding: expected 2 to 1000, got 1")
        // Hostile values are refused, not trapped on.
        #expect(check { $0.cells[0][0] = Int.max; $0.cells[0][2] = Int.max } != nil)
        #expect(check { $0.cells[0][0] = -5 } != nil)
        #expect(!Suppression.conforms(published: .init(cells: Array(repeating: [nil], count: 1001), rowTotals: [], columnTotals: [], grandTotal: nil),
                                      minCellSize: 5, rounding: 5))
    }
}

// MARK: Aggregates of dataset rows

@Suite struct DatasetAggregateTests {
    static func rows(_ table: [[Int]] = SuppressionTests.england) -> [String: Any] {
        var rows: [[String: Any]] = []
        for (r, band) in SuppressionTests.bands.enumerated() {
            for (c, region) in SuppressionTests.regions.enumerated() where r < table.count && c < table[r].count {
                rows.append(["band": band, "region": region, "count": table[r][c], "note": "simulated"])
            }
        }
        return ["dataset": "ot-headcount-by-band-and-region", "period": "2025-03-31", "rows": rows]
    }

    static func make(_ payload: [String: Any], m: Int = 5, b: Int = 5) throws(PolicyError) -> [String: Any] {
        try DatasetAggregate.make(rows: payload, label: "nhse.workforce.headcount", minCellSize: m, rounding: b, agreement: "NHS-ENGLAND-2024")
    }

    static func reparsed(_ aggregate: [String: Any]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(DatasetAggregate.encoded(aggregate))) as? [String: Any])
    }

    @Test func thePayloadStatesItsMethodAndKeepsItsShape() throws {
        let aggregate = try Self.make(Self.rows())
        let text = String(decoding: try DatasetAggregate.encoded(aggregate), as: UTF8.self)
        #expect(text.contains(#""method":{"min_cell_size":5,"rounding":5,"totals":"published-cells"}"#), "\(text)")
        #expect(text.contains(#""suppressed":{"cells":8}"#) && !text.contains("primary") && !text.contains("secondary"))
        #expect(aggregate["label"] as? String == "nhse.workforce.headcount" && aggregate["agreement"] as? String == "NHS-ENGLAND-2024")
        #expect(aggregate["min_cell_size"] as? Int == 5 && aggregate["dataset"] as? String == "ot-headcount-by-band-and-region")
        #expect((aggregate["rows"] as? [String: Any])?["name"] as? String == "band")
        #expect((aggregate["columns"] as? [String: Any])?["labels"] as? [String] == SuppressionTests.regions)
        let cells = try #require(aggregate["cells"] as? [[Any]])
        #expect(cells[3][1] is NSNull && cells[4][1] is NSNull && cells[0][1] as? Int == 40)
        #expect((aggregate["column_totals"] as? [Any])?[1] as? Int == 90)
        #expect(aggregate["grand_total"] as? Int != nil)
        // A minimum cell size of 1 is applied as 2, and says so.
        let low = try Self.make(Self.rows(), m: 1, b: 10)
        #expect(low["min_cell_size"] as? Int == 2 && (low["method"] as? [String: Any])?["rounding"] as? Int == 10)
    }

    @Test func theSameRowsGiveTheSameBytes() throws {
        let payload = Self.rows()
        var shuffled = payload
        var random = SeededGenerator(state: 7)
        shuffled["rows"] = (payload["rows"] as? [[String: Any]] ?? []).shuffled(using: &random)
        let a = try DatasetAggregate.encoded(Self.make(payload)), b = try DatasetAggregate.encoded(Self.make(shuffled))
        #expect(a == b)
        // A node holding the rows accepts exactly the derived aggregate, as received over the wire.
        let received = try Self.reparsed(try Self.make(payload))
        #expect(refusal { () throws(PolicyError) in
            try DatasetAggregate.checkDerived(aggregate: received, rows: payload, label: "nhse.workforce.headcount", minCellSize: 5, agreement: "NHS-ENGLAND-2024")
        } == nil)
        var tampered = received
        tampered["cells"] = (received["cells"] as? [[Any]]).map { cells in cells.map { $0.map { $0 is NSNull ? 0 as Any : $0 } } }
        #expect(refusal { () throws(PolicyError) in
            try DatasetAggregate.checkDerived(aggregate: tampered, rows: payload, label: "nhse.workforce.headcount", minCellSize: 5, agreement: "NHS-ENGLAND-2024")
        }?.hasPrefix("aggregate: not the table derived from the rows") == true)
        #expect(refusal { () throws(PolicyError) in
            try DatasetAggregate.checkDerived(aggregate: received, rows: payload, label: "nhse.workforce.headcount", minCellSize: 7, agreement: "NHS-ENGLAND-2024")
        } != nil)
    }

    @Test func receivedAggregatesAreCheckedAgainstTheMethod() throws {
        let aggregate = try Self.reparsed(try Self.make(Self.rows()))
        #expect(DatasetAggregate.conforms(aggregate: aggregate, minCellSize: 5, rounding: 5))
        #expect(DatasetAggregate.conforms(aggregate: try Self.make(Self.rows()), minCellSize: 5))
        func check(_ change: (inout [String: Any]) -> Void, m: Int = 5, b: Int = 5) -> String? {
            var payload = aggregate
            change(&payload)
            return refusal { () throws(PolicyError) in try DatasetAggregate.check(aggregate: payload, minCellSize: m, rounding: b) }
        }
        // Raw rows posted as an aggregate.
        #expect(!DatasetAggregate.conforms(aggregate: Self.rows(), minCellSize: 5))
        // An aggregate of the old method: exact counts, true totals, suppressed primary/secondary.
        let old = oldSuppress(SuppressionTests.england, minCellSize: 5)
        #expect(check {
            $0["cells"] = old.cells.map { $0.map { $0.map { $0 as Any } ?? NSNull() } }
            $0["row_totals"] = old.rowTotals.map { $0.map { $0 as Any } ?? NSNull() }
        }?.hasPrefix("aggregate.cells[0][0]: 31 is not a value this method publishes") == true)
        #expect(check { $0["suppressed"] = ["primary": 6, "secondary": 4] } == #"aggregate.suppressed: expected {"cells": 8}, the number of null cells"#)
        #expect(check { $0["row_totals"] = SuppressionTests.england.map { $0.reduce(0, +) } }?.hasPrefix("aggregate.row_totals: expected the sums of the published cells") == true)
        #expect(check { $0["note"] = "31 38 27" } == #"aggregate: unknown field "note""#)
        #expect(check { $0["grand_total"] = nil } == "aggregate.grand_total: missing")
        #expect(check({ _ in }, m: 7) == #"aggregate.min_cell_size: expected 7, the agreement's"#)
        #expect(check({ _ in }, b: 10)?.hasPrefix("aggregate.method: expected") == true)
        #expect(check { $0["columns"] = ["name": "region", "labels": Array(SuppressionTests.regions.reversed())] }?.hasPrefix("aggregate.columns.labels[1]") == true)
        #expect(check { $0["cells"] = [[true]] } == "aggregate.cells: expected an array of 5 rows")
        #expect(check { var cells = $0["cells"] as? [[Any]] ?? []; cells[0][0] = true; $0["cells"] = cells } == "aggregate.cells[0][0]: expected a whole number or null")
        #expect(check { var cells = $0["cells"] as? [[Any]] ?? []; cells[0][0] = Int.max; $0["cells"] = cells }?.hasPrefix("aggregate.cells[0][0]: 9223372036854775807 is not") == true)
        #expect(check { $0["rows"] = ["name": "band", "labels": (0..<1001).map { String(format: "%05d", $0) }] } != nil)
        #expect(check({ _ in }, m: 0) == "min_cell_size: expected 1 to 1000, got 0")
    }

    @Test func hostileRowsAreRefusedNamingTheField() throws {
        func refused(_ payload: [String: Any], m: Int = 5, b: Int = 5) -> String? {
            refusal { () throws(PolicyError) in _ = try Self.make(payload, m: m, b: b) }
        }
        let count = "payload.rows[1].count: expected a whole number from 0 to 1000000000"
        func two(_ second: Any) -> [String: Any] { ["rows": [["band": "5", "count": 3], ["band": "6", "count": second]]] }
        #expect(refused(two(1 << 62)) == count)
        #expect(refused(two(Int.max)) == count)
        #expect(refused(two(-1)) == count)
        #expect(refused(two(1_000_000_001)) == count)
        #expect(refused(two(3.5)) == count)
        #expect(refused(two("3")) == count)
        #expect(refused(two(true)) == count)
        #expect(refused(["rows": [["band": "5"]]]) == "payload.rows[0].count: expected a whole number from 0 to 1000000000")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(#"{"rows":[{"band":"5","count":1},{"band":"6","count":true},{"band":"7","count":1e300}]}"#.utf8)) as? [String: Any])
        #expect(refused(json) == count)
        // The largest count is accepted; two that add up past it in one cell are not.
        #expect(refused(two(1_000_000_000)) == nil)
        #expect(refused(["rows": [["band": "5", "count": 600_000_000], ["band": "5", "count": 600_000_000]]])
                == #"payload.rows[1].count: the counts of band "5", all "all" add up to more than 1000000000"#)
        // Shapes.
        #expect(refused(["rows": []]) == "payload.rows: expected a non-empty array of objects, each with a whole-number count")
        #expect(refused(["rows": "x"]) == "payload.rows: expected a non-empty array of objects, each with a whole-number count")
        #expect(refused(["rows": [["band": "5", "count": 3], 7]]) == "payload.rows[1]: expected an object")
        let many = (0...DatasetAggregate.maxRows).map { _ in ["band": "5", "count": 1] as [String: Any] }
        #expect(refused(["rows": many]) == "payload.rows: at most 100000 rows, got 100001")
        let bands = (0...Suppression.maxLabels).map { ["band": "b\($0)", "count": 1] as [String: Any] }
        #expect(refused(["rows": bands]) == "payload.rows: at most 1000 distinct values of band")
        let square = (0..<101).flatMap { r in (0..<100).map { c in ["band": "b\(r)", "board": "c\(c)", "count": 1] as [String: Any] } }
        #expect(refused(["rows": square]) == "payload.rows: at most 10000 cells, got 101 band × 100 board")
        // Parameters out of range are refused, never divided by.
        #expect(refused(Self.rows(), b: 0) == "rounding: expected 2 to 1000, got 0")
        #expect(refused(Self.rows(), m: -3) == "min_cell_size: expected 1 to 1000, got -3")
        // The table form.
        #expect(refusal { () throws(PolicyError) in _ = try Suppression.suppress([[1, 1 << 62]], minCellSize: 5) }
                == "table[0][1]: expected a whole number from 0 to 1000000000, got 4611686018427387904")
        #expect(refusal { () throws(PolicyError) in _ = try Suppression.suppress([[3], [-2]], minCellSize: 5) }
                == "table[1][0]: expected a whole number from 0 to 1000000000, got -2")
        #expect(refusal { () throws(PolicyError) in _ = try Suppression.suppress(Array(repeating: [1], count: 1001), minCellSize: 5) }
                == "table: at most 1000 rows, got 1001")
        #expect(refusal { () throws(PolicyError) in _ = try Suppression.suppress(Array(repeating: Array(repeating: 1, count: 200), count: 200), minCellSize: 5) }
                == "table: at most 10000 cells, got 200 × 200")
    }
}

// MARK: The method in agreements

@Suite struct AgreementRoundingTests {
    @Test func roundingIsWrittenOnlyWhenNotTheDefault() throws {
        let plain = try heiwAgreement()
        #expect(plain.rounding == 5 && !plain.text.contains("rounding"))
        #expect(plain.text.hasSuffix("min-cell-size 5\n"))
        var ten = plain
        ten.rounding = 10
        #expect(ten.text.hasSuffix("min-cell-size 5\nrounding 10\n"))
        #expect(try Agreement(text: ten.text) == ten)
        #expect(try Agreement(text: ten.text).rounding == 10)
        #expect(try Agreement(text: plain.text) == plain)
        #expect(ten != plain)
    }

    @Test func badRoundingIsRefusedNamingTheLine() throws {
        let good = try heiwAgreement().text
        func message(_ text: String) -> String? {
            do { _ = try Agreement(text: text); return nil } catch { return error.message }
        }
        func with(_ line: String) -> String { good + line + "\n" }
        #expect(message(with("rounding 10")) == nil)
        #expect(message(with("rounding 1")) == "agreement line 12: rounding must be 2 to 1000, got \"1\"")
        #expect(message(with("rounding 0")) == "agreement line 12: rounding must be 2 to 1000, got \"0\"")
        #expect(message(with("rounding 1001")) == "agreement line 12: rounding must be 2 to 1000, got \"1001\"")
        #expect(message(with("rounding -5")) == "agreement line 12: rounding must be 2 to 1000, got \"-5\"")
        #expect(message(with("rounding 010")) == "agreement line 12: rounding must be 2 to 1000, got \"010\"")
        #expect(message(with("rounding +10")) == "agreement line 12: rounding must be 2 to 1000, got \"+10\"")
        #expect(message(with("rounding ten")) == "agreement line 12: rounding must be 2 to 1000, got \"ten\"")
        #expect(message(with("rounding 99999999999999999999")) == "agreement line 12: rounding must be 2 to 1000, got \"99999999999999999999\"")
        #expect(message(with("rounding 5")) == "agreement line 12: rounding 5 is the default: leave the line out")
        #expect(message(with("rounding 10\nrounding 10")) == "agreement line 13: expected at most one \"rounding\" line")
        #expect(message(good.replacingOccurrences(of: "purpose", with: "rounding 10\npurpose"))
                == "agreement line 8: rounding must come right after min-cell-size")
        #expect(message(good.replacingOccurrences(of: "min-cell-size 5", with: "min-cell-size +5")) == "agreement line 11: min-cell-size must be 1 to 1000, got \"+5\"")
        #expect(message(good.replacingOccurrences(of: "min-cell-size 5", with: "min-cell-size 1001")) == "agreement line 11: min-cell-size must be 1 to 1000, got \"1001\"")
    }

    @Test func theGoverningAgreementIsTheStrictest() throws {
        var a = try heiwAgreement(), b = a, c = a
        a.id = "A"; b.id = "B"; c.id = "C"
        b.minCellSize = 10
        c.minCellSize = 10
        c.rounding = 10
        #expect(Agreement.governing([a, b, c])?.id == "C")
        #expect(Agreement.governing([a, b])?.id == "B")
        b.minCellSize = 5
        #expect(Agreement.governing([b, a])?.id == "A")
        #expect(Agreement.governing([]) == nil)
    }
}

@Suite struct NHSPracticeTests {
    /// NHS England's HES rule hides 1 to 7: parameters that publish smaller true counts are said.
    @Test func parametersPublishingCountsBelowEightAreSaid() throws {
        #expect(try Suppression.Method(minCellSize: 8, rounding: 5).belowNHSPractice == nil)
        // 7 would show as 5, a value only 7 stands for above the minimum: hidden, so 8 is the smallest.
        #expect(try Suppression.Method(minCellSize: 7, rounding: 5).smallestCountPublished == 8)
        #expect(try Suppression.Method(minCellSize: 7, rounding: 5).belowNHSPractice == nil)
        let demoBefore = try Suppression.Method(minCellSize: 5, rounding: 5)
        #expect(demoBefore.smallestCountPublished == 5)
        #expect(demoBefore.belowNHSPractice?.contains("publishes true counts from 5 (shown as 5)") == true)
        #expect(try Suppression.Method(minCellSize: 2, rounding: 2).belowNHSPractice?.contains("from 3 (shown as 4)") == true)
        #expect(try Suppression.Method(minCellSize: 20, rounding: 10).belowNHSPractice == nil)
        // Hidden as HES hides, but rounded more finely than its 5 (a review): said too.
        #expect(try Suppression.Method(minCellSize: 8, rounding: 2).belowNHSPractice?.contains("rounds to 5") == true)
        #expect(try Suppression.Method(minCellSize: 8, rounding: 4).belowNHSPractice?.contains("one of 4 values") == true)
        #expect(try Suppression.Method(minCellSize: 8, rounding: 6).belowNHSPractice == nil)
    }
}
