import NIOConcurrencyHelpers
import NIOCore

/// The bytes of large responses an API port holds for clients that have not taken them yet,
/// bounded together: past `limit`, the connection whose client has taken nothing for longest
/// while it holds bytes (its connection unwritable) is closed, and its bytes freed. A reader
/// who opens every slot it can, asks each for a 4 MiB page and reads slowly holds at most about
/// `limit`, not slots × pages; a client taking a large answer at full speed is also unwritable
/// for most of it (the answer waits in the outbound buffer), but it takes a part every few
/// milliseconds, so the slow readers go first whatever each holds.
///
/// Only parts the deadline handler watches count (a body over 64 KiB, or any while stalled):
/// small answers are bounded by the slots alone.
final class ResponseBudget: Sendable {
    /// The accounting, pure (tested without channels).
    struct Ledger {
        struct Holder {
            var pending = 0
            var stalled = false
            /// When its client last took a part (or, before any, when it first held bytes).
            var progress: NIODeadline
        }
        let limit: Int
        private(set) var holders: [ObjectIdentifier: Holder] = [:]
        private(set) var total = 0

        init(limit: Int) { self.limit = limit }

        /// `bytes` more held for connection `id` at `now`; the connections to close to get back
        /// under the limit (stalled ones, the longest without progress first), whose bytes no
        /// longer count.
        mutating func hold(_ id: ObjectIdentifier, _ bytes: Int, now: NIODeadline) -> [ObjectIdentifier] {
            holders[id, default: Holder(progress: now)].pending += bytes
            total += bytes
            var victims: [ObjectIdentifier] = []
            while total > limit, let victim = holders.filter({ $0.value.stalled && $0.value.pending > 0 }).min(by: { $0.value.progress < $1.value.progress })?.key {
                victims.append(victim)
                remove(victim)
            }
            return victims
        }

        /// `bytes` of connection `id` written (its client took them at `now`), or dropped.
        mutating func release(_ id: ObjectIdentifier, _ bytes: Int, now: NIODeadline) {
            guard var holder = holders[id] else { return }
            let freed = min(bytes, holder.pending)
            holder.pending -= freed
            holder.progress = now
            total -= freed
            holders[id] = holder
        }

        mutating func stalled(_ id: ObjectIdentifier, _ stalled: Bool, now: NIODeadline) {
            holders[id, default: Holder(progress: now)].stalled = stalled
        }

        mutating func remove(_ id: ObjectIdentifier) {
            if let holder = holders.removeValue(forKey: id) { total -= holder.pending }
        }
    }

    /// Default 256 MiB a port.
    static let defaultLimit = 256 << 20

    /// The accounting and the channels it may close, under one lock.
    private let state: NIOLockedValueBox<(ledger: Ledger, channels: [ObjectIdentifier: any Channel])>

    init(limit: Int = ResponseBudget.defaultLimit) {
        state = NIOLockedValueBox((Ledger(limit: limit), [:]))
    }

    func hold(_ channel: any Channel, _ bytes: Int) {
        let id = ObjectIdentifier(channel), now = NIODeadline.now()
        let closing = state.withLockedValue { s -> [any Channel] in
            s.channels[id] = channel
            return s.ledger.hold(id, bytes, now: now).compactMap { s.channels.removeValue(forKey: $0) }
        }
        for victim in closing { victim.close(promise: nil) }
    }

    func release(_ channel: any Channel, _ bytes: Int) {
        let id = ObjectIdentifier(channel), now = NIODeadline.now()
        state.withLockedValue { $0.ledger.release(id, bytes, now: now) }
    }

    func stalled(_ channel: any Channel, _ stalled: Bool) {
        let id = ObjectIdentifier(channel), now = NIODeadline.now()
        state.withLockedValue { $0.ledger.stalled(id, stalled, now: now) }
    }

    /// The connection closed: nothing of it counts any more.
    func forget(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLockedValue { s in
            s.ledger.remove(id)
            s.channels[id] = nil
        }
    }

    var held: Int { state.withLockedValue { $0.ledger.total } }
}
