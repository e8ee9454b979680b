/// A map that forgets its oldest keys past `capacity`.
struct BoundedMemo<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    let capacity: Int
    private var values: [Key: Value] = [:]
    private var order: [Key] = []
    init(capacity: Int) { self.capacity = capacity }
    subscript(key: Key) -> Value? {
        get { values[key] }
        set {
            guard let newValue else { values[key] = nil; return }
            if values.updateValue(newValue, forKey: key) == nil { order.append(key) }
            if order.count > capacity { values[order.removeFirst()] = nil }
        }
    }
    /// Forgets `key`, from the eviction order too (a stale place there would later evict the
    /// key inserted again early).
    mutating func remove(_ key: Key) {
        guard values.removeValue(forKey: key) != nil else { return }
        order.removeAll { $0 == key }
    }
}

/// A set that forgets its oldest members past `capacity`.
struct BoundedSet<Element: Hashable & Sendable>: Sendable {
    private var memo: BoundedMemo<Element, Bool>
    init(capacity: Int) { memo = BoundedMemo(capacity: capacity) }
    /// Inserts `element`; false if it was there.
    mutating func insert(_ element: Element) -> Bool {
        guard memo[element] == nil else { return false }
        memo[element] = true
        return true
    }
    /// Whether `element` is there.
    func contains(_ element: Element) -> Bool { memo[element] != nil }
    /// Forgets `element` (a later insert of it is new).
    mutating func remove(_ element: Element) { memo.remove(element) }
}

/// A small deterministic generator for jitter (and simulations).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
