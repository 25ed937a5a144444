/*
 * config.c - loading a config file: read, check, load, expand, validate.
 *
 * dm_config_load() runs these steps, each on the result of the last:
 *   1. read the file whole, capped at DM_CONFIG_MAX_BYTES;
 *   2. the libyaml pass (config_scan.c) against the key table of
 *      config_keys.c: syntax, shape, unknown and duplicate keys, types
 *      and numeric bounds, with FILE:LINE: KEY; it stores every value
 *      the file sets into a zeroed dm_config_t and records its line;
 *   3. every key the file does not set gets its default from the key
 *      table (presence comes from step 2, so 0 stays a valid value);
 *   4. ${VAR} expansion in string values (and list items), after
 *      parsing, so an environment value is never read as YAML;
 *   5. validation of the final values (bounds, choices, identifiers,
 *      URLs, lists) and of the rules between keys.
 * The first error stops the load; the message names file, line and key.
 * dm_config_defaults() runs steps 3-5 on an empty file.
 *
 * ${VAR} rules (also in docs/configuration.md): "${NAME}" is the value of
 * the environment variable NAME (an error when it is not set; the empty
 * string when set to ""); "${NAME:-text}" is the value of NAME when set
 * and not empty, else text taken literally (up to the first '}', no
 * nesting).  NAME is [A-Za-z_][A-Za-z0-9_]*.  "$${" is a literal "${";
 * any other '$' (including "$$") is kept as it is.  An expanded value is
 * never expanded again.
 *
 * Memory: every string and list in a dm_config_t is a separate malloc()
 * block, and dm_config_free() walks the key table to release them.
 */
#include "config/config.h"

#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "config/config_int.h"

/* ---- ${VAR} expansion ---- */

static bool is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

#define MAX_VAR_NAME 128

/* One ${...} at p (p[0..1] == "${"); appends its value; *end past '}'. */
static int expand_ref(const char *p, dm_buf_t *b, const char **end, char *why,
                      size_t n)
{
    char name[MAX_VAR_NAME + 1];
    const char *q = p + 2;
    const char *val;
    size_t len;

    if (!is_name_start(*q))
        return dm_err_set(why, n, DM_ECONFIG,
                          "invalid ${...}: expected a variable name after "
                          "${ (use $${ for a literal ${)");
    while (is_name_char(*q))
        q++;
    len = (size_t)(q - (p + 2));
    if (len > MAX_VAR_NAME)
        return dm_err_set(why, n, DM_ECONFIG,
                          "invalid ${...}: variable name longer than %d",
                          MAX_VAR_NAME);
    memcpy(name, p + 2, len);
    name[len] = '\0';
    val = getenv(name);
    if (*q == '}') {
        if (val == NULL)
            return dm_err_set(why, n, DM_ECONFIG,
                              "environment variable %s is not set (use "
                              "${%s:-default} for a default)",
                              name, name);
        *end = q + 1;
        return dm_buf_puts(b, val);
    }
    if (q[0] == ':' && q[1] == '-') {
        const char *def = q + 2;
        const char *close = strchr(def, '}');

        if (close == NULL)
            return dm_err_set(why, n, DM_ECONFIG,
                              "unterminated ${%s:-...} (missing })", name);
        *end = close + 1;
        if (val != NULL && val[0] != '\0')
            return dm_buf_puts(b, val);
        return dm_buf_append(b, def, (size_t)(close - def));
    }
    if (*q == '\0')
        return dm_err_set(why, n, DM_ECONFIG, "unterminated ${%s (missing })",
                          name);
    return dm_err_set(why, n, DM_ECONFIG,
                      "invalid ${%s...}: only ${VAR} and ${VAR:-default} "
                      "are supported",
                      name);
}

int dm_cfg_expand(const char *s, char **out, char *why, size_t n)
{
    dm_buf_t b;
    const char *p = s;
    int rc = DM_OK;

    *out = NULL;
    dm_buf_init(&b, DM_CONFIG_MAX_STRING);
    while (*p != '\0' && rc == DM_OK) {
        const char *dollar = strchr(p, '$');
        size_t lit = dollar ? (size_t)(dollar - p) : strlen(p);

        rc = dm_buf_append(&b, p, lit);
        p += lit;
        if (rc != DM_OK || *p == '\0')
            break;
        if (p[1] == '{') {
            rc = expand_ref(p, &b, &p, why, n);
        } else if (p[1] == '$' && p[2] == '{') {
            rc = dm_buf_puts(&b, "${");
            p += 3;
        } else {
            rc = dm_buf_append(&b, p, 1);
            p++;
        }
    }
    if (rc == DM_ETOOBIG)
        rc = dm_err_set(why, n, DM_ECONFIG,
                        "longer than %d bytes after ${VAR} expansion",
                        DM_CONFIG_MAX_STRING);
    if (rc == DM_OK)
        *out = dm_buf_steal(&b);
    dm_buf_cleanup(&b);
    return rc;
}

