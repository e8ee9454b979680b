import Foundation
import QuartetTestKit
import Testing

/// `quartet pki request` and `quartet pki sign`, checked with OpenSSL's own tools, and requests
/// made by `openssl req` accepted or refused.
@Suite(.serialized) struct PKIOnboardingTests {
    func openssl(_ arguments: [String]) throws -> TestKit.ProcessResult {
        try TestKit.run(try #require(TestKit.which("openssl")), arguments)
    }

    /// A CA in `dir/ca`.
    func makeCA(_ dir: URL) throws -> String {
        let ca = dir.appendingPathComponent("ca").path
        _ = try object(["pki", "init", "--out", ca])
        return ca
    }

    /// A key and request made by `openssl req` (P-256 unless `newkey` says otherwise).
    func opensslRequest(_ dir: URL, _ name: String, subject: String, extensions: [String], newkey: [String] = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]) throws -> String {
        let csr = dir.appendingPathComponent("\(name).csr").path
        var arguments = ["req", "-new", "-newkey"] + newkey + ["-subj", subject, "-nodes", "-keyout", dir.appendingPathComponent("\(name).key").path, "-out", csr]
        for ext in extensions { arguments += ["-addext", ext] }
        let made = try openssl(arguments)
        #expect(made.status == 0, "\(made.stderr)")
        return csr
    }

    @Test func requestThenSignGivesACertificateOpenSSLVerifiesWithTheAskedNames() throws {
        let dir = try TestKit.temporaryDirectory("pki-onboard")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = try makeCA(dir), member = dir.appendingPathComponent("wales").path
        let asked = try object(["pki", "request", "--node", "wales", "--dns", "wales.example", "--dns", "ot.wales.example",
                                "--ip", "192.0.2.7", "--ip", "2001:DB8::7", "--out", member])
        #expect(asked["send"] as? [String] == ["\(member)/wales.csr"])
        #expect(asked["ip_addresses"] as? [String] == ["192.0.2.7", "2001:db8::7"])
        let key = try #require(asked["key"] as? String)
        #expect(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int == 0o600)
        let checked = try openssl(["req", "-in", "\(member)/wales.csr", "-noout", "-verify"])
        #expect(checked.status == 0, "\(checked.stderr)")

        // A node not yet in the federation file: its hosts from the member's own message, each
        // given with --host; a request naming others (or fewer) is refused, nothing written.
        let hosts = ["wales.example", "ot.wales.example", "192.0.2.7", "2001:db8::7"]
        for wrong in [Array(hosts.dropLast()), hosts + ["england.example"], ["wales.example", "OT.wales.example", "192.0.2.7", "2001:0db8:0::7"]] {
            let refused = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(member)/wales.csr", "--node", "wales", "--days", "30"]
                                              + wrong.flatMap { ["--host", $0] })
            if wrong.last == "2001:0db8:0::7" {
                // The same hosts, written otherwise (case, address form): not a difference.
                #expect(refused.status == 0, "\(refused)")
                try FileManager.default.removeItem(atPath: "\(member)/wales.pem")
                try FileManager.default.removeItem(atPath: "\(member)/ca.pem")
                continue
            }
            #expect(refused.status != 0 && !FileManager.default.fileExists(atPath: "\(member)/wales.pem"), "\(wrong): \(refused)")
        }
        let operatorHost = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(member)/wales.csr", "--operator", "wales", "--host", "wales.example"])
        #expect(operatorHost.status != 0 && operatorHost.stderr.contains("--host is for a node"), "\(operatorHost)")
        let unchecked = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(member)/wales.csr", "--node", "wales", "--days", "30", "--format", "json"])
        #expect(unchecked.status == 0 && unchecked.stderr.contains("were not checked") && unchecked.stderr.contains("ot.wales.example"), "\(unchecked)")
        let signed = try #require(try JSONSerialization.jsonObject(with: Data(unchecked.stdout.utf8)) as? [String: Any])
        let certificate = "\(member)/wales.pem"
        #expect(signed["certificate"] as? String == certificate && signed["ca_certificate"] as? String == "\(member)/ca.pem")
        #expect(signed["identity"] as? String == "quartet://node/wales" && signed["subject"] as? String == "CN=wales")
        #expect(signed["dns_names"] as? [String] == ["wales.example", "ot.wales.example"])
        #expect(signed["public_key_sha256"] as? String == asked["public_key_sha256"] as? String)

