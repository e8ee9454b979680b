@testable import QuartetNode
import QuartetPlan
import Testing

/// A provenance answer holds at most 1,000 of a figure's entries (as a page of a log's entries
/// does): the first, which made the figure, and the newest, in order — an action a log's
/// operator revised thousands of times costs one bounded answer, not a read and a proof each.
@Suite struct ProvenanceBoundTests {
    @Test func aFigureOfMoreEntriesThanAnAnswerHoldsKeepsTheFirstAndTheNewest() {
        let refs = (0..<5000).map { EntryRef(log: "wales", index: UInt64($0)) }
        let kept = API.boundedRefs(refs)
        #expect(kept.count == API.maxProvenanceEntries)
        #expect(kept.first == refs[0])
        #expect(Array(kept.dropFirst()) == Array(refs.suffix(API.maxProvenanceEntries - 1)))
        let few = Array(refs.prefix(7))
        #expect(API.boundedRefs(few) == few)
        #expect(API.boundedRefs(few, max: 3) == [refs[0], refs[5], refs[6]])
    }

    /// Over the bound, each log keeps a fair share (its first entry and its newest): one
    /// nation's thousands of entries behind a UK total no longer push the other nations' off
    /// the answer (the newest 999 by log and index were all the last log's; a review found it).
    @Test func eachLogKeepsAFairShareOfTheBound() {
        let wales = (0..<5000).map { EntryRef(log: "wales", index: UInt64($0)) }
        let england = (0..<3).map { EntryRef(log: "england", index: UInt64(10 + $0)) }
        let scotland = (0..<700).map { EntryRef(log: "scotland", index: UInt64($0)) }
        let kept = API.boundedRefs((england + scotland + wales).sorted(), max: 1000)
        #expect(kept.count == 1000 && kept == kept.sorted())
        #expect(england.allSatisfy(kept.contains))
        let keptScotland = kept.filter { $0.log == "scotland" }, keptWales = kept.filter { $0.log == "wales" }
        #expect(keptScotland.count == 498 && keptWales.count == 499)
        #expect(keptScotland.first == scotland[0] && keptScotland.last == scotland.last && keptWales.first == wales[0] && keptWales.last == wales.last)
    }
}
