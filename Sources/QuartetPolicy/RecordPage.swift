/// Where a disclosure or purge record is on the ledger: its log and index. Records are paged in
/// this order (log name, then index), which is the same at every node and after every restart,
/// whatever order the node folded the logs in.
public struct RecordRef: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var log: String
    public var index: UInt64

    public init(log: String, index: UInt64) {
        self.log = log
        self.index = index
    }

    /// `LOG:INDEX`, as the API's `after` parameter and `next` field write it.
    public init?(parsing string: some StringProtocol) {
        let text = Substring(string)
        guard let colon = text.lastIndex(of: ":"), colon != text.startIndex else { return nil }
        let digits = text[text.index(after: colon)...]
        // Digits only (`UInt64` would take a sign).
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let index = UInt64(digits) else { return nil }
        let log = text[..<colon]
        // A log name (lower-case letters, digits and hyphens): nothing else reaches a record's ref.
        guard log.count <= 64, log.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D }) else { return nil }
        self.init(log: String(log), index: index)
    }

    public var description: String { "\(log):\(index)" }

    public static func < (a: RecordRef, b: RecordRef) -> Bool { (a.log, a.index) < (b.log, b.index) }
}

/// One page of an agreement's disclosure and purge records, together in `RecordRef` order.
public struct RecordPage: Sendable, Equatable {
    public var disclosures: [Disclosure]
    public var purges: [Purge]
    /// The last record on the page when more follow (ask again after it); nil on the last page.
    public var next: RecordRef?
    /// Records of the agreement in all (on every page).
    public var total: Int
}

extension Policy {
    /// Records on one page at most.
    public static let recordsPerPage = 1000
    /// Ranges (of a disclosure) and entries (of a purge) on one page at most, besides the
    /// record count: a record holds up to `maxRangesPerDisclosureRecord` ranges, so a count
    /// alone does not bound a page. A page always holds at least one record.
    public static let rangesPerPage = 100_000

    /// The records of agreement `id` after `after` (from the first without it), at most
    /// `limit` of them and `rangesPerPage` ranges and entries.
    public func records(of id: String, after: RecordRef?, limit: Int) -> RecordPage {
        enum Item { case disclosure(Int), purge(Int) }
        let disclosures = self.disclosures[id] ?? []
        let purges = self.purges[id] ?? []
        var items: [(ref: RecordRef, item: Item)] = []
        for (i, d) in disclosures.enumerated() {
            let ref = RecordRef(log: d.recordLog, index: d.recordIndex)
            if after.map({ $0 < ref }) ?? true { items.append((ref, .disclosure(i))) }
        }
        for (i, p) in purges.enumerated() {
            let ref = RecordRef(log: p.recordLog, index: p.recordIndex)
            if after.map({ $0 < ref }) ?? true { items.append((ref, .purge(i))) }
        }
        items.sort { $0.ref < $1.ref }
        var page = RecordPage(disclosures: [], purges: [], next: nil, total: disclosures.count + purges.count)
        var weight = 0
        for (n, item) in items.map(\.item).enumerated() {
            let cost: Int
            switch item {
            case .disclosure(let i): cost = 1 + disclosures[i].ranges.count
            case .purge(let i): cost = 1 + purges[i].entries.count
            }
            if n >= max(1, limit) || (n > 0 && weight + cost > Self.rangesPerPage) {
                page.next = items[n - 1].ref
                break
            }
            weight += cost
            switch item {
            case .disclosure(let i): page.disclosures.append(disclosures[i])
            case .purge(let i): page.purges.append(purges[i])
            }
        }
        return page
    }
}
