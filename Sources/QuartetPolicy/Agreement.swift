import QuartetLedger

/// Why an agreement, a revocation or a policy question was refused: the message names the line
/// or field and what was expected.
public struct PolicyError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a recipient may receive of data under a label.
public enum Access: String, Sendable, Comparable, CaseIterable {
    /// Nothing: stubs only.
    case none
    /// Derived aggregate entries with small counts suppressed, never the rows.
    case aggregate
    /// The entries themselves.
    case full

    var rank: Int {
        switch self {
        case .none: return 0
        case .aggregate: return 1
        case .full: return 2
        }
    }
    public static func < (a: Access, b: Access) -> Bool { a.rank < b.rank }
}

/// A data-sharing agreement: who owns the data, which node holds it, which labels it covers,
/// what each recipient node may receive, why, when, and how its counts may be published (the
/// smallest count, and the base published counts are rounded to). Its text is a C2SP signed note
/// countersigned by the data owner's key (docs/agreements.md); the holder appends it to its own
/// log as `agreement.established`.
public struct Agreement: Sendable, Equatable {
    public var id: String
    public var owner: String
    public var holder: String
    public var labels: [String]
    public var recipients: [String: Access]
    public var purpose: String
    /// Milliseconds since the Unix epoch, UTC; in force from `validFrom` (inclusive) until
    /// `validUntil` (exclusive).
    public var validFrom: UInt64
    public var validUntil: UInt64
    /// The smallest count an aggregate may publish (`Suppression`).
    public var minCellSize: Int
    /// The base an aggregate's published counts are rounded to (`Suppression`); 5 unless the
    /// text has a `rounding` line.
    public var rounding: Int

    public init(id: String, owner: String, holder: String, labels: [String], recipients: [String: Access], purpose: String,
                validFrom: UInt64, validUntil: UInt64, minCellSize: Int, rounding: Int = Suppression.defaultRounding) {
        self.id = id
        self.owner = owner
        self.holder = holder
        self.labels = labels
        self.recipients = recipients
        self.purpose = purpose
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.minCellSize = minCellSize
        self.rounding = rounding
    }

    static let header = "quartet-agreement v1"

