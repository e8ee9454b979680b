import Foundation
import FuzzSupport
import QuartetLedger

/// The payload validator (Sources/QuartetLedger/JSONValidator.swift). docs/formats.md section 2
/// claims: "UTF-8 JSON whose top-level value is an object ... checked strictly by RFC 8259 ...
/// nesting deeper than 64 levels ... refused". Checked against Foundation, both ways:
/// - what the validator accepts, `JSONSerialization` and `JSONDecoder` parse, as an object;
/// - what `JSONSerialization` parses as an object, the validator accepts;
/// except where RFC 8259 leaves the choice to the parser and the two choose differently
/// (`Divergence` below: each is documented in docs/fuzzing.md, and the harness recognises it on
/// the bytes independently of both parsers).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONValidator(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    let accepted: Bool
    do { try JSONValidator.validateObject(input); accepted = true } catch {
        fuzzCheck(error.code == .invalidArgument, "validator: a refusal with code \(error.code)")
        accepted = false
    }

    let serialization = (try? JSONSerialization.jsonObject(with: Data(input))) as? [String: Any] != nil
    let decoder: Bool
    do { _ = try JSONDecoder().decode([String: AnyJSON].self, from: Data(input)); decoder = true } catch { decoder = false }

    if accepted {
        let divergence = Divergence.ofValid(input)
        if !serialization && !divergence.contains(.numberOutOfRange) && !divergence.contains(.unpairedSurrogate) {
            fuzzFailure("the validator accepts what JSONSerialization refuses", describe(input))
        }
        if !decoder && divergence.isEmpty {
            fuzzFailure("the validator accepts what JSONDecoder refuses", describe(input))
        }
    } else if serialization {
        // JSONSerialization parsed it, so it is JSON apart from what JSONSerialization tolerates.
        // (JSONDecoder is no witness this way round: it checks a number's syntax only when the
        // number is decoded, so `{"a":1,"a":01}` passes, and it reads bytes that are not UTF-8.)
        let (depth, trailingComma) = Divergence.structure(input)
        let bom = input.starts(with: [0xEF, 0xBB, 0xBF])
        if !bom && !trailingComma && depth <= JSONValidator.maxDepth {
            fuzzFailure("the validator refuses what JSONSerialization parses as an object (depth \(depth))", describe(input))
        }
    }
    return 0
}

/// Any JSON value, for asking JSONDecoder whether it parses a text at all.
struct AnyJSON: Decodable {
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { return }
        if (try? container.decode(Bool.self)) != nil { return }
        if (try? container.decode(Double.self)) != nil { return }
        if (try? container.decode(String.self)) != nil { return }
        if (try? container.decode([AnyJSON].self)) != nil { return }
        _ = try container.decode([String: AnyJSON].self)
    }
}

/// Valid RFC 8259 text on which Foundation's parsers choose differently from the validator, as
/// RFC 8259 allows them to.
struct Divergence: OptionSet {
    let rawValue: Int
    /// A number whose magnitude a Double cannot hold (section 6 lets parsers limit the range):
    /// JSONSerialization and JSONDecoder refuse it.
    static let numberOutOfRange = Divergence(rawValue: 1)
    /// A number that reads as zero but is not spelt `0` or `-0`: JSONDecoder refuses a non-zero
    /// one too small for a Double (`1e-400`) and some spellings of zero (`-0.0e-3`, `0.00e-1`,
    /// though not `0.0e-3`); JSONSerialization reads 0.
    static let unusualZero = Divergence(rawValue: 2)
    /// A `\uD800`–`\uDFFF` escape not in a high-low pair (section 8.2: such a string is valid
    /// syntax, what a parser does with it is unpredictable): Foundation refuses it.
    static let unpairedSurrogate = Divergence(rawValue: 4)

    /// Scans text the validator accepted (so well-formed JSON) for the divergences.
    static func ofValid(_ bytes: [UInt8]) -> Divergence {
        var found: Divergence = []
        var i = 0
        let n = bytes.count
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= n, let v = UInt32(String(decoding: bytes[at..<at + 4], as: UTF8.self), radix: 16) else { return nil }
            return v
        }
        while i < n {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                while i < n, bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\") {
                        if i + 1 < n, bytes[i + 1] == UInt8(ascii: "u"), let v = hex4(i + 2) {
                            if (0xD800...0xDBFF).contains(v) {
                                if i + 7 < n, bytes[i + 6] == UInt8(ascii: "\\"), bytes[i + 7] == UInt8(ascii: "u"),
                                   let low = hex4(i + 8), (0xDC00...0xDFFF).contains(low) {
                                    i += 12
                                    continue
                                }
                                found.insert(.unpairedSurrogate)
                            } else if (0xDC00...0xDFFF).contains(v) {
                                found.insert(.unpairedSurrogate)
                            }
                            i += 6
                        } else {
                            i += 2
                        }
                    } else {
                        i += 1
                    }
                }
                i += 1
            } else if c == UInt8(ascii: "-") || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) {
                let start = i
                while i < n, "+-.eE0123456789".utf8.contains(bytes[i]) { i += 1 }
                let token = bytes[start..<i]
                let value = Double(String(decoding: token, as: UTF8.self)) ?? .nan
                if !value.isFinite { found.insert(.numberOutOfRange) }
                if value == 0, !token.elementsEqual("0".utf8), !token.elementsEqual("-0".utf8) {
                    found.insert(.unusualZero)
                }
            } else {
                i += 1
            }
        }
        return found
    }

    /// In text JSONSerialization parsed (so JSON but for what it tolerates): the deepest nesting
    /// of arrays and objects, and whether a `,` comes right before a `]` or `}` (JSONSerialization
    /// takes `[1,]` and `{"a":1,}`; RFC 8259 does not).
    static func structure(_ bytes: [UInt8]) -> (depth: Int, trailingComma: Bool) {
        var depth = 0, deepest = 0, inString = false, escaped = false, afterComma = false, trailingComma = false
        for c in bytes {
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch c {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; deepest = max(deepest, depth)
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1; trailingComma = trailingComma || afterComma
            default: break
            }
            afterComma = c == UInt8(ascii: ",")
        }
        return (deepest, trailingComma)
    }
}