/* ---- reading the file ---- */

static int read_file(const char *path, dm_buf_t *b, char *errbuf, size_t n)
{
    char chunk[65536];
    FILE *f;
    int rc = DM_OK;

    f = fopen(path, "rb");
    if (f == NULL)
        return dm_err_set(errbuf, n, DM_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    for (;;) {
        size_t got = fread(chunk, 1, sizeof(chunk), f);

        if (got > 0 && dm_buf_append(b, chunk, got) != DM_OK) {
            rc = dm_err_set(errbuf, n, DM_ECONFIG,
                            "%s: larger than %d bytes (the limit of a "
                            "config file)",
                            path, DM_CONFIG_MAX_BYTES);
            break;
        }
        if (got < sizeof(chunk)) {
            if (ferror(f))
                rc = dm_err_set(errbuf, n, DM_EIO, "%s: cannot read: %s", path,
                                strerror(errno));
            break;
        }
    }
    fclose(f);
    return rc;
}

/* ---- defaults ---- */

/* Error for key k with the line where the file sets it (0: default). */
static int key_fail(char *errbuf, size_t n, const char *file,
                    const struct cfg_scan *sc, const struct cfg_key *k,
                    int line, const char *why)
{
    bool dflt = sc->line[k - dm_cfg_keys] == 0;

    return dm_cfg_fail(errbuf, n, DM_ECONFIG, file, line, k->path, "%s%s", why,
                       dflt ? " (in the default value)" : "");
}

static void default_list(dm_config_t *cfg, const struct cfg_key *k)
{
    unsigned *count;
    char ***list = dm_cfg_list(cfg, k, &count);
    const char *p = k->def;

    *list = NULL;
    *count = 0;
    while (*p != '\0') {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);

        *list = dm_reallocarray(*list, *count + 1, sizeof(char *));
        (*list)[(*count)++] = dm_strndup(p, len);
        p += len;
        while (*p == ' ')
            p++;
    }
}

static int apply_defaults(dm_config_t *cfg, const struct cfg_scan *sc,
                          const char *file, char *errbuf, size_t n)
{
    char why[DM_ERRBUF_SIZE];

    for (size_t i = 0; i < dm_cfg_nkeys; i++) {
        const struct cfg_key *k = &dm_cfg_keys[i];
        char *text = NULL;
        union cfg_val v;
        int rc;

        if (sc->line[i] != 0)
            continue;
        if (k->type == CFG_STRING) {
            *dm_cfg_str(cfg, k) = dm_strdup(k->def);
            continue;
        }
        if (k->type == CFG_LIST) {
            default_list(cfg, k);
            continue;
        }
        rc = dm_cfg_expand(k->def, &text, why, sizeof(why));
        if (rc == DM_OK)
            rc = dm_cfg_parse_scalar(k, text, &v, why, sizeof(why));
        free(text);
        if (rc != DM_OK)
            return key_fail(errbuf, n, file, sc, k, 0, why);
        dm_cfg_store(cfg, k, &v);
    }
    return DM_OK;
}

/* ---- expansion of string values ---- */

static int expand_one(char **s, char *why, size_t n)
{
    char *out;
    int rc;

    if (*s == NULL) {
        *s = dm_strdup("");
        return DM_OK;
    }
    if (strchr(*s, '$') == NULL)
        return DM_OK;
    rc = dm_cfg_expand(*s, &out, why, n);
    if (rc != DM_OK)
        return rc;
    free(*s);
    *s = out;
    return DM_OK;
}

/* Whether s is only ${NAME} / ${NAME:-} references (no literal text). */
static bool only_refs(const char *s)
{
    if (*s == '\0')
        return false;
    while (*s) {
        const char *p = s + 2;

        if (s[0] != '$' || s[1] != '{' || !is_name_start(*p))
            return false;
        while (is_name_char(*p))
            p++;
        if (p[0] == ':' && p[1] == '-' && p[2] == '}')
            p += 2;
        if (*p != '}')
            return false;
        s = p + 1;
    }
    return true;
}

