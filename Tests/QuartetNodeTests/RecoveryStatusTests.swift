@testable import QuartetNode
import Testing

/// When `quartet recover` may finish: the own log whole; other members' logs may be left short
/// of a checkpoint their writer signed (a writer may sign what it never sends), after a wait.
@Suite struct RecoveryStatusTests {
    static func status(own: (UInt64, UInt64), other: (UInt64, UInt64), synced: Bool = true) -> RecoveryStatus {
        RecoveryStatus(ownSynced: synced, heard: 2, connected: ["uk", "england"], backfilling: false, filledFrom: [:],
                       logs: [.init(name: "wales", own: true, held: own.0, seen: own.1, from: [:]),
                              .init(name: "england", own: false, held: other.0, seen: other.1, from: [:])])
    }

    @Test func theOwnLogMustBeWholeAndOthersMayBeShort() {
        let lied = Self.status(own: (1836, 1836), other: (378, 1_000_000_000_000))
        #expect(!lied.complete)
        #expect(lied.ownComplete, "a recovery whose own log is whole may finish")
        #expect(lied.short.map(\.name) == ["england"])
        #expect(!Self.status(own: (100, 1836), other: (378, 378)).ownComplete, "the own log short: not finished")
        #expect(!Self.status(own: (1836, 1836), other: (378, 378), synced: false).ownComplete)
        #expect(Self.status(own: (1836, 1836), other: (378, 378)).complete)
    }
}
