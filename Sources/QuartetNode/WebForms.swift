import Foundation
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetCrypto
import QuartetPlan
import QuartetStore

/// The operator's forms (docs/web.md): record a status update, a reading or evidence in the
/// browser. Only the operator of this node's own log reaches them (the operator route group);
/// a form post also needs this node's origin and the form's token (`FormToken`, checked by the
/// access middleware). Entries go through the same admission as the API, so a form shows the
/// API's messages, each next to the field it names; a saved entry redirects (303) to its
/// receipt, so reloading it records nothing twice, and each rendering of a form is one
/// submission (`FormSubmissions`), so sending it twice does not either.
extension API {
    /// A form's body, at most: the longest text the validator takes (a qualitative reading's
    /// 8,000 characters) percent-encoded at up to 12 bytes a character, and the other fields.
    static let maxFormBody = 128 * 1024

    func addFormRoutes<Context: APIRequestContext>(to routes: Routes<Context>) {
        for kind in WebForm.Kind.allCases {
            routes.get("/record/\(kind.rawValue)", .operator) { request, _, who -> Response in
                if let saved = request.uri.queryParameters.get("saved") { return try savedPage(kind, who: who, index: String(saved)) }
                return formPage(kind, who: who, values: [:], error: nil, receipt: nil)
            }
            routes.post("/record/\(kind.rawValue)", .operator) { request, context, who -> Response in
                let body: ByteBuffer
                do { body = try await request.collectBody(upTo: Self.maxFormBody, context: context) } catch is NIOTooManyBytesError {
                    // The form again, saying why (not the API's JSON 413 in place of the page).
                    return formPage(kind, who: who, values: [:], error: WebForm.FieldError(message: "the form is larger than \(Self.maxFormBody / 1024) KiB: nothing was saved; shorten the text and send it again"),
                                    receipt: nil, status: .contentTooLarge)
                }
                let values: [String: String]
                do { values = try WebForm.decodeForm(String(buffer: body)) } catch let error as WebForm.FieldError {
                    return formPage(kind, who: who, values: [:], error: error, receipt: nil, status: .badRequest)
                }
                guard let submission = request.uri.queryParameters.get("submission"), FormSubmissions.isWellFormed(submission) else {
                    return formPage(kind, who: who, values: values, error: WebForm.FieldError(message: "the form has no submission id (a page from before an upgrade, or one this node could not make an id for): nothing was saved; send it again from this page"),
                                    receipt: nil, status: .badRequest)
                }
                let payload: JSONValue
                do { payload = try WebForm.payload(kind, values, measures: ownMeasureKinds()) } catch let error as WebForm.FieldError {
                    return formPage(kind, who: who, values: values, error: error, receipt: nil, status: .badRequest)
                }
                // Post, redirect, get: reloading the receipt shows it again, it posts nothing.
                func receipt(_ index: UInt64) -> Response {
                    var headers = HTTPFields()
                    headers[.location] = "/record/\(kind.rawValue)?saved=\(index)"
                    return Response(status: .seeOther, headers: headers)
                }
                // The same submission sent again is answered with its receipt; while another
                // request appends it, this one waits for that one's outcome.
                let id = String(submission)
                let item = JSONValue.object(["type": .string(kind.entryType.rawValue), "payload": payload])
                let digest = SHA256.hash(item.encoded())
                func refused(_ message: String) -> Response {
                    formPage(kind, who: who, values: values, error: WebForm.FieldError(message: message), receipt: nil, status: .conflict)
                }
                switch try await submissions.turn(author: who.slotCredential, id: id, digest: digest, until: .now + .seconds(90)) {
                case .saved(let index):
                    return receipt(index)
                case .pending:
                    return refused("this form is still being saved by an earlier post of it: nothing more was saved; look at the log in a minute before sending it again")
                case .differs(let saved):
                    return refused("this form was sent before with other values"
                                   + (saved.map { " and saved as entry \(ownLog)/\($0)" } ?? ", which are being saved now")
                                   + ": these were not saved. Record them from a new form (a correction, if they replace it)")
                case .unknown:
                    return refused("an earlier post of this form failed where it may have been saved: nothing more was saved; look at the log before recording it again from a new form")
                case .first:
                    break
                }
                do {
                    let saved = try await submissions.finishing(author: who.slotCredential, id: id, save: \.index, appendedNothing: Self.appendedNothing) {
                        try await admit([("", item)], caller: who)[0]
                    }
                    return receipt(saved.index)
                } catch let error as HTTPError where Self.appendedNothing(error) && error.status != .unauthorized {
                    // Refused before anything was signed (the form may be sent again): the API's
                    // message; a 503 (the node taking its own log back) says when to retry.
                    return formPage(kind, who: who, values: values, error: WebForm.FieldError(message: error.body ?? "refused"), receipt: nil, status: error.status)
                }
            }
        }
    }

