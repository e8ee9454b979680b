import Foundation
import QuartetAPI
import QuartetPlan

/// The `/v1/view` routes as typed calls: each returns QuartetAPI's answer, decoded.
extension APIClient {
    /// A view route answered with an error status: the node's own message (docs/openapi.yaml
    /// `Error`), or the body as text when it is not one.
    public struct ViewRequestError: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var status: Int
        public var message: String
        public var description: String { "GET \(path): \(status): \(message)" }
    }

    /// A view answer that is not the documented shape.
    public struct ViewDecodingError: Error, CustomStringConvertible, Sendable {
        public var path: String
        public var reason: String
        public var description: String { "GET \(path): the answer is not the documented JSON: \(reason)" }
    }

    /// `GET /v1/view`.
    public func view() async throws -> CombinedView { try await decodeView("/v1/view") }

    /// `GET /v1/view/totals`.
    public func viewTotals() async throws -> ViewTotals { try await decodeView("/v1/view/totals") }

    /// `GET /v1/view/aggregates`.
    public func viewAggregates() async throws -> ViewAggregates { try await decodeView("/v1/view/aggregates") }

    /// `GET /v1/view/priorities/{id}`.
    public func viewPriority(_ id: String) async throws -> ViewPriority {
        try await decodeView("/v1/view/priorities/\(Self.pathSegment(id))")
    }

    /// `GET /v1/view/nations/{nation}`.
    public func viewNation(_ nation: String) async throws -> NationView {
        try await decodeView("/v1/view/nations/\(Self.pathSegment(nation))")
    }

    /// `GET /v1/view/measures/{id}?period=`.
    public func viewMeasure(_ id: String, period: String? = nil) async throws -> MeasureView {
        try await decodeView(Self.viewPath(measure: id, period: period))
    }

    /// `GET /v1/view/figures/{id}/provenance`.
    public func viewProvenance(figure: String) async throws -> ViewProvenance {
        try await decodeView(Self.provenancePath(figure))
    }

    /// The same answer's bytes, as the node sent them (`quartet verify-figure` reads them strictly).
    public func viewProvenanceBody(figure: String) async throws -> Data {
        try await viewBody(Self.provenancePath(figure))
    }

    static func provenancePath(_ figure: String) -> String { "/v1/view/figures/\(pathSegment(figure))/provenance" }

    /// The CSV form of a view route (`?format=csv`, with `table` when given).
    public func viewCSV(_ path: String, table: String? = nil) async throws -> Data {
        var query = [URLQueryItem(name: "format", value: "csv")]
        if let table { query.append(URLQueryItem(name: "table", value: table)) }
        let separator = path.contains("?") ? "&" : "?"
        let full = path + separator + query.map { "\($0.name)=\(Self.queryValue($0.value ?? ""))" }.joined(separator: "&")
        return try await viewBody(full)
    }

    public static func viewPath(measure id: String, period: String?) -> String {
        "/v1/view/measures/\(pathSegment(id))" + (period.map { "?period=\(queryValue($0))" } ?? "")
    }

    /// GETs `path` and decodes its JSON as `T`.
    func decodeView<T: Decodable>(_ path: String) async throws -> T {
        let body = try await viewBody(path)
        do { return try JSONDecoder().decode(T.self, from: body) } catch {
            throw ViewDecodingError(path: path, reason: "\(error)")
        }
    }

    func viewBody(_ path: String) async throws -> Data {
        let (status, body) = try await get(path)
        guard (200..<300).contains(status) else {
            let message = (try? JSONDecoder().decode(APIErrorBody.self, from: body))?.error.message ?? String(decoding: body.prefix(2000), as: UTF8.self)
            throw ViewRequestError(path: path, status: status, message: message)
        }
        return body
    }

    /// One path segment, percent-encoded (a `/`, `?` or `#` in an id stays inside it).
    static func pathSegment(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func queryValue(_ text: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
