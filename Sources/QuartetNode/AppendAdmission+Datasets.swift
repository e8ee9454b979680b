import Foundation
import QuartetLedger
import QuartetPlan
import QuartetPolicy
import QuartetReplication

/// Restricted rows set against the tables the holder already published (disclosure control
/// across tables, docs/agreements.md "Across tables"): the checks `AppendAdmission` makes of a
/// `dataset.rows` request before its aggregate is appended.
extension AppendAdmission {
    /// The days a dataset's `period` covers: a date (`YYYY-MM-DD`, a count on that day) or a
    /// reporting period (`YYYY`, `YYYY-Qn`, `YYYY-MM`, a count over it). Nil for anything else.
    struct DatasetPeriod: Equatable {
        /// Whether it is a day (a stock) or a span (a flow): the two do not add up to each other.
        let isDay: Bool
        /// The first and last days, YYYY-MM-DD (ordered as text).
        let first: String, last: String

        init?(_ text: String) {
            if PlanDate.isValid(text) {
                (isDay, first, last) = (true, text, text)
            } else if let period = Period(text) {
                (isDay, first, last) = (false, period.firstDay, period.lastDay)
            } else {
                return nil
            }
        }

        func overlaps(_ other: DatasetPeriod) -> Bool { first <= other.last && other.first <= last }
    }

    /// Names compared by their letters and digits alone, case folded, in their compatibility
    /// forms and with their accents and invisible characters taken off ("OT headcount",
    /// "ot-headcount", "ＯＴ headcount" and "OT head\u{34F}count" are one dataset to a reader
    /// setting tables side by side; finding 283).
    static func datasetKey(_ name: String) -> String {
        // (ASCII is its own compatibility form: not normalised.)
        let source = name.utf8.allSatisfy { $0 < 0x80 } ? name : name.decomposedStringWithCompatibilityMapping
        let folded = source.lowercased().unicodeScalars.filter { scalar in
            !isMark(scalar) && !scalar.properties.isDefaultIgnorableCodePoint && CharacterSet.alphanumerics.contains(scalar)
        }
        return String(String.UnicodeScalarView(folded))
    }

    /// A dataset's name at most (Unicode scalars): it is folded for every table the holder
    /// published, at every append of rows, and compatibility forms expand up to 18 times.
    static let maxDatasetName = 200