        let verified = try openssl(["verify", "-CAfile", "\(ca)/ca.pem", certificate])
        #expect(verified.status == 0 && verified.stdout.contains(": OK"), "\(verified.stdout) \(verified.stderr)")
        for purpose in ["sslserver", "sslclient"] {
            let result = try openssl(["verify", "-purpose", purpose, "-CAfile", "\(member)/ca.pem", certificate])
            #expect(result.status == 0, "\(purpose): \(result.stdout) \(result.stderr)")
        }
        let names = try openssl(["x509", "-in", certificate, "-noout", "-ext", "subjectAltName"])
        for name in ["URI:quartet://node/wales", "DNS:wales.example", "DNS:ot.wales.example", "IP Address:192.0.2.7", "IP Address:2001:DB8:0:0:0:0:0:7"] {
            #expect(names.stdout.contains(name), "\(name) missing from \(names.stdout)")
        }
        let fingerprint = try openssl(["x509", "-in", certificate, "-noout", "-fingerprint", "-sha256"])
        #expect(fingerprint.stdout.contains(try #require(signed["sha256_fingerprint"] as? String)), "\(fingerprint.stdout)")
        let keyPublic = try openssl(["pkey", "-in", key, "-pubout"]), certPublic = try openssl(["x509", "-in", certificate, "-noout", "-pubkey"])
        #expect(keyPublic.status == 0 && keyPublic.stdout == certPublic.stdout)
        // The CA's own extensions: an end entity, not a CA.
        let text = try openssl(["x509", "-in", certificate, "-noout", "-text"])
        #expect(text.stdout.contains("CA:FALSE") && text.stdout.contains("Digital Signature"), "\(text.stdout)")

