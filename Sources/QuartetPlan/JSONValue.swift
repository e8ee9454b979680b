import Foundation
import QuartetAPI

/// A JSON value as parsed, with booleans, numbers and strings kept apart (Foundation's
/// `JSONSerialization` blurs booleans and numbers on Linux), so validation can say exactly what
/// a field held. One type with the API contract's free JSON (`QuartetAPI.PayloadValue`).
public typealias JSONValue = PayloadValue

extension PayloadValue {
    /// Parses UTF-8 JSON bytes.
    /// Refuses duplicate keys and nesting deeper than 128 (`JSONValueCoding`).
    public static func parse(_ bytes: [UInt8]) throws(PlanError) -> JSONValue {
        do { return try JSONValueCoding.parse(bytes) } catch {
            throw PlanError("payload: \(error.message)")
        }
    }

    /// Encodes with sorted keys and unescaped slashes: the form Quartet writes payloads in
    /// (byte for byte `JSONEncoder`'s, written by `JSONValueCoding`).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        JSONValueCoding.write(self, to: &out)
        return out
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
