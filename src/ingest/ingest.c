/*
 * ingest.c - validation of feedback rows from JSON objects, and readers
 * for JSONL and RFC 4180 CSV files (see ingest.h for the accepted
 * fields).  One table of fields drives both formats, so a JSON key and a
 * CSV column are checked by the same code; POST /feedback reaches
 * dm_ingest_row_from_json() through the JSON-array source of
 * ingest_run.c, which holds the policy all three ways in share.
 *
 * The CSV reader is a byte-level state machine over stdio: a record is
 * collected into one capped buffer (fields NUL-separated, offsets kept),
 * counting physical lines so that every error names the line where its
 * record starts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/lines.h"
#include "common/time.h"
#include "common/utf8.h"
#include "ingest/ingest.h"

enum field {
    F_ID,
    F_QUERY,
    F_RESPONSE,
    F_INTENT,
    F_POSITIVE,
    F_CREATED_AT,
    F_COUNT
};

static const struct {
    const char *name;
    bool required;
} fields[F_COUNT] = {
    [F_ID] = {"id", false},
    [F_QUERY] = {"query", true},
    [F_RESPONSE] = {"response", true},
    [F_INTENT] = {"intent", false},
    [F_POSITIVE] = {"positive", true},
    [F_CREATED_AT] = {"created_at", true},
};

static int field_of(const char *name)
{
    for (int i = 0; i < F_COUNT; i++)
        if (strcmp(fields[i].name, name) == 0)
            return i;
    return -1;
}

void dm_ingest_row_cleanup(dm_ingest_row_t *r)
{
    if (!r)
        return;
    free(r->id);
    free(r->query);
    free(r->response);
    free(r->intent);
    memset(r, 0, sizeof(*r));
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "t", "yes", "y", "1"};
    static const char *const no[] = {"false", "f", "no", "n", "0"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return DM_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return DM_OK;
        }
    }
    return DM_EINVAL;
}

/* Sets field f of o from text v (len bytes); CSV and JSON strings. */
static int set_text(dm_ingest_row_t *o, int f, const char *v, size_t len,
                    bool *seen, char *eb, size_t el)
{
    const char *name = fields[f].name;
    size_t cap = f == F_ID       ? DM_STORE_MAX_ID
                 : f == F_INTENT ? DM_STORE_MAX_INTENT
                                 : DM_STORE_MAX_TEXT;

    if (seen[f])
        return dm_err_set(eb, el, DM_EINVAL, "%s: given twice", name);
    seen[f] = true;
    if (len > cap)
        return dm_err_set(eb, el, DM_EINVAL, "%s: longer than %zu bytes", name,
                          cap);
    if (!dm_utf8_valid(v, len, false))
        return dm_err_set(eb, el, DM_EINVAL,
                          "%s: not valid UTF-8 (or contains a NUL byte)", name);
    switch (f) {
    case F_ID:
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
                return dm_err_set(eb, el, DM_EINVAL, "id: control character");
        if (len)
            o->id = dm_strndup(v, len);
        break;
    case F_QUERY:
        o->query = dm_strndup(v, len);
        break;
    case F_RESPONSE:
        o->response = dm_strndup(v, len);
        break;
    case F_INTENT:
        if (len)
            o->intent = dm_strndup(v, len);
        break;
    case F_POSITIVE:
        if (parse_bool(v, &o->row.positive) != DM_OK)
            return dm_err_set(eb, el, DM_EINVAL,
                              "positive: '%.40s' is not a boolean "
                              "(true/false, 1/0, yes/no)",
                              v);
        break;
    case F_CREATED_AT:
        if (dm_time_parse(v, &o->row.created_at_ms) != DM_OK)
            return dm_err_set(eb, el, DM_EINVAL,
                              "created_at: '%.40s' is not an RFC 3339 "
                              "timestamp",
                              v);
        break;
    default:
        return DM_EINTERNAL;
    }
    return DM_OK;
}

static int finish(dm_ingest_row_t *o, const bool *seen, char *eb, size_t el)
{
    for (int f = 0; f < F_COUNT; f++)
        if (fields[f].required && !seen[f])
            return dm_err_set(eb, el, DM_EINVAL, "%s: missing", fields[f].name);
    o->row.id = o->id;
    o->row.query = o->query;
    o->row.response = o->response;
    o->row.intent = o->intent;
    return DM_OK;
}

