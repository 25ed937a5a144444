/*
 * config_dump.c - the effective configuration as YAML, secrets redacted.
 *
 * Values are written so that the dump loads back into the same config:
 * strings double-quoted with YAML escapes (and "${" written "$${" so it
 * is not expanded again), numbers in the shortest form that reads back
 * exactly, lists in flow style.  A key flagged CFG_SECRET is written as
 * the ${VAR} reference it came from when it has one (config.h,
 * secret_ref), else "<redacted>" when set (the loader reads that back as
 * the key's default) and "" when empty, never with its value.
 */
#include "config/config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "config/config_int.h"

#define REDACTED DM_CONFIG_REDACTED

static int put_quoted(dm_buf_t *b, const char *s)
{
    int rc = dm_buf_puts(b, "\"");

    for (const char *p = s; *p && rc == DM_OK; p++) {
        unsigned char c = (unsigned char)*p;

        if (c == '"' || c == '\\')
            rc = dm_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            rc = dm_buf_puts(b, "\\n");
        else if (c == '\t')
            rc = dm_buf_puts(b, "\\t");
        else if (c == '\r')
            rc = dm_buf_puts(b, "\\r");
        else if (c < 0x20 || c == 0x7f)
            rc = dm_buf_printf(b, "\\x%02x", c);
        else if (c == '$' && p[1] == '{')
            rc = dm_buf_puts(b, "$$");
        else
            rc = dm_buf_append(b, p, 1);
    }
    if (rc == DM_OK)
        rc = dm_buf_puts(b, "\"");
    return rc;
}

/* The shortest %g form that reads back as exactly v. */
static int put_double(dm_buf_t *b, double v)
{
    char tmp[64];

    if (v == (double)(int64_t)v && v > -1e15 && v < 1e15)
        return dm_buf_printf(b, "%.0f", v); /* 10, not 1e+01 */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return dm_buf_puts(b, tmp);
}

static int put_choice(dm_buf_t *b, const char *const *choices, int idx)
{
    for (int i = 0; idx >= 0 && choices[i] != NULL; i++)
        if (i == idx)
            return dm_buf_puts(b, choices[i]);
    return dm_buf_printf(b, "%d", idx);
}

/* A ${VAR} reference as it was written: quoted, not escaped. */
static int put_ref(dm_buf_t *b, const char *ref)
{
    int rc = dm_buf_puts(b, "\"");

    if (rc == DM_OK)
        rc = dm_buf_puts(b, ref); /* only names, '$', '{', '}', ':', '-' */
    return rc == DM_OK ? dm_buf_puts(b, "\"") : rc;
}

/* secret_ref of key k (NULL if none); j counts the secrets before k. */
static const char *secret_ref(const dm_config_t *cfg, const struct cfg_key *k)
{
    size_t j = 0;

    for (const struct cfg_key *p = dm_cfg_keys; p < k; p++)
        if (p->type == CFG_STRING && (p->flags & CFG_SECRET) != 0)
            j++;
    return j < DM_CONFIG_MAX_SECRETS ? cfg->secret_ref[j] : NULL;
}

