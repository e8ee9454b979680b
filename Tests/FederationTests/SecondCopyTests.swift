import Foundation
import QuartetLedger
import QuartetReplication
import QuartetStore
import QuartetTestKit
import Testing

/// Another process signs a node's log after the node opened it (a second copy of the node
/// running, or a thief of its log key): the node takes no more appends, says why in the 503,
/// in `/readyz` and in one `own-log-ahead` alert, instead of signing the other entry at that
/// index at its next append (the fork that quarantines its log everywhere).
@Suite(.serialized) struct SecondCopyTests {
    @Test func aNodeShownItsOwnLogSignedBeyondWhatItHoldsTakesNoMoreAppends() async throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["uk", "wales"], onePeerAnswers: true)
        _ = try federation.waitConverged(["uk", "wales"])
        let held = try federation.append("wales", #"{"before":1}"#) + 1

        // What the other copy signed: the next entry of wales's log, under wales's own key.
        let walesData = DataDirectory(path: federation.path("wales", "data"))
        let signer = try NoteSigner(name: "quartet.ot-workforce.uk/wales", key: try walesData.readSigningKey(log: "wales"))
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        let ahead = try signer.sign(Checkpoint(origin: "quartet.ot-workforce.uk/wales", size: held + 1, root: Hash.leaf([7]), timeMillis: now)).serialized
        let walesPort = Int(federation.path("wales", "peer").split(separator: ":").last!)!
        let peer = try await FakePeer(as: "england", to: "wales", port: walesPort, federation: federation,
                                      hello: .hello(version: ProtocolLimits.version, node: "england", federation: "uk-ot-workforce"))
        _ = try peer.wait { if case .heads = $0 { return true }; return false }
        peer.send(.heads([.init(log: "wales", note: ahead)]))

        var alerts: [[String: Any]] = []
        for _ in 0..<100 {
            alerts = try federation.get("wales", "/v1/alerts")["alerts"] as! [[String: Any]]
            if alerts.contains(where: { $0["kind"] as? String == "own-log-ahead" }) { break }
            usleep(100_000)
        }
        #expect(alerts.contains { $0["kind"] as? String == "own-log-ahead" && ($0["message"] as? String ?? "").contains("another process signs this log") }, "\(alerts)")
        let body = #"{"type":"test.note","payload":{"after":1}}"#
        let refused = try federation.curl(["--cert", federation.path("wales", "operator_certificate"), "--key", federation.path("wales", "operator_key"),
                                           "-H", "content-type: application/json", "-d", body, "\(federation.api("wales"))/v1/logs/wales/entries"])
        #expect(refused.status == 503 && refused.body.contains("another process signs this log"), "\(refused)")
        let ready = try federation.curl(["\(federation.api("wales"))/readyz"])
        #expect(ready.status == 503 && ready.body.contains("own log wales takes no appends"), "\(ready)")
        // Nothing was appended after it: the size is what it was.
        #expect(federation.size(try federation.heads("wales"), "wales") == held)
    }
}
