import Foundation
import QuartetAPI
@testable import QuartetPlan
import Testing

/// The plans shipped in config/plans (copies of ../shared/plans).
let plansDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("config/plans").path

/// Folds planned entries into a view as if they had been appended to `log` from index `start`.
@discardableResult
func fold(_ entries: [PlannedEntry], into view: inout StrategyView, log: String) throws -> [UInt64] {
    var indices: [UInt64] = []
    for e in entries {
        let index = view.logs[log]?.size ?? 0
        try view.apply(ViewEntry(log: log, index: index, timeMillis: 1_767_225_600_000, type: e.type.rawValue, payload: e.payload.encoded()))
        indices.append(index)
    }
    return indices
}

func payload(_ object: [String: Any]) -> [UInt8] {
    Array(try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
}

@Suite struct PlanImportTests {
    /// A small file of aliases of aliases is refused before it is decoded (112 KB of them took
    /// 630 MB), and a YAML syntax error says where and what (it said only "not valid YAML").
    /// Mistakes across the files are refused by name, not dropped: a measure whose kind the
    /// catalogue does not define (it became a qualitative measure, its target lost), a target
    /// naming a measure the plan does not have, a cadence no one reads.
    @Test func referencesAcrossTheFilesMustResolve() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let catalogue = try String(contentsOfFile: "\(plansDirectory)/measures-catalogue.yaml", encoding: .utf8)
        let targets = try String(contentsOfFile: "\(plansDirectory)/quantitative-targets.yaml", encoding: .utf8)
        func refusal(catalogue c: String = catalogue, targets t: String = targets) throws -> String? {
            try Data(c.utf8).write(to: directory.appendingPathComponent("c.yaml"))
            try Data(t.utf8).write(to: directory.appendingPathComponent("t.yaml"))
            do {
                _ = try PlanImport(planFile: "\(plansDirectory)/uk-plan.yaml", catalogueFile: directory.appendingPathComponent("c.yaml").path,
                                   targetsFile: directory.appendingPathComponent("t.yaml").path).entries(for: "uk")
                return nil
            } catch { return error.message }
        }
        #expect(try refusal() == nil)
        #expect(try refusal(catalogue: catalogue.replacingOccurrences(of: "id: ADVANCED-PRACTICE-HEADCOUNT\n", with: "id: ADVANCED-PRACTICE-HEADCOUNTS\n"))?
            .contains("has kind ADVANCED-PRACTICE-HEADCOUNT in the measures catalogue's index, which defines no such kind") == true)
        #expect(try refusal(targets: targets.replacingOccurrences(of: "ref: P2.A2.M1\n", with: "ref: P2.A2.M9\n"))
                == "quantitative targets: a count_target of the uk plan names measure P2.A2.M9, which the plan does not have")
        #expect(try refusal(targets: targets.replacingOccurrences(of: "cadence: annual\n", with: "cadence: fortnightly\n"))?.contains("cadence \"fortnightly\"") == true)
        // A kind's rule over time is read whether or not a measure of this plan takes the kind
        // first (this one only Wales's measures take).
        let misspelt = try refusal(catalogue: catalogue.replacingOccurrences(of: "- id: SERVICES-REPORTING-MISALIGNMENT\n", with: "- id: SERVICES-REPORTING-MISALIGNMENT\n  over_time: lastest\n"))
        #expect(misspelt?.contains("over_time") == true && misspelt?.contains("lastest") == true, "\(misspelt ?? "taken")")
        #expect(try refusal(catalogue: catalogue.replacingOccurrences(of: "- id: THEMES\n", with: "- id: THEMES\n  over_time: latest\n"))?
            .contains("kind THEMES has over_time \"latest\", but only a count adds up over periods") == true)
    }

    /// Why a plan file of `text` (written to `directory`), with the seed catalogue and targets,
    /// is refused; nil if it is read.
    func planRefusal(_ text: String, in directory: URL) throws -> String? {
        let file = directory.appendingPathComponent("p.yaml")
        try Data(text.utf8).write(to: file)
        do {
            _ = try PlanImport(planFile: file.path, catalogueFile: "\(plansDirectory)/measures-catalogue.yaml",
                               targetsFile: "\(plansDirectory)/quantitative-targets.yaml")
            return nil
        } catch { return error.message }
    }

    @Test func aliasAmplificationAndSyntaxErrorsAreRefusedSayingWhy() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var lines = ["plan:", "  id: wales", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in 1...8 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        func refusal(_ text: String) throws -> String? { try planRefusal(text, in: directory) }
        // Refused at the first anchor, before Yams composes anything (composing an alias of
        // aliases used as a mapping key hashes its whole expansion: hours for ~300 bytes).
        #expect(try refusal(lines.joined(separator: "\n") + "\n")?.hasSuffix("p.yaml: line 3, column 5: an anchor or alias; plan files are plain YAML without them") == true)
        let keyed = lines + ["? *a8", ": 1"]
        #expect(try refusal(keyed.joined(separator: "\n") + "\n")?.contains("an anchor or alias") == true)
        // '&' and '*' inside scalars are text, not anchors or aliases: the file gets as far as
        // decoding (and is refused for what it lacks).
        let text = try refusal("plan:\n  id: wales\n  title: R&D * stars & \"*quoted\"\n")
        #expect(text?.contains("anchor") == false, "\(text ?? "-")")
        // Brackets deeper than the parser takes: the scan stops there (libyaml walks one possible
        // key per open bracket at every token, so 4 MiB of '[' cost the square of its length).
        guard case .tooDeep? = YAMLShape.refusal(String(repeating: "[", count: 1001)) else { Issue.record("1,001 brackets deep passed"); return }
        #expect(YAMLShape.refusal(String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)) == nil)
        #expect(try refusal("plan:\n  id: wales\nx: " + String(repeating: "[", count: 2_000_000) + "\n")?
            .hasSuffix("brackets nested more than 1000 deep") == true)
        // A mapping of more keys than any plan file holds (decoding one costs their square).
        let wide = "plan:\n  id: wales\nwide:\n" + (0...1000).map { "  k\($0): 1" }.joined(separator: "\n") + "\n"
        #expect(try refusal(wide)?.hasSuffix("p.yaml: more than 200000 values, or a mapping of more than 1000 keys") == true)
        let syntax = try refusal("plan:\n  id: wales\n  title: [unclosed\n")
        #expect(syntax?.contains("line 3, column 10") == true, "\(syntax ?? "-")")
    }

    /// A key one or two letters off a key the import reads is a misspelling, refused with the
    /// key it likely meant and where (an action imported without its UK counterparts or years
    /// stays so in the signed log); the seed files' notes for people (`timeframe_note`,
    /// `source_table`, ...) are not.
    @Test func aMisspeltKeyIsRefusedNotDroppedAndNotesForPeopleStay() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let wales = try String(contentsOfFile: "\(plansDirectory)/wales-plan.yaml", encoding: .utf8)
        func refusal(_ text: String) throws -> String? { try planRefusal(text, in: directory) }
        #expect(try refusal(wales) == nil, "the seed plan itself")
        for (key, typo, meant) in [("      uk_counterparts:", "      uk_counterpart:", "uk_counterparts"), ("      start_year:", "      start_yr:", "start_year"),
                                   ("      timeframe:", "      timefame:", "timeframe"), ("    goals:", "    Goals:", "goals")] {
            let range = try #require(wales.range(of: "\n" + key), "\(key) is not in the seed plan")
            let text = wales.replacingCharacters(in: range, with: "\n" + typo)
            let message = try refusal(text)
            #expect(message?.contains(": not a key the import reads; did you mean \(meant)?") == true && message?.contains("(line ") == true, "\(typo): \(message ?? "accepted")")
            #expect(message?.contains("priorities[0]") == true, "\(message ?? "-")")
        }
        // Keys far from any read key are notes for people, as the seed files' are.
        #expect(PlanKeys.likelyMeant("timeframe_note", among: ["timeframe", "start_year"]) == nil)
        #expect(PlanKeys.likelyMeant("id", among: ["kind"]) == nil && PlanKeys.likelyMeant("note", among: ["quote"]) == nil)
        #expect(PlanKeys.likelyMeant("measure", among: ["measures"]) == "measures" && PlanKeys.likelyMeant("stat_reay", among: ["start_year"]) == nil)
        #expect(PlanKeys.likelyMeant("start_yaer", among: ["start_year"]) == "start_year", "a swap of neighbours is one edit")
        // Other nations' notes: another word, or short keys.
        for note in ["ni_counterparts", "eu_counterparts", "ie_counterparts", "ids", "uid", "units", "score", "quota", "refs"] {
            #expect(PlanKeys.likelyMeant(note, among: ["uk_counterparts", "id", "unit", "scope", "quote", "ref", "kinds"]) == nil, "\(note)")
        }
    }

    @Test func aPlanFileThatIsNotARegularFileIsRefusedWithoutWaiting() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("p.yaml").path
        #expect(mkfifo(fifo, 0o600) == 0)
        do {
            _ = try PlanImport(planFile: fifo, catalogueFile: "\(plansDirectory)/measures-catalogue.yaml", targetsFile: "\(plansDirectory)/quantitative-targets.yaml")
            Issue.record("a FIFO was read as a plan file")
        } catch {
            #expect(error.message == "\(fifo): it is not a regular file (a plan file is a regular UTF-8 file of at most 4194304 bytes)")
        }
    }

    @Test func ukPlanBecomesPrioritiesActionsAndMeasures() throws {
        let plan = try PlanImport(planFile: "\(plansDirectory)/uk-plan.yaml")
        let entries = try plan.entries(for: "uk")
        #expect(entries.filter { $0.type == .priority }.count == 4)
        #expect(entries.filter { $0.type == .action }.count == 25)
        #expect(entries.filter { $0.type == .measure }.count == 60)
        var view = StrategyView()
        try fold(entries, into: &view, log: "uk")
        #expect(view.logs["uk"]?.unreadable == 0)
        let workshops = try #require(view.logs["uk"]?.measures["P2.A2.M1"]?.payload)
        #expect(workshops.kind == .count)
        #expect(workshops.target == Target(value: 10, per: "year", scope: "uk",
                                           quote: "10 workforce reform workshops co-delivered annually across the four nations of the UK."))
        #expect(view.logs["uk"]?.measures["P1.A2.M3"]?.payload.kind == .milestone)
        #expect(view.logs["uk"]?.measures["P1.A2.M3"]?.payload.cadence == .quarterly)
        #expect(view.priorities["P2"]?.payload.title == "Demonstrating value and impact")
    }

    @Test func everyPlannedEntryPassesTheValidator() throws {
        for (file, log) in [("uk-plan.yaml", "uk"), ("wales-plan.yaml", "wales"), ("uk-plan.yaml", "scotland")] {
            let entries = try PlanImport(planFile: "\(plansDirectory)/\(file)").entries(for: log)
            var view = StrategyView()
            for e in entries {
                try PlanValidator.validate(e.type, e.payload, context: LogContext(view: view, log: log))
                try fold([e], into: &view, log: log)
            }
        }
    }

    @Test func walesPlanMapsToUKPrioritiesAndMeasures() throws {
        let entries = try PlanImport(planFile: "\(plansDirectory)/wales-plan.yaml").entries(for: "wales")
        #expect(!entries.contains { $0.type == .priority })
        #expect(entries.filter { $0.type == .action }.count == 16)
        #expect(entries.filter { $0.type == .measure }.count == 55)
        var view = StrategyView()
        try fold(entries, into: &view, log: "wales")
        let action = try #require(view.logs["wales"]?.actions["P2.A4"]?.payload)
        #expect(action.uk_actions == ["P2.A6", "P2.A2"])
        // "Number of annual events held on the theme of OT workforce" in both plans.
        #expect(view.logs["wales"]?.measures["P2.A4.M1"]?.payload.uk_measure == "P2.A6.M1")
        #expect(view.logs["wales"]?.actions["P3.A5"]?.payload.timeframe == nil)
    }

    @Test func nationsWithoutAPlanAdoptTheUKActions() throws {
        let plan = try PlanImport(planFile: "\(plansDirectory)/uk-plan.yaml")
        let entries = try plan.entries(for: "england")
        #expect(!entries.contains { $0.type == .priority })
        #expect(entries.filter { $0.type == .action }.count == 25)
        var view = StrategyView()
        try fold(entries, into: &view, log: "england")
        #expect(view.logs["england"]?.actions["P1.A1"]?.payload.uk_actions == ["P1.A1"])
        #expect(view.logs["england"]?.measures["P2.A2.M1"]?.payload.uk_measure == "P2.A2.M1")
        #expect(throws: PlanError.self) { try PlanImport(planFile: "\(plansDirectory)/wales-plan.yaml").entries(for: "england") }
        // The UK plan cannot be adopted over Wales's own plan.
        var wales = StrategyView()
        try fold(try PlanImport(planFile: "\(plansDirectory)/wales-plan.yaml").entries(for: "wales"), into: &wales, log: "wales")
        let clash = #expect(throws: PlanError.self) { try PlanImport.changes(try plan.entries(for: "wales"), log: wales.logs["wales"], priorities: [:]) }
        #expect(clash?.message.contains("from wales-plan.yaml") == true)
    }

    @Test func importingTwiceAddsNothingAndAChangeBecomesARevision() throws {
        let plan = try PlanImport(planFile: "\(plansDirectory)/uk-plan.yaml")
        let planned = try plan.entries(for: "uk")
        var view = StrategyView()
        let first = try PlanImport.changes(planned, log: view.logs["uk"], priorities: view.priorities)
        #expect(first.count == planned.count)
        try fold(first, into: &view, log: "uk")
        #expect(try PlanImport.changes(planned, log: view.logs["uk"], priorities: view.priorities).isEmpty)
        // Edit one action's statements: the next import revises that action only.
        var edited = planned
        let i = try #require(edited.firstIndex { $0.type == .action })
        guard case .object(var fields) = edited[i].payload else { Issue.record("not an object"); return }
        fields["statements"] = .array([.string("A changed statement.")])
        edited[i] = PlannedEntry(type: .action, payload: .object(fields))
        let changes = try PlanImport.changes(edited, log: view.logs["uk"], priorities: view.priorities)
        #expect(changes.map(\.type) == [.actionRevised])
        try fold(changes, into: &view, log: "uk")
        #expect(view.logs["uk"]?.actions["P1.A1"]?.payload.statements == ["A changed statement."])
        #expect(view.logs["uk"]?.actions["P1.A1"]?.refs.count == 2)
        #expect(try PlanImport.changes(edited, log: view.logs["uk"], priorities: view.priorities).isEmpty)
    }

    @Test func aBrokenPlanFileIsNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "plan:\n  id: uk\npriorities:\n  - id: P1\n    title: x\n".write(to: dir.appendingPathComponent("p.yaml"), atomically: true, encoding: .utf8)
        let error = #expect(throws: PlanError.self) {
            try PlanImport(planFile: dir.appendingPathComponent("p.yaml").path, catalogueFile: "\(plansDirectory)/measures-catalogue.yaml",
                           targetsFile: "\(plansDirectory)/quantitative-targets.yaml")
        }
        #expect(error?.message.contains("p.yaml") == true)
        #expect(error?.message.contains("priorities[0].actions") == true)
    }
}

