/*
 * What a C program can learn besides the token: the library's version (the
 * header's macros against tinker_auth_version()), the token's expiry and
 * runway, and the provider's counters, including an older or newer caller's
 * struct_size. Prints one `key value` line per figure for the Rust side to
 * check.
 *
 * Usage: info BASE_URL API_KEY
 * Exits 0 when every check passed, else prints each failed check and exits 1.
 */
#define _POSIX_C_SOURCE 200809L

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tinker_auth.h"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL line %d: %s\n", __LINE__, #cond);        \
            failures++;                                                    \
        }                                                                  \
    } while (0)

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BASE_URL API_KEY\n", argv[0]);
        return 2;
    }
    char expected[64];
    snprintf(expected, sizeof expected, "%d.%d.%d", TINKER_AUTH_VERSION_MAJOR,
             TINKER_AUTH_VERSION_MINOR, TINKER_AUTH_VERSION_PATCH);
    const char *linked = tinker_auth_version();
    CHECK(linked != NULL && strcmp(linked, expected) == 0);
    printf("version %s\n", linked ? linked : "(null)");

    tinker_auth_options options = tinker_auth_options_default();
    options.background_refresh = 0;
    tinker_auth_error err;
    tinker_auth_handle h = tinker_auth_new_with_options(argv[1], argv[2], &options, &err);
    if (h == 0) {
        fprintf(stderr, "tinker_auth_new: %s (code %d)\n", err.message, (int)err.code);
        return 1;
    }
    char token[4096];
    CHECK(tinker_auth_get_token(h, token, sizeof token, NULL) == TINKER_AUTH_OK);
    CHECK(tinker_auth_get_token(h, token, sizeof token, NULL) == TINKER_AUTH_OK);

    int64_t expires_at = 0;
    uint64_t runway_ms = 0;
    CHECK(tinker_auth_token_expiry(h, &expires_at, &runway_ms) == TINKER_AUTH_OK);
    CHECK(tinker_auth_token_expiry(h, NULL, NULL) == TINKER_AUTH_OK);
    CHECK(expires_at > (int64_t)time(NULL) - 60);
    printf("expires_at %lld\n", (long long)expires_at);
    printf("runway_ms %llu\n", (unsigned long long)runway_ms);

    tinker_auth_stats stats;
    memset(&stats, 0xff, sizeof stats);
    stats.struct_size = sizeof stats;
    CHECK(tinker_auth_get_stats(h, &stats) == TINKER_AUTH_OK);
    CHECK(stats.struct_size == sizeof stats);
    printf("exchanges_started %llu\n", (unsigned long long)stats.exchanges_started);
    printf("exchanges_succeeded %llu\n", (unsigned long long)stats.exchanges_succeeded);
    printf("exchanges_failed %llu\n", (unsigned long long)stats.exchanges_failed);
    printf("exchanges_on_demand %llu\n", (unsigned long long)stats.exchanges_on_demand);
    printf("exchanges_background %llu\n", (unsigned long long)stats.exchanges_background);
    printf("waits %llu\n", (unsigned long long)stats.waits);
    printf("served_from_cache %llu\n", (unsigned long long)stats.served_from_cache);
    printf("adopted_from_shared_cache %llu\n",
           (unsigned long long)stats.adopted_from_shared_cache);

    /* A newer caller's larger struct: the known fields are filled, the rest
     * untouched, struct_size says how much was filled. */
    struct {
        tinker_auth_stats known;
        uint64_t later_field;
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.known.struct_size = sizeof newer;
    newer.later_field = 42;
    CHECK(tinker_auth_get_stats(h, &newer.known) == TINKER_AUTH_OK);
    CHECK(newer.known.struct_size == sizeof(tinker_auth_stats));
    CHECK(newer.known.exchanges_started == stats.exchanges_started);
    CHECK(newer.later_field == 42);

    /* Misuse: short struct, null pointer, dead handle. */
    tinker_auth_stats shorter = {0};
    shorter.struct_size = 4;
    CHECK(tinker_auth_get_stats(h, &shorter) == TINKER_AUTH_ERR_INVALID_ARGUMENT);
    CHECK(tinker_auth_get_stats(h, NULL) == TINKER_AUTH_ERR_NULL_POINTER);

    CHECK(tinker_auth_free(h) == TINKER_AUTH_OK);
    stats.struct_size = sizeof stats;
    CHECK(tinker_auth_get_stats(h, &stats) == TINKER_AUTH_ERR_INVALID_HANDLE);
    CHECK(tinker_auth_token_expiry(h, &expires_at, &runway_ms) == TINKER_AUTH_ERR_INVALID_HANDLE);

    if (failures) return 1;
    printf("ok\n");
    return 0;
}
