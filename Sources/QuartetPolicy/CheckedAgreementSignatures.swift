import Synchronization

/// Owners' signatures on agreements already checked here (by the owner's key and the whole
/// note): an agreement entry folded again — a relay judges every batch it sends with the
/// agreement entries in it, and a member can fill its log with copies of one real agreement —
/// costs a hash and a lookup, not an Ed25519 check. Bounded, oldest first out.
final class CheckedAgreementSignatures: Sendable {
    static let shared = CheckedAgreementSignatures()
    static let capacity = 4096
    private let state = Mutex<(set: Set<[UInt8]>, order: [[UInt8]])>(([], []))

    func contains(_ key: [UInt8]) -> Bool { state.withLock { $0.set.contains(key) } }

    func insert(_ key: [UInt8]) {
        state.withLock { state in
            guard state.set.insert(key).inserted else { return }
            state.order.append(key)
            if state.order.count > Self.capacity { state.set.remove(state.order.removeFirst()) }
        }
    }

    /// How many are held (for tests).
    var count: Int { state.withLock { $0.set.count } }
}
