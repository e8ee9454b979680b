import Foundation
import QuartetCrypto
import QuartetStore
import QuartetTestKit
@testable import quartet
import Testing

/// `backup`'s check of the copy's signing key against the log's chain, read as a start reads it
/// (`DataDirectory.keyInForce`): a rotation a crash interrupted after its entry went in is taken
/// (a start finishes it), but not a `--no-overlap` one, whose old key — the one the operator
/// is rid of after a compromise — is still beside the new key until then.
@Suite struct BackupKeyTests {
    @Test func anInterruptedRotationIsTakenUnlessItRetiresTheOldKey() throws {
        for noOverlap in [false, true] {
            let store = try TestKit.makeStore()
            defer { try? FileManager.default.removeItem(at: store.directory.url) }
            let directory = store.directory
            let log = try store.log(named: "wales")
            let old = try directory.readSigningKey(log: "wales"), new = try Ed25519PrivateKey()
            try directory.writeSigningKey(new, log: "wales", path: directory.nextKeyPath(log: "wales"))
            if noOverlap { try directory.writeNoOverlapMarker(log: "wales") }
            _ = try store.appendRotation(log, previous: old, key: new, overlap: !noOverlap)
            let refusal = BackupCommand.keyRefusal(directory, log: log, store: store)
            #expect((refusal?.contains("`key rotate --no-overlap` of wales was interrupted") == true) == noOverlap && (noOverlap || refusal == nil), "\(refusal ?? "nil")")
            // Once a start has finished it, taken either way.
            _ = try directory.signingKeys(log: "wales", chain: try store.keyChain(log))
            #expect(BackupCommand.keyRefusal(directory, log: log, store: store) == nil)
            // A key that is not the log's: refused.
            try directory.writeSigningKey(try Ed25519PrivateKey(), log: "wales", path: directory.keyPath(log: "wales") + ".swap")
            #expect(rename(directory.keyPath(log: "wales") + ".swap", directory.keyPath(log: "wales")) == 0)
            #expect(BackupCommand.keyRefusal(directory, log: log, store: store)?.contains("is not the key in force") == true)
        }
    }
}
