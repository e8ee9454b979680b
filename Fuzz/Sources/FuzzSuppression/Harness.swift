import Foundation
import FuzzSupport
@testable import QuartetPolicy

/// The disclosure-control method through its JSON entry point: a `dataset.rows` payload, parsed
/// with JSONSerialization and handed to `DatasetAggregate.make` exactly as the API does
/// (Sources/QuartetNode/AppendAdmission.swift), then written with JSONSerialization as the API writes the
/// `dataset.aggregate` payload.
///
/// The input is the payload; the minimum cell size and the rounding base are picked from the
/// input's length. What is expected is computed here from docs/agreements.md ("Disclosure
/// control: what an aggregate publishes"), not with Suppression.swift's code:
/// - nothing traps; rows the method cannot tabulate are refused, and rows it can are not;
/// - the aggregate is valid JSON for JSONSerialization, with the rows' labels and the method as
///   applied (a minimum of 1 applied as 2, the base, totals "published-cells");
/// - each cell is what its own true count publishes: hidden below the minimum (zero included),
///   hidden when its rounded value is 0 or stands for fewer than two true counts, else the count
///   rounded half up to the base;
/// - every value shown stands for at least two true counts, and so does every null;
/// - row, column and grand totals are the sums of the published cells (null for a line with
///   none), and `suppressed.cells` is the number of nulls;
/// - `DatasetAggregate.check` and `checkDerived` accept the aggregate, and `check` refuses it
///   with one published cell moved off what the method publishes.
/// Since each published cell depends on its own count alone and the totals on the published
/// cells alone, these checks are the disclosure property: no cell, and no sum or difference of
/// cells, is narrowed below two true counts by anything published.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSuppression(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    guard let payload = (try? JSONSerialization.jsonObject(with: Data(input))) as? [String: Any] else { return 0 }
    let minCellSize = [1, 2, 3, 5, 7, 10, 14, 1000][input.count % 8]
    let rounding = [2, 3, 4, 5, 10, 31, 1000][(input.count / 8) % 7]
    let model = Model(minCellSize: minCellSize, rounding: rounding)
    let truth: Table
    switch Table.tabulate(payload) {
    case .failure(let reason):
        if (try? aggregate(payload: payload, minCellSize: minCellSize, rounding: rounding)) != nil {
            fuzzFailure("make accepted rows it must refuse (\(reason))", describe(input))
        }
        return 0
    case .success(let table):
        truth = table
    }

    let out: [String: Any]
    do { out = try aggregate(payload: payload, minCellSize: minCellSize, rounding: rounding) } catch {
        fuzzFailure("make refused rows of whole counts: \(error)", describe(input))
    }
    fuzzCheck(JSONSerialization.isValidJSONObject(out), "the aggregate is not a JSON object JSONSerialization can write", describe(input))
    _ = try? JSONSerialization.data(withJSONObject: out, options: [.sortedKeys, .withoutEscapingSlashes])

    let rowLabels = (out["rows"] as? [String: Any])?["labels"] as? [String] ?? []
    let columnLabels = (out["columns"] as? [String: Any])?["labels"] as? [String] ?? []
    fuzzCheck(rowLabels == truth.rowLabels && columnLabels == truth.columnLabels, "the aggregate's labels are not the rows' values",
              "rows \(rowLabels) vs \(truth.rowLabels), columns \(columnLabels) vs \(truth.columnLabels)")
    let method = out["method"] as? [String: Any]
    fuzzCheck(out["min_cell_size"] as? Int == model.minimum && method?["min_cell_size"] as? Int == model.minimum
              && method?["rounding"] as? Int == rounding && method?["totals"] as? String == "published-cells",
              "the aggregate's method is not the one applied (minimum \(model.minimum), base \(rounding)): \(method ?? [:])")

    func optionalInts(_ value: Any?) -> [Int?] { (value as? [Any] ?? []).map { $0 as? Int } }
    let cells = (out["cells"] as? [Any] ?? []).map(optionalInts)
    let rowTotals = optionalInts(out["row_totals"]), columnTotals = optionalInts(out["column_totals"])
    let rows = truth.cells.count, columns = truth.columnLabels.count
    fuzzCheck(cells.count == rows && cells.allSatisfy { $0.count == columns } && rowTotals.count == rows && columnTotals.count == columns,
              "the aggregate's table is not \(rows) × \(columns)")

    var nulls = 0
    for r in 0..<rows {
        for c in 0..<columns {
            let count = truth.cells[r][c]
            let expected = model.publish(count)
            fuzzCheck(cells[r][c] == expected, "cell (\(r), \(c)) of true count \(count) shows \(cells[r][c].map(String.init) ?? "null"), the method publishes \(expected.map(String.init) ?? "null") (minimum \(model.minimum), base \(rounding))", describe(input))
            if let shown = cells[r][c] {
                fuzzCheck(model.countsShownAs(shown) >= 2, "cell (\(r), \(c)) shows \(shown), which stands for fewer than two true counts", describe(input))
            } else {
                nulls += 1
            }
        }
    }
    // A null stands for 0 to minimum − 1 at least: two counts or more.
    fuzzCheck(model.minimum >= 2, "the minimum applied is \(model.minimum): a null would stand for one count")

    func sum(_ values: [Int?]) -> Int? { values.contains { $0 != nil } ? values.reduce(0) { $0 + ($1 ?? 0) } : nil }
    for r in 0..<rows { fuzzCheck(rowTotals[r] == sum(cells[r]), "row total \(r) is \(rowTotals[r].map(String.init) ?? "null"), not the sum of the row's published cells") }
    for c in 0..<columns {
        fuzzCheck(columnTotals[c] == sum(cells.map { $0[c] }), "column total \(c) is \(columnTotals[c].map(String.init) ?? "null"), not the sum of the column's published cells")
    }
    fuzzCheck(out["grand_total"] as? Int == sum(cells.flatMap { $0 }), "the grand total is not the sum of the published cells")
    fuzzCheck((out["suppressed"] as? [String: Any])?["cells"] as? Int == nulls && (out["suppressed"] as? [String: Any])?.count == 1,
              "suppressed is \(out["suppressed"] ?? "absent"), the table has \(nulls) nulls and nothing else may be said")

    do {
        try DatasetAggregate.check(aggregate: out, minCellSize: minCellSize, rounding: rounding)
        try DatasetAggregate.checkDerived(aggregate: out, rows: payload, label: label, minCellSize: minCellSize, rounding: rounding, agreement: agreement)
    } catch {
        fuzzFailure("the checks refuse what make published: \(error)", describe(input))
    }
    // One published cell moved by one: a value the method never publishes (not a multiple of
    // the base), which `check` must refuse whatever the totals say.
    if let (r, c) = (0..<rows).lazy.flatMap({ r in (0..<columns).lazy.map { (r, $0) } }).first(where: { cells[$0.0][$0.1] != nil }) {
        var forged = out
        var forgedCells = cells
        forgedCells[r][c]! += 1
        forged["cells"] = forgedCells.map { $0.map { $0.map { $0 as Any } ?? NSNull() } }
        forged["row_totals"] = (0..<rows).map { sum(forgedCells[$0]).map { $0 as Any } ?? NSNull() }
        forged["column_totals"] = (0..<columns).map { c in sum(forgedCells.map { $0[c] }).map { $0 as Any } ?? NSNull() }
        forged["grand_total"] = sum(forgedCells.flatMap { $0 }).map { $0 as Any } ?? NSNull()
        fuzzCheck(!DatasetAggregate.conforms(aggregate: forged, minCellSize: minCellSize, rounding: rounding),
                  "check accepts cell (\(r), \(c)) published as \(forgedCells[r][c]!), which the method never publishes", describe(input))
    }
    return 0
}

