import Foundation
import QuartetTestKit
import Testing

/// `quartet pki` files read by OpenSSL's own tools, and `quartet bench tls` output.
@Suite(.serialized) struct PKITests {
    func openssl(_ arguments: [String]) throws -> TestKit.ProcessResult {
        try TestKit.run(try #require(TestKit.which("openssl")), arguments)
    }

    @Test func opensslReadsAndVerifiesTheCAAndNodeCertificates() throws {
        let dir = try TestKit.temporaryDirectory("pki-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = dir.appendingPathComponent("ca").path
        let created = try object(["pki", "init", "--out", ca])
        #expect(created["certificate"] as? String == "\(ca)/ca.pem")
        let issued = try object(["pki", "issue", "--ca", ca, "--node", "northern-ireland", "--out", "\(dir.path)/ni", "--days", "30"])
        #expect(issued["uris"] as? [String] == ["quartet://node/northern-ireland"])
        let certificate = "\(dir.path)/ni/northern-ireland.pem"

        let text = try openssl(["x509", "-in", certificate, "-noout", "-text"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("URI:quartet://node/northern-ireland"), "\(text.stdout)")
        #expect(text.stdout.contains("ASN1 OID: prime256v1"), "\(text.stdout)")
        #expect(text.stdout.contains("TLS Web Server Authentication") && text.stdout.contains("TLS Web Client Authentication"), "\(text.stdout)")
        let caText = try openssl(["x509", "-in", "\(ca)/ca.pem", "-noout", "-text"])
        #expect(caText.stdout.contains("CA:TRUE"), "\(caText.stdout)")

        let verified = try openssl(["verify", "-CAfile", "\(ca)/ca.pem", certificate])
        #expect(verified.status == 0 && verified.stdout.contains(": OK"), "\(verified.stdout) \(verified.stderr)")
        // Purpose checks as a TLS server and client.
        for purpose in ["sslserver", "sslclient"] {
            let result = try openssl(["verify", "-purpose", purpose, "-CAfile", "\(ca)/ca.pem", certificate])
            #expect(result.status == 0, "\(purpose): \(result.stdout) \(result.stderr)")
        }
        // The key is the certificate's: openssl pkey reads it, and the public keys match.
        let keyPublic = try openssl(["pkey", "-in", "\(dir.path)/ni/northern-ireland.key", "-pubout"])
        let certPublic = try openssl(["x509", "-in", certificate, "-noout", "-pubkey"])
        #expect(keyPublic.status == 0 && keyPublic.stdout == certPublic.stdout)
        let mode = try FileManager.default.attributesOfItem(atPath: "\(dir.path)/ni/northern-ireland.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        // A certificate from another CA does not verify against this one.
        let other = dir.appendingPathComponent("other").path
        _ = try object(["pki", "init", "--out", other])
        _ = try object(["pki", "issue", "--ca", other, "--node", "wales", "--out", "\(dir.path)/w"])
        let wrong = try openssl(["verify", "-CAfile", "\(ca)/ca.pem", "\(dir.path)/w/wales.pem"])
        #expect(wrong.status != 0)
    }

    @Test func badPKIInputIsRefused() throws {
        let dir = try TestKit.temporaryDirectory("pki-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        let badNode = try TestKit.quartet(["pki", "issue", "--ca", dir.path, "--node", "Wales!", "--out", dir.path])
        #expect(badNode.status != 0)
        #expect(badNode.stderr.contains("node id"), "\(badNode.stderr)")
        let noCA = try TestKit.quartet(["pki", "issue", "--ca", "\(dir.path)/missing", "--node", "wales", "--out", dir.path])
        #expect(noCA.status != 0)
        #expect(!noCA.stderr.isEmpty)
        // Refused before --out is made: nothing is left behind (a bound past the CA's limit, a
        // CA that cannot be read).
        for arguments in [["pki", "init", "--out", "\(dir.path)/ca-x/sub", "--days", "99999"],
                          ["pki", "issue", "--ca", "\(dir.path)/missing", "--node", "wales", "--out", "\(dir.path)/issued-x"],
                          ["pki", "issue", "--ca", dir.path, "--node", "wales", "--out", "\(dir.path)/issued-y", "--days", "99999"]] {
            let refused = try TestKit.quartet(arguments)
            #expect(refused.status != 0, "\(arguments)")
        }
        // A certificate that would outlive its CA (a CA of 10 days, 20 asked).
        #expect(try TestKit.quartet(["pki", "init", "--out", "\(dir.path)/short-ca", "--days", "10"]).status == 0)
        let outliving = try TestKit.quartet(["pki", "issue", "--ca", "\(dir.path)/short-ca", "--node", "wales", "--out", "\(dir.path)/issued-z", "--days", "20"])
        #expect(outliving.status != 0 && outliving.stderr.contains("would outlive it"), "\(outliving)")
        for left in ["ca-x", "issued-x", "issued-y", "issued-z"] {
            #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/\(left)"), "\(left) was left behind")
        }
    }

    @Test func benchTLSPrintsItsFiguresAsJSON() throws {
        let run = try TestKit.quartet(["bench", "tls", "--megabytes", "20", "--handshakes", "20", "--concurrency", "2"])
        #expect(run.status == 0, "\(run.stderr)")
        let result = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let bulk = try #require(result["bulk"] as? [String: Any])
        let handshakes = try #require(result["handshakes"] as? [String: Any])
        #expect(bulk["bytes"] as? Int == 20_000_000)
        #expect((bulk["megabytes_per_second"] as? Double ?? 0) > 0)
        #expect(handshakes["count"] as? Int == 20)
        #expect((handshakes["per_second"] as? Double ?? 0) > 0)
        #expect((result["openssl"] as? String)?.hasPrefix("OpenSSL 3") == true)
    }
}
