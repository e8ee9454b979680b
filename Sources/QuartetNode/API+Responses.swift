import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import QuartetAPI
import QuartetCrypto
import QuartetLedger
import QuartetPlan
import QuartetPolicy
import QuartetStore
import QuartetTLS
import Synchronization

/// Numbers read from a request's query, store errors as 400s, and JSON answers.
extension API {
    static func number(_ request: Request, _ name: String) throws -> UInt64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let value = Self.digits(text) else {
            throw HTTPError(.badRequest, message: "\(name) must be a non-negative integer in decimal digits, got \"\(text.prefix(40))\"\(text.count > 40 ? "…" : "")")
        }
        return value
    }

    /// A number written in decimal digits only (`UInt64.init` would take a sign), within UInt64.
    static func digits(_ text: some StringProtocol) -> UInt64? {
        guard !text.isEmpty, text.utf8.count <= 20, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return UInt64(text)
    }

    static func mapStoreError<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as StoreError where error.code == .outOfRange {
            throw HTTPError(.badRequest, message: error.message)
        }
    }

    /// A typed body (QuartetAPI) as the API's JSON: sorted keys, slashes unescaped, by
    /// `CompactJSONEncoder` (JSONSerialization was 14 % of an append's CPU; docs/architecture.md).
    static func json<Body: Encodable>(_ body: Body, status: HTTPResponse.Status = .ok) -> Response {
        jsonResponse(jsonBytes(body), status: status)
    }

    /// `body` as compact JSON and a newline: an answer's bytes.
    static func jsonBytes<Body: Encodable>(_ body: Body) -> [UInt8] {
        var bytes: [UInt8]
        if let receipt = body as? ReceiptBody {
            // The append path's answer, written without the Encoder machinery (APIContractTests
            // checks it writes what CompactJSONEncoder does).
            bytes = receipt.compactJSON
        } else {
            bytes = (try? CompactJSONEncoder.encode(body)) ?? Array("null".utf8)
        }
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    static func jsonResponse(_ bytes: [UInt8], status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