    /// The receipt of entry `index` of the own log, which must be of `kind`: the entry, the
    /// latest checkpoint (which includes it), and where it shows at the aggregator (a reading:
    /// its measure's page).
    func savedPage(_ kind: WebForm.Kind, who: Caller, index text: String) throws -> Response {
        guard let index = API.digits(text) else { throw HTTPError(.badRequest, message: "saved: expected an entry index, got \"\(text.prefix(40))\"") }
        let log = try store.log(named: ownLog)
        guard let head = try store.latestCheckpoint(log), index < head.checkpoint.size,
              let entry = try store.entries(log, from: index, limit: 1).first, entry.header.type == kind.entryType.rawValue else {
            throw HTTPError(.notFound, message: "entry \(index) of log \(ownLog) is not in the log, or is not \(kind.noun)")
        }
        var target = WebPage.nationHref(ownLog)
        if kind == .reading, let bytes = entry.payload?.bytes, let reading = try? JSONDecoder().decode(ReadingPayload.self, from: Data(bytes)) {
            let own = view.snapshot.logs[ownLog]?.measures[reading.measure]?.payload
            let local = ownLog != view.snapshot.ukLog && own?.uk_measure == nil
            target = WebPage.measureHref(reading.measure, log: local ? ownLog : nil, year: Period(reading.period)?.year)
        }
        let aggregator = federation.members.first { $0.role == .aggregator }?.api
        let receipt = WebForm.Receipt(index: String(index), checkpoint: "size \(head.checkpoint.size), root \(head.checkpoint.root.base64)",
                                      entry: "\(ownLog)/\(index)", aggregatorHref: aggregator.map { "\($0)" + target })
        return formPage(kind, who: who, values: [:], error: nil, receipt: receipt)
    }

    /// The kinds of this node's own measures, by id (a reading's value field depends on it).
    func ownMeasureKinds() -> [String: MeasureKind] {
        (view.snapshot.logs[ownLog]?.measures ?? [:]).mapValues(\.payload.kind)
    }

    func formPage(_ kind: WebForm.Kind, who: Caller, values: [String: String], error: WebForm.FieldError?, receipt: WebForm.Receipt?,
                  status: HTTPResponse.Status = .ok) -> Response {
        let own = view.snapshot.logs[ownLog]
        let actions = (own?.actions.values.sorted { ViewQueries.idOrder($0.payload.id, $1.payload.id) } ?? []).filter { $0.withdrawn == nil }
        let measures = (own?.measures.values.sorted { ViewQueries.idOrder($0.payload.id, $1.payload.id) } ?? []).filter { $0.payload.kind != .distribution }
        // (Without a random source the page's form carries no id, and a post of it is refused
        // saying so: nothing is recorded without one.)
        let submission = (try? FormSubmissions.newID()) ?? ""
        let body = WebForm.Body(kind: kind, values: values, error: error, token: FormToken.token(for: who.author), submission: submission,
                                actions: actions.map { ($0.payload.id, $0.payload.title) }, measures: measures.map { ($0.payload.id, $0.payload.text, $0.payload.kind) },
                                receipt: receipt)
        let name = ViewQueries.displayName(ownLog)
        let html = WebPage.Frame(node: node, viewer: who.identity.uri).render(
            "form", title: "\(name): record \(kind.noun)", crumbs: [WebPage.home, WebPage.Crumb(name: name, href: WebPage.nationHref(ownLog)), WebPage.Crumb(name: "Record \(kind.noun)")],
            script: false, body: body)
        return WebPage.response(html, status: status)
    }
}