@Suite struct PlanValidatorTests {
    static func walesContext() throws -> (StrategyView, LogContext) {
        var view = StrategyView()
        try fold(try PlanImport(planFile: "\(plansDirectory)/wales-plan.yaml").entries(for: "wales"), into: &view, log: "wales")
        return (view, LogContext(view: view, log: "wales"))
    }

    func message(_ type: String, _ object: [String: Any], _ context: LogContext) -> String? {
        do {
            try PlanValidator.validate(type: type, payload: payload(object), context: context)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func goodProgressEntriesPass() throws {
        let (_, context) = try Self.walesContext()
        #expect(message("progress.status", ["action": "P1.A1", "status": "on-track", "note": "Framework launched", "as_of": "2025-03-31"], context) == nil)
        #expect(message("progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q1", "value": 3], context) == nil)
        #expect(message("progress.reading", ["measure": "P1.A2.M2", "period": "2025-Q1", "achieved": true], context) == nil)
        #expect(message("progress.evidence", ["action": "P1.A3", "kind": "case-study", "title": "Acute to community", "link": "https://example.org/cs/1"], context) == nil)
        #expect(message("plan.action.withdrawn", ["id": "P1.A4", "reason": "merged into P1.A5", "as_of": "2025-06-30"], context) == nil)
    }

    /// Finding 283: at the append, a category's name or a measure's unit that could read as
    /// another name (an invisible character) or as several (a separator's look-alike) is refused;
    /// accented and other scripts' names are names. Not a fold rule: `validate` still takes them.
    @Test func namesThatReadAsOthersAreRefusedAtTheAppend() throws {
        let (_, context) = try Self.walesContext()
        func refusal(_ type: PlanEntryType, _ object: [String: Any]) -> String? {
            do { try PlanValidator.refuseUnclearNames(type, try JSONValue.parse(payload(object))); return nil } catch { return error.message }
        }
        for name in ["a\u{200B}", "A\u{200F}", "Band\u{034F} 6", "Band 6\u{A789} 40", "x\u{037E}y", "Band\u{00AD}6", "\u{3164}", "Band\u{00A0}6", "Band\u{3000}6", "\u{201C}Other\u{201D}"] {
            #expect(refusal(.reading, ["measure": "P1.A1.M1", "period": "2025", "categories": [name: 1]])?.hasPrefix("payload.categories (a category's name): ") == true, "\(name.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        #expect(refusal(.measure, ["id": "P1.A1.M9", "unit": "FTE\u{200F}"])?.hasPrefix("payload.unit: an invisible character U+200F") == true)
        for name in ["Band 6", "Gwâith", "Ratio 1:2", "Aged 16-24, employed", "Ñandú"] {
            #expect(refusal(.reading, ["measure": "P1.A1.M1", "period": "2025", "categories": [name: 1]]) == nil, "\(name)")
        }
        #expect(message("progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q1", "value": 3], context) == nil)
    }

    /// The append and the fold judge text by one table: whatever the append takes, the fold
    /// folds. Every string of a valid payload of each type, with a tab, a newline or an escape
    /// put in it: if `PlanValidator` takes it, the view folds it (a tab in a link was taken by
    /// the API and then counted unreadable by every node's view).
    @Test func theFoldRefusesNothingTheAppendTakes() throws {
        let (view, context) = try Self.walesContext()
        let samples: [(String, [String: Any])] = [
            ("progress.status", ["action": "P1.A1", "status": "on-track", "note": "Framework launched", "as_of": "2025-03-31"]),
            ("progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q1", "value": 3, "note": "n"]),
            ("progress.evidence", ["action": "P1.A3", "kind": "case-study", "title": "Acute to community", "link": "https://example.org/cs/1",
                                   "summary": "s", "date": "2025-01-31"]),
            ("plan.action.withdrawn", ["id": "P1.A4", "reason": "merged into P1.A5", "as_of": "2025-06-30"]),
            ("plan.action", ["id": "P1.A9", "priority": "P1", "statements": ["a", "b"], "source": "s", "timeframe": ["text": "t"]]),
        ]
        var tried = 0
        for (type, base) in samples {
            #expect(message(type, base, context) == nil, "\(type): the sample itself is refused")
            for key in base.keys.sorted() {
                for mark in ["\t", "\n", "\u{1b}"] {
                    var changed = base
                    switch base[key] {
                    case let text as String: changed[key] = text + mark + "x"
                    case let list as [String]: changed[key] = list.map { $0 + mark + "x" }
                    case let object as [String: String]: changed[key] = object.mapValues { $0 + mark + "x" }
                    default: continue
                    }
                    tried += 1
                    guard message(type, changed, context) == nil else { continue }
                    var folded = view
                    let before = folded.logs["wales"]!.unreadable
                    try folded.apply(ViewEntry(log: "wales", index: folded.logs["wales"]!.size, timeMillis: 0, type: type, payload: payload(changed)))
                    #expect(folded.logs["wales"]!.unreadable == before,
                            "\(type).\(key) with \(mark.debugDescription): appended, but the fold refuses it: \(folded.logs["wales"]!.unreadableSamples.last?.reason ?? "")")
                }
            }
        }
        #expect(tried > 40)
    }

    /// Text is read in terminals, pages and CSV files on every node: control characters (but
    /// tab and newline in text; none in a category's name) and bidirectional overrides are
    /// refused, naming the character and where (an escape sequence in a note reached other
    /// nodes' `quartet view` raw).
    @Test func controlCharactersInTextAreRefused() throws {
        var (view, context) = try Self.walesContext()
        func status(_ note: String) -> String? {
            message("progress.status", ["action": "P1.A1", "status": "on-track", "note": note, "as_of": "2025-03-31"], context)
        }
        #expect(status("line one\nline two\twith a tab") == nil)
        #expect(status("X\r\u{1B}[2K england P1.A1 done") == "payload.note: a control character U+000D at character 2; only tab and newline are allowed")
        #expect(status("abc\u{85}") == "payload.note: a control character U+0085 at character 4; only tab and newline are allowed")
        #expect(status("\u{202E}txt.exe") == "payload.note: a control character U+202E at character 1; only tab and newline are allowed")
        // Lengths count Unicode scalars: one letter and 5,000 combining marks is one character
        // on the screen, and 10 KB on every node.
        #expect(status("e" + String(repeating: "\u{301}", count: 4_000)) == "payload.note: at most 4000 characters (Unicode scalars), got 4001")
        #expect(status("é" + String(repeating: "x", count: 3_999)) == nil)
        #expect(message("plan.action.revised", ["id": "P1.A1", "priority": "P1", "statements": ["fine", "x\u{1B}[31m"], "reason": "r"], context)?.hasPrefix("payload.statements[1]: a control character U+001B") == true)
        // A statement is bounded like every other text (finding 235), in Unicode scalars.
        #expect(message("plan.action.revised", ["id": "P1.A1", "priority": "P1", "statements": ["fine", "e" + String(repeating: "\u{301}", count: 4_000)], "reason": "r"], context)
                == "payload.statements[1]: at most 4000 characters (Unicode scalars), got 4001")
        #expect(message("plan.action.revised", ["id": "P1.A1", "priority": "P1", "statements": [String(repeating: "x", count: 4_000)], "reason": "r"], context) == nil)
        // A distribution measure's category names: no control character at all.
        try fold([PlannedEntry(type: .measure, payload: .object(["id": .string("P1.A1.M9"), "action": .string("P1.A1"), "text": .string("Bands"),
                                                                   "kind": .string("distribution")]))], into: &view, log: "wales")
        context = LogContext(view: view, log: "wales")
        func reading(_ categories: [String: Any]) -> String? {
            message("progress.reading", ["measure": "P1.A1.M9", "period": "2025", "categories": categories], context)
        }
        #expect(reading(["band 6": 3, "band 7": 4]) == nil)
        #expect(reading(["band 6": 3, "a\n\u{1B}[31m": 2]) == "payload.categories (a category's name): a control character U+000A at character 2; a name allows none")
        #expect(reading(["  ": 1])?.contains("a category's name is empty") == true)
    }

