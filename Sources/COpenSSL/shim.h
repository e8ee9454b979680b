#ifndef QUARTET_COPENSSL_SHIM_H
#define QUARTET_COPENSSL_SHIM_H

// The system OpenSSL 3 (Debian libssl-dev). Swift imports functions but not function-like
// macros, so the macros Quartet needs are wrapped here as static inline functions.

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/// BIO_get_mem_data is a macro over BIO_ctrl.
static inline long quartet_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

/// OPENSSL_free is a macro that records the call site.
static inline void quartet_OPENSSL_free(void *ptr) {
    OPENSSL_free(ptr);
}

/// X509V3_set_ctx_nodb is a macro that clears the config database pointer.
static inline void quartet_X509V3_set_ctx_nodb(X509V3_CTX *ctx) {
    X509V3_set_ctx_nodb(ctx);
}

/// SSL_CTX_set_min_proto_version / max are macros over SSL_CTX_ctrl.
static inline int quartet_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int quartet_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}
static inline int quartet_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

/// sk_X509_num / value (a verified chain) are type-safe stack macros.
static inline int quartet_sk_X509_num(const STACK_OF(X509) *stack) {
    return sk_X509_num(stack);
}
static inline X509 *quartet_sk_X509_value(const STACK_OF(X509) *stack, int i) {
    return sk_X509_value(stack, i);
}
/// sk_GENERAL_NAME_num / value are type-safe stack macros.
static inline int quartet_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) {
    return sk_GENERAL_NAME_num(names);
}
static inline GENERAL_NAME *quartet_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int i) {
    return sk_GENERAL_NAME_value(names, i);
}
static inline void quartet_GENERAL_NAMES_free(GENERAL_NAMES *names) {
    GENERAL_NAMES_free(names);
}

/// SSL_set_tlsext_host_name is a macro over SSL_ctrl.
static inline int quartet_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

/// BIO_pending is a macro over BIO_ctrl.
static inline size_t quartet_BIO_pending(BIO *bio) {
    return (size_t)BIO_pending(bio);
}

/// BIO_set_mem_eof_return is a macro: make an empty memory BIO report "retry", not EOF.
static inline void quartet_BIO_set_mem_eof_return(BIO *bio, int value) {
    BIO_set_mem_eof_return(bio, value);
}

/// SSL_OP_NO_TICKET is built with a macro Swift cannot import.
static inline uint64_t quartet_SSL_OP_NO_TICKET(void) {
    return SSL_OP_NO_TICKET;
}

/// SSL_CTX_set_session_cache_mode is a macro over SSL_CTX_ctrl.
static inline long quartet_SSL_CTX_set_session_cache_off(SSL_CTX *ctx) {
    return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

/// The STACK_OF(X509_EXTENSION) operations are type-safe stack macros (certificate requests).
static inline STACK_OF(X509_EXTENSION) *quartet_sk_X509_EXTENSION_new_null(void) {
    return sk_X509_EXTENSION_new_null();
}
static inline int quartet_sk_X509_EXTENSION_push(STACK_OF(X509_EXTENSION) *stack, X509_EXTENSION *ext) {
    return sk_X509_EXTENSION_push(stack, ext);
}
static inline int quartet_sk_X509_EXTENSION_num(const STACK_OF(X509_EXTENSION) *stack) {
    return sk_X509_EXTENSION_num(stack);
}
static inline X509_EXTENSION *quartet_sk_X509_EXTENSION_value(const STACK_OF(X509_EXTENSION) *stack, int i) {
    return sk_X509_EXTENSION_value(stack, i);
}
static inline void quartet_sk_X509_EXTENSION_pop_free(STACK_OF(X509_EXTENSION) *stack) {
    sk_X509_EXTENSION_pop_free(stack, X509_EXTENSION_free);
}

/// A revocation list's entries (STACK_OF(X509_REVOKED), type-safe stack macros).
static inline int quartet_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *stack) {
    return sk_X509_REVOKED_num(stack);
}
static inline X509_REVOKED *quartet_sk_X509_REVOKED_value(const STACK_OF(X509_REVOKED) *stack, int i) {
    return sk_X509_REVOKED_value(stack, i);
}

/// The verify callback of a context that checks a revocation list: a list past its next update
/// (or dated ahead of this clock) still counts. A stale list still names what it revoked, and
/// refusing every peer the day it ages would cut the federation off. Every other error stands.
static int quartet_verify_tolerating_crl_dates(int ok, X509_STORE_CTX *ctx) {
    if (!ok) {
        int error = X509_STORE_CTX_get_error(ctx);
        if (error == X509_V_ERR_CRL_HAS_EXPIRED || error == X509_V_ERR_CRL_NOT_YET_VALID) {
            X509_STORE_CTX_set_error(ctx, X509_V_OK);
            return 1;
        }
    }
    return ok;
}
static inline void quartet_SSL_CTX_set_verify_tolerating_crl_dates(SSL_CTX *ctx, int mode) {
    SSL_CTX_set_verify(ctx, mode, quartet_verify_tolerating_crl_dates);
}
static inline void quartet_X509_STORE_set_verify_tolerating_crl_dates(X509_STORE *store) {
    X509_STORE_set_verify_cb(store, quartet_verify_tolerating_crl_dates);
}

/// Counts the TLS 1.3 KeyUpdate messages the peer sends, into the `long` the message
/// callback's argument points at (a handshake message of type 24 read after the handshake).
static void quartet_count_key_updates(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg) {
    (void)version; (void)ssl;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 && arg != NULL
        && ((const unsigned char *)buf)[0] == SSL3_MT_KEY_UPDATE) {
        (*(long *)arg)++;
    }
}
/// Counts the connection's received KeyUpdates into `counter`, and has `SSL_read` return after
/// each post-handshake message it handles (auto-retry off) rather than handle all of them in
/// the read BIO in one call: the caller can stop a stream of them after a few.
static inline void quartet_SSL_watch_key_updates(SSL *ssl, long *counter) {
    SSL_set_msg_callback(ssl, quartet_count_key_updates);
    SSL_set_msg_callback_arg(ssl, counter);
    SSL_clear_mode(ssl, SSL_MODE_AUTO_RETRY);
}

#endif
