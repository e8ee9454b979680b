import Foundation
@testable import QuartetCrypto
import Testing

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
private func unhex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16)!)
        i = j
    }
    return out
}

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func partsEqualConcatenation() {
        let a: [UInt8] = [1, 2, 3], b: [UInt8] = Array(repeating: 9, count: 100)
        let parts = a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in SHA256.hash(parts: [pa, pb]) } }
        #expect(parts == SHA256.hash(a + b))
        #expect(SHA256.hash(prefix: 0x00, a) == SHA256.hash([0x00] + a))
    }
}

@Suite struct Ed25519Tests {
    /// The points of order dividing 8 (y, little-endian; computed with RFC 8032 arithmetic as
    /// the eight multiples of an order-8 point) and the non-canonical encodings of y = 0 and 1.
    static let smallOrderY = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ]

    @Test func keysAnyoneCouldSignForAreRefused() throws {
        for y in Self.smallOrderY {
            for sign: UInt8 in [0, 0x80] {
                var raw = unhex(y)
                raw[31] |= sign
                #expect(throws: CryptoError.self, "\(raw)") { try Ed25519PublicKey(rawRepresentation: raw) }
            }
        }
        // Any y from p up (not canonical): y = p + 5 here.
        #expect(throws: CryptoError.self) { try Ed25519PublicKey(rawRepresentation: [0xF2] + [UInt8](repeating: 0xFF, count: 30) + [0x7F]) }
        // Real keys, and keys one bit away from the list, are taken.
        for _ in 0..<200 { _ = try Ed25519PublicKey(rawRepresentation: try Ed25519PrivateKey().publicKey.rawRepresentation) }
        _ = try Ed25519PublicKey(rawRepresentation: [2] + [UInt8](repeating: 0, count: 31))
        _ = try Ed25519PublicKey(rawRepresentation: [0xEC] + [UInt8](repeating: 0xFF, count: 30) + [0x3F])
    }

    // RFC 8032 section 7.1, TEST 1 and TEST 2.
    @Test func rfc8032Vectors() throws {
        let key = try Ed25519PrivateKey(rawRepresentation: unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
        #expect(hex(key.publicKey.rawRepresentation) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let sig = try key.signature(for: [])
        #expect(hex(sig) == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(key.publicKey.isValidSignature(sig, for: []))

        let key2 = try Ed25519PrivateKey(rawRepresentation: unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"))
        #expect(hex(key2.publicKey.rawRepresentation) == "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
        #expect(hex(try key2.signature(for: [0x72])) == "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
    }

    @Test func tamperingIsRejected() throws {
        let key = try Ed25519PrivateKey()
        let message = Array("checkpoint".utf8)
        let sig = try key.signature(for: message)
        #expect(key.publicKey.isValidSignature(sig, for: message))
        var badSig = sig
        badSig[10] ^= 1
        #expect(!key.publicKey.isValidSignature(badSig, for: message))
        #expect(!key.publicKey.isValidSignature(sig, for: message + [0]))
        #expect(!key.publicKey.isValidSignature(Array(sig.prefix(63)), for: message))
        #expect(!(try Ed25519PrivateKey()).publicKey.isValidSignature(sig, for: message))
    }

    /// Verifications are answered from a memo of recent valid triples: a signature that
    /// verified once still verifies, and nothing that differs in key, signature or message is
    /// answered from the memo, also when many threads verify at once with one key.
    @Test func repeatedAndConcurrentVerificationsStayExact() async throws {
        let key = try Ed25519PrivateKey()
        let other = try Ed25519PrivateKey().publicKey
        let messages = (0..<64).map { Array("checkpoint \($0)".utf8) }
        let signatures = try messages.map { try key.signature(for: $0) }
        let results = await withTaskGroup(of: [Bool].self) { group in
            for round in 0..<8 {
                group.addTask {
                    var out: [Bool] = []
                    for (i, message) in messages.enumerated() {
                        var tampered = signatures[i]
                        tampered[(i + round) % 64] ^= 1
                        out.append(key.publicKey.isValidSignature(signatures[i], for: message))
                        out.append(!key.publicKey.isValidSignature(tampered, for: message))
                        out.append(!key.publicKey.isValidSignature(signatures[i], for: message + [UInt8(round)]))
                        out.append(!other.isValidSignature(signatures[i], for: message))
                        out.append(!key.publicKey.isValidSignature(signatures[(i + 1) % 64], for: message))
                    }
                    return out
                }
            }
            var all: [Bool] = []
            for await part in group { all += part }
            return all
        }
        #expect(results.count == 8 * 64 * 5)
        #expect(results.allSatisfy { $0 })
        // RFC 8032 TEST 2 under a key only ever seen as public bytes.
        let public2 = try Ed25519PublicKey(rawRepresentation: unhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"))
        let signature2 = unhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
        #expect(public2.isValidSignature(signature2, for: [0x72]))
        #expect(public2.isValidSignature(signature2, for: [0x72]))
        #expect(!public2.isValidSignature(signature2, for: [0x73]))
    }

    /// The memo keeps at most `RecentlyVerified.limit` digests and forgets the oldest first.
    @Test func theMemoOfVerifiedSignaturesIsBounded() {
        let memo = RecentlyVerified()
        let digests = (0..<(RecentlyVerified.limit + 10)).map { SHA256.hash(Array("triple \($0)".utf8)) }
        for digest in digests { memo.insert(digest) }
        memo.insert(digests.last!)
        #expect(memo.count == RecentlyVerified.limit)
        #expect(digests.prefix(10).allSatisfy { !memo.contains($0) })
        #expect(digests.dropFirst(10).allSatisfy { memo.contains($0) })
    }

    /// A durable write creates with the mode asked and refuses to go over a file or through a
    /// symlink unless replacing; replacing renames a finished copy over the old file; a file a
    /// user left beside it under the old fixed name is not touched, and no copy is left behind.
    @Test func aDurableWriteReplacesWholeAndNeverThroughALink() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("durable-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/key.pem"
        try RegularFile.writeDurably(Array("one\n".utf8), to: path)
        #expect(try RegularFile.readText(path, limit: 100) == "one\n")
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
        #expect(throws: RegularFile.WriteFailure.self) { try RegularFile.writeDurably(Array("two\n".utf8), to: path) }
        #expect(try RegularFile.readText(path, limit: 100) == "one\n")
        // A link beside it, where the old fixed name for the copy was: neither followed nor removed.
        let elsewhere = directory + "/elsewhere"
        try Data("untouched\n".utf8).write(to: URL(fileURLWithPath: elsewhere))
        #expect(symlink(elsewhere, path + ".partial") == 0)
        try RegularFile.writeDurably(Array("two\n".utf8), to: path, mode: 0o640, replacing: true)
        #expect(try RegularFile.readText(path, limit: 100) == "two\n")
        #expect(try RegularFile.readText(elsewhere, limit: 100) == "untouched\n")
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o640)
        // A symlink where the file goes, dangling or not: refused when creating, replaced (not
        // followed) when replacing.
        let link = directory + "/link.pem", dangling = directory + "/dangling.pem"
        #expect(symlink(elsewhere, link) == 0 && symlink(directory + "/nothing", dangling) == 0)
        #expect(throws: RegularFile.WriteFailure.self) { try RegularFile.writeDurably(Array("three\n".utf8), to: link) }
        #expect(throws: RegularFile.WriteFailure.self) { try RegularFile.writeDurably(Array("three\n".utf8), to: dangling) }
        #expect(!FileManager.default.fileExists(atPath: directory + "/nothing"))
        try RegularFile.writeDurably(Array("three\n".utf8), to: link, replacing: true)
        #expect(try RegularFile.readText(elsewhere, limit: 100) == "untouched\n")
        #expect(try RegularFile.readText(link, limit: 100, followSymlinks: false) == "three\n")
        // No copy is left beside any of them.
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".partial-") }
        #expect(left.isEmpty, "\(left)")
    }

    /// A record appended to is a regular file: a planted link is not followed and a planted
    /// FIFO is refused at once (it would block the open, and whoever holds a lock meanwhile).
    @Test func anAppendOpensNoLinkAndNoFIFO() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("append-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let record = directory + "/record"
        #expect(RegularFile.openForAppending(record, create: false) < 0 && errno == ENOENT)
        let fd = RegularFile.openForAppending(record, create: true)
        #expect(fd >= 0)
        #expect(write(fd, "a\n", 2) == 2)
        close(fd)
        let again = RegularFile.openForAppending(record, create: false)
        #expect(again >= 0 && write(again, "b\n", 2) == 2)
        close(again)
        #expect(try RegularFile.readText(record, limit: 100) == "a\nb\n")
        let target = directory + "/target", link = directory + "/link", fifo = directory + "/fifo"
        try Data().write(to: URL(fileURLWithPath: target))
        #expect(symlink(target, link) == 0 && mkfifo(fifo, 0o600) == 0)
        #expect(RegularFile.openForAppending(link, create: true) < 0 && errno == ELOOP)
        // (A FIFO with no reader refuses a non-blocking writer outright: ENXIO; with one, EINVAL.)
        let refused = RegularFile.openForAppending(fifo, create: true), code = errno
        #expect(refused < 0 && (code == ENXIO || code == EINVAL), "\(refused) \(code)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)).isEmpty)
    }

    @Test func pemRoundTrip() throws {
        let key = try Ed25519PrivateKey()
        let pem = try key.pemRepresentation()
        #expect(pem.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        let again = try Ed25519PrivateKey(pem: pem)
        #expect(again.publicKey == key.publicKey)
        let publicPEM = try key.publicKey.pemRepresentation()
        #expect(publicPEM.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
        #expect(try Ed25519PublicKey(pem: publicPEM) == key.publicKey)
    }

    @Test func badKeysCarryOpenSSLReasons() throws {
        let error = #expect(throws: CryptoError.self) { try Ed25519PrivateKey(pem: "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n") }
        #expect(error?.code == .invalidKey)
        #expect(error?.openSSLErrors.isEmpty == false, "expected OpenSSL's error queue in the error")
        #expect(throws: CryptoError.self) { try Ed25519PublicKey(rawRepresentation: [1, 2, 3]) }
        #expect(throws: CryptoError.self) { try Ed25519PrivateKey(rawRepresentation: []) }
    }

    @Test func randomBytesDiffer() throws {
        let a = try SecureRandom.bytes(count: 32), b = try SecureRandom.bytes(count: 32)
        #expect(a.count == 32 && a != b)
    }
}

