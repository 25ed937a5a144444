/*
 * config_scan.c - the one pass that reads a config file.
 *
 * The file is walked once with libyaml's event API against the key
 * table (config_keys.c), keeping the dotted key path of every event and
 * libyaml's marks; each value is checked and stored straight into
 * dm_config_t at the offset the table gives, so there is no second
 * schema and no second parser.  Everything that can be wrong with the
 * shape of the file is reported here with FILE:LINE: KEY:
 *   - YAML syntax errors (libyaml's problem_mark), invalid UTF-8;
 *   - more than one document, a top level that is not a mapping;
 *   - unknown keys, duplicate keys, sections that are not mappings;
 *   - anchors, aliases and tags (not supported: one meaning per line);
 *   - values of the wrong shape (a list where a scalar belongs, ...);
 *   - numbers, bools and enum names in the strict syntax (no lenient
 *     "any word is true", "12abc" or octal "010"), with bounds.
 * The pass also records where each key's value is (its line) and which
 * keys are present, so that absent keys get their defaults (0 is a
 * legitimate value of several keys).
 *
 * ${VAR} in a number, bool or enum value: expanded here and the result
 * parsed in the strict syntax, so an environment value is never read as
 * YAML.  String values and list items are stored as written and
 * expanded later (config.c), for the same reason.
 */
#include "config/config_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "common/alloc.h"

#define MAX_SECTIONS 32

struct scan {
    struct cfg_scan *sc;
    dm_config_t *cfg; /* where the values go */
    yaml_parser_t parser;
    const char *file;
    const char *text;
    size_t len;
    char *errbuf;
    size_t n;
    struct {
        const char *path; /* a key path prefix in dm_cfg_keys (static) */
        size_t len;
        int line;
    } sections[MAX_SECTIONS];
    size_t nsections;
};

int dm_cfg_fail(char *errbuf, size_t n, int err, const char *file, int line,
                const char *path, const char *fmt, ...)
{
    char msg[DM_ERRBUF_SIZE];
    char where[DM_ERRBUF_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(where, sizeof(where), "%s:%d: ", file, line);
    else
        snprintf(where, sizeof(where), "%s: ", file);
    if (path != NULL)
        return dm_err_set(errbuf, n, err, "%s%s: %s", where, path, msg);
    return dm_err_set(errbuf, n, err, "%s%s", where, msg);
}

/* Line (1-based) of a byte offset, for libyaml reader errors. */
static int line_of_offset(const char *text, size_t len, size_t off)
{
    int line = 1;

    for (size_t i = 0; i < off && i < len; i++)
        if (text[i] == '\n')
            line++;
    return line;
}

static int syntax_error(struct scan *s)
{
    yaml_parser_t *p = &s->parser;
    int line;

    if (p->error == YAML_MEMORY_ERROR)
        return dm_cfg_fail(s->errbuf, s->n, DM_ENOMEM, s->file, 0, NULL,
                           "out of memory parsing YAML");
    if (p->error == YAML_READER_ERROR)
        line = line_of_offset(s->text, s->len, p->problem_offset);
    else
        line = (int)p->problem_mark.line + 1;
    if (p->context != NULL)
        return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, line, NULL,
                           "YAML syntax error: %s (%s at line %d)",
                           p->problem ? p->problem : "invalid YAML", p->context,
                           (int)p->context_mark.line + 1);
    return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, line, NULL,
                       "YAML syntax error: %s",
                       p->problem ? p->problem : "invalid YAML");
}

static int next_event(struct scan *s, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&s->parser, ev)) {
        memset(ev, 0, sizeof(*ev)); /* nothing to delete */
        return syntax_error(s);
    }
    return DM_OK;
}

static int ev_line(const yaml_event_t *ev)
{
    return (int)ev->start_mark.line + 1;
}

/* Rejects aliases, anchors and tags on a node event. */
static int check_node(struct scan *s, const yaml_event_t *ev, const char *path)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;

    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(ev),
                           path, "aliases (*name) are not supported");
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default:
        break;
    }
    if (anchor != NULL)
        return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(ev),
                           path, "anchors (&name) are not supported");
    if (tag != NULL)
        return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(ev),
                           path, "tags (!name) are not supported");
    return DM_OK;
}

static bool is_plain_null(const yaml_event_t *ev)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL"};
    const char *v = (const char *)ev->data.scalar.value;

    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (strcmp(v, nulls[i]) == 0)
            return true;
    return false;
}

static bool has_nul(const yaml_event_t *ev)
{
    return strlen((const char *)ev->data.scalar.value) !=
           ev->data.scalar.length;
}

