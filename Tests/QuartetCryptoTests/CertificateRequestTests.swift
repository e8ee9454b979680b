import Foundation
import QuartetCrypto
import QuartetTestKit
import Testing

/// `CertificateRequest` over OpenSSL, and `FederationPKI.request` / `sign` on files.
@Suite struct CertificateRequestTests {
    let walesNames = ApprovedRequest(identity: .node("wales"), dnsNames: ["wales.example", "localhost"], ipAddresses: ["192.0.2.7", "::1"])

    func refusal(_ body: () throws -> Void) -> CertificateRequestRefusal? {
        do { try body(); return nil } catch let error as CertificateRequestRefusal { return error } catch let error as RequestRefused {
            return error.refusal
        } catch { Issue.record("unexpected error \(error)"); return nil }
    }

    func unreadable(_ pem: String) -> String? {
        if case .unreadable(let why)? = refusal({ _ = try CertificateRequest(pem: pem) }) { return why }
        return nil
    }

    /// The DER inside a PEM block, changed by `edit`, as PEM again.
    func tampered(_ pem: String, _ edit: (inout [UInt8]) -> Void) throws -> String {
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        var der = [UInt8](try #require(Data(base64Encoded: body)))
        edit(&der)
        return "-----BEGIN CERTIFICATE REQUEST-----\n\(Data(der).base64EncodedString(options: .lineLength64Characters))\n-----END CERTIFICATE REQUEST-----\n"
    }

    @Test func aRequestRoundTripsThroughPEMAndPassesThePolicy() throws {
        let key = try PrivateKey.generateP256()
        let pem = try CertificateRequest.create(for: walesNames, key: key).pemRepresentation()
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE REQUEST-----"))
        let parsed = try CertificateRequest(pem: pem)
        let contents = try parsed.contents()
        #expect(contents.subject == [.init("CN", "wales")])
        #expect(contents.keyAlgorithm == "EC" && contents.keyCurve == "prime256v1")
        #expect(contents.signatureVerifies && contents.signatureAlgorithm == "ecdsa-with-SHA256")
        #expect(contents.attributes == ["extReq"] && contents.extensions == [.init("subjectAltName")])
        #expect(try CertificateRequestPolicy.check(contents) == walesNames)
    }

    @Test func anAlteredRequestFailsProofOfPossession() throws {
        let pem = try CertificateRequest.create(for: walesNames, key: try PrivateKey.generateP256()).pemRepresentation()
        // The last byte belongs to the signature's s value; CN "wales" sits in the signed part.
        let brokenSignature = try tampered(pem) { $0[$0.count - 1] ^= 0x01 }
        let der = [UInt8](try #require(Data(base64Encoded: pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined())))
        let name = Array("wales.example".utf8)
        let at = try #require((0...(der.count - name.count)).first { Array(der[$0..<$0 + name.count]) == name })
        let renamed = try tampered(pem) { $0[at] = UInt8(ascii: "e") }
        for altered in [brokenSignature, renamed] {
            let contents = try CertificateRequest(pem: altered).contents()
            #expect(!contents.signatureVerifies)
            #expect(refusal { _ = try CertificateRequestPolicy.check(contents) } == .signatureDoesNotVerify)
        }
    }

    @Test func noRequestWithOneByteChangedIsAccepted() throws {
        let pem = try CertificateRequest.create(for: walesNames, key: try PrivateKey.generateP256()).pemRepresentation()
        let der = [UInt8](try #require(Data(base64Encoded: pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined())))
        // Every position, each changed by a value from a fixed xorshift sequence (reproducible).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var parsed = 0
        for position in der.indices {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            let delta = UInt8(truncatingIfNeeded: state) | 1
            let altered = try tampered(pem) { $0[position] ^= delta }
            guard let request = try? CertificateRequest(pem: altered), let contents = try? request.contents() else { continue }
            parsed += 1
            #expect(throws: CertificateRequestRefusal.self, "byte \(position) ^ \(delta) was accepted") {
                try CertificateRequestPolicy.check(contents)
            }
        }
        #expect(parsed > der.count / 4, "most single-byte changes still decode, and each must be refused")
    }

    @Test func filesThatAreNotOneRequestAreRefusedSayingWhy() throws {
        let pem = try CertificateRequest.create(for: walesNames, key: try PrivateKey.generateP256()).pemRepresentation()
        #expect(unreadable("hello, CA")?.contains("no -----BEGIN CERTIFICATE REQUEST----- line") == true)
        #expect(unreadable(pem + String(repeating: "A", count: 70_000))?.contains("at most 65536") == true)
        #expect(unreadable(try PrivateKey.generateP256().pemRepresentation())?.contains("never send a key to the CA") == true)
        #expect(unreadable(pem + pem)?.contains("2 PEM blocks") == true)
        #expect(unreadable("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")?.contains("not a CERTIFICATE REQUEST") == true)
        #expect(unreadable("-----BEGIN CERTIFICATE REQUEST-----\nbm90IGRlcg==\n-----END CERTIFICATE REQUEST-----\n")?
            .contains("does not decode as PKCS#10") == true)
        // Text around the block (as `openssl req -text` prints) is not a second block.
        #expect(unreadable("Certificate Request:\n    Data: ...\n" + pem) == nil)
    }

    @Test func requestThenSignIssuesTheRequestedCertificateWithoutTheKey() throws {
        let dir = try TestKit.temporaryDirectory("csr-sign")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = dir.appendingPathComponent("ca").path, member = dir.appendingPathComponent("wales").path
        let inbox = dir.appendingPathComponent("inbox").path
        _ = try FederationPKI.createAuthority(in: ca)
        let files = try FederationPKI.request(.node("wales"), dnsNames: ["wales.example"], ipAddresses: ["192.0.2.7"], in: member)
        #expect(files.key == "\(member)/wales.key" && files.request == "\(member)/wales.csr")
        let mode = try FileManager.default.attributesOfItem(atPath: files.key)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Only the request travels to the CA.
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: files.request, toPath: "\(inbox)/wales.csr")
        let signed = try FederationPKI.sign(requestAt: "\(inbox)/wales.csr", caDirectory: ca, days: 30, expecting: .node("wales"))
        #expect(signed.certificate == "\(inbox)/wales.pem" && signed.caCertificate == "\(inbox)/ca.pem")
        let cert = try Certificate(pem: String(contentsOfFile: signed.certificate, encoding: .utf8))
        try cert.verify(issuedBy: try Certificate(pem: String(contentsOfFile: "\(ca)/ca.pem", encoding: .utf8)))
        #expect(cert.matches(try PrivateKey(pem: String(contentsOfFile: files.key, encoding: .utf8))))
        #expect(cert.commonName == "wales" && cert.uriNames == ["quartet://node/wales"])
        #expect(cert.dnsNames == ["wales.example"] && cert.ipAddresses == ["192.0.2.7"])
        #expect(cert.publicKeySHA256 == files.publicKeySHA256)
        #expect(!FileManager.default.fileExists(atPath: "\(inbox)/wales.key"))

        // A request for another identity than the CA holder expects is refused.
        #expect(refusal { _ = try FederationPKI.sign(requestAt: "\(inbox)/wales.csr", caDirectory: ca, in: "\(inbox)/x", expecting: .reader("wales")) }
                == .notTheExpectedIdentity(asked: "quartet://node/wales", expected: "quartet://reader/wales"))

