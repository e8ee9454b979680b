import Foundation
import QuartetCrypto
import QuartetTestKit
import Testing

/// The federation CA's revocation list: made and kept by `FederationPKI.revoke`, read by
/// OpenSSL's own tools the same way.
@Suite struct RevocationListTests {
    /// A CA with wales's and england's node certificates.
    struct Issued {
        let pki: TestPKI
        let caDirectory: String
        let wales: (certificate: String, key: String), england: (certificate: String, key: String)
        let walesCert: Certificate, englandCert: Certificate, ca: Certificate

        init() throws {
            pki = try TestPKI()
            caDirectory = pki.root.appendingPathComponent("ca").path
            (wales, england) = (try pki.node("wales"), try pki.node("england"))
            walesCert = try Certificate(pem: try String(contentsOfFile: wales.certificate, encoding: .utf8))
            englandCert = try Certificate(pem: try String(contentsOfFile: england.certificate, encoding: .utf8))
            ca = try Certificate(pem: try String(contentsOfFile: pki.caCertificate, encoding: .utf8))
        }
    }

    @Test func aRevokedCertificateIsListedByItsSerialAndTheListIsTheCAs() throws {
        let issued = try Issued()
        let (pki, caDirectory, wales, walesCert, englandCert, ca) = (issued.pki, issued.caDirectory, issued.wales, issued.walesCert, issued.englandCert, issued.ca)
        defer { pki.remove() }

        // No list yet: started only when asked (a CA directory restored without its list must
        // not drop every earlier revocation unseen).
        #expect(throws: PKIError.self) { try FederationPKI.revoke(certificates: [wales.certificate], serials: [], caDirectory: caDirectory) }
        let first = try FederationPKI.revoke(certificates: [wales.certificate], serials: [], caDirectory: caDirectory, newList: true,
                                             now: Date(timeIntervalSince1970: 1_767_225_600))
        #expect(first.added == [walesCert.serialHex] && first.revoked == [walesCert.serialHex])
        let list = try RevocationList(pem: try String(contentsOfFile: first.revocationList, encoding: .utf8))
        try list.verify(issuedBy: ca)
        #expect(list.revokes(walesCert) && !list.revokes(englandCert))
        #expect(list.revoked.first?.at == Date(timeIntervalSince1970: 1_767_225_600))

        // Again, with england by serial as openssl prints it (lower case, `serial=`): wales kept
        // with its first date, england added, nothing listed twice.
        let second = try FederationPKI.revoke(certificates: [wales.certificate], serials: ["serial=" + englandCert.serialHex.lowercased()],
                                              caDirectory: caDirectory, now: Date(timeIntervalSince1970: 1_767_312_000))
        #expect(second.added == [englandCert.serialHex])
        #expect(Set(second.revoked) == [walesCert.serialHex, englandCert.serialHex] && second.revoked.count == 2)
        let both = try RevocationList(pem: try String(contentsOfFile: second.revocationList, encoding: .utf8))
        #expect(both.revoked.first { $0.serial == walesCert.serialHex }?.at == Date(timeIntervalSince1970: 1_767_225_600))
        #expect(both.revokes(englandCert))

        // Not the CA's: a certificate another CA issued, a serial that is not hex.
        let other = try TestPKI()
        defer { other.remove() }
        let stranger = try other.node("wales")
        #expect(throws: PKIError.self) { try FederationPKI.revoke(certificates: [stranger.certificate], serials: [], caDirectory: caDirectory) }
        #expect(throws: PKIError.self) { try FederationPKI.revoke(certificates: [], serials: ["not-hex"], caDirectory: caDirectory) }
        // A serial the CA's record does not list (a typo of a real one) is refused, the list
        // unchanged; zero is no certificate's; `unrecorded` takes one (a CA whose record was lost).
        var typo = Array(englandCert.serialHex)
        typo[typo.count - 1] = typo.last == "A" ? "B" : "A"
        let unchanged = try String(contentsOfFile: second.revocationList, encoding: .utf8)
        #expect { try FederationPKI.revoke(certificates: [], serials: [String(typo)], caDirectory: caDirectory) } throws: {
            "\($0)".contains("is not one \(caDirectory)/issued.txt lists as issued by this CA")
        }
        #expect { try FederationPKI.revoke(certificates: [], serials: ["00"], caDirectory: caDirectory) } throws: { "\($0)".contains("is zero") }
        #expect(try String(contentsOfFile: second.revocationList, encoding: .utf8) == unchanged)
        let lost = try FederationPKI.revoke(certificates: [], serials: [String(typo)], caDirectory: caDirectory, unrecorded: true)
        #expect(lost.added == [String(typo)])
        // Padded with a leading zero byte, the recorded serial is still found.
        #expect(try FederationPKI.revoke(certificates: [], serials: ["00" + walesCert.serialHex], caDirectory: caDirectory).added.isEmpty)
        // A list the other CA made does not verify as this CA's, nor revokes this CA's certificates.
        let foreign = try FederationPKI.revoke(certificates: [stranger.certificate], serials: [], caDirectory: other.root.appendingPathComponent("ca").path, newList: true)
        let foreignList = try RevocationList(pem: try String(contentsOfFile: foreign.revocationList, encoding: .utf8))
        #expect(throws: CryptoError.self) { try foreignList.verify(issuedBy: ca) }
        #expect(!foreignList.revokes(walesCert))
    }

    /// OpenSSL reads the list as the CA's and refuses the revoked certificate with it.
    @Test func opensslChecksTheListAndRefusesTheRevokedCertificate() throws {
        let openssl = try #require(TestKit.which("openssl"))
        let pki = try TestPKI()
        defer { pki.remove() }
        let caDirectory = pki.root.appendingPathComponent("ca").path
        let wales = try pki.node("wales"), england = try pki.node("england")
        let revocation = try FederationPKI.revoke(certificates: [wales.certificate], serials: [], caDirectory: caDirectory, newList: true)
        let crl = try TestKit.run(openssl, ["crl", "-in", revocation.revocationList, "-CAfile", pki.caCertificate, "-noout", "-text"])
        #expect(crl.status == 0 && (crl.stdout + crl.stderr).contains("verify OK"), "\(crl.stdout)\(crl.stderr)")
        let serial = try Certificate(pem: try String(contentsOfFile: wales.certificate, encoding: .utf8)).serialHex
        #expect(crl.stdout.contains("Serial Number: \(serial)"), "\(crl.stdout)")
        let revoked = try TestKit.run(openssl, ["verify", "-crl_check", "-CAfile", pki.caCertificate, "-CRLfile", revocation.revocationList, wales.certificate])
        #expect(revoked.status != 0 && (revoked.stdout + revoked.stderr).contains("certificate revoked"), "\(revoked.stdout)\(revoked.stderr)")
        let kept = try TestKit.run(openssl, ["verify", "-crl_check", "-CAfile", pki.caCertificate, "-CRLfile", revocation.revocationList, england.certificate])
        #expect(kept.status == 0, "\(kept.stdout)\(kept.stderr)")
    }

    /// An entry whose reason is removeFromCRL takes a revocation back (OpenSSL counts it as not
    /// revoked): so here too, or a list could un-revoke a certificate with no reload saying so.
    /// A list names its issuer by name and key, so two CAs named alike (a rollover's) differ.
    /// The list is made by Python's `cryptography`, signed with the CA's key.
    @Test func aRemoveFromCRLEntryRevokesNothingAndIssuersDifferByKey() throws {
        let python = try #require(TestKit.which("python3"))
        let openssl = try #require(TestKit.which("openssl"))
        let issued = try Issued()
        let (pki, caDirectory, wales, england, walesCert, englandCert, ca) = (issued.pki, issued.caDirectory, issued.wales, issued.england, issued.walesCert, issued.englandCert, issued.ca)
        defer { pki.remove() }
        let out = pki.root.appendingPathComponent("reasons.crl").path
        let script = """
            import sys, datetime
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
            ca = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
            now = datetime.datetime.now(datetime.timezone.utc)
            b = x509.CertificateRevocationListBuilder().issuer_name(ca.subject).last_update(now).next_update(now + datetime.timedelta(days=30))
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()), critical=False)
            b = b.add_extension(x509.CRLNumber(1), critical=False)
            for serial, reason in ((sys.argv[3], x509.ReasonFlags.key_compromise), (sys.argv[4], x509.ReasonFlags.remove_from_crl)):
                r = x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(now).add_extension(x509.CRLReason(reason), critical=False)
                b = b.add_revoked_certificate(r.build())
            open(sys.argv[5], "wb").write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
            """
        let made = try TestKit.run(python, ["-c", script, caDirectory + "/ca.key", pki.caCertificate, walesCert.serialHex, englandCert.serialHex, out])
        #expect(made.status == 0, "\(made.stderr)")
        let list = try RevocationList(pem: try String(contentsOfFile: out, encoding: .utf8))
        try list.verify(issuedBy: ca)
        #expect(list.revoked.map(\.serial) == [walesCert.serialHex])
        #expect(list.revokes(walesCert) && !list.revokes(englandCert))
        #expect(list.revocations.count == 1)
        // OpenSSL reads it the same way.
        let kept = try TestKit.run(openssl, ["verify", "-crl_check", "-CAfile", pki.caCertificate, "-CRLfile", out, england.certificate])
        #expect(kept.status == 0, "\(kept.stdout)\(kept.stderr)")
        let refused = try TestKit.run(openssl, ["verify", "-crl_check", "-CAfile", pki.caCertificate, "-CRLfile", out, wales.certificate])
        #expect(refused.status != 0, "\(refused.stdout)\(refused.stderr)")
        // Named by the CA's name and key: another CA of the same name is another issuer.
        #expect(list.issuer == RevocationList.issuer(of: ca))
        let other = try TestPKI()
        defer { other.remove() }
        let otherCA = try Certificate(pem: try String(contentsOfFile: other.caCertificate, encoding: .utf8))
        #expect(otherCA.commonName == ca.commonName && RevocationList.issuer(of: otherCA) != list.issuer)
    }
}
