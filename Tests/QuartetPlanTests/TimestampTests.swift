import Foundation
import QuartetPlan
import Testing

/// `ViewQueries.iso` writes times by hand: it must write what Foundation's ISO 8601 formatter
/// writes, for every kind of date (leap days, centuries, the clamp at the year 9999).
@Suite struct TimestampTests {
    static func foundation(_ millis: UInt64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date(timeIntervalSince1970: Double(min(millis, 253_402_300_799_000)) / 1000))
    }

    @Test func writesWhatFoundationWrites() {
        var edges: [UInt64] = [0, 1, 999, 1000, 86_399_999, 86_400_000, 951_782_400_000, 951_868_799_999, 4_107_542_399_999, 4_107_542_400_000,
                               1_767_225_600_000, 253_402_300_799_000, 253_402_300_799_999, UInt64.max]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 { edges.append(UInt64.random(in: 0...253_402_300_799_000, using: &generator)) }
        for millis in edges {
            #expect(ViewQueries.iso(millis) == Self.foundation(millis), "\(millis)")
        }
        #expect(ViewQueries.iso(951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(ViewQueries.iso(UInt64.max) == "9999-12-31T23:59:59.000Z")
    }
}