        // Nothing is overwritten: the request, the certificate, a ca.pem of another CA.
        #expect(throws: PKIError.self) { try FederationPKI.request(.node("wales"), in: member) }
        #expect(throws: PKIError.self) { try FederationPKI.sign(requestAt: "\(inbox)/wales.csr", caDirectory: ca, expecting: .node("wales")) }
        let other = dir.appendingPathComponent("other").path
        _ = try FederationPKI.createAuthority(in: other)
        let wrongCA = try FederationPKI.request(.reader("analyst"), in: "\(dir.path)/r")
        try FileManager.default.copyItem(atPath: "\(other)/ca.pem", toPath: "\(dir.path)/r/ca.pem")
        #expect(throws: PKIError.self) { try FederationPKI.sign(requestAt: wrongCA.request, caDirectory: ca, expecting: .reader("analyst")) }
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/r/reader-analyst.pem"))
    }

    @Test func signBoundsTheLifetimeAndReadsOnlySmallTextFiles() throws {
        let dir = try TestKit.temporaryDirectory("csr-bounds")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = dir.appendingPathComponent("ca").path
        _ = try FederationPKI.createAuthority(in: ca, days: 100)
        let files = try FederationPKI.request(.operator("wales"), in: dir.path)
        for days in [0, -1, FederationPKI.maximumDays + 1] {
            #expect(throws: PKIError.self) { try FederationPKI.sign(requestAt: files.request, caDirectory: ca, days: days, expecting: .operator("wales")) }
        }
        // Longer than the CA itself lives.
        #expect(throws: PKIError.self) { try FederationPKI.sign(requestAt: files.request, caDirectory: ca, days: 365, expecting: .operator("wales")) }
        _ = try FederationPKI.sign(requestAt: files.request, caDirectory: ca, days: 90, expecting: .operator("wales"))
        // `issue` (the CA holder making the key too) keeps the same bounds, and the CA its own.
        for days in [0, FederationPKI.maximumDays + 1, 365] {
            #expect(throws: PKIError.self) { try FederationPKI.issue(.reader("long"), caDirectory: ca, in: "\(dir.path)/long-\(days)", days: days) }
        }
        _ = try FederationPKI.issue(.reader("short"), caDirectory: ca, in: "\(dir.path)/short", days: 90)
        for days in [0, FederationPKI.maximumAuthorityDays + 1, Int.max / 86_400] {
            #expect(throws: PKIError.self) { try FederationPKI.createAuthority(in: "\(dir.path)/ca-\(days)", days: days) }
        }
        // A ca.pem planted in the request's folder as a FIFO (or a link) is refused, not read.
        let inbox = dir.appendingPathComponent("inbox").path
        let planted = try FederationPKI.request(.operator("england"), in: inbox)
        #expect(mkfifo("\(inbox)/ca.pem", 0o644) == 0)
        #expect(throws: PKIError.self) { try FederationPKI.sign(requestAt: planted.request, caDirectory: ca, days: 30, expecting: .operator("england")) }
        try FileManager.default.removeItem(atPath: "\(inbox)/ca.pem")
        #expect(symlink("\(ca)/ca.pem", "\(inbox)/ca.pem") == 0)
        #expect(throws: PKIError.self) { try FederationPKI.sign(requestAt: planted.request, caDirectory: ca, days: 30, expecting: .operator("england")) }

        let big = dir.appendingPathComponent("big.csr").path
        try Data(repeating: 0x41, count: CertificateRequest.maximumPEMBytes + 1).write(to: URL(fileURLWithPath: big))
        guard case .unreadable(let why)? = refusal({ _ = try FederationPKI.sign(requestAt: big, caDirectory: ca, expecting: .operator("wales")) }) else {
            Issue.record("an oversized file was not refused as unreadable"); return
        }
        #expect(why.contains("65537 bytes"), "\(why)")
        let der = dir.appendingPathComponent("der.csr").path
        try Data([0x30, 0x82, 0x01, 0x00, 0x00, 0xFF]).write(to: URL(fileURLWithPath: der))
        guard case .unreadable(let derWhy)? = refusal({ _ = try FederationPKI.sign(requestAt: der, caDirectory: ca, expecting: .operator("wales")) }) else {
            Issue.record("a binary file was not refused as unreadable"); return
        }
        #expect(derWhy.contains("not PEM text"), "\(derWhy)")
        guard case .unreadable(let dirWhy)? = refusal({ _ = try FederationPKI.sign(requestAt: dir.path, caDirectory: ca, expecting: .operator("wales")) }) else {
            Issue.record("a directory was not refused as unreadable"); return
        }
        #expect(dirWhy.contains("not a regular file"), "\(dirWhy)")
    }

    @Test func requestRefusesNamesItsRoleMayNotHave() throws {
        let dir = try TestKit.temporaryDirectory("csr-names")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(refusal { _ = try FederationPKI.request(.reader("analyst"), dnsNames: ["analyst.example"], in: dir.path) }
                == .namesNotForRole(role: "reader", name: .dns("analyst.example")))
        #expect(refusal { _ = try FederationPKI.request(.node("wales"), dnsNames: ["bad_name"], in: dir.path) }
                == .invalidDNSName("bad_name", reason: "only letters, digits, - and . may appear"))
        #expect(throws: PKIError.self) { try FederationPKI.request(.node("Wales"), in: dir.path) }
        // Nothing was written by the refused requests.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}

/// A certificate's identity: exactly one `quartet:` URI, which parses (finding 228).
@Suite struct CertificateIdentityTests {
    @Test func exactlyOneQuartetURIWhichParses() {
        #expect(FederationIdentity(uriNames: ["quartet://node/wales"]) == .node("wales"))
        #expect(FederationIdentity(uriNames: ["https://wales.example/", "quartet://operator/wales"]) == .operator("wales"))
        // A second quartet: URI, parsed or not, refuses the certificate.
        for second in ["QUARTET://operator/england", "quartet://node/England", "quartet://node/wales", "quartet://reader/x", "quartet:node/x"] {
            #expect(FederationIdentity(uriNames: ["quartet://node/wales", second]) == nil, "\(second)")
        }
        #expect(FederationIdentity(uriNames: ["Quartet://node/wales"]) == nil)
        #expect(FederationIdentity(uriNames: []) == nil)
    }
}
