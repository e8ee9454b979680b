@testable import QuartetNode
import Testing

/// A peer connection's reads wait while the engine has many of its messages (or bytes) still
/// to handle, and go on once half are handled.
@Suite struct InboundBacklogTests {
    @Test func readsWaitForTheEngineAndResumeAtHalf() {
        let backlog = InboundBacklog()
        for _ in 0..<(InboundBacklog.maxMessages - 1) { backlog.add(9) }
        #expect(!backlog.hold())
        backlog.add(9)
        #expect(backlog.hold() && backlog.held)
        // Handled one by one: reads go on once, when fewer than half wait.
        var resumed = 0
        for _ in 0..<InboundBacklog.maxMessages where backlog.done(9) { resumed += 1 }
        #expect(resumed == 1 && !backlog.held)
    }

    @Test func oneLargeFrameIsLetInNotTwo() {
        let backlog = InboundBacklog()
        #expect(!backlog.hold())
        backlog.add(64 << 20)
        #expect(backlog.hold())
        #expect(backlog.done(64 << 20))
        #expect(!backlog.hold())
    }
}
