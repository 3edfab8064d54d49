/*
 * tinker_auth.h - C interface to tinker-auth: keeps a short-lived Tinker JWT
 * fresh (single-flight on-demand refresh plus a background refresh thread).
 *
 * Build the libraries from the workspace (Rust toolchain required):
 *
 *     cargo build --release -p tinker-auth-ffi
 *         -> target/release/libtinker_auth_ffi.a  (link it with the system
 *            libraries that rustc prints for `--print native-static-libs`;
 *            on Linux: -lpthread -ldl -lm -lrt -lutil -lgcc_s -lc)
 *         -> target/release/libtinker_auth_ffi.so
 *
 * This header is written by hand and kept in sync with
 * the sources in crates/tinker-auth-ffi/src/ by the test tests/it/header.rs of that
 * crate, which compares every function, constant, typedef and
 * struct field below with the Rust declarations.
 *
 * RULES
 *
 * Handles. tinker_auth_new() returns a tinker_auth_handle: a number, not a
 * pointer. Handles are never reused within a process, so a freed or bogus
 * handle is detected and answered with TINKER_AUTH_ERR_INVALID_HANDLE; it
 * never causes undefined behaviour. 0 is never a valid handle.
 *
 * Memory ownership. The library never returns memory for the caller to free.
 * Tokens are copied into buffers the caller owns; error messages into the
 * caller's tinker_auth_error or buffer. Every string argument is only read
 * during the call; the library keeps no pointer to it.
 *
 * Threading. Every function is thread-safe: any thread may call any function
 * at any time, on the same handle or on different ones. A handle may be freed
 * while other threads are inside tinker_auth_get_token() on it: those calls
 * complete normally, and later calls get TINKER_AUTH_ERR_INVALID_HANDLE.
 * tinker_auth_get_token() may block while a token is fetched (at most the
 * fetch timeout plus one second); a fresh token is served without waiting.
 * Each provider runs one background thread (unless disabled): do not fork()
 * a process holding live handles and use them in the child.
 *
 * Errors. Functions return TINKER_AUTH_OK (0) or a negative
 * TINKER_AUTH_ERR_* code, and record the failure as the calling thread's last
 * error (see tinker_auth_last_error()). Null pointers, invalid UTF-8, short
 * buffers and dead handles are reported as codes. What C cannot check (a
 * buffer smaller than the length passed, a string without its NUL) remains
 * the caller's responsibility. No Rust panic crosses into C: one is reported
 * as TINKER_AUTH_ERR_PANIC. Messages never contain the API key or a token.
 */
#ifndef TINKER_AUTH_H
#define TINKER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header: the library's, MAJOR.MINOR.PATCH. Compare
 * with tinker_auth_version() to check what the program linked. */
#define TINKER_AUTH_VERSION_MAJOR 0
#define TINKER_AUTH_VERSION_MINOR 1
#define TINKER_AUTH_VERSION_PATCH 0

/* Return codes. */
#define TINKER_AUTH_OK 0
/* A required pointer argument was null. */
#define TINKER_AUTH_ERR_NULL_POINTER (-1)
/* A string argument was not valid UTF-8. */
#define TINKER_AUTH_ERR_INVALID_UTF8 (-2)
/* The handle is not live: already freed, or never returned by tinker_auth_new. */
#define TINKER_AUTH_ERR_INVALID_HANDLE (-3)
/* The buffer cannot hold the token and its NUL; nothing was copied. */
#define TINKER_AUTH_ERR_BUFFER_TOO_SMALL (-4)
/* An argument or option is unusable (bad URL, malformed key, out-of-range timing, wrong struct_size). */
#define TINKER_AUTH_ERR_INVALID_ARGUMENT (-5)
/* No usable credential: none configured, or the credential command failed. */
#define TINKER_AUTH_ERR_CREDENTIAL (-6)
/* The token endpoint rejected the credential (401 or 403). */
#define TINKER_AUTH_ERR_REJECTED (-7)
/* The token endpoint is unreachable or failing, and no valid token is cached. */
#define TINKER_AUTH_ERR_UNAVAILABLE (-8)
/* The library caught an internal panic (a bug); the handle stays usable. */
#define TINKER_AUTH_ERR_PANIC (-9)