int dm_ingest_row_from_json(const json_t *obj, dm_ingest_row_t *out,
                            char *errbuf, size_t errlen)
{
    bool seen[F_COUNT] = {false};
    const char *key;
    json_t *v;
    int rc = DM_OK;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(obj))
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "a row must be a JSON object");
    json_object_foreach((json_t *)(uintptr_t)obj, key, v)
    {
        int f = field_of(key);
        char num[32];

        if (f < 0)
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "unknown field '%.64s'", key);
        if (f == F_POSITIVE) {
            seen[f] = true;
            if (json_is_boolean(v))
                out->row.positive = json_is_true(v);
            else if (json_is_integer(v) &&
                     (json_integer_value(v) == 0 || json_integer_value(v) == 1))
                out->row.positive = json_integer_value(v) == 1;
            else
                return dm_err_set(errbuf, errlen, DM_EINVAL,
                                  "positive: must be true, false, 0 or 1");
            continue;
        }
        if ((f == F_INTENT || f == F_ID) && json_is_null(v)) {
            seen[f] = true;
            continue;
        }
        if (f == F_ID && json_is_integer(v)) {
            snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(v));
            rc = set_text(out, f, num, strlen(num), seen, errbuf, errlen);
        } else if (json_is_string(v)) {
            rc = set_text(out, f, json_string_value(v), json_string_length(v),
                          seen, errbuf, errlen);
        } else {
            return dm_err_set(errbuf, errlen, DM_EINVAL,
                              "%s: must be a string%s", key,
                              f == F_ID ? " or an integer" : "");
        }
        if (rc != DM_OK)
            return rc;
    }
    return finish(out, seen, errbuf, errlen);
}

int dm_ingest_format_parse(const char *s, dm_ingest_format_t *out)
{
    if (strcmp(s, "jsonl") == 0)
        *out = DM_INGEST_JSONL;
    else if (strcmp(s, "csv") == 0)
        *out = DM_INGEST_CSV;
    else
        return DM_EINVAL;
    return DM_OK;
}

dm_ingest_format_t dm_ingest_format_guess(const char *path)
{
    size_t n = strlen(path);

    if (n >= 4 && strcasecmp(path + n - 4, ".csv") == 0)
        return DM_INGEST_CSV;
    return DM_INGEST_JSONL;
}

/* ---- readers ---------------------------------------------------------- */

struct dm_ingest_reader {
    dm_ingest_format_t fmt;
    /* JSONL */
    dm_lines_t lines;
    bool lines_open;
    /* CSV */
    FILE *f;
    bool own;
    size_t line; /* physical line of the next byte, from 1 */
    dm_buf_t rec;
    size_t off[DM_INGEST_MAX_FIELDS], len[DM_INGEST_MAX_FIELDS];
    size_t nf;
    int col_field[DM_INGEST_MAX_FIELDS]; /* header: field per column */
    size_t ncols;
    bool eof;
};

/* Skips the rest of the physical line after a bad record. */
static void skip_line(dm_ingest_reader_t *r)
{
    int c;

    while ((c = getc(r->f)) != EOF && c != '\n')
        ;
    if (c == '\n')
        r->line++;
    else
        r->eof = true;
}

/*
 * Appends one byte of the record.  Past the cap the record is still
 * parsed to its end, its bytes dropped, so that one over-long record is
 * one bad record and reading goes on after it.
 */
static void put(dm_ingest_reader_t *r, char c, bool *over)
{
    if (!*over && dm_buf_append(&r->rec, &c, 1) != DM_OK)
        *over = true;
}

static void end_field(dm_ingest_reader_t *r, size_t start, bool *too_many,
                      bool *over)
{
    if (*over)
        return;
    if (r->nf == DM_INGEST_MAX_FIELDS) {
        *too_many = true;
        return;
    }
    r->off[r->nf] = start;
    r->len[r->nf] = r->rec.len - start;
    r->nf++;
    put(r, '\0', over); /* NUL separator */
}

/*
 * Reads one CSV record into r->rec/off/len/nf.  1 = record, 2 = an empty
 * line, 0 = EOF, DM_EPARSE = bad record (rest of the line skipped),
 * DM_ETOOBIG = a record over the cap (read to its end and dropped).
 */
