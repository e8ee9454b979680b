/// Calendar dates (`YYYY-MM-DD`) and reporting periods (`2025`, `2025-Q2`, `2025-03`).
public enum PlanDate {
    public static func isValid(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }), parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1900...2999).contains(year), (1...12).contains(month), day >= 1 else { return false }
        return day <= days(year: year, month: month)
    }

    /// The date `days` after (before, when negative) the valid date `text`, as YYYY-MM-DD; nil
    /// when `text` is not a valid date. Days from and to a civil date by Howard Hinnant's
    /// algorithm (years 1900–2999 in, a few either side out).
    public static func adding(days: Int, to text: String) -> String? {
        guard isValid(text) else { return nil }
        let parts = text.split(separator: "-").map { Int($0)! }
        let y = parts[1] <= 2 ? parts[0] - 1 : parts[0], m = parts[1], d = parts[2]
        let era = y / 400, yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let z = era * 146_097 + doe + days
        let era2 = z / 146_097, doe2 = z - era2 * 146_097
        let yoe2 = (doe2 - doe2 / 1460 + doe2 / 36_524 - doe2 / 146_096) / 365
        let doy2 = doe2 - (365 * yoe2 + yoe2 / 4 - yoe2 / 100)
        let mp = (5 * doy2 + 2) / 153
        let day = doy2 - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe2 + era2 * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(value).count)) + String(value) }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// The days of `month` (1–12) of `year`, leap years counted.
    static func days(year: Int, month: Int) -> Int {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    }
}

/// A reporting period: a year, a quarter of a year or a month.
public struct Period: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Granularity: String, Sendable {
        case year, quarter, month
        var rank: Int {
            switch self {
            case .month: return 0
            case .quarter: return 1
            case .year: return 2
            }
        }
    }
    public let year: Int
    public let granularity: Granularity
    /// The quarter (1–4) or month (1–12); 0 for a year.
    public let number: Int

    /// `YYYY`, `YYYY-Qq` or `YYYY-MM`, ASCII digits, years 1900–2999. Read as bytes: every
    /// node's fold parses every reading's period (twice, with the append's checks).
    public init?(_ text: String) {
        let count = text.utf8.count
        guard count == 4 || count == 7 else { return nil }
        let b = Array(text.utf8)
        func digit(_ i: Int) -> Int? { b[i] >= 0x30 && b[i] <= 0x39 ? Int(b[i] - 0x30) : nil }
        guard let d0 = digit(0), let d1 = digit(1), let d2 = digit(2), let d3 = digit(3) else { return nil }
        let year = d0 * 1000 + d1 * 100 + d2 * 10 + d3
        guard (1900...2999).contains(year) else { return nil }
        self.year = year
        if count == 4 {
            granularity = .year
            number = 0
        } else if b[4] == UInt8(ascii: "-"), b[5] == UInt8(ascii: "Q"), let q = digit(6), (1...4).contains(q) {
            granularity = .quarter
            number = q
        } else if b[4] == UInt8(ascii: "-"), let m1 = digit(5), let m2 = digit(6), (1...12).contains(m1 * 10 + m2) {
            granularity = .month
            number = m1 * 10 + m2
        } else {
            return nil
        }
    }

    /// A whole year.
    public init(year: Int) {
        self.year = year
        granularity = .year
        number = 0
    }

    /// A quarter (1–4) of a year.
    public init(year: Int, quarter: Int) {
        self.year = year
        granularity = .quarter
        number = quarter
    }

    /// A month (1–12) of a year.
    public init(year: Int, month: Int) {
        self.year = year
        granularity = .month
        number = month
    }

    public var description: String {
        switch granularity {
        case .year: return String(year)
        case .quarter: return "\(year)-Q\(number)"
        case .month: return "\(year)-\(number < 10 ? "0" : "")\(number)"
        }
    }

    /// The first day the period covers, as YYYY-MM-DD.
    public var firstDay: String {
        let month = granularity == .quarter ? number * 3 - 2 : max(number, 1)
        return "\(year)-\(month < 10 ? "0" : "")\(month)-01"
    }

    /// The last day the period covers, as YYYY-MM-DD.
    public var lastDay: String {
        let month = endMonth
        return "\(year)-\(month < 10 ? "0" : "")\(month)-\(PlanDate.days(year: year, month: month))"
    }

    /// The last month the period covers (1–12).
    public var endMonth: Int {
        switch granularity {
        case .year: return 12
        case .quarter: return number * 3
        case .month: return number
        }
    }

    /// Orders by when the period ends, and among periods ending together the shorter first
    /// (2025-03, 2025-Q1, ..., 2025-12, 2025-Q4, 2025): so the latest is the one that ends last,
    /// and a year comes after its own quarters and months.
    public static func < (a: Period, b: Period) -> Bool {
        (a.year, a.endMonth, a.granularity.rank) < (b.year, b.endMonth, b.granularity.rank)
    }
}
