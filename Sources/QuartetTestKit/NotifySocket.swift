import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What systemd does for a `Type=notify` service, for tests: a bound AF_UNIX datagram socket
/// whose address goes into the child's `$NOTIFY_SOCKET`, read with a timeout. Its address is
/// built here independently of the code under test (quartet's ServiceNotifier).
public final class NotifySocket: @unchecked Sendable {
    private let fd: Int32
    /// The value for `$NOTIFY_SOCKET`: a file path, or `@name` in the abstract namespace.
    public let address: String
    private let directory: URL?

    /// Binds a new socket, in the abstract namespace or as a file in a new temporary directory.
    public init(abstract: Bool) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestKitError("socket(AF_UNIX, SOCK_DGRAM): \(String(cString: strerror(errno)))") }
        var name: [UInt8]
        if abstract {
            directory = nil
            address = "@quartet-test-\(UUID().uuidString)"
            name = [0] + Array(address.utf8.dropFirst())
        } else {
            // /tmp, not a long $TMPDIR: sun_path holds 108 bytes.
            let dir = URL(fileURLWithPath: "/tmp").appendingPathComponent("qn-\(UUID().uuidString.prefix(8))")
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            } catch {
                close(fd)  // `self` is not whole yet: no deinit closes it
                throw error
            }
            directory = dir
            address = dir.appendingPathComponent("notify").path
            name = Array(address.utf8) + [0]
        }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        guard name.count <= MemoryLayout.size(ofValue: storage.sun_path) else { throw TestKitError("socket name too long: \(address)") }
        withUnsafeMutableBytes(of: &storage.sun_path) { path in
            for (i, byte) in name.enumerated() { path[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + name.count)
        let bound = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw TestKitError("bind \(address): \(String(cString: strerror(errno)))") }
    }

    /// The next datagram, or nil if none arrives within `timeout` seconds.
    public func receive(timeout: TimeInterval = 30) -> String? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        return count < 0 ? nil : String(decoding: buffer[..<count], as: UTF8.self)
    }

    /// Datagrams until one contains `line` as one of its lines (returned with those before it),
    /// or nil after `timeout` seconds without it.
    public func receive(until line: String, timeout: TimeInterval = 30) -> (match: String, before: [String])? {
        var before: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0, let datagram = receive(timeout: remaining) else { return nil }
            if datagram.split(separator: "\n").contains(Substring(line)) { return (datagram, before) }
            before.append(datagram)
        }
    }

    deinit {
        close(fd)
        if let directory { try? FileManager.default.removeItem(at: directory) }
    }
}
