@testable import QuartetNode
import Synchronization
import Testing

/// The witness's requests waiting for its copy of a log to hold their checkpoint (finding
/// 231): woken once a stored batch of that log reaches their size (not by another log's, not by
/// a smaller one); at once when the copy already holds it; at their deadline otherwise; and
/// never more than a few per log, or `maxWaiters` in all.
@Suite struct CopyGrowthTests {
    @Test func aWaiterGoesOnWhenItsLogReachesItsSizeAndNotBefore() async {
        let growth = CopyGrowth()
        async let woken = growth.wait("wales", holds: 10, current: { 3 }, until: .now + .seconds(30))
        while growth.waiting == 0 { await Task.yield() }
        growth.grew("england", to: 50)
        growth.grew("wales", to: 9)
        #expect(growth.waiting == 1, "another log's batch, or one short of its size, woke it")
        let started = ContinuousClock.now
        growth.grew("wales", to: 10)
        #expect(await woken == true)
        #expect(started.duration(to: .now) < .seconds(5))
        #expect(growth.waiting == 0)
    }

    @Test func aCopyThatHoldsTheSizeAlreadyIsNotWaitedFor() async {
        let growth = CopyGrowth()
        #expect(await growth.wait("wales", holds: 10, current: { 12 }, until: .now + .seconds(30)) == true)
        #expect(growth.waiting == 0)
    }

    @Test func aWaiterEndsAtItsDeadlineAndTooManyAreNotKept() async {
        let growth = CopyGrowth()
        let started = ContinuousClock.now
        #expect(await growth.wait("wales", holds: 10, current: { 0 }, until: .now + .milliseconds(200)) == false)
        #expect(started.duration(to: .now) >= .milliseconds(150))
        #expect(growth.waiting == 0)
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<CopyGrowth.maxWaitersPerLog { group.addTask { await growth.wait("wales", holds: 10, current: { 0 }, until: .now + .seconds(30)) } }
            while growth.waiting < CopyGrowth.maxWaitersPerLog { await Task.yield() }
            // One log's places are full: its next request is answered at once, another log's waits.
            #expect(await growth.wait("wales", holds: 10, current: { 0 }, until: .now + .seconds(30)) == false, "one more than the log's cap was kept waiting")
            group.addTask { await growth.wait("england", holds: 4, current: { 0 }, until: .now + .seconds(30)) }
            while growth.waiting < CopyGrowth.maxWaitersPerLog + 1 { await Task.yield() }
            growth.grew("wales", to: 10)
            growth.grew("england", to: 4)
            for await woken in group { #expect(woken) }
        }
        #expect(growth.waiting == 0)
    }
}
