/*
 * store_pg.c - the PostgreSQL backend of struct dm_store_ops (libpq).
 *
 * One connection per dm_store_t, session time zone UTC.  Every statement
 * goes through PQexecParams (text parameters; bytea as binary), so no
 * value is ever spliced into SQL.  Multi-row inserts put up to 1000 rows
 * (and at most 65535 parameters) in one INSERT.
 *
 * DESIGN: reconnecting.  A call that finds the connection broken (the
 * server restarted, the network dropped) fails with DM_ESTORE; the next
 * call resets the connection first and works again.  A session that the
 * server ended while it sat idle, holding no lock and no transaction, is
 * reset before the call instead (see ensure()): a restarted server costs
 * such a connection no failed call.  Inside an explicit transaction the
 * reset does not happen: the transaction is gone, so every call fails
 * until the caller rolls back, and a half-written batch can never be
 * committed silently.  Advisory locks are session state and are lost on
 * reconnect; the handle forgets them then.  Error messages are scrubbed
 * of anything that looks like a password.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/rng.h"
#include "common/time.h"
#include "store/store_int.h"

#define MAX_PARAMS          65535
#define MAX_ROWS_PER_INSERT 1000
#define MAX_LOCKS           16
#define LOCK_SEED           UINT64_C(0x646d6c6f636b) /* "dmlock" */

struct pg {
    PGconn *conn;
    char locks[MAX_LOCKS][65];
    size_t n_locks;
};

struct dm_sres {
    PGresult *res;
    int row, nrows;
    unsigned char *blob; /* scratch for decoded bytea */
    size_t blob_cap;
};

/* Text forms of the parameters of one statement. */
struct params {
    const char **values;
    int *lengths;
    int *formats;
    char (*scratch)[40];
};

static struct pg *P(dm_store_t *s)
{
    return s->impl;
}

static int fail(PGconn *c, const PGresult *res, char *eb, size_t el,
                const char *what)
{
    char msg[DM_ERRBUF_SIZE];
    const char *m = res ? PQresultErrorMessage(res) : "";

    if (!m || !*m)
        m = c ? PQerrorMessage(c) : "no connection";
    snprintf(msg, sizeof(msg), "%s", m);
    /* libpq messages end in a newline; keep one line */
    for (char *p = msg; *p; p++)
        if (*p == '\n')
            *p = (p[1] ? ' ' : '\0');
    dm_store_scrub(msg);
    /* a first connection that fails was never made, so was not "lost":
       libpq's message says why (e.g. "Connection refused") */
    if (strcmp(what, "connect") == 0)
        return dm_err_set(eb, el, DM_ESTORE, "postgres: cannot connect: %s",
                          msg);
    if (c && PQstatus(c) == CONNECTION_BAD)
        return dm_err_set(eb, el, DM_ESTORE,
                          "postgres: %s: connection lost: %s", what, msg);
    return dm_err_set(eb, el, DM_ESTORE, "postgres: %s: %s", what, msg);
}

static int session_setup(PGconn *c, char *eb, size_t el)
{
    PGresult *res = PQexec(c, "SET TIME ZONE 'UTC'");
    int rc = DM_OK;

    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = fail(c, res, eb, el, "session setup");
    PQclear(res);
    return rc;
}

/*
 * Makes sure the connection is usable, resetting a broken one.
 *
 * A server that ended the session while the connection sat idle (a
 * restart, a failover, an idle timeout) left its goodbye and EOF on the
 * socket, and libpq only finds out when it next reads.  When the session
 * holds nothing (no lock, no transaction), read now (PQconsumeInput()
 * never blocks), so that such a connection is reset before the statement
 * instead of failing it: otherwise every pooled connection of the API
 * answered one spurious "connection lost" (HTTP 503) after a database
 * restart.  A session holding a lock or a transaction is left to fail
 * its next call, so that the caller learns that it lost them.
 */
