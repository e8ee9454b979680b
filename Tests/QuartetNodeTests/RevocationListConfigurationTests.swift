import Foundation
import QuartetCrypto
@testable import QuartetNode
import QuartetTestKit
import Testing

/// `tls.crl` as a start, a reload and `config check` take it: lists checked as a handshake would
/// use them, so a list that would refuse every peer is refused instead (a review).
@Suite struct RevocationListConfigurationTests {
    func configuration(ca: String, certificate: String, crl: String?) -> NodeConfiguration {
        NodeConfiguration(file: "/etc/quartet/wales.json", node: "wales", dataDirectory: "/nonexistent", log: "wales",
                          peerListen: HostPort(host: "127.0.0.1", port: 1), apiListen: HostPort(host: "127.0.0.1", port: 2),
                          caCertificate: ca, certificate: certificate, privateKey: "/nonexistent", revocationList: crl,
                          federationFile: "/nonexistent", logLevel: .info)
    }

    func text(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// A node started with the wrong CA file, or a certificate past its date, is refused at
    /// the start with the reason (it started, and every handshake then failed: finding 291);
    /// a reload does not ask (one with the certificate in force expired takes the rest: 170).
    @Test func aCertificateOfAnotherCAOrExpiredStopsTheStart() throws {
        let pki = try TestPKI(), stranger = try TestPKI()
        defer { pki.remove(); stranger.remove() }
        let wales = try pki.node("wales")
        func start(ca: String, certificate: String, key: String) throws -> String? {
            var c = configuration(ca: ca, certificate: certificate, crl: nil)
            c.privateKey = key
            return try TLSContexts(c).startRefusal
        }
        #expect(try start(ca: pki.caCertificate, certificate: wales.certificate, key: wales.key) == nil)
        let refused = try start(ca: stranger.caCertificate, certificate: wales.certificate, key: wales.key)
        #expect(refused?.contains("is not issued by the CA in tls.ca (\(stranger.caCertificate))") == true, "\(refused ?? "started")")
        let expired = try pki.node("wales", days: 1, now: Date(timeIntervalSinceNow: -3 * 86_400), label: "expired")
        let old = try start(ca: pki.caCertificate, certificate: expired.certificate, key: expired.key)
        #expect(old?.contains("expired on") == true && old?.contains("this host's clock reads") == true, "\(old ?? "started")")
        // Dated from tomorrow (the CA's clock a little ahead): not held against it at the start.
        let early = try pki.node("wales", days: 30, notBefore: Date(timeIntervalSinceNow: 3600), label: "early")
        #expect(try start(ca: pki.caCertificate, certificate: early.certificate, key: early.key) == nil)
    }

    @Test func everyCAOfARolloverBundleNeedsItsListAndTheNodesOwnCertificateMustVerify() throws {
        // Two CAs with the same name (pki init names every CA alike), as in a rollover.
        let old = try TestPKI(), new = try TestPKI()
        defer { old.remove(); new.remove() }
        let wales = try old.node("wales"), england = try old.node("england")
        let walesCert = try Certificate(pem: try text(wales.certificate))
        let oldList = try FederationPKI.revoke(certificates: [england.certificate], serials: [], caDirectory: old.root.appendingPathComponent("ca").path, newList: true).revocationList
        let newList = try FederationPKI.revoke(certificates: [], serials: [], caDirectory: new.root.appendingPathComponent("ca").path, newList: true).revocationList
        let dir = try TestKit.temporaryDirectory("crl-config")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bundle = dir.appendingPathComponent("bundle.pem").path
        try (try text(old.caCertificate) + text(new.caCertificate)).write(toFile: bundle, atomically: true, encoding: .utf8)
        let onlyNew = dir.appendingPathComponent("only-new.pem").path, both = dir.appendingPathComponent("both.pem").path
        try text(newList).write(toFile: onlyNew, atomically: true, encoding: .utf8)
        try (try text(oldList) + text(newList)).write(toFile: both, atomically: true, encoding: .utf8)
        let bundleText = try text(bundle)

        // The new CA's list alone: every certificate of the old CA would be refused. Refused here.
        #expect { try TLSContexts.revocationLists(configuration(ca: bundle, certificate: wales.certificate, crl: onlyNew), ca: bundleText, leaf: walesCert) } throws: {
            ($0 as? ConfigurationError)?.key == "tls.crl" && "\($0)".contains("has no revocation list here")
        }
        // One list per CA: taken, and the old CA's revoked certificate is refused with them.
        let (lists, _) = try TLSContexts.revocationLists(configuration(ca: bundle, certificate: wales.certificate, crl: both), ca: bundleText, leaf: walesCert)
        #expect(lists.count == 2)
        let roots = try Certificate.all(pem: bundleText)
        #expect(throws: CryptoError.self) { try RevocationList.check(try Certificate(pem: try text(england.certificate)), trustRoots: roots, lists: lists) }
        try RevocationList.check(try Certificate(pem: try text(new.node("scotland").certificate)), trustRoots: roots, lists: lists)
        // A list that revokes the node's own certificate.
        #expect { try TLSContexts.revocationLists(configuration(ca: bundle, certificate: england.certificate, crl: both), ca: bundleText,
                                                  leaf: try Certificate(pem: try text(england.certificate))) } throws: {
            "\($0)".contains("the list revokes it")
        }
        // A list another CA made (not in the bundle).
        let stranger = try TestPKI()
        defer { stranger.remove() }
        let strangerList = try FederationPKI.revoke(certificates: [], serials: [], caDirectory: stranger.root.appendingPathComponent("ca").path, newList: true).revocationList
        #expect { try TLSContexts.revocationLists(configuration(ca: old.caCertificate, certificate: wales.certificate, crl: strangerList), ca: try text(old.caCertificate), leaf: walesCert) } throws: {
            "\($0)".contains("not signed by a CA in tls.ca")
        }
        // A node whose certificate expired still takes its lists (dates are judged elsewhere:
        // it must still take the reload that brings its renewal).
        let expired = try old.node("northern-ireland", days: 1, now: Date(timeIntervalSinceNow: -3 * 86_400))
        _ = try TLSContexts.revocationLists(configuration(ca: bundle, certificate: expired.certificate, crl: both), ca: bundleText,
                                            leaf: try Certificate(pem: try text(expired.certificate)))
        // A certificate renewed under the bundle's second CA is the CA file's (config check and
        // the reload's renewal check read every CA of the bundle, not the first alone).
        let renewed = try Certificate(pem: try text(new.node("wales", label: "renewed").certificate))
        #expect(ConfigurationCheck.certificateErrors(cas: roots, leaf: renewed, caPath: bundle, now: Date()).isEmpty)
        #expect(!ConfigurationCheck.certificateErrors(cas: [roots[0]], leaf: renewed, caPath: bundle, now: Date()).isEmpty)
        // A list inside the CA file.
        let mixed = try text(old.caCertificate) + text(oldList)
        #expect { try TLSContexts.revocationLists(configuration(ca: old.caCertificate, certificate: wales.certificate, crl: nil), ca: mixed, leaf: walesCert) } throws: {
            ($0 as? ConfigurationError)?.key == "tls.ca"
        }
    }

    /// The record of revocations in force keeps a CA's revocations while the CA is out of
    /// `tls.ca`: rolled over to Y and then back to X with X's list from before S was revoked,
    /// S's revocation is said to be taken back (it was forgotten at the rollover before).
    @Test func aRevocationOfACARolledOutIsStillSaidWhenTheCAComesBackWithAnOlderList() {
        // Revoked under X: recorded.
        var record = TLSContexts.recorded(revoked: ["X/S"], caIssuers: ["X"], earlier: [])
        #expect(record == ["X/S"])
        // Rolled over to Y (X out of tls.ca): nothing taken back (X verifies nothing), and X/S kept.
        #expect(TLSContexts.takenBack(since: record, revoked: ["Y/T"], caIssuers: ["Y"]).isEmpty)
        record = TLSContexts.recorded(revoked: ["Y/T"], caIssuers: ["Y"], earlier: record)
        #expect(record == ["X/S", "Y/T"])
        // Back to X and Y with X's old list (S not in it): said, S by its serial.
        #expect(TLSContexts.takenBack(since: record, revoked: ["Y/T"], caIssuers: ["X", "Y"]) == ["S"])
        // Back to X alone with the old list: said too; Y's, out of tls.ca now, kept.
        #expect(TLSContexts.takenBack(since: record, revoked: [], caIssuers: ["X"]) == ["S"])
        #expect(TLSContexts.recorded(revoked: [], caIssuers: ["X"], earlier: record) == ["Y/T"])
    }
}
