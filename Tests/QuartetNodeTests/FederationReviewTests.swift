import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
import Testing

/// `FederationReview`: every field that decides trust is shown, and every change between two
/// versions is found, field by field (what `quartet federation show --accepted` and `sign` print).
@Suite struct FederationReviewTests {
    typealias Change = FederationReview.Change

    /// Keys that stay the same across the versions a test compares.
    struct Keys {
        let logs: [String: Ed25519PrivateKey]
        let witnesses: [String: Ed25519PrivateKey]
        let owners: [String: Ed25519PrivateKey]

        init() throws {
            var logs: [String: Ed25519PrivateKey] = [:], witnesses: [String: Ed25519PrivateKey] = [:], owners: [String: Ed25519PrivateKey] = [:]
            for id in ["uk", "wales", "england"] {
                logs[id] = try Ed25519PrivateKey()
                witnesses[id] = try Ed25519PrivateKey()
            }
            for id in ["HEIW", "HCPC"] { owners[id] = try Ed25519PrivateKey() }
            self.logs = logs
            self.witnesses = witnesses
            self.owners = owners
        }

        func vkey(_ id: String) -> String { NoteVerifier(name: "quartet.test/\(id)", publicKey: logs[id]!.publicKey).vkey }
        func witness(_ id: String) -> String { CosignatureVerifier(name: "quartet.test/\(id)/witness", publicKey: witnesses[id]!.publicKey).vkey }
        func owner(_ id: String) -> String { NoteVerifier(name: id, publicKey: owners[id]!.publicKey).vkey }

        /// A fresh key of log `id` (a rotated or revoked one).
        static func otherLogKey(_ id: String) throws -> String { NoteVerifier(name: "quartet.test/\(id)", publicKey: try Ed25519PrivateKey().publicKey).vkey }

        func node(_ id: String, port: Int) -> [String: Any] {
            ["id": id, "role": id == "uk" ? "aggregator" : "nation", "peer": "\(id).example:\(port)", "api": "https://\(id).example:\(port + 1000)",
             "vkey": vkey(id), "witness": witness(id)]
        }

        /// Version 1: uk, wales and england, with witness keys; HEIW and HCPC with labels.
        func base() -> [String: Any] {
            ["federation": "quartet-test", "version": 1,
             "nodes": [node("uk", port: 7400), node("wales", port: 7401), node("england", port: 7402)],
             "owners": [["id": "HEIW", "vkey": owner("HEIW"), "labels": ["heiw.*"]], ["id": "HCPC", "vkey": owner("HCPC"), "labels": ["hcpc.*"]]]]
        }
    }

    func parse(_ object: [String: Any]) throws -> Federation {
        try Federation.parse(try JSONSerialization.data(withJSONObject: object), file: "federation.json")
    }

    /// `object` with node `id` changed by `change`.
    func editing(_ object: [String: Any], node id: String, _ change: (inout [String: Any]) -> Void) -> [String: Any] {
        var object = object
        var nodes = object["nodes"] as! [[String: Any]]
        let i = nodes.firstIndex { $0["id"] as? String == id }!
        change(&nodes[i])
        object["nodes"] = nodes
        return object
    }

    func diff(_ old: [String: Any], _ new: [String: Any]) throws -> [Change] {
        FederationReview.diff(from: try parse(old), to: try parse(new))
    }

    @Test func theSameFileIsNoChange() throws {
        let keys = try Keys()
        let changes = try diff(keys.base(), keys.base())
        #expect(changes.isEmpty)
        #expect(FederationReview.lines(of: changes) == ["no change"])
        // Labels and revocations compare as sets, not by the order the file lists them in.
        let revoked = try Keys.otherLogKey("wales"), second = try Keys.otherLogKey("wales")
        var a = editing(keys.base(), node: "wales") { $0["revoked"] = [["vkey": revoked, "after": 3], ["vkey": second, "after": 4]] }
        var b = editing(keys.base(), node: "wales") { $0["revoked"] = [["vkey": second, "after": 4], ["vkey": revoked, "after": 3]] }
        a["owners"] = [["id": "HEIW", "vkey": keys.owner("HEIW"), "labels": ["heiw.a", "heiw.b"]]]
        b["owners"] = [["id": "HEIW", "vkey": keys.owner("HEIW"), "labels": ["heiw.b", "heiw.a"]]]
        #expect(try diff(a, b).isEmpty)
    }

