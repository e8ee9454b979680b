import Foundation
import QuartetCrypto
import Yams

/// An entry an import wants in the log.
public struct PlannedEntry: Sendable, Equatable {
    public let type: PlanEntryType
    public let payload: JSONValue
    public init(type: PlanEntryType, payload: JSONValue) {
        self.type = type
        self.payload = payload
    }
}

/// Turns a plan file (config/plans/uk-plan.yaml, wales-plan.yaml) with the measures catalogue and
/// the quantitative targets into the entries of a log, and works out which of them a log does
/// not hold yet, so importing the same plan twice adds nothing.
public struct PlanImport: Sendable {
    public let planID: String
    public let planFile: String
    public let document: PlanDocument
    let catalogue: Catalogue
    let targets: [TargetRecord]

    /// Reads the plan and, from the same directory unless given, measures-catalogue.yaml and
    /// quantitative-targets.yaml.
    public init(planFile: String, catalogueFile: String? = nil, targetsFile: String? = nil) throws(PlanError) {
        let directory = (planFile as NSString).deletingLastPathComponent
        func load<T: Decodable>(_ type: T.Type, _ path: String, keys: PlanKeys) throws(PlanError) -> T {
            // Checked and read from one descriptor, within the bound (a FIFO or a link to a
            // device swapped in after a check of the path would hang or fill memory).
            let text: String
            do { text = try RegularFile.readText(path, limit: Self.maxFileBytes) } catch {
                throw PlanError("\(path): \(error) (a plan file is a regular UTF-8 file of at most \(Self.maxFileBytes) bytes)")
            }
            // No anchors or aliases (composing them costs their expansion before it is counted),
            // nor brackets deeper than the parser takes.
            switch YAMLShape.refusal(text) {
            case .anchorOrAlias(let at)?: throw PlanError("\(path): \(at): an anchor or alias; plan files are plain YAML without them")
            case .tooDeep(let at)?: throw PlanError("\(path): \(at): brackets nested more than \(YAMLShape.maxFlowDepth) deep")
            case nil: break
            }
            do {
                // Composed, then counted before anything is decoded.
                guard let node = try Yams.compose(yaml: text) else { throw PlanError("\(path): empty") }
                var budget = Self.maxValues
                guard Self.fits(node, budget: &budget) else {
                    throw PlanError("\(path): more than \(Self.maxValues) values, or a mapping of more than \(Self.maxPairs) keys")
                }
                if let misspelt = keys.misspelt(in: node) { throw PlanError("\(path): \(misspelt)") }
                return try YAMLDecoder().decode(T.self, from: node)
            } catch let error as PlanError {
                throw error
            } catch let error as DecodingError {
                throw PlanError("\(path): \(Self.describe(error))")
            } catch {
                throw PlanError("\(path): not valid YAML: \(error)")
            }
        }
        document = try load(PlanDocument.self, planFile, keys: PlanKeys.plan)
        catalogue = try load(Catalogue.self, catalogueFile ?? (directory as NSString).appendingPathComponent("measures-catalogue.yaml"), keys: PlanKeys.catalogue)
        targets = try load(TargetsFile.self, targetsFile ?? (directory as NSString).appendingPathComponent("quantitative-targets.yaml"), keys: PlanKeys.targets).targets
        planID = document.plan.id
        self.planFile = planFile
        if let kind = catalogue.kinds.first(where: { $0.over_time == .latest && Self.kind($0.value_type) != .count }) {
            throw PlanError("measures catalogue: kind \(kind.id) has over_time \"latest\", but only a count adds up over periods; its value_type is \(kind.value_type)")
        }
    }

    /// A plan, catalogue or targets file: at most this many bytes, and this many values (mapping
    /// keys, values and sequence items) with its aliases expanded (the seed files hold ~6,000).
    static let maxFileBytes = 4 << 20
    static let maxValues = 200_000
    /// Keys in one mapping (the seed files' largest has 14): decoding a mapping into a
    /// dictionary looks each key up along the mapping, so its cost grows with the square.
    static let maxPairs = 1_000