/*
 * A secret: "<redacted>" (from a dump) stands for the key's default; a
 * value of references alone is kept for the dump (secret_ref).
 */
static void secret_source(dm_config_t *cfg, const struct cfg_key *k,
                          size_t *nsecret)
{
    char **s = dm_cfg_str(cfg, k);
    size_t j = (*nsecret)++;

    if (j >= DM_CONFIG_MAX_SECRETS || *s == NULL)
        return;
    if (strcmp(*s, DM_CONFIG_REDACTED) == 0) {
        free(*s);
        *s = dm_strdup(k->def);
    }
    free(cfg->secret_ref[j]);
    cfg->secret_ref[j] = only_refs(*s) ? dm_strdup(*s) : NULL;
}

static int expand_strings(dm_config_t *cfg, const struct cfg_scan *sc,
                          const char *file, char *errbuf, size_t n)
{
    char why[DM_ERRBUF_SIZE];
    size_t nsecret = 0;

    for (size_t i = 0; i < dm_cfg_nkeys; i++) {
        const struct cfg_key *k = &dm_cfg_keys[i];

        if (k->type == CFG_STRING) {
            if ((k->flags & CFG_SECRET) != 0)
                secret_source(cfg, k, &nsecret);
            if (expand_one(dm_cfg_str(cfg, k), why, sizeof(why)) != DM_OK)
                return key_fail(errbuf, n, file, sc, k, sc->line[i], why);
        } else if (k->type == CFG_LIST) {
            unsigned *count;
            char **list = *dm_cfg_list(cfg, k, &count);

            for (unsigned j = 0; j < *count; j++) {
                int line = j < sc->nitems[i] ? sc->item_line[i][j] : 0;
                char path[160];

                if (expand_one(&list[j], why, sizeof(why)) == DM_OK)
                    continue;
                snprintf(path, sizeof(path), "%s[%u]", k->path, j);
                return dm_cfg_fail(errbuf, n, DM_ECONFIG, file, line, path,
                                   "%s", why);
            }
        }
    }
    return DM_OK;
}

/* ---- validation of the final values ---- */

static bool ident_ok(const char *s, size_t len)
{
    if (len == 0 || len > 63 || !is_name_start(s[0]))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!is_name_char(s[i]))
            return false;
    return true;
}

static int check_ident(const char *s, bool qualified, char *why, size_t n)
{
    const char *dot = qualified ? strchr(s, '.') : NULL;
    bool ok;

    if (dot != NULL)
        ok = ident_ok(s, (size_t)(dot - s)) &&
             ident_ok(dot + 1, strlen(dot + 1));
    else
        ok = ident_ok(s, strlen(s));
    if (ok)
        return DM_OK;
    return dm_err_set(why, n, DM_ECONFIG,
                      qualified ? "must be an SQL identifier "
                                  "([A-Za-z_][A-Za-z0-9_]*, at most 63 "
                                  "characters) or schema.table"
                                : "must be an SQL identifier "
                                  "([A-Za-z_][A-Za-z0-9_]*, at most 63 "
                                  "characters)");
}

/*
 * An http(s) URL as the HTTP client will need it: scheme, a non-empty
 * host (IPv6 in brackets), an optional port 1..65535.  base: no query or
 * fragment either (a path is appended to it).  The value is never echoed:
 * it may be a secret (the Slack webhook).
 */
