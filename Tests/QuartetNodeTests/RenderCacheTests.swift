import Foundation
import Testing
@testable import QuartetNode

@Suite struct RenderCacheTests {
    /// A reader asking for many rare pages pushes out the least recently used, not the page
    /// everyone keeps reading; a newer view version empties it; an older one's render is dropped.
    @Test func theLeastRecentlyUsedGoesFirstAndVersionsDoNotMix() {
        var cache = RenderCache(capacity: 3)
        let page = Data("overview".utf8)
        cache.put("/", page, version: 1)
        for i in 0..<10 {
            #expect(cache.get("/", version: 1) == page, "the page read between the flood's requests was pushed out at \(i)")
            cache.put("rare-\(i)", Data([UInt8(i)]), version: 1)
            #expect(cache.count <= 3)
        }
        #expect(cache.get("rare-0", version: 1) == nil && cache.get("rare-9", version: 1) == Data([9]))
        // Another version: nothing of version 1 is answered, and it is emptied by version 2.
        #expect(cache.get("/", version: 2) == nil)
        cache.put("/", Data("v2".utf8), version: 2)
        #expect(cache.count == 1 && cache.get("/", version: 2) == Data("v2".utf8))
        cache.put("late", Data("old".utf8), version: 1)
        #expect(cache.get("late", version: 1) == nil && cache.get("late", version: 2) == nil)
    }

    /// A new time step of one family (a member's whole view, a caller's overview) replaces the
    /// older step's entry, which nobody asks for again: a member polling each second of a quiet
    /// day no longer fills the cache with copies of one page.
    @Test func aNewStepOfAFamilyReplacesTheOlder() {
        var cache = RenderCache(capacity: 64)
        for second in 0..<100 {
            cache.put("view.json|england|\(second)", Data([UInt8(second)]), version: 7, family: ("view.json|england", UInt64(second)))
        }
        #expect(cache.count == 1 && cache.get("view.json|england|99", version: 7) == Data([99]))
        // A slow render of an older step does not push out the newer one.
        cache.put("view.json|england|98", Data([98]), version: 7, family: ("view.json|england", 98))
        #expect(cache.count == 1 && cache.get("view.json|england|99", version: 7) == Data([99]) && cache.get("view.json|england|98", version: 7) == nil)
        cache.put("view.json|scotland|99", Data([1]), version: 7, family: ("view.json|scotland", 99))
        cache.put("/", Data([2]), version: 7)
        #expect(cache.count == 3)
        // The same key again stays.
        cache.put("view.json|scotland|99", Data([3]), version: 7, family: ("view.json|scotland", 99))
        #expect(cache.count == 3 && cache.get("view.json|scotland|99", version: 7) == Data([3]))
    }
}
