import Foundation
import QuartetLedger
import QuartetStore
import QuartetTestKit
import Testing
import Yams

/// docs/openapi.yaml is kept true: every documented route is called on a running node with real
/// data, and must answer with a status the document lists for it (a success for a well-formed
/// request by someone allowed), with the documented content type.
@Suite(.serialized) struct OpenAPITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func everyDocumentedRouteAnswersAsDocumented() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let paths = try #require(document["paths"] as? [String: [String: Any]])

        let federation = try LocalFederation()
        try federation.start(["uk"], onlyCopy: true)
        defer { federation.stop() }
        let operatorToken = federation.path("uk", "operator_token")
        let readerToken = (federation.demo["reader"] as! [String: Any])["token"] as! String
        let plans = Self.root.appendingPathComponent("config/plans").path
        let imported = try TestKit.quartet(["import", "plan", "\(plans)/uk-plan.yaml", "--config", federation.config("uk"), "--token", operatorToken])
        #expect(imported.status == 0, "\(imported)")
        let api = federation.api("uk")
        // An agreement at uk (HCPC's, UK-wide), countersigned with the demo's HCPC key.
        let note = try federation.signAgreement(id: "HCPC-2024", owner: "HCPC", holder: "uk", label: "hcpc.register.occupational-therapists",
                                                recipients: ["wales=aggregate"])
        let established = try federation.establishAgreement(note, at: "uk")
        #expect(established.status == 0, "\(established)")

        // A concrete, valid request for each documented route.
        let substitutions = ["{log}": "uk", "{id}": "P1", "{nation}": "uk"]
        let specific: [String: String] = [
            "/v1/view/measures/{id}": "/v1/view/measures/P2.A2.M1?period=2025",
            "/v1/view/figures/{id}/provenance": "/v1/view/figures/priority:P1/provenance",
            "/v1/logs/{log}/proofs/inclusion": "/v1/logs/uk/proofs/inclusion?index=0",
            "/v1/logs/{log}/proofs/consistency": "/v1/logs/uk/proofs/consistency?from=1",
            "/login": "/login?token=\(readerToken)",
            "/v1/agreements/{id}": "/v1/agreements/HCPC-2024",
            "/v1/agreements/{id}/disclosures": "/v1/agreements/HCPC-2024/disclosures",
        ]
        let bodies: [String: String] = [
            "POST /v1/logs/{log}/entries": #"{"entries":[{"type":"progress.status","payload":{"action":"P1.A1","status":"on-track","as_of":"2025-03-31"}}]}"#,
            "POST /v1/record/status": #"{"action":"P1.A2","status":"at-risk","as_of":"2025-06-30","note":"n"}"#,
            "POST /v1/record/reading": #"{"measure":"P2.A2.M1","period":"2025","value":3}"#,
            "POST /v1/record/evidence": #"{"action":"P1.A3","kind":"report","title":"t","link":"https://example.org/r"}"#,
            "POST /login": "token=\(readerToken)",
            "POST /logout": "",
            // wales's empty log, signed with its key (wales does not run): uk's witness cosigns it.
            "POST /witness/add-checkpoint": "old 0\n\n" + (try NoteSigner(name: "quartet.ot-workforce.uk/wales", key: DataDirectory(path: federation.path("wales", "data")).readSigningKey(log: "wales"))
                .sign(Checkpoint(origin: "quartet.ot-workforce.uk/wales", size: 0, root: .emptyTree, timeMillis: UInt64(Date().timeIntervalSince1970 * 1000)))).serialized,
        ]
        var exercised = 0
        for (template, operations) in paths.sorted(by: { $0.key < $1.key }) {
            for (method, spec) in operations where ["get", "post"].contains(method) {
                let operation = try #require(spec as? [String: Any])
                let responses = try #require(operation["responses"] as? [String: Any])
                var path = specific[template] ?? template
                for (k, v) in substitutions { path = path.replacingOccurrences(of: k, with: v) }
                var arguments = ["-H", "authorization: Bearer \(operatorToken)", "-D", "-"]
                if method == "post", let body = bodies["POST \(template)"] {
                    let contentType = template == "/login" ? "application/x-www-form-urlencoded" : template.hasPrefix("/witness/") ? "text/plain" : "application/json"
                    arguments += ["-H", "content-type: \(contentType)", "--data-binary", body]
                }
                let (output, status) = try federation.curl(arguments + ["\(api)\(path)"])
                exercised += 1
                // Only uk runs here: /readyz says "not ready" (503), connected to no other member.
                #expect((200..<400).contains(status) || (template == "/readyz" && status == 503), "\(method.uppercased()) \(path): \(status) \(output.suffix(300))")
                #expect(responses["\(status)"] != nil, "\(method.uppercased()) \(template) answered \(status), which the document does not list")
                // The content type is one the document gives for that status.
                if let response = responses["\(status)"] as? [String: Any], let content = response["content"] as? [String: Any] {
                    let header = output.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-type:") }.map { String($0.dropFirst(13)).trimmingCharacters(in: .whitespaces) } ?? ""
                    #expect(content.keys.contains { header.hasPrefix($0) }, "\(template): content-type \(header), documented \(content.keys.sorted())")
                }
                // Without credentials only /healthz and the sign-in answer.
                let anonymous = try federation.curl(["\(api)\(path)"] + (method == "post" ? ["-d", "{}"] : []))
                if operation["security"] as? [Any] == nil || !(operation["security"] as! [Any]).isEmpty {
                    #expect(anonymous.status == 401, "\(method.uppercased()) \(path) without credentials: \(anonymous.status)")
                    #expect(responses["401"] != nil, "\(template) does not document its 401")
                }
            }
        }
        #expect(exercised == 31, "documented operations exercised: \(exercised)")
    }
}
