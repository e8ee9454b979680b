import Foundation

/// Parsing and writing `PayloadValue` (QuartetPlan's `JSONValue`) over bytes, without Foundation's coders: every API append
/// parses its request body and writes its payload once, and `JSONDecoder`/`JSONEncoder` were
/// 12 % of an append's CPU at the node (perf, `quartet bench api`). The output is byte for byte
/// what `JSONEncoder` with `.sortedKeys` and `.withoutEscapingSlashes` writes (a test compares
/// them), so payloads written before and after are the same.
/// The error of a parse: what was wrong and at which byte.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public enum JSONValueCoding {
    /// The deepest nesting parsed: a request body wraps payloads (themselves at most 64 deep,
    /// `JSONValidator.maxDepth`) in a few levels.
    static let maxDepth = 128

    /// Parses exactly one JSON value (RFC 8259; surrounding whitespace allowed). Refuses
    /// invalid UTF-8, duplicate keys in one object and nesting deeper than `maxDepth`, naming
    /// the byte offset.
    public static func parse(_ bytes: [UInt8]) throws(JSONSyntaxError) -> PayloadValue {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONSyntaxError) -> PayloadValue in
            var parser = Parser(bytes: buffer)
            parser.skipWhitespace()
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.offset == buffer.count else { throw parser.error("unexpected data after the JSON value") }
            return value
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0

        func error(_ message: String) -> JSONSyntaxError {
            JSONSyntaxError("not valid JSON: \(message) at byte \(offset)")
        }

        mutating func skipWhitespace() {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x09, 0x0A, 0x0D: offset += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: StaticString) throws(JSONSyntaxError) {
            let count = literal.utf8CodeUnitCount
            guard offset + count <= bytes.count else { throw error("unexpected end") }
            let start = literal.utf8Start
            for i in 0 ..< count where bytes[offset + i] != start[i] { throw error("unexpected character") }
            offset += count
        }

        mutating func value(depth: Int) throws(JSONSyntaxError) -> PayloadValue {
            guard offset < bytes.count else { throw error("unexpected end") }
            switch bytes[offset] {
            case UInt8(ascii: "{"):
                guard depth < maxDepth else { throw error("nested deeper than \(maxDepth)") }
                return try object(depth: depth + 1)
            case UInt8(ascii: "["):
                guard depth < maxDepth else { throw error("nested deeper than \(maxDepth)") }
                return try array(depth: depth + 1)
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"):
                return .number(try number())
            default:
                throw error("unexpected character")
            }
        }

        mutating func object(depth: Int) throws(JSONSyntaxError) -> PayloadValue {
            offset += 1
            var fields: [String: PayloadValue] = [:]
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
                offset += 1
                return .object(fields)
            }
            while true {
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw error("expected a key in quotes") }
                let keyOffset = offset
                let key = try string()
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw error("expected ':'") }
                offset += 1
                skipWhitespace()
                let item = try value(depth: depth)
                guard fields.updateValue(item, forKey: key) == nil else {
                    offset = keyOffset
                    throw error("the key \"\(key.count > 40 ? String(key.prefix(40)) + "…" : key)\" appears twice in one object")
                }
                skipWhitespace()
                guard offset < bytes.count else { throw error("unexpected end") }
                switch bytes[offset] {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "}"):
                    offset += 1
                    return .object(fields)
                default: throw error("expected ',' or '}'")
                }
            }
        }

        mutating func array(depth: Int) throws(JSONSyntaxError) -> PayloadValue {
            offset += 1
            var items: [PayloadValue] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
                offset += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth))
                skipWhitespace()
                guard offset < bytes.count else { throw error("unexpected end") }
                switch bytes[offset] {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "]"):
                    offset += 1
                    return .array(items)
                default: throw error("expected ',' or ']'")
                }
            }
        }

        mutating func number() throws(JSONSyntaxError) -> Double {
            let start = offset
            if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard offset < bytes.count else { throw error("unexpected end of a number") }
            if bytes[offset] == UInt8(ascii: "0") {
                offset += 1
            } else if (UInt8(ascii: "1") ... UInt8(ascii: "9")).contains(bytes[offset]) {
                skipDigits()
            } else {
                throw error("expected a digit")
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
                offset += 1
                guard offset < bytes.count, isDigit(bytes[offset]) else { throw error("expected a digit after '.'") }
                skipDigits()
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
                offset += 1
                if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
                guard offset < bytes.count, isDigit(bytes[offset]) else { throw error("expected a digit in the exponent") }
                skipDigits()
            }
            let digits = UnsafeBufferPointer(rebasing: bytes[start ..< offset])
            let text = String(decoding: digits, as: UTF8.self)
            // Out of range, or (as JSONDecoder, which the view's readers use, refuses them) a
            // zero written with an exponent or a non-zero number that underflows to zero.
            guard let value = Double(text), value.isFinite,
                  value != 0 || !digits.contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") || ($0 >= UInt8(ascii: "1") && $0 <= UInt8(ascii: "9")) })
            else {
                offset = start
                throw error("the number \(text.prefix(40)) is out of range")
            }
            return value
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        mutating func skipDigits() {
            while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
        }

        mutating func string() throws(JSONSyntaxError) -> String {
            offset += 1
            let start = offset
            // The common case: no escapes, so the bytes between the quotes are the string.
            while offset < bytes.count {
                let byte = bytes[offset]
                if byte == UInt8(ascii: "\"") {
                    let raw = UnsafeBufferPointer(rebasing: bytes[start ..< offset])
                    guard let text = String(validating: raw, as: UTF8.self) else { throw error("a string that is not valid UTF-8") }
                    offset += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                guard byte >= 0x20 else { throw error("a control character inside a string") }
                offset += 1
            }
            var out = Array(UnsafeBufferPointer(rebasing: bytes[start ..< offset]))
            while offset < bytes.count {
                let byte = bytes[offset]
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else { throw error("a string that is not valid UTF-8") }
                    offset += 1
                    return text
                case UInt8(ascii: "\\"):
                    offset += 1
                    guard offset < bytes.count else { throw error("unexpected end") }
                    let escape = bytes[offset]
                    offset += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800 ... 0xDBFF).contains(scalar) {
                            guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                                throw error("a lone UTF-16 surrogate")
                            }
                            offset += 2
                            let low = try hex4()
                            guard (0xDC00 ... 0xDFFF).contains(low) else { throw error("a lone UTF-16 surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00 ... 0xDFFF).contains(scalar) {
                            throw error("a lone UTF-16 surrogate")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw error("an escape that is not a character") }
                        out.append(contentsOf: UTF8.encode(unicode)!)
                    default:
                        offset -= 1
                        throw error("an unknown escape")
                    }
                default:
                    guard byte >= 0x20 else { throw error("a control character inside a string") }
                    out.append(byte)
                    offset += 1
                }
            }
            throw error("an unterminated string")
        }

        mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
            guard offset + 4 <= bytes.count else { throw error("unexpected end of a \\u escape") }
            var value: UInt32 = 0
            for _ in 0 ..< 4 {
                let byte = bytes[offset]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0") ... UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a") ... UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A") ... UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw error("a \\u escape that is not four hex digits")
                }
                value = value << 4 | UInt32(digit)
                offset += 1
            }
            return value
        }
    }

    // MARK: Writing

    /// The value as `JSONEncoder` (`.sortedKeys`, `.withoutEscapingSlashes`) writes it.
    public static func write(_ value: PayloadValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number): writeNumber(number, to: &out)
        case .string(let text): writeString(text, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (i, key) in fields.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                write(fields[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Whole numbers below 10^15 as integers (as `PayloadValue.encode(to:)` does); any other
    /// number exactly as `JSONEncoder` writes a `Double`.
    static func writeNumber(_ number: Double, to out: inout [UInt8]) {
        if number == number.rounded(), abs(number) < 1e15 {
            out.append(contentsOf: String(Int64(number)).utf8)
            return
        }
        let encoder = JSONEncoder()
        if let data = try? encoder.encode([number]), data.count > 2 {
            out.append(contentsOf: data.dropFirst().dropLast())
        } else {
            out.append(contentsOf: "null".utf8)
        }
    }

    static func writeString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0 ..< 0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