@Suite struct CertificateIssuerTests {
    /// The node's CA is found in a bundle whatever its dates (the CA expiry gauge reads an expired
    /// one's date too), and a CA of the same name that did not sign the certificate is not it.
    @Test func theIssuerInABundleIsTheCAWhoseKeySignedIt() throws {
        let now = Date()
        let oldKey = try PrivateKey.generateP256(), newKey = try PrivateKey.generateP256(), leafKey = try PrivateKey.generateP256()
        let old = try Certificate.issue(commonName: "Quartet federation CA", subjectKey: oldKey, issuer: nil, issuerKey: oldKey,
                                        notBefore: now.addingTimeInterval(-86_400), notAfter: now.addingTimeInterval(-60), isCA: true)
        let new = try Certificate.issue(commonName: "Quartet federation CA", subjectKey: newKey, issuer: nil, issuerKey: newKey,
                                        notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(86_400 * 365), isCA: true)
        let leaf = try Certificate.issue(commonName: "wales", subjectKey: leafKey, issuer: old, issuerKey: oldKey,
                                         notBefore: now.addingTimeInterval(-3_600), notAfter: now.addingTimeInterval(86_400), isCA: false)
        #expect(try leaf.issuers(among: [new, old]).map { try $0.pemRepresentation() } == [try old.pemRepresentation()])
        #expect(leaf.chainNotAfter(among: [new, old]) == old.notAfter)
        #expect(leaf.issuers(among: [new]).isEmpty && leaf.chainNotAfter(among: [new]) == nil)
        #expect(leaf.chainNotAfter(among: []) == nil)
        let renewed = try Certificate.issue(commonName: "wales", subjectKey: leafKey, issuer: new, issuerKey: newKey,
                                            notBefore: now.addingTimeInterval(-60), notAfter: now.addingTimeInterval(86_400), isCA: false)
        #expect(renewed.chainNotAfter(among: [old, new]) == new.notAfter)
        // The old CA renewed on its own key (the same subject): the later of its two dates.
        let oldRenewed = try Certificate.issue(commonName: "Quartet federation CA", subjectKey: oldKey, issuer: nil, issuerKey: oldKey,
                                               notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(86_400 * 30), isCA: true)
        #expect(leaf.chainNotAfter(among: [old, oldRenewed, new]) == oldRenewed.notAfter)
    }

