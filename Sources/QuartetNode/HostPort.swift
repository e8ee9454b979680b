import Foundation
import QuartetPlan
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A TCP listening or connecting address, `host:port` (IPv6 literals in brackets: `[::1]:7400`).
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host` as a request's `Host` field carries it: an IPv6 literal in brackets (RFC 9112
    /// §3.2, RFC 3986's IP-literal), anything else as it is.
    public static func hostField(_ host: String) -> String {
        host.contains(":") && !host.hasPrefix("[") ? "[" + host + "]" : host
    }

    /// Parses `host:port`; nil when it is not of that form or the port is not 1–65535.
    public init?(parsing text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        // A host name or an address literal: no whitespace, no control characters (they reached
        // terminals raw through `federation show`), at most a DNS name's 253 bytes.
        guard !host.isEmpty, host.utf8.count <= 253, !host.unicodeScalars.contains(where: { $0.properties.isWhitespace || ShownText.isControl($0) }),
              !portText.isEmpty, portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (1...65535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// A port on 127.0.0.1 that was free a moment ago. Chosen at random below Linux's
    /// ephemeral range (32768–60999), where the kernel's choice for port 0 would fall: a port
    /// from that range can be taken, before the node binds it, as the source port of any
    /// outgoing connection on the machine (the nodes' own connections to each other included).
    /// Never the same port twice in one process: two draws for one node (its API and peer
    /// ports) or for nodes started side by side would otherwise meet about once in 12,000, and
    /// the second bind would fail.
    public static func freeLoopbackPort() throws(ConfigurationError) -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<32_000)
            guard handedOut.withLock({ $0.insert(port).inserted }) else { continue }
            if canBind(port), reserve(port) { return port }
        }
        throw ConfigurationError(file: "-", key: nil, "cannot find a free port on 127.0.0.1 between 20000 and 32000")
    }

    /// The ports `freeLoopbackPort` gave (or found taken) in this process.
    private static let handedOut = Mutex<Set<Int>>([])

    /// How long a port another process of this user reserved stays its (seconds).
    static let reservedSeconds = 600

    /// Reserves `port` for this process among all of this user's: a file per port in a
    /// directory of the user's own, made with `O_EXCL` (a reservation older than
    /// `reservedSeconds` is taken over). Several `quartet demo` runs provisioned at once (the
    /// federation tests make one each, side by side) drew the same port free in each, and the
    /// second node to bind it failed. Without a usable directory (another user's, open to
    /// others), nothing is reserved and the draw stands on `canBind` alone.
    static func reserve(_ port: Int) -> Bool {
        let directory = NSTemporaryDirectory() + "/quartet-ports-\(geteuid())"
        _ = mkdir(directory, 0o700)
        var info = stat()
        guard lstat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else { return true }
        let path = directory + "/\(port)"
        for _ in 0..<2 {
            let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 {
                close(fd)
                return true
            }
            guard errno == EEXIST, lstat(path, &info) == 0, Int(time(nil)) - Int(info.st_mtim.tv_sec) > reservedSeconds else { return false }
            _ = unlink(path)
        }
        return false
    }

    static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } } == 0
    }
}
