import Foundation
import FuzzSupport
import QuartetPolicy

/// Small-cell suppression through its JSON entry point: a `dataset.rows` payload, parsed with
/// JSONSerialization and handed to `DatasetAggregate.make` exactly as the API does
/// (Sources/QuartetNode/API.swift), then written with JSONSerialization as the API writes the
/// `dataset.aggregate` payload. Kept small on purpose: Suppression.swift is being rewritten, and
/// only `aggregate(payload:minCellSize:)` below touches its API.
///
/// The input is the payload; the minimum cell size is picked from the input's length (1, 2, 3,
/// 5, 10 or 1000). Checked, for an aggregate that is made (docs/agreements.md, "Small-cell
/// suppression"):
/// - nothing traps, and the aggregate is valid JSON for JSONSerialization;
/// - the table is the rows' counts cross-tabulated: shown cells and totals are the true sums;
/// - every count from 1 to min-cell-size − 1 is hidden (zero is shown), and `primary` counts them;
/// - no row or column whose total is shown has exactly one hidden cell;
/// - (disclosure) no hidden cell's value follows from the shown totals and cells by any
///   combination of sums and differences (checked for tables of up to 64 hidden cells).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSuppression(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    guard let payload = (try? JSONSerialization.jsonObject(with: Data(input))) as? [String: Any] else { return 0 }
    let minCellSize = [1, 2, 3, 5, 10, 1000][input.count % 6]
    guard let truth = Table(payload: payload) else {
        // Not a table of whole counts: make must refuse it, not trap.
        if (try? aggregate(payload: payload, minCellSize: minCellSize)) != nil {
            fuzzFailure("make accepted rows the harness cannot tabulate", describe(input))
        }
        return 0
    }
    if KnownIssues.skip("suppression-overflow", truth.overflows) { return 0 }

    let out: [String: Any]
    do { out = try aggregate(payload: payload, minCellSize: minCellSize) } catch {
        fuzzFailure("make refused rows of whole counts: \(error)", describe(input))
    }
    fuzzCheck(JSONSerialization.isValidJSONObject(out), "the aggregate is not a JSON object JSONSerialization can write", describe(input))
    _ = try? JSONSerialization.data(withJSONObject: out, options: [.sortedKeys, .withoutEscapingSlashes])

    let rowLabels = (out["rows"] as? [String: Any])?["labels"] as? [String] ?? []
    let columnLabels = (out["columns"] as? [String: Any])?["labels"] as? [String] ?? []
    fuzzCheck(rowLabels == truth.rowLabels && columnLabels == truth.columnLabels, "the aggregate's labels are not the rows' values",
              "rows \(rowLabels) vs \(truth.rowLabels), columns \(columnLabels) vs \(truth.columnLabels)")
    func optionalInts(_ value: Any?) -> [Int?] { (value as? [Any] ?? []).map { $0 as? Int } }
    let cells = (out["cells"] as? [Any] ?? []).map(optionalInts)
    let rowTotals = optionalInts(out["row_totals"]), columnTotals = optionalInts(out["column_totals"])
    let rows = truth.cells.count, columns = truth.columnLabels.count
    fuzzCheck(cells.count == rows && cells.allSatisfy { $0.count == columns } && rowTotals.count == rows && columnTotals.count == columns,
              "the aggregate's table is not \(rows) × \(columns)")

    var primary = 0
    for r in 0..<rows {
        for c in 0..<columns {
            let value = truth.cells[r][c]
            if value > 0 && value < minCellSize { primary += 1 }
            if let shown = cells[r][c] {
                fuzzCheck(shown == value, "cell (\(r), \(c)) shows \(shown), the rows add up to \(value)")
                fuzzCheck(shown == 0 || shown >= minCellSize, "cell (\(r), \(c)) shows \(shown), under min-cell-size \(minCellSize)", describe(input))
            }
        }
    }
    let suppressed = out["suppressed"] as? [String: Any]
    fuzzCheck(suppressed?["primary"] as? Int == primary, "suppressed.primary is \(suppressed?["primary"] ?? "absent"), \(primary) cells are small")
    for r in 0..<rows {
        if let total = rowTotals[r] { fuzzCheck(total == truth.cells[r].reduce(0, +), "row total \(r) is not the row's sum") }
        let hidden = (0..<columns).filter { cells[r][$0] == nil }.count
        fuzzCheck(rowTotals[r] == nil || hidden != 1, "row \(r) shows its total with exactly one hidden cell", describe(input))
    }
    for c in 0..<columns {
        if let total = columnTotals[c] { fuzzCheck(total == truth.cells.reduce(0) { $0 + $1[c] }, "column total \(c) is not the column's sum") }
        let hidden = (0..<rows).filter { cells[$0][c] == nil }.count
        fuzzCheck(columnTotals[c] == nil || hidden != 1, "column \(c) shows its total with exactly one hidden cell", describe(input))
    }

    if !KnownIssues.skip("suppression-disclosure", true),
       let cell = Disclosure.recoverableCell(cells: cells, rowTotals: rowTotals, columnTotals: columnTotals) {
        fuzzFailure("hidden cell (\(cell.row), \(cell.column)) = \(truth.cells[cell.row][cell.column]) follows from the published totals",
                    "min-cell-size \(minCellSize); table \(truth.cells); published \(cells), row totals \(rowTotals), column totals \(columnTotals)\n\(describe(input))")
    }
    return 0
}

