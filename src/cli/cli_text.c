/*
 * cli_text.c - reading texts from input lines, shared by `driftmon
 * tokenize` and `driftmon embed` so both accept exactly the same input.
 */
#include "cli/cli_int.h"

#include "common/error.h"
#include "common/utf8.h"

int dm_cli_text_line(const dm_lines_t *lr, bool jsonl, const char *line,
                     size_t len, json_t **holder, const char **text,
                     size_t *tlen, char *err, size_t n)
{
    json_error_t jerr;
    json_t *t;
    size_t i;

    *holder = NULL;
    if (!jsonl) {
        *text = line;
        *tlen = len;
        goto check;
    }
    for (i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t')
            break;
    if (i == len)
        return 0;
    *holder = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    if (*holder == NULL)
        return dm_err_set(err, n, DM_EPARSE, "%s:%zu: invalid JSON: %s",
                          lr->name, lr->lineno, jerr.text);
    t = json_object_get(*holder, "text");
    if (!json_is_string(t))
        return dm_err_set(err, n, DM_EPARSE,
                          "%s:%zu: expected an object with a \"text\" string",
                          lr->name, lr->lineno);
    *text = json_string_value(t);
    *tlen = json_string_length(t);
check:
    /* the rule of ingest (common/utf8.h), except that U+0000 is a
       character a tokenizer takes (a plain line cannot hold one anyway:
       it would be a NUL byte, refused as ingest refuses it) */
    if (!dm_utf8_valid(*text, *tlen, jsonl))
        return dm_err_set(err, n, DM_EINVAL,
                          "%s:%zu: text is not valid UTF-8%s", lr->name,
                          lr->lineno, jsonl ? "" : " (or contains a NUL byte)");
    return 1;
}
