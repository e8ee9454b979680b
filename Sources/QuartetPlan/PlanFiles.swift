import Foundation
import Yams

// The plan files (config/plans/*.yaml), as far as an import reads them: the keys read at
// each level (misspellings refused) and the documents decoded.

/// The keys an import reads at each level of a plan, catalogue or targets file. The files carry
/// other keys too, for people (`source_table`, `timeframe_note`, `counts`, ...), which are not
/// imported; but a key one or two letters from a key the import reads (`uk_counterpart`,
/// `start_yr`, `goal`) is a misspelling, refused with the key it was likely meant to be —
/// taken as a note, it would put an action into the signed log without what it says (its UK
/// counterparts, its years), and a log's entries are never taken back.
indirect enum PlanKeys: Sendable {
    /// A mapping: the keys read, and the shape under each.
    case mapping([String: PlanKeys])
    /// A sequence of items of one shape.
    case sequence(PlanKeys)
    /// A mapping whose keys are data (references), each value of one shape.
    case values(PlanKeys)
    /// A value whose keys, if any, are not looked at.
    case leaf

    static let plan = PlanKeys.mapping([
        "plan": .mapping(["id": .leaf, "nation": .leaf, "title": .leaf]),
        "priorities": .sequence(.mapping([
            "id": .leaf, "number": .leaf, "title": .leaf, "goals": .leaf,
            "actions": .sequence(.mapping(["id": .leaf, "statements": .leaf, "measures": .leaf, "timeframe": .leaf,
                                           "start_year": .leaf, "end_year": .leaf, "uk_counterparts": .leaf])),
        ])),
    ])
    static let catalogue = PlanKeys.mapping([
        "kinds": .sequence(.mapping(["id": .leaf, "value_type": .leaf, "unit": .leaf, "over_time": .leaf])),
        "measure_index": .values(.sequence(.mapping(["ref": .leaf, "kinds": .leaf]))),
    ])
    static let targets = PlanKeys.mapping([
        "targets": .sequence(.mapping(["plan": .leaf, "ref": .leaf, "kind": .leaf, "target_value": .leaf, "per": .leaf,
                                       "cadence": .leaf, "scope": .leaf, "quote": .leaf])),
    ])

    /// The first key of `node` that looks like a misspelling of a key read at its level: where
    /// it is (the path and line) and what it likely meant.
    func misspelt(in node: Node, at path: String = "") -> String? {
        switch (self, node) {
        case (.mapping(let read), .mapping(let mapping)):
            for (key, value) in mapping {
                guard let name = key.string else { continue }
                let here = path.isEmpty ? name : "\(path).\(name)"
                if let shape = read[name] {
                    if let found = shape.misspelt(in: value, at: here) { return found }
                } else if let meant = Self.likelyMeant(name, among: read.keys) {
                    let line = key.mark.map { " (line \($0.line))" } ?? ""
                    return "\(here)\(line): not a key the import reads; did you mean \(meant)? (keys one or two letters off a read key are refused, not kept as notes)"
                }
            }
        case (.sequence(let item), .sequence(let sequence)):
            for (index, value) in sequence.enumerated() {
                if let found = item.misspelt(in: value, at: "\(path)[\(index)]") { return found }
            }
        case (.values(let item), .mapping(let mapping)):
            for (key, value) in mapping {
                if let found = item.misspelt(in: value, at: "\(path).\(key.string ?? "?")") { return found }
            }
        default:
            break
        }
        return nil
    }

    /// A read key `name` is probably a misspelling of: the same but for case; or, both of six
    /// letters or more, within one edit (two past eight letters; a swap of neighbours is one),
    /// their first `_` parts within one edit of each other. Short keys and keys naming another
    /// thing (`ni_counterparts` beside `uk_counterparts`, `units`, `score`, `refs`) are
    /// other nations' notes, not typos.
    static func likelyMeant(_ name: String, among read: some Collection<String>) -> String? {
        read.sorted().first { candidate in
            if candidate.lowercased() == name.lowercased() { return true }
            guard min(name.count, candidate.count) >= 6 else { return false }
            let allowed = max(name.count, candidate.count) <= 8 ? 1 : 2
            guard editDistance(Array(name.unicodeScalars), Array(candidate.unicodeScalars), within: allowed) else { return false }
            guard name.contains("_"), candidate.contains("_") else { return true }
            let first = { (key: String) in Array(key.split(separator: "_", maxSplits: 1).first.map(String.init) ?? key).flatMap(\.unicodeScalars) }
            return editDistance(first(name), first(candidate), within: 1)
        }
    }

    /// Whether `a` and `b` are within `limit` insertions, deletions, substitutions or swaps of
    /// neighbours (optimal string alignment).
    static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], within limit: Int) -> Bool {
        guard abs(a.count - b.count) <= limit, a.count < 256, b.count < 256 else { return false }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in stride(from: 1, through: a.count, by: 1) {
            for j in stride(from: 1, through: b.count, by: 1) {
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1) }
            }
        }
        return d[a.count][b.count] <= limit
    }
}

public struct PlanDocument: Decodable, Sendable {
    public struct Header: Decodable, Sendable {
        public let id: String
        public let nation: String?
        public let title: String?
    }
    public struct Priority: Decodable, Sendable {
        public let id: String
        public let number: Int?
        public let title: String
        public let goals: [String]?
        public let actions: [Action]
    }
    public struct Action: Decodable, Sendable {
        public let id: String
        public let statements: [String]
        public let measures: [String]
        public let timeframe: String?
        public let start_year: Int?
        public let end_year: Int?
        public let uk_counterparts: [String]?
    }
    public let plan: Header
    public let priorities: [Priority]
}

struct Catalogue: Decodable, Sendable {
    struct Kind: Decodable, Sendable {
        let id: String
        let value_type: String
        let unit: String?
        /// How a count of this kind makes a year: `latest` for a level (read and checked with
        /// every kind, whether or not a measure takes the kind first).
        let over_time: OverTime?
    }
    struct IndexItem: Decodable, Sendable {
        let ref: String
        let kinds: [String]
    }
    let kinds: [Kind]
    let measure_index: [String: [IndexItem]]
}

struct TargetRecord: Decodable, Sendable {
    let plan: String
    let ref: String?
    let kind: String
    let target_value: Double?
    let per: String?
    let cadence: String?
    let scope: String?
    let quote: String?
}

struct TargetsFile: Decodable, Sendable {
    let targets: [TargetRecord]
}

/// Numeric facts from the seed documents (config/plans/facts.yaml), each with the exact quote
/// it came from: used to ground demonstration data.
public struct PlanFact: Decodable, Sendable {
    public let id: String
    public let nation: String?
    public let metric: String
    public let quote: String

    struct File: Decodable { let facts: [PlanFact] }

    /// Reads facts.yaml; the facts by id.
    public static func load(_ path: String) throws(PlanError) -> [String: PlanFact] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw PlanError("\(path): cannot read: \(error)") }
        do {
            return Dictionary(try YAMLDecoder().decode(File.self, from: text).facts.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        } catch {
            throw PlanError("\(path): \(error)")
        }
    }
}