    /// The note text the owner signs: one `key value` line per field, recipients and labels
    /// sorted, ending in a newline. `rounding` is written only when it is not the default 5, so
    /// agreements signed before it existed keep their text and signature.
    public var text: String {
        var lines = [Self.header, "id \(id)", "owner \(owner)", "holder \(holder)"]
        lines += labels.sorted().map { "label \($0)" }
        lines += recipients.keys.sorted().map { "recipient \($0) \(recipients[$0]!.rawValue)" }
        lines += ["purpose \(purpose)", "valid-from \(Timestamp.format(validFrom))", "valid-until \(Timestamp.format(validUntil))",
                  "min-cell-size \(minCellSize)"]
        if rounding != Suppression.defaultRounding { lines.append("rounding \(rounding)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses note text, refusing anything `text` would not produce, naming the line.
    public init(text: String) throws(PolicyError) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard lines.last == "" else { throw PolicyError("agreement: the text must end with a newline") }
        lines.removeLast()
        guard lines.first == Self.header else { throw PolicyError("agreement line 1: expected \"\(Self.header)\"") }
        var fields: [(key: String, value: String, line: Int)] = []
        for (i, line) in lines.enumerated().dropFirst() {
            guard let space = line.firstIndex(of: " "), space != line.startIndex else {
                throw PolicyError("agreement line \(i + 1): expected \"key value\", got \"\(line)\"")
            }
            fields.append((String(line[..<space]), String(line[line.index(after: space)...]), i + 1))
        }
        func one(_ key: String) throws(PolicyError) -> (String, Int) {
            let found = fields.filter { $0.key == key }
            guard found.count == 1 else { throw PolicyError("agreement: expected exactly one \"\(key)\" line, found \(found.count)") }
            return (found[0].value, found[0].line)
        }
        let known: Set<String> = ["id", "owner", "holder", "label", "recipient", "purpose", "valid-from", "valid-until", "min-cell-size", "rounding"]
        if let unknown = fields.first(where: { !known.contains($0.key) }) {
            throw PolicyError("agreement line \(unknown.line): unknown field \"\(unknown.key)\"")
        }
        let (id, idLine) = try one("id")
        guard Names.isLabel(id) else { throw PolicyError("agreement line \(idLine): id \"\(id)\" may hold only A-Z a-z 0-9 . - _ (1–64)") }
        let (owner, ownerLine) = try one("owner")
        guard Names.isOwner(owner) else { throw PolicyError("agreement line \(ownerLine): owner \"\(owner)\" may hold only A-Z 0-9 - (1–64)") }
        let (holder, holderLine) = try one("holder")
        guard Names.isNode(holder) else { throw PolicyError("agreement line \(holderLine): holder \"\(holder)\" is not a node id") }
        var labels: [String] = []
        for f in fields where f.key == "label" {
            guard Names.isClassification(f.value), f.value != "public" else {
                throw PolicyError("agreement line \(f.line): label \"\(f.value)\" must be a classification other than public (a-z 0-9 . - _ :)")
            }
            labels.append(f.value)
        }
        guard !labels.isEmpty else { throw PolicyError("agreement: expected at least one \"label\" line") }
        var recipients: [String: Access] = [:]
        for f in fields where f.key == "recipient" {
            let parts = f.value.split(separator: " ").map(String.init)
            guard parts.count == 2, Names.isNode(parts[0]), let access = Access(rawValue: parts[1]) else {
                throw PolicyError("agreement line \(f.line): expected \"recipient <node> full|aggregate|none\", got \"recipient \(f.value)\"")
            }
            guard recipients[parts[0]] == nil else { throw PolicyError("agreement line \(f.line): recipient \(parts[0]) is listed twice") }
            guard parts[0] != holder else { throw PolicyError("agreement line \(f.line): the holder \(holder) is not a recipient of its own data") }
            recipients[parts[0]] = access
        }
        let (purpose, _) = try one("purpose")
        let (fromText, fromLine) = try one("valid-from")
        guard let from = Timestamp.parse(fromText) else { throw PolicyError("agreement line \(fromLine): expected a UTC time like 2025-01-01T00:00:00Z, got \"\(fromText)\"") }
        let (untilText, untilLine) = try one("valid-until")
        guard let until = Timestamp.parse(untilText) else { throw PolicyError("agreement line \(untilLine): expected a UTC time like 2026-12-31T23:59:59Z, got \"\(untilText)\"") }
        guard until > from else { throw PolicyError("agreement line \(untilLine): valid-until is not after valid-from") }
        let (cellText, cellLine) = try one("min-cell-size")
        let cellRange = Suppression.minCellSizeRange
        guard let cell = Self.number(cellText), cellRange.contains(cell) else {
            throw PolicyError("agreement line \(cellLine): min-cell-size must be \(cellRange.lowerBound) to \(cellRange.upperBound), got \"\(cellText)\"")
        }
        var rounding = Suppression.defaultRounding
        let roundingLines = fields.filter { $0.key == "rounding" }
        if let f = roundingLines.first {
            guard roundingLines.count == 1 else { throw PolicyError("agreement line \(roundingLines[1].line): expected at most one \"rounding\" line") }
            let range = Suppression.roundingRange
            guard let value = Self.number(f.value), range.contains(value) else {
                throw PolicyError("agreement line \(f.line): rounding must be \(range.lowerBound) to \(range.upperBound), got \"\(f.value)\"")
            }
            guard value != Suppression.defaultRounding else {
                throw PolicyError("agreement line \(f.line): rounding \(value) is the default: leave the line out")
            }
            guard f.line == cellLine + 1 else { throw PolicyError("agreement line \(f.line): rounding must come right after min-cell-size") }
            rounding = value
        }
        self.init(id: id, owner: owner, holder: holder, labels: labels, recipients: recipients, purpose: purpose,
                  validFrom: from, validUntil: until, minCellSize: cell, rounding: rounding)
        // One text per agreement: refuse orderings or spellings `text` would not produce.
        guard self.text == text else { throw PolicyError("agreement: lines must be in the documented order (labels and recipients sorted)") }
    }

    /// Whether the agreement is in force at `time` (it may still have been revoked).
    public func isValid(at time: UInt64) -> Bool { time >= validFrom && time < validUntil }

    /// Digits only, no sign or leading zero, at most 9 of them: the one spelling `text` writes.
    static func number(_ text: String) -> Int? {
        let u = Array(text.utf8)
        guard (1...9).contains(u.count), u.allSatisfy({ $0 >= 48 && $0 <= 57 }), u.count == 1 || u[0] != 48 else { return nil }
        return u.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    /// The agreement whose method an aggregate follows when several in force cover its label:
    /// the largest minimum cell size, then the largest rounding base, then the first id. The
    /// same on every node, so an aggregate can be checked against the agreement it names.
    public static func governing(_ agreements: [Agreement]) -> Agreement? {
        agreements.min { a, b in
            if a.minCellSize != b.minCellSize { return a.minCellSize > b.minCellSize }
            if a.rounding != b.rounding { return a.rounding > b.rounding }
            return a.id < b.id
        }
    }
}

/// Names used by agreements.
public enum Names {
    static func chars(_ s: String, _ allowed: (UInt8) -> Bool, max: Int = 64) -> Bool {
        !s.isEmpty && s.utf8.count <= max && s.utf8.allSatisfy(allowed)
    }
    static func isLower(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
    public static func isNode(_ s: String) -> Bool { chars(s) { isLower($0) || $0 == 45 } && s.first != "-" }
    public static func isOwner(_ s: String) -> Bool { chars(s) { ($0 >= 65 && $0 <= 90) || ($0 >= 48 && $0 <= 57) || $0 == 45 } }
    public static func isLabel(_ s: String) -> Bool {
        chars(s) { isLower($0) || ($0 >= 65 && $0 <= 90) || $0 == 45 || $0 == 46 || $0 == 95 }
    }
    public static func isClassification(_ s: String) -> Bool {
        chars(s) { isLower($0) || $0 == 45 || $0 == 46 || $0 == 95 || $0 == 58 } && s.first.map { $0.isLetter || $0.isNumber } == true
    }
}

/// UTC times as `YYYY-MM-DDTHH:MM:SSZ`, to the second.
public enum Timestamp {
    public static func parse(_ text: String) -> UInt64? {
        let u = Array(text.utf8)
        guard u.count == 20, u[4] == 45, u[7] == 45, u[10] == 84, u[13] == 58, u[16] == 58, u[19] == 90 else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            guard u[r].allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            return u[r].reduce(0) { $0 * 10 + Int($1 - 48) }
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16), let s = num(17..<19),
              (1970...9999).contains(y), (1...12).contains(mo), (1...days(y, mo)).contains(d), h < 24, mi < 60, s < 60 else { return nil }
        return UInt64(daysFromEpoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000
    }

    /// The last second this form can write (9999-12-31T23:59:59Z).
    public static let maxMillis: UInt64 = 253_402_300_799_000

    /// Formats a time in constant time (times come from entries a writer chose: a year loop
    /// over 2^64 ms would spin for seconds). Times past `maxMillis` are written as `maxMillis`.
    public static func format(_ millis: UInt64) -> String {
        let seconds = Int(min(millis, maxMillis) / 1000)
        let rest = seconds % 86400
        // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
        let z = seconds / 86400 + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let mo = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (mo <= 2 ? 1 : 0)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(mo))-\(two(d))T\(two(rest / 3600)):\(two(rest % 3600 / 60)):\(two(rest % 60))Z"
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }
    static func days(_ y: Int, _ m: Int) -> Int { [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1] }
    static func daysFromEpoch(_ y: Int, _ m: Int, _ d: Int) -> Int {
        var days = 0
        for year in 1970..<y { days += isLeap(year) ? 366 : 365 }
        for month in 1..<m { days += Self.days(y, month) }
        return days + d - 1
    }
}