let label = "heiw.workforce.headcount"
let agreement = "HEIW-WALES-2025-01"

/// The one call that makes an aggregate.
func aggregate(payload: [String: Any], minCellSize: Int, rounding: Int) throws -> [String: Any] {
    try DatasetAggregate.make(rows: payload, label: label, minCellSize: minCellSize, rounding: rounding, agreement: agreement)
}

/// The method as docs/agreements.md states it, cell by cell.
struct Model {
    /// The minimum applied: the agreement's, but at least 2.
    let minimum: Int
    let base: Int
    static let maxCount = 1_000_000_000

    init(minCellSize: Int, rounding: Int) {
        minimum = max(minCellSize, 2)
        base = rounding
    }

    /// Half up: a remainder of half the base or more rounds up (base 5: 0–2 down, 3–4 up).
    func rounded(_ count: Int) -> Int {
        let remainder = count % base
        return count - remainder + (2 * remainder >= base ? base : 0)
    }

    /// How many true counts the method would publish as `value` (counts from the minimum to
    /// `maxCount` whose rounded value it is), by the bounds of its rounding bucket.
    func countsShownAs(_ value: Int) -> Int {
        guard value > 0, value % base == 0 else { return 0 }
        let firstUp = (base + 1) / 2  // the smallest remainder that rounds up
        let low = max(minimum, value - base + firstUp), high = min(Self.maxCount, value + firstUp - 1)
        return max(0, high - low + 1)
    }