        // Nothing is overwritten: a second request or signature into the same place is refused.
        let again = try TestKit.quartet(["pki", "request", "--node", "wales", "--out", member])
        #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again.stderr)")
        let resign = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", "\(member)/wales.csr", "--node", "wales"])
        #expect(resign.status != 0 && resign.stderr.contains("already exists"), "\(resign.stderr)")
    }

    @Test func aRequestMadeByOpenSSLIsAccepted() throws {
        let dir = try TestKit.temporaryDirectory("pki-openssl-req")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = try makeCA(dir)
        let csr = try opensslRequest(dir, "wales", subject: "/CN=wales", extensions: ["subjectAltName=URI:quartet://node/wales,DNS:wales.example"])
        let out = dir.appendingPathComponent("issued").path
        let signed = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", csr, "--node", "wales", "--out", out])
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(signed.stdout.contains("SHA-256 fingerprint:") && signed.stdout.contains("identity:    quartet://node/wales"), "\(signed.stdout)")
        let verified = try openssl(["verify", "-CAfile", "\(ca)/ca.pem", "\(out)/wales.pem"])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        let names = try openssl(["x509", "-in", "\(out)/wales.pem", "-noout", "-ext", "subjectAltName"])
        #expect(names.stdout.contains("URI:quartet://node/wales") && names.stdout.contains("DNS:wales.example"), "\(names.stdout)")
        #expect(!names.stdout.contains("localhost"), "only the asked names: \(names.stdout)")
        // What was printed is the certificate issued (as made, not read back from the output
        // directory: finding 210), and the CA keeps a record of it for a later revocation.
        let serial = try openssl(["x509", "-in", "\(out)/wales.pem", "-noout", "-serial"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
        #expect(signed.stdout.contains("serial:      \(serial)"), "\(signed.stdout) \(serial)")
        let record = try String(contentsOfFile: "\(ca)/issued.txt", encoding: .utf8)
        #expect(record.contains("serial=\(serial) identity=quartet://node/wales"), "\(record)")
        #expect(try FileManager.default.attributesOfItem(atPath: "\(ca)/issued.txt")[.posixPermissions] as? Int == 0o600)
        // Signed again into the same place: refused before anything is recorded.
        let again = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", csr, "--node", "wales", "--out", out])
        #expect(again.status != 0 && again.stderr.contains("already exists"), "\(again)")
        #expect(try String(contentsOfFile: "\(ca)/issued.txt", encoding: .utf8) == record)
        // A record with a second name (a hard link made beforehand) is refused.
        try FileManager.default.linkItem(atPath: "\(ca)/issued.txt", toPath: dir.appendingPathComponent("linked.txt").path)
        let linked = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", csr, "--node", "wales", "--out", dir.appendingPathComponent("issued-2").path])
        #expect(linked.status != 0 && linked.stderr.contains("no hard links"), "\(linked)")
    }

    @Test func requestsAskingForMoreThanTheirRoleAllowsAreRefused() throws {
        let dir = try TestKit.temporaryDirectory("pki-refused")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = try makeCA(dir)
        let san = "subjectAltName=URI:quartet://node/wales"
        let cases: [(String, String, [String], [String], String)] = [
            ("ca-true", "/CN=wales", [san, "basicConstraints=critical,CA:TRUE"], [], "asks for the basicConstraints extension"),
            ("email", "/CN=wales", [san + ",email:ops@wales.example"], [], "asks for the name email:ops@wales.example"),
            ("reader-dns", "/CN=reader-analyst", ["subjectAltName=URI:quartet://reader/analyst,DNS:analyst.example"], [],
             "asks for DNS name analyst.example but reader certificates carry no DNS names"),
            ("subject", "/CN=wales/O=Acme", [san], [], "subject has O=Acme"),
            ("cn", "/CN=england", [san], [], "needs exactly CN=wales"),
            ("no-identity", "/CN=wales", ["subjectAltName=DNS:wales.example"], [], "names no identity"),
            ("rsa", "/CN=wales", [san], ["rsa:2048"], "CSR's key is RSA"),
        ]
        for (name, subject, extensions, newkey, message) in cases {
            let csr = try newkey.isEmpty ? opensslRequest(dir, name, subject: subject, extensions: extensions)
                : opensslRequest(dir, name, subject: subject, extensions: extensions, newkey: newkey)
            let out = dir.appendingPathComponent("out-\(name)")
            let result = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", csr, "--out", out.path])
            #expect(result.status != 0, "\(name) was signed")
            #expect(result.stderr.contains(message) && result.stderr.contains(csr), "\(name): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out.path), "\(name) wrote files")
        }
        // The CA holder names whom they mean to certify: a request for anyone else is refused.
        let wales = try opensslRequest(dir, "wales", subject: "/CN=wales", extensions: [san])
        let wrong = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", wales, "--node", "england", "--out", dir.appendingPathComponent("w").path])
        #expect(wrong.status != 0 && wrong.stderr.contains("asks for quartet://node/wales but the CA was told to sign quartet://node/england"),
                "\(wrong.stderr)")
        let right = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", wales, "--node", "wales", "--out", dir.appendingPathComponent("w").path])
        #expect(right.status == 0, "\(right.stderr)")

        // The role check on the member's own host, before any key is made.
        let reader = try TestKit.quartet(["pki", "request", "--reader", "analyst", "--dns", "analyst.example", "--out", dir.appendingPathComponent("r").path])
        #expect(reader.status != 0 && reader.stderr.contains("reader certificates carry no DNS names"), "\(reader.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("r").path))
    }

    @Test func readerCertificatesAreForClientsOnly() throws {
        let dir = try TestKit.temporaryDirectory("pki-reader")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = try makeCA(dir), out = dir.appendingPathComponent("analyst").path
        let asked = try TestKit.quartet(["pki", "request", "--reader", "analyst", "--out", out])
        #expect(asked.status == 0 && asked.stdout.contains("Send \(out)/reader-analyst.csr (only that file)"), "\(asked.stdout) \(asked.stderr)")
        _ = try object(["pki", "sign", "--ca", ca, "--csr", "\(out)/reader-analyst.csr", "--reader", "analyst"])
        let certificate = "\(out)/reader-analyst.pem"
        #expect(try openssl(["verify", "-purpose", "sslclient", "-CAfile", "\(ca)/ca.pem", certificate]).status == 0)
        #expect(try openssl(["verify", "-purpose", "sslserver", "-CAfile", "\(ca)/ca.pem", certificate]).status != 0)
        let names = try openssl(["x509", "-in", certificate, "-noout", "-ext", "subjectAltName"])
        #expect(names.stdout.contains("URI:quartet://reader/analyst") && !names.stdout.contains("DNS:"), "\(names.stdout)")
    }

    @Test func damagedOversizedAndWrongFilesAreRefusedClearly() throws {
        let dir = try TestKit.temporaryDirectory("pki-damaged")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = try makeCA(dir)
        let csr = try opensslRequest(dir, "wales", subject: "/CN=wales", extensions: ["subjectAltName=URI:quartet://node/wales"])
        // Flip one bit of the signature (the DER's last byte) and write the request back.
        let pem = try String(contentsOfFile: csr, encoding: .utf8)
        var der = [UInt8](try #require(Data(base64Encoded: pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined())))
        der[der.count - 1] ^= 0x01
        let broken = dir.appendingPathComponent("broken.csr").path
        try ("-----BEGIN CERTIFICATE REQUEST-----\n" + Data(der).base64EncodedString(options: .lineLength64Characters)
             + "\n-----END CERTIFICATE REQUEST-----\n").write(toFile: broken, atomically: true, encoding: .utf8)
        // OpenSSL agrees (3.0 reports the failure but exits 0; later versions exit 1).
        let opensslCheck = try openssl(["req", "-in", broken, "-noout", "-verify"])
        #expect(opensslCheck.status != 0 || (opensslCheck.stdout + opensslCheck.stderr).contains("verify failure"), "\(opensslCheck.stderr)")

        let big = dir.appendingPathComponent("big.csr").path
        try Data(repeating: 0x41, count: 70_000).write(to: URL(fileURLWithPath: big))
        let garbage = dir.appendingPathComponent("garbage.csr").path
        try "please sign me\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        for (file, message) in [(broken, "the CSR's signature does not verify: it was not made with the key it carries"),
                                (big, "the CA reads at most 65536"), (garbage, "no -----BEGIN CERTIFICATE REQUEST----- line"),
                                (dir.appendingPathComponent("wales.key").path, "never send a key to the CA"),
                                (dir.appendingPathComponent("missing.csr").path, "cannot open it")] {
            let result = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", file, "--node", "wales", "--out", dir.appendingPathComponent("out").path])
            #expect(result.status != 0 && result.stderr.contains(message), "\(file): \(result.stderr)")
        }
        let tooLong = try TestKit.quartet(["pki", "sign", "--ca", ca, "--csr", csr, "--node", "wales", "--days", "1000"])
        #expect(tooLong.status != 0 && tooLong.stderr.contains("outside 1-825"), "\(tooLong.stderr)")
    }
}
