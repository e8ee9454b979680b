import Foundation
import Logging
import NIOConcurrencyHelpers
import QuartetPolicy
import QuartetStore
import ServiceLifecycle

// (Over ~350 lines: the node's background services (replication, purges, the witness rounds and
// reads), each short, started together by `Node`.)

/// Starts replication (dialling, anti-entropy) and, on graceful shutdown, closes every peer
/// connection.
struct ReplicationService: Service {
    let engine: ReplicationEngine
    let recorder: OwnLogRecorder
    let policy: @Sendable () -> Policy
    /// Which of a copy's entries still have their payloads (`OwnLogRecorder.recover`).
    let held: @Sendable (String, [UInt64]) throws -> Set<UInt64>

    func run() async throws {
        // Records a previous run journalled but did not get into the log (a crash, SIGKILL)
        // go in before anything is sent.
        await recorder.recover(known: policy(), held: held)
        engine.start()
        try? await gracefulShutdown()
        await engine.stop()
        // What was sent is recorded before the node stops.
        await recorder.flush()
    }
}

/// Purges, at this node, the payloads it holds under agreements that ended (revoked or
/// expired) unless another agreement in force still gives it full access: the stubs stay, so
/// the logs still verify, and each purge is recorded in the node's own log (`purge.recorded`).
final class Purger: Sendable {
    let store: LedgerStore
    let view: ViewMaintainer
    let me: String
    let ownLog: String
    let recorder: OwnLogRecorder
    let logger: Logger
    /// Agreements whose purge is scheduled or done in this run (`PurgeSchedule`).
    private let handled = NIOLockedValueBox(PurgeSchedule())
    /// Whether a purge's payloads may still be in the WAL (its emptying failed and has not
    /// succeeded since): a later pass that finds nothing left to clear empties it first, or
    /// fails, rather than marking the purge done with the old page images on disk. True at
    /// start: a purge an earlier run committed, then was killed before its WAL was emptied, is
    /// not marked done, so its passes run again — and find nothing left to clear (was: marked
    /// done then, the old page images left on disk until some checkpoint overwrote them).
    private let walOwed = NIOLockedValueBox(true)
    /// Whether the last purge that failed failed on the disk (not on readers keeping the WAL
    /// busy, which is tried again and is no write failure).
    private let failedOnDisk = NIOLockedValueBox(false)
    /// Purges finished in an earlier run (or this one): not scanned for again.
    let marks: PurgeMarks?
    /// Waits for the replica batches being stored (`ReplicationEngine.drainStores`): one judged
    /// just before an end may commit long after (a busy writer), and the second pass must see it.
    let drainStores: @Sendable () -> Void
    /// Resets the connections to an ended agreement's recipients (`ReplicationEngine.reset`):
    /// frames egress let through before the end, still queued for a slow reader, are dropped
    /// rather than delivered long after it (finding 286).
    let resetRecipients: @Sendable (_ peers: Set<String>, _ agreement: String) -> Void
    /// This node's clock against its witnesses': while they disagree, no agreement is judged
    /// ended or in force again by it (a clock run a year fast would purge, for good, payloads
    /// this node is entitled to; finding 289). `checkEnded` runs every second, so the purges
    /// owed run once the clock is set right.
    let clock: ClockWatch

    init(store: LedgerStore, view: ViewMaintainer, me: String, ownLog: String, recorder: OwnLogRecorder, marks: PurgeMarks? = nil,
         drainStores: @escaping @Sendable () -> Void = {}, resetRecipients: @escaping @Sendable (Set<String>, String) -> Void = { _, _ in }, logger: Logger,
         clock: ClockWatch = ClockWatch()) {
        self.clock = clock
        self.drainStores = drainStores
        self.resetRecipients = resetRecipients
        self.store = store
        self.view = view
        self.me = me
        self.ownLog = ownLog
        self.recorder = recorder
        self.marks = marks
        self.logger = logger
        if let marks, marks.count > 0 {
            logger.info("purges finished before are not scanned for again", metadata: ["count": "\(marks.count)", "file": "\(marks.path)"])
        }
    }

    /// Purges for `id` (off the caller's thread), and once more a few seconds later: a batch
    /// that egress or ingress let through just before the end may be stored after the first
    /// purge. Only once the agreement has ended by this node's clock (`AgreementState.ended(by:)`):
    /// a revocation folded here before its time (this clock behind the holder's) is purged when
    /// its time comes, by `checkEnded`, not marked done unpurged.
    func ended(_ id: String) {
        guard clock.holdReason == nil else { return }
        if let state = view.policy.agreements[id] { ended(state, now: wallClockMillis()) }
    }

