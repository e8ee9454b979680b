import Foundation

/// The combined strategy view: every log folded in order, updated entry by entry as entries
/// arrive (never recomputed per query). Pure: the node feeds it entries and checkpoints.
/// (Over ~350 lines: the fold of every plan entry type and the UK totals it keeps up to date
/// are one state machine, read in the order an entry goes through it.)
public struct StrategyView: Sendable {
    /// The UK-wide plan's log: priorities and the UK actions live there.
    public let ukLog: String
    public private(set) var priorities: [String: PriorityState] = [:]
    public private(set) var logs: [String: LogView] = [:]
    /// UK totals by UK measure id, then period (years and quarters).
    public private(set) var totals: [String: [Period: UKTotal]] = [:]
    /// Which nation measures roll up into each UK measure: UK measure id → [(log, measure id)].
    public private(set) var rollups: [String: Set<MeasureKey>] = [:]
    /// Bumped on every change; a rendering cache keys on it.
    public private(set) var version: UInt64 = 0
    /// Moves on when an action or a measure is defined, revised or withdrawn (what the search
    /// reads), not with every reading or status: `version` moves with every batch.
    public private(set) var definitionsVersion: UInt64 = 0

    public struct MeasureKey: Hashable, Sendable { public let log: String; public let measure: String }

    static let decoder = JSONDecoder()

    public init(ukLog: String = "uk", logs names: [String] = [], counted: Set<String>? = nil) {
        self.ukLog = ukLog
        self.counted = counted
        for name in names { logs[name] = LogView(log: name) }
    }

    /// The logs whose measures add into UK totals: the members the federation file lists now
    /// (nil: every log folded). A member the federation removed keeps its log in every store
    /// (and folded here: its pages and entries stay readable), but its readings no longer count
    /// in any UK figure (finding 234: they counted for good, and a hostile member removed by
    /// the runbook's path kept its inflated readings in every UK total).
    public private(set) var counted: Set<String>?

    /// Whether `log` counts in UK figures (the UK log always does: its definitions are the
    /// UK's; its own readings are never summed into totals, `rollups`).
    public func counts(_ log: String) -> Bool { log == ukLog || (counted?.contains(log) ?? true) }

    /// Counts only `logs` in UK totals from now on (a reload that removed or added a member):
    /// every total a mapped measure of any log has a reading for is computed again.
    public mutating func countOnly(_ logs: Set<String>?) {
        guard logs != counted else { return }
        counted = logs
        for uk in rollups.keys { markEveryYear(of: uk) }
        settleTotals()
        version &+= 1
        // The nations listed (search, the pages' definitions) change with it.
        definitionsVersion &+= 1
    }

    /// Folds one entry. Entries of a log must come in index order; an entry already folded is
    /// ignored (a replayed batch) and a gap is refused.
    public mutating func apply(_ entry: ViewEntry) throws(PlanError) {
        defer { settleTotals() }
        try applyOne(entry)
    }

    /// Folds a batch of entries in order, then brings the UK totals they touch up to date once
    /// (a batch of readings touches few totals, each once).
    /// Forgets what the view holds of payloads a purge removed (published aggregates).
    public mutating func dropPayloads(log: String, indices: [UInt64]) {
        guard logs[log] != nil else { return }
        var dropped = false
        for index in indices where logs[log]!.aggregates.removeValue(forKey: index) != nil { dropped = true }
        if dropped { version &+= 1 }
    }

    public mutating func apply(contentsOf entries: [ViewEntry]) throws(PlanError) {
        defer { settleTotals() }
        for entry in entries { try applyOne(entry) }
    }

    /// Totals whose inputs changed since they were last computed: (UK measure, year).
    private var dirtyTotals: Set<TotalKey> = []
    struct TotalKey: Hashable { let measure: String; let year: Int }

    /// Marks every total of UK measure `uk` a mapped measure has a reading for.
    private mutating func markEveryYear(of uk: String) {
        for key in rollups[uk] ?? [] {
            for year in logs[key.log]?.measures[key.measure]?.years ?? [] { dirtyTotals.insert(TotalKey(measure: uk, year: year)) }
        }
    }