static int csv_record_raw(dm_ingest_reader_t *r, char *eb, size_t el)
{
    bool too_many = false, any = false, over = false;
    size_t start;
    int c;

    dm_buf_reset(&r->rec);
    r->nf = 0;
    if (r->eof)
        return 0;
    c = getc(r->f);
    if (c == EOF) {
        r->eof = true;
        return 0;
    }
    for (;;) {
        start = r->rec.len;
        if (c == '"') {
            any = true;
            for (;;) {
                c = getc(r->f);
                if (c == EOF) {
                    r->eof = true;
                    return dm_err_set(eb, el, DM_EPARSE,
                                      "unterminated quoted field");
                }
                if (c == '"') {
                    c = getc(r->f);
                    if (c != '"')
                        break;
                } else if (c == '\n') {
                    r->line++;
                }
                put(r, (char)c, &over);
            }
            if (c == '\r') {
                c = getc(r->f);
                if (c != '\n' && c != EOF) {
                    skip_line(r);
                    return dm_err_set(eb, el, DM_EPARSE,
                                      "stray carriage return");
                }
            }
            if (c != ',' && c != '\n' && c != EOF) {
                skip_line(r);
                return dm_err_set(eb, el, DM_EPARSE,
                                  "unexpected character after a closing "
                                  "quote");
            }
        } else {
            while (c != ',' && c != '\n' && c != EOF) {
                if (c == '"') {
                    skip_line(r);
                    return dm_err_set(eb, el, DM_EPARSE,
                                      "quote inside an unquoted field");
                }
                if (c == '\r') {
                    c = getc(r->f);
                    if (c == '\n' || c == EOF)
                        break;
                    skip_line(r);
                    return dm_err_set(eb, el, DM_EPARSE,
                                      "stray carriage return");
                }
                any = true;
                put(r, (char)c, &over);
                c = getc(r->f);
            }
        }
        end_field(r, start, &too_many, &over);
        if (c == ',') {
            any = true;
            c = getc(r->f);
            continue;
        }
        if (c == '\n')
            r->line++;
        else
            r->eof = true;
        break;
    }
    if (over)
        return dm_err_set(eb, el, DM_ETOOBIG, "record longer than %d bytes",
                          DM_INGEST_MAX_RECORD);
    if (too_many)
        return dm_err_set(eb, el, DM_EPARSE, "more than %d fields",
                          DM_INGEST_MAX_FIELDS);
    return any ? 1 : 2; /* 2: an empty line */
}

/* Like csv_record_raw() without empty lines; *start = first line. */
static int csv_record(dm_ingest_reader_t *r, size_t *start, char *eb, size_t el)
{
    int rc;

    do {
        *start = r->line;
        rc = csv_record_raw(r, eb, el);
    } while (rc == 2);
    return rc;
}

static int csv_header(dm_ingest_reader_t *r, char *eb, size_t el)
{
    bool seen[F_COUNT] = {false};
    size_t start;
    int rc = csv_record(r, &start, eb, el);

    if (rc == 0)
        return dm_err_set(eb, el, DM_EPARSE,
                          "line 1: empty file (a CSV "
                          "header is required)");
    if (rc < 0)
        return dm_err_prefix(eb, el, rc == DM_ETOOBIG ? rc : DM_EPARSE,
                             "line 1: ");
    for (size_t i = 0; i < r->nf; i++) {
        char *name = r->rec.data + r->off[i];
        int f;

        /* a UTF-8 byte order mark before the first name */
        if (i == 0 && strncmp(name, "\xef\xbb\xbf", 3) == 0)
            name += 3;
        f = field_of(name);
        if (f < 0)
            return dm_err_set(eb, el, DM_EPARSE,
                              "line 1: unknown column '%.64s' (expected "
                              "id, query, response, intent, positive, "
                              "created_at)",
                              name);
        if (seen[f])
            return dm_err_set(eb, el, DM_EPARSE,
                              "line 1: column '%s' given twice", name);
        seen[f] = true;
        r->col_field[i] = f;
    }
    r->ncols = r->nf;
    for (int f = 0; f < F_COUNT; f++)
        if (fields[f].required && !seen[f])
            return dm_err_set(eb, el, DM_EPARSE, "line 1: missing column '%s'",
                              fields[f].name);
    return DM_OK;
}