static int check_url(const char *s, bool base, char *why, size_t n)
{
    const char *a, *end, *host, *colon = NULL;
    size_t skip;

    if (s[0] == '\0')
        return DM_OK;
    if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else
        return dm_err_set(why, n, DM_ECONFIG,
                          "must be an http:// or https:// URL");
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return dm_err_set(why, n, DM_ECONFIG,
                              "must be a URL without spaces or control "
                              "characters");
    if (base && strpbrk(s, "?#"))
        return dm_err_set(why, n, DM_ECONFIG,
                          "must not have a query (?) or fragment (#): "
                          "paths are appended to it");
    a = s + skip;
    end = a + strcspn(a, "/?#");
    host = a;
    for (const char *p = a; p < end; p++)
        if (*p == '@')
            host = p + 1; /* user info before the host */
    if (*host == '[') {
        const char *rb = memchr(host, ']', (size_t)(end - host));
        if (rb == NULL)
            return dm_err_set(why, n, DM_ECONFIG,
                              "must have a closing ']' after an IPv6 host");
        colon = rb + 1 < end ? rb + 1 : NULL;
        if (colon && *colon != ':')
            return dm_err_set(why, n, DM_ECONFIG,
                              "must have ':' or '/' after ']'");
        if (rb == host + 1)
            return dm_err_set(why, n, DM_ECONFIG, "must name a host");
    } else {
        colon = memchr(host, ':', (size_t)(end - host));
        if ((colon ? colon : end) == host)
            return dm_err_set(why, n, DM_ECONFIG, "must name a host");
    }
    if (colon) {
        unsigned long port = 0;
        const char *p = colon + 1;

        if (p == end || end - p > 5)
            return dm_err_set(why, n, DM_ECONFIG,
                              "port must be a number from 1 to 65535");
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return dm_err_set(why, n, DM_ECONFIG,
                                  "port must be a number from 1 to 65535");
            port = port * 10 + (unsigned long)(*p - '0');
        }
        if (port < 1 || port > 65535)
            return dm_err_set(why, n, DM_ECONFIG,
                              "port must be a number from 1 to 65535");
    }
    return DM_OK;
}