    @Test func errorsNameTheFieldAndWhatWasExpected() throws {
        let (_, context) = try Self.walesContext()
        #expect(message("progress.status", ["action": "P1.A1", "status": "green", "as_of": "2025-03-31"], context)
                == "payload.status: expected one of not-started, on-track, at-risk, off-track, done, got \"green\"")
        #expect(message("progress.status", ["action": "P1.A1", "status": "done", "as_of": "2025-02-30"], context)
                == "payload.as_of: expected a date as YYYY-MM-DD, got \"2025-02-30\"")
        #expect(message("progress.status", ["action": "P9.A1", "status": "done", "as_of": "2025-01-30"], context)
                == "payload.action: this log has no action P9.A1")
        #expect(message("progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q5", "value": 3], context)
                == "payload.period: expected a year (2025), a quarter (2025-Q2) or a month (2025-03), got \"2025-Q5\"")
        #expect(message("progress.reading", ["measure": "P2.A4.M1", "period": "2025", "value": 2.5], context)
                == "payload.value: expected a whole number from 0 to 1000000000, got 2.5")
        #expect(message("progress.reading", ["measure": "P2.A4.M1", "period": "2025", "value": "3"], context)
                == "payload.value: expected a number, got the string \"3\"")
        #expect(message("progress.reading", ["measure": "P2.A4.M1", "period": "2025", "achieved": true], context)
                == "payload: measure P2.A4.M1 is a count measure, so a reading carries exactly \"value\", got achieved")
        #expect(message("progress.reading", ["measure": "P2.A4.M1", "period": "2025", "value": 1, "colour": "red"], context)
                == "payload.colour: unknown field; expected only achieved, categories, measure, note, period, text, value")
        #expect(message("progress.evidence", ["action": "P1.A3", "kind": "case-study", "title": "x", "link": "javascript:alert(1)"], context)
                == "payload.link: expected an http(s) URL, got \"javascript:alert(1)\"")
        #expect(message("plan.action", ["id": "P1.A1", "priority": "P1", "statements": ["x"]], context)
                == "payload.id: action P1.A1 already exists in this log; append plan.action.revised to change it")
        #expect(message("plan.action", ["id": "P1.A9", "priority": "P2", "statements": ["x"]], context)
                == "payload.priority: action P1.A9 is numbered under P1, not P2")
        #expect(message("plan.measure", ["id": "P1.A1.M9", "action": "P1.A1", "text": "t", "kind": "milestone", "target": ["value": 3, "per": "year"]], context)
                == "payload.target: only count and percentage measures have a numeric target; this one is milestone")
        #expect(message("progress.note", ["x": 1], context)?.hasPrefix("type: expected one of plan.priority") == true)
        #expect(message("progress.status", ["action": "P1.A1"], context) == "payload.status: missing; expected a string")
        #expect(message("plan.priority", ["id": "P5", "title": "x"], context) == "type: plan.priority belongs in the UK plan's log, not this one")
        #expect(message("progress.status", ["action": "P1.A1", "status": "done", "as_of": "2025-+6-+1"], context)
                == "payload.as_of: expected a date as YYYY-MM-DD, got \"2025-+6-+1\"")
    }

    @Test func withdrawnActionsTakeNoMoreProgress() throws {
        var (view, _) = try Self.walesContext()
        try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "plan.action.withdrawn",
                                 payload: payload(["id": "P1.A4", "reason": "merged", "as_of": "2025-06-30"])))
        let context = LogContext(view: view, log: "wales")
        #expect(message("progress.status", ["action": "P1.A4", "status": "done", "as_of": "2025-07-01"], context) == "payload.action: action P1.A4 was withdrawn")
        #expect(message("plan.action.withdrawn", ["id": "P1.A4", "reason": "again", "as_of": "2025-07-01"], context) == "payload.id: action P1.A4 is already withdrawn")
        // No new measure under it (one it had may be defined again); readings of its measures
        // only for periods begun by its withdrawal (late figures of its time).
        #expect(message("plan.measure", ["id": "P1.A4.M9", "action": "P1.A4", "text": "new", "kind": "count"], context)
                == "payload.action: action P1.A4 was withdrawn; no new measure is defined under it")
        let measure = try #require(view.logs["wales"]?.measures.values.first { $0.payload.action == "P1.A4" }?.payload, "the Wales plan's P1.A4 has a measure")
        var again = ["id": measure.id, "action": "P1.A4", "text": measure.text, "kind": measure.kind.rawValue] as [String: Any]
        if let unit = measure.unit { again["unit"] = unit }
        #expect(message("plan.measure", again, context) == nil)
        func reading(_ period: String) -> [String: Any] {
            switch measure.kind {
            case .milestone: ["measure": measure.id, "period": period, "achieved": true]
            case .distribution: ["measure": measure.id, "period": period, "categories": ["a": 1]]
            case .qualitative: ["measure": measure.id, "period": period, "text": "t"]
            default: ["measure": measure.id, "period": period, "value": 1]
            }
        }
        #expect(message("progress.reading", reading("2025-Q2"), context) == nil)
        #expect(message("progress.reading", reading("2025-06"), context) == nil)
        #expect(message("progress.reading", reading("2025"), context) == nil)
        #expect(message("progress.reading", reading("2025-Q3"), context)
                == "payload.period: action P1.A4 was withdrawn as of 2025-06-30; a reading of its measure \(measure.id) is for a period begun by then, not 2025-Q3")
        #expect(message("progress.reading", reading("2026"), context) != nil)
        // Defined again, it keeps its kind and its mapping (or drops it): a new mapping would
        // start its readings counting in another UK total.
        var mapped = again
        mapped["uk_measure"] = "P9.A9.M9"
        #expect(message("plan.measure", mapped, context)?.hasPrefix("payload.uk_measure: action P1.A4 was withdrawn; its measure \(measure.id) keeps its mapping") == true)
        var otherKind = again
        otherKind["kind"] = measure.kind == .count ? "percentage" : "count"
        #expect(message("plan.measure", otherKind, context)?.hasPrefix("payload.kind: action P1.A4 was withdrawn") == true)
        if let uk = measure.uk_measure {
            var kept = again
            kept["uk_measure"] = uk
            #expect(message("plan.measure", kept, context) == nil)
        }
    }

    /// The fold in log order: a reading of a later period appended before the withdrawal stays
    /// (a withdrawal drops nothing already folded); one appended after is left out, counted
    /// unreadable; a period beginning on the withdrawal's date is taken.
    @Test func aWithdrawalLeavesOutOnlyWhatComesAfterIt() throws {
        var (view, _) = try Self.walesContext()
        let measure = try #require(view.logs["wales"]?.measures.values.first { $0.payload.action == "P1.A4" && $0.payload.kind == .count }?.payload,
                                   "the Wales plan's P1.A4 has a count measure")
        func reading(_ period: String) -> [String: Any] { ["measure": measure.id, "period": period, "value": 4] }
        func apply(_ type: String, _ object: [String: Any]) throws {
            try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: type, payload: payload(object)))
        }
        try apply("progress.reading", reading("2025-Q4"))
        try apply("plan.action.withdrawn", ["id": "P1.A4", "reason": "merged", "as_of": "2025-04-01"])
        let before = view.logs["wales"]!.unreadable
        try? apply("progress.reading", reading("2025-Q3"))
        try apply("progress.reading", reading("2025-Q2"))
        let readings = view.logs["wales"]!.measures[measure.id]!.readings
        #expect(readings[Period(year: 2025, quarter: 4)] != nil, "folded before the withdrawal: kept")
        #expect(readings[Period(year: 2025, quarter: 3)] == nil && view.logs["wales"]!.unreadable == before + 1)
        #expect(readings[Period(year: 2025, quarter: 2)] != nil, "begun on the withdrawal's date")
        // A reading's provenance carries the withdrawal: the page's recompute applies the rule.
        let withdrawal = try #require(view.logs["wales"]?.actions["P1.A4"]?.withdrawn?.ref)
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales"])
        #expect(try queries.provenance("reading:wales:\(measure.id):2025-Q2").contains(withdrawal))
        #expect(try queries.provenance("reading:wales:\(measure.id):2025-Q4").contains(withdrawal))
    }
}

@Suite struct StrategyViewTests {
    /// UK plan at uk, Wales plan at wales, the UK actions adopted at england and scotland.
    static func federationView() throws -> StrategyView {
        var view = StrategyView(logs: ["uk", "wales", "england", "scotland", "northern-ireland"])
        let uk = try PlanImport(planFile: "\(plansDirectory)/uk-plan.yaml")
        try fold(try uk.entries(for: "uk"), into: &view, log: "uk")
        try fold(try PlanImport(planFile: "\(plansDirectory)/wales-plan.yaml").entries(for: "wales"), into: &view, log: "wales")
        try fold(try uk.entries(for: "england"), into: &view, log: "england")
        try fold(try uk.entries(for: "scotland"), into: &view, log: "scotland")
        return view
    }

    func append(_ view: inout StrategyView, _ log: String, _ type: String, _ object: [String: Any]) throws -> UInt64 {
        let index = view.logs[log]?.size ?? 0
        try view.apply(ViewEntry(log: log, index: index, timeMillis: 0, type: type, payload: payload(object)))
        return index
    }

