import Foundation
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetPlan
import QuartetStore

/// The operator's forms (docs/web.md): record a status update, a reading or evidence in the
/// browser. Only the operator of this node's own log reaches them (the operator route group);
/// a form post also needs this node's origin and the form's token (`FormToken`, checked by the
/// access middleware). Entries go through the same admission as the API, so a form shows the
/// API's messages, each next to the field it names; a saved entry shows its receipt.
extension API {
    static let maxFormBody = 16 * 1024

    func addFormRoutes<Context: APIRequestContext>(to routes: Routes<Context>) {
        for kind in WebForm.Kind.allCases {
            routes.get("/record/\(kind.rawValue)", .operator) { _, _, who -> Response in
                formPage(kind, who: who, values: [:], error: nil, receipt: nil)
            }
            routes.post("/record/\(kind.rawValue)", .operator) { request, _, who -> Response in
                let body = try await request.body.collect(upTo: Self.maxFormBody)
                let values = WebForm.decode(String(buffer: body))
                let payload: JSONValue
                do { payload = try WebForm.payload(kind, values, measures: ownMeasureKinds()) } catch let error as WebForm.FieldError {
                    return formPage(kind, who: who, values: values, error: error, receipt: nil, status: .badRequest)
                }
                do {
                    let receipt = try await admit([("", .object(["type": .string(kind.entryType.rawValue), "payload": payload]))], author: who.author)[0]
                    // Where the new entry shows at the aggregator (a reading: its measure's page).
                    let aggregator = federation.members.first { $0.role == .aggregator }?.api
                    let measure = (values["measure"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                    let href = aggregator.map { "\($0)" + (kind == .reading ? WebPage.measureHref(measure) : WebPage.nationHref(ownLog)) }
                    return formPage(kind, who: who, values: [:], error: nil, receipt: (receipt, href), status: .created)
                } catch let error as HTTPError where error.status == .badRequest || error.status == .serviceUnavailable {
                    // The API's message; a 503 (the node taking its own log back) says when to retry.
                    return formPage(kind, who: who, values: values, error: WebForm.FieldError(message: error.body ?? "refused"), receipt: nil, status: error.status)
                }
            }
        }
    }

    /// The kinds of this node's own measures, by id (a reading's value field depends on it).
    func ownMeasureKinds() -> [String: MeasureKind] {
        (view.snapshot.logs[ownLog]?.measures ?? [:]).mapValues(\.payload.kind)
    }

    func formPage(_ kind: WebForm.Kind, who: Caller, values: [String: String], error: WebForm.FieldError?, receipt: (AppendReceipt, href: String?)?,
                  status: HTTPResponse.Status = .ok) -> Response {
        let own = view.snapshot.logs[ownLog]
        let actions = (own?.actions.values.sorted { ViewQueries.idOrder($0.payload.id, $1.payload.id) } ?? []).filter { $0.withdrawn == nil }
        let measures = (own?.measures.values.sorted { ViewQueries.idOrder($0.payload.id, $1.payload.id) } ?? []).filter { $0.payload.kind != .distribution }
        let body = WebForm.Body(kind: kind, values: values, error: error, token: FormToken.token(for: who.author),
                                actions: actions.map { ($0.payload.id, $0.payload.title) }, measures: measures.map { ($0.payload.id, $0.payload.text, $0.payload.kind) },
                                receipt: receipt.map { r, href in
                                    WebForm.Receipt(index: String(r.index), checkpoint: "size \(r.checkpoint.checkpoint.size), root \(r.checkpoint.checkpoint.root.base64)",
                                                    entry: "\(r.log)/\(r.index)", aggregatorHref: href)
                                })
        let name = ViewQueries.displayName(ownLog)
        let html = WebPage.Frame(node: node, viewer: who.identity.uri).render(
            "form", title: "\(name): record \(kind.noun)", crumbs: [WebPage.home, WebPage.Crumb(name: name, href: WebPage.nationHref(ownLog)), WebPage.Crumb(name: "Record \(kind.noun)")],
            script: false, body: body)
        return WebPage.response(html, status: status)
    }
}