    /// Recomputes the totals marked dirty.
    mutating func settleTotals() {
        guard !dirtyTotals.isEmpty else { return }
        // Each UK measure's mapped measures put in order once for all its years (a remap marks
        // every year the measure has readings in: sorted per year, a thousand sorts).
        var ordered: [String: [MeasureKey]] = [:]
        for key in dirtyTotals {
            if ordered[key.measure] == nil {
                ordered[key.measure] = (rollups[key.measure] ?? []).sorted(by: { ($0.log, $0.measure) < ($1.log, $1.measure) })
            }
            recomputeTotal(key.measure, year: key.year, mapped: ordered[key.measure]!)
        }
        dirtyTotals.removeAll(keepingCapacity: true)
    }

    mutating func applyOne(_ entry: ViewEntry) throws(PlanError) {
        // Every change below is made in place: a local copy of the log's part would make each
        // write copy its dictionaries.
        if logs[entry.log] == nil { logs[entry.log] = LogView(log: entry.log) }
        let size = logs[entry.log]!.size
        guard entry.index >= size else { return }
        guard entry.index == size else {
            throw PlanError("view: entry \(entry.log)/\(entry.index) arrived before \(entry.log)/\(size)")
        }
        logs[entry.log]!.size += 1
        version &+= 1
        guard let type = PlanEntryType(rawValue: entry.type) else {
            logs[entry.log]!.otherEntries += 1
            // An aggregate is held for publication only as its holder's admission makes it:
            // classified with the label its payload names (never public, never under another
            // label, so the agreement judged for it is the one its header's label travels under).
            if entry.type == "dataset.aggregate", let label = entry.classification, let payload = entry.payload, let value = try? JSONValue.parse(payload),
               case .object(let fields) = value, case .string(label)? = fields["label"] {
                logs[entry.log]!.aggregates[entry.index] = HeldAggregate(payload: value, recorded: entry.timeMillis)
            }
            return
        }
        guard let payload = entry.payload, entry.isPublic else {
            logs[entry.log]!.stubs += 1
            return
        }
        do {
            // The append's own checks first, against this log's state as folded so far: the
            // fold takes nothing the API would refuse (a count of 1e308 made a UK total infinite;
            // a negative one hid other nations' figures; an unknown field was folded here and
            // dropped by the browser's check). An entry written past them (a modified node, an
            // offline append) is counted unreadable everywhere.
            // Progress payloads are read once: the fast reader's fields serve the checks and
            // the fold alike (`FlatJSON`: where it reads a payload, the full parser reads the
            // same value).
            let flat = type == .reading || type == .status ? FlatJSON.parse(payload) : nil
            if !entry.admitted { try validate(type, flat.map(FlatJSON.value) ?? JSONValue.parse(payload), log: entry.log) }
            try fold(type, payload, flat, entry)
        } catch {
            logs[entry.log]!.unreadable += 1
            if logs[entry.log]!.unreadableSamples.count < 20 {
                logs[entry.log]!.unreadableSamples.append((entry.index, "\(error)"))
            }
        }
    }

    /// Takes the place of `older`, a view this one was folded again to replace (payloads that
    /// arrived after their entries were folded): the version moves on from the older view's,
    /// so caches keyed on it never go back.
    public mutating func succeed(_ older: StrategyView) {
        version = max(version, older.version) &+ 1
        definitionsVersion = max(definitionsVersion, older.definitionsVersion) &+ 1
    }

    /// Records the checkpoint the log's figures now stand on.
    public mutating func setCheckpoint(_ checkpoint: ViewCheckpoint, log: String) {
        logs[log, default: LogView(log: log)].checkpoint = checkpoint
        version &+= 1
    }

    /// `PlanValidator` on `payload` against `log` as folded so far. Not mutating: the context's
    /// hold on the log's state is gone before the fold writes to it (held across, each write
    /// would copy the log's dictionaries).
    private func validate(_ type: PlanEntryType, _ payload: JSONValue, log: String) throws(PlanError) {
        try PlanValidator.validate(type, payload, context: LogContext(view: self, log: log))
    }

