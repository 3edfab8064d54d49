/*
 * whoami: gets a Tinker JWT through the C library and prints its runway.
 *
 *   TINKER_API_KEY=tml-... ./whoami [BASE_URL]
 *
 * The base URL defaults to TINKER_BASE_URL (else the library's default); the
 * credential comes from TINKER_API_KEY (or TINKER_CREDENTIAL_CMD), never from
 * the command line, where other users could read it. The token itself is a
 * secret and is not printed: only its length, its expiry (the `exp` claim,
 * Unix seconds) and its runway, both from tinker_auth_token_expiry() (the
 * runway by the provider's estimate of the server's clock).
 *
 * Build against an installed library (see install.sh):
 *   cc whoami.c $(pkg-config --cflags --libs tinker-auth) -o whoami
 * or statically:
 *   cc whoami.c $(pkg-config --cflags tinker-auth) \
 *      -Wl,-Bstatic $(pkg-config --static --libs tinker-auth) -o whoami
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <tinker_auth.h>

int main(int argc, char **argv) {
    const char *base_url = argc > 1 ? argv[1] : NULL; /* NULL: TINKER_BASE_URL */
    tinker_auth_error err;
    /* api_key NULL: TINKER_API_KEY, else TINKER_CREDENTIAL_CMD. */
    tinker_auth_options options = tinker_auth_options_default();
    options.background_refresh = 0; /* one token, then exit */
    tinker_auth_handle auth = tinker_auth_new_with_options(base_url, NULL, &options, &err);
    if (auth == 0) {
        fprintf(stderr, "whoami: %s (code %d)\n", err.message, (int)err.code);
        return 1;
    }

    char token[8192];
    size_t token_len = 0;
    int32_t rc = tinker_auth_get_token(auth, token, sizeof token, &token_len);
    if (rc != TINKER_AUTH_OK) {
        char message[TINKER_AUTH_ERROR_MESSAGE_LEN];
        tinker_auth_last_error(message, sizeof message);
        fprintf(stderr, "whoami: %s (code %d)\n", message, (int)rc);
        tinker_auth_free(auth);
        return 1;
    }

    int64_t expires_at = -1;
    uint64_t runway_ms = 0;
    rc = tinker_auth_token_expiry(auth, &expires_at, &runway_ms);
    printf("library: %s\n", tinker_auth_version());
    printf("token: %zu bytes (not shown: it is a secret)\n", token_len);
    if (rc != TINKER_AUTH_OK || expires_at < 0) {
        printf("runway: unknown (no readable exp claim)\n");
    } else {
        printf("expires: %lld (Unix seconds)\n", (long long)expires_at);
        printf("runway: %llu s left\n", (unsigned long long)(runway_ms / 1000));
    }
    memset(token, 0, sizeof token);
    tinker_auth_free(auth);
    return 0;
}
