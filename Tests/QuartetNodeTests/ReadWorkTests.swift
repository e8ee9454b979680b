import Foundation
import Dispatch
import Hummingbird
import NIOPosix
import Synchronization
import Testing
@testable import QuartetNode

@Suite struct ReadWorkTests {
    final class Started: Sendable { let count = Atomic<Int>(0) }

    /// A started pool of two threads, a `ReadWork` on it under `limits`, a gate its bodies wait
    /// on and a count of bodies started.
    static func work(_ limits: ReadWork.Limits) -> (NIOThreadPool, ReadWork, DispatchSemaphore, Started) {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return (pool, ReadWork(limits: limits, pool: pool), DispatchSemaphore(value: 0), Started())
    }

    @Test func countsBoundEachCallerAndTheNode() {
        var counts = ReadWork.Counts(limits: .init(perCaller: 2, runningPerCaller: 1, total: 3))
        #expect(counts.admit("a") == nil)
        #expect(counts.admit("a") == nil)
        #expect(counts.admit("a") == .caller)
        #expect(counts.admit("b") == nil)
        #expect(counts.admit("c") == .node)
        counts.release("a")
        #expect(counts.admit("c") == nil)
        #expect(counts.admitted == 3)
        // A release of a caller with nothing admitted changes nothing.
        counts.release("nobody")
        #expect(counts.admitted == 3)
        counts.release("a"); counts.release("b"); counts.release("c")
        #expect(counts.admitted == 0 && counts.byCaller.isEmpty)
        // An operator or a member node is admitted past the node's bound (not its own).
        for caller in ["r1", "r2", "r3"] { #expect(counts.admit(caller) == nil) }
        #expect(counts.admit("r4") == .node)
        #expect(counts.admit("operator", privileged: true) == nil)
    }

    /// A few credentials at their own bound cannot fill the node: past half of it, each is held
    /// to `busyPerCaller`, so readers with other credentials are still admitted.
    @Test func aFewCredentialsCannotFillTheNode() {
        var counts = ReadWork.Counts(limits: ReadWork.Limits())
        let limits = counts.limits
        var refusedAt: [String: Int] = [:]
        for caller in ["a", "b", "c", "d"] {
            for n in 0..<limits.perCaller where counts.admit(caller) != nil {
                refusedAt[caller] = n
                break
            }
        }
        #expect(refusedAt["a"] == nil && refusedAt["b"] == nil, "the first two take their share: \(refusedAt)")
        #expect(refusedAt["c"] == limits.busyPerCaller && refusedAt["d"] == limits.busyPerCaller, "\(refusedAt)")
        #expect(counts.admitted < limits.total)
        for caller in ["e", "f", "g"] { #expect(counts.admit(caller) == nil, "\(caller) was locked out") }
        #expect(counts.admit("operator", privileged: true) == nil)
    }

    /// One credential's requests take turns on the pool: at most `runningPerCaller` there at
    /// once, the rest waiting in order, so another credential's request is never behind more
    /// than that many of one reader's.
    @Test func aCredentialsRequestsTakeTurns() {
        var counts = ReadWork.Counts(limits: .init(perCaller: 10, runningPerCaller: 2, total: 100))
        for id in 0..<4 as Range<UInt64> { #expect(counts.admit("a") == nil); _ = id }
        #expect(counts.start("a", id: 0) && counts.start("a", id: 1))
        #expect(!counts.start("a", id: 2) && !counts.start("a", id: 3))
        #expect(counts.admit("b") == nil && counts.start("b", id: 4), "another credential waits behind a's turns")
        #expect(counts.finish("a") == 2)
        #expect(counts.finish("a") == 3)
        #expect(counts.finish("a") == nil && counts.finish("a") == nil)
        #expect(counts.finish("b") == nil)
        #expect(counts.admitted == 0 && counts.running.isEmpty && counts.waiting.isEmpty)
    }

    @Test func refusesPastTheBoundsAndFreesTheSlotWhenWorkEnds() async throws {
        let (pool, reads, gate, started) = Self.work(.init(perCaller: 1, runningPerCaller: 1, total: 2))
        func waitStarted(_ n: Int) async throws {
            while started.count.load(ordering: .acquiring) < n { try await Task.sleep(for: .milliseconds(1)) }
        }
        // One long request of "a" holds its slot.
        let first = Task { try await reads.run("a") { started.count.add(1, ordering: .releasing); gate.wait(); return 1 } }
        try await waitStarted(1)
        let again = await #expect(throws: HTTPError.self) { try await reads.run("a") { 2 } }
        #expect(again?.status == .tooManyRequests)
        #expect(again?.headers[.retryAfter] == "1")
        // Another credential still gets in, up to the node's bound.
        let second = Task { try await reads.run("b") { started.count.add(1, ordering: .releasing); gate.wait(); return 3 } }
        try await waitStarted(2)
        let full = await #expect(throws: HTTPError.self) { try await reads.run("c") { 4 } }
        #expect(full?.status == .serviceUnavailable)
        gate.signal(); gate.signal()
        #expect(try await first.value == 1)
        #expect(try await second.value == 3)
        // Both slots are free again, and a body that throws frees its slot too.
        let waited = try await withThrowingTaskGroup(of: Int.self) { group in
            // With one turn at a time, a's second request waits for its first, then runs.
            let reads = ReadWork(limits: .init(perCaller: 4, runningPerCaller: 1, total: 8), pool: pool)
            group.addTask { try await reads.run("a") { Thread.sleep(forTimeInterval: 0.05); return 1 } }
            group.addTask { try await reads.run("a") { 2 } }
            return try await group.reduce(0, +)
        }
        #expect(waited == 3)
        struct Failed: Error {}
        await #expect(throws: Failed.self) { try await reads.run("a") { throw Failed() } }
        #expect(try await reads.run("a") { 5 } == 5)
        try await pool.shutdownGracefully()
    }

    /// Finding 282: a request waiting for its credential's turn is judged again when the turn
    /// comes; one whose credential a reload withdrew meanwhile is refused (401), not answered.
    @Test func aRequestWaitingForItsTurnIsRefusedOnceItsCredentialIsWithdrawn() async throws {
        let (pool, reads, gate, started) = Self.work(.init(perCaller: 4, runningPerCaller: 1, total: 8))
        final class Flag: Sendable { let value = Atomic<Bool>(true) }
        let admitted = Flag()
        let recheck: @Sendable () -> Bool = { admitted.value.load(ordering: .acquiring) }
        let first = Task { try await reads.run("a", stillAdmitted: recheck) { started.count.add(1, ordering: .releasing); gate.wait(); return 1 } }
        while started.count.load(ordering: .acquiring) < 1 { try await Task.sleep(for: .milliseconds(1)) }
        let second = Task { try await reads.run("a", stillAdmitted: recheck) { 2 } }
        try await Task.sleep(for: .milliseconds(50))
        // The token is removed while the second request waits behind the first.
        admitted.value.store(false, ordering: .releasing)
        gate.signal()
        #expect(try await first.value == 1)
        let refused = await #expect(throws: HTTPError.self) { try await second.value }
        #expect(refused?.status == .unauthorized)
        // Its slot is freed: the credential, admitted again, is served.
        admitted.value.store(true, ordering: .releasing)
        #expect(try await reads.run("a", stillAdmitted: recheck) { 3 } == 3)
        try await pool.shutdownGracefully()
    }
}
