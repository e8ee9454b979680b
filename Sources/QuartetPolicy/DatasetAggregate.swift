import Foundation

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
