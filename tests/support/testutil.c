/*
 * testutil.c - file, directory and process helpers for the Criterion
 * suites (see testutil.h).  The binary's output goes through files in a
 * scratch directory rather than pipes, so stdout and stderr can both be
 * captured without a reader thread and without deadlock on long output.
 */
#define _XOPEN_SOURCE 700
#include "support/testutil.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int tu_streq(const char *a, const char *b)
{
    if (a != NULL && b != NULL && strcmp(a, b) == 0)
        return 1;
    cr_log_error("strings differ:\n\"%s\"\n!=\n\"%s\"", a ? a : "(null)",
                 b ? b : "(null)");
    return 0;
}

void tu_fixture_path(char *buf, size_t n, const char *rel)
{
    const char *f = getenv("DM_FIXTURES");
    int w;

    cr_assert_not_null(f, "DM_FIXTURES is not set");
    w = snprintf(buf, n, "%s/%s", f, rel);
    cr_assert(w >= 0 && (size_t)w < n, "fixture path too long: %s/%s", f, rel);
}

void tu_write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n, "short write to %s", path);
    cr_assert_eq(fclose(f), 0, "cannot close %s", path);
}

void tu_write_file(const char *path, const char *text)
{
    tu_write_bytes(path, text, strlen(text));
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    cr_assert_geq(n, 0);
    cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
    buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n, "short read of %s",
                 path);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

void tu_read_into(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "rb");
    size_t got;

    cr_assert_not_null(f, "cannot open %s", path);
    got = fread(out, 1, n - 1, f);
    out[got] = '\0';
    fclose(f);
}

void tu_tmpdir_make(char *buf, size_t n, const char *prefix)
{
    int w = snprintf(buf, n, "/tmp/dm-%s-XXXXXX", prefix);

    cr_assert(w >= 0 && (size_t)w < n, "temporary path too long");
    cr_assert_not_null(mkdtemp(buf), "mkdtemp %s", buf);
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_tmpdir_remove(const char *dir)
{
    if (access(dir, F_OK) != 0)
        return;
    /* a warning, not a failure: this runs in teardowns */
    if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        cr_log_warn("cannot remove %s", dir);
}

int tu_run_binary(const char *args, char *out, size_t outlen, char *err,
                  size_t errlen)
{
    const char *bin = getenv("DM_BINARY");
    char dir[64], opath[128], epath[128];
    char *cmd;
    size_t cn;
    int st;

    cr_assert_not_null(bin, "DM_BINARY is not set");
    tu_tmpdir_make(dir, sizeof(dir), "run");
    snprintf(opath, sizeof(opath), "%s/out", dir);
    snprintf(epath, sizeof(epath), "%s/err", dir);
    cn = strlen(bin) + strlen(args) + 2 * sizeof(opath) + 64;
    cmd = malloc(cn);
    cr_assert_not_null(cmd);
    if (err != NULL)
        snprintf(cmd, cn, "'%s' %s >'%s' 2>'%s'", bin, args, opath, epath);
    else
        snprintf(cmd, cn, "'%s' %s >'%s' 2>&1", bin, args, opath);
    fflush(NULL);
    st = system(cmd);
    free(cmd);
    tu_read_into(opath, out, outlen);
    if (err != NULL)
        tu_read_into(epath, err, errlen);
    tu_tmpdir_remove(dir);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void tu_pg_database_new(const char *prefix, char *url, size_t n)
{
    static int counter;
    const char *pg = getenv("DM_PG_URL");
    char name[64], sql[128];
    PGconn *c;
    PGresult *r;

    cr_assert(pg && *pg, "DM_PG_URL is not set: run under "
                         "tests/pg/with-postgres");
    snprintf(name, sizeof(name), "%s_%ld_%d", prefix, (long)getpid(),
             counter++);
    c = PQconnectdb(pg);
    cr_assert(PQstatus(c) == CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s",
              PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    snprintf(url, n, "postgresql://%s@%s:%s/%s", getenv("DM_PG_USER"),
             getenv("DM_PG_HOST"), getenv("DM_PG_PORT"), name);
}