    /// What is published of a true count: nil (hidden) or its rounded value.
    func publish(_ count: Int) -> Int? {
        guard count >= minimum else { return nil }
        let value = rounded(count)
        return value > 0 && countsShownAs(value) >= 2 ? value : nil
    }
}

/// The rows cross-tabulated independently of DatasetAggregate, as docs/agreements.md describes:
/// by the first row's first two text fields in name order (`count` and `note` excepted), a
/// missing field reading as "all"; whole counts from 0 to 10^9 (JSON `true` is not 1), a cell's
/// counts adding up to 10^9 at most, at most 100,000 rows, 1,000 labels per dimension and
/// 10,000 cells.
struct Table {
    let rowLabels: [String]
    let columnLabels: [String]
    let cells: [[Int]]

    static func tabulate(_ payload: [String: Any]) -> Result<Table, Refusal> {
        guard let list = payload["rows"] as? [Any], !list.isEmpty else { return .failure(Refusal("no rows")) }
        guard list.count <= 100_000 else { return .failure(Refusal("too many rows")) }
        var rows: [([String: Any], Int)] = []
        for item in list {
            guard let row = item as? [String: Any] else { return .failure(Refusal("a row is not an object")) }
            // Whole-number reading (JSON true, 1.5, "1" refused) is DatasetAggregate's own; the
            // method is what is checked here.
            guard let count = DatasetAggregate.wholeNumber(row["count"]), (0...Model.maxCount).contains(count) else {
                return .failure(Refusal("a count is not a whole number from 0 to 10^9"))
            }
            rows.append((row, count))
        }
        let first = rows[0].0
        let dimensions = first.keys.filter { $0 != "count" && $0 != "note" && first[$0] is String }.sorted().prefix(2)
        let rowKey = dimensions.first, columnKey = dimensions.dropFirst().first
        func value(_ row: [String: Any], _ key: String?) -> String { key.flatMap { row[$0] as? String } ?? "all" }
        let rowLabels = Set(rows.map { value($0.0, rowKey) }).sorted()
        let columnLabels = Set(rows.map { value($0.0, columnKey) }).sorted()
        guard rowLabels.count <= 1_000, columnLabels.count <= 1_000 else { return .failure(Refusal("too many labels")) }
        guard rowLabels.count * columnLabels.count <= 10_000 else { return .failure(Refusal("too many cells")) }
        let rowIndex = Dictionary(uniqueKeysWithValues: rowLabels.enumerated().map { ($1, $0) })
        let columnIndex = Dictionary(uniqueKeysWithValues: columnLabels.enumerated().map { ($1, $0) })
        var cells = Array(repeating: Array(repeating: 0, count: columnLabels.count), count: rowLabels.count)
        for (row, count) in rows {
            let r = rowIndex[value(row, rowKey)]!, c = columnIndex[value(row, columnKey)]!
            cells[r][c] += count
            guard cells[r][c] <= Model.maxCount else { return .failure(Refusal("a cell's counts add up beyond 10^9")) }
        }
        return .success(Table(rowLabels: rowLabels, columnLabels: columnLabels, cells: cells))
    }

    struct Refusal: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
