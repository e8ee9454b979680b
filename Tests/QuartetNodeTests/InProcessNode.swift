import Foundation
import Hummingbird
import Logging
import QuartetCrypto
@testable import QuartetNode
import QuartetTestKit
import Testing

/// A node built from real files (PKI, data directory, federation, configuration) but not
/// listening: its API is driven in process, straight to its router (`RouterClient`).
struct InProcessNode {
    let files: NodeFiles
    let node: Node
    let logger: Logger

    /// Bearer tokens the node accepts, `token-<name>` for each name.
    static let tokens: [String: FederationIdentity] = [
        "reader": .reader("analyst"), "auditor": .auditor("heiw"), "wales-op": .operator("wales"), "england-op": .operator("england"),
    ]

    /// `extraTokens`: grants beside `tokens` (a token of another form).
    init(entries: Int = 2, foldsView: Bool = true, extraTokens: [TokenGrant] = []) throws {
        files = try NodeFiles(node: "wales", members: ["uk", "england"], entries: entries)
        var configuration = try NodeConfiguration.load(path: files.configPath)
        // No peer runs: the node is the only copy of its log (OwnLogSync would hold appends).
        configuration.onlyCopy = true
        configuration.tokens = Self.tokens.map { TokenGrant(name: $0.key, identity: $0.value, sha256: TokenGrant.digest("token-\($0.key)")) } + extraTokens
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        logger = quiet
        node = try Node(configuration: configuration, logger: quiet, foldsView: foldsView)
    }

    /// Runs `body` with a client of the API in router mode, in `Context`.
    func test<Context: APIRequestContext>(_ context: Context.Type, _ body: @escaping @Sendable (RouterClient, [RouteEntry]) async throws -> Void) async throws {
        let (router, routes) = node.api().router(context)
        try await body(RouterClient(router.buildResponder(), logger: logger), routes)
    }

    func remove() { files.remove() }
}

/// Waits (up to 5 s, polling) until `condition` holds, and fails the test if it never does: a
/// step waits for the state it needs, not for a time.
func eventually(_ condition: () -> Bool, _ comment: @autoclosure () -> String = "") async throws {
    for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    try #require(condition(), "\(comment())")
}