    /// Whether `node` holds at most `budget` values, counted down as it is walked.
    static func fits(_ node: Node, budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch node {
        case .scalar, .alias: return true
        case .mapping(let mapping):
            guard mapping.count <= maxPairs else { return false }
            for (key, value) in mapping where !fits(key, budget: &budget) || !fits(value, budget: &budget) { return false }
            return true
        case .sequence(let sequence):
            for item in sequence where !fits(item, budget: &budget) { return false }
            return true
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): missing"
        case .typeMismatch(let type, let context): return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context.codingPath)): expected \(type), found null"
        case .dataCorrupted(let context):
            // Yams's own error (line, column, what it found) is the underlying one.
            let reason = context.underlyingError.map { ": \($0)" } ?? ""
            return "\(path(context.codingPath)): \(context.debugDescription)\(reason)"
        @unknown default: return "\(error)"
        }
    }

    /// The entries the plan puts in `log`. The plan of a nation goes to that nation's log; the
    /// UK plan goes to the UK log whole, and to a nation without a plan of its own as that
    /// nation's actions and measures (each mapped to the UK action and measure of the same id).
    public func entries(for log: String, ukLog: String = "uk") throws(PlanError) -> [PlannedEntry] {
        let adopting: Bool
        if log == planID {
            adopting = false
        } else if planID == ukLog {
            adopting = true
        } else {
            throw PlanError("\(planFile): this is the \(planID) plan; import it into the \(planID) log, not \(log)")
        }
        let kinds = Dictionary(catalogue.kinds.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let index = catalogue.measure_index[planID] ?? []
        let measureKinds = Dictionary(index.map { ($0.ref, $0.kinds) }, uniquingKeysWith: { a, _ in a })
        let ukIndex = Dictionary((catalogue.measure_index[ukLog] ?? []).map { ($0.ref, $0.kinds) }, uniquingKeysWith: { a, _ in a })
        var out: [PlannedEntry] = []
        var measures: [PlannedEntry] = []
        var planned: Set<String> = []
        // The UK measures a measure of this plan adds into already.
        var mappedTo: Set<String> = []
        let source = (planFile as NSString).lastPathComponent
        for priority in document.priorities {
            if !adopting && log == ukLog {
                var p: [String: JSONValue] = ["id": .string(priority.id), "title": .string(priority.title)]
                if let n = priority.number { p["number"] = .number(Double(n)) }
                if let goals = priority.goals, !goals.isEmpty { p["goals"] = .array(goals.map(JSONValue.string)) }
                out.append(PlannedEntry(type: .priority, payload: .object(p)))
            }
            for action in priority.actions {
                let measureIDs = action.measures.indices.map { "\(action.id).M\($0 + 1)" }
                var a: [String: JSONValue] = [
                    "id": .string(action.id), "priority": .string(priority.id),
                    "statements": .array(action.statements.map(JSONValue.string)),
                    "measures": .array(measureIDs.map(JSONValue.string)),
                    "source": .string(source),
                ]
                var timeframe: [String: JSONValue] = [:]
                if let text = action.timeframe { timeframe["text"] = .string(text) }
                if let y = action.start_year { timeframe["start_year"] = .number(Double(y)) }
                if let y = action.end_year { timeframe["end_year"] = .number(Double(y)) }
                if !timeframe.isEmpty { a["timeframe"] = .object(timeframe) }
                let ukActions = adopting ? [action.id] : (log == ukLog ? [] : action.uk_counterparts ?? [])
                if !ukActions.isEmpty { a["uk_actions"] = .array(ukActions.map(JSONValue.string)) }
                out.append(PlannedEntry(type: .action, payload: .object(a)))
                for (i, text) in action.measures.enumerated() {
                    let id = measureIDs[i]
                    let kindIDs = measureKinds[id] ?? []
                    // A kind the catalogue does not define, or a value type it does not know, is a
                    // mistake in the files, not a qualitative measure (its target and cadence
                    // would be dropped without a word).
                    if let unknown = kindIDs.first(where: { kinds[$0] == nil }) {
                        throw PlanError("\(source): measure \(id) has kind \(unknown) in the measures catalogue's index, which defines no such kind")
                    }
                    let first = kindIDs.first.flatMap { kinds[$0] }
                    let kind: MeasureKind
                    if let first {
                        guard let known = Self.kind(first.value_type) else {
                            throw PlanError("measures catalogue: kind \(first.id) has value_type \"\(first.value_type)\"; expected count, percentage, boolean_milestone, recurring_milestone, categorical_distribution or qualitative")
                        }
                        kind = known
                    } else {
                        kind = .qualitative
                    }
                    var m: [String: JSONValue] = ["id": .string(id), "action": .string(action.id), "text": .string(text), "kind": .string(kind.rawValue)]
                    if let unit = first?.unit { m["unit"] = .string(unit) }
                    // A sum is the default: not written, so a plan imported before reads the same.
                    if first?.over_time == .latest { m["over_time"] = .string(OverTime.latest.rawValue) }
                    // Which UK measure this one adds up into.
                    if adopting {
                        m["uk_measure"] = .string(id)
                    } else if log != ukLog, kind == .count, let firstKind = kindIDs.first {
                        let candidates = (action.uk_counterparts ?? []).flatMap { ua in
                            ukIndex.keys.filter { $0.hasPrefix(ua + ".M") }.sorted()
                        }
                        // One measure of this plan per UK measure: a second of the same kind under
                        // the same UK actions (a subset of the first, another resource) is a
                        // different figure, and adding both would count it twice.
                        if let match = candidates.first(where: { ukIndex[$0]?.first == firstKind }), mappedTo.insert(match).inserted {
                            m["uk_measure"] = .string(match)
                        }
                    }
                    let targetPlan = adopting ? ukLog : planID
                    if let t = targets.first(where: { $0.plan == targetPlan && $0.ref == id && ($0.kind == "count_target" || $0.kind == "percentage_target") }),
                       let value = t.target_value, kind == .count || kind == .percentage {
                        var target: [String: JSONValue] = ["value": .number(value), "per": .string(t.per ?? "year")]
                        if let scope = t.scope { target["scope"] = .string(scope.hasPrefix("UK") ? "uk" : "nation") }
                        if let quote = t.quote { target["quote"] = .string(quote) }
                        m["target"] = .object(target)
                    }
                    if let text = targets.first(where: { $0.plan == targetPlan && $0.ref == id && $0.cadence != nil })?.cadence {
                        guard let cadence = Self.cadence(text) else {
                            throw PlanError("quantitative targets: measure \(id)'s cadence \"\(text)\" is none of annual, quarterly, monthly, every three years")
                        }
                        m["cadence"] = .string(cadence.rawValue)
                    }
                    planned.insert(id)
                    measures.append(PlannedEntry(type: .measure, payload: .object(m)))
                }
            }
        }
        // A target of this plan whose measure the plan does not have is a mistake in the files.
        let targetPlan = adopting ? ukLog : planID
        if let stray = targets.first(where: { $0.plan == targetPlan && ($0.ref.map { MeasureID.looksLike($0) && !planned.contains($0) } ?? false) }) {
            throw PlanError("quantitative targets: a \(stray.kind) of the \(targetPlan) plan names measure \(stray.ref!), which the plan does not have")
        }
        return out + measures
    }

    static func kind(_ valueType: String) -> MeasureKind? {
        switch valueType {
        case "count": return .count
        case "percentage": return .percentage
        case "boolean_milestone", "recurring_milestone": return .milestone
        case "categorical_distribution": return .distribution
        case "qualitative", "text", "narrative": return .qualitative
        default: return nil
        }
    }

    /// Measure ids (`P<n>.A<m>.M<k>`) as the targets file names them (others name actions).
    enum MeasureID {
        static func looksLike(_ text: String) -> Bool { text.wholeMatch(of: /P[0-9]+\.A[0-9]+\.M[0-9]+/) != nil }
    }

    static func cadence(_ text: String) -> Cadence? {
        switch text.lowercased() {
        case "annual", "annually", "yearly": return .annual
        case "quarterly": return .quarterly
        case "monthly": return .monthly
        case "every three years", "tri-annual", "triennial": return .everyThreeYears
        default: return nil
        }
    }

    /// The entries of `planned` that `view` (the log's part of the view, with the UK
    /// priorities) does not already hold as they are: new ones as they are; a changed action as
    /// `plan.action.revised`; a changed priority or measure again (the later entry wins).
    public static func changes(_ planned: [PlannedEntry], log: LogView?, priorities: [String: PriorityState]) throws(PlanError) -> [PlannedEntry] {
        var out: [PlannedEntry] = []
        let decoder = JSONDecoder()
        func decode<T: Decodable>(_ type: T.Type, _ value: JSONValue) throws(PlanError) -> T {
            do { return try decoder.decode(T.self, from: Data(value.encoded())) } catch { throw PlanError("planned entry: \(error)") }
        }
        for entry in planned {
            switch entry.type {
            case .priority:
                let p = try decode(PriorityPayload.self, entry.payload)
                if priorities[p.id]?.payload != p { out.append(entry) }
            case .action:
                let a = try decode(ActionPayload.self, entry.payload)
                if let held = log?.actions[a.id], let heldSource = held.payload.source, let source = a.source, heldSource != source {
                    throw PlanError("the log holds action \(a.id) from \(heldSource); importing \(source) would replace it (import a log's own plan only)")
                }
                if let held = log?.actions[a.id] {
                    var current = held.payload
                    current.reason = nil
                    if current != a {
                        guard case .object(var fields) = entry.payload else { continue }
                        fields["reason"] = .string("re-imported from \(a.source ?? "the plan file") with changes")
                        out.append(PlannedEntry(type: .actionRevised, payload: .object(fields)))
                    }
                } else {
                    out.append(entry)
                }
            case .measure:
                let m = try decode(MeasurePayload.self, entry.payload)
                if log?.measures[m.id]?.payload != m { out.append(entry) }
            default:
                out.append(entry)
            }
        }
        return out
    }
}
