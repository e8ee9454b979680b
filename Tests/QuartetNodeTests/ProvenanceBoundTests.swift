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
}
