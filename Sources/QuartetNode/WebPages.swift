import Foundation
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetLedger
import QuartetPlan

/// The web interface's reader pages (docs/web.md): UK → priority → action → measure, nation →
/// action, search, and "How do we know?" on every figure, whose page the reader's browser
/// checks itself (`WebScript`). Server-rendered from the same typed answers as the JSON API
/// (`ViewQueries`), every value escaped by the templates; each page has a stable URL.
extension API {
    func addWebRoutes<Context: APIRequestContext>(to routes: Routes<Context>) {
        // The one script: no data in it, so no credentials needed.
        routes.public(.get, "/assets/verify.js") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "text/javascript; charset=utf-8"
            headers[.cacheControl] = "no-cache"
            headers[.init("x-content-type-options")!] = "nosniff"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: WebScript.verify)))
        }
        routes.get("/priorities/{id}", .reader) { _, context, caller -> Response in
            let id = try context.parameters.segment("id")
            // Rendered once per view version (the UK plan's table and every nation's actions
            // under the priority); a priority the view lacks is answered 404, not kept.
            return try await web(caller, cacheKey: "priority|\(id)") { q in try WebPage.priority(id, q) }
        }
        routes.get("/nations/{log}", .reader) { _, context, caller -> Response in
            let log = try context.parameters.segment("log")
            let operatorHere = log == ownLog && caller.identity == .operator(ownLog)
            return try await web(caller) { q in try WebPage.nation(log, q, canRecord: operatorHere) }
        }
        routes.get("/nations/{log}/actions/{id}", .reader) { _, context, caller -> Response in
            let log = try context.parameters.segment("log")
            let id = try context.parameters.segment("id")
            return try await web(caller) { q in try WebPage.action(id, log: log, q, store: store) }
        }
        routes.get("/measures/{id}", .reader) { request, context, caller -> Response in
            let id = try context.parameters.segment("id")
            let year: String? = request.uri.queryParameters.get("year").map { String($0) }
            let log: String? = request.uri.queryParameters.get("log").map { String($0) }
            // Only the default page (the latest year) is cached: any reader may name any of
            // thousands of years, and each would push others out of the shared page cache.
            let key: String? = year == nil ? "measure|\(id)|\(log ?? "")" : nil
            return try await web(caller, cacheKey: key) { q in try WebPage.measure(id, log: log, year: year, q, store: store) }
        }
        routes.get("/figures/{figure}", .reader) { _, context, caller -> Response in
            let figure = try context.parameters.segment("figure")
            return try await web(caller, script: true) { q in
                let refs: [EntryRef]
                do { refs = try q.provenance(figure) } catch let error as PlanError { throw WebPage.NotFound(error.message) }
                let (answer, keys) = try provenanceAndKeys(figure: figure, refs: refs, identity: caller.identity)
                return try WebPage.figure(answer, keys: keys, witnesses: provenanceWitnesses(Set(answer.checkpoints.keys)), q)
            }
        }
        routes.get("/search", .reader) { request, _, caller -> Response in
            // A GET form sends spaces as "+" and a typed "+" as "%2B": the "+"s are read as spaces
            // before the percent-decoding (the query parser decodes first and keeps "+", so a
            // search for "C++" turned into "C  " once "+" was replaced after it).
            let query: String? = request.uri.query.flatMap { WebForm.decode($0)["q"] }
            return try await web(caller) { [view] q in try WebPage.search(query, index: view.searchIndex(q)) }
        }
    }

    /// Renders a page for `caller`; an unknown id is a 404, a bad parameter a 400 (the API's JSON error).
    /// - Parameter cacheKey: for a page that depends only on the view and its parameters (a
    ///   measure's): rendered once per view version and viewer (`ViewMaintainer.page`).
    /// Runs on `reads` (off the event loops, within the caller's and the node's bounds).
    func web(_ caller: Caller, script: Bool = false, cacheKey: String? = nil,
             _ build: @escaping @Sendable (ViewQueries) throws -> (title: String, crumbs: [WebPage.Crumb], template: String, body: Any)) async throws -> Response {
        try await reads.run(caller) { try renderWeb(caller, script: script, cacheKey: cacheKey, build) }
    }

    private func renderWeb(_ caller: Caller, script: Bool, cacheKey: String?,
                           _ build: (ViewQueries) throws -> (title: String, crumbs: [WebPage.Crumb], template: String, body: Any)) throws -> Response {
        let q = queries(withHealth: cacheKey == nil, for: caller)
        let frame = WebPage.Frame(node: node, viewer: caller.identity.uri)
        do {
            func render() throws -> Data {
                let page = try build(q)
                return Data(frame.render(page.template, title: page.title, crumbs: page.crumbs, script: script, body: page.body).utf8)
            }
            let html = try cacheKey.map { key in try view.page("\(key)|\(caller.identity.uri)", version: q.view.version, render: render) } ?? render()
            return WebPage.response(html, status: .ok)
        } catch let missing as WebPage.NotFound {
            throw HTTPError(missing.status, message: missing.message)
        }
    }

    /// Per log, the witness keys of the other members (as the federation file lists them) and
    /// the quorum `quartet policy` writes by default (a majority): what the browser checks the
    /// checkpoint's cosignature lines against; and the log's own node's witness key, whose line
    /// is checked too but not counted.
    func provenanceWitnesses(_ logs: Set<String>) -> [String: WebPage.VerifyData.Witnesses] {
        var out: [String: WebPage.VerifyData.Witnesses] = [:]
        for log in logs {
            let keys = federation.members.filter { $0.log != log }.compactMap { member in
                member.witness.map { WebPage.VerifyData.Witness(member: member.id, vkey: $0.vkey) }
            }
            let own = federation.members.first { $0.log == log }.flatMap { member in
                member.witness.map { WebPage.VerifyData.Witness(member: member.id, vkey: $0.vkey) }
            }
            if !keys.isEmpty { out[log] = .init(quorum: WitnessPolicy.majority(of: keys.count), keys: keys, own: own) }
        }
        return out
    }
}
