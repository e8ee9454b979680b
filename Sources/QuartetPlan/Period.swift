/// Calendar dates (`YYYY-MM-DD`) and reporting periods (`2025`, `2025-Q2`, `2025-03`).
public enum PlanDate {
    public static func isValid(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }), parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1900...2999).contains(year), (1...12).contains(month), day >= 1 else { return false }
        return day <= days(year: year, month: month)
    }

    /// The civil date `days` after 1970-01-01 (Howard Hinnant's algorithm; days ≥ -719,468).
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = z / 146_097, doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, doy - (153 * mp + 2) / 5 + 1)
    }

    /// `value` in decimal, zero-padded to `width` digits.
    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
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