    static func isMark(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: true
        default: false
        }
    }

    /// Why `name` cannot name a dataset: its letters and digits only of the Latin alphabet
    /// (letters may carry accents) and 0-9, so that a name that looks like another through
    /// accents, widths, invisible characters or another alphabet is the other (`datasetKey`)
    /// — letters drawn alike within ASCII (I and l, O and 0) stay apart: a Cyrillic "о" or an
    /// invisible character would make a second dataset of the same staff that reads the same on every page and in every audit, its
    /// tables then set beside the first's with nothing compared (finding 283).
    static func datasetNameProblem(_ name: String) -> String? {
        let length = name.unicodeScalars.count
        guard length <= maxDatasetName else { return "at most \(maxDatasetName) characters (Unicode scalars), got \(length)" }
        if let problem = ShownText.unclearName(name) { return problem }
        for (offset, scalar) in name.decomposedStringWithCompatibilityMapping.unicodeScalars.enumerated() {
            // Letters and digits are the name (`datasetKey`); punctuation and spaces are not.
            if isMark(scalar) || !CharacterSet.alphanumerics.contains(scalar) { continue }
            switch scalar.value {
            // ASCII, the letters of Latin-1 and Latin Extended-A (Welsh ŵ and ŷ among them;
            // most others decompose to ASCII and accents) but the dotless i.
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x130, 0x132...0x17F: continue
            default:
                return "U+\(String(scalar.value, radix: 16, uppercase: true)) (character \(offset + 1) of its compatibility form) is not a Latin letter or a digit 0-9: a dataset's name is written in Latin letters (accents allowed) and digits, so that one that looks like another is the other"
            }
        }
        return nil
    }

    /// Why rows under restricted `label` cannot be published beside the tables this holder
    /// already published of the same dataset under it (`held`: aggregate payloads), nil if they
    /// can. Within one table every total is a sum of published cells; across two tables of the
    /// same people at two levels of detail the coarser cell is the rounded true sum of the finer
    /// ones, which bounds — and can pin — what each hides (a 30 over four hidden quarters at
    /// minimum 8, base 5: each exactly 7). So the rows must name their dataset and period (the
    /// period a date or a reporting period), a period may not overlap another of the dataset's
    /// unless it is the same one (a table recorded again), days and spans are not mixed, and the
    /// two dimensions keep their names, each table's labels a subset or superset of the others'
    /// (a board with nobody that quarter may be missing; `8b+` beside `8b`, `8c`, `8d` is a
    /// regrouping, refused). docs/agreements.md, "Across tables".
    static func layoutConflict(rows: [String: Any], label: String, held: [JSONValue]) -> String? {
        guard let dataset = rows["dataset"] as? String, !datasetKey(dataset).isEmpty, let period = rows["period"] as? String else {
            return "payload: rows under a restricted label must name their \"dataset\" and \"period\" (each table of a dataset is set against its others: docs/agreements.md)"
        }
        if let problem = datasetNameProblem(dataset) { return "payload.dataset: \(problem)" }
        guard let mine = DatasetPeriod(period) else {
            return "payload.period: expected YYYY, YYYY-Qn or YYYY-MM (a count over that period) or YYYY-MM-DD (a count on that day), got \(PeerText.clean(period, limit: 40))"
        }
        // The table's dimensions are the first row's first two text fields (`DatasetAggregate`);
        // a later row without one would be counted under "all", a group beside its parts.
        var layout: (row: String, column: String, rowLabels: Set<String>, columnLabels: Set<String>)?
        if let list = rows["rows"] as? [Any], let first = list.first as? [String: Any] {
            let keys = Array(first.keys.filter { $0 != "count" && $0 != "note" && first[$0] is String }.sorted().prefix(2))
            var rowLabels = Set<String>(), columnLabels = Set<String>()
            for key in keys {
                if let problem = ShownText.unclearName(key) { return "payload.rows[0] (a dimension's name): \(problem)" }
            }
            for (i, item) in list.enumerated() {
                guard let row = item as? [String: Any] else { continue }
                if let missing = keys.first(where: { !(row[$0] is String) }) {
                    return "payload.rows[\(i)]: no text \"\(missing)\", which the first row has (each row names the table's dimensions)"
                }
                for key in keys {
                    if let problem = ShownText.unclearName(row[key] as? String ?? "") { return "payload.rows[\(i)].\(key): \(problem)" }
                }
                rowLabels.insert(keys.first.flatMap { row[$0] as? String } ?? "all")
                columnLabels.insert(keys.count > 1 ? row[keys[1]] as? String ?? "all" : "all")
            }
            layout = (keys.first ?? "all", keys.count > 1 ? keys[1] : "all", rowLabels, columnLabels)
        }
        let key = datasetKey(dataset)
        // (Named in refusals as given, cut short: the request's own text, up to a payload long.)
        let shown = PeerText.clean(dataset, limit: 80)
        for payload in held {
            guard case .object(let fields) = payload, case .string(let heldLabel)? = fields["label"], heldLabel == label,
                  case .string(let heldDataset)? = fields["dataset"], datasetKey(heldDataset) == key else { continue }
            // A table of the dataset recorded before periods were read (none, or free text):
            // this node cannot place it, so only that period again goes beside it.
            let heldPeriod: String? = if case .string(let text)? = fields["period"] { text } else { nil }
            if let heldPeriod, let theirs = DatasetPeriod(heldPeriod) {
                if theirs.isDay != mine.isDay {
                    return "payload.period: \(period) is \(mine.isDay ? "a day" : "a period"), and dataset \(shown) has tables of \(theirs.isDay ? "days" : "periods") under \(label) (\(heldPeriod)); record it as another dataset"
                }
                if theirs != mine, theirs.overlaps(mine) {
                    return "payload.period: \(period) overlaps \(heldPeriod), of which dataset \(shown) has a table under \(label): a reader setting the two side by side bounds, and can pin, the cells each hides; "
                        + "publish periods that do not overlap (a longer period's figures as sums of the published shorter ones), or under another label with its owner's agreement (docs/agreements.md)"
                }
            } else if heldPeriod != period {
                return "payload.period: dataset \(shown) has a table under \(label) whose period this node cannot place (\(PeerText.clean(heldPeriod ?? "none", limit: 40)), recorded before periods were read); "
                    + "record this one under another dataset name (docs/agreements.md)"
            }
            guard let layout, case .object(let heldRows)? = fields["rows"], case .object(let heldColumns)? = fields["columns"],
                  case .string(let rowName)? = heldRows["name"], case .string(let columnName)? = heldColumns["name"],
                  case .array(let rowList)? = heldRows["labels"], case .array(let columnList)? = heldColumns["labels"] else { continue }
            if rowName != layout.row || columnName != layout.column {
                return "payload.rows: dataset \(shown) under \(label) is a table of \(rowName) × \(columnName); these rows make one of \(layout.row) × \(layout.column): "
                    + "a reader setting the two side by side bounds, and can pin, the cells each hides; keep its dimensions, or record it as another dataset under another label (docs/agreements.md)"
            }
            for (name, theirs, mine) in [(rowName, rowList, layout.rowLabels), (columnName, columnList, layout.columnLabels)] {
                let heldSet = Set(theirs.compactMap { value -> String? in if case .string(let s) = value { return s }; return nil })
                if !heldSet.isSubset(of: mine) && !mine.isSubset(of: heldSet) {
                    let new = mine.subtracting(heldSet).sorted().prefix(3).joined(separator: ", ")
                    return "payload.rows: the \(name) values \(new) regroup those of dataset \(shown)'s table under \(label) (\(heldSet.sorted().prefix(6).joined(separator: ", "))…): "
                        + "a reader setting the two side by side bounds, and can pin, the cells each hides; keep its groups (a group's figure as the sum of its published parts), or record it as another dataset under another label (docs/agreements.md)"
                }
            }
        }
        return nil
    }

    /// Why rows of a `dataset` and `period` this holder already published a table of under
    /// another label (an owner's retirement has the holder record its data again under the
    /// successor's labels; one dataset recorded under two labels of one owner) cannot be
    /// published under `label` with `method`: the two methods do not protect jointly, and a
    /// reader who kept the first table could pin counts from the two (a 9 hidden at minimum 10
    /// and shown as 12 at base 6). The joint-method rule is per label (`Policy.methodConflict`);
    /// this is the same rule across labels, for one dataset. Nil: no conflict (or the rows name
    /// no dataset and period).
    static func sameDatasetConflict(rows: [String: Any], label: String, method: (minCellSize: Int, rounding: Int), held: [JSONValue]) -> String? {
        guard let dataset = rows["dataset"] as? String, let period = rows["period"] as? String,
              let mine = try? Suppression.Method(minCellSize: method.minCellSize, rounding: method.rounding) else { return nil }
        let key = Self.datasetKey
        let datasetKey = key(dataset), periodKey = key(period), days = DatasetPeriod(period)
        // One period, or (both read as days) periods that overlap: a quarter and its year are
        // two views of the same counts too.
        func samePeriod(_ held: String) -> Bool {
            if let days, let theirs = DatasetPeriod(held) { return days.isDay == theirs.isDay && days.overlaps(theirs) }
            return key(held) == periodKey
        }
        for payload in held {
            guard case .object(let fields) = payload, case .string(let heldDataset)? = fields["dataset"], key(heldDataset) == datasetKey,
                  case .string(let heldPeriod)? = fields["period"], samePeriod(heldPeriod),
                  case .string(let other)? = fields["label"], other != label,
                  case .object(let used)? = fields["method"], case .number(let minimum)? = used["min_cell_size"], case .number(let base)? = used["rounding"],
                  let m = Int(exactly: minimum), let r = Int(exactly: base),
                  let theirs = try? Suppression.Method(minCellSize: m, rounding: r), !mine.jointlyProtects(with: theirs) else { continue }
            return "payload: dataset \(dataset) for \(period) was published under \(other) with min-cell-size \(m), rounding \(r); "
                + "under \(label) its agreement's method (min-cell-size \(method.minCellSize), rounding \(method.rounding)) would let a reader who kept both tables "
                + "pin counts each hides; record it under an agreement with the same method, or one that protects jointly with it (docs/agreements.md)"
        }
        return nil
    }
}