static const char *shape_name(enum cfg_type t)
{
    switch (t) {
    case CFG_BOOL:
        return "true or false";
    case CFG_U32:
    case CFG_U64:
        return "a whole number";
    case CFG_DOUBLE:
        return "a number";
    case CFG_STRING:
        return "a string";
    case CFG_ENUM:
        return "a name";
    case CFG_LIST:
        return "a list of strings";
    }
    return "a value";
}

static const char *event_name(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    default:
        return "a scalar";
    }
}

/* A string scalar (a string key or a list item): no NUL, no null. */
static int check_string_scalar(struct scan *s, const yaml_event_t *ev,
                               const char *path)
{
    if (has_nul(ev))
        return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(ev),
                           path, "must not contain a NUL character");
    if (is_plain_null(ev))
        return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(ev),
                           path,
                           "must be a string, not null (write \"\" for an "
                           "empty value)");
    return DM_OK;
}

/* A number, bool or enum scalar of key k. */
static int check_typed_scalar(struct scan *s, const struct cfg_key *k,
                              const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    char why[DM_ERRBUF_SIZE];
    char *expanded = NULL;
    union cfg_val val;
    int rc;

    if (has_nul(ev))
        return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(ev),
                           k->path, "must be %s", shape_name(k->type));
    if (strstr(v, "${") == NULL) {
        if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
            return dm_cfg_fail(
                s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(ev), k->path,
                "must be %s, not a quoted string", shape_name(k->type));
        rc = dm_cfg_parse_scalar(k, v, &val, why, sizeof(why));
        if (rc != DM_OK)
            return dm_cfg_fail(s->errbuf, s->n, rc, s->file, ev_line(ev),
                               k->path, "%s", why);
        dm_cfg_store(s->cfg, k, &val);
        return DM_OK;
    }
    rc = dm_cfg_expand(v, &expanded, why, sizeof(why));
    if (rc != DM_OK)
        return dm_cfg_fail(s->errbuf, s->n, rc, s->file, ev_line(ev), k->path,
                           "%s", why);
    rc = dm_cfg_parse_scalar(k, expanded, &val, why, sizeof(why));
    free(expanded);
    if (rc != DM_OK)
        return dm_cfg_fail(s->errbuf, s->n, rc, s->file, ev_line(ev), k->path,
                           "%s (after ${VAR} expansion)", why);
    dm_cfg_store(s->cfg, k, &val);
    return DM_OK;
}

static int scan_list(struct scan *s, long idx)
{
    const struct cfg_key *k = &dm_cfg_keys[idx];
    struct cfg_scan *sc = s->sc;
    unsigned *count;
    char ***list = dm_cfg_list(s->cfg, k, &count);
    char path[160];
    unsigned cap = 0;
    yaml_event_t ev;
    int rc;

    for (;;) {
        rc = next_event(s, &ev);
        if (rc != DM_OK)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return DM_OK;
        }
        snprintf(path, sizeof(path), "%s[%u]", k->path, sc->nitems[idx]);
        rc = check_node(s, &ev, path);
        if (rc == DM_OK && ev.type != YAML_SCALAR_EVENT)
            rc = dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(&ev),
                             path, "must be a string, not %s", event_name(&ev));
        if (rc == DM_OK)
            rc = check_string_scalar(s, &ev, path);
        if (rc == DM_OK && sc->nitems[idx] >= (unsigned)k->max)
            rc = dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(&ev),
                             k->path, "must have at most %u items",
                             (unsigned)k->max);
        if (rc != DM_OK) {
            yaml_event_delete(&ev);
            return rc;
        }
        if (sc->nitems[idx] == cap) {
            cap = cap ? 2 * cap : 8;
            sc->item_line[idx] =
                dm_reallocarray(sc->item_line[idx], cap, sizeof(int));
            *list = dm_reallocarray(*list, cap, sizeof(char *));
        }
        /* a NUL-free scalar (checked above): its value is a C string */
        (*list)[*count] = dm_strdup((const char *)ev.data.scalar.value);
        (*count)++;
        sc->item_line[idx][sc->nitems[idx]++] = ev_line(&ev);
        yaml_event_delete(&ev);
    }
}

/* The value of the leaf key idx (its key event already consumed). */
static int scan_value(struct scan *s, long idx)
{
    const struct cfg_key *k = &dm_cfg_keys[idx];
    yaml_event_t ev;
    int rc;

    rc = next_event(s, &ev);
    if (rc != DM_OK)
        return rc;
    s->sc->line[idx] = ev_line(&ev);
    rc = check_node(s, &ev, k->path);
    if (rc != DM_OK)
        goto out;
    if (k->type == CFG_LIST) {
        if (ev.type != YAML_SEQUENCE_START_EVENT) {
            rc = dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(&ev),
                             k->path, "must be a list of strings, not %s",
                             event_name(&ev));
            goto out;
        }
        rc = scan_list(s, idx);
        goto out;
    }
    if (ev.type != YAML_SCALAR_EVENT) {
        rc = dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(&ev),
                         k->path, "must be %s, not %s", shape_name(k->type),
                         event_name(&ev));
        goto out;
    }
    if (k->type == CFG_STRING) {
        rc = check_string_scalar(s, &ev, k->path);
        if (rc == DM_OK) /* a key is set once (duplicates are errors) */
            *dm_cfg_str(s->cfg, k) =
                dm_strdup((const char *)ev.data.scalar.value);
    } else {
        rc = check_typed_scalar(s, k, &ev);
    }