    /// Every agreement that has ended by now: revoked, past its validity, contested or withdrawn.
    /// Returns whether it judged them (not while the clock is held: `clock`).
    @discardableResult
    func checkEnded() -> Bool {
        guard clock.holdReason == nil else { return false }
        let now = wallClockMillis()
        let policy = view.policy
        for state in policy.agreements.values { ended(state, now: now) }
        for states in policy.withdrawn.values { for state in states { ended(state, now: now) } }
        return true
    }

    private func ended(_ state: AgreementState, now: UInt64) {
        // By entry: a withdrawn copy of an id, or one signed again under it, is handled apart.
        let key = PurgeMarks.key(state)
        guard let reason = state.ended(by: now) else {
            // In force (again: its labels returned to their owner, or a clock that ran past its
            // end set right): its next end is purged again, not skipped as done.
            // Under the schedule's lock, as a later pass's mark is (so neither comes between the
            // other's check and its write).
            let owed = handled.withLockedValue { schedule -> Bool in
                if schedule.forget(key) || marks?.contains(key) == true { marks?.forget(key) }
                return schedule.owed
            }
            if !owed { store.writes.succeeded(.purge) }
            return
        }
        // The waits after a failure run on a monotonic clock: a wall clock set back after a
        // failure (it ran fast) would have made the purge wait as long as the step.
        guard marks?.contains(key) != true, let scheduling = handled.withLockedValue({ $0.schedule(key, now: Self.monotonicMillis()) }) else { return }
        // Once an end is scheduled (not for ends purged in an earlier run): nothing sent under
        // the agreement before its end is still to reach its recipients long after.
        resetRecipients(Set(state.agreement.recipients.keys).subtracting([me]), state.agreement.id)
        // After the journal of an earlier run is replayed, as the purge service waits: a purge
        // begun by a revocation folded at start must not write the journal while it is read.
        whenRecovered {
            let first = self.purge(state, reason: reason)
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) {
                // After every replica batch already on its way to the store has committed (one
                // judged before the end could still be waiting for the writer).
                self.drainStores()
                // Both passes without an error: nothing is left to scan for at a later start —
                // unless the agreement came back in force meanwhile (a clock set back): then its
                // mark was forgotten and this pass kept what it is in force for; marking it done
                // again would skip its real end for good (finding 178's fix, completed).
                guard self.purge(state, reason: reason) && first else {
                    // A pass failed (a full disk, an IO error): taken off the schedule, so the
                    // once-a-second check purges it again once its wait is over (5 s, doubling
                    // to 5 min) — not left owed until the next start.
                    let wait = self.handled.withLockedValue { $0.failed(key, scheduling, now: Self.monotonicMillis()) }
                    if self.failedOnDisk.withLockedValue({ $0 }) {
                        self.store.writes.failed(.purge, described: "the purge under agreement \(state.agreement.id) failed (the node's log says why)", nowMillis: wallClockMillis())
                    }
                    if let wait { self.logger.warning("a purge failed; trying again", metadata: ["agreement": "\(state.agreement.id)", "in_seconds": "\(wait / 1000)"]) }
                    return
                }
                let stillEnded = self.currentState(of: state).map { $0.ended(by: wallClockMillis()) != nil } ?? true
                let owed = self.handled.withLockedValue { schedule -> Bool in
                    schedule.succeeded(key)
                    if stillEnded && schedule.isCurrent(key, scheduling) { self.marks?.markDone(key) }
                    return schedule.owed
                }
                if !owed { self.store.writes.succeeded(.purge) }
            }
        }
    }

    /// Milliseconds on a clock no one sets (since boot).
    static func monotonicMillis() -> UInt64 { DispatchTime.now().uptimeNanoseconds / 1_000_000 }

    /// Runs `body` off the caller's thread once the recorder has replayed the journal of an
    /// earlier run (at once after that; looked at again every 50 ms before).
    private func whenRecovered(_ body: @escaping @Sendable () -> Void) {
        if recorder.recovered {
            DispatchQueue.global().async(execute: body)
        } else {
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) { self.whenRecovered(body) }
        }
    }

    /// `state` as the policy has it now (its withdrawn copy for a withdrawn one), if it still does.
    private func currentState(of state: AgreementState) -> AgreementState? {
        let policy = view.policy
        let key = PurgeMarks.key(state)
        if state.withdrawn != nil { return policy.withdrawn.values.lazy.flatMap { $0 }.first { PurgeMarks.key($0) == key } }
        return policy.agreements[state.agreement.id].flatMap { PurgeMarks.key($0) == key ? $0 : nil }
    }

    /// Purges for `ended`; false if any part of it failed.
    private func purge(_ ended: AgreementState, reason: String) -> Bool {
        let policy = view.policy
        let id = ended.agreement.id
        // The agreement of the id as the policy has it now, and the copies that contest it; a
        // withdrawn one alone.
        let states = ended.withdrawn != nil ? [ended] : [policy.agreements[id]].compactMap { $0 } + policy.shadowed.filter { $0.agreement.id == id }
        var done = true
        for state in states where state.agreement.holder != ownLog {
            done = purge(state, policy: policy, reason: reason) && done
        }
        return done
    }

    @discardableResult
    private func purge(_ state: AgreementState, policy: Policy, reason: String) -> Bool {
        let id = state.agreement.id
        // A pass scheduled before the clock was found wrong waits too (not done: tried again).
        if let hold = clock.holdReason {
            logger.warning("purge waits: this node's clock disagrees with its witnesses", metadata: ["agreement": "\(id)", "reason": "\(hold)"])
            return false
        }
        do {
            guard let log = try store.logs().first(where: { $0.name == state.agreement.holder }) else { return true }
            let now = wallClockMillis()
            var decisions = Decisions(policy: policy, holder: log.name, recipient: me, at: now)
            // Found before the view's lock and the writer are taken (a header scan of the log),
            // and nothing more is done where this node holds none of the labels' payloads.
            let labels = Set(state.agreement.labels)
            let candidates = try store.purgeCandidates(log, labels: labels)
            guard !candidates.isEmpty else { return emptyOwedWAL(id) }
            // Journalled before the commit: a node stopped before the record below records at
            // its next start what this cleared (`OwnLogRecorder.recover`).
            let record = PurgeRecord(agreement: id, entries: candidates.map(\.index), log: log.name, reason: reason, time: iso8601(now))
            let token = recorder.purgeStarting(record)
            let purged: [UInt64]
            do {
                // The view's lock is taken once the writer is the purge's (never held while waiting
                // for it), and held through the commit: no fold re-reads a purged payload from a
                // snapshot before it, and no reader sees a purged aggregate after it.
                purged = try store.purge(log, candidates: candidates, labels: labels, keep: { header, payload in
                    // A published aggregate is kept only under an agreement its suppression meets.
                    decisions.admits(header, payload: payload).admitted
                }, holding: { transaction in try view.purge(log: log.name, transaction) })
            } catch {
                recorder.purgeAbandoned(token)
                throw error
            }
            guard !purged.isEmpty else {
                recorder.purgeAbandoned(token)
                return emptyOwedWAL(id)
            }
            logger.notice("purged payloads held under an agreement that ended", metadata: [
                "agreement": "\(id)", "reason": "\(reason)", "log": "\(log.name)", "entries": "\(purged.count)"])
            recorder.recordPurge(PurgeRecord(agreement: id, entries: purged, log: log.name, reason: reason, time: iso8601(now)), started: token)
            // The old page images (payloads included) must not linger in the WAL.
            do {
                try store.emptyWAL()
                walOwed.withLockedValue { $0 = false }
            } catch {
                logger.error("purged payloads remain in the WAL; retrying in 5 s", metadata: ["agreement": "\(id)", "error": "\(error)"])
                walOwed.withLockedValue { $0 = true }
                failedOnDisk.withLockedValue { $0 = error.code != .busy }
                DispatchQueue.global().asyncAfter(deadline: .now() + 5) { [store, logger, walOwed] in
                    do {
                        try store.emptyWAL()
                        walOwed.withLockedValue { $0 = false }
                    } catch { logger.error("purged payloads still remain in the WAL", metadata: ["error": "\(error)"]) }
                }
                // Not noted as finished: its next try (or the next start: `walOwed`) empties the WAL first.
                return false
            }
            return true
        } catch {
            logger.error("cannot purge", metadata: ["agreement": "\(id)", "error": "\(error)"])
            failedOnDisk.withLockedValue { $0 = (error as? StoreError).map { $0.code != .busy } ?? true }
            return false
        }
    }

    /// Nothing (more) to clear for agreement `id`: true once no purge's payloads are owed out of
    /// the WAL — emptied now if an earlier emptying failed; false (tried again later) if it
    /// still cannot be.
    private func emptyOwedWAL(_ id: String) -> Bool {
        guard walOwed.withLockedValue({ $0 }) else { return true }
        do {
            try store.emptyWAL()
            walOwed.withLockedValue { $0 = false }
            return true
        } catch {
            logger.error("purged payloads still remain in the WAL", metadata: ["agreement": "\(id)", "error": "\(error)"])
            failedOnDisk.withLockedValue { $0 = error.code != .busy }
            return false
        }
    }
}

