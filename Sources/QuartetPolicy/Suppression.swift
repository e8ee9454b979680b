import Foundation

/// Small-cell suppression for published counts (statistical disclosure control).
///
/// A table of counts is published with its row and column totals. Primary suppression hides
/// every count from 1 to `minCellSize - 1` (zero is shown). Secondary suppression then hides
/// more cells wherever a hidden cell could be recovered by subtraction: in any row or column
/// with exactly one hidden cell, the smallest other non-zero visible cell is hidden too,
/// repeated until no row or column has exactly one. If a row or column has a single hidden cell
/// and nothing else to hide, its total is hidden instead.
public enum Suppression {
    public struct Result: Sendable, Equatable {
        /// The cells, nil where suppressed.
        public var cells: [[Int?]]
        public var rowTotals: [Int?]
        public var columnTotals: [Int?]
        /// Cells hidden because they were small, and because they could have revealed one.
        public var primary: Int
        public var secondary: Int
    }

    public static func suppress(_ table: [[Int]], minCellSize: Int) -> Result {
        let rows = table.count
        let columns = table.map(\.count).max() ?? 0
        var cells: [[Int?]] = table.map { row in (0..<columns).map { $0 < row.count ? row[$0] : 0 } }
        var hidden = Array(repeating: Array(repeating: false, count: columns), count: rows)
        var primary = 0
        for r in 0..<rows {
            for c in 0..<columns where (cells[r][c] ?? 0) > 0 && (cells[r][c] ?? 0) < minCellSize {
                hidden[r][c] = true
                primary += 1
            }
        }
        var rowTotalHidden = Array(repeating: false, count: rows)
        var columnTotalHidden = Array(repeating: false, count: columns)
        var secondary = 0
        var changed = true
        while changed {
            changed = false
            for r in 0..<rows where !rowTotalHidden[r] && hidden[r].filter({ $0 }).count == 1 {
                let candidates = (0..<columns).filter { !hidden[r][$0] && (table[r].indices.contains($0) ? table[r][$0] : 0) > 0 }
                if let c = candidates.min(by: { table[r][$0] < table[r][$1] }) {
                    hidden[r][c] = true
                    secondary += 1
                } else {
                    rowTotalHidden[r] = true
                }
                changed = true
            }
            for c in 0..<columns where !columnTotalHidden[c] && (0..<rows).filter({ hidden[$0][c] }).count == 1 {
                let candidates = (0..<rows).filter { !hidden[$0][c] && (table[$0].indices.contains(c) ? table[$0][c] : 0) > 0 }
                if let r = candidates.min(by: { table[$0][c] < table[$1][c] }) {
                    hidden[r][c] = true
                    secondary += 1
                } else {
                    columnTotalHidden[c] = true
                }
                changed = true
            }
        }
        for r in 0..<rows { for c in 0..<columns where hidden[r][c] { cells[r][c] = nil } }
        let rowTotals: [Int?] = (0..<rows).map { rowTotalHidden[$0] ? nil : table[$0].reduce(0, +) }
        let columnTotals: [Int?] = (0..<columns).map { c in
            columnTotalHidden[c] ? nil : table.reduce(0) { $0 + ($1.indices.contains(c) ? $1[c] : 0) }
        }
        return Result(cells: cells, rowTotals: rowTotals, columnTotals: columnTotals, primary: primary, secondary: secondary)
    }
}

/// Derives the published aggregate of a restricted dataset: the rows' `count`s cross-tabulated
/// by their first two text fields (sorted by name; `note` is not a dimension) with small-cell
/// and secondary suppression. The result is the payload of a `dataset.aggregate` entry.
public enum DatasetAggregate {
    public static func make(rows payload: [String: Any], label: String, minCellSize: Int, agreement: String) throws(PolicyError) -> [String: Any] {
        guard let rows = payload["rows"] as? [[String: Any]], !rows.isEmpty else {
            throw PolicyError("payload.rows: expected a non-empty array of objects, each with a whole-number count")
        }
        var dimensions: [String] = []
        for (i, row) in rows.enumerated() {
            guard let count = row["count"] as? Int, count >= 0 else { throw PolicyError("payload.rows[\(i)].count: expected a whole number of at least 0") }
            _ = count
            let keys = row.keys.filter { $0 != "count" && $0 != "note" && row[$0] is String }.sorted()
            if i == 0 { dimensions = Array(keys.prefix(2)) }
        }
        let rowKey = dimensions.first, columnKey = dimensions.count > 1 ? dimensions[1] : nil
        func value(_ row: [String: Any], _ key: String?) -> String { key.flatMap { row[$0] as? String } ?? "all" }
        let rowLabels = Array(Set(rows.map { value($0, rowKey) })).sorted()
        let columnLabels = Array(Set(rows.map { value($0, columnKey) })).sorted()
        var table = Array(repeating: Array(repeating: 0, count: columnLabels.count), count: rowLabels.count)
        for row in rows {
            let r = rowLabels.firstIndex(of: value(row, rowKey))!
            let c = columnLabels.firstIndex(of: value(row, columnKey))!
            table[r][c] += row["count"] as! Int
        }
        let result = Suppression.suppress(table, minCellSize: minCellSize)
        var out: [String: Any] = [
            "label": label, "agreement": agreement, "min_cell_size": minCellSize,
            "rows": ["name": rowKey ?? "all", "labels": rowLabels], "columns": ["name": columnKey ?? "all", "labels": columnLabels],
            "cells": result.cells.map { $0.map { $0.map { $0 as Any } ?? NSNull() } },
            "row_totals": result.rowTotals.map { $0.map { $0 as Any } ?? NSNull() },
            "column_totals": result.columnTotals.map { $0.map { $0 as Any } ?? NSNull() },
            "suppressed": ["primary": result.primary, "secondary": result.secondary],
        ]
        for key in ["dataset", "period"] { if let v = payload[key] as? String { out[key] = v } }
        return out
    }
}
