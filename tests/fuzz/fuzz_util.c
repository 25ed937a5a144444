/*
 * fuzz_util.c - the scratch files and fixture lookup the fuzz targets
 * share (see fuzz_util.h).  The scratch directory is removed by an
 * atexit handler, so a normal end of a fuzzing run leaves nothing behind
 * (a crash may leave it; it lives under /tmp).
 */
#define _XOPEN_SOURCE 700 /* nftw() */
#include "fuzz_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef DM_FIXTURES_DIR
#define DM_FIXTURES_DIR "../shared/fixtures"
#endif

static char tmpdir[4096];

const char *dm_fuzz_fixtures(void)
{
    const char *env = getenv("DM_FIXTURES");

    return env && *env ? env : DM_FIXTURES_DIR;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tmpdir(void)
{
    if (tmpdir[0] != '\0')
        (void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *dm_fuzz_tmpdir(void)
{
    const char *base = getenv("TMPDIR");

    if (tmpdir[0] != '\0')
        return tmpdir;
    snprintf(tmpdir, sizeof(tmpdir), "%s/dm-fuzz-XXXXXX",
             base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(rm_tmpdir);
    return tmpdir;
}

void dm_fuzz_write(const char *dir, const char *rel, const void *data,
                   size_t len)
{
    char path[8192];
    const char *slash = strchr(rel, '/');
    FILE *f;

    if (slash != NULL) {
        snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(slash - rel), rel);
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            perror("fuzz: mkdir");
            abort();
        }
    }
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    f = fopen(path, "wb");
    if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) ||
        fclose(f) != 0) {
        perror("fuzz: write");
        abort();
    }
}

char *dm_fuzz_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "fuzz: cannot read %s\n", path);
        abort();
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}