static int check_label(const char *s, char *why, size_t n)
{
    size_t len = strlen(s);

    if (len == 0)
        return dm_err_set(why, n, DM_ECONFIG, "must not be empty");
    if (len > CFG_LABEL_MAX)
        return dm_err_set(why, n, DM_ECONFIG, "must be at most %d bytes",
                          CFG_LABEL_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return dm_err_set(why, n, DM_ECONFIG,
                              "must not contain control characters");
    if (s[0] == ' ' || s[len - 1] == ' ')
        return dm_err_set(why, n, DM_ECONFIG,
                          "must not start or end with a space");
    return DM_OK;
}

static int check_string(const struct cfg_key *k, const char *s, char *why,
                        size_t n)
{
    size_t len = strlen(s);

    if (len < (size_t)k->min)
        return dm_err_set(why, n, DM_ECONFIG, "must not be empty");
    if (len > (size_t)k->max)
        return dm_err_set(why, n, DM_ECONFIG, "must be at most %zu bytes",
                          (size_t)k->max);
    switch (k->check) {
    case CHK_CHOICE:
        return dm_cfg_choice(k, s) < 0 ? dm_cfg_choice_fail(k, why, n) : DM_OK;
    case CHK_URL:
    case CHK_BASEURL:
        return check_url(s, k->check == CHK_BASEURL, why, n);
    case CHK_IDENT:
        return check_ident(s, false, why, n);
    case CHK_TABLE:
        return check_ident(s, true, why, n);
    case CHK_LABEL:
        return check_label(s, why, n);
    case CHK_NONE:
        break;
    }
    return DM_OK;
}

/* List items: labels, no duplicates (case-insensitive), no "other". */
static int check_list(dm_config_t *cfg, const struct cfg_key *k,
                      const struct cfg_scan *sc, const char *file, char *errbuf,
                      size_t n)
{
    size_t ki = (size_t)(k - dm_cfg_keys);
    char why[DM_ERRBUF_SIZE];
    unsigned *count;
    char **list = *dm_cfg_list(cfg, k, &count);

    if (*count < (unsigned)k->min || *count > (unsigned)k->max) {
        snprintf(why, sizeof(why), "must have %u to %u items", (unsigned)k->min,
                 (unsigned)k->max);
        return key_fail(errbuf, n, file, sc, k, sc->line[ki], why);
    }
    for (unsigned j = 0; j < *count; j++) {
        int line = j < sc->nitems[ki] ? sc->item_line[ki][j] : sc->line[ki];
        char path[160];
        int rc = check_label(list[j], why, sizeof(why));

        for (unsigned m = 0; rc == DM_OK && m < j; m++)
            if (strcasecmp(list[m], list[j]) == 0)
                rc = dm_err_set(why, sizeof(why), DM_ECONFIG,
                                "duplicate item \"%s\"", list[m]);
        if (rc == DM_OK &&
            k->off == offsetof(dm_config_t, intents.categories) &&
            strcasecmp(list[j], "other") == 0)
            rc = dm_err_set(why, sizeof(why), DM_ECONFIG,
                            "\"other\" is implicit (every label not in the "
                            "list) and cannot be configured");
        if (rc != DM_OK) {
            snprintf(path, sizeof(path), "%s[%u]", k->path, j);
            return dm_cfg_fail(errbuf, n, DM_ECONFIG, file, line, path, "%s",
                               why);
        }
    }
    return DM_OK;
}

static double number_of(const dm_config_t *cfg, const struct cfg_key *k)
{
    const void *p = (const char *)cfg + k->off;

    switch (k->type) {
    case CFG_U32:
        return (double)*(const uint32_t *)p;
    case CFG_U64:
        return (double)*(const uint64_t *)p;
    case CFG_DOUBLE:
        return *(const double *)p;
    default:
        return 0;
    }
}

static int validate_keys(dm_config_t *cfg, const struct cfg_scan *sc,
                         const char *file, char *errbuf, size_t n)
{
    char why[DM_ERRBUF_SIZE];

    for (size_t i = 0; i < dm_cfg_nkeys; i++) {
        const struct cfg_key *k = &dm_cfg_keys[i];
        int rc = DM_OK;

        switch (k->type) {
        case CFG_U32:
        case CFG_U64:
        case CFG_DOUBLE:
            rc = dm_cfg_check_bounds(k, number_of(cfg, k), why, sizeof(why));
            break;
        case CFG_STRING:
            rc = check_string(k, *dm_cfg_str(cfg, k), why, sizeof(why));
            break;
        case CFG_LIST:
            rc = check_list(cfg, k, sc, file, errbuf, n);
            if (rc != DM_OK)
                return rc;
            break;
        case CFG_BOOL:
        case CFG_ENUM:
            break;
        }
        if (rc != DM_OK)
            return key_fail(errbuf, n, file, sc, k, sc->line[i], why);
    }
    return DM_OK;
}

/* ---- rules between keys ---- */

/*
 * Each rule returns NULL when it holds, else the path of the key to
 * blame (preferably one the file sets) with the reason in why.
 */
typedef const char *(*rule_fn)(const dm_config_t *c, const struct cfg_scan *sc,
                               char *why, size_t n);

static bool present(const struct cfg_scan *sc, const char *path)
{
    long i = dm_cfg_key_index(path, strlen(path));

    return i >= 0 && sc->line[i] != 0;
}

static const char *rule_samples(const dm_config_t *c, const struct cfg_scan *sc,
                                char *why, size_t n)
{
    if (c->monitoring.max_samples_per_window >= c->monitoring.min_samples)
        return NULL;
    if (present(sc, "monitoring.max_samples_per_window")) {
        snprintf(why, n, "must be >= monitoring.min_samples (%u)",
                 (unsigned)c->monitoring.min_samples);
        return "monitoring.max_samples_per_window";
    }
    snprintf(why, n, "must be <= monitoring.max_samples_per_window (%u)",
             (unsigned)c->monitoring.max_samples_per_window);
    return "monitoring.min_samples";
}

static const char *rule_sqlite(const dm_config_t *c, const struct cfg_scan *sc,
                               char *why, size_t n)
{
    (void)sc;
    if (strcmp(c->database.backend, "sqlite") != 0 ||
        c->database.path[0] != '\0')
        return NULL;
    snprintf(why, n, "must not be empty with the sqlite backend");
    return "database.path";
}

static const char *rule_postgres(const dm_config_t *c,
                                 const struct cfg_scan *sc, char *why, size_t n)
{
    (void)sc;
    if (strcmp(c->database.backend, "postgres") != 0 ||
        c->database.url[0] != '\0')
        return NULL;
    snprintf(why, n,
             "must not be empty with the postgres backend when "
             "database.url is empty");
    if (c->database.host[0] == '\0')
        return "database.host";
    if (c->database.name[0] == '\0')
        return "database.name";
    if (c->database.user[0] == '\0')
        return "database.user";
    return NULL;
}

static const char *rule_trigger_url(const dm_config_t *c,
                                    const struct cfg_scan *sc, char *why,
                                    size_t n)
{
    (void)sc;
    if (!c->fine_tuning.auto_trigger ||
        c->fine_tuning.learning_engine_url[0] != '\0')
        return NULL;
    snprintf(why, n, "must not be empty when fine_tuning.auto_trigger is on");
    return "fine_tuning.learning_engine_url";
}

static const char *rule_columns(const dm_config_t *c, const struct cfg_scan *sc,
                                char *why, size_t n)
{
    static const char *const paths[] = {
        "database.feedback.id_column",
        "database.feedback.query_column",
        "database.feedback.response_column",
        "database.feedback.intent_column",
        "database.feedback.positive_column",
        "database.feedback.timestamp_column",
    };
    const dm_config_feedback_table_t *f = &c->database.feedback;
    const char *cols[] = {f->id_column,       f->query_column,
                          f->response_column, f->intent_column,
                          f->positive_column, f->timestamp_column};

    for (size_t i = 1; i < sizeof(cols) / sizeof(cols[0]); i++)
        for (size_t j = 0; j < i; j++)
            if (strcasecmp(cols[i], cols[j]) == 0) {
                /* Blame the one the file sets (the other is a default). */
                bool later = present(sc, paths[i]) || !present(sc, paths[j]);

                snprintf(why, n, "same column as %s",
                         later ? paths[j] : paths[i]);
                return later ? paths[i] : paths[j];
            }
    return NULL;
}

/*
 * A permutation p-value is at least 1 / (R + 1): with (R + 1) alpha <= 1
 * no permutation test could ever fire (DESIGN.md section 2.2).
 */
static const char *rule_permutations(const dm_config_t *c,
                                     const struct cfg_scan *sc, char *why,
                                     size_t n)
{
    double r = (double)c->significance.permutations;
    double alpha = c->significance.alpha;
    double need = floor(1.0 / alpha) - 2.0;

    /* R = 0 too (DESIGN.md 2.2): no p-value at all would let a signal
     * fire on its effect alone, outside Holm's family-wise bound */
    if ((r + 1.0) * alpha > 1.0)
        return NULL;
    /* the fewest that would do, found in the same arithmetic */
    if (need < 0.0)
        need = 0.0;
    while ((need + 1.0) * alpha <= 1.0)
        need += 1.0;
    snprintf(why, n,
             "(permutations + 1) * alpha must be > 1 (%u permutations, "
             "alpha %g: the smallest p-value, 1/%u, is never below alpha; "
             "this alpha needs at least %.0f)",
             c->significance.permutations, alpha,
             c->significance.permutations + 1, need);
    return present(sc, "significance.permutations") ||
                   !present(sc, "significance.alpha")
               ? "significance.permutations"
               : "significance.alpha";
}

static const char *rule_positive(const dm_config_t *c,
                                 const struct cfg_scan *sc, char *why, size_t n)
{
    (void)sc;
    if (c->database.feedback.positive_values_count == 0 ||
        c->database.feedback.positive_threshold == 0)
        return NULL;
    snprintf(why, n,
             "cannot be set together with "
             "database.feedback.positive_threshold");
    return "database.feedback.positive_values";
}

static const rule_fn rules[] = {
    rule_samples, rule_sqlite,   rule_postgres,     rule_trigger_url,
    rule_columns, rule_positive, rule_permutations,
};

static int check_rules(const dm_config_t *cfg, const struct cfg_scan *sc,
                       const char *file, char *errbuf, size_t n)
{
    char why[DM_ERRBUF_SIZE];

    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const char *path = rules[i](cfg, sc, why, sizeof(why));
        long k;

        if (path == NULL)
            continue;
        k = dm_cfg_key_index(path, strlen(path));
        return dm_cfg_fail(errbuf, n, DM_ECONFIG, file,
                           k >= 0 ? sc->line[k] : 0, path, "%s", why);
    }
    return DM_OK;
}