out:
    yaml_event_delete(&ev);
    return rc;
}

/* The key path prefix+"."+key, or just key at the top level. */
static size_t join_path(char *out, size_t cap, const char *prefix,
                        const char *key)
{
    int len = prefix[0] ? snprintf(out, cap, "%s.%s", prefix, key)
                        : snprintf(out, cap, "%s", key);

    return len < 0 ? 0 : (size_t)len;
}

/* Whether path (len bytes) is a section: a proper prefix of some key. */
static const char *section_of(const char *path, size_t len)
{
    for (size_t i = 0; i < dm_cfg_nkeys; i++) {
        const char *kp = dm_cfg_keys[i].path;

        if (strlen(kp) > len && memcmp(kp, path, len) == 0 && kp[len] == '.')
            return kp;
    }
    return NULL;
}

/* A printable copy of a user-written key for messages. */
static void printable(char *out, size_t cap, const char *in)
{
    size_t j = 0;

    for (size_t i = 0; in[i] && j + 4 < cap; i++) {
        unsigned char c = (unsigned char)in[i];

        out[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        if (i >= 60) {
            memcpy(out + j, "...", 3);
            j += 3;
            break;
        }
    }
    out[j] = '\0';
}

static int scan_mapping(struct scan *s, const char *prefix);

/* A section (sub-mapping) path, with its key event at line kline. */
static int scan_section(struct scan *s, const char *kp, size_t len,
                        const char *path, int kline)
{
    yaml_event_t ev;
    int rc;

    for (size_t i = 0; i < s->nsections; i++)
        if (s->sections[i].len == len &&
            memcmp(s->sections[i].path, kp, len) == 0)
            return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, kline,
                               path, "duplicate key (first at line %d)",
                               s->sections[i].line);
    if (s->nsections == MAX_SECTIONS)
        return dm_cfg_fail(s->errbuf, s->n, DM_EINTERNAL, s->file, kline, path,
                           "too many sections");
    s->sections[s->nsections].path = kp;
    s->sections[s->nsections].len = len;
    s->sections[s->nsections].line = kline;
    s->nsections++;

    rc = next_event(s, &ev);
    if (rc != DM_OK)
        return rc;
    rc = check_node(s, &ev, path);
    if (rc == DM_OK && ev.type != YAML_MAPPING_START_EVENT)
        rc = dm_cfg_fail(
            s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(&ev), path,
            "must be a mapping of keys, not %s%s", event_name(&ev),
            ev.type == YAML_SCALAR_EVENT ? " (write {} for an empty section)"
                                         : "");
    yaml_event_delete(&ev);
    if (rc != DM_OK)
        return rc;
    return scan_mapping(s, path);
}

/* The entries of a mapping whose start event was consumed. */
static int scan_mapping(struct scan *s, const char *prefix)
{
    char path[160];
    char shown[160];
    yaml_event_t ev;
    int rc;

    for (;;) {
        size_t len;
        long idx;
        const char *kp;
        int kline;
        bool dotted;

        rc = next_event(s, &ev);
        if (rc != DM_OK)
            return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return DM_OK;
        }
        kline = ev_line(&ev);
        rc = check_node(s, &ev, prefix[0] ? prefix : NULL);
        if (rc == DM_OK && ev.type != YAML_SCALAR_EVENT)
            rc = dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, kline,
                             prefix[0] ? prefix : NULL,
                             "keys must be plain names, not %s",
                             event_name(&ev));
        if (rc != DM_OK) {
            yaml_event_delete(&ev);
            return rc;
        }
        len = join_path(path, sizeof(path), prefix,
                        (const char *)ev.data.scalar.value);
        printable(shown, sizeof(shown), (const char *)ev.data.scalar.value);
        /* "a.b" as one key is not the key b of section a (YAML does
         * not read it so), and a NUL or a long key is no key. */
        dotted = strchr((const char *)ev.data.scalar.value, '.') != NULL;
        if (has_nul(&ev) || len >= sizeof(path) || dotted)
            len = 0;
        yaml_event_delete(&ev);

        idx = len ? dm_cfg_key_index(path, len) : -1;
        kp = (idx < 0 && len) ? section_of(path, len) : NULL;
        if (idx >= 0) {
            if (s->sc->key_line[idx] != 0)
                return dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, kline,
                                   path, "duplicate key (first at line %d)",
                                   s->sc->key_line[idx]);
            s->sc->key_line[idx] = kline;
            rc = scan_value(s, idx);
        } else if (kp != NULL) {
            rc = scan_section(s, kp, len, path, kline);
        } else {
            char full[200];

            if (prefix[0])
                snprintf(full, sizeof(full), "%s.%s", prefix, shown);
            else
                snprintf(full, sizeof(full), "%s", shown);
            rc = dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, kline, full,
                             "unknown key%s",
                             dotted ? " (write nested sections, not dotted "
                                      "names)"
                                    : "");
        }
        if (rc != DM_OK)
            return rc;
    }
}