int dm_ingest_reader_open(const char *path, dm_ingest_format_t fmt,
                          dm_ingest_reader_t **out, char *errbuf, size_t errlen)
{
    dm_ingest_reader_t *r = dm_calloc(1, sizeof(*r));
    int rc = DM_OK;

    *out = NULL;
    r->fmt = fmt;
    if (fmt == DM_INGEST_JSONL) {
        rc = dm_lines_open(&r->lines, path, DM_INGEST_MAX_RECORD, errbuf,
                           errlen);
        r->lines_open = rc == DM_OK;
    } else {
        dm_buf_init(&r->rec, DM_INGEST_MAX_RECORD);
        r->line = 1;
        if (strcmp(path, "-") == 0) {
            r->f = stdin;
        } else {
            struct stat sb;

            r->f = fopen(path, "rb");
            r->own = true;
            if (!r->f)
                rc = dm_err_set(errbuf, errlen, DM_EIO, "%s: cannot open: %s",
                                path, strerror(errno));
            else if (fstat(fileno(r->f), &sb) == 0 && S_ISDIR(sb.st_mode))
                rc = dm_err_set(errbuf, errlen, DM_EIO,
                                "%s: cannot open: is a directory", path);
        }
        if (rc == DM_OK)
            rc = csv_header(r, errbuf, errlen);
    }
    if (rc != DM_OK) {
        dm_ingest_reader_free(r);
        return rc;
    }
    *out = r;
    return DM_OK;
}

static int jsonl_next(dm_ingest_reader_t *r, dm_ingest_row_t *out, size_t *line,
                      char *eb, size_t el)
{
    const char *text;
    size_t len;
    json_error_t jerr;
    json_t *obj;
    int rc;

    for (;;) {
        rc = dm_lines_next(&r->lines, &text, &len, eb, el);
        if (rc == DM_ETOOBIG) {
            /* the line was dropped: a bad record, reading goes on */
            *line = r->lines.lineno;
            return dm_err_set(eb, el, DM_ETOOBIG,
                              "line %zu: line longer than %d bytes", *line,
                              DM_INGEST_MAX_RECORD);
        }
        if (rc == DM_EIO) {
            /* the caller names the file: the line number is enough */
            *line = r->lines.lineno + 1;
            return dm_err_set(eb, el, DM_EIO, "line %zu: read error", *line);
        }
        if (rc <= 0)
            return rc;
        *line = r->lines.lineno;
        /* blank lines are allowed between rows */
        size_t i = 0;
        while (i < len && (text[i] == ' ' || text[i] == '\t'))
            i++;
        if (i < len)
            break;
    }
    obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)
        return dm_err_set(eb, el, DM_EPARSE, "line %zu: invalid JSON: %s",
                          *line, jerr.text);
    rc = dm_ingest_row_from_json(obj, out, eb, el);
    json_decref(obj);
    if (rc != DM_OK)
        return dm_err_prefix(eb, el, rc, "line %zu: ", *line);
    return 1;
}

static int csv_next(dm_ingest_reader_t *r, dm_ingest_row_t *out, size_t *line,
                    char *eb, size_t el)
{
    bool seen[F_COUNT] = {false};
    int rc;

    rc = csv_record(r, line, eb, el);
    if (rc <= 0)
        return rc == 0 ? 0 : dm_err_prefix(eb, el, rc, "line %zu: ", *line);
    if (r->nf != r->ncols)
        return dm_err_set(eb, el, DM_EPARSE,
                          "line %zu: %zu fields, the header has %zu", *line,
                          r->nf, r->ncols);
    for (size_t i = 0; i < r->nf; i++) {
        int f = r->col_field[i];
        rc = set_text(out, f, r->rec.data + r->off[i], r->len[i], seen, eb, el);
        if (rc != DM_OK)
            return dm_err_prefix(eb, el, rc, "line %zu: ", *line);
    }
    rc = finish(out, seen, eb, el);
    if (rc != DM_OK)
        return dm_err_prefix(eb, el, rc, "line %zu: ", *line);
    return 1;
}

int dm_ingest_reader_next(dm_ingest_reader_t *r, dm_ingest_row_t *out,
                          size_t *line, char *errbuf, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    *line = 0;
    if (r->fmt == DM_INGEST_JSONL)
        return jsonl_next(r, out, line, errbuf, errlen);
    return csv_next(r, out, line, errbuf, errlen);
}

void dm_ingest_reader_free(dm_ingest_reader_t *r)
{
    if (!r)
        return;
    if (r->lines_open)
        dm_lines_close(&r->lines);
    if (r->own && r->f)
        fclose(r->f);
    dm_buf_cleanup(&r->rec);
    free(r);
}