    /// A measure's latest reading is kept as readings come (not found by a scan of every
    /// reading per page), whatever order the periods come in; an action listing one measure
    /// many times shows it once (finding 214: each listing was a scan of its readings).
    @Test func theLatestReadingIsKeptAndAnActionShowsEachMeasureOnce() throws {
        var view = try Self.federationView()
        let definitions = view.definitionsVersion
        for period in ["2031-Q2", "2025", "2040-07", "2031", "1999-Q4"] {
            _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": period, "value": 1])
        }
        // Readings move the view's version, not its definitions' (what the search's index reads).
        #expect(view.definitionsVersion == definitions)
        let measure = try #require(view.logs["wales"]?.measures["P2.A4.M1"])
        #expect(measure.latest?.period == Period("2040-07") && measure.latestPeriod == measure.readings.keys.max())
        var action = try #require(view.logs["wales"]?.actions["P2.A4"]?.payload)
        action.measures = Array(repeating: "P2.A4.M1", count: 100)
        var revised = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(action)) as! [String: Any]
        revised["reason"] = "listing one measure a hundred times"
        _ = try append(&view, "wales", "plan.action.revised", revised)
        #expect(view.logs["wales"]?.unreadable == 0 && view.definitionsVersion > definitions)
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales"])
        let shown = queries.action(try #require(view.logs["wales"]?.actions["P2.A4"]), log: "wales", withMeasures: true)
        #expect(shown.measures?.map(\.id) == ["P2.A4.M1"] && shown.measures?.first?.latest?.period == "2040-07", "\(String(describing: shown.measures))")
    }

    /// A nation's answer carries each action's newest 200 evidence items and the count of all
    /// (a log may append any number, and the answer is built whole per request).
    @Test func aNationsAnswerCarriesTheNewestEvidenceAndCountsAll() throws {
        var view = try Self.federationView()
        var last: UInt64 = 0
        for i in 0..<(ViewQueries.evidenceShown + 5) {
            last = try append(&view, "wales", "progress.evidence", ["action": "P2.A4", "kind": "report", "title": "report \(i)", "link": "https://example.org/\(i)"])
        }
        #expect(view.logs["wales"]?.unreadable == 0)
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales"])
        let action = try #require(try queries.nation("wales").actions.first { $0.id == "P2.A4" })
        #expect(action.evidence == ViewQueries.evidenceShown + 5 && action.evidenceItems?.count == ViewQueries.evidenceShown)
        #expect(action.evidenceItems?.last?.entry.index == last && action.evidenceItems?.first?.title == "report 5")
    }

    /// An aggregate is held for publication only as the holder's admission makes it: restricted
    /// and classified with the label its payload names. A public one, or one whose header says
    /// another label than its payload (so another agreement would be judged for it), is not.
    @Test func onlyAggregatesClassifiedWithTheirOwnLabelAreHeld() throws {
        var view = StrategyView(logs: ["wales"])
        let body = payload(["label": "heiw.workforce.headcount", "agreement": "HEIW-2024", "cells": [[10]]])
        var index: UInt64 = 0
        func add(isPublic: Bool, classification: String?) throws -> UInt64 {
            defer { index += 1 }
            try view.apply(ViewEntry(log: "wales", index: index, timeMillis: 0, type: "dataset.aggregate", payload: body, isPublic: isPublic, classification: classification))
            return index
        }
        let asMade = try add(isPublic: false, classification: "heiw.workforce.headcount")
        let published = try add(isPublic: true, classification: nil)
        let otherLabel = try add(isPublic: false, classification: "open.statistics")
        #expect(Set(view.logs["wales"]!.aggregates.keys) == [asMade], "held: \(view.logs["wales"]!.aggregates.keys.sorted()), public \(published), other label \(otherLabel)")
    }

