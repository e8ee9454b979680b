/// A strict RFC 8259 syntax check over UTF-8 bytes that builds nothing: payloads are stored
/// exactly as received, so all the ledger needs is to know they are one well-formed JSON
/// object, and to say where they are not. The UTF-8 is checked in the same pass (RFC 3629:
/// no overlong forms, no surrogates, nothing above U+10FFFF): outside strings JSON is ASCII,
/// so only a string's bytes can be multi-byte sequences.
public enum JSONValidator {
    /// The deepest nesting accepted.
    public static let maxDepth = 64

    /// Throws unless `bytes` is exactly one JSON object (surrounding whitespace allowed), naming
    /// the byte offset of the first problem.
    public static func validateObject(_ bytes: [UInt8]) throws(LedgerError) {
        try bytes.withUnsafeBufferPointer { (buffer) throws(LedgerError) in
            var scanner = Scanner(bytes: buffer)
            scanner.skipWhitespace()
            guard let first = scanner.peek() else { throw LedgerError(.invalidArgument, "empty; expected a JSON object") }
            guard first == UInt8(ascii: "{") else {
                let kind: String
                switch first {
                case UInt8(ascii: "["): kind = "an array"
                case UInt8(ascii: "\""): kind = "a string"
                case UInt8(ascii: "t"), UInt8(ascii: "f"): kind = "a boolean"
                case UInt8(ascii: "n"): kind = "null"
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): kind = "a number"
                default: kind = "something that is not JSON"
                }
                throw LedgerError(.invalidArgument, "expected a JSON object, got \(kind)")
            }
            try scanner.value(depth: 0)
            scanner.skipWhitespace()
            guard scanner.atEnd else { throw scanner.error("unexpected data after the JSON object") }
        }
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0

        var atEnd: Bool { offset >= bytes.count }
        func peek() -> UInt8? { offset < bytes.count ? bytes[offset] : nil }

        func error(_ message: String) -> LedgerError {
            LedgerError(.invalidArgument, "invalid JSON at byte \(offset): \(message)")
        }

        mutating func skipWhitespace() {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x09, 0x0A, 0x0D: offset += 1
                default: return
                }
            }
        }

        mutating func expect(_ c: UInt8, _ what: String) throws(LedgerError) {
            guard peek() == c else { throw error("expected \(what)") }
            offset += 1
        }

        /// A value inside `depth` arrays and objects. Only arrays and objects count as levels: an
        /// object holding 63 nested arrays is 64 levels deep whether the innermost holds a number
        /// or nothing.
        mutating func value(depth: Int) throws(LedgerError) {
            skipWhitespace()
            guard let c = peek() else { throw error("unexpected end; expected a value") }
            if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                guard depth < JSONValidator.maxDepth else { throw error("nested deeper than \(JSONValidator.maxDepth) levels") }
            }
            switch c {
            case UInt8(ascii: "{"):
                offset += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "}") { offset += 1; return }
                while true {
                    skipWhitespace()
                    guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name in double quotes") }
                    try string()
                    skipWhitespace()
                    try expect(UInt8(ascii: ":"), "':' after a member name")
                    try value(depth: depth + 1)
                    skipWhitespace()
                    if peek() == UInt8(ascii: ",") { offset += 1; continue }
                    try expect(UInt8(ascii: "}"), "',' or '}' in an object")
                    return
                }
            case UInt8(ascii: "["):
                offset += 1
                skipWhitespace()
                if peek() == UInt8(ascii: "]") { offset += 1; return }
                while true {
                    try value(depth: depth + 1)
                    skipWhitespace()
                    if peek() == UInt8(ascii: ",") { offset += 1; continue }
                    try expect(UInt8(ascii: "]"), "',' or ']' in an array")
                    return
                }
            case UInt8(ascii: "\""):
                try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try number()
            default:
                throw error("expected a value")
            }
        }

        mutating func literal(_ word: StaticString) throws(LedgerError) {
            let n = word.utf8CodeUnitCount
            guard offset + n <= bytes.count else { throw error("expected \(word)") }
            for i in 0..<n where bytes[offset + i] != word.utf8Start[i] { throw error("expected \(word)") }
            offset += n
        }

        mutating func string() throws(LedgerError) {
            offset += 1  // opening quote
            while let c = peek() {
                switch c {
                case UInt8(ascii: "\""):
                    offset += 1
                    return
                case UInt8(ascii: "\\"):
                    offset += 1
                    guard let e = peek() else { throw error("unterminated escape") }
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                         UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        offset += 1
                    case UInt8(ascii: "u"):
                        offset += 1
                        for _ in 0..<4 {
                            guard let h = peek(), isHexDigit(h) else { throw error("\\u must be followed by four hex digits") }
                            offset += 1
                        }
                    default:
                        throw error("invalid escape sequence")
                    }
                case 0x00..<0x20:
                    throw error("control character in a string (escape it)")
                case 0x80...:
                    try scalar(lead: c)
                default:
                    offset += 1
                }
            }
            throw error("unterminated string")
        }

        /// One multi-byte UTF-8 sequence starting with `lead` at `offset` (RFC 3629, Table 3-7
        /// of the Unicode standard): the second byte's range depends on the lead, which rules
        /// out overlong forms, surrogates and code points above U+10FFFF.
        mutating func scalar(lead: UInt8) throws(LedgerError) {
            let count: Int
            let second: ClosedRange<UInt8>
            switch lead {
            case 0xC2...0xDF: count = 2; second = 0x80...0xBF
            case 0xE0: count = 3; second = 0xA0...0xBF
            case 0xE1...0xEC, 0xEE...0xEF: count = 3; second = 0x80...0xBF
            case 0xED: count = 3; second = 0x80...0x9F
            case 0xF0: count = 4; second = 0x90...0xBF
            case 0xF1...0xF3: count = 4; second = 0x80...0xBF
            case 0xF4: count = 4; second = 0x80...0x8F
            default: throw error("not valid UTF-8 (byte 0x\(String(lead, radix: 16, uppercase: true)) cannot start a character)")
            }
            guard offset + count <= bytes.count, second.contains(bytes[offset + 1]) else { throw error("not valid UTF-8 (a character's bytes are cut short or out of range)") }
            for i in 2..<count where !(0x80...0xBF).contains(bytes[offset + i]) {
                throw error("not valid UTF-8 (a character's bytes are cut short or out of range)")
            }
            offset += count
        }

        mutating func number() throws(LedgerError) {
            if peek() == UInt8(ascii: "-") { offset += 1 }
            guard let d = peek(), isDigit(d) else { throw error("expected a digit") }
            if d == UInt8(ascii: "0") {
                offset += 1
                if let n = peek(), isDigit(n) { throw error("leading zeros are not allowed") }
            } else {
                while let n = peek(), isDigit(n) { offset += 1 }
            }
            if peek() == UInt8(ascii: ".") {
                offset += 1
                guard let n = peek(), isDigit(n) else { throw error("expected a digit after '.'") }
                while let n = peek(), isDigit(n) { offset += 1 }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                offset += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { offset += 1 }
                guard let n = peek(), isDigit(n) else { throw error("expected a digit in the exponent") }
                while let n = peek(), isDigit(n) { offset += 1 }
            }
        }

        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        func isHexDigit(_ c: UInt8) -> Bool {
            isDigit(c) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
        }
    }
}
