import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The systemd notification protocol (sd_notify(3)), written here rather than linking
/// libsystemd: one datagram of `KEY=VALUE` lines to the AF_UNIX socket named by
/// `$NOTIFY_SOCKET`. A path starting with `/` is a socket in the file system; one starting with
/// `@` is in the abstract namespace (the `@` stands for the leading NUL byte). When the variable
/// is unset (not started by systemd with `Type=notify`), every call does nothing.
///
/// Used by `quartet serve`: `READY=1` once both ports listen, `STOPPING=1` when a shutdown
/// begins, `RELOADING=1` + `MONOTONIC_USEC` then `READY=1` around a SIGHUP reload.
struct ServiceNotifier: Sendable {
    /// The socket's address as given (`/run/systemd/notify` or `@name`); nil when disabled.
    let address: String?

    /// Why `$NOTIFY_SOCKET` could not be used; nil when it is unset or usable.
    let problem: String?

    /// Reads `$NOTIFY_SOCKET` from `environment` and checks it: nothing is sent to an address
    /// that is not an absolute path or an abstract name that fits in `sockaddr_un`.
    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let value = environment["NOTIFY_SOCKET"] ?? ""
        let why = value.isEmpty ? nil : Self.addressProblem(value)
        address = value.isEmpty || why != nil ? nil : value
        problem = why.map { "NOTIFY_SOCKET \($0); systemd will not be told the node's state" }
    }

    /// Whether notifications go anywhere.
    var isEnabled: Bool { address != nil }

    /// The longest name `sun_path` holds: 108 bytes, one kept for the terminating NUL of a path
    /// (and, for an abstract name, for its leading NUL).
    static let maximumNameLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// What is wrong with a `$NOTIFY_SOCKET` value, or nil if it is usable.
    static func addressProblem(_ value: String) -> String? {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "/") || first == UInt8(ascii: "@") else {
            return "is neither an absolute path nor an abstract socket name starting with @ (vsock addresses are not supported)"
        }
        // A path needs room for its NUL; an abstract name's `@` becomes the leading NUL.
        let limit = first == UInt8(ascii: "/") ? maximumNameLength : maximumNameLength + 1
        guard bytes.count <= limit else {
            return "is \(bytes.count) bytes long; a socket address holds at most \(limit)"
        }
        guard !bytes.dropFirst().contains(0) else { return "contains a NUL byte" }
        return nil
    }

    /// `sockaddr_un` for `address` and its length: for a path, up to and including its NUL;
    /// for an abstract name, the leading NUL and the name (no terminator: every byte counts).
    static func socketAddress(_ address: String) -> (sockaddr_un, socklen_t) {
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(address.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 } else { bytes.append(0) }
        withUnsafeMutableBytes(of: &storage.sun_path) { path in
            for (i, byte) in bytes.enumerated() where i < path.count { path[i] = byte }
        }
        let length = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + min(bytes.count, maximumNameLength + 1)
        return (storage, socklen_t(length))
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments) in one datagram. Returns false,
    /// with `errno`'s text in `error`, when the socket could not be reached; true when it was
    /// sent or notifications are disabled.
    @discardableResult
    func send(_ state: String, error: ((String) -> Void)? = nil) -> Bool {
        guard let address else { return true }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            error?("cannot create a socket for NOTIFY_SOCKET: \(String(cString: strerror(errno)))")
            return false
        }
        defer { close(fd) }
        let (storage, length) = Self.socketAddress(address)
        let payload = Array(state.utf8)
        let sent = withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                payload.withUnsafeBytes { bytes in
                    // MSG_NOSIGNAL: a vanished receiver must not kill the node with SIGPIPE.
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), raw, length)
                }
            }
        }
        guard sent == payload.count else {
            error?("cannot notify \(address): \(sent < 0 ? String(cString: strerror(errno)) : "short write")")
            return false
        }
        return true
    }

    /// `MONOTONIC_USEC=<CLOCK_MONOTONIC in microseconds>`, which systemd wants with `RELOADING=1`
    /// to match the reload to the request that caused it.
    static func monotonicMicroseconds() -> String {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return "MONOTONIC_USEC=\(UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000)"
    }
}
