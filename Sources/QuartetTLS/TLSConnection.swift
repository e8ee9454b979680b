internal import COpenSSL
import Foundation
import NIOCore
import QuartetCrypto

/// One TLS connection: owns an OpenSSL `SSL` and the two memory BIOs between it and NIO, and
/// maps OpenSSL's results to complete / incomplete / failed, as NIOSSL's `SSLConnection` does
/// for BoringSSL. Used only on its channel's event loop.
final class TLSConnection {
    private let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    let context: TLSContext

    enum HandshakeResult {
        case complete
        case incomplete
        case failed(TLSError)
    }

    enum ReadResult {
        case data
        /// A post-handshake message (a KeyUpdate) was handled; more ciphertext waits.
        case handled
        case wantMore
        case closed
        case failed(TLSError)
    }

    init(context: TLSContext, serverName: String?) throws(TLSError) {
        guard let ssl = SSL_new(context.ctx) else {
            throw TLSError(.configuration, "cannot create a TLS connection", openSSLErrors: drainOpenSSLErrors())
        }
        guard let readBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError(.configuration, "cannot create a TLS connection", openSSLErrors: drainOpenSSLErrors())
        }
        guard let writeBIO = BIO_new(BIO_s_mem()) else {
            BIO_free(readBIO)
            SSL_free(ssl)
            throw TLSError(.configuration, "cannot create a TLS connection", openSSLErrors: drainOpenSSLErrors())
        }
        // An empty read BIO means "wait for more bytes", not end of stream.
        quartet_BIO_set_mem_eof_return(readBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)
        keyUpdates.initialize(to: 0)
        quartet_SSL_watch_key_updates(ssl, keyUpdates)
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        self.context = context
        switch context.role {
        case .server:
            SSL_set_accept_state(ssl)
        case .client:
            SSL_set_connect_state(ssl)
            if let serverName, !serverName.isEmpty {
                // `self` is whole here: its deinit frees `ssl` (and the BIOs it owns) once.
                guard quartet_SSL_set_tlsext_host_name(ssl, serverName) == 1 else {
                    throw TLSError(.configuration, "cannot send the server name \(serverName)", openSSLErrors: drainOpenSSLErrors())
                }
            }
        }
    }

    deinit {
        SSL_free(ssl)
        keyUpdates.deallocate()
    }

    /// The TLS 1.3 KeyUpdates the peer sent (counted by OpenSSL's message callback), and the
    /// plaintext bytes it sent.
    private let keyUpdates = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    private var plaintextReceived = 0

    /// KeyUpdates a peer may send: 32, and one more per MiB of data it sent. Each costs a key
    /// derivation (two with `update_requested`, and one sent back), ~25 µs here: a stream of
    /// them (~27 bytes each), which OpenSSL 3 does not limit, held the connection's event loop
    /// for seconds, every connection on it waiting (BoringSSL allows 32 in a row). An honest
    /// peer updates its keys once per many GB, if ever.
    static let keyUpdatesAllowed = 32

    /// Why the connection is to end for the peer's KeyUpdates, if it is.
    var keyUpdateRefusal: TLSError? {
        let count = keyUpdates.pointee
        guard count > Self.keyUpdatesAllowed + plaintextReceived >> 20 else { return nil }
        return TLSError(.protocolError, "the peer sent \(count) TLS KeyUpdates with \(plaintextReceived) bytes of data (at most \(Self.keyUpdatesAllowed), and one more per MiB)")
    }

    /// Feeds ciphertext from the network.
    func receive(_ buffer: inout ByteBuffer) {
        while buffer.readableBytes > 0 {
            let written = buffer.withUnsafeReadableBytes { BIO_write(readBIO, $0.baseAddress, Int32($0.count)) }
            guard written > 0 else { break }
            buffer.moveReaderIndex(forwardBy: Int(written))
        }
    }

    func handshake() -> HandshakeResult {
        // SSL_get_error reads the thread's error queue: start it empty.
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        default:
            var message = "TLS handshake failed"
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK { message += " (peer certificate: \(String(cString: X509_verify_cert_error_string(verify))))" }
            var reasons = drainOpenSSLErrors()
            if reasons.isEmpty { reasons = ["the peer closed the connection or sent no TLS"] }
            return .failed(TLSError(.handshakeFailed, message, openSSLErrors: reasons))
        }
    }

    /// Decrypts into `buffer` (up to its writable space, at least 16 KiB).
    func read(into buffer: inout ByteBuffer) -> ReadResult {
        var readBytes = 0
        var status: Int32 = 0
        ERR_clear_error()
        let before = (quartet_BIO_pending(readBIO), quartet_BIO_pending(writeBIO), keyUpdates.pointee)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 16384) { pointer in
            status = SSL_read_ex(ssl, pointer.baseAddress, pointer.count, &readBytes)
            return status == 1 ? readBytes : 0
        }
        if status == 1 {
            plaintextReceived += readBytes
            return .data
        }
        switch SSL_get_error(ssl, status) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            // Without auto-retry, OpenSSL returns after each post-handshake message it handled
            // (`quartet_SSL_watch_key_updates`), the rest in the read BIO or in its own buffer
            // (it may have read ahead): more is read while any is left and the call moved on,
            // and once more after a KeyUpdate (its answer, if asked for, goes out with this
            // side's next record).
            let after = (quartet_BIO_pending(readBIO), quartet_BIO_pending(writeBIO), keyUpdates.pointee)
            let left = after.0 > 0 || SSL_has_pending(ssl) == 1
            let moved = after.0 != before.0 || after.1 != before.1
            return (left && moved) || after.2 != before.2 ? .handled : .wantMore
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            // In TLS 1.3 a server refuses the client's certificate after the client has finished
            // its handshake: the client reads the refusal as an alert. Said as the failed
            // handshake it is (no request sent on the connection was read: a client deciding
            // whether to send one again must not take it for a lost answer).
            if Self.refusesCertificate(ERR_peek_error()) {
                return .failed(TLSError(.handshakeFailed, "the peer refused this side's certificate", openSSLErrors: drainOpenSSLErrors()))
            }
            return .failed(TLSError(.protocolError, "TLS read failed", openSSLErrors: drainOpenSSLErrors()))
        }
    }

    /// Whether an OpenSSL error code is an alert received from the peer that refuses this
    /// side's certificate: bad, unsupported, revoked, expired or unknown certificate, unknown
    /// CA, access denied, certificate required (`SSL_AD_REASON_OFFSET` + the alert's number, in
    /// the SSL library).
    static func refusesCertificate(_ code: UInt) -> Bool {
        let library = (code >> 23) & 0xFF, reason = code & 0x7FFFFF
        return library == 20 && [1042, 1043, 1044, 1045, 1046, 1048, 1049, 1116].contains(reason)
    }

    /// Encrypts all of `buffer`; the ciphertext waits in the write BIO.
    func write(_ buffer: ByteBuffer) -> TLSError? {
        var buffer = buffer
        ERR_clear_error()
        while buffer.readableBytes > 0 {
            var written = 0
            let ok = buffer.withUnsafeReadableBytes { SSL_write_ex(ssl, $0.baseAddress, $0.count, &written) }
            guard ok == 1 else { return TLSError(.protocolError, "TLS write failed", openSSLErrors: drainOpenSSLErrors()) }
            buffer.moveReaderIndex(forwardBy: written)
        }
        return nil
    }

    /// Queues a close_notify alert.
    func shutdown() {
        _ = SSL_shutdown(ssl)
        _ = drainOpenSSLErrors()
    }

    /// Ciphertext waiting to be sent, if any.
    func takeCiphertext(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = quartet_BIO_pending(writeBIO)
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: Int(pending))
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(pending)) { pointer in
            Int(max(0, BIO_read(writeBIO, pointer.baseAddress, Int32(pending))))
        }
        return buffer
    }

    /// The verified peer certificate, after the handshake.
    var peerCertificate: Certificate? {
        guard let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        return Certificate(owning: cert)
    }

    /// The earliest end among the certificates the handshake verified the peer's by (its own,
    /// any intermediate, the trust root): past it the chain checked then no longer holds. Nil
    /// without a verified chain.
    var verifiedChainNotAfter: Date? {
        guard let chain = SSL_get0_verified_chain(ssl) else { return nil }
        var earliest: Date?
        for i in 0..<quartet_sk_X509_num(chain) {
            guard let x509 = quartet_sk_X509_value(chain, i), X509_up_ref(x509) == 1 else { continue }
            let end = Certificate(owning: x509).notAfter
            earliest = min(earliest ?? end, end)
        }
        return earliest
    }

    /// Updates this side's keys (a TLS 1.3 KeyUpdate), asking the peer to update its own when
    /// `askingBack` (`update_requested`), written to the ciphertext at once. Only the tests use
    /// it (a peer flooding them).
    func requestKeyUpdate(askingBack: Bool = true) -> Bool {
        SSL_key_update(ssl, askingBack ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) == 1 && SSL_do_handshake(ssl) == 1
    }

    /// The KeyUpdates the peer sent so far (for the tests).
    var keyUpdatesReceived: Int { keyUpdates.pointee }

    /// The negotiated protocol, e.g. `TLSv1.3`.
    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }
}