    /// Under an intermediate: found without its root, and the chain ends with the earlier of the
    /// two (peers refuse the chain from then).
    @Test func aChainEndsWithItsEarliestCA() throws {
        let now = Date()
        let rootKey = try PrivateKey.generateP256(), midKey = try PrivateKey.generateP256(), leafKey = try PrivateKey.generateP256()
        let root = try Certificate.issue(commonName: "Quartet root", subjectKey: rootKey, issuer: nil, issuerKey: rootKey,
                                         notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(86_400 * 10), isCA: true)
        let mid = try Certificate.issue(commonName: "Quartet issuing CA", subjectKey: midKey, issuer: root, issuerKey: rootKey,
                                        notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(86_400 * 100), isCA: true)
        let leaf = try Certificate.issue(commonName: "wales", subjectKey: leafKey, issuer: mid, issuerKey: midKey,
                                         notBefore: now.addingTimeInterval(-60), notAfter: now.addingTimeInterval(86_400 * 200), isCA: false)
        #expect(leaf.chainNotAfter(among: [mid]) == mid.notAfter)
        #expect(leaf.chainNotAfter(among: [root, mid]) == root.notAfter)
        #expect(leaf.chainNotAfter(among: [root]) == nil)
    }
}

/// The CA's key is read as `issued.txt` is held: this user's, readable by no one else, not
/// through a link (another user's key put in its place would sign certificates the federation
/// trusts: finding 292).
@Suite struct AuthorityKeyTests {
    @Test func aCAKeyOthersCanReadOrALinkIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-ca-key-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = dir.appendingPathComponent("ca").path
        _ = try FederationPKI.createAuthority(in: ca)
        _ = try FederationPKI.loadAuthority(from: ca)
        let key = ca + "/" + FederationPKI.caKeyFile
        chmod(key, 0o644)
        #expect { try FederationPKI.loadAuthority(from: ca) } throws: { "\($0)".contains("others can read or change it (mode 644)") }
        chmod(key, 0o600)
        let moved = dir.appendingPathComponent("elsewhere.key").path
        try FileManager.default.moveItem(atPath: key, toPath: moved)
        try FileManager.default.createSymbolicLink(atPath: key, withDestinationPath: moved)
        #expect { try FederationPKI.loadAuthority(from: ca) } throws: { "\($0)".contains("symlink") }
    }

    /// A directory made for keys: every missing parent made too, each with the mode asked (not
    /// narrowed by the umask); one that exists is left as it is; a file in the way is an error.
    @Test func directoriesAreMadeWithTheirModeExactly() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-mkdir-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let old = umask(0o077)
        defer { umask(old) }
        try RegularFile.makeDirectoryDurably(root + "/a/b/", mode: 0o755)
        for path in [root, root + "/a", root + "/a/b"] {
            var info = stat()
            #expect(stat(path, &info) == 0 && info.st_mode & 0o7777 == 0o755, "\(path)")
        }
        chmod(root + "/a", 0o700)
        try RegularFile.makeDirectoryDurably(root + "/a", mode: 0o755)
        var info = stat()
        #expect(stat(root + "/a", &info) == 0 && info.st_mode & 0o7777 == 0o700, "an existing directory keeps its mode")
        try Data().write(to: URL(fileURLWithPath: root + "/file"))
        #expect { try RegularFile.makeDirectoryDurably(root + "/file/c") } throws: { "\($0)".contains("cannot make the directory") }
        #expect { try RegularFile.makeDirectoryDurably(root + "/file") } throws: { "\($0)".contains("not a directory") }
    }

    /// A `pki init` stopped between its key and its certificate: the next run says so and how to
    /// go on (was: a bare "already exists"); a whole CA is still refused as one.
    @Test func anInterruptedInitIsNamedAsSuch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("quartet-ca-half-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("half\n".utf8).write(to: dir.appendingPathComponent(FederationPKI.caKeyFile))
        #expect { try FederationPKI.createAuthority(in: dir.path) } throws: { error in
            let text = "\(error)"
            return text.contains("may have stopped between writing them") && text.contains("\(FederationPKI.caCertificateFile) do(es) not") && text.contains("move")
        }
        // A key with its certificate or request beside it is in use (a node's, renewed in place):
        // the plain refusal, never advice to move it.
        let node = dir.appendingPathComponent("node")
        try FileManager.default.createDirectory(at: node, withIntermediateDirectories: true)
        try Data("key\n".utf8).write(to: node.appendingPathComponent("wales.key"))
        try Data("cert\n".utf8).write(to: node.appendingPathComponent("wales.pem"))
        #expect(throws: (any Error).self) { try FederationPKI.checkNew([(node.appendingPathComponent("wales.key").path, "", 0o600), (node.appendingPathComponent("wales.csr").path, "", 0o644)]) }
        do {
            try FederationPKI.checkNew([(node.appendingPathComponent("wales.key").path, "", 0o600), (node.appendingPathComponent("wales.csr").path, "", 0o644)])
        } catch {
            #expect("\(error)".contains("already exists; refusing to overwrite it") && !"\(error)".contains("move"), "\(error)")
        }
        try FileManager.default.removeItem(at: dir.appendingPathComponent(FederationPKI.caKeyFile))
        _ = try FederationPKI.createAuthority(in: dir.path)
        #expect { try FederationPKI.createAuthority(in: dir.path) } throws: { "\($0)".contains("already exists; refusing to overwrite it") }
    }
}