    /// Folds one plan entry; `flat` is its payload as `FlatJSON` read it, where it could.
    private mutating func fold(_ type: PlanEntryType, _ payload: [UInt8], _ flat: [String: FlatJSON.Value]?, _ entry: ViewEntry) throws {
        let ref = entry.ref
        let log = entry.log
        if ![.status, .reading, .evidence].contains(type) { definitionsVersion &+= 1 }
        switch type {
        case .priority:
            guard log == ukLog else { throw PlanError("priorities belong to the \(ukLog) log") }
            let p = try Self.decoder.decode(PriorityPayload.self, from: Data(payload))
            try p.refuseControls()
            priorities[p.id] = PriorityState(payload: p, ref: ref)
        case .action:
            let p = try Self.decoder.decode(ActionPayload.self, from: Data(payload))
            try p.refuseControls()
            if var existing = logs[log]!.actions[p.id] {
                existing.payload = p
                existing.refs.append(ref)
                logs[log]!.actions[p.id] = existing
            } else {
                logs[log]!.actions[p.id] = ActionState(payload: p, refs: [ref])
            }
        case .actionRevised:
            let p = try Self.decoder.decode(ActionPayload.self, from: Data(payload))
            try p.refuseControls()
            guard logs[log]!.actions[p.id] != nil else { throw PlanError("revises unknown action \(p.id)") }
            logs[log]!.actions[p.id]!.payload = p
            logs[log]!.actions[p.id]!.refs.append(ref)
        case .actionWithdrawn:
            let p = try Self.decoder.decode(WithdrawalPayload.self, from: Data(payload))
            try p.refuseControls()
            guard logs[log]!.actions[p.id] != nil else { throw PlanError("withdraws unknown action \(p.id)") }
            logs[log]!.actions[p.id]!.withdrawn = (p, ref)
        case .measure:
            let p = try Self.decoder.decode(MeasurePayload.self, from: Data(payload))
            try p.refuseControls()
            let key = MeasureKey(log: log, measure: p.id)
            let old = logs[log]!.measures[p.id]?.payload
            if let oldUK = old?.uk_measure { rollups[oldUK]?.remove(key) }
            // In place: a copy taken out of the dictionary and written back copied every earlier
            // definition's ref at each redefinition (quadratic in redefinitions).
            if logs[log]!.measures[p.id] == nil {
                logs[log]!.measures[p.id] = MeasureState(payload: p, refs: [ref])
            } else {
                logs[log]!.measures[p.id]!.payload = p
                logs[log]!.measures[p.id]!.refs.append(ref)
            }
            if log != ukLog, let uk = p.uk_measure, p.kind == .count {
                rollups[uk, default: []].insert(key)
            }
            // The UK log's definition of a UK measure says how its totals are made over time
            // (`over_time`): a change of that rule makes each of them again, from kept values.
            if log == ukLog, (old?.over_time ?? .sum) != (p.over_time ?? .sum) { markEveryYear(of: p.id) }
            // A changed mapping or kind moves the measure's readings between totals (a
            // redefinition changing neither moves nothing).
            if let old, old.uk_measure != p.uk_measure || old.kind != p.kind {
                let touched = Set([old.uk_measure, p.uk_measure].compactMap { $0 })
                for year in logs[log]!.measures[p.id]!.years {
                    for uk in touched { dirtyTotals.insert(TotalKey(measure: uk, year: year)) }
                }
            }
        case .status:
            let p = try flat.flatMap(FlatJSON.statusPayload) ?? Self.decoder.decode(StatusPayload.self, from: Data(payload))
            try p.refuseControls()
            guard logs[log]!.actions[p.action] != nil else { throw PlanError("status of unknown action \(p.action)") }
            let state = StatusState(payload: p, ref: ref, recordedMillis: entry.timeMillis)
            logs[log]!.actions[p.action]!.history.append(state)
            if logs[log]!.actions[p.action]!.history.count > ActionState.historyLimit { logs[log]!.actions[p.action]!.history.removeFirst() }
            // The latest as-of date wins; on equal dates, the later entry.
            if let current = logs[log]!.actions[p.action]!.status, current.payload.as_of > p.as_of { return }
            logs[log]!.actions[p.action]!.status = state
        case .reading:
            let p = try flat.flatMap(FlatJSON.readingPayload) ?? Self.decoder.decode(ReadingPayload.self, from: Data(payload))
            try p.refuseControls()
            guard logs[log]!.measures[p.measure] != nil else { throw PlanError("reading of unknown measure \(p.measure)") }
            guard let period = Period(p.period) else { throw PlanError("reading period \"\(p.period)\" is not a period") }
            let previous = logs[log]!.measures[p.measure]!.readings[period]
            logs[log]!.measures[p.measure]!.years.insert(period.year)
            contributionCache[MeasureKey(log: log, measure: p.measure)]?[period.year] = nil
            logs[log]!.measures[p.measure]!.record(ReadingState(payload: p, ref: ref, replaced: previous.map { $0.replaced + 1 } ?? 0,
                                                                superseded: previous?.ref, admittedAs: logs[log]!.measures[p.measure]!.payload.kind), for: period)
            recomputeTotals(for: MeasureKey(log: log, measure: p.measure), year: period.year)
        case .evidence:
            let p = try Self.decoder.decode(EvidencePayload.self, from: Data(payload))
            try p.refuseControls()
            guard logs[log]!.actions[p.action] != nil else { throw PlanError("evidence for unknown action \(p.action)") }
            logs[log]!.actions[p.action]!.evidence.append(EvidenceState(payload: p, ref: ref))
        }
    }

