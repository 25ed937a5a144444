/*
 * store_sqlite.c - the SQLite backend of struct dm_store_ops.
 *
 * One sqlite3 connection per dm_store_t, opened in WAL mode with
 * synchronous=NORMAL (durable across process crashes, fast enough for
 * 100k rows/s ingest) and a busy timeout, so several processes can write
 * one file: writers queue behind each other instead of failing.  Writes
 * inside dm_store_tx_begin() use BEGIN IMMEDIATE so two writers never
 * deadlock upgrading a read lock.  Statements use "?N" parameters (the
 * store's "$N" rewritten).  The named lock is flock() on a side file,
 * which excludes other processes and other handles of this process.
 *
 * Read-only databases (a read-only mount, a file or directory without
 * write access) open read-only and serve reads; writes fail with a
 * message naming the cause.  A WAL database needs its -shm file even to
 * read: when that file does not exist and cannot be created (a read-only
 * directory after a clean shutdown), the file is reopened "immutable"
 * (no locks, no WAL): nobody can be writing it then, since a writer
 * would have created the -shm file.  Not when a non-empty -wal file is
 * left (a crash): immutable would hide its commits, so that stays an
 * error (with both -wal and -shm files left, SQLite reads them without
 * writing).  Disk and file-system failures that SQLite reports as I/O
 * errors are named by their errno (ENOSPC, EFBIG, EDQUOT: "database or
 * disk is full"; EROFS: "read-only").
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/time.h"
#include "store/store_int.h"

#define BUSY_TIMEOUT_MS 10000
#define MAX_LOCKS       16

struct held_lock {
    char name[65];
    int fd;
};

struct lite {
    sqlite3 *db;
    char *lock_base; /* path prefix of lock files */
    struct held_lock locks[MAX_LOCKS];
    size_t n_locks;
};

struct dm_sres {
    sqlite3_stmt *st;
    sqlite3 *db;
};

static struct lite *L(dm_store_t *s)
{
    return s->impl;
}

/*
 * The errno behind an I/O error: sqlite3_system_errno() when SQLite kept
 * it, else the last failed system call on the database file or on its
 * WAL (a failed WAL write leaves it there only).  0 = unknown.
 */
static int io_errno(sqlite3 *db)
{
    sqlite3_file *wal = NULL;
    int e = sqlite3_system_errno(db);

    if (e == 0 && sqlite3_file_control(db, "main", SQLITE_FCNTL_LAST_ERRNO,
                                       &e) != SQLITE_OK)
        e = 0;
    if (e == 0 &&
        sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) ==
            SQLITE_OK &&
        wal && wal->pMethods &&
        wal->pMethods->xFileControl(wal, SQLITE_FCNTL_LAST_ERRNO, &e) !=
            SQLITE_OK)
        e = 0;
    return e;
}

static int fail(sqlite3 *db, int code, char *eb, size_t el, const char *what)
{
    int ext = db ? sqlite3_extended_errcode(db) : code;
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    /* An I/O error's errno tells a full disk (SQLite maps only ENOSPC on
     * write to SQLITE_FULL) or a file system that turned read-only. */
    int sys =
        db && ((ext & 0xff) == SQLITE_IOERR || (ext & 0xff) == SQLITE_CANTOPEN)
            ? io_errno(db)
            : 0;

    if ((ext & 0xff) == SQLITE_FULL || sys == ENOSPC || sys == EFBIG ||
        sys == EDQUOT)
        return dm_err_set(eb, el, DM_ESTORE,
                          "sqlite: %s: database or disk is full%s%s", what,
                          sys ? ": " : "", sys ? strerror(sys) : "");
    if ((ext & 0xff) == SQLITE_READONLY || sys == EROFS)
        return dm_err_set(eb, el, DM_ESTORE,
                          "sqlite: %s: the database is read-only (%s)", what,
                          sys == EROFS ? strerror(sys) : msg);
    return dm_err_set(eb, el, DM_ESTORE, "sqlite: %s: %s", what, msg);
}

