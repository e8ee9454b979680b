@testable import QuartetReplication
import Testing

/// Inputs the FuzzWire target turned up (Fuzz/corpus/FuzzWire/crash-*, docs/fuzzing.md).
@Suite struct WireFuzzTests {
    /// frame() cut an error message at byte 1,000, and a character split there became a 3-byte
    /// U+FFFD: the message sent was 1,002 bytes, over the protocol's 1,000.
    @Test func errorMessagesAreCutAtACharacterWithinTheLimit() throws {
        for (text, expected) in [(String(repeating: "a", count: 999) + "é", String(repeating: "a", count: 999)),
                                 (String(repeating: "a", count: 998) + "€x", String(repeating: "a", count: 998)),
                                 (String(repeating: "é", count: 500) + "z", String(repeating: "é", count: 500)),
                                 (String(repeating: "a", count: 1000), String(repeating: "a", count: 1000))] {
            let frame = Message.error(code: .malformed, message: text).frame()
            guard case .error(.malformed, let sent) = try Message(body: frame.dropFirst(4)) else {
                Issue.record("not an error message")
                continue
            }
            #expect(sent.utf8.count <= 1000)
            #expect(sent == expected)
        }
    }
}