    /// Recomputes the UK totals a nation measure feeds for one year (local work: the nations'
    /// readings of that year for one UK measure).
    private mutating func recomputeTotals(for key: MeasureKey, year: Int) {
        // (A log that does not count, a member removed, moves no total: `countOnly` recomputes
        // them all if it counts again.)
        guard counts(key.log), let uk = logs[key.log]?.measures[key.measure]?.payload.uk_measure, rollups[uk]?.contains(key) == true else { return }
        dirtyTotals.insert(TotalKey(measure: uk, year: year))
    }

    /// A nation measure's values in one year by one rule over time: the year's, each quarter's.
    typealias Parts = (year: (Double, [EntryRef])?, quarters: [(Double, [EntryRef])?])

    /// A nation measure's readings of one year that can add into a UK total (each the newest
    /// of its period, admitted as a count): the year's, each quarter's, each month's. The UK
    /// measure's rule over time makes them into the year's and quarters' values (`parts`).
    struct YearReadings {
        var year: (Double, EntryRef)?
        var quarters = [(Double, EntryRef)?](repeating: nil, count: 4)
        var months = [(Double, EntryRef)?](repeating: nil, count: 12)

        /// For each quarter, its reading, else its months' made one; for the year, its reading,
        /// else its quarters' so made. Made one: summed in calendar order, or for a level
        /// (`over_time: latest`: a headcount stands at a time, it does not add up over time)
        /// the last of them with a reading.
        func parts(_ rule: OverTime) -> Parts {
            func made(_ parts: [(Double, [EntryRef])]) -> (Double, [EntryRef])? {
                if rule == .latest { return parts.last }
                return parts.isEmpty ? nil : (parts.reduce(0) { $0 + $1.0 }, parts.flatMap(\.1))
            }
            let byQuarter = (0..<4).map { q in
                quarters[q].map { ($0.0, [$0.1]) } ?? made(months[(q * 3)..<(q * 3 + 3)].compactMap { $0.map { ($0.0, [$0.1]) } })
            }
            // Without the year's own reading, each quarter as it stands, whichever way each was
            // reported (a nation that reported the first quarter whole and then month by month
            // counts all of them).
            return (year.map { ($0.0, [$0.1]) } ?? made(byQuarter.compactMap { $0 }), byQuarter)
        }
    }

    /// Each nation measure's readings per year as `yearReadings` finds them, kept until a
    /// reading of that measure and year is folded (readings are never removed; they do not
    /// depend on any definition, the UK measure's rule included). A UK total of a year is made
    /// from these: recomputing it no longer looks up every mapped measure's 17 periods, so a
    /// measure mapped and unmapped again (a 150-byte entry) over a thousand years of readings,
    /// beside 63 others so mapped, costs every node's fold that many small sums, not that many
    /// passes over readings (finding 214); so does the UK log changing a measure's rule.
    private var contributionCache: [MeasureKey: [Int: YearReadings]] = [:]

