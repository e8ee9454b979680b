import QuartetStore

/// Whether the data directory answers a read, asked at most every 250 ms: a load balancer
/// polling `/healthz` hard does not turn into as many SQLite transactions.
final class HealthProbe: Sendable {
    let store: LedgerStore
    static let interval = Duration.milliseconds(250)
    /// One read at a time; the others are answered the last (`RefreshedValue`).
    private let last = RefreshedValue<Bool>(interval: HealthProbe.interval)

    init(store: LedgerStore) { self.store = store }

    /// A read still running 5 s on says unhealthy to the others (the store hangs).
    func healthy() -> Bool { last.get(stuck: { false }) { (try? store.logs()) != nil } }
}
