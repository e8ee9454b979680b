import Foundation

/// Free JSON inside an API body, and QuartetPlan's `JSONValue` (the same type): an entry's payload as parsed, the payload of an item to append.
/// Booleans, numbers and strings are kept apart (Foundation's `JSONSerialization` makes 0 and 1
/// booleans on Linux). Whole numbers below 10^15 are written as integers.
public enum PayloadValue: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([PayloadValue])
    case object([String: PayloadValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([PayloadValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: PayloadValue].self)) }
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

    /// Parses UTF-8 JSON bytes (any value, not only an object); nil if they are not JSON
    /// (`JSONValueCoding`: strict RFC 8259, duplicate keys refused).
    public static func parseIfValid(_ bytes: some Sequence<UInt8>) -> PayloadValue? {
        try? JSONValueCoding.parse(Array(bytes))
    }

    /// The member `key` of an object, or nil.
    public subscript(key: String) -> PayloadValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The string, or nil.
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    /// The number, or nil.
    public var number: Double? { if case .number(let n) = self { return n }; return nil }
}

extension PayloadValue: ExpressibleByStringLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(dictionaryLiteral elements: (String, PayloadValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(arrayLiteral elements: PayloadValue...) { self = .array(elements) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
}