    /// Recomputes the UK totals of a measure for a year and its four quarters (`mapped`: the
    /// nation measures mapped to it, in order).
    private mutating func recomputeTotal(_ uk: String, year: Int, mapped: [MeasureKey]) {
        // The rule over time is the UK measure's (none yet: a sum), for every nation alike.
        let rule = logs[ukLog]?.measures[uk]?.payload.over_time ?? .sum
        var yearTotal = UKTotal(measure: uk, period: Period(year: year), value: 0, contributions: [:], refs: [])
        var quarterTotals = (1...4).map { UKTotal(measure: uk, period: Period(year: year, quarter: $0), value: 0, contributions: [:], refs: []) }
        // In a fixed order (a set's order differs between processes): every node sums a
        // total's parts alike.
        for key in mapped where counts(key.log) {
            // Only measures with a reading in the year (nothing is kept for one without: 64
            // measures mapped to one UK measure and a reading a year on one of them kept an
            // empty entry for each of the others in each year).
            guard let measure = logs[key.log]?.measures[key.measure], measure.years.contains(year) else { continue }
            let readings: YearReadings
            if let kept = contributionCache[key]?[year] {
                readings = kept
            } else {
                readings = Self.yearReadings(measure, year: year)
                contributionCache[key, default: [:]][year] = readings
            }
            let parts = readings.parts(rule)
            if let (value, refs) = parts.year {
                yearTotal.contributions[key.log, default: 0] += value
                yearTotal.value += value
                yearTotal.refs.append(contentsOf: refs)
            }
            for (q, part) in parts.quarters.enumerated() {
                guard let (value, refs) = part else { continue }
                quarterTotals[q].contributions[key.log, default: 0] += value
                quarterTotals[q].value += value
                quarterTotals[q].refs.append(contentsOf: refs)
            }
        }
        for total in [yearTotal] + quarterTotals {
            if total.refs.isEmpty {
                totals[uk]?[total.period] = nil
            } else {
                totals[uk, default: [:]][total.period] = total
            }
        }
        if totals[uk]?.isEmpty == true { totals[uk] = nil }
    }

    /// A measure's readings of a year that can add into a UK total (`YearReadings`). A measure
    /// with more readings than the year's 17 periods has them looked up rather than passed over
    /// (a measure may hold readings of a thousand years, and a batch may touch each year).
    static func yearReadings(_ measure: MeasureState, year: Int) -> YearReadings {
        let readings = measure.readings
        var out = YearReadings()
        func take(_ period: Period, _ reading: ReadingState) {
            // Only a reading admitted as a count adds up (one admitted as a percentage before
            // its measure was redefined as a count keeps its fraction out of the totals).
            guard reading.admittedAs == .count, let value = reading.payload.value else { return }
            switch period.granularity {
            case .year: out.year = (value, reading.ref)
            case .quarter: out.quarters[period.number - 1] = (value, reading.ref)
            case .month: out.months[period.number - 1] = (value, reading.ref)
            }
        }
        if readings.count <= 17 {
            for (period, reading) in readings where period.year == year { take(period, reading) }
        } else {
            let whole = Period(year: year)
            if let reading = readings[whole] { take(whole, reading) }
            for q in 1...4 { let p = Period(year: year, quarter: q); if let reading = readings[p] { take(p, reading) } }
            for m in 1...12 { let p = Period(year: year, month: m); if let reading = readings[p] { take(p, reading) } }
        }
        return out
    }
}

/// The view answers the validator's questions about one log.
public struct LogContext: PlanContext {
    let view: LogView?
    let log: String
    let rollups: [String: Set<StrategyView.MeasureKey>]
    public let acceptsPriorities: Bool
    /// The context of `log` in `view`; only the UK log takes priorities.
    public init(view: StrategyView, log: String) {
        self.view = view.logs[log]
        self.log = log
        rollups = view.rollups
        acceptsPriorities = log == view.ukLog
    }
    public func measuresMapped(to ukMeasure: String) -> [String] {
        (rollups[ukMeasure] ?? []).filter { $0.log == log }.map(\.measure)
    }
    public func action(_ id: String) -> ActionPayload? { view?.actions[id]?.payload }
    public func withdrawnAsOf(_ action: String) -> String? { view?.actions[action]?.withdrawn?.payload.as_of }
    public func measure(_ id: String) -> MeasurePayload? { view?.measures[id]?.payload }
}
