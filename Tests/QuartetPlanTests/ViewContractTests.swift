import Foundation
import QuartetAPI
@testable import QuartetPlan
import Synchronization
import Testing
import Yams

/// The view's typed answers (QuartetAPI) against docs/openapi.yaml: every documented required
/// key is there with its documented JSON type, null where the document says null and absent
/// where it says optional, and each answer decodes back to itself byte for byte.
@Suite struct ViewContractTests {
    static let openAPI = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml").path

    /// `components.schemas` of docs/openapi.yaml, and each `/v1/view…` path's JSON schema.
    static func document() throws -> (schemas: [String: Any], paths: [String: Any]) {
        let text = try String(contentsOfFile: openAPI, encoding: .utf8)
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        let schemas = try #require((root["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let paths = try #require(root["paths"] as? [String: Any])
        return (schemas, paths)
    }

    static func responseSchema(_ paths: [String: Any], _ path: String) throws -> [String: Any] {
        let get = try #require((paths[path] as? [String: Any])?["get"] as? [String: Any])
        let ok = try #require((get["responses"] as? [String: Any])?["200"] as? [String: Any])
        let json = try #require((ok["content"] as? [String: Any])?["application/json"] as? [String: Any])
        return try #require(json["schema"] as? [String: Any])
    }

    static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Checks `value` against `schema` (following `$ref`s): required keys, and the JSON type of
    /// every documented property present; recurses into objects and arrays. `path` names where.
    static func check(_ value: JSONValue, _ schema: [String: Any], _ schemas: [String: Any], path: String) {
        var schema = schema
        if let ref = schema["$ref"] as? String, let named = schemas[String(ref.split(separator: "/").last!)] as? [String: Any] { schema = named }
        let types: [String] = (schema["type"] as? String).map { [$0] } ?? (schema["type"] as? [Any])?.map { "\($0)" } ?? []
        let actual: String
        switch value {
        case .null: actual = "null"
        case .bool: actual = "boolean"
        case .number(let n): actual = n == n.rounded() ? "integer" : "number"
        case .string: actual = "string"
        case .array: actual = "array"
        case .object: actual = "object"
        }
        if !types.isEmpty {
            let ok = types.contains(actual) || (actual == "integer" && types.contains("number"))
            #expect(ok, "\(path): \(actual), documented \(types)")
        }
        switch value {
        case .object(let fields):
            for key in schema["required"] as? [String] ?? [] { #expect(fields[key] != nil, "\(path).\(key): required, missing") }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, item) in fields {
                if let property = properties[key] as? [String: Any] {
                    check(item, property, schemas, path: "\(path).\(key)")
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    check(item, additional, schemas, path: "\(path).\(key)")
                }
            }
        case .array(let items):
            if let itemSchema = schema["items"] as? [String: Any] {
                for (i, item) in items.enumerated() { check(item, itemSchema, schemas, path: "\(path)[\(i)]") }
            }
        default: break
        }
    }

    func append(_ view: inout StrategyView, _ log: String, _ type: String, _ object: [String: Any]) throws {
        try view.apply(ViewEntry(log: log, index: view.logs[log]?.size ?? 0, timeMillis: 0, type: type, payload: payload(object)))
    }