/* The document's root node (its event not yet read). */
static int scan_root(struct scan *s)
{
    yaml_event_t ev;
    int rc;

    rc = next_event(s, &ev);
    if (rc != DM_OK)
        return rc;
    rc = check_node(s, &ev, NULL);
    if (rc != DM_OK)
        goto out;
    if (ev.type == YAML_SCALAR_EVENT &&
        (is_plain_null(&ev) ||
         (ev.data.scalar.length == 0 &&
          ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE))) {
        goto out; /* "---" alone: an empty document */
    }
    if (ev.type != YAML_MAPPING_START_EVENT) {
        rc = dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(&ev),
                         NULL,
                         "the top level must be a mapping of sections "
                         "(thresholds:, monitoring:, ...), not %s",
                         event_name(&ev));
        goto out;
    }
    yaml_event_delete(&ev);
    return scan_mapping(s, "");
out:
    yaml_event_delete(&ev);
    return rc;
}

/* Reads one event whose content does not matter (it was checked). */
static int skip_event(struct scan *s)
{
    yaml_event_t ev;
    int rc = next_event(s, &ev);

    if (rc == DM_OK)
        yaml_event_delete(&ev);
    return rc;
}

/* Stream: at most one document. */
static int scan_stream(struct scan *s)
{
    yaml_event_t ev;
    int rc;

    rc = skip_event(s); /* STREAM-START */
    if (rc != DM_OK)
        return rc;
    rc = next_event(s, &ev);
    if (rc != DM_OK)
        return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return DM_OK; /* empty file or only comments */
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    rc = scan_root(s);
    if (rc == DM_OK)
        rc = skip_event(s); /* DOCUMENT-END */
    if (rc != DM_OK)
        return rc;
    rc = next_event(s, &ev);
    if (rc != DM_OK)
        return rc;
    if (ev.type != YAML_STREAM_END_EVENT)
        rc = dm_cfg_fail(s->errbuf, s->n, DM_ECONFIG, s->file, ev_line(&ev),
                         NULL, "only one YAML document is allowed");
    yaml_event_delete(&ev);
    return rc;
}

int dm_cfg_scan_run(struct cfg_scan *sc, dm_config_t *cfg, const char *file,
                    const char *text, size_t len, char *errbuf, size_t n)
{
    struct scan s;
    int rc;

    memset(&s, 0, sizeof(s));
    memset(sc, 0, sizeof(*sc));
    sc->line = dm_calloc(dm_cfg_nkeys, sizeof(int));
    sc->key_line = dm_calloc(dm_cfg_nkeys, sizeof(int));
    sc->item_line = dm_calloc(dm_cfg_nkeys, sizeof(int *));
    sc->nitems = dm_calloc(dm_cfg_nkeys, sizeof(unsigned));
    if (text == NULL) /* the defaults: nothing present */
        return DM_OK;
    s.sc = sc;
    s.cfg = cfg;
    s.file = file;
    s.text = text;
    s.len = len;
    s.errbuf = errbuf;
    s.n = n;
    if (!yaml_parser_initialize(&s.parser))
        return dm_cfg_fail(errbuf, n, DM_ENOMEM, file, 0, NULL,
                           "cannot initialise the YAML parser");
    /* UTF-8 only: a config is UTF-8 text (and messages quote it). */
    yaml_parser_set_encoding(&s.parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&s.parser, (const unsigned char *)text, len);
    rc = scan_stream(&s);
    yaml_parser_delete(&s.parser);
    return rc;
}

void dm_cfg_scan_cleanup(struct cfg_scan *sc)
{
    if (sc->item_line != NULL)
        for (size_t i = 0; i < dm_cfg_nkeys; i++)
            free(sc->item_line[i]);
    free(sc->item_line);
    free(sc->line);
    free(sc->key_line);
    free(sc->nitems);
    memset(sc, 0, sizeof(*sc));
}
