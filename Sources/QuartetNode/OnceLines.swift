import Synchronization

/// Log lines said once per key (a log and a rotation, say) rather than at every request that
/// meets the same state: a reader asking for a page hundreds of times a second wrote a warning
/// each time. At most `capacity` keys are kept; beyond them nothing more is said (the state
/// behind so many different lines is already in the log many times over).
final class OnceLines: Sendable {
    private let said = Mutex<Set<String>>([])
    private let capacity: Int

    init(capacity: Int = 1_024) { self.capacity = capacity }

    /// Whether the line for `key` is to be written now: the first time it is asked, and only
    /// while fewer than `capacity` keys were said.
    func first(_ key: String) -> Bool {
        said.withLock { said in
            guard said.count < capacity || said.contains(key) else { return false }
            return said.insert(key).inserted
        }
    }
}