static int ensure(dm_store_t *s, char *eb, size_t el)
{
    struct pg *p = P(s);

    if (p->n_locks == 0 && !s->in_tx) {
        /* twice: the first read takes the server's goodbye message
         * (unparsed; PQreset() drops it), the second meets the EOF */
        for (int i = 0; i < 2 && PQstatus(p->conn) == CONNECTION_OK; i++)
            (void)PQconsumeInput(p->conn);
    }
    if (PQstatus(p->conn) == CONNECTION_OK)
        return DM_OK;
    if (s->in_tx)
        return dm_err_set(eb, el, DM_ESTORE,
                          "postgres: connection lost inside a transaction; "
                          "roll back");
    p->n_locks = 0; /* session locks died with the session */
    PQreset(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK)
        return fail(p->conn, NULL, eb, el, "reconnect");
    return session_setup(p->conn, eb, el);
}

static int pg_open(dm_store_t *s, const dm_config_t *cfg, char *eb, size_t el)
{
    const dm_config_database_t *d = &cfg->database;
    struct pg *p = dm_calloc(1, sizeof(*p));
    char port[16];
    const char *kw[8], *val[8];
    int n = 0, rc;

    snprintf(port, sizeof(port), "%" PRIu32, d->port);
    if (d->url && *d->url) {
        /* The URL/conninfo first, expanded; the rest override it. */
        kw[n] = "dbname";
        val[n++] = d->url;
    } else {
        kw[n] = "host";
        val[n++] = d->host;
        kw[n] = "port";
        val[n++] = port;
        kw[n] = "dbname";
        val[n++] = d->name;
        kw[n] = "user";
        val[n++] = d->user;
        if (d->password && *d->password) {
            kw[n] = "password";
            val[n++] = d->password;
        }
    }
    kw[n] = "application_name";
    val[n++] = "driftmon";
    kw[n] = "client_encoding";
    val[n++] = "UTF8";
    kw[n] = NULL;
    val[n] = NULL;
    s->impl = p;
    p->conn = PQconnectdbParams(kw, val, 1);
    if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
        rc = fail(p->conn, NULL, eb, el, "connect");
        goto fail;
    }
    rc = session_setup(p->conn, eb, el);
    if (rc != DM_OK)
        goto fail;
    return DM_OK;
fail:
    PQfinish(p->conn);
    free(p);
    s->impl = NULL;
    return rc;
}

static void pg_close(dm_store_t *s)
{
    struct pg *p = P(s);

    if (!p)
        return;
    /* Release held locks synchronously: the server would drop them when
     * the session ends, but only after PQfinish() has returned. */
    if (p->n_locks > 0 && PQstatus(p->conn) == CONNECTION_OK)
        PQclear(PQexec(p->conn, "SELECT pg_advisory_unlock_all()"));
    PQfinish(p->conn);
    free(p);
    s->impl = NULL;
}

static void params_init(struct params *pp, const dm_sparam_t *p, size_t np)
{
    size_t n = np ? np : 1;

    pp->values = dm_calloc(n, sizeof(*pp->values));
    pp->lengths = dm_calloc(n, sizeof(*pp->lengths));
    pp->formats = dm_calloc(n, sizeof(*pp->formats));
    pp->scratch = dm_calloc(n, sizeof(*pp->scratch));
    for (size_t i = 0; i < np; i++) {
        char *sc = pp->scratch[i];

        switch (p[i].kind) {
        case DM_SP_NULL:
            break;
        case DM_SP_TEXT:
            pp->values[i] = p[i].s;
            break;
        case DM_SP_INT:
            snprintf(sc, sizeof(pp->scratch[0]), "%" PRId64, p[i].i);
            pp->values[i] = sc;
            break;
        case DM_SP_BOOL:
            pp->values[i] = p[i].i ? "t" : "f";
            break;
        case DM_SP_TS:
            dm_time_format_ms(p[i].i, sc, sizeof(pp->scratch[0]));
            pp->values[i] = sc;
            break;
        case DM_SP_DOUBLE:
            if (isnan(p[i].d))
                break;
            if (isinf(p[i].d))
                pp->values[i] = p[i].d > 0 ? "Infinity" : "-Infinity";
            else {
                snprintf(sc, sizeof(pp->scratch[0]), "%.17g", p[i].d);
                pp->values[i] = sc;
            }
            break;
        case DM_SP_BLOB:
            pp->values[i] = p[i].blob ? p[i].blob : "";
            pp->lengths[i] = (int)p[i].len;
            pp->formats[i] = 1;
            break;
        }
    }
}

static void params_cleanup(struct params *pp)
{
    free(pp->values);
    free(pp->lengths);
    free(pp->formats);
    free(pp->scratch);
}

