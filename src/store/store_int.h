/*
 * store_int.h - private to src/store/: the backend table and the handle.
 *
 * A backend is a small SQL driver (struct dm_store_ops): open/close,
 * run a script, run one parameterised statement, iterate a result with
 * typed column getters, insert many rows with one prepared or multi-row
 * statement, and a named lock.  Everything the store does (aggregates,
 * sampling, checks, triggers, the embedding cache, migrations) is written
 * once in the store_*.c files (store.c says which holds what) on top of
 * this table, with SQL chosen per dialect where the two differ.
 *
 * SQL conventions: placeholders are written "$1", "$2", ... for both
 * dialects (the SQLite driver turns them into "?1", "?2").  A DM_SP_TS
 * parameter is an instant: INTEGER milliseconds on SQLite, RFC 3339 text
 * on PostgreSQL (TIMESTAMPTZ, or TIMESTAMP read as UTC).
 */
#ifndef DM_STORE_STORE_INT_H
#define DM_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "config/config.h"
#include "store/store.h"

typedef enum dm_store_dialect {
    DM_DIALECT_SQLITE = 0,
    DM_DIALECT_PG = 1
} dm_store_dialect_t;

typedef enum dm_sparam_kind {
    DM_SP_NULL = 0,
    DM_SP_TEXT,   /* s (NUL-terminated) */
    DM_SP_INT,    /* i */
    DM_SP_DOUBLE, /* d; NAN binds NULL */
    DM_SP_BOOL,   /* i != 0 */
    DM_SP_TS,     /* i = ms since the epoch */
    DM_SP_BLOB    /* blob, len */
} dm_sparam_kind_t;

typedef struct dm_sparam {
    dm_sparam_kind_t kind;
    const char *s;
    int64_t i;
    double d;
    const void *blob;
    size_t len;
} dm_sparam_t;

/* A result set being iterated; each backend defines the struct. */
typedef struct dm_sres dm_sres_t;

struct dm_store_ops {
    const char *name;
    dm_store_dialect_t dialect;
    int (*open)(dm_store_t *s, const dm_config_t *cfg, char *eb, size_t el);
    void (*close)(dm_store_t *s);
    /* Several statements, no parameters, no result. */
    int (*exec_script)(dm_store_t *s, const char *sql, char *eb, size_t el);
    /* One statement; *changes (may be NULL) = rows changed. */
    int (*exec)(dm_store_t *s, const char *sql, const dm_sparam_t *p, size_t np,
                int64_t *changes, char *eb, size_t el);
    /* One statement returning rows; iterate with next(). */
    int (*query)(dm_store_t *s, const char *sql, const dm_sparam_t *p,
                 size_t np, dm_sres_t **out, char *eb, size_t el);
    /* 1 = a row, 0 = done, < 0 = error. */
    int (*next)(dm_sres_t *r, char *eb, size_t el);
    bool (*col_null)(dm_sres_t *r, int col);
    /* Borrowed until the next next(); NULL for SQL NULL. */
    const char *(*col_text)(dm_sres_t *r, int col);
    int64_t (*col_int)(dm_sres_t *r, int col);   /* 0 for NULL */
    double (*col_double)(dm_sres_t *r, int col); /* NAN for NULL */
    bool (*col_bool)(dm_sres_t *r, int col);     /* false for NULL */
    /* Borrowed until the next next(); *len bytes; NULL for SQL NULL. */
    const void *(*col_blob)(dm_sres_t *r, int col, size_t *len);
    void (*res_free)(dm_sres_t *r);
    /*
     * Inserts nrows rows of ncols parameters each (p is row-major):
     * "<head> VALUES (...)[, (...)] <tail>" as one prepared statement per
     * row (SQLite) or multi-row statements (PostgreSQL).  Runs inside the
     * caller's transaction.  *changes = rows actually inserted.
     */
    int (*insert_rows)(dm_store_t *s, const char *head, const char *tail,
                       size_t ncols, const dm_sparam_t *p, size_t nrows,
                       int64_t *changes, char *eb, size_t el);
    int (*lock_try)(dm_store_t *s, const char *name, char *eb, size_t el);
    int (*lock_release)(dm_store_t *s, const char *name, char *eb, size_t el);
    /* false (with the reason in why) when writes are known to fail, e.g.
     * a read-only file; NULL = no way to tell, writes are attempted. */
    bool (*writable)(dm_store_t *s, char *why, size_t n);
};

extern const struct dm_store_ops dm_store_sqlite_ops;
extern const struct dm_store_ops dm_store_pg_ops;

/* Quoted identifiers of the configured feedback table. */
typedef struct dm_store_fb {
    char *table; /* "feedback" or "schema"."table" */
    char *id, *query, *response, *intent, *positive, *ts;
    char *positive_col; /* the column's name as configured, for messages */
    /* SQL over the positive column: 1 when the row is positive, and 1
       when its value is one the configured mapping cannot read */
    char *pos_expr, *bad_expr;
    bool pos_numeric; /* positive_threshold: a numeric rating column */
} dm_store_fb_t;

struct dm_store {
    const struct dm_store_ops *ops;
    dm_store_dialect_t dialect;
    bool in_tx;
    dm_store_fb_t fb;
    void *impl; /* the backend's own state */
};

/* ---- helpers shared by the store_*.c files (store.c) ------------------- */

/* Rows per multi-row statement batch and ids per IN (...) lookup. */
#define DM_STORE_INSERT_BATCH 1000
#define DM_STORE_LOOKUP_BATCH 500

/* Runs a query expected to give one integer in its first column. */
int dm_store_query_int(dm_store_t *s, const char *sql, const dm_sparam_t *p,
                       size_t np, int64_t *v, char *eb, size_t el);

/* Transaction that a multi-row call opens only when none is active. */
int dm_store_tx_auto_begin(dm_store_t *s, bool *owned, char *eb, size_t el);
int dm_store_tx_auto_end(dm_store_t *s, bool owned, int rc, char *eb,
                         size_t el);

/*
 * Removes anything that looks like a password or a URL's credentials from
 * a server message, in place ("password=..." and "//user:pass@").
 */
void dm_store_scrub(char *msg);

/* Compiled-in DDL (generated from the .sql files at build time). */
extern const char dm_store_schema_sqlite[];
extern const char dm_store_schema_pg[];

/*
 * Test hook: runs one raw SQL script on the handle (for tests that set
 * pragmas such as max_page_count).  Not part of the public API.
 */
int dm_store_test_exec(dm_store_t *s, const char *sql, char *eb, size_t el);

#endif
