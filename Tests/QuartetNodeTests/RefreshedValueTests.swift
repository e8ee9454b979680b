import Testing
@testable import QuartetNode

@Suite struct RefreshedValueTests {
    @Test func oneCallerRefreshesAndTheOthersGetTheValueBefore() {
        let value = RefreshedValue<Int>(interval: .seconds(1))
        let start = ContinuousClock.now
        var reads = 0
        #expect(value.get(now: start) { reads += 1; return 1 } == 1)
        // Within the interval: no read.
        #expect(value.get(now: start + .milliseconds(500)) { reads += 1; return 2 } == 1)
        #expect(reads == 1)
        // Expired: this caller refreshes; a caller arriving meanwhile gets the value before,
        // and does not read too.
        let later = start + .seconds(2)
        var meanwhile: Int?
        let refreshed = value.get(now: later) {
            reads += 1
            meanwhile = value.get(now: later) { reads += 100; return 99 }
            return 3
        }
        #expect(refreshed == 3 && meanwhile == 1 && reads == 2)
        #expect(value.get(now: later + .milliseconds(10)) { reads += 1; return 4 } == 3)
    }

    /// A refresh that hangs does not keep the old answer for ever: past `stuckAfter` from the
    /// value's time, the others are answered `stuck`.
    @Test func aRefreshStillRunningPastTheLimitAnswersStuck() {
        let value = RefreshedValue<Bool>(interval: .milliseconds(250), stuckAfter: .seconds(5))
        let start = ContinuousClock.now
        #expect(value.get(now: start) { true })
        var seen: [Bool] = []
        _ = value.get(now: start + .seconds(1)) {
            // While this read hangs: at 2 s the old value, at 7 s (6 s after it) stuck.
            seen.append(value.get(now: start + .seconds(2), stuck: { false }) { true })
            seen.append(value.get(now: start + .seconds(7), stuck: { false }) { true })
            return true
        }
        #expect(seen == [true, false])
    }
}
