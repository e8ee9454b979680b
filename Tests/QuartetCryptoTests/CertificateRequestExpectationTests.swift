import Foundation
import QuartetCrypto
import Testing

/// `CertificateRequestPolicy.checkExpected` on plain values: the CA holder must say whom they
/// certify, and a node listed in the federation file gets exactly its peer and api hosts.
@Suite struct CertificateRequestExpectationTests {
    func node(_ id: String, dns: [String] = [], ips: [String] = []) -> ApprovedRequest {
        ApprovedRequest(identity: .node(id), dnsNames: dns, ipAddresses: ips)
    }

    func refusal(_ approved: ApprovedRequest, _ expected: FederationIdentity?, hosts: [String]? = nil) -> CertificateRequestRefusal? {
        do { try CertificateRequestPolicy.checkExpected(approved, identity: expected, hosts: hosts); return nil } catch { return error }
    }

    @Test func withoutAnExpectedIdentityEveryRequestIsRefusedNamingWhatItAsks() {
        // Wales sends a request for England's operator certificate; the CA holder passed no flag.
        let forged = ApprovedRequest(identity: .operator("england"), dnsNames: [], ipAddresses: [])
        #expect(refusal(forged, nil) == .noExpectedIdentity(asked: "quartet://operator/england"))
        let message = CertificateRequestRefusal.noExpectedIdentity(asked: "quartet://operator/england").description
        for flag in ["--node", "--operator", "--reader", "--auditor", "quartet://operator/england"] {
            #expect(message.contains(flag), "\(message)")
        }
        #expect(refusal(node("wales", dns: ["wales.example"]), nil) == .noExpectedIdentity(asked: "quartet://node/wales"))
        #expect(refusal(forged, nil, hosts: []) == .noExpectedIdentity(asked: "quartet://operator/england"))
    }

    @Test func anotherIdentityThanTheExpectedIsRefused() {
        let forged = ApprovedRequest(identity: .operator("england"), dnsNames: [], ipAddresses: [])
        #expect(refusal(forged, .operator("wales")) == .notTheExpectedIdentity(asked: "quartet://operator/england", expected: "quartet://operator/wales"))
        #expect(refusal(forged, .node("england")) == .notTheExpectedIdentity(asked: "quartet://operator/england", expected: "quartet://node/england"))
        #expect(refusal(forged, .operator("england")) == nil)
        #expect(refusal(ApprovedRequest(identity: .reader("analyst"), dnsNames: [], ipAddresses: []), .reader("analyst")) == nil)
        #expect(refusal(ApprovedRequest(identity: .auditor("heiw"), dnsNames: [], ipAddresses: []), .auditor("hcpc"))
                == .notTheExpectedIdentity(asked: "quartet://auditor/heiw", expected: "quartet://auditor/hcpc"))
    }

    @Test func withoutAFederationFileTheHostsAreNotChecked() {
        #expect(refusal(node("wales", dns: ["anything.example"], ips: ["192.0.2.9"]), .node("wales")) == nil)
    }

    @Test func aListedNodeGetsExactlyItsPeerAndAPIHosts() {
        let hosts = ["wales.example.org", "api.wales.example.org"]
        #expect(refusal(node("wales", dns: ["wales.example.org", "api.wales.example.org"]), .node("wales"), hosts: hosts) == nil)
        // Case does not matter in host names, nor order.
        #expect(refusal(node("wales", dns: ["API.Wales.Example.org", "wales.example.org"]), .node("wales"), hosts: hosts) == nil)
        // One host for both ports, given twice: asked once.
        #expect(refusal(node("wales", dns: ["wales.example.org"]), .node("wales"), hosts: ["wales.example.org", "WALES.example.org"]) == nil)
        // Addresses compare in canonical form.
        #expect(refusal(node("wales", ips: ["2001:db8::7"]), .node("wales"), hosts: ["2001:DB8:0::7"]) == nil)
        #expect(refusal(node("wales", dns: ["wales.example.org"], ips: ["192.0.2.7"]), .node("wales"), hosts: ["wales.example.org", "192.0.2.7"]) == nil)
    }

    @Test func otherHostsAreRefusedByName() {
        let hosts = ["wales.example.org", "192.0.2.7"]
        // Wales asks for England's host as well as its own.
        let extra = refusal(node("wales", dns: ["wales.example.org", "england.example.org"], ips: ["192.0.2.7", "198.51.100.1"]), .node("wales"), hosts: hosts)
        #expect(extra == .hostsNotTheMembers(node: "wales", unexpected: ["england.example.org", "198.51.100.1"], missing: [],
                                             listed: ["wales.example.org", "192.0.2.7"]))
        let text = extra?.description ?? ""
        #expect(text.contains("england.example.org, 198.51.100.1") && text.contains("wales.example.org, 192.0.2.7"), "\(text)")
        // localhost and the loopback addresses `pki request` adds by default are not the member's hosts.
        let defaults = refusal(node("wales", dns: ["wales", "localhost"], ips: ["127.0.0.1", "::1"]), .node("wales"), hosts: hosts)
        #expect(defaults == .hostsNotTheMembers(node: "wales", unexpected: ["wales", "localhost", "127.0.0.1", "::1"],
                                                missing: ["wales.example.org", "192.0.2.7"], listed: ["wales.example.org", "192.0.2.7"]))
        // Leaving a listed host out is refused too (the certificate would not serve it).
        let missing = refusal(node("wales", dns: ["wales.example.org"]), .node("wales"), hosts: hosts)
        #expect(missing == .hostsNotTheMembers(node: "wales", unexpected: [], missing: ["192.0.2.7"], listed: ["wales.example.org", "192.0.2.7"]))
        #expect(missing?.description.contains("leaves out 192.0.2.7") == true, "\(missing?.description ?? "")")
        // Hosts are not checked for other roles (they name none; `check` refuses any).
        #expect(refusal(ApprovedRequest(identity: .operator("wales"), dnsNames: [], ipAddresses: []), .operator("wales"), hosts: hosts) == nil)
    }

    @Test func hostileHostNamesArePrintedEscaped() {
        let refusal = CertificateRequestRefusal.hostsNotTheMembers(node: "wales", unexpected: ["evil\u{1B}[2J"], missing: [], listed: ["wales.example"])
        #expect(!refusal.description.contains("\u{1B}") && refusal.description.contains("\\u{1b}"), "\(refusal.description)")
    }
}
