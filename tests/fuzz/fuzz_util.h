/*
 * fuzz_util.h - helpers shared by the libFuzzer targets in tests/fuzz/:
 * a per-process scratch file or directory for parsers that only read
 * from a path, and the location of the shared test fixtures.
 */
#ifndef DM_TESTS_FUZZ_UTIL_H
#define DM_TESTS_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points (defined by each target). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * The fixtures directory: $DM_FIXTURES when set, else the DM_FIXTURES_DIR
 * define the build passes.  Borrowed.
 */
const char *dm_fuzz_fixtures(void);

/*
 * A new directory private to this process (under $TMPDIR or /tmp),
 * removed with everything in it at exit.  Borrowed.  Aborts on failure.
 */
const char *dm_fuzz_tmpdir(void);

/*
 * Replaces the file dir/rel (rel may name one subdirectory level, which
 * is created) with the len bytes at data.  Aborts on failure.
 */
void dm_fuzz_write(const char *dir, const char *rel, const void *data,
                   size_t len);

/* Reads a whole file into a new buffer (free()); aborts on failure. */
char *dm_fuzz_read(const char *path, size_t *len);

#endif
