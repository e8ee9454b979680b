import Foundation
import QuartetTestKit
import Testing

/// Peers follow a member's key rotation (issue 15, part 4): wales rotates while stopped, appends
/// after it under the new key alone, and uk takes it all with no alert; uk's copy verifies.
@Suite(.serialized) struct KeyRotationFederationTests {
    @Test func peersFollowARotationFromThePinnedKey() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales"])
        for i in 0..<5 { try federation.append("wales", #"{"i":\#(i)}"#) }
        _ = try federation.waitConverged(["uk", "wales"]) { federation.size($0, "wales") == 5 }
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let rotated = try TestKit.quartet(["key", "rotate", "--config", federation.config("wales"), "--no-overlap"])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"))
        for i in 0..<5 { try federation.append("wales", #"{"after":\#(i)}"#) }
        _ = try federation.waitConverged(["uk", "wales"]) { federation.size($0, "wales") == 11 }
        let kinds = (try federation.get("uk", "/v1/alerts")["alerts"] as! [[String: Any]]).map { $0["kind"] as! String }
        #expect(kinds.isEmpty, "\(kinds)")
        federation.stop()
        let verified = try TestKit.quartet(["verify", "--data", federation.path("uk", "data")])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        let chain = try TestKit.quartet(["key", "vkey", "--data", federation.path("uk", "data"), "--log", "wales"]).stdout
        // uk holds the key in force that wales's rotation named.
        let current = chain.trimmingCharacters(in: .newlines)
        #expect(!current.isEmpty && rotated.stdout.contains("new key:      \(current)"), "\(rotated.stdout) / \(current)")
    }
}