    @Test func theFederationsNameAndVersion() throws {
        let keys = try Keys()
        var new = keys.base()
        new["version"] = 2
        new["federation"] = "quartet-other"
        #expect(try diff(keys.base(), new) == [
            Change(scope: .federation, kind: .changed, field: "name", old: "quartet-test", new: "quartet-other"),
            Change(scope: .federation, kind: .changed, field: "version", old: "1", new: "2"),
        ])
    }

    @Test func aDeletedRevocationIsShown() throws {
        let keys = try Keys()
        let revoked = try Keys.otherLogKey("wales")
        let before = editing(keys.base(), node: "wales") { $0["revoked"] = [["vkey": revoked, "after": 12]] }
        // The routine change a hostile member prepares: version raised, the revocation quietly gone.
        var after = keys.base()
        after["version"] = 2
        let changes = try diff(before, after)
        #expect(changes == [
            Change(scope: .federation, kind: .changed, field: "version", old: "1", new: "2"),
            Change(scope: .member("wales"), kind: .removed, field: "revoked", old: "\(revoked) after 12", new: nil),
        ])
        let lines = FederationReview.lines(of: changes)
        #expect(lines.contains("~ member wales"), "\(lines)")
        #expect(lines.contains { $0.contains("- revoked: \(revoked) after 12") && $0.contains("a revocation deleted") }, "\(lines)")
        // Added, and moved to another size.
        #expect(try diff(after, before).contains(Change(scope: .member("wales"), kind: .added, field: "revoked", old: nil, new: "\(revoked) after 12")))
        let moved = editing(keys.base(), node: "wales") { $0["revoked"] = [["vkey": revoked, "after": 400]] }
        #expect(try diff(before, moved) == [
            Change(scope: .member("wales"), kind: .changed, field: "revoked", old: "\(revoked) after 12", new: "\(revoked) after 400"),
        ])
    }

    @Test func aSwappedWitnessKeyIsShown() throws {
        let keys = try Keys()
        let swapped = CosignatureVerifier(name: "quartet.test/england/witness", publicKey: try Ed25519PrivateKey().publicKey).vkey
        let after = editing(keys.base(), node: "england") { $0["witness"] = swapped }
        let changes = try diff(keys.base(), after)
        #expect(changes == [Change(scope: .member("england"), kind: .changed, field: "witness", old: keys.witness("england"), new: swapped)])
        let lines = FederationReview.lines(of: changes)
        #expect(lines.contains { $0.contains("~ witness: \(keys.witness("england")) -> \(swapped)") && $0.contains("witness key replaced") }, "\(lines)")
        // Removed: the member no longer witnesses.
        let removed = editing(keys.base(), node: "england") { $0["witness"] = nil }
        #expect(try diff(keys.base(), removed) == [Change(scope: .member("england"), kind: .removed, field: "witness", old: keys.witness("england"), new: nil)])
    }

    @Test func everyOtherMemberField() throws {
        let keys = try Keys()
        let current = try Keys.otherLogKey("wales")
        let after = editing(keys.base(), node: "wales") { node in
            node["role"] = "nation"
            node["log"] = "cymru"
            node["peer"] = "wales.example:9400"
            node["api"] = "https://api.wales.example:9443"
            node["current_vkey"] = current
        }
        #expect(try diff(keys.base(), after) == [
            Change(scope: .member("wales"), kind: .changed, field: "log", old: "wales", new: "cymru"),
            Change(scope: .member("wales"), kind: .added, field: "current_vkey", old: nil, new: current),
            Change(scope: .member("wales"), kind: .changed, field: "peer", old: "wales.example:7401", new: "wales.example:9400"),
            Change(scope: .member("wales"), kind: .changed, field: "api", old: "https://wales.example:8401", new: "https://api.wales.example:9443"),
        ])
        // The role, and the log's pinned key.
        var roles = editing(keys.base(), node: "uk") { $0["role"] = "nation" }
        roles = editing(roles, node: "wales") { $0["role"] = "aggregator" }
        #expect(try diff(keys.base(), roles) == [
            Change(scope: .member("uk"), kind: .changed, field: "role", old: "aggregator", new: "nation"),
            Change(scope: .member("wales"), kind: .changed, field: "role", old: "nation", new: "aggregator"),
        ])
        let pinned = try Keys.otherLogKey("england")
        let rekeyed = editing(keys.base(), node: "england") { $0["vkey"] = pinned }
        let changes = try diff(keys.base(), rekeyed)
        #expect(changes == [Change(scope: .member("england"), kind: .changed, field: "vkey", old: keys.vkey("england"), new: pinned)])
        #expect(FederationReview.lines(of: changes).contains { $0.contains("pinned key replaced") })
        // current_vkey changed and removed.
        let other = try Keys.otherLogKey("wales")
        let changed = editing(keys.base(), node: "wales") { $0["current_vkey"] = other }
        let withCurrent = editing(keys.base(), node: "wales") { $0["current_vkey"] = current }
        #expect(try diff(withCurrent, changed) == [Change(scope: .member("wales"), kind: .changed, field: "current_vkey", old: current, new: other)])
        #expect(try diff(withCurrent, keys.base()) == [Change(scope: .member("wales"), kind: .removed, field: "current_vkey", old: current, new: nil)])
    }

    @Test func aChangedPeerOrApiAddressIsNoted() throws {
        let keys = try Keys()
        let moved = editing(keys.base(), node: "england") { node in
            node["peer"] = "england.example.net:7402"
            node["api"] = "https://england.example.net:8402"
        }
        let lines = FederationReview.lines(of: try diff(keys.base(), moved))
        #expect(lines == [
            "~ member england",
            "    ~ peer: england.example:7402 -> england.example.net:7402   [address changed: members will dial this host]",
            "    ~ api: https://england.example:8402 -> https://england.example.net:8402   [address changed: members will read this host]",
        ], "\(lines)")
        // A member added whole gets no note per field (it is new as a whole).
        var without = keys.base()
        without["nodes"] = (without["nodes"] as! [[String: Any]]).filter { $0["id"] as? String != "england" }
        #expect(!FederationReview.lines(of: try diff(without, keys.base())).contains { $0.contains("address changed") })
    }

    @Test func membersAddedAndRemovedWithEveryField() throws {
        let keys = try Keys()
        var without = keys.base()
        without["nodes"] = (without["nodes"] as! [[String: Any]]).filter { $0["id"] as? String != "england" }
        let removed = try diff(keys.base(), without)
        #expect(removed.first == Change(scope: .member("england"), kind: .removed, field: nil, old: nil, new: nil))
        #expect(removed.contains(Change(scope: .member("england"), kind: .removed, field: "witness", old: keys.witness("england"), new: nil)))
        #expect(removed.contains(Change(scope: .member("england"), kind: .removed, field: "vkey", old: keys.vkey("england"), new: nil)))
        let added = try diff(without, keys.base())
        #expect(added.first == Change(scope: .member("england"), kind: .added, field: nil, old: nil, new: nil))
        #expect(Set(added.compactMap(\.field)) == ["id", "role", "log", "vkey", "witness", "peer", "api"])
        let lines = FederationReview.lines(of: added)
        #expect(lines.first == "+ member england (added)" && lines.contains("    + witness: \(keys.witness("england"))"), "\(lines)")
    }

    @Test func dataOwnersKeysAndLabels() throws {
        let keys = try Keys()
        // HEIW's labels moved to HCPC: both sides show.
        var moved = keys.base()
        moved["owners"] = [["id": "HEIW", "vkey": keys.owner("HEIW"), "labels": [String]()],
                           ["id": "HCPC", "vkey": keys.owner("HCPC"), "labels": ["hcpc.*", "heiw.*"]]]
        #expect(try diff(keys.base(), moved) == [
            Change(scope: .owner("HCPC"), kind: .added, field: "label", old: nil, new: "heiw.*"),
            Change(scope: .owner("HEIW"), kind: .removed, field: "label", old: "heiw.*", new: nil),
        ])
        // An owner's key replaced.
        let other = NoteVerifier(name: "HEIW", publicKey: try Ed25519PrivateKey().publicKey).vkey
        var rekeyed = keys.base()
        rekeyed["owners"] = [["id": "HEIW", "vkey": other, "labels": ["heiw.*"]], ["id": "HCPC", "vkey": keys.owner("HCPC"), "labels": ["hcpc.*"]]]
        let changes = try diff(keys.base(), rekeyed)
        #expect(changes == [Change(scope: .owner("HEIW"), kind: .changed, field: "vkey", old: keys.owner("HEIW"), new: other)])
        #expect(FederationReview.lines(of: changes) == ["~ data owner HEIW", "    ~ vkey: \(keys.owner("HEIW")) -> \(other)   [the key that countersigns this owner's agreements]"])
        // An owner removed, and added.
        var fewer = keys.base()
        fewer["owners"] = [["id": "HEIW", "vkey": keys.owner("HEIW"), "labels": ["heiw.*"]]]
        #expect(try diff(keys.base(), fewer) == [
            Change(scope: .owner("HCPC"), kind: .removed, field: nil, old: nil, new: nil),
            Change(scope: .owner("HCPC"), kind: .removed, field: "id", old: "HCPC", new: nil),
            Change(scope: .owner("HCPC"), kind: .removed, field: "vkey", old: keys.owner("HCPC"), new: nil),
            Change(scope: .owner("HCPC"), kind: .removed, field: "label", old: "hcpc.*", new: nil),
        ])
        #expect(try diff(fewer, keys.base()).first == Change(scope: .owner("HCPC"), kind: .added, field: nil, old: nil, new: nil))
    }

    @Test func aFirstVersionIsAllNew() throws {
        let keys = try Keys()
        let federation = try parse(keys.base())
        let changes = FederationReview.diff(from: nil, to: federation)
        #expect(changes.contains(Change(scope: .federation, kind: .added, field: "version", old: nil, new: "1")))
        for id in ["uk", "wales", "england"] { #expect(changes.contains(Change(scope: .member(id), kind: .added, field: nil, old: nil, new: nil))) }
        for id in ["HEIW", "HCPC"] { #expect(changes.contains(Change(scope: .owner(id), kind: .added, field: nil, old: nil, new: nil))) }
        #expect(changes.allSatisfy { $0.kind == .added })
    }

    @Test func theShownFileHasEveryFieldThatDecidesTrust() throws {
        let keys = try Keys()
        let revoked = try Keys.otherLogKey("wales"), current = try Keys.otherLogKey("wales")
        let object = editing(keys.base(), node: "wales") { node in
            node["revoked"] = [["vkey": revoked, "after": 7]]
            node["current_vkey"] = current
        }
        let lines = FederationReview.lines(of: try parse(object))
        #expect(lines.first == "federation quartet-test, version 1")
        for expected in ["member wales", "  role:         nation", "  log:          wales", "  vkey:         \(keys.vkey("wales"))",
                         "  current_vkey: \(current)", "  witness:      \(keys.witness("wales"))", "  revoked:      \(revoked) after 7",
                         "  peer:         wales.example:7401", "  api:          https://wales.example:8401",
                         "data owner HEIW", "  vkey:  \(keys.owner("HEIW"))", "  label: heiw.*", "  vkey:    \(keys.vkey("uk"))"] {
            #expect(lines.contains(expected), "\(expected) missing from \(lines)")
        }
        #expect(lines.contains("  (no revoked keys)") && lines.contains("  (no current_vkey: signs with vkey)"))
    }
}
