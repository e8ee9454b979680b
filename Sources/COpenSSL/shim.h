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

#endif