/* ---- the steps together ---- */

static int finish(dm_config_t *cfg, const struct cfg_scan *sc, const char *file,
                  char *errbuf, size_t n)
{
    int rc = apply_defaults(cfg, sc, file, errbuf, n);

    if (rc == DM_OK)
        rc = expand_strings(cfg, sc, file, errbuf, n);
    if (rc == DM_OK)
        rc = validate_keys(cfg, sc, file, errbuf, n);
    if (rc == DM_OK)
        rc = check_rules(cfg, sc, file, errbuf, n);
    return rc;
}

int dm_config_load_buffer(const char *name, const char *data, size_t len,
                          dm_config_t **out, char *errbuf, size_t errlen)
{
    struct cfg_scan sc;
    dm_config_t *cfg = NULL;
    int rc;

    *out = NULL;
    if (len > DM_CONFIG_MAX_BYTES)
        return dm_err_set(errbuf, errlen, DM_ECONFIG,
                          "%s: larger than %d bytes (the limit of a config "
                          "file)",
                          name, DM_CONFIG_MAX_BYTES);
    memset(&sc, 0, sizeof(sc));
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        data += 3; /* a UTF-8 byte order mark */
        len -= 3;
    }
    cfg = dm_calloc(1, sizeof(dm_config_t));
    rc = dm_cfg_scan_run(&sc, cfg, name, data, len, errbuf, errlen);
    if (rc == DM_OK)
        rc = finish(cfg, &sc, name, errbuf, errlen);
    if (rc == DM_OK) {
        *out = cfg;
        cfg = NULL;
    }
    dm_config_free(cfg);
    dm_cfg_scan_cleanup(&sc);
    return rc;
}