/// Checks every second (and at start) for agreements that have ended, until shutdown; a
/// check is a walk over a handful of agreements, each purged once. Revocations are also purged
/// as they are folded.
struct PurgeService: Service {
    let purger: Purger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // After the journal of an earlier run is replayed: a purge recorded now must not be
            // read back from the journal as one of that run's.
            while !purger.recorder.recovered && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
            while !Task.isCancelled {
                purger.checkEnded()
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}

/// Witnessing in the background, until shutdown: every `WitnessCollector.refreshSeconds` the
/// cosignatures the other members' logs gathered are read from their nodes (for the view's
/// "witnessed by k of n"), this log's witnesses are asked again if a request is due, and what
/// this node's witness cosigned is set against its copies of the logs.
struct WitnessingService: Service {
    let collector: WitnessCollector
    /// This node's witness: what it cosigned is set against its copies as they grow.
    var witness: WitnessService?

    func run() async throws {
        // The round of asking the peers under way (`WitnessRecall`), awaited before the stores close.
        let recallRound = NIOLockedValueBox<Task<Void, Never>?>(nil)
        // How long to wait between rounds of asking while the answers are not all in: half a
        // second, doubling to `refreshSeconds` (peers that stay down are not asked twice a
        // second for ever, each round a connection to each).
        await cancelWhenGracefulShutdown {
            var recallWait = Duration.milliseconds(500)
            while !Task.isCancelled {
                // The kick first; the reads of the other members' checkpoints run on their own
                // (one slow to serve its checkpoint delays neither this loop nor the others).
                collector.kick()
                collector.judgeClock()
                collector.refreshOthers()
                witness?.checkCosignedAgainstCopies()
                // At start, until the peers have said what this witness cosigned (each round on
                // its own task; a peer that never answers holds back no other work).
                if let witness, witness.recalling {
                    // One round at a time: a round clears itself when it ends, and the next
                    // loop starts another.
                    recallRound.withLockedValue { round in
                        guard round == nil else { return }
                        round = Task {
                            await witness.recallStep()
                            recallRound.withLockedValue { $0 = nil }
                        }
                    }
                    try? await Task.sleep(for: recallWait)
                    recallWait = min(recallWait * 2, .seconds(WitnessCollector.refreshSeconds))
                    continue
                }
                try? await Task.sleep(for: .seconds(WitnessCollector.refreshSeconds))
            }
        }
        collector.stop()
        // The reads of the other members' checkpoints still under way end within their
        // timeouts, before the node closes the stores they write to.
        await collector.drainReads()
        await recallRound.withLockedValue { $0 }?.value
    }
}

/// The purges a `Purger` scheduled in this run, each with the number of its scheduling: a
/// purge's delayed second pass marks it done only while it is still the one scheduled (an
/// agreement back in force meanwhile is forgotten; a later end schedules it anew).
/// A purge that failed is taken off and waits before it is scheduled again (5 s, doubling to
/// 5 min while it keeps failing).
struct PurgeSchedule: Sendable {
    private var keys: [String: UInt64] = [:]
    private var next: UInt64 = 0
    /// Purges that failed: how many times in a row, and not before when (ms on the monotonic clock) again.
    private var retries: [String: (failures: Int, notBefore: UInt64)] = [:]