/// The one call into Suppression.swift's API.
func aggregate(payload: [String: Any], minCellSize: Int) throws -> [String: Any] {
    try DatasetAggregate.make(rows: payload, label: "heiw.workforce.headcount", minCellSize: minCellSize, agreement: "HEIW-WALES-2025-01")
}

/// The rows cross-tabulated independently of Suppression.swift, as docs/agreements.md describes:
/// by the first row's first two text fields in name order (`count` and `note` excepted), a
/// missing field reading as "all".
struct Table {
    let rowLabels: [String]
    let columnLabels: [String]
    let cells: [[Int]]
    /// Whether the counts add up beyond Int (every cell and total is at most the grand total).
    let overflows: Bool

    init?(payload: [String: Any]) {
        guard let rows = payload["rows"] as? [[String: Any]], !rows.isEmpty else { return nil }
        var counts: [Int] = []
        for row in rows {
            guard let count = row["count"] as? Int, count >= 0 else { return nil }
            counts.append(count)
        }
        let first = rows[0]
        let dimensions = first.keys.filter { $0 != "count" && $0 != "note" && first[$0] is String }.sorted().prefix(2)
        let rowKey = dimensions.first, columnKey = dimensions.dropFirst().first
        func value(_ row: [String: Any], _ key: String?) -> String { key.flatMap { row[$0] as? String } ?? "all" }
        rowLabels = Set(rows.map { value($0, rowKey) }).sorted()
        columnLabels = Set(rows.map { value($0, columnKey) }).sorted()
        var cells = Array(repeating: Array(repeating: 0, count: columnLabels.count), count: rowLabels.count)
        var total = 0, overflows = false
        for (row, count) in zip(rows, counts) {
            let (sum, overflow) = total.addingReportingOverflow(count)
            total = sum
            overflows = overflows || overflow
            if overflows { break }
            cells[rowLabels.firstIndex(of: value(row, rowKey))!][columnLabels.firstIndex(of: value(row, columnKey))!] += count
        }
        self.cells = cells
        self.overflows = overflows
    }
}

/// Whether a suppressed cell's value is determined by what is published: the hidden cells are
/// the unknowns, each row and column with a shown total gives one linear equation (its total
/// minus its shown cells), and a cell is determined when its unit vector lies in the span of
/// those equations. Exact arithmetic over small integers is not needed: the coefficients are
/// 0 and 1 and elimination runs on Doubles with a tolerance, over at most 64 unknowns.
enum Disclosure {
    static func recoverableCell(cells: [[Int?]], rowTotals: [Int?], columnTotals: [Int?]) -> (row: Int, column: Int)? {
        var unknowns: [(row: Int, column: Int)] = []
        for (r, row) in cells.enumerated() { for (c, cell) in row.enumerated() where cell == nil { unknowns.append((r, c)) } }
        guard !unknowns.isEmpty, unknowns.count <= 64 else { return nil }
        var equations: [[Double]] = []
        for (r, total) in rowTotals.enumerated() where total != nil {
            let eq = unknowns.map { $0.row == r ? 1.0 : 0.0 }
            if eq.contains(1) { equations.append(eq) }
        }
        for (c, total) in columnTotals.enumerated() where total != nil {
            let eq = unknowns.map { $0.column == c ? 1.0 : 0.0 }
            if eq.contains(1) { equations.append(eq) }
        }
        let basis = reduced(equations, width: unknowns.count)
        for (i, cell) in unknowns.enumerated() {
            var unit = Array(repeating: 0.0, count: unknowns.count)
            unit[i] = 1
            if inSpan(unit, basis) { return cell }
        }
        return nil
    }

    /// Row-reduced echelon form: (pivot column, row) pairs.
    static func reduced(_ rows: [[Double]], width: Int) -> [(Int, [Double])] {
        var basis: [(Int, [Double])] = []
        for var row in rows {
            for (pivot, b) in basis where abs(row[pivot]) > 1e-9 {
                let f = row[pivot]
                for k in 0..<width { row[k] -= f * b[k] }
            }
            guard let pivot = (0..<width).first(where: { abs(row[$0]) > 1e-9 }) else { continue }
            let f = row[pivot]
            for k in 0..<width { row[k] /= f }
            for j in basis.indices where abs(basis[j].1[pivot]) > 1e-9 {
                let g = basis[j].1[pivot]
                for k in 0..<width { basis[j].1[k] -= g * row[k] }
            }
            basis.append((pivot, row))
        }
        return basis
    }

    static func inSpan(_ vector: [Double], _ basis: [(Int, [Double])]) -> Bool {
        var v = vector
        for (pivot, b) in basis where abs(v[pivot]) > 1e-9 {
            let f = v[pivot]
            for k in v.indices { v[k] -= f * b[k] }
        }
        return v.allSatisfy { abs($0) < 1e-9 }
    }
}
