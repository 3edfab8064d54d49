/*
 * Misuse of the C API: null pointers, invalid UTF-8, short buffers, dead and
 * bogus handles, bad options, rejected and unreachable servers. Each must
 * give its documented error code, never a crash.
 *
 * Usage: edge_cases BASE_URL API_KEY DEAD_URL
 * (DEAD_URL: a loopback URL where nothing listens.) Exits 0 when every check
 * passed, else prints each failed check and exits 1.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tinker_auth.h"

static int failures;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "FAIL line %d: %s\n", __LINE__, #cond);        \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static int last_code(char *msg, size_t len) { return tinker_auth_last_error(msg, len); }

static void *fresh_thread(void *arg) {
    int *code = arg;
    char msg[16] = "untouched";
    *code = tinker_auth_last_error(msg, sizeof msg);
    if (msg[0] != '\0') *code = 12345; /* a new thread has an empty message */
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s BASE_URL API_KEY DEAD_URL\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *key = argv[2], *dead = argv[3];
    char msg[TINKER_AUTH_ERROR_MESSAGE_LEN];
    tinker_auth_error err;

    /* Options round-trip and layout agreement. */
    tinker_auth_options options = tinker_auth_options_default();
    CHECK(options.struct_size == sizeof(tinker_auth_options));
    CHECK(options.background_refresh == 1);
    CHECK(options.fetch_timeout_ms == 30000);
    CHECK(options.refresh_before_expiry_ms == 0);
    CHECK(options.shared_cache_dir == NULL);

    /* An older caller's smaller struct (without shared_cache_dir) still works;
     * the bytes past it are never read (poisoned here to show it). */
    {
        tinker_auth_options older = tinker_auth_options_default();
        older.struct_size = (uint32_t)offsetof(tinker_auth_options, shared_cache_dir);
        older.background_refresh = 0;
        older.shared_cache_dir = (const char *)(uintptr_t)1;
        tinker_auth_handle h_old = tinker_auth_new_with_options(url, key, &older, &err);
        CHECK(h_old != 0);
        if (h_old != 0) {
            tinker_auth_free(h_old);
        }
    }
    /* The whole struct, sharing a directory: two handles, one exchange. */
    {
        char dir[] = "/tmp/tinker-auth-c-shared-XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        tinker_auth_options shared = tinker_auth_options_default();
        shared.background_refresh = 0;
        shared.shared_cache_dir = dir;
        tinker_auth_handle h1 = tinker_auth_new_with_options(url, key, &shared, &err);
        tinker_auth_handle h2 = tinker_auth_new_with_options(url, key, &shared, &err);
        CHECK(h1 != 0 && h2 != 0);
        char t1[4096], t2[4096];
        size_t l1 = 0, l2 = 0;
        CHECK(tinker_auth_get_token(h1, t1, sizeof t1, &l1) == TINKER_AUTH_OK);
        CHECK(tinker_auth_get_token(h2, t2, sizeof t2, &l2) == TINKER_AUTH_OK);
        CHECK(l1 == l2 && memcmp(t1, t2, l1) == 0);
        /* The entry's lock held elsewhere (another open file description, as
         * a stopped or wedged process would hold it): a refresh waits a
         * bounded time, then exchanges on its own instead of failing. */
        int held[8];
        int n_held = 0;
        DIR *d = opendir(dir);
        CHECK(d != NULL);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL && n_held < 8) {
            size_t n = strlen(e->d_name);
            if (n > 5 && strcmp(e->d_name + n - 5, ".lock") == 0) {
                char path[512];
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                int fd = open(path, O_RDONLY);
                CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0);
                held[n_held++] = fd;
            }
        }
        if (d != NULL) {
            closedir(d);
        }
        CHECK(n_held == 1);
        t1[l1] = '\0';
        CHECK(tinker_auth_invalidate(h1, t1) == TINKER_AUTH_OK);
        char t3[4096];
        size_t l3 = 0;
        CHECK(tinker_auth_get_token(h1, t3, sizeof t3, &l3) == TINKER_AUTH_OK);
        CHECK(l3 > 0);
        for (int i = 0; i < n_held; i++) {
            close(held[i]);
        }
        tinker_auth_free(h1);
        tinker_auth_free(h2);
        /* The directory holds files only (the entry, its lock, the key):
         * removed, so that no run leaves it behind. */
        d = opendir(dir);
        CHECK(d != NULL);
        while (d != NULL && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char path[512];
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                CHECK(unlink(path) == 0);
            }
        }
        if (d != NULL) {
            closedir(d);
        }
        CHECK(rmdir(dir) == 0);
    }

    /* tinker_auth_new: base_url NULL (the environment), bad UTF-8, bad key,
     * rejected key, unreachable, bad options. */
    CHECK(setenv("TINKER_BASE_URL", "not a url", 1) == 0);
    CHECK(tinker_auth_new(NULL, key, &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "base url") != NULL);
    CHECK(last_code(msg, sizeof msg) == TINKER_AUTH_ERR_INVALID_ARGUMENT);
    CHECK(strcmp(msg, err.message) == 0);

    CHECK(tinker_auth_new("http://127.0.0.1:1/\xff", key, &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_INVALID_UTF8);
    CHECK(tinker_auth_new(url, "tml-\xc3\x28", &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_INVALID_UTF8);

    CHECK(tinker_auth_new(url, "sk-not-a-tinker-key", &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "not-a-tinker-key") == NULL);

    CHECK(tinker_auth_new(url, "tml-wrong-key", &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_REJECTED);
    CHECK(strstr(err.message, "wrong-key") == NULL);

    options.fetch_timeout_ms = 3000;
    CHECK(tinker_auth_new_with_options(dead, key, &options, &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_UNAVAILABLE);

    CHECK(tinker_auth_new("http://tinker.example.com", key, &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_INVALID_ARGUMENT);

    tinker_auth_options bad = tinker_auth_options_default();
    bad.struct_size = 8;
    CHECK(tinker_auth_new_with_options(url, key, &bad, &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_INVALID_ARGUMENT);
    CHECK(strstr(err.message, "struct_size") != NULL);
    bad = tinker_auth_options_default();
    bad.fetch_timeout_ms = 0;
    CHECK(tinker_auth_new_with_options(url, key, &bad, &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_INVALID_ARGUMENT);
    bad = tinker_auth_options_default();
    bad.retry_delay_ms = UINT64_MAX;
    CHECK(tinker_auth_new_with_options(url, key, &bad, &err) == 0);
    CHECK(err.code == TINKER_AUTH_ERR_INVALID_ARGUMENT);

    /* err may be NULL. */
    CHECK(tinker_auth_new(NULL, key, NULL) == 0);
    CHECK(last_code(NULL, 0) == TINKER_AUTH_ERR_INVALID_ARGUMENT);

    /* Zero-config: base_url and api_key NULL, both from the environment. */
    CHECK(setenv("TINKER_BASE_URL", url, 1) == 0);
    CHECK(setenv("TINKER_API_KEY", key, 1) == 0);
    {
        tinker_auth_handle z = tinker_auth_new(NULL, NULL, &err);
        CHECK(z != 0);
        CHECK(err.code == TINKER_AUTH_OK);
        char zjwt[4096];
        size_t zlen = 0;
        CHECK(tinker_auth_get_token(z, zjwt, sizeof zjwt, &zlen) == TINKER_AUTH_OK);
        CHECK(zlen > 0 && strncmp(zjwt, "eyJ", 3) == 0);
        tinker_auth_free(z);
    }
    CHECK(unsetenv("TINKER_BASE_URL") == 0);
    CHECK(unsetenv("TINKER_API_KEY") == 0);

    /* A working handle, without a background thread. */
    options = tinker_auth_options_default();
    options.background_refresh = 0;
    tinker_auth_handle h = tinker_auth_new_with_options(url, key, &options, &err);
    CHECK(h != 0);
    CHECK(err.code == TINKER_AUTH_OK);
    CHECK(err.message[0] == '\0');

    /* Size query, short buffers, exact fit. */
    size_t len = 0;
    CHECK(tinker_auth_get_token(h, NULL, 0, &len) == TINKER_AUTH_ERR_BUFFER_TOO_SMALL);
    CHECK(len > 20 && len < 4096);
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    size_t len2 = 0;
    CHECK(tinker_auth_get_token(h, buf, len, &len2) == TINKER_AUTH_ERR_BUFFER_TOO_SMALL);
    CHECK(len2 == len);
    CHECK(buf[0] == 'x' && buf[len - 1] == 'x'); /* nothing copied */
    CHECK(last_code(msg, sizeof msg) == TINKER_AUTH_ERR_BUFFER_TOO_SMALL);
    CHECK(strstr(msg, "buffer too small") != NULL);
    CHECK(tinker_auth_get_token(h, buf, len + 1, &len2) == TINKER_AUTH_OK);
    CHECK(strlen(buf) == len && len2 == len);
    CHECK(strncmp(buf, "eyJ", 3) == 0);
    /* The message must not echo the token. */
    CHECK(strstr(msg, buf) == NULL);
    CHECK(tinker_auth_get_token(h, NULL, 16, &len2) == TINKER_AUTH_ERR_NULL_POINTER);
    CHECK(tinker_auth_get_token(h, buf, sizeof buf, NULL) == TINKER_AUTH_OK);

    /* Invalidating the current token makes the next call fetch another. */
    char first[4096];
    memcpy(first, buf, strlen(buf) + 1);
    CHECK(tinker_auth_invalidate(h, first) == TINKER_AUTH_OK);
    CHECK(tinker_auth_get_token(h, buf, sizeof buf, NULL) == TINKER_AUTH_OK);
    CHECK(strcmp(buf, first) != 0);
    CHECK(tinker_auth_invalidate(h, NULL) == TINKER_AUTH_ERR_NULL_POINTER);
    CHECK(tinker_auth_invalidate(h, "eyJ\xff") == TINKER_AUTH_ERR_INVALID_UTF8);

    /* Truncated last-error messages stay NUL-terminated. */
    char tiny[8];
    memset(tiny, 'x', sizeof tiny);
    CHECK(tinker_auth_last_error(tiny, sizeof tiny) == TINKER_AUTH_ERR_INVALID_UTF8);
    CHECK(strlen(tiny) == sizeof tiny - 1);
    CHECK(strncmp(tiny, "tinker_", 7) == 0);

    /* Free, double free, use after free, bogus handles, 0. */
    CHECK(tinker_auth_free(h) == TINKER_AUTH_OK);
    CHECK(tinker_auth_free(h) == TINKER_AUTH_ERR_INVALID_HANDLE);
    CHECK(tinker_auth_get_token(h, buf, sizeof buf, &len) == TINKER_AUTH_ERR_INVALID_HANDLE);
    CHECK(tinker_auth_invalidate(h, first) == TINKER_AUTH_ERR_INVALID_HANDLE);
    CHECK(tinker_auth_get_token(0, buf, sizeof buf, &len) == TINKER_AUTH_ERR_INVALID_HANDLE);
    CHECK(tinker_auth_get_token(0xdeadbeefULL, buf, sizeof buf, &len) ==
          TINKER_AUTH_ERR_INVALID_HANDLE);
    CHECK(last_code(msg, sizeof msg) == TINKER_AUTH_ERR_INVALID_HANDLE);
    CHECK(strstr(msg, "invalid handle") != NULL);
    CHECK(tinker_auth_free(0) == TINKER_AUTH_OK);

    /* The last error is per thread. */
    pthread_t t;
    int code = -100;
    CHECK(pthread_create(&t, NULL, fresh_thread, &code) == 0);
    pthread_join(t, NULL);
    CHECK(code == TINKER_AUTH_OK);
    CHECK(last_code(NULL, 0) == TINKER_AUTH_ERR_INVALID_HANDLE);

    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
