/*
 * whoami: gets a Tinker JWT through the C library and prints its runway.
 *
 *   TINKER_API_KEY=tml-... ./whoami [BASE_URL]
 *
 * The base URL defaults to TINKER_BASE_URL (else the library's default); the
 * credential comes from TINKER_API_KEY (or TINKER_CREDENTIAL_CMD), never from
 * the command line, where other users could read it. The token itself is a
 * secret and is not printed: only its length and its runway, read from its
 * `exp` claim (seconds since the epoch) by this machine's clock.
 *
 * Build against an installed library (see install.sh):
 *   cc whoami.c $(pkg-config --cflags --libs tinker-auth) -o whoami
 * or statically:
 *   cc whoami.c $(pkg-config --cflags tinker-auth) \
 *      -Wl,-Bstatic $(pkg-config --static --libs tinker-auth) -o whoami
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tinker_auth.h>

/* Value of one base64url character, or -1. */
static int b64url_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decodes `len` base64url characters (no padding) into `out` (at least
 * len * 3 / 4 + 1 bytes) and NUL-terminates it. Returns 0, or -1 if the text
 * is not base64url. */
static int b64url_decode(const char *in, size_t len, char *out) {
    unsigned long bits = 0;
    int nbits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);
        if (v < 0) return -1;
        bits = (bits << 6) | (unsigned long)v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[n++] = (char)((bits >> nbits) & 0xff);
        }
    }
    out[n] = '\0';
    return 0;
}

/* The `exp` claim of a JWT (seconds since the epoch), or -1. A JSON parser
 * would be the right tool in a real program; the payload is flat JSON from
 * the Tinker API, so looking for "exp": is enough here. */
static double jwt_exp(const char *jwt) {
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2) return -1;
    size_t len = (size_t)(dot2 - dot1 - 1);
    char *payload = malloc(len * 3 / 4 + 2);
    if (!payload) return -1;
    double exp = -1;
    if (b64url_decode(dot1 + 1, len, payload) == 0) {
        const char *key = strstr(payload, "\"exp\"");
        const char *colon = key ? strchr(key + 5, ':') : NULL;
        if (colon) {
            char *end = NULL;
            double v = strtod(colon + 1, &end);
            if (end != colon + 1 && v >= 0) exp = v;
        }
    }
    free(payload);
    return exp;
}

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

    double exp = jwt_exp(token);
    printf("token: %zu bytes (not shown: it is a secret)\n", token_len);
    if (exp < 0) {
        printf("runway: unknown (no readable exp claim)\n");
    } else {
        double left = exp - (double)time(NULL);
        printf("expires: %.0f (Unix seconds)\n", exp);
        printf("runway: %.0f s left (by this machine's clock)\n", left > 0 ? left : 0);
    }
    memset(token, 0, sizeof token);
    tinker_auth_free(auth);
    return 0;
}
