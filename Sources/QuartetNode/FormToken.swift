import Foundation
import Hummingbird
import QuartetCrypto
import QuartetLedger

/// The anti-forgery token of the web interface's forms (docs/web.md). A browser sends cookies
/// and client certificates to this node whoever made the page, so a form post is admitted only
/// with an `Origin` naming this very host and port and a `csrf` query parameter that this node
/// derived for the same caller: SHA-256 of a secret made when the process starts and the
/// caller's author string (role and credential), 128 bits in hex. A page on another site can
/// neither read the token nor compute it; a restart makes old forms fail with a clear message.
enum FormToken {
    private static let secret: [UInt8] = (try? SecureRandom.bytes(count: 32)) ?? {
        preconditionFailure("OpenSSL's random generator cannot be seeded")
    }()

    static func token(for author: String) -> String {
        Hex.encode(Array(SHA256.hash(secret + Array("quartet form\n".utf8) + Array(author.utf8)).prefix(16)))
    }

    /// Whether `request` is a form post (the body is not JSON, so no preflight protected it).
    static func isForm(_ request: Request) -> Bool {
        let type = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        return type == "application/x-www-form-urlencoded" || type == "multipart/form-data" || type == "text/plain"
    }

    /// Refuses a form post without this node's origin or with a token not made for `author`.
    static func check(_ request: Request, author: String) throws {
        guard let origin = request.headers[.origin], let host = request.head.authority, origin == "https://\(host)" else {
            throw HTTPError(.forbidden, message: "a form must be posted from this node's own pages (Origin https://<this host:port>)")
        }
        guard let given = request.uri.queryParameters.get("csrf").map({ Array(String($0).utf8) }) else {
            throw HTTPError(.forbidden, message: "the form has no anti-forgery token; reload the page and submit it again")
        }
        let expected = Array(token(for: author).utf8)
        var difference = UInt8(given.count == expected.count ? 0 : 1)
        for (a, b) in zip(given, expected) { difference |= a ^ b }
        guard difference == 0 else {
            throw HTTPError(.forbidden, message: "the form's anti-forgery token was not made for this credential (the node may have restarted, or the page was opened signed in as someone else); reload the page and submit it again")
        }
    }
}