/* Runs one statement; *out is the result (status checked). */
static int run(dm_store_t *s, const char *sql, const dm_sparam_t *p, size_t np,
               PGresult **out, char *eb, size_t el)
{
    struct params pp;
    PGresult *res;
    ExecStatusType st;
    int rc;

    *out = NULL;
    if (np > MAX_PARAMS)
        return dm_err_set(eb, el, DM_ERANGE, "too many parameters");
    rc = ensure(s, eb, el);
    if (rc != DM_OK)
        return rc;
    params_init(&pp, p, np);
    res = PQexecParams(P(s)->conn, sql, (int)np, NULL, pp.values, pp.lengths,
                       pp.formats, 0);
    params_cleanup(&pp);
    st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = fail(P(s)->conn, res, eb, el, "query");
        PQclear(res);
        return rc;
    }
    *out = res;
    return DM_OK;
}

static int64_t parse_i64(const char *t)
{
    return t ? strtoll(t, NULL, 10) : 0;
}

static int pg_exec_script(dm_store_t *s, const char *sql, char *eb, size_t el)
{
    PGresult *res;
    ExecStatusType st;
    int rc = ensure(s, eb, el);

    if (rc != DM_OK)
        return rc;
    res = PQexec(P(s)->conn, sql);
    st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = fail(P(s)->conn, res, eb, el, "exec");
    PQclear(res);
    return rc;
}

static int pg_exec(dm_store_t *s, const char *sql, const dm_sparam_t *p,
                   size_t np, int64_t *changes, char *eb, size_t el)
{
    PGresult *res = NULL;
    int rc = run(s, sql, p, np, &res, eb, el);

    if (rc == DM_OK && changes)
        *changes = parse_i64(PQcmdTuples(res));
    PQclear(res);
    return rc;
}

static int pg_query(dm_store_t *s, const char *sql, const dm_sparam_t *p,
                    size_t np, dm_sres_t **out, char *eb, size_t el)
{
    PGresult *res = NULL;
    int rc = run(s, sql, p, np, &res, eb, el);

    *out = NULL;
    if (rc != DM_OK)
        return rc;
    *out = dm_calloc(1, sizeof(**out));
    (*out)->res = res;
    (*out)->row = -1;
    (*out)->nrows = PQntuples(res);
    return DM_OK;
}

static int pg_next(dm_sres_t *r, char *eb, size_t el)
{
    (void)eb;
    (void)el;
    if (r->row + 1 >= r->nrows)
        return 0;
    r->row++;
    return 1;
}

static bool pg_col_null(dm_sres_t *r, int c)
{
    return PQgetisnull(r->res, r->row, c) != 0;
}

static const char *pg_col_text(dm_sres_t *r, int c)
{
    if (PQgetisnull(r->res, r->row, c))
        return NULL;
    return PQgetvalue(r->res, r->row, c);
}

static int64_t pg_col_int(dm_sres_t *r, int c)
{
    return parse_i64(pg_col_text(r, c));
}

static double pg_col_double(dm_sres_t *r, int c)
{
    const char *t = pg_col_text(r, c);

    return t ? strtod(t, NULL) : (double)NAN;
}

