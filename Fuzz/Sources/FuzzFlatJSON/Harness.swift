import Foundation
import FuzzSupport
@testable import QuartetPlan

/// The fold's fast path (Sources/QuartetPlan/FlatJSON.swift), which claims: "Anything else ...
/// returns nil and the caller decodes with JSONDecoder, so this only ever saves time, never
/// changes what is read." Checked, differentially:
/// - where `FlatJSON.parse` returns an object, JSONDecoder (as `[String: JSONValue]`, the
///   validator's reading) and JSONSerialization parse the same bytes to the same members: same
///   keys, strings byte for byte, equal numbers, the same booleans and nulls;
/// - where `FlatJSON.parse` returns an object, `JSONValue.parse` (the fold's checks, which take
///   the fast path's fields in its place) reads the same value;
/// - where `readingPayload` / `statusPayload` return a payload, `JSONDecoder` decodes the same
///   bytes to an equal `ReadingPayload` / `StatusPayload` (what StrategyView would otherwise read).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFlatJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    guard let flat = FlatJSON.parse(input) else { return 0 }

    let decoded: [String: JSONValue]
    do { decoded = try JSONDecoder().decode([String: JSONValue].self, from: Data(input)) } catch {
        fuzzFailure("FlatJSON reads an object JSONDecoder refuses: \(error)", describe(input))
    }
    guard let serialized = (try? JSONSerialization.jsonObject(with: Data(input))) as? [String: Any] else {
        fuzzFailure("FlatJSON reads an object JSONSerialization refuses", describe(input))
    }
    fuzzCheck(decoded.count == flat.count && serialized.count == Set(flat.keys.map(serializationForm)).count,
              "FlatJSON reads \(flat.count) members, JSONDecoder \(decoded.count), JSONSerialization \(serialized.count)", describe(input))
    // Keys that differ only by a leading U+FEFF are one key to JSONSerialization, holding the
    // value of either: its value is not compared for those.
    var forms: [String: Int] = [:]
    for key in flat.keys { forms[serializationForm(key), default: 0] += 1 }
    for (key, value) in flat {
        guard let other = decoded[key], let native = serialized[serializationForm(key)] else {
            fuzzFailure("member \(key.debugDescription): FlatJSON has it, Foundation does not", describe(input))
        }
        switch (value, other) {
        case (.string(let a), .string(let b)):
            fuzzCheck(Array(a.utf8) == Array(b.utf8), "member \(key.debugDescription): strings differ", "FlatJSON \(a.debugDescription), JSONDecoder \(b.debugDescription)")
            fuzzCheck(forms[serializationForm(key)] != 1 || (native as? String).map { Array($0.utf8) == Array(serializationForm(a).utf8) } == true,
                      "member \(key.debugDescription): JSONSerialization's string differs", describe(input))
        case (.number(let a), .number(let b)):
            fuzzCheck(a == b && a.sign == b.sign, "member \(key.debugDescription): numbers differ", "FlatJSON \(a), JSONDecoder \(b): \(describe(input))")
            // JSONSerialization keeps long numbers as Decimal (38 digits), whose doubleValue can be
            // several ulps off the correctly rounded Double that JSONDecoder and FlatJSON read
            // (JSONDecoder is the fold's reference, compared exactly above): compare loosely.
            let other = (native as? NSNumber)?.doubleValue ?? .nan
            fuzzCheck(forms[serializationForm(key)] != 1 || abs(other - a) <= abs(a) * 1e-9, "member \(key.debugDescription): JSONSerialization reads \(native), FlatJSON \(a)", describe(input))
        case (.bool(let a), .bool(let b)):
            fuzzCheck(a == b, "member \(key.debugDescription): booleans differ")
        case (.null, .null):
            fuzzCheck(forms[serializationForm(key)] != 1 || native is NSNull, "member \(key.debugDescription): JSONSerialization reads \(native) for null")
        default:
            fuzzFailure("member \(key.debugDescription): FlatJSON reads \(value), JSONDecoder \(other)", describe(input))
        }
    }

    // The fold's checks read the fast path's fields in place of the full parser's value.
    do {
        let full = try JSONValue.parse(input)
        fuzzCheck(full == FlatJSON.value(flat), "FlatJSON's fields differ from JSONValue.parse's", describe(input))
    } catch {
        fuzzFailure("FlatJSON reads an object JSONValue.parse refuses: \(error)", describe(input))
    }

    let decoder = JSONDecoder()
    if let fast = FlatJSON.readingPayload(flat) {
        do {
            let slow = try decoder.decode(ReadingPayload.self, from: Data(input))
            fuzzCheck(slow == fast, "progress.reading: FlatJSON reads \(fast), JSONDecoder \(slow)", describe(input))
        } catch {
            fuzzFailure("progress.reading: FlatJSON reads \(fast), JSONDecoder refuses: \(error)", describe(input))
        }
    }
    if let fast = FlatJSON.statusPayload(flat) {
        do {
            let slow = try decoder.decode(StatusPayload.self, from: Data(input))
            fuzzCheck(slow == fast, "progress.status: FlatJSON reads \(fast), JSONDecoder \(slow)", describe(input))
        } catch {
            fuzzFailure("progress.status: FlatJSON reads \(fast), JSONDecoder refuses: \(error)", describe(input))
        }
    }
    return 0
}

/// A string as JSONSerialization reads it: it drops a U+FEFF at the start of any string, key or
/// value (JSONDecoder, and so the fold, keeps it).
func serializationForm(_ text: String) -> String {
    text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()) : text
}
