/*
 * Eight pthreads share one tinker_auth handle and call tinker_auth_get_token()
 * for a few token lifetimes, checking every token: a NUL-terminated string of
 * the reported length, three dot-separated parts, and an `exp` claim later
 * than the moment the call started (so no expired token is ever handed out).
 *
 * Usage: threads BASE_URL API_KEY SECONDS
 * Prints "calls N" and one "token JWT" line per distinct token seen, for the
 * Rust test (tests/ffi_c.rs) to verify signatures against the server's key.
 * Exits 0 when every check passed.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinker_auth.h"

#define THREADS 8
#define MAX_TOKENS 1024
#define TOKEN_BUF 4096

static tinker_auth_handle handle;
static double deadline;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *tokens[MAX_TOKENS];
static size_t token_count;
static unsigned long failures;
static unsigned long total_calls;

static double now_secs(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, const char *detail) {
    pthread_mutex_lock(&lock);
    if (failures++ < 10) {
        fprintf(stderr, "FAIL: %s: %s\n", what, detail);
    }
    pthread_mutex_unlock(&lock);
}

static int b64url_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decodes base64url from [in, in+len) into out (NUL-terminated); -1 on error. */
static int b64url_decode(const char *in, size_t len, char *out, size_t out_len) {
    unsigned long acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value(in[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= out_len) return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return 0;
}

/* Checks one token; returns its exp claim, or -1 after reporting a failure. */
static double check_token(const char *token, size_t len, double started) {
    if (strlen(token) != len) {
        fail("length", "strlen differs from the reported token_len");
        return -1;
    }
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot1 || !dot2 || strchr(dot2 + 1, '.') || dot2[1] == '\0') {
        fail("shape", "not three dot-separated parts");
        return -1;
    }
    char payload[TOKEN_BUF];
    if (b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), payload, sizeof payload) != 0) {
        fail("payload", "not base64url");
        return -1;
    }
    const char *exp = strstr(payload, "\"exp\":");
    if (!exp) {
        fail("payload", "no exp claim");
        return -1;
    }
    double expiry = strtod(exp + 6, NULL);
    if (!(expiry > started)) {
        char detail[128];
        snprintf(detail, sizeof detail, "exp %.0f is not after the call's start %.3f", expiry,
                 started);
        fail("expired token handed out", detail);
        return -1;
    }
    return expiry;
}

static void remember(const char *token) {
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < token_count && strcmp(tokens[i], token) != 0) i++;
    if (i == token_count && token_count < MAX_TOKENS) {
        size_t len = strlen(token);
        tokens[token_count] = malloc(len + 1);
        if (tokens[token_count]) {
            memcpy(tokens[token_count], token, len + 1);
            token_count++;
        }
    }
    pthread_mutex_unlock(&lock);
}

static void *worker(void *arg) {
    (void)arg;
    char buf[TOKEN_BUF];
    char last[TOKEN_BUF] = "";
    unsigned long calls = 0;
    const struct timespec pause = {0, 5 * 1000 * 1000};
    while (now_secs() < deadline) {
        double started = now_secs();
        size_t len = 0;
        int32_t rc = tinker_auth_get_token(handle, buf, sizeof buf, &len);
        calls++;
        if (rc != TINKER_AUTH_OK) {
            char msg[TINKER_AUTH_ERROR_MESSAGE_LEN];
            tinker_auth_last_error(msg, sizeof msg);
            fail("tinker_auth_get_token", msg);
        } else if (check_token(buf, len, started) > 0 && strcmp(buf, last) != 0) {
            remember(buf);
            memcpy(last, buf, len + 1);
        }
        nanosleep(&pause, NULL);
    }
    pthread_mutex_lock(&lock);
    total_calls += calls;
    pthread_mutex_unlock(&lock);
    if (calls == 0) fail("worker", "made no call");
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BASE_URL API_KEY SECONDS\n", argv[0]);
        return 2;
    }
    tinker_auth_options options = tinker_auth_options_default();
    options.fetch_timeout_ms = 5000;
    tinker_auth_error err;
    handle = tinker_auth_new_with_options(argv[1], argv[2], &options, &err);
    if (handle == 0 || err.code != TINKER_AUTH_OK) {
        fprintf(stderr, "FAIL: tinker_auth_new: %d %s\n", err.code, err.message);
        return 1;
    }
    deadline = now_secs() + atof(argv[3]);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        if (pthread_create(&threads[i], NULL, worker, NULL) != 0) {
            fprintf(stderr, "FAIL: pthread_create\n");
            return 1;
        }
    }
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    if (tinker_auth_free(handle) != TINKER_AUTH_OK) fail("tinker_auth_free", "not OK");
    char buf[TOKEN_BUF];
    if (tinker_auth_get_token(handle, buf, sizeof buf, NULL) != TINKER_AUTH_ERR_INVALID_HANDLE) {
        fail("use after free", "not reported as TINKER_AUTH_ERR_INVALID_HANDLE");
    }
    printf("calls %lu\n", total_calls);
    for (size_t i = 0; i < token_count; i++) {
        printf("token %s\n", tokens[i]);
        free(tokens[i]);
    }
    if (failures) {
        fprintf(stderr, "%lu failures\n", failures);
        return 1;
    }
    return 0;
}
