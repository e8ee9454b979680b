import Foundation
import QuartetCrypto
import Testing

/// `CertificateRequestPolicy.check` on plain values: every refusal, without OpenSSL or files.
@Suite struct CertificateRequestPolicyTests {
    typealias Contents = CertificateRequestContents

    /// A request the policy accepts: node wales with one DNS name and one address.
    func wales(_ change: (inout Contents) -> Void = { _ in }) -> Contents {
        var contents = Contents(subject: [.init("CN", "wales")],
                                alternativeNames: [.uri("quartet://node/wales"), .dns("wales.example"), .ip("192.0.2.7")])
        change(&contents)
        return contents
    }

    func reader(_ names: [GeneralName] = []) -> Contents {
        Contents(subject: [.init("CN", "reader-analyst")], alternativeNames: [.uri("quartet://reader/analyst")] + names)
    }

    func refusal(_ contents: Contents) -> CertificateRequestRefusal? {
        do { _ = try CertificateRequestPolicy.check(contents); return nil } catch { return error }
    }

    @Test func aNodeRequestIsApprovedWithItsNames() throws {
        let approved = try CertificateRequestPolicy.check(wales())
        #expect(approved == ApprovedRequest(identity: .node("wales"), dnsNames: ["wales.example"], ipAddresses: ["192.0.2.7"]))
        #expect(approved.alternativeNames == [.uri("quartet://node/wales"), .dns("wales.example"), .ip("192.0.2.7")])
        // A node may ask for no host names at all, and every role for its identity alone.
        #expect(try CertificateRequestPolicy.check(wales { $0.alternativeNames = [.uri("quartet://node/wales")] }).dnsNames == [])
        #expect(try CertificateRequestPolicy.check(reader()).identity == .reader("analyst"))
        let auditor = Contents(subject: [.init("CN", "auditor-heiw")], alternativeNames: [.uri("quartet://auditor/heiw")])
        #expect(try CertificateRequestPolicy.check(auditor).identity == .auditor("heiw"))
        let op = Contents(subject: [.init("CN", "operator-wales")], attributes: [], extensions: [.init("subjectAltName", critical: true)],
                          alternativeNames: [.uri("quartet://operator/wales")])
        #expect(try CertificateRequestPolicy.check(op).identity == .operator("wales"))
    }

    @Test func proofOfPossessionKeyAndSignatureAlgorithm() {
        #expect(refusal(wales { $0.signatureVerifies = false }) == .signatureDoesNotVerify)
        #expect(refusal(wales { $0.version = 2 }) == .version(2))
        #expect(refusal(wales { $0.keyAlgorithm = "RSA"; $0.keyCurve = nil }) == .keyType(algorithm: "RSA", curve: nil))
        #expect(refusal(wales { $0.keyCurve = "secp384r1" }) == .keyType(algorithm: "EC", curve: "secp384r1"))
        #expect(refusal(wales { $0.keyAlgorithm = "ED25519"; $0.keyCurve = nil }) == .keyType(algorithm: "ED25519", curve: nil))
        #expect(refusal(wales { $0.signatureAlgorithm = "ecdsa-with-SHA1" }) == .signatureAlgorithm("ecdsa-with-SHA1"))
        // A broken signature is reported before anything else it asks for.
        #expect(refusal(wales { $0.signatureVerifies = false; $0.keyAlgorithm = "RSA" }) == .signatureDoesNotVerify)
        #expect(CertificateRequestRefusal.signatureDoesNotVerify.description.contains("it was not made with the key it carries"))
    }

