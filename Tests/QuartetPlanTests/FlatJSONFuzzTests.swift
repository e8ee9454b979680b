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