/* "$12" -> "?12" outside quotes; the length does not change. */
static char *rewrite_params(const char *sql)
{
    char *out = dm_strdup(sql), quote = 0;

    for (char *p = out; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
        } else if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            *p = '?';
        }
    }
    return out;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *eb,
                   size_t el)
{
    char *q = rewrite_params(sql);
    int rc = sqlite3_prepare_v2(db, q, -1, st, NULL);

    free(q);
    if (rc != SQLITE_OK)
        return fail(db, rc, eb, el, "prepare");
    return DM_OK;
}

static int bind(sqlite3 *db, sqlite3_stmt *st, const dm_sparam_t *p, size_t np,
                int copy, char *eb, size_t el)
{
    sqlite3_destructor_type how = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;

    for (size_t i = 0; i < np; i++) {
        int k = (int)i + 1, rc = SQLITE_OK;

        switch (p[i].kind) {
        case DM_SP_NULL:
            rc = sqlite3_bind_null(st, k);
            break;
        case DM_SP_TEXT:
            rc = p[i].s ? sqlite3_bind_text(st, k, p[i].s, -1, how)
                        : sqlite3_bind_null(st, k);
            break;
        case DM_SP_INT:
        case DM_SP_TS:
            rc = sqlite3_bind_int64(st, k, p[i].i);
            break;
        case DM_SP_BOOL:
            rc = sqlite3_bind_int(st, k, p[i].i != 0);
            break;
        case DM_SP_DOUBLE:
            rc = isnan(p[i].d) ? sqlite3_bind_null(st, k)
                               : sqlite3_bind_double(st, k, p[i].d);
            break;
        case DM_SP_BLOB:
            rc = sqlite3_bind_blob64(st, k, p[i].blob, p[i].len, how);
            break;
        }
        if (rc != SQLITE_OK)
            return fail(db, rc, eb, el, "bind");
    }
    return DM_OK;
}

/*
 * "file:<path>?immutable=1" with the path percent-encoded (owned), or
 * NULL when path is already a URI or special (":memory:", "").
 */
static char *immutable_uri(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    dm_buf_t b;
    char *out = NULL;

    if (path[0] == '\0' || strncmp(path, "file:", 5) == 0 ||
        strcmp(path, ":memory:") == 0)
        return NULL;
    dm_buf_init(&b, 3 * strlen(path) + 32);
    if (dm_buf_printf(&b, "file:") != DM_OK)
        goto out;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        int rc = strchr("/._-~", *p) || (*p >= '0' && *p <= '9') ||
                         (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                     ? dm_buf_printf(&b, "%c", *p)
                     : dm_buf_printf(&b, "%%%c%c", hex[*p >> 4], hex[*p & 15]);
        if (rc != DM_OK)
            goto out;
    }
    if (dm_buf_printf(&b, "?immutable=1") == DM_OK)
        out = dm_strdup(dm_buf_str(&b));
out:
    dm_buf_cleanup(&b);
    return out;
}

/* Whether "<path>-wal" exists and is not empty. */
static bool wal_has_frames(const char *path)
{
    char wal[4096];
    struct stat st;

    if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", path) >= sizeof(wal))
        return true; /* cannot tell: do not guess */
    return stat(wal, &st) == 0 && st.st_size > 0;
}

/*
 * The read-only WAL case (see the top of the file): the first read of a
 * read-only handle fails when the -shm file is missing and cannot be
 * created (SQLITE_CANTOPEN on a read-only mount,
 * SQLITE_READONLY_DIRECTORY in a directory without write permission);
 * reopen the file immutable.
 */