    /// The federation's plans with readings, statuses, evidence, a withdrawal, an aggregate and
    /// one stored aggregate of the wrong shape.
    func queries() throws -> ViewQueries {
        var view = try StrategyViewTests.federationView()
        try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2025-Q1", "value": 2])
        try append(&view, "england", "progress.reading", ["measure": "P2.A2.M1", "period": "2025-Q1", "value": 3])
        try append(&view, "scotland", "progress.reading", ["measure": "P2.A2.M1", "period": "2025", "value": 3.5])
        try append(&view, "wales", "progress.reading", ["measure": "P2.A4.M1", "period": "2025-Q1", "value": 2, "note": "Cardiff / \"Swansea\""])
        try append(&view, "wales", "progress.status", ["action": "P2.A4", "status": "on-track", "as_of": "2025-03-31", "note": "<b>ok</b>"])
        try append(&view, "wales", "progress.evidence", ["action": "P2.A4", "kind": "report", "title": "Board paper", "link": "https://example.org/a"])
        try append(&view, "england", "plan.action.withdrawn", ["id": "P1.A1", "reason": "merged", "as_of": "2025-04-01"])
        let aggregate: [String: Any] = [
            "label": "workforce.headcount", "agreement": "HEIW-2024", "dataset": "headcount", "period": "2025", "min_cell_size": 10,
            "method": ["min_cell_size": 10, "rounding": 5, "totals": "sums of published cells"],
            "rows": ["name": "board", "labels": ["Cardiff", "Swansea"]], "columns": ["name": "band", "labels": ["6", "7"]],
            "cells": [[15, NSNull()], [20, 25]], "row_totals": [15, 45], "column_totals": [35, 25], "grand_total": NSNull(),
            "suppressed": ["cells": 1],
        ]
        try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "dataset.aggregate", payload: payload(aggregate),
                                 isPublic: false, classification: "workforce.headcount"))
        try view.apply(ViewEntry(log: "wales", index: view.logs["wales"]!.size, timeMillis: 0, type: "dataset.aggregate", payload: payload(["label": "x", "cells": "no"]),
                                 isPublic: false, classification: "x"))
        return ViewQueries(view: view, health: ["wales": LogHealth(verified: true, alerts: ["gap: wales/3"])], nowMillis: 1_750_000_000_000,
                           order: ["uk", "wales", "england", "scotland", "northern-ireland"])
    }

    @Test func everyAnswerHasTheDocumentedShape() throws {
        let (schemas, paths) = try Self.document()
        let q = try queries()
        let answers: [(String, Data)] = [
            ("/v1/view", try Self.encode(q.whole(node: "uk", generatedAt: ViewQueries.iso(q.nowMillis)))),
            ("/v1/view/totals", try Self.encode(ViewTotals(node: "uk", totals: q.totalsList()))),
            ("/v1/view/aggregates", try Self.encode(ViewAggregates(node: "uk", aggregates: q.aggregatesList()))),
            ("/v1/view/priorities/{id}", try Self.encode(try #require(q.priority("P2")))),
            ("/v1/view/nations/{nation}", try Self.encode(try q.nation("wales"))),
            ("/v1/view/measures/{id}", try Self.encode(try q.measure("P2.A2.M1", period: "2025"))),
            ("/v1/view/measures/{id}", try Self.encode(try q.measure("P2.A6.M1", period: nil))),
        ]
        for (path, data) in answers {
            Self.check(try JSONDecoder().decode(JSONValue.self, from: data), try Self.responseSchema(paths, path), schemas, path: path)
        }
    }

    @Test func nullsWhereDocumentedAndOptionalKeysAbsent() throws {
        let q = try queries()
        func object(_ value: some Encodable) throws -> [String: JSONValue] {
            guard case .object(let fields) = try JSONDecoder().decode(JSONValue.self, from: try Self.encode(value)) else { return [:] }
            return fields
        }
        // No checkpoint: null; nothing unreadable: no samples.
        let uk = try object(q.logSummary("uk"))
        #expect(uk["checkpoint"] == .null)
        #expect(uk["unreadable_samples"] == nil)
        // An action without a status: status null, no as_of or note; with one: all three.
        let p1 = try #require(q.priority("P1"))
        let unreported = try object(try #require(p1.actions.first { $0.log == "uk" }))
        #expect(unreported["status"] == .null && unreported["as_of"] == nil && unreported["note"] == nil)
        let wales = try q.nation("wales")
        let reported = try object(try #require(wales.actions.first { $0.id == "P2.A4" }))
        #expect(reported["status"] == .string("on-track") && reported["note"] == .string("<b>ok</b>"))
        #expect(reported["evidence_items"] != nil)
        let withdrawn = try object(try #require(q.nation("england").actions.first { $0.id == "P1.A1" }))
        #expect(withdrawn["withdrawn"] == .object(["reason": .string("merged"), "as_of": .string("2025-04-01")]))
        // A UK action nobody reported on: status null.
        #expect(try object(try #require(p1.ukActions.first)).keys.contains("status"))
        // Totals: a yearly total of a measure with a target carries target and progress, a
        // quarter neither.
        let totals = q.totalsList()
        let year = try object(try #require(totals.first { $0.figure == "total:P2.A2.M1:2025" }))
        #expect(year["target"] != nil && year["progress"] != nil)
        let quarter = try object(try #require(totals.first { $0.figure == "total:P2.A2.M1:2025-Q1" }))
        #expect(quarter["target"] == nil && quarter["progress"] == nil)
        var zeroTarget = try #require(totals.first { $0.figure == "total:P2.A2.M1:2025" })
        zeroTarget.progress = nil
        #expect(try object(zeroTarget)["progress"] == .null, "a target of 0: progress is null")
        // The measure answer: period null when none was asked for.
        #expect(try object(try q.measure("P2.A2.M1", period: nil))["period"] == .null)
        #expect(try object(try q.measure("P2.A2.M1", period: "2025"))["period"] == .string("2025"))
        // A reading's replaced count only when it replaced one.
        let england = try #require(try q.measure("P2.A2.M1", period: nil).series.first { $0.log == "england" })
        #expect(england.readings?.first?.replaced == 1)
        // Aggregates: suppressed cells and the grand total are null; the malformed one is left out.
        let aggregates = q.aggregatesList()
        #expect(aggregates.count == 1)
        let aggregate = try object(try #require(aggregates.first))
        #expect(aggregate["grand_total"] == .null)
        #expect(aggregate["cells"] == .array([.array([.number(15), .null]), .array([.number(20), .number(25)])]))
        #expect(aggregate["figure"] == .string("aggregate:wales:\(aggregates[0].index)"))
    }

    /// The list and the figure's provenance ask whether each aggregate is published with the
    /// agreement its payload names and its entry's time; one that is not is in neither.
    @Test func anUnpublishedAggregateIsNeitherListedNorAFigure() throws {
        var q = try queries()
        let index = try #require(q.aggregatesList().first).index
        let asked = Mutex<[String]>([])
        q.published = { log, label, _, held in
            asked.withLock { $0.append("\(log) \(label) \(held.agreement ?? "-") \(held.recorded)") }
            return false
        }
        #expect(q.aggregatesList().isEmpty)
        #expect(throws: PlanError.self) { try q.provenance("aggregate:wales:\(index)") }
        #expect(asked.withLock { $0 }.contains("wales workforce.headcount HEIW-2024 0"))
        q.published = { _, _, _, held in held.agreement == "HEIW-2024" }
        #expect(q.aggregatesList().count == 1)
        #expect(try q.provenance("aggregate:wales:\(index)") == [EntryRef(log: "wales", index: index)])
    }

    @Test func answersDecodeBackToThemselves() throws {
        let q = try queries()
        func roundTrip<T: Codable & Equatable>(_ value: T) throws {
            let bytes = try Self.encode(value)
            let back = try JSONDecoder().decode(T.self, from: bytes)
            #expect(back == value, "\(T.self)")
            #expect(try Self.encode(back) == bytes, "\(T.self): re-encoded bytes differ")
        }
        try roundTrip(q.whole(node: "uk", generatedAt: ViewQueries.iso(q.nowMillis)))
        try roundTrip(try #require(q.priority("P2")))
        try roundTrip(try q.nation("wales"))
        try roundTrip(try q.nation("england"))
        try roundTrip(try q.measure("P2.A2.M1", period: nil))
        try roundTrip(try q.measure("P2.A6.M1", period: "2025"))
        try roundTrip(ViewTotals(node: "uk", totals: q.totalsList()))
        try roundTrip(ViewAggregates(node: "uk", aggregates: q.aggregatesList()))
    }

    @Test func aRenamedFieldIsAMissingKeyNotASilentDefault() throws {
        // What the dashboard showed as "not verified" when a key was renamed: now a decoding error.
        let summary = ViewLogSummary(log: "wales", name: "Wales", entries: 3, stubs: 0, unreadable: 0, actions: 1, measures: 1,
                                     verified: true, alerts: [], checkpoint: nil, unreadableSamples: nil)
        let text = String(decoding: try Self.encode(summary), as: UTF8.self).replacingOccurrences(of: "\"verified\"", with: "\"is_verified\"")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ViewLogSummary.self, from: Data(text.utf8)) }
    }
}