/* Size of tinker_auth_error.message, terminating NUL included. */
#define TINKER_AUTH_ERROR_MESSAGE_LEN 256

/* A provider's handle. 0 is never valid. */
typedef uint64_t tinker_auth_handle;

/* An error reported through an out-parameter. */
typedef struct tinker_auth_error {
    /* TINKER_AUTH_OK or a TINKER_AUTH_ERR_* code. */
    int32_t code;
    /* One line, NUL-terminated; empty on success; never contains a secret. */
    char message[TINKER_AUTH_ERROR_MESSAGE_LEN];
} tinker_auth_error;

/* Options for tinker_auth_new_with_options(). Always start from
 * tinker_auth_options_default() and change the fields you need. */
typedef struct tinker_auth_options {
    /* Must equal sizeof(tinker_auth_options); set by tinker_auth_options_default(). */
    uint32_t struct_size;
    /* Non-zero runs a background refresh thread (default 1). */
    uint32_t background_refresh;
    /* Least runway the background thread leaves beyond half the token's
     * lifetime (default 0: it refreshes at half-life, less the clock's
     * uncertainty, so an outage costs nothing for half a lifetime); a larger
     * margin, capped at 4/5 of the lifetime, refreshes earlier. It refreshes
     * there routinely, and earlier (drawn from the token's issue on) after a
     * first token or a failure, so that processes started together do not
     * refresh together. */
    uint64_t refresh_before_expiry_ms;
    /* How long before expiry tinker_auth_get_token() refreshes on demand
     * (default 60000). Capped at a fifth of the token's lifetime. */
    uint64_t refresh_on_demand_within_ms;
    /* Longest pause between failed background refreshes (default 60000). */
    uint64_t retry_delay_ms;
    /* Bound on one token exchange; must be positive (default 30000). */
    uint64_t fetch_timeout_ms;
    /* A directory in which providers of any process share one token per base
     * URL and credential (default NULL: no sharing). Appended after the first
     * release: a struct_size without it is still accepted, as NULL. */
    const char *shared_cache_dir;
} tinker_auth_options;
/* Every *_ms option must be at most 86400000 (one day). */

/* The default options. */
tinker_auth_options tinker_auth_options_default(void);

/* Creates a provider with default options; see tinker_auth_new_with_options(). */
tinker_auth_handle tinker_auth_new(const char *base_url, const char *api_key, tinker_auth_error *err);

/* Creates a provider for the Tinker API at base_url (https://, or http:// to
 * loopback) and performs the first token exchange before returning.
 *   base_url NULL: TINKER_BASE_URL, else
 *            https://tinker.thinkingmachines.dev/services/tinker-prod.
 *   api_key  NULL: resolve the credential from TINKER_API_KEY, falling back
 *            to the command in TINKER_CREDENTIAL_CMD.
 *   options  NULL: defaults.
 *   err      NULL, or receives the outcome (code TINKER_AUTH_OK on success).
 * Returns the handle, or 0 on failure (see err or tinker_auth_last_error()). */
tinker_auth_handle tinker_auth_new_with_options(const char *base_url, const char *api_key, const tinker_auth_options *options, tinker_auth_error *err);

/* Copies the current token (refreshed first if near expiry) and a NUL into
 * buf, and its length without the NUL into *token_len if token_len is not
 * NULL. If buf_len <= the token's length, nothing is copied, *token_len still
 * receives the length, and TINKER_AUTH_ERR_BUFFER_TOO_SMALL is returned; so
 * buf NULL with buf_len 0 is a size query. Tokens are well under 4096 bytes.
 * Returns TINKER_AUTH_OK or an error code. */