static int open_read_only_wal(struct lite *l, const char *path)
{
    char *uri;
    int rc;

    if (sqlite3_db_readonly(l->db, "main") != 1)
        return SQLITE_OK;
    rc = sqlite3_exec(l->db, "SELECT count(*) FROM sqlite_master", NULL, NULL,
                      NULL);
    if (((rc & 0xff) != SQLITE_CANTOPEN && (rc & 0xff) != SQLITE_READONLY) ||
        wal_has_frames(path) || (uri = immutable_uri(path)) == NULL)
        return rc;
    sqlite3_close(l->db);
    l->db = NULL;
    rc = sqlite3_open_v2(
        uri, &l->db,
        SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    free(uri);
    return rc;
}

/*
 * Runs a connection-setup statement, waiting out SQLITE_BUSY.  The busy
 * handler does not cover every case here: switching a new file to WAL
 * needs an exclusive lock, and a connection whose read lock would have to
 * be upgraded while another writer waits gets SQLITE_BUSY at once (SQLite
 * refuses to wait then, to avoid a deadlock).  Both happen when the
 * scheduler and an API request (or a CLI command) open a store at the same
 * moment; retrying the whole statement after a short sleep is safe, as
 * these statements hold no lock between attempts.
 */
static int exec_setup(sqlite3 *db, const char *sql)
{
    uint64_t deadline = dm_time_mono_ns() + BUSY_TIMEOUT_MS * UINT64_C(1000000);
    unsigned delay_us = 1000;
    int rc;

    while ((rc = sqlite3_exec(db, sql, NULL, NULL, NULL)) != SQLITE_OK &&
           (rc & 0xff) == SQLITE_BUSY && dm_time_mono_ns() < deadline) {
        usleep(delay_us);
        if (delay_us < 50000)
            delay_us *= 2;
    }
    return rc;
}

/* Whether the database is in WAL mode already (it stays so once set). */
static bool journal_is_wal(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    bool wal = false;

    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *m = sqlite3_column_text(st, 0);
        wal = m && strcmp((const char *)m, "wal") == 0;
    }
    sqlite3_finalize(st);
    return wal;
}

