import QuartetLedger

/// The roots of the last checkpoints stored of one log, by size (at most `capacity`).
struct RecentRoots {
    static let capacity = 256
    private var roots: [UInt64: Hash] = [:]
    private var order: [UInt64] = []

    mutating func add(size: UInt64, root: Hash) {
        if roots.updateValue(root, forKey: size) == nil { order.append(size) }
        if order.count > Self.capacity {
            let drop = order.count - Self.capacity
            for size in order.prefix(drop) { roots[size] = nil }
            order.removeFirst(drop)
        }
    }

    func root(size: UInt64) -> Hash? { roots[size] }
}
