import QuartetLedger
import Testing

/// Inputs the fuzz targets of Fuzz/ turned up (Fuzz/corpus/*/crash-*, docs/fuzzing.md).
@Suite struct ParserFuzzTests {
    /// Depth counted arrays and objects, plus one for a number or string inside the innermost:
    /// 64 levels passed when the innermost array was empty and failed when it held a value.
    @Test func validatorDepthCountsOnlyArraysAndObjects() throws {
        func nested(_ levels: Int, _ inner: String) -> [UInt8] {
            Array(("{\"a\":" + String(repeating: "[", count: levels - 1) + inner + String(repeating: "]", count: levels - 1) + "}").utf8)
        }
        for inner in ["", "1", "\"x\"", "null"] {
            try JSONValidator.validateObject(nested(JSONValidator.maxDepth, inner))
            let error = #expect(throws: LedgerError.self, "\(inner)") { try JSONValidator.validateObject(nested(JSONValidator.maxDepth + 1, inner)) }
            #expect(error?.message.contains("nested deeper than 64 levels") == true)
        }
    }

    /// Lines were split on Characters, and "\r\n" is one Character: an extension line held a
    /// newline, where a byte-wise C2SP reader sees two lines.
    @Test func checkpointLinesSplitAtNewlineBytes() throws {
        let root = Hash.leaf([1]).base64
        let checkpoint = try Checkpoint(parsing: "o\n3\n\(root)\nquartet-time 1\r\nquartet-time 2\n")
        #expect(checkpoint.extensions == ["quartet-time 1\r", "quartet-time 2"])
        #expect(checkpoint.body == "o\n3\n\(root)\nquartet-time 1\r\nquartet-time 2\n")
        #expect(throws: LedgerError.self) { try Checkpoint(parsing: "o\n3\n\(root)\r\n") }
        #expect(throws: LedgerError.self) { try Checkpoint(parsing: "o\r\n3\n\(root)\n") }
    }
}
