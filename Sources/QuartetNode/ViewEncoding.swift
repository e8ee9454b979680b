import Foundation
import Hummingbird
import NIOCore
import QuartetAPI
import QuartetPlan

/// The `/v1/view` answers' JSON: QuartetAPI's typed values through `JSONEncoder`, keys sorted
/// and slashes unescaped — the form the earlier dictionary writer gave, so the bytes on the
/// wire did not change. docs/architecture.md gives the encoder's cost on the whole view.
enum ViewEncoding {
    static func data<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every value here is finite (the fold takes only the append's ranges) and every key a
        // string; should a value not be, it is written as a string rather than stop the process
        // at every request for the view (a UK total of 1e308 + 1e308 once did).
        if let data = try? encoder.encode(value) { return data }
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return (try? encoder.encode(value)) ?? Data(#"{"error":"the view could not be written as JSON"}"#.utf8)
    }

    /// A 200 answer of `value` as JSON, with the trailing newline the API's answers carry.
    static func response<T: Encodable>(_ value: T) -> Response {
        response(bytes: body(value))
    }

    /// `value` as JSON with the trailing newline: an answer's body.
    static func body<T: Encodable>(_ value: T) -> Data {
        var data = data(value)
        data.append(UInt8(ascii: "\n"))
        return data
    }

    static func response(bytes: Data) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(data: bytes)))
    }
}

/// A figure's provenance as the node serves it. The entries and proofs are the shapes of
/// `GET /v1/logs/{log}/entries` and `.../proof` (docs/openapi.yaml `Entry`, `InclusionProof`),
/// carried as JSON values until the logs side's typed `Entry` and `InclusionProof` replace
/// them here.
public typealias ViewProvenance = FigureProvenance<EntryBody, InclusionProofBody>
