// swift-tools-version:6.1
import PackageDescription

/// libFuzzer targets for Quartet's pure parsers (docs/fuzzing.md). Not part of the root build or
/// CI: build and run them with scripts/fuzz.sh, which passes `--sanitize=fuzzer --sanitize=address`
/// and `-enable-testing` (the FlatJSON target reaches an internal type).
///
/// Each target is an executable with no main of its own: the harness is its
/// `@_cdecl("LLVMFuzzerTestOneInput")` function and libFuzzer supplies main (with
/// `--sanitize=fuzzer`, SwiftPM compiles executable targets with `-parse-as-library` and links
/// libFuzzer's main).
let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
    ("FuzzWire", [.product(name: "QuartetReplication", package: "Quartet"), "FuzzFixtures"]),
    ("FuzzJSONValidator", [.product(name: "QuartetLedger", package: "Quartet")]),
    ("FuzzFlatJSON", [.product(name: "QuartetPlan", package: "Quartet")]),
    ("FuzzSignedNote", [.product(name: "QuartetLedger", package: "Quartet"), "FuzzFixtures"]),
    ("FuzzAgreement", [.product(name: "QuartetPolicy", package: "Quartet")]),
    ("FuzzPlanPayload", [.product(name: "QuartetPlan", package: "Quartet")]),
    ("FuzzSuppression", [.product(name: "QuartetPolicy", package: "Quartet")]),
    ("FuzzEntryHeader", [.product(name: "QuartetLedger", package: "Quartet")]),
]

let package = Package(
    name: "QuartetFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Quartet", path: ".."),
    ],
    targets: [
        // Failure reporting and the switch for known bugs.
        .target(name: "FuzzSupport"),
        // The signing key of docs/formats.md section 8.
        .target(name: "FuzzFixtures", dependencies: [
            .product(name: "QuartetLedger", package: "Quartet"),
            .product(name: "QuartetCrypto", package: "Quartet"),
        ]),
    ] + fuzzTargets.map { target in
        .executableTarget(name: target.name, dependencies: ["FuzzSupport"] + target.dependencies)
    },
    swiftLanguageModes: [.v6]
)