    static let firstRetryMillis: UInt64 = 5_000
    static let lastRetryMillis: UInt64 = 300_000

    /// Schedules `key` at `now` (ms on a monotonic clock): its number, or nil when it is scheduled already or
    /// waits after a failure.
    mutating func schedule(_ key: String, now: UInt64 = 0) -> UInt64? {
        guard keys[key] == nil, retries[key].map({ now >= $0.notBefore }) ?? true else { return nil }
        next &+= 1
        keys[key] = next
        return next
    }

    /// `key`'s purge (scheduled as `scheduling`) failed at `now`: off the schedule, to be
    /// scheduled again after its wait (ms, returned); nil when it is no longer that scheduling
    /// (forgotten meanwhile: in force again).
    mutating func failed(_ key: String, _ scheduling: UInt64, now: UInt64) -> UInt64? {
        guard isCurrent(key, scheduling) else { return nil }
        keys[key] = nil
        let failures = (retries[key]?.failures ?? 0) + 1
        let wait = min(Self.lastRetryMillis, Self.firstRetryMillis << UInt64(min(failures - 1, 16)))
        retries[key] = (failures, now &+ wait)
        return wait
    }

    /// `key`'s purge went through: it waits no more.
    mutating func succeeded(_ key: String) { retries[key] = nil }

    /// Whether a purge that failed has not gone through since.
    var owed: Bool { !retries.isEmpty }

    /// Forgets `key` (in force again: no purge is owed for it); whether it was scheduled.
    mutating func forget(_ key: String) -> Bool {
        retries[key] = nil
        return keys.removeValue(forKey: key) != nil
    }

    /// Whether `scheduling` is still `key`'s.
    func isCurrent(_ key: String, _ scheduling: UInt64) -> Bool { keys[key] == scheduling }
}
