/*
 * tinker_auth_free() while other threads are inside calls on the same handle.
 *
 * What the ABI promises: free removes the handle at once and returns
 * TINKER_AUTH_OK without waiting for calls in flight. A call already inside
 * (here: waiting on a slow token exchange) finishes normally with its own
 * result: the provider stays alive until the last such call returns, and is
 * then released (its background thread stopped) by that call. Every call that
 * looks the handle up after free returns TINKER_AUTH_ERR_INVALID_HANDLE, and
 * so does a second free, even when two threads free the handle at once:
 * exactly one of them gets TINKER_AUTH_OK.
 *
 * Usage: destroy_race BASE_URL API_KEY
 * BASE_URL answers each exchange after a delay (the stand-in's Slow mode,
 * about a second), so that a thread that asks for a new token is inside a
 * call for that long. Prints "inside N" (rounds in which free happened while
 * a call was inside) and exits 0 when every check passed.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tinker_auth.h"

#define LOOPERS 3
#define ROUNDS 4

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL line %d: %s\n", __LINE__, #cond);        \
            __atomic_add_fetch(&failures, 1, __ATOMIC_SEQ_CST);            \
        }                                                                  \
    } while (0)

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct round {
    tinker_auth_handle handle;
    int entered;        /* the slow caller is about to call */
    int slow_code;      /* what its call returned */
    int after_code;     /* what its next call returned */
    int free_codes[2];  /* the two concurrent frees */
};

/* Invalidates the current token and asks for a new one: a slow exchange. */
static void *slow_caller(void *arg) {
    struct round *r = arg;
    char token[4096];
    size_t len = 0;
    CHECK(tinker_auth_get_token(r->handle, token, sizeof token, &len) == TINKER_AUTH_OK);
    CHECK(tinker_auth_invalidate(r->handle, token) == TINKER_AUTH_OK);
    __atomic_store_n(&r->entered, 1, __ATOMIC_SEQ_CST);
    r->slow_code = tinker_auth_get_token(r->handle, token, sizeof token, &len);
    if (r->slow_code == TINKER_AUTH_OK) CHECK(strlen(token) == len && len > 0);
    r->after_code = tinker_auth_get_token(r->handle, token, sizeof token, &len);
    return NULL;
}

/* Calls with small buffers and size queries until the handle is gone. */
static void *looper(void *arg) {
    struct round *r = arg;
    for (;;) {
        char small[8];
        size_t len = 0;
        int code = tinker_auth_get_token(r->handle, small, sizeof small, &len);
        if (code == TINKER_AUTH_ERR_INVALID_HANDLE) break;
        CHECK(code == TINKER_AUTH_ERR_BUFFER_TOO_SMALL);
        code = tinker_auth_get_token(r->handle, NULL, 0, &len);
        if (code == TINKER_AUTH_ERR_INVALID_HANDLE) break;
        CHECK(code == TINKER_AUTH_ERR_BUFFER_TOO_SMALL && len > 8);
        sleep_ms(5);
    }
    return NULL;
}

struct freer {
    struct round *r;
    int which;
};

static void *freer(void *arg) {
    struct freer *f = arg;
    f->r->free_codes[f->which] = tinker_auth_free(f->r->handle);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s BASE_URL API_KEY\n", argv[0]);
        return 2;
    }
    tinker_auth_options options = tinker_auth_options_default();
    options.fetch_timeout_ms = 60000; /* generous: valgrind is slow */
    int inside = 0;
    for (int round = 0; round < ROUNDS && inside < 2; round++) {
        struct round r;
        memset(&r, 0, sizeof r);
        tinker_auth_error err;
        /* Background refresh on in odd rounds: its thread is stopped too. */
        options.background_refresh = (unsigned)(round % 2);
        r.handle = tinker_auth_new_with_options(argv[1], argv[2], &options, &err);
        CHECK(r.handle != 0);
        if (r.handle == 0) {
            fprintf(stderr, "tinker_auth_new: %s\n", err.message);
            break;
        }
        pthread_t slow, loopers[LOOPERS], freers[2];
        pthread_create(&slow, NULL, slow_caller, &r);
        for (int i = 0; i < LOOPERS; i++) pthread_create(&loopers[i], NULL, looper, &r);
        while (!__atomic_load_n(&r.entered, __ATOMIC_SEQ_CST)) sleep_ms(1);
        /* The exchange takes about a second: free well inside it. */
        sleep_ms(300);
        struct freer f[2] = {{&r, 0}, {&r, 1}};
        for (int i = 0; i < 2; i++) pthread_create(&freers[i], NULL, freer, &f[i]);
        for (int i = 0; i < 2; i++) pthread_join(freers[i], NULL);
        /* Exactly one free wins; the other sees the handle gone. */
        CHECK((r.free_codes[0] == TINKER_AUTH_OK) != (r.free_codes[1] == TINKER_AUTH_OK));
        CHECK(r.free_codes[0] == TINKER_AUTH_ERR_INVALID_HANDLE ||
              r.free_codes[1] == TINKER_AUTH_ERR_INVALID_HANDLE);
        pthread_join(slow, NULL);
        for (int i = 0; i < LOOPERS; i++) pthread_join(loopers[i], NULL);
        /* The call inside finished with a token, or (descheduled for the
         * whole 300 ms) had not looked the handle up yet. */
        CHECK(r.slow_code == TINKER_AUTH_OK || r.slow_code == TINKER_AUTH_ERR_INVALID_HANDLE);
        if (r.slow_code == TINKER_AUTH_OK) inside++;
        CHECK(r.after_code == TINKER_AUTH_ERR_INVALID_HANDLE);
        CHECK(tinker_auth_free(r.handle) == TINKER_AUTH_ERR_INVALID_HANDLE);
        CHECK(tinker_auth_invalidate(r.handle, "x.y.z") == TINKER_AUTH_ERR_INVALID_HANDLE);
    }
    CHECK(inside >= 1);
    printf("inside %d\n", inside);
    return failures == 0 ? 0 : 1;
}