/* dump: write a secret as its ${VAR} reference where there is one. */
static int put_value(dm_buf_t *b, const dm_config_t *cfg,
                     const struct cfg_key *k, bool dump)
{
    const void *p = (const char *)cfg + k->off;

    switch (k->type) {
    case CFG_BOOL:
        return dm_buf_puts(b, *(const bool *)p ? "true" : "false");
    case CFG_U32:
        return dm_buf_printf(b, "%" PRIu32, *(const uint32_t *)p);
    case CFG_U64:
        return dm_buf_printf(b, "%" PRIu64, *(const uint64_t *)p);
    case CFG_DOUBLE:
        return put_double(b, *(const double *)p);
    case CFG_ENUM:
        return put_choice(b, k->choices, *(const int *)p);
    case CFG_STRING: {
        const char *s = *(char *const *)p;

        if (s == NULL)
            s = "";
        if ((k->flags & CFG_SECRET) != 0) {
            const char *ref = dump && s[0] ? secret_ref(cfg, k) : NULL;

            return ref ? put_ref(b, ref) : put_quoted(b, s[0] ? REDACTED : "");
        }
        return put_quoted(b, s);
    }
    case CFG_LIST: {
        char *const *list = *(char *const *const *)p;
        unsigned count =
            *(const unsigned *)(const void *)((const char *)cfg + k->count_off);
        int rc = dm_buf_puts(b, "[");

        for (unsigned i = 0; i < count && rc == DM_OK; i++) {
            if (i > 0)
                rc = dm_buf_puts(b, ", ");
            if (rc == DM_OK)
                rc = put_quoted(b, list[i]);
        }
        return rc == DM_OK ? dm_buf_puts(b, "]") : rc;
    }
    }
    return DM_EINTERNAL;
}

int dm_config_key_format(const dm_config_t *cfg, size_t i, char *buf, size_t n)
{
    dm_buf_t b;
    int rc;

    if (i >= dm_cfg_nkeys || cfg == NULL || buf == NULL || n == 0)
        return DM_EINVAL;
    dm_buf_init(&b, n - 1);
    rc = put_value(&b, cfg, &dm_cfg_keys[i], false);
    snprintf(buf, n, "%s", dm_buf_str(&b));
    dm_buf_cleanup(&b);
    return rc;
}

/* Length of the section part of a path ("alerts.slack" of ...url). */
static size_t section_len(const char *path)
{
    const char *dot = strrchr(path, '.');

    return dot ? (size_t)(dot - path) : 0;
}

/* Length of component number idx of path's section part, at *start. */
static bool component(const char *path, int idx, size_t *start, size_t *len)
{
    size_t slen = section_len(path), pos = 0;

    for (int i = 0; pos < slen; i++) {
        size_t end = pos;

        while (end < slen && path[end] != '.')
            end++;
        if (i == idx) {
            *start = pos;
            *len = end - pos;
            return true;
        }
        pos = end + 1;
    }
    return false;
}

/*
 * Prints the headers of the sections of path that are not already open
 * after prev (the previous key's path, or "").
 */
static void open_sections(FILE *f, const char *prev, const char *path)
{
    size_t s1, l1, s2, l2;
    int depth = 0;

    /* Skip the sections both paths share. */
    while (component(path, depth, &s1, &l1) &&
           component(prev, depth, &s2, &l2) && l1 == l2 &&
           memcmp(path + s1, prev + s2, l1) == 0)
        depth++;
    for (; component(path, depth, &s1, &l1); depth++)
        fprintf(f, "%*s%.*s:\n", 2 * depth, "", (int)l1, path + s1);
}

void dm_config_dump(const dm_config_t *cfg, FILE *f)
{
    const char *prev = "";
    dm_buf_t b;

    dm_buf_init(&b, 4 * (size_t)DM_CONFIG_MAX_BYTES);
    fprintf(f, "# driftmon effective configuration (secrets as their "
               "${VAR} references, or redacted)\n");
    for (size_t i = 0; i < dm_cfg_nkeys; i++) {
        const struct cfg_key *k = &dm_cfg_keys[i];
        const char *leaf = k->path + section_len(k->path);
        int depth = 0;

        if (*leaf == '.')
            leaf++;
        for (const char *p = k->path; *p; p++)
            if (*p == '.')
                depth++;
        open_sections(f, prev, k->path);
        dm_buf_reset(&b);
        if (put_value(&b, cfg, k, true) != DM_OK)
            dm_buf_reset(&b); /* cannot happen: a loaded value is capped */
        fprintf(f, "%*s%s: %s\n", 2 * depth, "", leaf, dm_buf_str(&b));
        prev = k->path;
    }
    dm_buf_cleanup(&b);
}
