import Foundation
@testable import QuartetNode
import Testing

/// A port drawn for a node is reserved among all of this user's processes, so two `quartet
/// demo` runs provisioned side by side never draw the same one (a federation test's node failed
/// to bind its API port so).
@Suite struct PortReservationTests {
    @Test func aPortReservedByOneProcessIsNotDrawnByAnotherUntilItIsStale() throws {
        // A port outside the draw's range, so no draw of this process meets it.
        let port = 19_000 + Int.random(in: 0..<900)
        let path = NSTemporaryDirectory() + "/quartet-ports-\(geteuid())/\(port)"
        try? FileManager.default.removeItem(atPath: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(HostPort.reserve(port), "a port no one reserved")
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(!HostPort.reserve(port), "reserved already (as by another process)")
        // Older than the reservation lasts: taken over.
        let old = Date().addingTimeInterval(-Double(HostPort.reservedSeconds + 60))
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: path)
        #expect(HostPort.reserve(port), "a stale reservation is taken over")
        #expect(!HostPort.reserve(port))
    }
}
