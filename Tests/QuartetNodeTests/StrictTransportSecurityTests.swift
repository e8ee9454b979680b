@testable import QuartetNode
import Testing

/// Which answers pin HTTPS for the name they were asked by (HSTS): names, not `localhost` or IP
/// addresses, read from the caller's Host header.
@Suite struct StrictTransportSecurityTests {
    @Test func namesArePinnedLocalhostAndAddressesAreNot() {
        typealias Log = RequestLogMiddleware<NodeRequestContext>
        for host in ["wales.example", "WALES.example:8443", "wales.localhost.example", "example.com."] {
            #expect(Log.strictTransportSecurity(host: host) == "max-age=31536000", "\(host)")
        }
        for host in [nil, "", "localhost", "LocalHost:8443", "wales.localhost", "127.0.0.1", "127.0.0.1:8443", "[::1]:8443", "10.0.0.1"] as [String?] {
            #expect(Log.strictTransportSecurity(host: host) == nil, "\(host ?? "nil")")
        }
    }
}
