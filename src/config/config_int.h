/*
 * config_int.h - private to src/config/: the key table (the one schema)
 * and the helpers shared by the files of the module.  Nothing outside
 * src/config/ includes this header.
 */
#ifndef DM_CONFIG_CONFIG_INT_H
#define DM_CONFIG_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "config/config.h"

/* The C type of a key's value in dm_config_t. */
enum cfg_type {
    CFG_BOOL,   /* bool */
    CFG_U32,    /* uint32_t */
    CFG_U64,    /* uint64_t */
    CFG_DOUBLE, /* double */
    CFG_STRING, /* char *, owned */
    CFG_ENUM,   /* an int-sized enum; names in cfg_key.choices by value */
    CFG_LIST    /* char **, owned, with an unsigned count beside it */
};

/* Extra validation of a string value (after ${VAR} expansion). */
enum cfg_check {
    CHK_NONE,
    CHK_CHOICE,  /* one of the names in choices */
    CHK_URL,     /* empty or an http:// or https:// URL with a host */
    CHK_BASEURL, /* CHK_URL without a query or fragment (paths are added) */
    CHK_IDENT,   /* SQL identifier [A-Za-z_][A-Za-z0-9_]*, <= 63 bytes */
    CHK_TABLE,   /* CHK_IDENT, optionally "schema.table" */
    CHK_LABEL    /* list items: printable, no whitespace at either end */
};

#define CFG_SECRET   0x1u /* never printed, never in an error message */
#define CFG_MIN_EXCL 0x2u /* value must be > min (else >= min) */
#define CFG_MAX_EXCL 0x4u /* value must be < max (else <= max) */

/*
 * One configuration key.  Numbers are bounded by [min, max] (or open ends
 * with CFG_MIN_EXCL/CFG_MAX_EXCL); strings by min..max bytes; lists by
 * min..max items of at most CFG_LABEL_MAX bytes each.
 */
struct cfg_key {
    const char *path; /* dotted path, e.g. "thresholds.kl_threshold" */
    enum cfg_type type;
    size_t off;       /* offset of the value in dm_config_t */
    size_t count_off; /* CFG_LIST: offset of the unsigned count */
    const char *def;  /* default as YAML scalar text; lists: space-separated */
    double min, max;
    unsigned flags; /* CFG_SECRET, CFG_MIN_EXCL, CFG_MAX_EXCL */
    enum cfg_check check;
    const char *const *choices; /* CHK_CHOICE, CFG_ENUM: NULL-terminated */
    const char *doc;            /* one line, the same meaning as the docs */
};

#define CFG_LABEL_MAX 64

extern const struct cfg_key dm_cfg_keys[];
extern const size_t dm_cfg_nkeys;

/* A parsed scalar. */
union cfg_val {
    bool b;
    uint32_t u32;
    uint64_t u64;
    double d;
    int e;
};

/*
 * Parses the scalar text s as a value of key k (not CFG_STRING or
 * CFG_LIST) with the strict syntax of the config: decimal integers
 * without sign or leading zero, decimal floats (no inf/nan/hex),
 * true/false/yes/no/on/off, or an enum name; then checks the bounds.
 * Returns DM_OK or DM_ECONFIG with a reason ("must be > 0") in why.
 * The reason never contains s.
 */
int dm_cfg_parse_scalar(const struct cfg_key *k, const char *s,
                        union cfg_val *out, char *why, size_t n);

/* Index of s among the names in k->choices, or -1. */
int dm_cfg_choice(const struct cfg_key *k, const char *s);
/* Writes "must be one of: a, b" into why and returns DM_ECONFIG. */
int dm_cfg_choice_fail(const struct cfg_key *k, char *why, size_t n);

/* Bounds check of a number of key k; same contract as above. */
int dm_cfg_check_bounds(const struct cfg_key *k, double v, char *why, size_t n);

/*
 * Expands ${VAR} and ${VAR:-default} in s (rules in config.c) into a new
 * string *out (free()) of at most DM_CONFIG_MAX_STRING bytes.  Returns
 * DM_OK or DM_ECONFIG with a reason in why that may name the variable but
 * never includes s or the variable's value.
 */
int dm_cfg_expand(const char *s, char **out, char *why, size_t n);

/* Stores a parsed scalar into the field of key k in cfg. */
void dm_cfg_store(dm_config_t *cfg, const struct cfg_key *k,
                  const union cfg_val *v);

/* Pointers to the fields of key k in cfg. */
char **dm_cfg_str(dm_config_t *cfg, const struct cfg_key *k);
char ***dm_cfg_list(dm_config_t *cfg, const struct cfg_key *k,
                    unsigned **count);

/*
 * What the libyaml pass found: for each key index, the 1-based line of its
 * value (0 = absent), and for lists the line of each item.
 */
struct cfg_scan {
    int *line;        /* [dm_cfg_nkeys], value line or 0 */
    int *key_line;    /* [dm_cfg_nkeys], line of the key itself */
    int **item_line;  /* [dm_cfg_nkeys], lists only, else NULL */
    unsigned *nitems; /* [dm_cfg_nkeys] */
};

/*
 * Runs the libyaml pass over text (len bytes, the whole file; NULL for
 * no file) for the file name file: syntax, one document, a top-level
 * mapping, known keys, no duplicates, value shapes and scalar types,
 * numeric bounds, and ${VAR} in non-string values.  Every value the
 * file sets is stored into cfg (a zeroed dm_config_t; strings and list
 * items as written, expanded later); keys it leaves out stay zero.
 * Fills sc (release with dm_cfg_scan_cleanup(), also after a failure;
 * cfg is then released by dm_config_free() as usual).  Returns DM_OK or
 * DM_ECONFIG with "FILE:LINE: KEY: reason" in errbuf.
 */
int dm_cfg_scan_run(struct cfg_scan *sc, dm_config_t *cfg, const char *file,
                    const char *text, size_t len, char *errbuf, size_t n);
void dm_cfg_scan_cleanup(struct cfg_scan *sc);

/* Looks a dotted path up in the key table; -1 when not a key. */
long dm_cfg_key_index(const char *path, size_t len);

/*
 * Formats an error "FILE:LINE: PATH: message" (": LINE" left out when
 * line is 0, "PATH: " when path is NULL) into errbuf and returns err.
 */
int dm_cfg_fail(char *errbuf, size_t n, int err, const char *file, int line,
                const char *path, const char *fmt, ...) DM_PRINTF(7, 8);

#endif
