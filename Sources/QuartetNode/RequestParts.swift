import Foundation
import Hummingbird
import NIOCore

extension Parameters {
    /// The longest path parameter, in UTF-8 bytes once decoded, a route reads: log names, plan
    /// ids, figure ids, agreement and owner ids are all far shorter.
    static let longestSegment = 512

    /// The path parameter `name`, percent-decoded. A client may encode any character of a
    /// segment (RFC 3986 §2.1: `%77ales` is `wales`; `encodeURIComponent` and clients built from
    /// docs/openapi.yaml encode a figure id's `:`), and this node's own links and CLI encode what
    /// is not unreserved; the router matches the segments as sent, so each route reads its
    /// parameters here, once, decoded after the path was split (`%2F` stays inside its segment).
    /// Refused (400), naming the parameter: a `%` not followed by two hex digits or bytes that are
    /// not UTF-8, a control character (none is in any name or id), more than `longestSegment` bytes.
    func segment(_ name: String) throws -> String {
        let raw = try require(name)
        // Bounded before it is decoded: a segment of `longestSegment` bytes is at most three
        // times as long encoded (the parser takes tens of kilobytes of path).
        guard raw.utf8.count <= 3 * Self.longestSegment else {
            throw HTTPError(.badRequest, message: "path: the \(name) segment is \(raw.utf8.count) bytes as sent; at most \(Self.longestSegment) once decoded")
        }
        guard let decoded = raw.contains("%") ? raw.removingPercentEncoding : raw else {
            throw HTTPError(.badRequest, message: "path: the \(name) segment is not percent-encoded UTF-8")
        }
        guard decoded.utf8.count <= Self.longestSegment else {
            throw HTTPError(.badRequest, message: "path: the \(name) segment is \(decoded.utf8.count) bytes long; at most \(Self.longestSegment)")
        }
        guard !decoded.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw HTTPError(.badRequest, message: "path: the \(name) segment holds a control character")
        }
        return decoded
    }
}

extension Request {
    /// The body whole, at most `limit` bytes (else `NIOTooManyBytesError`, answered 413). A body
    /// whose `Content-Length` says it is longer is refused before any of it is read: a client
    /// declaring 20 MB learned it only after sending 16 MiB, or at the request deadline. A
    /// client that asked to be told before it sends the body (`Expect: 100-continue`) is told
    /// now, once the access check and the route's own checks let it through
    /// (`APIRequestContext.continueBody`).
    func collectBody(upTo limit: Int, context: some APIRequestContext) async throws -> ByteBuffer {
        if let declared = head.headerFields[.contentLength], let length = Int(declared), length > limit {
            throw NIOTooManyBytesError(maxBytes: limit)
        }
        if head.headerFields[.expect] != nil { context.continueBody() }
        let collected = try await body.collect(upTo: limit)
        // Hummingbird reads the end of the connection's input as the body's end: a body the
        // connection's close cut is not taken as a whole one (finding 334).
        if let declared = head.headerFields[.contentLength], let length = Int(declared), collected.readableBytes != length {
            throw HTTPError(.badRequest, message: "the body ended after \(collected.readableBytes) of the \(length) bytes its Content-Length gives")
        }
        return collected
    }
}