    /// A member the federation removed keeps its log (folded, readable) but counts in no UK
    /// figure and is no nation of the view; listed again, it counts again (finding 234).
    @Test func aRemovedMemberCountsInNoUKFigure() throws {
        var view = try Self.federationView()
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2025", "value": 4])
        _ = try append(&view, "scotland", "progress.reading", ["measure": "P2.A2.M1", "period": "2025", "value": 3])
        let order = ["uk", "wales", "england", "scotland", "northern-ireland"]
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2025)]?.value == 7)
        let version = view.version, definitions = view.definitionsVersion
        view.countOnly(["uk", "wales", "england", "northern-ireland"])
        let total = try #require(view.totals["P2.A2.M1"]?[Period(year: 2025)])
        #expect(total.value == 4 && total.contributions == ["england": 4] && total.refs.allSatisfy { $0.log == "england" }, "\(total)")
        #expect(view.version != version, "pages made before would be served from their caches")
        #expect(view.definitionsVersion != definitions, "the search index made before would list the removed member")
        #expect(view.logs["scotland"]?.measures["P2.A2.M1"]?.readings.isEmpty == false, "the removed member's log is still folded")
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: order)
        #expect(!queries.nations.contains("scotland") && queries.nations.contains("england"), "\(queries.nations)")
        // Scotland's own measure with readings makes no link on the UK overview either.
        _ = try append(&view, "scotland", "plan.measure", ["id": "P2.A2.M9", "action": "P2.A2", "kind": "count", "text": "scotland only"])
        _ = try append(&view, "scotland", "progress.reading", ["measure": "P2.A2.M9", "period": "2025", "value": 1])
        #expect(view.logs["scotland"]?.measures["P2.A2.M9"]?.readings.isEmpty == false)
        #expect(!ViewQueries(view: view, health: [:], nowMillis: 0, order: order).chartedMeasures().contains { $0.contains("scotland") })
        view.countOnly(nil)
        #expect(ViewQueries(view: view, health: [:], nowMillis: 0, order: order).chartedMeasures().contains("scotland:P2.A2.M9"))
        view.countOnly(["uk", "wales", "england", "northern-ireland"])
        #expect(try queries.provenance("total:P2.A2.M1:2025").allSatisfy { $0.log != "scotland" })
        // A reading the removed member records later counts nowhere either.
        _ = try append(&view, "scotland", "progress.reading", ["measure": "P2.A2.M1", "period": "2025", "value": 30])
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2025)]?.value == 4)
        // Listed again, it counts again, with its newest reading.
        view.countOnly(Set(order))
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2025)]?.value == 34)
    }

    @Test func ukTotalsAddNationReadingsAgainstTheTarget() throws {
        var view = try Self.federationView()
        // England reports quarterly, Scotland once for the year; a corrected quarter replaces the first.
        let e1 = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2025-Q1", "value": 1])
        let e2 = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2025-Q2", "value": 2])
        let e3 = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2025-Q1", "value": 2])
        let s1 = try append(&view, "scotland", "progress.reading", ["measure": "P2.A2.M1", "period": "2025", "value": 3])
        _ = try append(&view, "scotland", "progress.reading", ["measure": "P2.A2.M1", "period": "2024", "value": 1])
        let total = try #require(view.totals["P2.A2.M1"]?[Period(year: 2025)])
        #expect(total.value == 7)
        #expect(total.contributions == ["england": 4, "scotland": 3])
        #expect(Set(total.refs) == [EntryRef(log: "england", index: e2), EntryRef(log: "england", index: e3), EntryRef(log: "scotland", index: s1)])
        #expect(!total.refs.contains(EntryRef(log: "england", index: e1)))
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"])
        let rendered = queries.total(total)
        #expect(rendered.target == 10)
        #expect(rendered.progress == 0.7)
        // A target per nation is not the UK total's: neither stated nor set against it (finding
        // 234: against the nations' sum it overstated progress up to four times).
        let definition = try #require(try PlanImport(planFile: "\(plansDirectory)/uk-plan.yaml").entries(for: "uk")
            .first { $0.type == .measure && ((try? JSONSerialization.jsonObject(with: Data($0.payload.encoded()))) as? [String: Any])?["id"] as? String == "P2.A2.M1" })
        let redefined = try #require(try JSONSerialization.jsonObject(with: Data(definition.payload.encoded())) as? [String: Any])
        /// The UK measure redefined with its target's `scope` and `per` changed: the view, and
        /// the 2025 total as stated.
        func withTarget(scope: String, per: String) throws -> (StrategyView, ViewTotal) {
            var measure = redefined, target = try #require(redefined["target"] as? [String: Any])
            target["scope"] = scope
            target["per"] = per
            measure["target"] = target
            var changed = view
            _ = try append(&changed, "uk", "plan.measure", measure)
            return (changed, ViewQueries(view: changed, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"])
                .total(try #require(changed.totals["P2.A2.M1"]?[Period(year: 2025)])))
        }
        let (nationView, perNationTotal) = try withTarget(scope: "nation", per: "year")
        #expect(perNationTotal.value == 7 && perNationTotal.target == nil && perNationTotal.progress == nil, "\(perNationTotal)")
        // Nor one per quarter (`ViewTarget.isUKYearly`, the one rule the charts and the overview use too).
        let (quarterView, perQuarterTotal) = try withTarget(scope: "uk", per: "quarter")
        #expect(perQuarterTotal.value == 7 && perQuarterTotal.target == nil, "\(perQuarterTotal)")
        #expect(quarterView.logs["uk"]?.measures["P2.A2.M1"]?.payload.target?.isUKYearly == false)
        #expect(view.logs["uk"]?.measures["P2.A2.M1"]?.payload.target?.isUKYearly == true)
        // Nor in the totals CSV.
        let csv = ViewQueries(view: nationView, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"]).csv(.totals, measure: "P2.A2.M1")
        #expect(csv.contains("P2.A2.M1,2025,7,,,") || csv.contains("\"P2.A2.M1\",\"2025\",\"7\",\"\",\"\""), "\(csv)")
        // Provenance: the readings and the measure definitions (UK and nations).
        let refs = try queries.provenance("total:P2.A2.M1:2025")
        #expect(refs.contains(EntryRef(log: "scotland", index: s1)))
        #expect(refs.contains(view.logs["uk"]!.measures["P2.A2.M1"]!.refs[0]))
        #expect(refs.contains(view.logs["england"]!.measures["P2.A2.M1"]!.refs[0]))
        #expect(refs.contains(view.logs["england"]!.actions["P2.A2"]!.refs[0]), "the nation measure's action")
        #expect(refs.contains(view.logs["uk"]!.actions["P2.A2"]!.refs[0]), "the UK measure's action")
        #expect(throws: PlanError.self) { try queries.provenance("total:P2.A2.M1:2031") }
        #expect(throws: PlanError.self) { try queries.provenance("nonsense") }
        // What is not there is told apart from what is wrong (the API answers 404 and 400).
        #expect(throws: PlanError.notFound("no log in the view has measure P9.A9.M9")) { try queries.measure("P9.A9.M9", period: nil) }
        #expect(throws: PlanError.notFound("no log named atlantis in the view")) { try queries.nation("atlantis") }
        #expect { try queries.measure("P2.A2.M1", period: "2025-13") } throws: { ($0 as? PlanError)?.kind == .invalid }
        // Quarters: each nation's quarter reading (Scotland reported only the whole year).
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2025, quarter: 1)]?.value == 2)
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2025, quarter: 2)]?.contributions == ["england": 2])
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2025, quarter: 3)] == nil)
        #expect(queries.total(try #require(view.totals["P2.A2.M1"]?[Period(year: 2025, quarter: 1)])).target == nil, "targets are yearly")
        #expect(try queries.provenance("total:P2.A2.M1:2025-Q1").contains(EntryRef(log: "england", index: e3)))
        // A non-count measure never enters a total.
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M3", "period": "2025", "value": 100])
        #expect(view.totals["P2.A2.M3"] == nil)
    }

    /// A nation mapping a measure to a UK measure the UK plan does not define (or defines as
    /// another kind) makes no UK total anyone is shown: not listed, not in the CSV, no figure.
    @Test func aMappingToAUKMeasureTheUKPlanLacksMakesNoTotal() throws {
        var view = try Self.federationView()
        var measure = try #require(view.logs["wales"]?.measures["P2.A4.M1"]?.payload)
        measure.uk_measure = "P9.A9.M9"
        try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "plan.measure", payload: Array(try JSONEncoder().encode(measure))))
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025", "value": 4])
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2025", "value": 3])
        #expect(view.totals["P9.A9.M9"] != nil, "the fold keeps it (the UK may define the measure later)")
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales"])
        #expect(queries.ukTotals("P9.A9.M9") == nil)
        #expect(!queries.totalsList().contains { $0.measure == "P9.A9.M9" })
        #expect(queries.statedValue("total:P9.A9.M9:2025") == nil)
        #expect(throws: PlanError.self) { try queries.provenance("total:P9.A9.M9:2025") }
        #expect(!queries.csv(.totals).contains("P9.A9.M9"))
        // Nor a UK chart: the overview charts it as Wales's own measure (its wording would
        // otherwise stand as the UK's: finding 212).
        #expect(!queries.chartedMeasures().contains("P9.A9.M9") && queries.chartedMeasures().contains("wales:P2.A4.M1"), "\(queries.chartedMeasures())")
        #expect(queries.chartedMeasures().contains("P2.A2.M1"))
        // A defined count measure's total is shown as before.
        #expect(queries.totalsList().contains { $0.figure == "total:P2.A2.M1:2025" && $0.value == 3 })
        #expect(queries.statedValue("total:P2.A2.M1:2025") == "3")
    }

    /// A reading admitted while its measure was a percentage never adds into a UK total, even
    /// once the measure is redefined as a count mapped to one (half a unit from one nation made
    /// every total it touched fractional, and the CSV wrote it "1.235e+05").
    @Test func onlyReadingsAdmittedAsCountsAddIntoUKTotals() throws {
        var view = try Self.federationView()
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2025", "value": 123456])
        let counted = try #require(view.logs["wales"]?.measures["P2.A4.M1"]?.payload)
        var percentage = counted
        percentage.kind = .percentage
        percentage.uk_measure = nil
        percentage.target = nil
        try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "plan.measure", payload: Array(try JSONEncoder().encode(percentage))))
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025", "value": 0.5])
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2024", "value": 99.995])
        var remapped = counted
        remapped.uk_measure = "P2.A2.M1"
        try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "plan.measure", payload: Array(try JSONEncoder().encode(remapped))))
        #expect(view.logs["wales"]?.measures["P2.A4.M1"]?.readings[Period(year: 2025)]?.admittedAs == .percentage)
        let total = try #require(view.totals["P2.A2.M1"]?[Period(year: 2025)])
        #expect(total.value == 123456 && total.contributions == ["england": 123456], "\(total)")
        // A reading admitted as a count, after, adds in.
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q3", "value": 2])
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2025)]?.contributions == ["england": 123456, "wales": 2], "a reading not admitted as a count is not there for the sums (the quarter stands for the year)")
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2025, quarter: 3)]?.contributions == ["wales": 2])
        // The measure's readings say which were admitted under another kind than its own now.
        let series = try #require(ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"])
            .measure("P2.A4.M1", period: nil).series.first { $0.log == "wales" })
        #expect(series.readings?.first { $0.period == "2025" }?.admittedAs == "percentage")
        #expect(series.readings?.first { $0.period == "2025-Q3" }.map { $0.admittedAs == nil } == true)
        // A chart's window of years: only those years' readings, the totals all there.
        let windowed = try ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"])
            .measure("P2.A4.M1", period: nil, readingYears: 2025...2026)
        #expect(windowed.series.first { $0.log == "wales" }?.readings?.map(\.period) == ["2025-Q3", "2025"], "\(windowed)")
        let whole = try ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"]).measure("P2.A2.M1", period: nil)
        let windowedTotals = try ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"])
            .measure("P2.A2.M1", period: nil, readingYears: 2025...2025).totals
        #expect(!whole.totals.isEmpty && windowedTotals == whole.totals, "the window is over readings only")
        // Figures are written exactly, never with an exponent or four digits.
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"])
        #expect(queries.csv(.totals, measure: "P2.A2.M1").contains("123456"))
        #expect(queries.csv(.readings, measure: "P2.A4.M1").contains("99.995"), "written exactly (it was 100)")
    }

    /// A year without a reading of its own is the sum of its quarters, each its reading or its
    /// months': a nation that reported the first quarter whole and then month by month counted
    /// only the first quarter for the year.
    @Test func aYearSumsEachQuarterAsItStands() throws {
        var view = try Self.federationView()
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2026-Q1", "value": 5])
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2026-04", "value": 1])
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2026-08", "value": 2])
        // A month inside a quarter that has its own reading does not add to it.
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2026-02", "value": 100])
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2026)]?.value == 8)
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2026, quarter: 1)]?.value == 5)
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2026, quarter: 2)]?.value == 1)
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2026, quarter: 3)]?.value == 2)
        // The year's own reading stands for the year.
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2026", "value": 40])
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2026)]?.value == 40)
    }

    /// A count of what stands at a time (a headcount: `over_time: latest`, set by the import
    /// from the catalogue's kind) makes a year of its latest period, not the sum of its
    /// quarters: four quarterly headcounts of about 300 made a UK year of 1,200 (2026-12-06
    /// review of the real plans). The UK measure's definition decides, for every nation alike;
    /// each nation's latest is added into the UK's.
    @Test func aLevelTakesItsLatestPeriodNotTheSum() throws {
        var view = try Self.federationView()
        // The import marks the UK plan's headcount (and those adopting it) and Wales's.
        #expect(view.logs["uk"]?.measures["P1.A1.M1"]?.payload.over_time == .latest)
        #expect(view.logs["england"]?.measures["P1.A1.M1"]?.payload.over_time == .latest)
        #expect(view.logs["wales"]?.measures["P1.A1.M1"]?.payload.over_time == .latest)
        #expect(view.logs["wales"]?.measures["P1.A1.M1"]?.payload.uk_measure == "P1.A1.M1")
        #expect(view.logs["wales"]?.measures["P2.A4.M1"]?.payload.over_time == nil, "events add up")
        // England quarterly (the third quarter month by month), Scotland for Q1 and Q2, Wales for
        // the year.
        for (period, value) in [("2025-Q1", 300.0), ("2025-Q2", 310), ("2025-07", 312), ("2025-08", 315), ("2025-Q4", 320)] {
            _ = try append(&view, "england", "progress.reading", ["measure": "P1.A1.M1", "period": period, "value": value])
        }
        let q4 = try append(&view, "england", "progress.reading", ["measure": "P1.A1.M1", "period": "2025-Q4", "value": 321])
        _ = try append(&view, "scotland", "progress.reading", ["measure": "P1.A1.M1", "period": "2025-Q2", "value": 90])
        let scotland = try append(&view, "scotland", "progress.reading", ["measure": "P1.A1.M1", "period": "2025-Q1", "value": 80])
        _ = try append(&view, "wales", "progress.reading", ["measure": "P1.A1.M1", "period": "2025", "value": 40])
        let year = try #require(view.totals["P1.A1.M1"]?[Period(year: 2025)])
        #expect(year.contributions == ["england": 321, "scotland": 90, "wales": 40], "\(year.contributions)")
        #expect(year.value == 451)
        #expect(year.refs.contains(EntryRef(log: "england", index: q4)) && !year.refs.contains(EntryRef(log: "scotland", index: scotland)), "the refs are the readings standing")
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2025, quarter: 3)]?.contributions == ["england": 315], "a quarter's last month")
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2025, quarter: 1)]?.value == 380)
        // The same readings under a measure that sums (events) add up.
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A6.M1", "period": "2025-Q1", "value": 3])
        _ = try append(&view, "england", "progress.reading", ["measure": "P2.A6.M1", "period": "2025-Q2", "value": 4])
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2025)]?.value == 7)
        // A nation's own rule decides nothing: England redefining its headcount to sum (or
        // stating "sum" outright), then correcting its last quarter, still adds its latest.
        var measure = try #require(view.logs["england"]?.measures["P1.A1.M1"]?.payload)
        measure.over_time = .sum
        try view.apply(ViewEntry(log: "england", index: view.logs["england"]!.size, timeMillis: 0, type: "plan.measure", payload: Array(try JSONEncoder().encode(measure))))
        _ = try append(&view, "england", "progress.reading", ["measure": "P1.A1.M1", "period": "2025-Q4", "value": 330])
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2025)]?.value == 460)
        _ = try append(&view, "england", "progress.reading", ["measure": "P1.A1.M1", "period": "2025-Q4", "value": 321])
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2025)]?.value == 451)
        // The UK measure redefined to sum: every nation's kept values are added up, in every
        // year, and back.
        _ = try append(&view, "scotland", "progress.reading", ["measure": "P1.A1.M1", "period": "2024-Q3", "value": 60])
        _ = try append(&view, "scotland", "progress.reading", ["measure": "P1.A1.M1", "period": "2024-Q4", "value": 70])
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2024)]?.value == 70)
        var uk = try #require(view.logs["uk"]?.measures["P1.A1.M1"]?.payload)
        uk.over_time = nil
        try view.apply(ViewEntry(log: "uk", index: view.logs["uk"]!.size, timeMillis: 0, type: "plan.measure", payload: Array(try JSONEncoder().encode(uk))))
        let summed = try #require(view.totals["P1.A1.M1"]?[Period(year: 2025)])
        #expect(summed.contributions == ["england": 1558, "scotland": 170, "wales": 40], "\(summed.contributions)")
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2025, quarter: 3)]?.value == 627)
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2024)]?.value == 130)
        uk.over_time = .latest
        try view.apply(ViewEntry(log: "uk", index: view.logs["uk"]!.size, timeMillis: 0, type: "plan.measure", payload: Array(try JSONEncoder().encode(uk))))
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2025)]?.value == 451)
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2024)]?.value == 70)
        // Past 17 readings (looked up, not passed over) the same rule.
        for m in 1...12 { _ = try append(&view, "england", "progress.reading", ["measure": "P1.A1.M1", "period": String(format: "2030-%02d", m), "value": Double(100 + m)]) }
        for q in 1...3 { _ = try append(&view, "england", "progress.reading", ["measure": "P1.A1.M1", "period": "2031-Q\(q)", "value": Double(200 + q)]) }
        #expect((view.logs["england"]?.measures["P1.A1.M1"]?.readings.count ?? 0) > 17)
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2030)]?.value == 112)
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2030, quarter: 2)]?.value == 106)
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2031)]?.value == 203)
        // The figure a reader recomputes (verify-figure folds the same way) and its provenance.
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"])
        #expect(queries.statedValue("total:P1.A1.M1:2025") == "451")
        #expect(try queries.measure("P1.A1.M1", period: nil).series.first { $0.log == "uk" }?.overTime == "latest")
        // Only a count takes a rule over time; only sum and latest.
        let context = LogContext(view: view, log: "england")
        var percentage = try #require(view.logs["england"]?.measures["P2.A2.M3"]?.payload)
        #expect(percentage.kind != .count)
        percentage.over_time = .latest
        #expect(throws: PlanError("payload.over_time: only count measures add up over periods; this one is \(percentage.kind.rawValue)")) {
            try PlanValidator.validate(type: "plan.measure", payload: Array(try JSONEncoder().encode(percentage)), context: context)
        }
        var object = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(measure)) as? [String: Any])
        object["over_time"] = "average"
        #expect(throws: PlanError("payload.over_time: expected one of sum, latest, got \"average\"")) {
            try PlanValidator.validate(type: "plan.measure", payload: payload(object), context: context)
        }
    }

    /// A UK measure the UK log defines only after the nations' readings (the UK plan imported
    /// last) makes its totals by its rule from then on: a level's years are made again.
    @Test func aUKMeasureDefinedAfterTheReadingsMakesItsTotalsByItsRule() throws {
        var view = StrategyView(logs: ["uk", "wales", "england", "scotland", "northern-ireland"])
        let uk = try PlanImport(planFile: "\(plansDirectory)/uk-plan.yaml")
        try fold(try uk.entries(for: "england"), into: &view, log: "england")
        for (period, value) in [("2025-Q1", 300.0), ("2025-Q2", 310)] {
            _ = try append(&view, "england", "progress.reading", ["measure": "P1.A1.M1", "period": period, "value": value])
        }
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2025)]?.value == 610, "no UK definition yet: a sum")
        try fold(try uk.entries(for: "uk"), into: &view, log: "uk")
        #expect(view.totals["P1.A1.M1"]?[Period(year: 2025)]?.value == 310)
    }

    /// The import maps one measure of a nation's plan into a UK measure, the first of its kind
    /// under the action's UK counterparts: Wales's three engagement measures of P4.A1 (three
    /// different resources) all added into UK P4.A2.M1, and P2.A1.M3 (a subset of P2.A1.M1)
    /// into UK P2.A1.M1 beside it.
    @Test func aNationsPlanMapsOneMeasureIntoEachUKMeasure() throws {
        let entries = try PlanImport(planFile: "\(plansDirectory)/wales-plan.yaml").entries(for: "wales")
        var view = StrategyView()
        try fold(entries, into: &view, log: "wales")
        let measures = try #require(view.logs["wales"]?.measures)
        #expect(measures["P4.A1.M1"]?.payload.uk_measure == "P4.A2.M1")
        #expect(measures["P4.A1.M2"]?.payload.uk_measure == nil && measures["P4.A1.M3"]?.payload.uk_measure == nil)
        #expect(measures["P2.A1.M1"]?.payload.uk_measure == "P2.A1.M1" && measures["P2.A1.M3"]?.payload.uk_measure == nil)
        #expect(measures["P2.A1.M7"]?.payload.uk_measure == "P2.A1.M5" && measures["P2.A1.M8"]?.payload.uk_measure == nil)
        var into: [String: [String]] = [:]
        for (id, m) in measures { if let uk = m.payload.uk_measure { into[uk, default: []].append(id) } }
        #expect(into.values.allSatisfy { $0.count == 1 }, "\(into.filter { $0.value.count > 1 })")
    }

    @Test func figuresAreWrittenExactlyWithoutAnExponent() {
        let cases: [(Double, String)] = [(123456.5, "123456.5"), (99.995, "99.995"), (0.00001, "0.00001"), (-0.00000025, "-0.00000025"),
                                         (1.2345e16, "12345000000000000"), (1e15, "1000000000000000"), (7, "7"), (-3, "-3"), (0.1, "0.1"),
                                         (1.5e-10, "0.00000000015"), (33.333333333333336, "33.333333333333336"), (1e21, "1000000000000000000000")]
        for (value, text) in cases {
            #expect(ViewQueries.number(value) == text, "\(value)")
            #expect(Double(ViewQueries.number(value)) == value, "reads back: \(value)")
        }
        #expect(ViewQueries.approximate(262_500_000.4) == "263M")
        #expect(ViewQueries.approximate(1_050_000_000) == "1.05bn")
        #expect(ViewQueries.approximate(12_345) == "12.3k")
        #expect(ViewQueries.approximate(9_999) == "9999")
        #expect(ViewQueries.approximate(999_999) == "1M" && ViewQueries.approximate(999_400) == "999k")
        #expect(ViewQueries.approximate(26.2499) == "26.25")
        #expect(ViewQueries.approximate(0.000012344) == "0.00001234")
    }

    @Test func redefiningAMeasureMovesItsReadingsBetweenTotals() throws {
        var view = try Self.federationView()
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025", "value": 4])
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2025)]?.contributions["wales"] == 4)
        // Readings of other years (months summed into their quarter and year) move too.
        for (period, value) in [("2031-01", 1.0), ("2031-02", 2.0), ("2031-05", 4.0), ("1999-Q3", 7.0)] {
            _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": period, "value": value])
        }
        #expect(view.logs["wales"]?.measures["P2.A4.M1"]?.years == [2025, 2031, 1999])
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2031)]?.value == 7)
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2031, quarter: 1)]?.value == 3)
        #expect(view.totals["P2.A6.M1"]?[Period(year: 1999)]?.value == 7)
        // Past 17 readings a measure's readings of a year are looked up, with the same result.
        for m in 1...12 { _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": String(format: "2040-%02d", m), "value": Double(m)]) }
        for q in 1...4 { _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2041-Q\(q)", "value": 10.0 * Double(q)]) }
        #expect((view.logs["wales"]?.measures["P2.A4.M1"]?.readings.count ?? 0) > 17)
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2040)]?.value == 78)
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2040, quarter: 4)]?.value == 33)
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2041)]?.value == 100)
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2031)]?.value == 7)
        // Wales maps its events measure to the workshops measure instead.
        var measure = try #require(view.logs["wales"]?.measures["P2.A4.M1"]?.payload)
        measure.uk_measure = "P2.A2.M1"
        let data = try JSONEncoder().encode(measure)
        try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "plan.measure", payload: Array(data)))
        #expect(view.totals["P2.A6.M1"] == nil, "every year's total moved")
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2025)]?.contributions == ["wales": 4])
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2031, quarter: 2)]?.value == 4)
        #expect(view.totals["P2.A2.M1"]?[Period(year: 1999)]?.contributions == ["wales": 7])
        #expect(view.totals["P2.A2.M1"]?[Period(year: 2040)]?.value == 78)
        // And as a qualitative measure it leaves every total.
        measure.kind = .qualitative
        try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "plan.measure", payload: Array(try JSONEncoder().encode(measure))))
        #expect(view.totals["P2.A2.M1"] == nil)
    }

    /// A cell whose oldest status is two reporting quarters or more behind the newest status
    /// of the matrix is stale (its colour speaks of then). The newest is the second log's: no
    /// one member (entry times are its own word) moves it; a status dated ahead of its entry
    /// counts from the day it was written; a withdrawn action's sets nothing.
    @Test func aCellTwoQuartersBehindTheNewestStatusIsStale() throws {
        var view = try Self.federationView()
        func status(_ log: String, _ action: String, _ asOf: String, written: String = "2026-01-15") throws {
            let millis = UInt64(try #require(ISO8601DateFormatter().date(from: written + "T12:00:00Z")).timeIntervalSince1970 * 1000)
            try view.apply(ViewEntry(log: log, index: view.logs[log]?.size ?? 0, timeMillis: millis, type: "progress.status",
                                     payload: payload(["action": action, "status": "on-track", "as_of": asOf])))
        }
        func queries() -> ViewQueries { ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales", "england"]) }
        func stale(_ priority: String, _ log: String) -> Bool? { queries().priority(priority)?.nations[log]?.stale }
        #expect(queries().newestUpdate == nil)
        try status("wales", "P4.A1", "2024-12-31")
        try status("wales", "P4.A2", "2025-03-31")
        // One log reported: its newest. One quarter behind it (Q4 2024 against Q1 2025): not stale.
        #expect(queries().newestUpdate == "2025-03-31" && stale("P4", "wales") == nil)
        // Two more logs report in Q2: two quarters behind (however few days): stale, saying
        // against what — in the answer and on the whole view alike.
        try status("england", "P1.A1", "2025-04-01")
        try status("uk", "P1.A1", "2025-04-02")
        let cell = try #require(queries().priority("P4")?.nations["wales"])
        #expect(cell.stale == true && cell.newestUpdate == "2025-04-01" && cell.colour == "green" && cell.oldestAsOf == "2024-12-31")
        #expect(queries().whole(node: "uk", generatedAt: "").priorities.first { $0.id == "P4" }?.nations["wales"]?.stale == true)
        #expect(stale("P1", "england") == nil && stale("P1", "uk") == nil)
        // One member far ahead, its entry dated ahead too (a writer's own word): the second
        // log's newest still rules.
        try status("england", "P1.A2", "2999-12-31", written: "2999-12-31")
        #expect(queries().newestUpdate == "2025-04-02")
        // A status dated ahead of its writing counts from the day it was written.
        try status("uk", "P1.A2", "2999-12-31", written: "2025-07-02")
        #expect(queries().newestUpdate == "2025-07-02")
        // A withdrawn action's status sets nothing.
        try status("uk", "P1.A3", "2025-12-31")
        #expect(queries().newestUpdate == "2025-12-31")
        _ = try append(&view, "uk", "plan.action.withdrawn", ["id": "P1.A3", "reason": "merged", "as_of": "2026-01-01"])
        #expect(queries().newestUpdate == "2025-07-02")
        // Wales brings its actions up to date (Q2 against Q3): no longer stale.
        try status("wales", "P4.A1", "2025-06-30")
        #expect(stale("P4", "wales") == true)
        try status("wales", "P4.A2", "2025-05-15")
        #expect(stale("P4", "wales") == nil)
        // Quarters: a date's year and its three months.
        #expect(ViewQueries.quarter(of: "2025-01-01") == 8100 && ViewQueries.quarter(of: "2025-03-31") == 8100 && ViewQueries.quarter(of: "2025-04-01") == 8101)
    }

    @Test func matrixColoursFollowTheStatuses() throws {
        var view = try Self.federationView()
        let queries0 = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales"])
        #expect(queries0.cell(priority: "P4", log: "wales").colour == "grey")
        _ = try append(&view, "wales", "progress.status", ["action": "P4.A1", "status": "on-track", "as_of": "2025-03-31"])
        _ = try append(&view, "wales", "progress.status", ["action": "P4.A2", "status": "done", "as_of": "2025-03-31"])
        var cell = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales"]).cell(priority: "P4", log: "wales")
        #expect(cell.colour == "green")
        #expect(cell.progress == 1)
        // An older as-of date does not replace a newer status.
        _ = try append(&view, "wales", "progress.status", ["action": "P4.A1", "status": "off-track", "as_of": "2025-01-31"])
        cell = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales"]).cell(priority: "P4", log: "wales")
        #expect(cell.colour == "green")
        let latest = try append(&view, "wales", "progress.status", ["action": "P4.A1", "status": "at-risk", "as_of": "2025-06-30"])
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales"])
        cell = queries.cell(priority: "P4", log: "wales")
        #expect(cell.colour == "amber")
        #expect(cell.progress == 0.5)
        // It says how old its statuses are: P4.A2's of 2025-03-31 is the oldest standing.
        #expect(cell.oldestAsOf == "2025-03-31")
        #expect(queries.priority("P4")?.nations["wales"]?.oldestAsOf == "2025-03-31" && queries0.priority("P4")?.nations["wales"]?.oldestAsOf == nil)
        // The cell's provenance: both actions and their latest statuses, not the older ones.
        let refs = try queries.provenance("cell:P4:wales")
        #expect(refs.count == 4)
        #expect(refs.contains(EntryRef(log: "wales", index: latest)))
    }

    @Test func stubsGapsAndBadPayloadsAreHandled() throws {
        var view = StrategyView()
        try view.apply(ViewEntry(log: "wales", index: 0, timeMillis: 0, type: "progress.reading", payload: nil))
        try view.apply(ViewEntry(log: "wales", index: 1, timeMillis: 0, type: "progress.reading", payload: Array("{\"measure\":1}".utf8)))
        try view.apply(ViewEntry(log: "wales", index: 2, timeMillis: 0, type: "demo.note", payload: Array("{}".utf8)))
        // A replayed entry is ignored; a gap is refused.
        try view.apply(ViewEntry(log: "wales", index: 1, timeMillis: 0, type: "demo.note", payload: Array("{}".utf8)))
        #expect(throws: PlanError.self) { try view.apply(ViewEntry(log: "wales", index: 9, timeMillis: 0, type: "demo.note", payload: nil)) }
        let w = try #require(view.logs["wales"])
        #expect(w.size == 3)
        #expect(w.stubs == 1)
        #expect(w.unreadable == 1)
        #expect(w.otherEntries == 1)
    }

    /// Text the append refuses (control characters, and tab or newline in a name) is not folded
    /// when a modified node wrote it into its own log past its API: the entry is unreadable,
    /// naming the field, and what it would have changed stays as it was.
    @Test func controlCharactersAPeerWroteAreNotFolded() throws {
        var view = try Self.federationView()
        let before = view.logs["wales"]!.unreadable
        _ = try append(&view, "wales", "progress.status", ["action": "P4.A1", "status": "on-track", "as_of": "2025-03-31", "note": "fine\tand\nlines"])
        let folded = try append(&view, "wales", "progress.status", ["action": "P4.A1", "status": "at-risk", "as_of": "2025-06-30", "note": "ok\u{1b}[2Jforged"])
        _ = try append(&view, "wales", "progress.status", ["action": "P4.A1\u{202e}", "status": "at-risk", "as_of": "2025-07-31"])
        _ = try append(&view, "wales", "progress.reading", ["measure": "P4.A1.M1", "period": "2025", "categories": ["a\nb": 1]])
        _ = try append(&view, "wales", "progress.reading", ["measure": "P4.A1.M1", "period": "2025", "value": 1, "note": "\u{7}"])
        let w = try #require(view.logs["wales"])
        #expect(w.unreadable == before + 4)
        let reasons = w.unreadableSamples.suffix(4).map(\.reason)
        #expect(reasons.count == 4 && reasons[0].contains("payload.note: a control character U+001B at character 3"), "\(reasons)")
        #expect(reasons[1].contains("payload.action") && reasons[2].contains("categories") && reasons[3].contains("U+0007"), "\(reasons)")
        // The status with tab and newline was folded; the forged one was not.
        let status = try #require(view.logs["wales"]?.actions["P4.A1"]?.status)
        #expect(status.payload.note == "fine\tand\nlines" && status.ref.index != folded)
    }

    /// A total's provenance holds what it rests on and what a reader's recompute needs, not
    /// every revision of every mapped measure: a nation redefining its measure hundreds of times
    /// (or mapping measures with nothing in the period) crowded the other nations off the
    /// bounded answer (a review found it).
    @Test func aTotalsProvenanceHoldsTheDefinitionsThatDecideItsReadings() throws {
        var view = try Self.federationView()
        let early = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q1", "value": 4])
        let payload = try #require(view.logs["wales"]?.measures["P2.A4.M1"]?.payload)
        for _ in 0..<300 {
            try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "plan.measure", payload: Array(try JSONEncoder().encode(payload))))
        }
        let late = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q2", "value": 5])
        let defs = try #require(view.logs["wales"]?.measures["P2.A4.M1"]?.refs)
        #expect(defs.count > 300)
        let queries = ViewQueries(view: view, health: [:], nowMillis: 0, order: ["uk", "wales", "england", "scotland", "northern-ireland"])
        let refs = try queries.provenance("total:P2.A6.M1:2025")
        let wales = Set(refs.filter { $0.log == "wales" })
        let before = { (reading: UInt64) in defs.last { $0.index < reading }! }
        // And the entry defining the measure's action: a reader's recompute takes a measure only
        // under an action its log has, as the fold does.
        let action = try #require(view.logs["wales"]?.actions["P2.A4"]?.refs.first)
        #expect(wales == [EntryRef(log: "wales", index: early), EntryRef(log: "wales", index: late), defs.first!, defs.last!, before(early), before(late), action])
        let reading = try queries.provenance("reading:wales:P2.A4.M1:2025-Q1")
        #expect(Set(reading) == [EntryRef(log: "wales", index: early), defs.first!, defs.last!, before(early), action])
    }

    /// The fold takes only what the append takes (`PlanValidator` against the log as folded):
    /// a count of 1e308 twice made a UK total infinite, and the view's JSON stopped the
    /// process at every request; a negative count hid other nations' figures; an unknown field
    /// was folded here and dropped by the browser's check (a review found all three).
    @Test func readingsTheAppendRefusesAreNotFolded() throws {
        var view = try Self.federationView()
        let before = view.logs["wales"]!.unreadable
        for period in ["2025-Q1", "2025-Q2"] {
            _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": period, "value": 1e308])
        }
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q3", "value": -40])
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q4", "value": 2.5])
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2026", "value": 7, "x": "\u{202e}"])
        #expect(view.logs["wales"]!.unreadable == before + 5)
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2025)] == nil && view.totals["P2.A6.M1"]?[Period(year: 2026)] == nil)
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025", "value": 1_000_000_000])
        #expect(view.totals["P2.A6.M1"]?[Period(year: 2025)]?.value == 1_000_000_000)
        // An entry this node's admission checked is not checked again (its own commits): the
        // fold trusts the flag, so only the writer's own commits carry it.
        var admitted = ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "progress.reading",
                                 payload: payload(["measure": "P2.A4.M1", "period": "2026", "value": 3, "x": 1]))
        admitted.admitted = true
        try view.apply(admitted)
        #expect(view.logs["wales"]!.unreadable == before + 5 && view.totals["P2.A6.M1"]?[Period(year: 2026)]?.value == 3)
    }

    /// One log adds at most `PlanLimits.measuresPerUKMeasure` count measures up into one UK
    /// measure: every reading of it, any nation's, sums them all again at every node (a
    /// member's thousands made each other nation's reading cost every node that many sums).
    /// The append refuses the next one and the fold counts it unreadable; redefining a measure
    /// already mapped, or mapping one elsewhere, still goes in.
    @Test func oneLogAddsAtMostSoManyMeasuresUpIntoOneUKMeasure() throws {
        var view = try Self.federationView()
        let limit = PlanLimits.measuresPerUKMeasure
        let already = LogContext(view: view, log: "wales").measuresMapped(to: "P2.A6.M1")
        #expect(already == ["P2.A4.M1"])
        func measure(_ n: Int, uk: String = "P2.A6.M1") -> [String: Any] {
            ["id": "P2.A4.M\(n + 100)", "action": "P2.A4", "text": "Count \(n)", "kind": "count", "uk_measure": uk]
        }
        for n in 0..<(limit - already.count) { _ = try append(&view, "wales", "plan.measure", measure(n)) }
        #expect(LogContext(view: view, log: "wales").measuresMapped(to: "P2.A6.M1").count == limit)
        let unreadable = view.logs["wales"]!.unreadable
        // The append's check refuses one more, naming the field and the limit.
        let next = JSONValue.object(measure(limit).mapValues { value in (value as? String).map(JSONValue.string) ?? .null })
        #expect(throws: PlanError.self) { try PlanValidator.validate(.measure, next, context: LogContext(view: view, log: "wales")) }
        do { try PlanValidator.validate(.measure, next, context: LogContext(view: view, log: "wales")) } catch {
            #expect(error.message.contains("payload.uk_measure") && error.message.contains("\(limit)"), "\(error)")
        }
        // The fold takes nothing the append refuses.
        _ = try append(&view, "wales", "plan.measure", measure(limit))
        #expect(view.logs["wales"]!.unreadable == unreadable + 1)
        #expect(LogContext(view: view, log: "wales").measuresMapped(to: "P2.A6.M1").count == limit)
        // A measure mapped already may be defined again; one mapped elsewhere goes in.
        _ = try append(&view, "wales", "plan.measure", measure(0))
        _ = try append(&view, "wales", "plan.measure", measure(limit + 1, uk: "P2.A6.M2"))
        #expect(view.logs["wales"]!.unreadable == unreadable + 1)
        // Another nation's count is its own.
        #expect(LogContext(view: view, log: "england").measuresMapped(to: "P2.A6.M1").count < limit)
    }

    @Test func queriesAndCSV() throws {
        var view = try Self.federationView()
        _ = try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q1", "value": 2, "note": "Cardiff, \"Swansea\""])
        _ = try append(&view, "wales", "progress.status", ["action": "P2.A4", "status": "on-track", "as_of": "2025-03-31", "note": "=cmd"])
        let q = ViewQueries(view: view, health: ["wales": LogHealth(verified: true, alerts: [])], nowMillis: 0,
                            order: ["uk", "wales", "england", "scotland", "northern-ireland"])
        let whole = q.whole(node: "uk", generatedAt: ViewQueries.iso(0))
        #expect(whole.priorities.map(\.id) == ["P1", "P2", "P3", "P4"])
        let measure = try q.measure("P2.A6.M1", period: "2025")
        let series = measure.series
        // The UK measure itself, the adopted ones and Wales's P2.A4.M1 that adds up into it.
        #expect(series.map { "\($0.log)/\($0.id)" } == ["uk/P2.A6.M1", "wales/P2.A4.M1", "england/P2.A6.M1", "scotland/P2.A6.M1"])
        #expect(series[1].readings?.first?.value == 2)
        // A year's readings are its own 17 periods in order, looked up; a quarter's its own.
        var years = view
        for period in ["2025", "2025-03", "2025-Q4", "2026", "2024-12", "2025-11"] {
            _ = try append(&years, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": period, "value": 1])
        }
        let inYears = ViewQueries(view: years, health: [:], nowMillis: 0, order: ["uk", "wales"])
        let all = try #require(years.logs["wales"]?.measures["P2.A4.M1"]?.readings.keys)
        #expect(try inYears.measure("P2.A6.M1", period: "2025").series.first { $0.log == "wales" }?.readings?.map(\.period)
                == all.filter { $0.year == 2025 }.sorted().map(\.description))
        #expect(try inYears.measure("P2.A6.M1", period: "2025-Q4").series.first { $0.log == "wales" }?.readings?.map(\.period) == ["2025-Q4"])
        #expect(throws: PlanError.self) { try q.measure("P2.A6.M1", period: "2025-13") }
        #expect(throws: PlanError.self) { try q.measure("P9.A9.M9", period: nil) }
        let csv = q.csv(.readings, log: "wales")
        #expect(csv.hasPrefix("nation,measure,uk_measure,kind,period,value,note,log,index\r\n"))
        #expect(csv.contains("wales,P2.A4.M1,P2.A6.M1,count,2025-Q1,2,\"Cardiff, \"\"Swansea\"\"\",wales,"))
        let actions = q.csv(.actions, log: "wales", priority: "P2")
        #expect(actions.split(separator: "\r\n").count == 5)
        // Every scope a route names applies to its CSV (finding 290): a period (a year takes
        // its quarters and months), a log's measure alone, a priority's or a nation's totals.
        let yearly = inYears.csv(.readings, log: "wales", measure: "P2.A4.M1", period: Period("2025"))
        let periods = yearly.split(separator: "\r\n").dropFirst().map { $0.split(separator: ",")[4] }
        #expect(Set(periods) == Set(all.filter { $0.year == 2025 }.map { Substring($0.description) }), "\(yearly)")
        #expect(inYears.csv(.readings, log: "wales", measure: "P2.A4.M1", period: Period("2025-Q4")).split(separator: "\r\n").count == 2)
        // One log's measure of the id alone: wales's P2.A4.M1, not the measures it maps into UK
        // P2.A6.M1, nor another log's P2.A4.M1.
        let walesOnly = inYears.csv(.readings, log: "wales", measure: "P2.A4.M1").split(separator: "\r\n").dropFirst()
        #expect(!walesOnly.isEmpty && walesOnly.allSatisfy { $0.hasPrefix("wales,P2.A4.M1,") }, "\(walesOnly)")
        #expect(inYears.csv(.readings, log: "wales", measure: "P2.A6.M1").split(separator: "\r\n").count == 1, "wales has no measure P2.A6.M1 of its own")
        #expect(inYears.csv(.readings, measure: "P2.A6.M1").contains("\r\nwales,P2.A4.M1,P2.A6.M1,"), "without a log: mapped ones too")
        let totals = q.csv(.totals)
        #expect(totals.contains("\r\nP2.") && q.csv(.totals, priority: "P1").split(separator: "\r\n").dropFirst().allSatisfy { $0.hasPrefix("P1.") })
        #expect(q.csv(.totals, priority: "P9").split(separator: "\r\n").count == 1, "the header alone")
        #expect(q.csv(.totals, log: "atlantis").split(separator: "\r\n").count == 1, "no total that log contributes to")
        #expect(q.csv(.totals, log: q.view.ukLog) == totals, "the UK log's totals are all its own")
        #expect(ViewQueries.idOrder("P2.A9", "P2.A10"))
    }
}

