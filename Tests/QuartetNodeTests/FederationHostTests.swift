import Foundation
import QuartetCrypto
import QuartetLedger
import QuartetNode
import Testing

/// `Federation.parse` takes only ASCII host names and address literals for a member's peer and
/// api: a lookalike letter or an invisible mark would show the members who review a change one
/// host while they dial another.
@Suite struct FederationHostTests {
    /// Why a one-member file with `peer` and `api` is refused, or nil.
    func refusal(peer: String = "wales.example:7401", api: String = "https://wales.example:8401", name: String = "quartet-test") throws -> String? {
        let object: [String: Any] = ["federation": name, "version": 1,
                                     "nodes": [["id": "wales", "role": "nation", "peer": peer, "api": api, "vkey": try Self.key()]]]
        do {
            _ = try Federation.parse(try JSONSerialization.data(withJSONObject: object), file: "federation.json")
            return nil
        } catch { return "\(error)" }
    }

    static func key() throws -> String {
        NoteVerifier(name: "quartet.test/wales", publicKey: try Ed25519PrivateKey().publicKey).vkey
    }

    @Test func asciiHostNamesAndAddressLiteralsAreTaken() throws {
        for host in ["wales.example", "localhost", "WALES-1.example.org", "127.0.0.1", "10.0.0.254", "xn--pple-43d.example", "a", "1a.example"] {
            #expect(Federation.isASCIIHost(host), "\(host)")
        }
        for host in ["::1", "fe80::1", "2001:db8::7", "::ffff:192.0.2.1"] { #expect(Federation.isASCIIHost(host), "\(host)") }
        #expect(try refusal(peer: "[::1]:7401", api: "https://[::1]:8401") == nil)
        #expect(try refusal(api: "https://wales.example:8401/") == nil)
        #expect(try refusal(peer: "127.0.0.1:7401", api: "https://127.0.0.1:8401") == nil)
        #expect(try refusal() == nil)
    }

    /// A member's api written without a port is dialled on 443, as a browser would: read as no
    /// port, every witness path skipped the member for good and its witness was never asked
    /// (a helper's review of operator mistakes, finding 291). An IPv6 literal is dialled
    /// without its brackets.
    @Test func anAPIWithoutAPortIsDialledOn443() throws {
        func address(_ api: String) throws -> HostPort? {
            let object: [String: Any] = ["federation": "quartet-test", "version": 1,
                                         "nodes": [["id": "wales", "role": "nation", "peer": "wales.example:7401", "api": api, "vkey": try Self.key()]]]
            return try Federation.parse(try JSONSerialization.data(withJSONObject: object), file: "federation.json").members.first?.apiAddress
        }
        #expect(try address("https://wales.example") == HostPort(host: "wales.example", port: 443))
        #expect(try address("https://wales.example/") == HostPort(host: "wales.example", port: 443))
        #expect(try address("https://wales.example:8401") == HostPort(host: "wales.example", port: 8401))
        #expect(try address("https://[::1]:8401") == HostPort(host: "::1", port: 8401))
        #expect(try address("https://127.0.0.1") == HostPort(host: "127.0.0.1", port: 443))
    }

    /// A member's api is scheme, host and port: `quartet policy` names each log by api +
    /// /v1/logs/LOG, and a path, query or fragment there (`…/v1/logs/wales?`) made another
    /// member's line name wales's log (finding 215). A key name with an invisible mark or an
    /// override is refused (a member's origin `…/wales` + U+200B read as wales's).
    @Test func anAPIWithAPathQueryOrFragmentAndAnInvisibleKeyNameAreRefused() throws {
        for api in ["https://england.example:8402/v1/logs/wales?", "https://england.example:8402/#x", "https://england.example:8402/v1",
                    "https://england.example:8402?a=1"] {
            #expect(try refusal(api: api)?.contains("no path, query or fragment") == true, "\(api)")
        }
        func parsed(_ name: String) throws -> String? {
            let object: [String: Any] = ["federation": "quartet-test", "version": 1,
                                         "nodes": [["id": "wales", "role": "nation", "peer": "wales.example:7401", "api": "https://wales.example:8401",
                                                    "vkey": NoteVerifier(name: name, publicKey: try Ed25519PrivateKey().publicKey).vkey]]]
            do { _ = try Federation.parse(try JSONSerialization.data(withJSONObject: object), file: "federation.json") } catch { return "\(error)" }
            return nil
        }
        // Refused for the mark or the look-alike letter, by the rule the test names; the same
        // name without it is taken.
        for name in ["quartet.test/wales\u{200B}", "quartet.test/\u{202E}selaw", "quartet.test/w\u{0430}les", "quartet.test/wales\u{034F}"] {
            let refusal = try parsed(name)
            #expect(refusal?.contains("must be printable ASCII") == true, "\(name): \(refusal ?? "taken")")
        }
        #expect(try parsed("quartet.test/wales") == nil)
    }

    @Test func lookalikesInvisibleMarksAndOddFormsAreNot() throws {
        let refused = [
            "w\u{0430}les.example",          // Cyrillic а
            "wales\u{200B}.example",         // zero-width space
            "wales.example\u{200E}",         // left-to-right mark
            "\u{202E}elpmaxe.selaw",         // right-to-left override
            "wal\u{00E9}s.example",          // é
            "wales\u{FF0E}example",          // fullwidth full stop
            "wales_1.example", "wales..example", ".wales.example", "-wales.example", "wales-.example", "wales.example.",
            "wales%2Eexample", "999.1.1.1", "1.2.3", "010.0.0.1", "fe80::1%eth0", "::g", "",
            String(repeating: "a", count: 64) + ".example", String(repeating: "abcdefgh.", count: 30) + "example",
        ]
        for host in refused { #expect(!Federation.isASCIIHost(host), "\(host.debugDescription)") }
    }

    /// The federation's name is shown to every member reviewing a change and signed in its
    /// statement: two names that differ by an invisible mark would look the same.
    @Test func aFederationNameWithInvisibleMarksIsRefused() throws {
        for mark in ["\u{200B}", "\u{200D}", "\u{200E}", "\u{200F}", "\u{2060}", "\u{FEFF}", "\u{061C}", "\u{00AD}"] {
            let problem = try #require(try refusal(name: "quartet" + mark + "-test"), "\(mark.unicodeScalars.first!.value) taken")
            #expect(problem.contains("invisible marks"), "\(problem)")
        }
        #expect(try refusal(name: "Quartet OT workforce — UK") == nil)
    }

    @Test func theRefusalNamesTheMemberTheFieldAndTheLetters() throws {
        let peer = try #require(try refusal(peer: "w\u{0430}les.example:7401"))
        #expect(peer.contains("nodes[0].peer") && peer.contains("node \"wales\"") && peer.contains("w\\u{430}les.example"), "\(peer)")
        let invisible = try #require(try refusal(peer: "wales\u{200B}.example:7401"))
        #expect(invisible.contains("wales\\u{200B}.example"), "\(invisible)")
        // An api host percent-encoded decodes to other letters; user info puts a trusted name
        // before another host; a numeric-looking name is no address.
        for api in ["https://w%D0%B0les.example:8401", "https://wales%2Eexample:8401", "https://wales.example@other.example:8401",
                    "https://999.1.1.1:8401", "https://wales_1.example:8401"] {
            let problem = try #require(try refusal(api: api), "\(api) taken")
            #expect(problem.contains("nodes[0].api") && problem.contains("node \"wales\""), "\(problem)")
        }
    }

    @Test func apiHostIsTheHostAsWritten() {
        #expect(Federation.apiHost(of: "https://wales.example:8401/v1?x#y") == "wales.example")
        #expect(Federation.apiHost(of: "https://[::1]:8401") == "::1")
        #expect(Federation.apiHost(of: "https://wales.example") == "wales.example")
        #expect(Federation.apiHost(of: "https://a@b.example") == nil)
        #expect(Federation.apiHost(of: "https://wales.example:84x1") == nil)
        #expect(Federation.apiHost(of: "wales.example") == nil)
    }
}
