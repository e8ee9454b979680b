/// When a node is ready for traffic (`GET /readyz`), beside alive (`/healthz`): its data
/// directory answers, it is connected to at least one other member (a node alone serves only
/// what it had), and no log it holds is more than `maxBehindEntries` behind the largest
/// checkpoint it has seen signed for that log. Pure: the route passes what it reads.
enum Readiness {
    /// A log further behind than this is not ready (catch-up runs at ~100,000 entries/s, so a
    /// healthy node crosses it in well under a second).
    static let maxBehindEntries: UInt64 = 10_000

    /// Why the node is not ready (empty: it is). Reasons name logs and peers, never sizes.
    static func evaluate(storeAnswers: Bool, peers: [(id: String, connected: Bool)], logs: [(name: String, held: UInt64, seen: UInt64)]) -> [String] {
        var reasons: [String] = []
        if !storeAnswers { reasons.append("the data directory does not answer") }
        if !peers.isEmpty && !peers.contains(where: \.connected) { reasons.append("connected to no other member") }
        for log in logs.sorted(by: { $0.name < $1.name }) where log.seen > log.held && log.seen - log.held > maxBehindEntries {
            reasons.append("log \(log.name) is behind by more than \(maxBehindEntries) entries")
        }
        return reasons
    }
}