int32_t tinker_auth_get_token(tinker_auth_handle handle, char *buf, size_t buf_len, size_t *token_len);

/* Reports that the server rejected token (a 401), so that the next
 * tinker_auth_get_token() fetches a new one instead of returning it again.
 * A token that is no longer the current one is ignored. */
int32_t tinker_auth_invalidate(tinker_auth_handle handle, const char *token);

/* Gives the expiry and the runway of the token tinker_auth_get_token() would
 * return now (refreshed first if it is near expiry, as there).
 *   expires_at  NULL, or receives the token's `exp` claim in Unix seconds
 *               (-1 if it carries none).
 *   runway_ms   NULL, or receives how long the token has left, in
 *               milliseconds, by the provider's estimate of the server's
 *               clock (what the server will accept, whatever this machine's
 *               clock says).
 * Returns TINKER_AUTH_OK or an error code (as tinker_auth_get_token()). */
int32_t tinker_auth_token_expiry(tinker_auth_handle handle, int64_t *expires_at, uint64_t *runway_ms);

/* A provider's counters since it was created, filled by tinker_auth_get_stats().
 * Fields may be appended in later versions, never reordered or removed. */
typedef struct tinker_auth_stats {
    /* Set to sizeof(tinker_auth_stats) before the call; the call sets the
     * number of bytes it filled. */
    uint32_t struct_size;
    /* Token exchanges started. */
    uint64_t exchanges_started;
    /* Exchanges that returned a usable JWT. */
    uint64_t exchanges_succeeded;
    /* Exchanges that failed (transport, status, body, credential). */
    uint64_t exchanges_failed;
    /* Exchanges started by tinker_auth_get_token() (or tinker_auth_new()). */
    uint64_t exchanges_on_demand;
    /* Exchanges started by the background thread. */
    uint64_t exchanges_background;
    /* Times a caller waited for an exchange another thread had in flight. */
    uint64_t waits;
    /* Times the cached token was served because a refresh failed or was
     * cooling down. */
    uint64_t served_from_cache;
    /* Refreshes that adopted a token another process left in the shared
     * cache (options.shared_cache_dir) instead of exchanging. */
    uint64_t adopted_from_shared_cache;
} tinker_auth_stats;

/* Fills *stats with the provider's counters; never blocks on I/O.
 * Set stats->struct_size = sizeof(tinker_auth_stats) first: the library fills
 * the fields that fit in that size (a program compiled against a newer,
 * larger struct gets the fields this version knows, and the rest untouched)
 * and sets struct_size to the bytes it filled. A struct_size smaller than the
 * first release's struct is TINKER_AUTH_ERR_INVALID_ARGUMENT. */
int32_t tinker_auth_get_stats(tinker_auth_handle handle, tinker_auth_stats *stats);

/* The version of the library linked, "MAJOR.MINOR.PATCH": static text, not
 * to be freed. */
const char *tinker_auth_version(void);

/* Releases a provider and stops its background thread (waiting briefly if it
 * is mid-exchange). Freeing 0 does nothing; freeing twice returns
 * TINKER_AUTH_ERR_INVALID_HANDLE (of two threads freeing a handle at once,
 * exactly one gets TINKER_AUTH_OK). Calls other threads are making on the
 * handle at that moment are not waited for: they finish normally, with their
 * own result, and the last of them releases the provider; every call that
 * starts after free returns TINKER_AUTH_ERR_INVALID_HANDLE. */
int32_t tinker_auth_free(tinker_auth_handle handle);

/* Returns the code of the last failed call on this thread (TINKER_AUTH_OK if
 * none; successful calls leave it unchanged), and copies its message,
 * truncated to fit and NUL-terminated, into buf when buf is not NULL and
 * buf_len > 0. */
int32_t tinker_auth_last_error(char *buf, size_t buf_len);

#ifdef __cplusplus
}
#endif

#endif /* TINKER_AUTH_H */
