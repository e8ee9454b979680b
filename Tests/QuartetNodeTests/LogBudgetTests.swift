import QuartetTLS
import Synchronization
import Testing

/// Lines anyone can cause are written at most `lines` a period; the next line written says how
/// many were dropped.
@Suite struct LogBudgetTests {
    @Test func linesPastTheBudgetAreDroppedAndCounted() {
        let now = Mutex(ContinuousClock.now)
        let budget = LogBudget(lines: 3, per: .seconds(60), clock: { now.withLock { $0 } })
        let first = (0..<10).map { _ in budget.take() }
        #expect(first.map(\.write) == [true, true, true] + Array(repeating: false, count: 7))
        #expect(first.map(\.dropped).allSatisfy { $0 == 0 })
        now.withLock { $0 += .seconds(59) }
        #expect(!budget.take().write, "a new period before its time")
        now.withLock { $0 += .seconds(2) }
        let next = budget.take()
        #expect(next.write && next.dropped == 8, "\(next)")
        #expect(budget.take() == (true, 0))
        // Every line asked for is counted, written or dropped (the metrics' count).
        #expect(budget.total == 13)
    }
}
