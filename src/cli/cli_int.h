/*
 * cli_int.h - helpers shared by the subcommands in src/cli/; nothing
 * outside src/cli/ includes this.
 */
#ifndef DM_CLI_CLI_INT_H
#define DM_CLI_CLI_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/lines.h"

/*
 * The text of one input line of `tokenize` and `embed`: the line itself,
 * or with jsonl the "text" string of the JSON object on it (so texts may
 * hold newlines and tabs).  *text and *tlen point into the line or into
 * *holder, a JSON value the caller releases with json_decref() (NULL when
 * none).  Returns 1 with a text, 0 for a blank line in jsonl mode (no
 * record), or DM_EPARSE with "FILE:LINE: reason" in err.
 */
int dm_cli_text_line(const dm_lines_t *lr, bool jsonl, const char *line,
                     size_t len, json_t **holder, const char **text,
                     size_t *tlen, char *err, size_t n);

#endif
