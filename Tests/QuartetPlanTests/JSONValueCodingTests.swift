import Foundation
@testable import QuartetPlan
import QuartetAPI
import Testing

/// `JSONValueCoding` replaces Foundation's coders on the append path; these compare it with them
/// (the reference: `JSONDecoder` into `JSONValue`'s `Decodable`, `JSONEncoder` with sorted keys).
@Suite struct JSONValueCodingTests {
    static func reference(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    static func referenceEncoded(_ value: JSONValue) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    /// A deterministic generator (SplitMix64), so a failure names a reproducible seed.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }

        mutating func string() -> String {
            let pieces = ["a", "Z", "0", "9", "10", "2", "é", "ß", "日本", "😀", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "\u{7F}",
                          "\u{2028}", " ", "_", "-", "A", "b", "B"]
            return (0 ..< below(6)).map { _ in pieces[below(pieces.count)] }.joined()
        }

        mutating func number() -> Double {
            switch below(6) {
            case 0: return Double(below(2000)) - 1000
            case 1: return Double(next() % 1_000_000_000_000_000_000) * (below(2) == 0 ? 1 : -1)
            case 2: return Double(below(100_000)) / 1000
            case 3: return Double(bitPattern: next()).isFinite ? Double(bitPattern: next() & 0x7FEF_FFFF_FFFF_FFFF) : 1.5
            case 4: return 1e15 + Double(below(10))
            default: return Double(below(7)) / 3
            }
        }

        mutating func value(depth: Int) -> JSONValue {
            switch below(depth > 3 ? 4 : 6) {
            case 0: return .null
            case 1: return .bool(below(2) == 0)
            case 2: return .number(number())
            case 3: return .string(string())
            case 4: return .array((0 ..< below(4)).map { _ in value(depth: depth + 1) })
            default:
                var fields: [String: JSONValue] = [:]
                for _ in 0 ..< below(5) { fields[string()] = value(depth: depth + 1) }
                return .object(fields)
            }
        }
    }

    @Test func writesWhatJSONEncoderWritesAndReadsItBack() throws {
        var generator = Generator(state: 2026)
        for seed in 0 ..< 3000 {
            let value = generator.value(depth: 0)
            let ours = value.encoded()
            let theirs = try Self.referenceEncoded(value)
            #expect(ours == theirs, "seed \(seed): \(String(decoding: ours, as: UTF8.self)) vs \(String(decoding: theirs, as: UTF8.self))")
            #expect(try JSONValue.parse(ours) == Self.reference(String(decoding: theirs, as: UTF8.self)), "seed \(seed)")
        }
    }

    @Test func acceptsAndRefusesWhatJSONDecoderDoes() {
        let cases = [
            #"{"a":1}"#, #"  [1, 2.5, -3e2, 0.1, 1E+2, -0, 0]  "#, #""x""#, "true", "null", "12", "-0.0", "1e-400", "1.797693135e-324",
            "-0.0e-3", "0.00e-1", "-0.0e3", "0e5", "5e-324", "2.5e-3", "1e309", "-1e309", "01", "1.", ".5", "+1", "1e", "--1",
            #""\u00e9\ud83d\ude00""#, #""\ud83d""#, #""\ude00x""#, #""a\/b""#, #""\x""#, "\"a\u{01}\"", "{a:1}",
            "[", "{", "\"abc", "tru", "nul", "[1 2]", "{\"a\" 1}", "", "   ", "1 2", "[[[]]]", "{\"\":{}}", "\"\u{7F}\"",
        ]
        for text in cases {
            let reference = Self.reference(text)
            let ours = try? JSONValue.parse(Array(text.utf8))
            #expect(ours == reference, "\(text.debugDescription): ours \(String(describing: ours)), JSONDecoder \(String(describing: reference))")
        }
    }

    @Test func refusesWhatIsAmbiguousOrTooDeepNamingWhere() {
        #expect(throws: PlanError("payload: not valid JSON: the key \"a\" appears twice in one object at byte 8")) {
            try JSONValue.parse(Array(#"{"a":1, "a":2}"#.utf8))
        }
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: PlanError("payload: not valid JSON: nested deeper than 128 at byte 128")) { try JSONValue.parse(Array(deep.utf8)) }
        #expect(throws: PlanError("payload: not valid JSON: a string that is not valid UTF-8 at byte 4")) {
            try JSONValue.parse([UInt8(ascii: "\""), 0xC3, 0x28, 0x41, UInt8(ascii: "\"")])
        }
        // Stricter than JSONDecoder, as RFC 8259 and the ledger's JSONValidator are: no trailing commas.
        #expect(throws: PlanError("payload: not valid JSON: unexpected character at byte 3")) { try JSONValue.parse(Array("[1,]".utf8)) }
        // JSONDecoder takes 0E0 but not 0e0 or 0e5; a zero with an exponent is refused whichever letter.
        #expect(throws: PlanError("payload: not valid JSON: the number 0E0 is out of range at byte 0")) { try JSONValue.parse(Array("0E0".utf8)) }
        #expect(throws: PlanError("payload: not valid JSON: expected a key in quotes at byte 7")) { try JSONValue.parse(Array(#"{"a":1,}"#.utf8)) }
        #expect(throws: PlanError("payload: not valid JSON: unexpected data after the JSON value at byte 3")) {
            try JSONValue.parse(Array("{} x".utf8))
        }
    }
}
