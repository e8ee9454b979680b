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
}