/*
 * A relative database.path names a file beside the config file, not in
 * whatever directory the command happens to run in ("-" for stdin and
 * SQLite's ":memory:" and "file:" URIs are left alone).
 */
static int resolve_db_path(dm_config_t *cfg, const char *file, char *errbuf,
                           size_t n)
{
    const char *p = cfg->database.path, *slash = strrchr(file, '/');
    size_t dlen = slash ? (size_t)(slash - file) : 0;
    dm_buf_t b;
    int rc;

    if (p[0] == '\0' || p[0] == '/' || strcmp(p, ":memory:") == 0 ||
        strncmp(p, "file:", 5) == 0 || slash == NULL)
        return DM_OK;
    dm_buf_init(&b, PATH_MAX);
    rc = dm_buf_append(&b, file, dlen ? dlen : 1); /* "/x.yaml": "/" */
    if (rc == DM_OK && dlen)
        rc = dm_buf_puts(&b, "/");
    if (rc == DM_OK)
        rc = dm_buf_puts(&b, p);
    if (rc != DM_OK) {
        dm_buf_cleanup(&b);
        return dm_err_set(errbuf, n, DM_ECONFIG,
                          "%s: database.path: longer than %d bytes once "
                          "resolved against the config file's directory",
                          file, PATH_MAX);
    }
    free(cfg->database.path);
    cfg->database.path = dm_strdup(dm_buf_str(&b));
    dm_buf_cleanup(&b);
    return DM_OK;
}

int dm_config_load(const char *path, dm_config_t **out, char *errbuf,
                   size_t errlen)
{
    dm_buf_t text;
    int rc;

    *out = NULL;
    dm_buf_init(&text, DM_CONFIG_MAX_BYTES);
    rc = read_file(path, &text, errbuf, errlen);
    if (rc == DM_OK)
        rc = dm_config_load_buffer(path, dm_buf_str(&text), text.len, out,
                                   errbuf, errlen);
    if (rc == DM_OK) {
        rc = resolve_db_path(*out, path, errbuf, errlen);
        if (rc != DM_OK) {
            dm_config_free(*out);
            *out = NULL;
        }
    }
    dm_buf_cleanup(&text);
    return rc;
}

int dm_config_defaults(dm_config_t **out, char *errbuf, size_t errlen)
{
    struct cfg_scan sc;
    dm_config_t *cfg = dm_calloc(1, sizeof(dm_config_t));
    int rc;

    *out = NULL;
    rc = dm_cfg_scan_run(&sc, cfg, "(defaults)", NULL, 0, errbuf, errlen);
    if (rc == DM_OK)
        rc = finish(cfg, &sc, "(defaults)", errbuf, errlen);
    if (rc == DM_OK) {
        *out = cfg;
        cfg = NULL;
    }
    dm_config_free(cfg);
    dm_cfg_scan_cleanup(&sc);
    return rc;
}

void dm_config_free(dm_config_t *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < dm_cfg_nkeys; i++) {
        const struct cfg_key *k = &dm_cfg_keys[i];

        if (k->type == CFG_STRING) {
            free(*dm_cfg_str(cfg, k));
        } else if (k->type == CFG_LIST) {
            unsigned *count;
            char **list = *dm_cfg_list(cfg, k, &count);

            for (unsigned j = 0; j < *count; j++)
                free(list[j]);
            free(list);
        }
    }
    for (size_t i = 0; i < DM_CONFIG_MAX_SECRETS; i++)
        free(cfg->secret_ref[i]);
    free(cfg);
}