static bool pg_col_bool(dm_sres_t *r, int c)
{
    const char *t = pg_col_text(r, c);

    return t && (t[0] == 't' || t[0] == '1');
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* bytea in text form is "\x" + hex (bytea_output = hex, the default). */
static const void *pg_col_blob(dm_sres_t *r, int c, size_t *len)
{
    const char *t = pg_col_text(r, c);
    size_t n;

    *len = 0;
    if (!t || t[0] != '\\' || t[1] != 'x')
        return NULL;
    t += 2;
    n = strlen(t) / 2;
    if (n + 1 > r->blob_cap) {
        r->blob_cap = n + 1;
        r->blob = dm_realloc(r->blob, r->blob_cap);
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(t[2 * i]), lo = hexval(t[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return NULL;
        r->blob[i] = (unsigned char)(hi << 4 | lo);
    }
    *len = n;
    return r->blob;
}

static void pg_res_free(dm_sres_t *r)
{
    if (!r)
        return;
    PQclear(r->res);
    free(r->blob);
    free(r);
}

static int pg_insert_rows(dm_store_t *s, const char *head, const char *tail,
                          size_t ncols, const dm_sparam_t *p, size_t nrows,
                          int64_t *changes, char *eb, size_t el)
{
    size_t per = MAX_PARAMS / ncols;
    dm_buf_t sql;
    int rc = DM_OK;

    *changes = 0;
    if (per > MAX_ROWS_PER_INSERT)
        per = MAX_ROWS_PER_INSERT;
    dm_buf_init(&sql, 16 * 1024 * 1024);
    for (size_t done = 0; rc == DM_OK && done < nrows;) {
        size_t k = nrows - done < per ? nrows - done : per, par = 1;
        int64_t ch = 0;

        dm_buf_reset(&sql);
        rc = dm_buf_printf(&sql, "%s VALUES ", head);
        for (size_t i = 0; rc == DM_OK && i < k; i++) {
            rc = dm_buf_puts(&sql, i ? ", (" : "(");
            for (size_t c = 0; rc == DM_OK && c < ncols; c++)
                rc = dm_buf_printf(&sql, "%s$%zu", c ? ", " : "", par++);
            if (rc == DM_OK)
                rc = dm_buf_puts(&sql, ")");
        }
        if (rc == DM_OK)
            rc = dm_buf_printf(&sql, " %s", tail);
        if (rc == DM_OK)
            rc = pg_exec(s, dm_buf_str(&sql), p + done * ncols, k * ncols, &ch,
                         eb, el);
        *changes += ch;
        done += k;
    }
    dm_buf_cleanup(&sql);
    return rc;
}

static int64_t lock_key(const char *name)
{
    return (int64_t)dm_hash_bytes(name, strlen(name), LOCK_SEED);
}

static int lock_call(dm_store_t *s, const char *fn, const char *name, bool *got,
                     char *eb, size_t el)
{
    char sql[96];
    dm_sparam_t p = {.kind = DM_SP_INT, .i = lock_key(name)};
    PGresult *res = NULL;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT %s($1::int8)", fn);
    rc = run(s, sql, &p, 1, &res, eb, el);
    if (rc == DM_OK)
        *got = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return rc;
}

static int pg_lock_try(dm_store_t *s, const char *name, char *eb, size_t el)
{
    struct pg *p = P(s);
    bool got = false;
    int rc;

    /* A broken session holds nothing any more: reconnect first. */
    rc = ensure(s, eb, el);
    if (rc != DM_OK)
        return rc;
    for (size_t i = 0; i < p->n_locks; i++)
        if (strcmp(p->locks[i], name) == 0)
            return dm_err_set(eb, el, DM_EBUSY,
                              "lock '%s' already held by this handle", name);
    if (p->n_locks == MAX_LOCKS)
        return dm_err_set(eb, el, DM_ERANGE, "too many locks held");
    rc = lock_call(s, "pg_try_advisory_lock", name, &got, eb, el);
    if (rc != DM_OK)
        return rc;
    if (!got)
        return dm_err_set(eb, el, DM_EBUSY, "lock '%s' is held", name);
    snprintf(p->locks[p->n_locks++], sizeof(p->locks[0]), "%s", name);
    return DM_OK;
}

static int pg_lock_release(dm_store_t *s, const char *name, char *eb, size_t el)
{
    struct pg *p = P(s);
    bool got = false;

    for (size_t i = 0; i < p->n_locks; i++) {
        if (strcmp(p->locks[i], name) != 0)
            continue;
        memcpy(p->locks[i], p->locks[--p->n_locks], sizeof(p->locks[0]));
        return lock_call(s, "pg_advisory_unlock", name, &got, eb, el);
    }
    return dm_err_set(eb, el, DM_ENOTFOUND, "lock '%s' is not held", name);
}

const struct dm_store_ops dm_store_pg_ops = {
    .name = "postgres",
    .dialect = DM_DIALECT_PG,
    .open = pg_open,
    .close = pg_close,
    .exec_script = pg_exec_script,
    .exec = pg_exec,
    .query = pg_query,
    .next = pg_next,
    .col_null = pg_col_null,
    .col_text = pg_col_text,
    .col_int = pg_col_int,
    .col_double = pg_col_double,
    .col_bool = pg_col_bool,
    .col_blob = pg_col_blob,
    .res_free = pg_res_free,
    .insert_rows = pg_insert_rows,
    .lock_try = pg_lock_try,
    .lock_release = pg_lock_release,
};
