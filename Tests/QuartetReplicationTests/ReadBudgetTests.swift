import QuartetReplication
import Testing

/// What a member may be served in answer to its requests, without sockets or clocks.
@Suite struct ReadBudgetTests {
    var settings: ReadBudget.Settings {
        var s = ReadBudget.Settings()
        s.bytesPerSecond = 1_000
        s.burstBytes = 4_000
        return s
    }

    @Test func aPeerIsServedItsBurstThenAtTheRateAndNoMore() {
        var budget = ReadBudget(settings: settings, nowMillis: 10_000)
        let fresh = budget.allows(nowMillis: 10_000)
        #expect(fresh && budget.credit == 4_000)
        budget.spent(3_000, nowMillis: 10_000)
        let left = budget.allows(nowMillis: 10_000)
        #expect(left)
        // A batch larger than what is left still goes; then the peer waits.
        budget.spent(2_500, nowMillis: 10_000)
        let owing = budget.allows(nowMillis: 10_000)
        #expect(budget.credit == -1_500 && !owing)
        #expect(budget.millisUntilAllowed() == 1_502)
        let atZero = budget.allows(nowMillis: 11_500)
        #expect(!atZero, "credit 0 is not credit")
        let back = budget.allows(nowMillis: 11_502)
        #expect(back)
        // Idle, it fills up to the burst and no further.
        let idle = budget.allows(nowMillis: 100_000)
        #expect(idle && budget.credit == 4_000)
        #expect(budget.millisUntilAllowed() == 0)
    }

    @Test func clocksAndSizesAPeerOrAMachineCouldProduceNeitherTrapNorRefill() {
        var budget = ReadBudget(settings: settings, nowMillis: 10_000)
        budget.spent(5_000, nowMillis: 10_000)
        // A clock that goes back regains nothing.
        let backwards = budget.allows(nowMillis: 0)
        #expect(!backwards && budget.credit == -1_000)
        let soon = budget.allows(nowMillis: 10_500)
        #expect(!soon)
        // Absurd sizes and times: no overflow.
        budget.spent(Int.max, nowMillis: 10_500)
        #expect(budget.credit < 0 && budget.millisUntilAllowed() > 1_000_000_000)
        budget.spent(-5, nowMillis: 10_500)
        let late = budget.allows(nowMillis: UInt64.max)
        #expect(late && budget.credit == 4_000)
        var generous = ReadBudget.Settings()
        generous.bytesPerSecond = Int.max
        var fast = ReadBudget(settings: generous, nowMillis: 0)
        fast.spent(Int.max, nowMillis: 0)
        let wait = fast.millisUntilAllowed()
        let early = fast.allows(nowMillis: wait - 1)
        let fastBack = fast.allows(nowMillis: wait)
        #expect(wait > 1 && wait < 1_000 && !early && fastBack)
    }

    /// The flow holds requests while the budget says no, and hands them out once it says yes.
    @Test func requestsWaitForTheBudgetAsForADrainingConnection() {
        var flow = OutboundFlow()
        let served = flow.request(log: "wales", from: 0, allowed: true)
        #expect(served == .serve)
        let held = flow.request(log: "wales", from: 5, allowed: false)
        #expect(held == .waiting)
        let behind = flow.request(log: "uk", from: 0, allowed: true)
        #expect(behind == .waiting, "behind one already waiting")
        let none = flow.next(allowed: false)
        #expect(none == nil)
        let first = flow.next(allowed: true)
        #expect(first?.log == "wales" && first?.from == 5)
        let second = flow.next(allowed: true)
        #expect(second?.log == "uk" && flow.waiting.isEmpty)
    }
}