static int lite_open(dm_store_t *s, const dm_config_t *cfg, char *eb, size_t el)
{
    struct lite *l = dm_calloc(1, sizeof(*l));
    const char *file;
    int rc;

    s->impl = l;
    rc = sqlite3_open_v2(cfg->database.path, &l->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc == SQLITE_OK)
        rc = open_read_only_wal(l, cfg->database.path);
    if (rc != SQLITE_OK) {
        dm_err_set(eb, el, DM_ESTORE, "sqlite: cannot open '%s': %s",
                   cfg->database.path,
                   l->db ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(l->db, 1);
    sqlite3_busy_timeout(l->db, BUSY_TIMEOUT_MS);
    /* WAL cannot be set on a read-only handle; that is not an error. */
    if (!sqlite3_db_readonly(l->db, "main") && !journal_is_wal(l->db)) {
        rc = exec_setup(l->db, "PRAGMA journal_mode=WAL");
        if (rc != SQLITE_OK) {
            fail(l->db, rc, eb, el, "open");
            goto fail;
        }
    }
    rc = exec_setup(l->db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON");
    if (rc != SQLITE_OK) {
        fail(l->db, rc, eb, el, "open");
        goto fail;
    }
    file = sqlite3_db_filename(l->db, "main");
    if (file && *file) {
        l->lock_base = dm_strdup(file);
    } else {
        char tmp[96];
        snprintf(tmp, sizeof(tmp), "/tmp/driftmon-mem-%ld", (long)getpid());
        l->lock_base = dm_strdup(tmp);
    }
    return DM_OK;
fail:
    sqlite3_close(l->db);
    free(l);
    s->impl = NULL;
    return DM_ESTORE;
}

static void lite_close(dm_store_t *s)
{
    struct lite *l = L(s);

    if (!l)
        return;
    for (size_t i = 0; i < l->n_locks; i++)
        close(l->locks[i].fd);
    /* Keep planner statistics fresh (approximate ANALYZE, bounded cost)
     * so the aggregate query can skip-scan its covering index. */
    if (!sqlite3_db_readonly(l->db, "main"))
        (void)sqlite3_exec(l->db,
                           "PRAGMA analysis_limit=1000; "
                           "PRAGMA optimize",
                           NULL, NULL, NULL);
    sqlite3_close(l->db);
    free(l->lock_base);
    free(l);
    s->impl = NULL;
}

static int lite_exec_script(dm_store_t *s, const char *sql, char *eb, size_t el)
{
    int rc = sqlite3_exec(L(s)->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? DM_OK : fail(L(s)->db, rc, eb, el, "exec");
}

static int lite_exec(dm_store_t *s, const char *sql, const dm_sparam_t *p,
                     size_t np, int64_t *changes, char *eb, size_t el)
{
    sqlite3 *db = L(s)->db;
    sqlite3_stmt *st = NULL;
    int rc;

    rc = prepare(db, sql, &st, eb, el);
    if (rc == DM_OK)
        rc = bind(db, st, p, np, 0, eb, el);
    if (rc == DM_OK) {
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (step != SQLITE_DONE)
            rc = fail(db, step, eb, el, "exec");
        else if (changes)
            *changes = sqlite3_changes64(db);
    }
    sqlite3_finalize(st);
    return rc;
}

static int lite_query(dm_store_t *s, const char *sql, const dm_sparam_t *p,
                      size_t np, dm_sres_t **out, char *eb, size_t el)
{
    sqlite3 *db = L(s)->db;
    sqlite3_stmt *st = NULL;
    int rc;

    *out = NULL;
    rc = prepare(db, sql, &st, eb, el);
    if (rc == DM_OK)
        rc = bind(db, st, p, np, 1, eb, el);
    if (rc != DM_OK) {
        sqlite3_finalize(st);
        return rc;
    }
    *out = dm_malloc(sizeof(**out));
    (*out)->st = st;
    (*out)->db = db;
    return DM_OK;
}

static int lite_next(dm_sres_t *r, char *eb, size_t el)
{
    int rc = sqlite3_step(r->st);

    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return fail(r->db, rc, eb, el, "query");
}

static bool lite_col_null(dm_sres_t *r, int c)
{
    return sqlite3_column_type(r->st, c) == SQLITE_NULL;
}

static const char *lite_col_text(dm_sres_t *r, int c)
{
    return (const char *)sqlite3_column_text(r->st, c);
}

static int64_t lite_col_int(dm_sres_t *r, int c)
{
    return sqlite3_column_int64(r->st, c);
}

static double lite_col_double(dm_sres_t *r, int c)
{
    if (sqlite3_column_type(r->st, c) == SQLITE_NULL)
        return (double)NAN;
    return sqlite3_column_double(r->st, c);
}

static bool lite_col_bool(dm_sres_t *r, int c)
{
    return sqlite3_column_int64(r->st, c) != 0;
}

static const void *lite_col_blob(dm_sres_t *r, int c, size_t *len)
{
    const void *b = sqlite3_column_blob(r->st, c);

    *len = (size_t)sqlite3_column_bytes(r->st, c);
    return b;
}

static void lite_res_free(dm_sres_t *r)
{
    if (!r)
        return;
    sqlite3_finalize(r->st);
    free(r);
}

static int lite_insert_rows(dm_store_t *s, const char *head, const char *tail,
                            size_t ncols, const dm_sparam_t *p, size_t nrows,
                            int64_t *changes, char *eb, size_t el)
{
    sqlite3 *db = L(s)->db;
    sqlite3_stmt *st = NULL;
    dm_buf_t sql;
    int rc;

    *changes = 0;
    dm_buf_init(&sql, 64 * 1024);
    rc = dm_buf_printf(&sql, "%s VALUES (", head);
    for (size_t c = 0; rc == DM_OK && c < ncols; c++)
        rc = dm_buf_printf(&sql, "%s?%zu", c ? ", " : "", c + 1);
    if (rc == DM_OK)
        rc = dm_buf_printf(&sql, ") %s", tail);
    if (rc == DM_OK)
        rc = prepare(db, dm_buf_str(&sql), &st, eb, el);
    for (size_t i = 0; rc == DM_OK && i < nrows; i++) {
        int step;

        rc = bind(db, st, p + i * ncols, ncols, 0, eb, el);
        if (rc != DM_OK)
            break;
        step = sqlite3_step(st);
        if (step != SQLITE_DONE) {
            rc = fail(db, step, eb, el, "insert");
            break;
        }
        *changes += sqlite3_changes64(db);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    dm_buf_cleanup(&sql);
    return rc;
}

static int lite_lock_try(dm_store_t *s, const char *name, char *eb, size_t el)
{
    struct lite *l = L(s);
    char path[4096];
    int fd;

    for (size_t i = 0; i < l->n_locks; i++)
        if (strcmp(l->locks[i].name, name) == 0)
            return dm_err_set(eb, el, DM_EBUSY,
                              "lock '%s' already held by this handle", name);
    if (l->n_locks == MAX_LOCKS)
        return dm_err_set(eb, el, DM_ERANGE, "too many locks held");
    if ((size_t)snprintf(path, sizeof(path), "%s.%s.lock", l->lock_base,
                         name) >= sizeof(path))
        return dm_err_set(eb, el, DM_ETOOBIG, "lock path too long");
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && (errno == EROFS || errno == EACCES)) {
        /* A read-only database: an existing lock file can still be
         * locked through a read-only descriptor (flock needs no write
         * access), so readers keep their mutual exclusion. */
        int e = errno;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            errno = e;
    }
    if (fd < 0)
        return dm_err_set(eb, el, DM_EIO, "cannot open lock file %s: %s", path,
                          strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return dm_err_set(eb, el, DM_EBUSY, "lock '%s' is held", name);
        return dm_err_set(eb, el, DM_EIO, "flock %s: %s", path, strerror(e));
    }
    snprintf(l->locks[l->n_locks].name, sizeof(l->locks[0].name), "%s", name);
    l->locks[l->n_locks++].fd = fd;
    return DM_OK;
}

static int lite_lock_release(dm_store_t *s, const char *name, char *eb,
                             size_t el)
{
    struct lite *l = L(s);

    for (size_t i = 0; i < l->n_locks; i++) {
        if (strcmp(l->locks[i].name, name) != 0)
            continue;
        flock(l->locks[i].fd, LOCK_UN);
        close(l->locks[i].fd);
        l->locks[i] = l->locks[--l->n_locks];
        return DM_OK;
    }
    return dm_err_set(eb, el, DM_ENOTFOUND, "lock '%s' is not held", name);
}

static bool lite_writable(dm_store_t *s, char *why, size_t n)
{
    sqlite3 *db = L(s)->db;
    const char *file = sqlite3_db_filename(db, "main");

    if (sqlite3_db_readonly(db, "main") == 1) {
        snprintf(why, n, "the database was opened read-only");
        return false;
    }
    /* access() sees a read-only mount and missing write permission
     * without opening the file (closing a descriptor of the database
     * file would drop SQLite's POSIX locks). */
    if (file && *file && access(file, W_OK) != 0) {
        snprintf(why, n, "the database file is not writable: %s",
                 strerror(errno));
        return false;
    }
    return true;
}

const struct dm_store_ops dm_store_sqlite_ops = {
    .name = "sqlite",
    .dialect = DM_DIALECT_SQLITE,
    .open = lite_open,
    .close = lite_close,
    .exec_script = lite_exec_script,
    .exec = lite_exec,
    .query = lite_query,
    .next = lite_next,
    .col_null = lite_col_null,
    .col_text = lite_col_text,
    .col_int = lite_col_int,
    .col_double = lite_col_double,
    .col_bool = lite_col_bool,
    .col_blob = lite_col_blob,
    .res_free = lite_res_free,
    .insert_rows = lite_insert_rows,
    .lock_try = lite_lock_try,
    .lock_release = lite_lock_release,
    .writable = lite_writable,
};
