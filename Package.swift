// swift-tools-version:6.1
import PackageDescription

/// Quartet: a federation of signed ledger daemons for the UK occupational therapy
/// workforce strategy. See docs/architecture.md for what each module may import.
let package = Package(
    name: "Quartet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "quartet", targets: ["quartet"]),
        .library(name: "QuartetCrypto", targets: ["QuartetCrypto"]),
        .library(name: "QuartetLedger", targets: ["QuartetLedger"]),
        .library(name: "QuartetReplication", targets: ["QuartetReplication"]),
        .library(name: "QuartetPlan", targets: ["QuartetPlan"]),
        .library(name: "QuartetAPI", targets: ["QuartetAPI"]),
        .library(name: "QuartetPolicy", targets: ["QuartetPolicy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.20.0"),
        // Hummingbird's default traits pull in swift-configuration; Quartet reads its own files.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // The system OpenSSL 3 (Debian libssl-dev), plus shim.h for the macros Swift cannot import.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // Ed25519, SHA-256 and randomness over the system OpenSSL.
        .target(
            name: "QuartetCrypto",
            dependencies: ["COpenSSL"]
        ),
        // Entries, RFC 9162 Merkle trees, proofs, C2SP signed checkpoints. Pure: no IO.
        .target(
            name: "QuartetLedger",
            dependencies: ["QuartetCrypto"]
        ),
        // The replication protocol: wire codec and state machine. Pure: no IO.
        .target(
            name: "QuartetReplication",
            dependencies: ["QuartetLedger", "QuartetCrypto"]
        ),
        // The API's contract: Codable request and response types shared by the node, APIClient,
        // the CLI and the dashboard. Pure: Foundation only.
        .target(name: "QuartetAPI"),
        // The action-plan domain: entry types and their validation, plan import, the combined
        // strategy view and its queries. Pure: no IO beyond reading a plan file.
        .target(
            name: "QuartetPlan",
            dependencies: ["QuartetAPI", "QuartetCrypto", .product(name: "Yams", package: "Yams")]
        ),
        // Data-sharing agreements: owner-countersigned agreements, their evaluation, small-cell
        // suppression. Pure.
        .target(
            name: "QuartetPolicy",
            dependencies: ["QuartetLedger", "QuartetCrypto"]
        ),
        // SQLite persistence (GRDB), the data directory, group commit.
        .target(
            name: "QuartetStore",
            dependencies: [
                "QuartetLedger",
                "QuartetCrypto",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // TLS 1.3 through the system OpenSSL for SwiftNIO channels. Knows nothing of ledgers.
        .target(
            name: "QuartetTLS",
            dependencies: [
                "COpenSSL",
                "QuartetCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The daemon: configuration, the peer listener, the HTTPS API (Hummingbird 2 over
        // QuartetTLS), services and signals.
        .target(
            name: "QuartetNode",
            dependencies: [
                "QuartetAPI",
                "QuartetPlan",
                "QuartetPolicy",
                "QuartetReplication",
                "QuartetStore",
                "QuartetLedger",
                "QuartetCrypto",
                "QuartetTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        // The federation harness: typed configuration files, the demo's layout, child processes
        // (start, wait until ready, stop) and the lifeline that ends them with their
        // supervisor. Foundation only: no NIO, GRDB or Hummingbird.
        .target(name: "QuartetHarness", dependencies: ["CQuartetHarness"]),
        // glibc's GNU extensions the harness needs (pipe2, posix_spawn closefrom and setsid).
        .target(name: "CQuartetHarness"),
        // The `quartet` command-line tool.
        .executableTarget(
            name: "quartet",
            dependencies: [
                "QuartetAPI",
                "QuartetHarness",
                "QuartetPlan",
                "QuartetPolicy",
                "QuartetNode",
                "QuartetTLS",
                "QuartetStore",
                "QuartetLedger",
                "QuartetCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // Test fixtures shared by the test targets (never a product).
        .target(
            name: "QuartetTestKit",
            dependencies: ["QuartetLedger", "QuartetCrypto", "QuartetStore", "QuartetNode", "QuartetHarness", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(name: "QuartetPlanTests", dependencies: ["QuartetPlan", "QuartetAPI", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "QuartetPolicyTests", dependencies: ["QuartetPolicy", "QuartetLedger", "QuartetCrypto"]),
        .testTarget(name: "QuartetCryptoTests", dependencies: ["QuartetCrypto", "QuartetTestKit"]),
        .testTarget(name: "QuartetLedgerTests", dependencies: ["QuartetLedger", "QuartetTestKit"]),
        .testTarget(name: "QuartetReplicationTests", dependencies: ["QuartetReplication", "QuartetLedger", "QuartetCrypto", "QuartetPolicy"]),
        .testTarget(name: "QuartetStoreTests", dependencies: ["QuartetStore", "QuartetTestKit"]),
        .testTarget(name: "QuartetCLITests", dependencies: ["QuartetTestKit", "QuartetHarness", "QuartetCrypto"]),
        // The `quartet` executable's own parts (its JSON log format, sd_notify), imported with
        // @testable.
        .testTarget(name: "QuartetCommandTests", dependencies: ["quartet", "QuartetTestKit", "QuartetNode", "QuartetStore", "QuartetLedger", "QuartetCrypto", "QuartetTLS",
                                                         .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(name: "QuartetHarnessTests", dependencies: ["QuartetHarness", "QuartetNode", "QuartetTestKit", "QuartetLedger", "QuartetCrypto"]),
        // Multi-node runs: real `quartet serve` processes on loopback.
        .testTarget(name: "FederationTests", dependencies: [
            "QuartetTestKit", "QuartetHarness", "QuartetTLS", "QuartetReplication", "QuartetLedger", "QuartetStore", "QuartetCrypto",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .testTarget(name: "QuartetNodeTests", dependencies: [
            "QuartetNode", "QuartetAPI", "QuartetTestKit", "QuartetReplication", "QuartetCrypto", "QuartetLedger", "QuartetPlan",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Mustache", package: "swift-mustache"),
        ]),
        .testTarget(name: "QuartetTLSTests", dependencies: [
            "QuartetTLS", "QuartetCrypto", "QuartetTestKit",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
