import Foundation

/// A JSON value as parsed, with booleans, numbers and strings kept apart (Foundation's
/// `JSONSerialization` blurs booleans and numbers on Linux), so validation can say exactly what
/// a field held.
public enum JSONValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value == value.rounded(), abs(value) < 1e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses UTF-8 JSON bytes.
    public static func parse(_ bytes: [UInt8]) throws(PlanError) -> JSONValue {
        do { return try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) } catch {
            throw PlanError("payload: not valid JSON")
        }
    }

    /// Encodes with sorted keys and unescaped slashes: the form Quartet writes payloads in.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data("null".utf8))
    }

    /// The value as native Swift values (`[String: Any]`, `[Any]`, `String`, `Int` for whole
    /// numbers, `Double`, `Bool`, `NSNull`), for the JSON writers.
    public var native: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let b): return b
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? Int(d) as Any : d as Any
        case .string(let s): return s
        case .array(let a): return a.map(\.native)
        case .object(let o): return o.mapValues(\.native)
        }
    }

    /// What the value is, for error messages ("a string", "the number 3").
    var described: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return "the boolean \(value)"
        case .number(let value): return "the number \(value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value))"
        case .string(let value): return "the string \"\(value.count > 40 ? String(value.prefix(40)) + "…" : value)\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Why a plan entry, a plan file or a view query was refused: the message names the field (as a
/// path, `payload.target.value`) and what was expected.
public struct PlanError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure: the input is wrong, or what it names is not there.
    public enum Kind: Sendable, Equatable { case invalid, notFound }
    public let kind: Kind
    public let message: String
    public init(_ message: String, kind: Kind = .invalid) {
        self.message = message
        self.kind = kind
    }
    /// What the input names is not there (a log, a measure).
    public static func notFound(_ message: String) -> PlanError { PlanError(message, kind: .notFound) }
    public var description: String { message }
}

/// Reads the fields of one JSON object, refusing what the schema does not allow, each error
/// naming the field's path.
struct FieldReader {
    let path: String
    let fields: [String: JSONValue]

    init(_ value: JSONValue, path: String) throws(PlanError) {
        guard case .object(let fields) = value else { throw PlanError("\(path): expected an object, got \(value.described)") }
        self.path = path
        self.fields = fields
    }

    func at(_ key: String) -> String { "\(path).\(key)" }

    func refuseUnknown(_ known: Set<String>) throws(PlanError) {
        if let key = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw PlanError("\(at(key)): unknown field; expected only \(known.sorted().joined(separator: ", "))")
        }
    }

    func has(_ key: String) -> Bool {
        if let value = fields[key], value != .null { return true }
        return false
    }

    func string(_ key: String, maxLength: Int = 4096) throws(PlanError) -> String {
        guard let value = fields[key] else { throw PlanError("\(at(key)): missing; expected a string") }
        guard case .string(let text) = value else { throw PlanError("\(at(key)): expected a string, got \(value.described)") }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw PlanError("\(at(key)): expected a non-empty string") }
        guard text.count <= maxLength else { throw PlanError("\(at(key)): at most \(maxLength) characters, got \(text.count)") }
        return text
    }

    func optionalString(_ key: String, maxLength: Int = 4096) throws(PlanError) -> String? {
        has(key) ? try string(key, maxLength: maxLength) : nil
    }

    func matching(_ key: String, _ pattern: IDPattern) throws(PlanError) -> String {
        let text = try string(key, maxLength: 64)
        guard pattern.matches(text) else { throw PlanError("\(at(key)): expected \(pattern.description), got \"\(text)\"") }
        return text
    }

    func oneOf(_ key: String, _ allowed: [String]) throws(PlanError) -> String {
        let text = try string(key, maxLength: 64)
        guard allowed.contains(text) else {
            throw PlanError("\(at(key)): expected one of \(allowed.joined(separator: ", ")), got \"\(text)\"")
        }
        return text
    }

    func number(_ key: String) throws(PlanError) -> Double {
        guard let value = fields[key] else { throw PlanError("\(at(key)): missing; expected a number") }
        guard case .number(let number) = value, number.isFinite else { throw PlanError("\(at(key)): expected a number, got \(value.described)") }
        return number
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws(PlanError) -> Int {
        let number = try number(key)
        guard number == number.rounded(), let value = Int(exactly: number), range.contains(value) else {
            throw PlanError("\(at(key)): expected a whole number from \(range.lowerBound) to \(range.upperBound), got \(number)")
        }
        return value
    }

    func optionalInteger(_ key: String, in range: ClosedRange<Int>) throws(PlanError) -> Int? {
        has(key) ? try integer(key, in: range) : nil
    }

    func bool(_ key: String) throws(PlanError) -> Bool {
        guard let value = fields[key] else { throw PlanError("\(at(key)): missing; expected true or false") }
        guard case .bool(let flag) = value else { throw PlanError("\(at(key)): expected true or false, got \(value.described)") }
        return flag
    }

    func strings(_ key: String, required: Bool, pattern: IDPattern? = nil, maxCount: Int = 100) throws(PlanError) -> [String] {
        guard let value = fields[key], value != .null else {
            if required { throw PlanError("\(at(key)): missing; expected an array of strings") }
            return []
        }
        guard case .array(let items) = value else { throw PlanError("\(at(key)): expected an array of strings, got \(value.described)") }
        if required && items.isEmpty { throw PlanError("\(at(key)): expected at least one item") }
        guard items.count <= maxCount else { throw PlanError("\(at(key)): at most \(maxCount) items, got \(items.count)") }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case .string(let text) = item, !text.isEmpty else { throw PlanError("\(at(key))[\(i)]: expected a non-empty string, got \(item.described)") }
            if let pattern, !pattern.matches(text) { throw PlanError("\(at(key))[\(i)]: expected \(pattern.description), got \"\(text)\"") }
            out.append(text)
        }
        return out
    }

    func object(_ key: String) throws(PlanError) -> FieldReader {
        guard let value = fields[key] else { throw PlanError("\(at(key)): missing; expected an object") }
        return try FieldReader(value, path: at(key))
    }

    func date(_ key: String) throws(PlanError) -> String {
        let text = try string(key, maxLength: 10)
        guard PlanDate.isValid(text) else { throw PlanError("\(at(key)): expected a date as YYYY-MM-DD, got \"\(text)\"") }
        return text
    }

    func link(_ key: String) throws(PlanError) -> String {
        let text = try string(key, maxLength: 2048)
        guard let url = URL(string: text), ["https", "http"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
            throw PlanError("\(at(key)): expected an http(s) URL, got \"\(text)\"")
        }
        return text
    }
}

