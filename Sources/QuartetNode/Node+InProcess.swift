import Foundation
import Hummingbird
import NIOConcurrencyHelpers
import Logging
import NIOCore
import NIOPosix
import QuartetCrypto
import QuartetLedger
import QuartetPolicy
import QuartetStore
import QuartetTLS
import ServiceLifecycle

/// What a caller running the node in its own process uses (tests, benchmarks): its peers,
/// appends, the view's sizes, pages rendered without their cache.
extension Node {
    /// The peers this node is connected to (greeted), by id.
    public var connectedPeers: [String] { engine.peers().filter(\.connected).map(\.id) }

    /// Appends to the node's own log as the API does; returns once durable.
    public func append(_ request: AppendRequest) async throws -> AppendReceipt {
        try await writer.append(request)
    }

    /// Appends several entries in order (one group commit when they fit); returns once durable.
    public func append(contentsOf requests: [AppendRequest]) async throws -> [AppendReceipt] {
        try await writer.append(contentsOf: requests)
    }

    /// Log sizes as this node's view has folded them.
    public var viewSizes: [String: UInt64] { view.foldedSizes }

    /// The overview rendered for a reader without its cache: what the first request after the
    /// view changes costs (`bench view`). Returns the page's size.
    public func renderOverviewUncached() -> Int {
        let api = api()
        let q = view.queries(view.snapshot, health: api.health(), now: wallClockMillis())
        return api.overview(q, caller: Self.benchReader, alerts: engine.alertSnapshot().list).html().utf8.count
    }

    /// Measure `id`'s page (its latest year) rendered for a reader without its cache.
    public func renderMeasurePageUncached(_ id: String) throws -> Int {
        let q = view.queries(view.snapshot, health: [:], now: wallClockMillis())
        let page = try WebPage.measure(id, year: nil, q, store: store)
        return WebPage.Frame(node: configuration.node, viewer: Self.benchReader.identity.uri)
            .render(page.template, title: page.title, crumbs: page.crumbs, script: false, body: page.body).utf8.count
    }

    static let benchReader = Caller(identity: .reader("bench"), author: "reader-bench", viaCookie: false)
}
