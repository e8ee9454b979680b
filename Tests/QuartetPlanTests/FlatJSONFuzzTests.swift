import Foundation
@testable import QuartetPlan
import Testing

/// Inputs the FlatJSON fuzz target found (Fuzz/corpus/FuzzFlatJSON/crash-*, docs/fuzzing.md):
/// FlatJSON read 0 for numbers JSONDecoder refuses, so the fold read a value where it would
/// otherwise have counted the entry unreadable.
@Suite struct FlatJSONFuzzTests {
    @Test func zerosJSONDecoderRefusesAreLeftToIt() throws {
        for number in ["1e-400", "1.797693135e-324", "-0.0e-3", "0.00e-1", "-0.0e3"] {
            let payload = Array(#"{"measure":"P2.A4.M1","period":"2025","value":\#(number)}"#.utf8)
            #expect(FlatJSON.parse(payload) == nil, "\(number)")
            #expect(throws: DecodingError.self, "\(number)") { try JSONDecoder().decode(ReadingPayload.self, from: Data(payload)) }
        }
    }

    @Test func plainZerosAndSmallNumbersStayOnTheFastPath() throws {
        for (number, value) in [("0", 0.0), ("-0", -0.0), ("5e-324", Double.leastNonzeroMagnitude), ("2.5e-3", 0.0025), ("-12", -12)] {
            let payload = Array(#"{"measure":"P2.A4.M1","period":"2025","value":\#(number)}"#.utf8)
            let fast = try #require(FlatJSON.parse(payload).flatMap(FlatJSON.readingPayload), "\(number)")
            #expect(fast.value == value && fast.value?.sign == value.sign, "\(number)")
            #expect(try JSONDecoder().decode(ReadingPayload.self, from: Data(payload)) == fast, "\(number)")
        }
    }
}

/// A whole number outside Int64 in a field that expects text is refused, not a trap (fuzzing:
/// `plan-described-trap`).
@Suite struct HugeNumberTests {
    @Test func aHugeWholeNumberWhereTextIsExpectedIsRefused() throws {
        for payload in [#"{"id": 1e19, "title": "x"}"#, #"{"id": -1e300, "title": "x"}"#] {
            let value = try #require(try? JSONValue.parse(Array(payload.utf8)))
            #expect(throws: PlanError.self) { try PlanValidator.validate(type: "plan.priority", payload: value.encoded(), context: LogContext(view: StrategyView(ukLog: "uk", logs: ["uk"]), log: "uk")) }
        }
    }
}