@Suite struct JSONWriterTests {
    @Test func writesWhatJSONSerializationReadsBack() throws {
        let tree: [String: Any] = [
            "b": true, "n": NSNull(), "i": 42, "u": UInt64(7), "d": 0.7, "whole": 10.0, "neg": -3,
            "s": "quote \" backslash \\ newline \n tab \t control \u{01} snowman ☃",
            "a": [1, "x", false, ["k": [Int]()]] as [Any], "o": [String: Any](),
        ]
        let data = JSONWriter.data(tree)
        let back = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(back["s"] as? String == tree["s"] as? String)
        #expect((back["d"] as? NSNumber)?.doubleValue == 0.7)
        #expect((back["whole"] as? NSNumber)?.intValue == 10)
        #expect(back["n"] is NSNull)
        #expect((back["a"] as? [Any])?.count == 4)
        // Keys are sorted, as the API's other answers are.
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.hasPrefix(#"{"a":[1,"x",false,{"k":[]}],"b":true,"d":0.7"#))
    }
}

@Suite struct FlatJSONTests {
    /// The fast path reads exactly what JSONDecoder reads, and steps aside for anything else.
    @Test func agreesWithJSONDecoderOrStepsAside() throws {
        let payloads = [
            #"{"measure":"P2.A2.M1","note":"bench","period":"2025-03","value":17}"#,
            #" { "measure" : "P2.A2.M1" , "period" : "2025" , "value" : -1.5e2 } "#,
            #"{"measure":"P1.A2.M3","period":"2025-Q1","achieved":false,"note":null}"#,
            #"{"measure":"P1.A3.M3","period":"2025","text":"Reported \"quoted\" to the board"}"#,
            #"{"measure":"P2.A1.M2","period":"2025","categories":{"band-5":3}}"#,
            #"{"measure":"P2.A2.M1","period":"2025","value":"3"}"#,
            #"{"measure":"P2.A2.M1","period":"2025","value":3,}"#,
            #"{"measure":"ünïcode","period":"2025","value":3}"#,
        ]
        // Which of them the fast path reads itself (the rest it leaves to JSONDecoder).
        let taken = [true, true, true, false, false, false, false, true]
        for (text, expected) in zip(payloads, taken) {
            let bytes = Array(text.utf8)
            let fast = FlatJSON.parse(bytes).flatMap(FlatJSON.readingPayload)
            let slow = try? JSONDecoder().decode(ReadingPayload.self, from: Data(bytes))
            #expect((fast != nil) == expected, "\(text)")
            if let fast { #expect(fast == slow, "\(text)") }
        }
        // The fold's checks take the fast path's fields in place of the full parser's value.
        for text in payloads + [#"{"a":0,"b":-0,"c":1e2,"d":"é","e":true,"f":null,"g":-1.25E-3}"#, #"{}"#] {
            let bytes = Array(text.utf8)
            guard let flat = FlatJSON.parse(bytes) else { continue }
            #expect(FlatJSON.value(flat) == (try JSONValue.parse(bytes)), "\(text)")
        }
        #expect(FlatJSON.parse(Array(#"{"a":0.0}"#.utf8)) == nil && FlatJSON.parse(Array(#"{"a":0e1}"#.utf8)) == nil)
        // Where a lenient reader and JSONDecoder would disagree, the fast path steps aside.
        for text in [#"{"measure":"M","period":"2025","value":3,"value":300}"#, #"{"measure":"M","period":"2025","value":01}"#,
                     #"{"measure":"M","period":"2025","value":1.}"#, #"{"measure":"M","period":"2025","value":-.5}"#,
                     #"{"measure":"M","period":"2025","value":+1}"#] {
            #expect(FlatJSON.parse(Array(text.utf8)) == nil, "\(text)")
        }
        #expect(FlatJSON.parse(Array(#"{"measure":"\#u{FF}","period":"2025"}"#.utf8).map { $0 == 0xC3 ? 0xFF : $0 }) == nil)
        #expect(FlatJSON.parse(Array(#"{"a":"x\"y"}"#.utf8)) == nil)
        #expect(FlatJSON.parse(Array(#"{"a":1} x"#.utf8)) == nil)
        #expect(FlatJSON.parse(Array(#"{"a":[1]}"#.utf8)) == nil)
        let status = FlatJSON.parse(Array(#"{"action":"P1.A1","as_of":"2025-03-31","status":"on-track"}"#.utf8)).flatMap(FlatJSON.statusPayload)
        #expect(status == StatusPayload(action: "P1.A1", status: .onTrack, as_of: "2025-03-31"))
    }
}

/// The blank tests the append and the fold make are Foundation's trimming, scalar for scalar
/// (they replaced `trimmingCharacters(in:)`, a fifth of the fold's time).
@Suite struct BlankTextTests {
    @Test func blankIsFoundationsWhitespaceForEveryScalarOfTheBasicPlane() {
        for value in UInt32(0)...0xFFFF {
            guard let scalar = Unicode.Scalar(value) else { continue }
            let text = String(Character(scalar))
            #expect(FieldReader.isBlank(text) == text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "U+\(String(value, radix: 16))")
            #expect(FieldReader.isBlankName(text) == text.trimmingCharacters(in: .whitespaces).isEmpty, "U+\(String(value, radix: 16))")
        }
        #expect(FieldReader.isBlank("") && FieldReader.isBlank(" \t\n\u{2028}") && !FieldReader.isBlank(" a ") && !FieldReader.isBlank("\u{FEFF}"))
    }
}

/// Periods and ids read as bytes (the fold's hot path) take exactly what they took as
/// characters.
@Suite struct ByteParsingTests {
    @Test func periodsAndIdsAsBefore() {
        for text in ["2025", "1900", "2999", "2025-Q1", "2025-Q4", "2025-01", "2025-12"] { #expect(Period(text) != nil, "\(text)") }
        for text in ["1899", "3000", "2025-Q0", "2025-Q5", "2025-00", "2025-13", "2025-1", "2025-Q", "25", "२०२५", "2025-Q1x", "2025_01", "+025", "2025-+1", "2025-Q+", ""] {
            #expect(Period(text) == nil, "\(text)")
        }
        #expect(Period("2025-Q2")?.number == 2 && Period("2025-11")?.number == 11 && Period("2025")?.year == 2025)
        for (text, pattern) in [("P1", IDPattern.priority), ("P999", .priority), ("P1.A2", .action), ("P12.A3.M45", .measure)] { #expect(pattern.matches(text), "\(text)") }
        for (text, pattern) in [("P0", IDPattern.priority), ("P1000", .priority), ("P", .priority), ("P1.", .priority), ("P01.A1", .action), ("P1.A1", .priority),
                                ("P1.A1.M1", .action), ("P1.A", .action), ("P1.A1\u{301}", .action), ("Ｐ1", .priority), ("P1..A1", .action), (".P1", .priority),
                                ("P1.B1", .action), ("P1.A1.M1.X1", .measure)] {
            #expect(!pattern.matches(text), "\(text)")
        }
    }
}

/// The days a reporting period covers, as the append's checks of datasets read them.
@Suite struct PeriodDaysTests {
    @Test func aPeriodRunsFromItsFirstToItsLastDayLeapYearsCounted() throws {
        let cases: [(String, String, String)] = [
            ("2025", "2025-01-01", "2025-12-31"), ("2025-Q1", "2025-01-01", "2025-03-31"), ("2025-Q2", "2025-04-01", "2025-06-30"),
            ("2025-Q4", "2025-10-01", "2025-12-31"), ("2024-02", "2024-02-01", "2024-02-29"), ("2025-02", "2025-02-01", "2025-02-28"),
            ("2000-02", "2000-02-01", "2000-02-29"), ("1900-02", "1900-02-01", "1900-02-28"), ("2025-11", "2025-11-01", "2025-11-30"),
        ]
        for (text, first, last) in cases {
            let period = try #require(Period(text))
            #expect(period.firstDay == first && period.lastDay == last, "\(text): \(period.firstDay)–\(period.lastDay)")
            #expect(PlanDate.isValid(period.lastDay))
        }
    }
}
