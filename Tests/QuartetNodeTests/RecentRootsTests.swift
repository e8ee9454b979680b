import QuartetLedger
@testable import QuartetNode
import Testing

/// The roots a node remembers of what it stored lately, to check relays' heads without the store.
@Suite struct RecentRootsTests {
    func root(_ i: UInt64) throws -> Hash { try Hash([UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 31) + [UInt8(truncatingIfNeeded: i >> 8)]) }

    @Test func theLastCapacityRootsAreKeptByTheirSize() throws {
        var recent = RecentRoots()
        let total = UInt64(RecentRoots.capacity + 44)
        for size in 1...total { recent.add(size: size, root: try root(size)) }
        #expect(recent.root(size: 1) == nil, "the oldest are forgotten")
        #expect(recent.root(size: total - UInt64(RecentRoots.capacity)) == nil)
        #expect(recent.root(size: total - UInt64(RecentRoots.capacity) + 1) == (try root(total - UInt64(RecentRoots.capacity) + 1)))
        #expect(recent.root(size: total) == (try root(total)))
        #expect(recent.root(size: total + 1) == nil, "a size never stored has no root")
        // The same size again (a restart storing it anew) keeps one entry, with the new root.
        recent.add(size: total, root: try root(7))
        #expect(recent.root(size: total) == (try root(7)))
    }
}
