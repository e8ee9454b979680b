@testable import QuartetNode
import Testing

/// The witness's requests waiting for its copy of a log to grow (finding 231): woken by a batch
/// of that log, not of another; at once when it grew since they looked; at their deadline
/// otherwise; and never more than `maxWaiters` at once.
@Suite struct CopyGrowthTests {
    @Test func aWaiterGoesOnWhenItsLogGrowsAndNotBefore() async {
        let growth = CopyGrowth()
        let before = growth.generations()["wales"] ?? 0
        async let woken = growth.wait("wales", since: before, until: .now + .seconds(30))
        while growth.waiting == 0 { await Task.yield() }
        growth.grew("england")
        #expect(growth.waiting == 1, "another log's batch woke it")
        let started = ContinuousClock.now
        growth.grew("wales")
        #expect(await woken == true)
        #expect(started.duration(to: .now) < .seconds(5))
        #expect(growth.waiting == 0)
    }

    @Test func aLogThatGrewSinceTheDecisionIsNotWaitedFor() async {
        let growth = CopyGrowth()
        let before = growth.generations()["wales"] ?? 0
        growth.grew("wales")
        #expect(await growth.wait("wales", since: before, until: .now + .seconds(30)) == true)
        #expect(growth.waiting == 0)
    }

    @Test func aWaiterEndsAtItsDeadlineAndTooManyAreNotKept() async {
        let growth = CopyGrowth()
        let started = ContinuousClock.now
        #expect(await growth.wait("wales", since: 0, until: .now + .milliseconds(200)) == false)
        #expect(started.duration(to: .now) >= .milliseconds(150))
        #expect(growth.waiting == 0)
        await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<CopyGrowth.maxWaiters { group.addTask { await growth.wait("wales", since: 0, until: .now + .seconds(30)) } }
            while growth.waiting < CopyGrowth.maxWaiters { await Task.yield() }
            #expect(await growth.wait("wales", since: 0, until: .now + .seconds(30)) == false, "one more than the cap was kept waiting")
            growth.grew("wales")
            for await woken in group { #expect(woken) }
        }
    }
}
