/*
 * testutil.h - file, directory and process helpers for the Criterion
 * suites: fixture paths, whole-file reads and writes, scratch
 * directories, and running the driftmon binary with its output captured.
 *
 * One home for what every suite used to spell out for itself.  Each
 * helper asserts (cr_assert) on an unexpected failure, so a test reads as
 * its steps; they are for tests only and never part of the core library.
 *
 * Environment (set by meson for every test): DM_FIXTURES (the shared
 * fixtures directory), DM_BINARY (the driftmon binary).
 *
 * Thread-safety: none needed (each Criterion test is its own process).
 */
#ifndef DM_TESTS_TESTUTIL_H
#define DM_TESTS_TESTUTIL_H

#include <stddef.h>

/* String equality for cr_assert that logs both sides when they differ:
 * returns 1 if a and b are equal strings, else 0 (NULL-safe: NULL equals
 * nothing, not even NULL). */
int tu_streq(const char *a, const char *b);

/* Writes "$DM_FIXTURES/rel" into buf (of n bytes); asserts that
 * DM_FIXTURES is set and that the path fits. */
void tu_fixture_path(char *buf, size_t n, const char *rel);

/* Creates or truncates path and writes the n bytes at p to it. */
void tu_write_bytes(const char *path, const void *p, size_t n);

/* Creates or truncates path and writes the string text to it. */
void tu_write_file(const char *path, const char *text);

/* Returns the whole content of path, NUL-terminated, and its length in
 * *len (len may be NULL).  The caller frees the result. */
char *tu_read_file(const char *path, size_t *len);

/* Reads path into out (n bytes): at most n - 1 bytes, then a NUL. */
void tu_read_into(const char *path, char *out, size_t n);

/* Creates a fresh directory /tmp/dm-<prefix>-XXXXXX and writes its path
 * into buf (of n bytes). */
void tu_tmpdir_make(char *buf, size_t n, const char *prefix);

/* Removes dir and everything under it (no error if it is gone; a
 * warning in the test's log if it cannot). */
void tu_tmpdir_remove(const char *dir);

/* Creates a fresh, empty database <prefix>_<pid>_<n> on the server of
 * DM_PG_URL (tests/pg/with-postgres sets it, with DM_PG_USER, DM_PG_HOST
 * and DM_PG_PORT) and writes its URL into url (n bytes). */
void tu_pg_database_new(const char *prefix, char *url, size_t n);

/* Runs `"$DM_BINARY" args` through /bin/sh (args is a shell fragment,
 * quoted by the caller; it may redirect stdin).  Its stdout goes into
 * out (outlen bytes, NUL-terminated, cut if longer); its stderr into err
 * (errlen bytes), or, when err is NULL, after stdout into out as well.
 * Returns the exit status, or -1 if it did not exit normally. */
int tu_run_binary(const char *args, char *out, size_t outlen, char *err,
                  size_t errlen);

#endif