/// The identifier shapes of the plans: priorities `P1`, actions `P1.A2`, measures `P1.A2.M3`.
enum IDPattern: CustomStringConvertible {
    case priority, action, measure

    func matches(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let letters: [Character]
        switch self {
        case .priority: letters = ["P"]
        case .action: letters = ["P", "A"]
        case .measure: letters = ["P", "A", "M"]
        }
        guard parts.count == letters.count else { return false }
        for (part, letter) in zip(parts, letters) {
            guard part.first == letter, part.count >= 2, part.count <= 4 else { return false }
            let digits = part.dropFirst()
            guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.first != "0" else { return false }
        }
        return true
    }

    var description: String {
        switch self {
        case .priority: return "a priority id like P1"
        case .action: return "an action id like P1.A2"
        case .measure: return "a measure id like P1.A2.M3"
        }
    }
}

/// Calendar dates (`YYYY-MM-DD`) and reporting periods (`2025`, `2025-Q2`, `2025-03`).
public enum PlanDate {
    public static func isValid(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }), parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1900...2999).contains(year), (1...12).contains(month), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
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

    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = parts.first, first.count == 4, first.allSatisfy({ $0.isASCII && $0.isNumber }),
              let year = Int(first), (1900...2999).contains(year) else { return nil }
        self.year = year
        if parts.count == 1 {
            granularity = .year
            number = 0
        } else if parts.count == 2, parts[1].count == 2, parts[1].first == "Q", let q = Int(parts[1].dropFirst()), (1...4).contains(q) {
            granularity = .quarter
            number = q
        } else if parts.count == 2, parts[1].count == 2, parts[1].allSatisfy(\.isNumber), let m = Int(parts[1]), (1...12).contains(m) {
            granularity = .month
            number = m
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

    public var description: String {
        switch granularity {
        case .year: return String(year)
        case .quarter: return "\(year)-Q\(number)"
        case .month: return "\(year)-\(number < 10 ? "0" : "")\(number)"
        }
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

/// Writes Foundation JSON trees (`[String: Any]`, arrays, strings, numbers, booleans, `NSNull`)
/// as compact JSON with sorted keys, several times faster than `JSONSerialization` on Linux: the
/// view's answers are large trees rendered often.
public enum JSONWriter {
    public static func data(_ value: Any) -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(value, to: &out)
        return Data(out)
    }

    static func write(_ value: Any, to out: inout [UInt8]) {
        switch value {
        case let s as String: writeString(s, to: &out)
        case let d as [String: Any]:
            out.append(UInt8(ascii: "{"))
            var first = true
            for key in d.keys.sorted() {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                write(d[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case let a as [Any]:
            out.append(UInt8(ascii: "["))
            for (i, item) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case let b as Bool: out.append(contentsOf: Array((b ? "true" : "false").utf8))
        case let i as Int: out.append(contentsOf: Array(String(i).utf8))
        case let i as UInt64: out.append(contentsOf: Array(String(i).utf8))
        case let i as Int64: out.append(contentsOf: Array(String(i).utf8))
        case let i as UInt32: out.append(contentsOf: Array(String(i).utf8))
        case let d as Double:
            if !d.isFinite { out.append(contentsOf: Array("null".utf8)) }
            else if d == d.rounded(), abs(d) < 1e15 { out.append(contentsOf: Array(String(Int64(d)).utf8)) }
            else { out.append(contentsOf: Array("\(d)".utf8)) }
        case is NSNull: out.append(contentsOf: Array("null".utf8))
        case let n as NSNumber: out.append(contentsOf: Array(n.stringValue.utf8))
        default: writeString("\(value)", to: &out)
        }
    }

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
