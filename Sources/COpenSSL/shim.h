#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
// OpenSSL 3 from Debian's libssl-dev (the library nginx, lighttpd and h2o use).
// Swift imports the function-like macros of these headers badly; the static inline wrappers below
// give it plain functions for the few it needs.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

/// SSL_CTX_set_tlsext_servername_callback / _arg are macros around SSL_CTX_callback_ctrl.
static inline long copenssl_ctx_set_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *), void *arg) {
    SSL_CTX_set_tlsext_servername_arg(ctx, arg);
    return SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}
static inline long copenssl_ctx_set_min_proto(SSL_CTX *ctx, int version) { return SSL_CTX_set_min_proto_version(ctx, version); }
static inline long copenssl_ctx_set_max_proto(SSL_CTX *ctx, int version) { return SSL_CTX_set_max_proto_version(ctx, version); }
static inline long copenssl_ctx_set_options(SSL_CTX *ctx, uint64_t options) { return (long)SSL_CTX_set_options(ctx, options); }
static inline long copenssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long copenssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
static inline long copenssl_ctx_set1_groups_list(SSL_CTX *ctx, const char *list) { return SSL_CTX_set1_groups_list(ctx, list); }
static inline long copenssl_ctx_add_extra_chain_cert(SSL_CTX *ctx, X509 *x) { return SSL_CTX_add_extra_chain_cert(ctx, x); }
static inline long copenssl_ctx_set_tlsext_status_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *), void *arg) {
    SSL_CTX_set_tlsext_status_arg(ctx, arg);
    return SSL_CTX_set_tlsext_status_cb(ctx, cb);
}
static inline long copenssl_set_tlsext_host_name(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
static inline long copenssl_set_tlsext_status_ocsp_resp(SSL *ssl, unsigned char *resp, long len) { return SSL_set_tlsext_status_ocsp_resp(ssl, resp, len); }
static inline int copenssl_bio_pending(BIO *b) { return (int)BIO_ctrl_pending(b); }
static inline long copenssl_bio_set_mem_eof_return(BIO *b, int v) { return BIO_set_mem_eof_return(b, v); }
static inline unsigned long copenssl_err_get_error(void) { return ERR_get_error(); }
// --- FlaksTLS -------------------------------------------------------------------------------
// Per-connection pointer back to the Swift session state (SSL_set_app_data is a macro).
static inline int copenssl_set_app_data(SSL *ssl, void *arg) { return SSL_set_ex_data(ssl, 0, arg); }
static inline void *copenssl_get_app_data(const SSL *ssl) { return SSL_get_ex_data(ssl, 0); }
static inline long copenssl_bio_get_mem_ptr(BIO *b, BUF_MEM **out) { return BIO_get_mem_ptr(b, out); }
/// Capacity of a memory BIO's buffer (what it keeps allocated), 0 for none.
static inline size_t copenssl_bio_mem_capacity(BIO *b) {
    BUF_MEM *m = NULL;
    if (BIO_get_mem_ptr(b, &m) <= 0 || m == NULL) return 0;
    return m->max;
}
static inline void copenssl_free(void *p) { OPENSSL_free(p); }
static inline int copenssl_err_reason(unsigned long e) { return ERR_GET_REASON(e); }
static inline int copenssl_err_lib(unsigned long e) { return ERR_GET_LIB(e); }
static inline long copenssl_ctx_set_ticket_key_evp_cb(SSL_CTX *ctx,
    int (*cb)(SSL *, unsigned char *, unsigned char *, EVP_CIPHER_CTX *, EVP_MAC_CTX *, int)) {
    return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, cb);
}
/// HMAC-SHA256 with `key` on the ticket MAC context OpenSSL hands the ticket key callback.
static inline int copenssl_ticket_mac_init(EVP_MAC_CTX *mac, const unsigned char *key, size_t len) {
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    return EVP_MAC_init(mac, key, len, params);
}
static inline int copenssl_ticket_cipher_init(EVP_CIPHER_CTX *c, const unsigned char *key, const unsigned char *iv, int enc) {
    return EVP_CipherInit_ex(c, EVP_aes_256_cbc(), NULL, key, iv, enc);
}
// EVP_EC_gen / EVP_RSA_gen are macros around the variadic EVP_PKEY_Q_keygen, which Swift cannot call.
static inline EVP_PKEY *copenssl_ec_gen(const char *curve) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve); }
static inline EVP_PKEY *copenssl_rsa_gen(size_t bits) { return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits); }
// Typed stacks are macros/inline functions over OPENSSL_sk_*.
static inline STACK_OF(X509) *copenssl_sk_x509_new(void) { return sk_X509_new_null(); }
static inline int copenssl_sk_x509_push(STACK_OF(X509) *sk, X509 *x) { return sk_X509_push(sk, x); }
static inline int copenssl_sk_x509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *copenssl_sk_x509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }
static inline void copenssl_sk_x509_pop_free(STACK_OF(X509) *sk) { sk_X509_pop_free(sk, X509_free); }
static inline STACK_OF(X509_EXTENSION) *copenssl_sk_ext_new(void) { return sk_X509_EXTENSION_new_null(); }
static inline int copenssl_sk_ext_push(STACK_OF(X509_EXTENSION) *sk, X509_EXTENSION *e) { return sk_X509_EXTENSION_push(sk, e); }
static inline void copenssl_sk_ext_pop_free(STACK_OF(X509_EXTENSION) *sk) { sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free); }
static inline void copenssl_sk_string_free(STACK_OF(OPENSSL_STRING) *sk) { X509_email_free(sk); }
static inline int copenssl_sk_string_num(const STACK_OF(OPENSSL_STRING) *sk) { return sk_OPENSSL_STRING_num(sk); }
static inline const char *copenssl_sk_string_value(const STACK_OF(OPENSSL_STRING) *sk, int i) { return sk_OPENSSL_STRING_value(sk, i); }
/// The subjectAltName entries of a certificate: DNS names (kind 1) and IP addresses (kind 2,
/// raw 4 or 16 bytes); other kinds (0) are skipped by the caller. Free with copenssl_sans_free.
static inline GENERAL_NAMES *copenssl_sans(X509 *x) { return (GENERAL_NAMES *)X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL); }
static inline void copenssl_sans_free(GENERAL_NAMES *g) { GENERAL_NAMES_free(g); }
static inline int copenssl_sans_num(const GENERAL_NAMES *g) { return sk_GENERAL_NAME_num(g); }
static inline int copenssl_san_get(const GENERAL_NAMES *g, int i, const unsigned char **data, int *len) {
    const GENERAL_NAME *n = sk_GENERAL_NAME_value(g, i);
    if (n == NULL) return 0;
    if (n->type == GEN_DNS) { *data = ASN1_STRING_get0_data(n->d.dNSName); *len = ASN1_STRING_length(n->d.dNSName); return 1; }
    if (n->type == GEN_IPADD) { *data = ASN1_STRING_get0_data(n->d.iPAddress); *len = ASN1_STRING_length(n->d.iPAddress); return 2; }
    return 0;
}
static inline int copenssl_set_tlsext_status_type_ocsp(SSL *ssl) { return (int)SSL_set_tlsext_status_type(ssl, TLSEXT_STATUSTYPE_ocsp); }
static inline long copenssl_get_tlsext_status_type(SSL *ssl) { return SSL_get_tlsext_status_type(ssl); }
static inline long copenssl_get_tlsext_status_ocsp_resp(SSL *ssl, const unsigned char **resp) {
    return SSL_get_tlsext_status_ocsp_resp(ssl, (unsigned char **)resp);
}
static inline int copenssl_get_negotiated_group(SSL *ssl) { return (int)SSL_get_negotiated_group(ssl); }
static inline long copenssl_set_mode(SSL *ssl, long mode) { return SSL_set_mode(ssl, mode); }
static inline long copenssl_set_min_proto(SSL *ssl, int version) { return SSL_set_min_proto_version(ssl, version); }
static inline long copenssl_set_max_proto(SSL *ssl, int version) { return SSL_set_max_proto_version(ssl, version); }
static inline long copenssl_ctx_set1_chain(SSL_CTX *ctx, STACK_OF(X509) *sk) { return SSL_CTX_set1_chain(ctx, sk); }
static inline int copenssl_bio_write_pending(BIO *b) { return (int)BIO_wpending(b); }
// SSL_OP_* are 64-bit shifts Swift does not import.
/// No TLS compression (CRIME), no renegotiation of either side.
static inline uint64_t copenssl_server_options(void) { return SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t copenssl_op_enable_ktls(void) { return SSL_OP_ENABLE_KTLS; }
static inline uint64_t copenssl_op_no_ticket(void) { return SSL_OP_NO_TICKET; }
static inline unsigned long copenssl_xn_flag_rfc2253(void) { return XN_FLAG_RFC2253; }
/// Whether this libssl was built with kernel TLS support (Debian's 3.0 is: enable-ktls).
static inline int copenssl_built_with_ktls(void) {
#ifdef OPENSSL_NO_KTLS
    return 0;
#else
    return 1;
#endif
}
/// subjectAltName entries built programmatically (no config-string parsing of host names).
static inline GENERAL_NAMES *copenssl_gens_new(void) { return sk_GENERAL_NAME_new_null(); }
static inline int copenssl_gens_push_dns(GENERAL_NAMES *g, const char *name) {
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();
    GENERAL_NAME *n = GENERAL_NAME_new();
    if (s == NULL || n == NULL || !ASN1_STRING_set(s, name, -1)) { ASN1_IA5STRING_free(s); GENERAL_NAME_free(n); return 0; }
    GENERAL_NAME_set0_value(n, GEN_DNS, s);
    if (!sk_GENERAL_NAME_push(g, n)) { GENERAL_NAME_free(n); return 0; }
    return 1;
}
static inline int copenssl_gens_push_ip(GENERAL_NAMES *g, const char *text) {
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(text);
    GENERAL_NAME *n = GENERAL_NAME_new();
    if (ip == NULL || n == NULL) { ASN1_OCTET_STRING_free(ip); GENERAL_NAME_free(n); return 0; }
    GENERAL_NAME_set0_value(n, GEN_IPADD, ip);
    if (!sk_GENERAL_NAME_push(g, n)) { GENERAL_NAME_free(n); return 0; }
    return 1;
}
static inline X509_EXTENSION *copenssl_gens_extension(GENERAL_NAMES *g) { return X509V3_EXT_i2d(NID_subject_alt_name, 0, g); }
/// An extension with a raw DER value (e.g. RFC 8737's acmeIdentifier, 1.3.6.1.5.5.7.1.31).
static inline X509_EXTENSION *copenssl_raw_extension(const char *oid, int critical, const unsigned char *der, int len) {
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    if (obj != NULL && value != NULL && ASN1_OCTET_STRING_set(value, der, len))
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, critical, value);
    ASN1_OBJECT_free(obj);
    ASN1_OCTET_STRING_free(value);
    return ext;
}
#endif