    @Test func onlyASubjectAltNameExtensionMayBeRequested() {
        #expect(refusal(wales { $0.attributes = ["challengePassword", "extReq"] }) == .attribute("challengePassword"))
        #expect(refusal(wales { $0.attributes = ["extReq", "extReq"] }) == .attribute("extReq"))
        #expect(refusal(wales { $0.attributes = ["msExtReq"] }) == .attribute("msExtReq"))
        for name in ["basicConstraints", "keyUsage", "extendedKeyUsage", "nameConstraints", "1.2.3.4"] {
            #expect(refusal(wales { $0.extensions = [.init("subjectAltName"), .init(name, critical: true)] }) == .extensionNotAllowed(name))
        }
        #expect(refusal(wales { $0.extensions = [.init("subjectAltName"), .init("subjectAltName")] }) == .duplicateExtension("subjectAltName"))
        #expect(CertificateRequestRefusal.extensionNotAllowed("basicConstraints").description.contains("CA:FALSE"))
    }

    @Test func exactlyOneValidIdentityAndNoOtherKindsOfName() {
        #expect(refusal(wales { $0.alternativeNames = [.dns("wales.example")] }) == .noIdentity)
        #expect(refusal(wales { $0.alternativeNames.append(.uri("quartet://node/england")) })
                == .severalIdentities(["quartet://node/wales", "quartet://node/england"]))
        for uri in ["quartet://node/Wales", "quartet://node/", "quartet://admin/wales", "quartet://node/wales/extra", "quartet://node/-x"] {
            #expect(refusal(wales { $0.alternativeNames[0] = .uri(uri) }) == .invalidIdentity(uri))
        }
        for name: GeneralName in [.email("ops@wales.example"), .uri("https://wales.example/"), .other(kind: "directoryName"), .other(kind: "otherName")] {
            #expect(refusal(wales { $0.alternativeNames.append(name) }) == .nameKindNotAllowed(name))
        }
    }

    @Test func theSubjectIsExactlyTheIdentitysCommonName() {
        #expect(refusal(wales { $0.subject = [.init("CN", "wales"), .init("O", "Acme")] })
                == .subjectField(field: "O", value: "Acme", expected: "wales"))
        #expect(refusal(wales { $0.subject = [.init("emailAddress", "a@b.example"), .init("CN", "wales")] })
                == .subjectField(field: "emailAddress", value: "a@b.example", expected: "wales"))
        #expect(refusal(wales { $0.subject = [.init("CN", "england")] })
                == .commonName(identity: "quartet://node/wales", expected: "wales", found: ["england"]))
        #expect(refusal(wales { $0.subject = [] }) == .commonName(identity: "quartet://node/wales", expected: "wales", found: []))
        #expect(refusal(wales { $0.subject = [.init("CN", "wales"), .init("CN", "wales")] })
                == .commonName(identity: "quartet://node/wales", expected: "wales", found: ["wales", "wales"]))
        // An operator's CN is operator-LOG, not the log's name.
        let op = Contents(subject: [.init("CN", "wales")], alternativeNames: [.uri("quartet://operator/wales")])
        #expect(refusal(op) == .commonName(identity: "quartet://operator/wales", expected: "operator-wales", found: ["wales"]))
    }

    @Test func onlyNodesNameHosts() {
        #expect(refusal(reader([.dns("analyst.example")])) == .namesNotForRole(role: "reader", name: .dns("analyst.example")))
        #expect(refusal(reader([.ip("192.0.2.1")])) == .namesNotForRole(role: "reader", name: .ip("192.0.2.1")))
        let op = Contents(subject: [.init("CN", "operator-wales")], alternativeNames: [.uri("quartet://operator/wales"), .ip("::1")])
        #expect(refusal(op) == .namesNotForRole(role: "operator", name: .ip("::1")))
        let auditor = Contents(subject: [.init("CN", "auditor-heiw")], alternativeNames: [.uri("quartet://auditor/heiw"), .dns("heiw.example")])
        #expect(refusal(auditor) == .namesNotForRole(role: "auditor", name: .dns("heiw.example")))
        #expect(CertificateRequestRefusal.namesNotForRole(role: "reader", name: .dns("x")).description
                .hasPrefix("the CSR asks for DNS name x but reader certificates carry no DNS names"))
    }

    @Test func dnsNamesMustBeHostNames() {
        let bad = ["", "wales..example", "-wales.example", "wales-.example", "wales_db.example", "*.wales.example", "wales.example.",
                   String(repeating: "a", count: 64) + ".example", Array(repeating: "abcdefghi", count: 26).joined(separator: "."),
                   "10.0.0.1", "wales\u{0}.example", "wälës.example", "wales example", "wales.example,DNS:evil.example"]
        for name in bad {
            let found = refusal(wales { $0.alternativeNames[1] = .dns(name) })
            guard case .invalidDNSName(let refused, let reason)? = found else {
                Issue.record("\(name.debugDescription) was not refused as a DNS name: \(String(describing: found))")
                continue
            }
            #expect(refused == name && !reason.isEmpty)
        }
        let good = ["wales", "WALES.Example", "a-b.c-d.example", "x1.example", String(repeating: "a", count: 63) + ".example",
                    "node-7.ot.nhs.wales"]
        for name in good {
            #expect(refusal(wales { $0.alternativeNames[1] = .dns(name) }) == nil, "\(name)")
        }
        #expect(CertificateRequestPolicy.dnsNameProblem(Array(repeating: "abcdefghi", count: 25).joined(separator: ".")) == nil) // 249 characters
    }

    @Test func ipAddressesMustBeHostAddresses() throws {
        for address in ["300.1.1.1", "0.0.0.0", "::", "<5 bytes>", "fe80::1%eth0", "wales", "1.2.3", "", "255.255.255.255", "::ffff:0.0.0.0", "224.0.0.1", "ff02::1", "::ffff:255.255.255.255"] {
            #expect(refusal(wales { $0.alternativeNames[2] = .ip(address) }) == .invalidIPAddress(address), "\(address)")
        }
        let approved = try CertificateRequestPolicy.check(wales { $0.alternativeNames[2] = .ip("2001:DB8:0:0::1") })
        #expect(approved.ipAddresses == ["2001:db8::1"])
        #expect(CertificateRequestPolicy.canonicalIPAddress("10.1.2.3") == "10.1.2.3")
        #expect(CertificateRequestPolicy.canonicalIPAddress("::ffff:10.1.2.3") != nil && CertificateRequestPolicy.canonicalIPAddress("127.0.0.1") == "127.0.0.1")
    }

    @Test func namesAreBoundedAndNotRepeated() {
        let dns = (0...CertificateRequestPolicy.maximumDNSNames).map { GeneralName.dns("h\($0).example") }
        #expect(refusal(wales { $0.alternativeNames = [.uri("quartet://node/wales")] + dns })
                == .tooManyNames(kind: "DNS names", count: 17, limit: 16))
        #expect(refusal(wales { $0.alternativeNames = [.uri("quartet://node/wales")] + dns.dropLast() }) == nil)
        let ips = (0...CertificateRequestPolicy.maximumIPAddresses).map { GeneralName.ip("192.0.2.\($0 + 1)") }
        #expect(refusal(wales { $0.alternativeNames = [.uri("quartet://node/wales")] + ips })
                == .tooManyNames(kind: "IP addresses", count: 17, limit: 16))
        #expect(refusal(wales { $0.alternativeNames.append(.dns("Wales.Example")) }) == .duplicateName(.dns("Wales.Example")))
        #expect(refusal(wales { $0.alternativeNames = [.uri("quartet://node/wales"), .ip("::1"), .ip("0:0::1")] }) == .duplicateName(.ip("::1")))
    }

    @Test func refusalsPrintHostileTextEscapedAndBounded() {
        let text = CertificateRequestRefusal.invalidDNSName("a\u{1b}[2J" + String(repeating: "x", count: 500), reason: "r").description
        #expect(!text.contains("\u{1b}"))
        #expect(text.contains("\\u{1b}"))
        #expect(text.count < 300)
    }
}
