/// The API's contract: one set of `Codable` request and response types, used by the node that
/// serves them, by `APIClient` and the CLI that read them, and by the dashboard that renders
/// them. The JSON on the wire is the one docs/openapi.yaml documents; a field renamed here
/// fails to compile wherever it is read, instead of reading as missing.
///
/// Pure: Foundation only. No NIO, GRDB or Hummingbird.
///
/// Files by area: `Errors.swift` (refusals), `Logs*.swift` (logs, entries, checkpoints, proofs,
/// health, appends), `Agreements*.swift` (agreements, audit), `View*.swift` (the combined view).

/// The body of every refusal: `{"error": {"status", "message"}, "request_id"}`.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public struct Detail: Codable, Sendable, Equatable {
        public var status: Int
        public var message: String
        public init(status: Int, message: String) {
            self.status = status
            self.message = message
        }
    }

    public var error: Detail
    public var requestID: String

    public init(status: Int, message: String, requestID: String) {
        self.error = Detail(status: status, message: message)
        self.requestID = requestID
    }

    enum CodingKeys: String, CodingKey {
        case error
        case requestID = "request_id"
    }
}
