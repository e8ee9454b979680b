import Foundation
import QuartetTestKit
import Testing
@testable import quartet
#if canImport(Glibc)
import Glibc
#endif

/// sd_notify without libsystemd: the datagrams arrive on real AF_UNIX sockets, at a path and
/// in the abstract namespace, and bad `$NOTIFY_SOCKET` values send nothing.
@Suite struct ServiceNotifierTests {
    @Test(arguments: [false, true])
    func datagramsArriveAtAPathAndAnAbstractName(abstract: Bool) throws {
        let receiver = try NotifySocket(abstract: abstract)
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": receiver.address])
        #expect(notifier.isEnabled && notifier.problem == nil)
        var failure: String?
        #expect(notifier.send("READY=1\nSTATUS=listening", error: { failure = $0 }), "\(failure ?? "")")
        #expect(receiver.receive() == "READY=1\nSTATUS=listening")
        let reloading = "RELOADING=1\n" + ServiceNotifier.monotonicMicroseconds()
        #expect(notifier.send(reloading))
        let received = try #require(receiver.receive())
        #expect(received == reloading)
        let usec = try #require(received.split(separator: "\n").last?.split(separator: "=").last.flatMap { UInt64($0) })
        #expect(usec > 0)
    }

    @Test func aSocketNobodyListensOnIsReportedNotFatal() throws {
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": "@quartet-test-nobody-\(UUID().uuidString)"])
        var failure: String?
        #expect(!notifier.send("READY=1", error: { failure = $0 }))
        #expect(failure?.contains("cannot notify") == true, "\(failure ?? "")")
    }

    @Test func unsetMeansDisabledAndSilent() {
        let notifier = ServiceNotifier(environment: [:])
        #expect(!notifier.isEnabled && notifier.problem == nil)
        var called = false
        #expect(notifier.send("READY=1", error: { _ in called = true }))
        #expect(!called)
        #expect(!ServiceNotifier(environment: ["NOTIFY_SOCKET": ""]).isEnabled)
    }

    @Test(arguments: [
        ("run/notify", "neither an absolute path"),
        ("vsock:2:1234", "neither an absolute path"),
        ("/" + String(repeating: "a", count: 107), "at most 107"),
        ("@" + String(repeating: "a", count: 108), "at most 108"),
        ("/run/\u{0}x", "NUL"),
    ])
    func unusableAddressesAreRefusedWithTheReason(value: String, reason: String) {
        let notifier = ServiceNotifier(environment: ["NOTIFY_SOCKET": value])
        #expect(!notifier.isEnabled)
        #expect(notifier.problem?.contains(reason) == true, "\(notifier.problem ?? "no problem")")
    }

    @Test func theLongestNamesFitExactly() {
        #expect(ServiceNotifier.addressProblem("/" + String(repeating: "a", count: 106)) == nil)
        #expect(ServiceNotifier.addressProblem("@" + String(repeating: "a", count: 107)) == nil)
        let (_, pathLength) = ServiceNotifier.socketAddress("/ab")
        let (_, abstractLength) = ServiceNotifier.socketAddress("@ab")
        let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        // A path counts its NUL terminator; an abstract name its leading NUL and nothing after.
        #expect(Int(pathLength) == offset + 4)
        #expect(Int(abstractLength) == offset + 3)
    }
}
