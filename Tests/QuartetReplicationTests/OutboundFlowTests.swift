import QuartetReplication
import Testing

/// Backpressure per connection, without sockets.
@Suite struct OutboundFlowTests {
    var settings: OutboundFlow.Settings {
        var s = OutboundFlow.Settings()
        s.softLimitBytes = 100
        s.hardLimitBytes = 1_000
        s.maxWaitingLogs = 3
        return s
    }

    /// The oldest byte still unwritten is dated no earlier than it was queued, and moves on as
    /// writes end: a peer that finishes a small frame now and then but never catches up has
    /// it grow old.
    @Test func theOldestUnwrittenByteIsDatedAndMovesOnAsWritesEnd() {
        var flow = OutboundFlow(settings: settings)
        #expect(flow.oldestUnwrittenSinceMillis == nil)
        _ = flow.queued(10, nowMillis: 1_000)
        _ = flow.queued(10, nowMillis: 1_500)  // within the second: the mark at 1,000 grows
        _ = flow.queued(10, nowMillis: 2_100)
        #expect(flow.oldestUnwrittenSinceMillis == 1_500, "the mark holding bytes queued at 1,000 and 1,500 is dated by the later")
        flow.written(10)
        #expect(flow.oldestUnwrittenSinceMillis == 1_500, "a byte queued at 1,500 is never dated before it")
        flow.written(10)
        #expect(flow.oldestUnwrittenSinceMillis == 2_100)
        // A slow reader: one frame taken now and then, more queued each time.
        for second in 3...40 {
            _ = flow.queued(10, nowMillis: UInt64(second) * 1_000)
            flow.written(5)
        }
        #expect(flow.oldestUnwrittenSinceMillis.map { $0 <= 21_000 } == true, "\(String(describing: flow.oldestUnwrittenSinceMillis))")
        flow.written(flow.unwritten)
        #expect(flow.oldestUnwrittenSinceMillis == nil)
    }

    @Test func requestsWaitWhileTheConnectionIsBackedUpAndAreServedAsItDrains() {
        var flow = OutboundFlow(settings: settings)
        let r1 = flow.request(log: "wales", from: 0)
        #expect(r1 == .serve)
        let r2 = flow.queued(150)
        #expect(r2)
        let r3 = flow.request(log: "wales", from: 10)
        #expect(r3 == .waiting)
        let r4 = flow.request(log: "wales", from: 10)
        #expect(r4 == .duplicate, "a replay of a waiting request")
        let r5 = flow.request(log: "wales", from: 20)
        #expect(r5 == .waiting, "a newer request for the log replaces the waiting one")
        let r6 = flow.request(log: "uk", from: 0)
        #expect(r6 == .waiting)
        #expect(flow.waiting.count == 2)
        let r7 = flow.next()
        #expect(r7 == nil, "nothing is served while backed up")
        flow.written(100)
        let first = flow.next()
        #expect(first?.log == "wales" && first?.from == 20)
        let r8 = flow.queued(150)
        #expect(r8)
        let r9 = flow.next()
        #expect(r9 == nil)
        flow.written(150)
        let r10 = flow.next()
        #expect(r10?.log == "uk")
        let last = flow.next()
        #expect(last == nil && flow.waiting.isEmpty)
    }

    @Test func tooManyLogsWaitingOrTooMuchUnwrittenEndsTheConnection() {
        var flow = OutboundFlow(settings: settings)
        let r11 = flow.queued(200)
        #expect(r11)
        for log in ["a", "b", "c"] {
            let decision = flow.request(log: log, from: 0)
            #expect(decision == .waiting)
        }
        guard case .overflow = flow.request(log: "d", from: 0) else { Issue.record("a fourth waiting log was accepted"); return }
        let r12 = flow.queued(800)
        #expect(r12)
        let past = flow.queued(1)
        #expect(!past, "past the hard limit")
        flow.written(Int.max)
        #expect(flow.unwritten == 0)
        let absurd = flow.queued(Int.max)
        #expect(!absurd, "no overflow trap on absurd sizes")
    }
}
