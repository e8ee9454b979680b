import Foundation
import QuartetTestKit
import Testing

/// A node restored from an old copy of its data directory (issue 15, part 1): it learns from
/// its peers how much of its own log they hold, takes the tail it lacks, and only then appends,
/// so nobody sees two histories and every acknowledged entry is still there.
@Suite(.serialized) struct RestoreTests {
    static let nodes = ["uk", "wales", "england"]

    /// Appends `count` wales entries in batches of up to 100; returns (index, leaf hash) of each.
    static func appendMany(_ federation: LocalFederation, count: Int, tag: String) throws -> [Int: String] {
        var receipts: [Int: String] = [:]
        var done = 0
        while done < count {
            let n = min(100, count - done)
            let items = (0..<n).map { #"{"type":"test.note","payload":{"tag":"\#(tag)","i":\#(done + $0)}}"# }
            let body = #"{"entries":[\#(items.joined(separator: ","))]}"#
            let (text, status) = try federation.curl(["--cert", federation.path("wales", "operator_certificate"), "--key", federation.path("wales", "operator_key"),
                                                      "-H", "content-type: application/json", "-d", body, "\(federation.api("wales"))/v1/logs/wales/entries"])
            guard status == 201, let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                  let entries = object["entries"] as? [[String: Any]], entries.count == n else {
                throw TestKitError("batch append at wales: \(status) \(text)")
            }
            for entry in entries { receipts[entry["index"] as! Int] = (entry["leaf_hash"] as! String) }
            done += n
        }
        return receipts
    }

    /// Every leaf hash `node` holds of wales' log, by index.
    static func leaves(_ federation: LocalFederation, at node: String, size: Int) throws -> [Int: String] {
        var out: [Int: String] = [:]
        var from = 0
        while from < size {
            let page = try federation.get(node, "/v1/logs/wales/entries?from=\(from)&limit=1000")
            for entry in page["entries"] as! [[String: Any]] { out[entry["index"] as! Int] = (entry["leaf_hash"] as! String) }
            from = page["next"] as! Int
        }
        return out
    }

    static func alerts(_ federation: LocalFederation, at node: String) throws -> (kinds: [String], quarantined: Int) {
        let body = try federation.get(node, "/v1/alerts")
        return ((body["alerts"] as! [[String: Any]]).map { $0["kind"] as! String }, (body["quarantined"] as? [Any])?.count ?? 0)
    }

    @Test func aWeekOldCopyOfWalesCatchesUpFromPeersAndNeverEquivocates() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(Self.nodes)
        var acknowledged = try Self.appendMany(federation, count: 50, tag: "before")
        _ = try federation.waitConverged(Self.nodes) { federation.size($0, "wales") == 50 }
        // The operator's backup, taken while wales runs.
        let backup = federation.root.appendingPathComponent("wales-backup").path
        let taken = try TestKit.quartet(["backup", "--config", federation.config("wales"), "--out", backup])
        #expect(taken.status == 0, "\(taken.stderr)")
        // A week of work after it: 1,000 more entries, which the peers hold.
        acknowledged.merge(try Self.appendMany(federation, count: 1_000, tag: "after")) { $1 }
        _ = try federation.waitConverged(Self.nodes) { federation.size($0, "wales") == 1_050 }

        // Wales loses its disk; the operator restores the old copy and starts it.
        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        let data = federation.path("wales", "data")
        try FileManager.default.removeItem(atPath: data)
        let copied = try TestKit.run(URL(fileURLWithPath: "/bin/cp"), ["-a", backup, data])
        #expect(copied.status == 0)
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"))
        // The first append waits until wales holds what its peers hold, then goes after it.
        acknowledged.merge(try Self.appendMany(federation, count: 10, tag: "restored")) { $1 }
        #expect(acknowledged.keys.sorted() == Array(0..<1_060))
        let heads = try federation.waitConverged(Self.nodes) { federation.size($0, "wales") == 1_060 }
        #expect(federation.size(heads, "wales") == 1_060)

        for node in Self.nodes {
            let (kinds, quarantined) = try Self.alerts(federation, at: node)
            #expect(!kinds.contains("equivocation"), "\(node): \(kinds)")
            #expect(quarantined == 0, "\(node) quarantined a log")
            // Every acknowledged entry is there, as acknowledged.
            #expect(try Self.leaves(federation, at: node, size: 1_060) == acknowledged, "\(node)")
        }
        #expect(try Self.alerts(federation, at: "wales").kinds.contains("own-log-recovered"))
    }

    /// A restored copy with no peer reachable takes no appends (503, with the reason) until one
    /// answers; `--i-am-the-only-copy` overrides that for a node that really is the only copy.
    @Test func aNodeNoPeerAnswersIsReadOnlyUnlessTheOperatorSaysItIsTheOnlyCopy() throws {
        let federation = try LocalFederation()
        defer { federation.stop() }
        try federation.start(["wales"])
        let body = #"{"type":"test.note","payload":{"i":1}}"#
        let credentials = ["--cert", federation.path("wales", "operator_certificate"), "--key", federation.path("wales", "operator_key")]
        let (text, status) = try federation.curl(credentials + ["-H", "content-type: application/json", "-d", body,
                                                                "\(federation.api("wales"))/v1/logs/wales/entries"])
        #expect(status == 503, "\(text)")
        #expect(text.contains("--i-am-the-only-copy"), "\(text)")
        let (ready, readyStatus) = try federation.curl(["\(federation.api("wales"))/readyz"])
        #expect(readyStatus == 503 && ready.contains("own log wales takes no appends: not enough of its witnesses have confirmed"), "\(ready)")
        #expect(try federation.get("wales", "/v1/logs/wales/entries?from=0&limit=1")["size"] as? Int == 0)

        _ = federation.processes.removeValue(forKey: "wales")?.stop()
        federation.processes["wales"] = try NodeProcess(config: federation.config("wales"), arguments: ["--i-am-the-only-copy"])
        #expect(try federation.append("wales", #"{"i":2}"#) == 0)
    }
}
