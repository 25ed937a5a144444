/*
 * cli_int.h - helpers shared by the subcommands in src/cli/; nothing
 * outside src/cli/ includes this.
 */
#ifndef DM_CLI_CLI_INT_H
#define DM_CLI_CLI_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/lines.h"
#include "config/config.h"

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

/* ---- arguments and config (cli_opts.c) ----------------------------- */

/* What dm_cli_parse() and dm_cli_config() return to say "go on" (every
 * other value is the exit code the command returns at once). */
#define DM_CLI_GO_ON (-1)

typedef struct dm_cli_cmd dm_cli_cmd_t;

/*
 * One option of a command.  A flag (value false) sets *(bool *)dst.  An
 * option with a value takes the next argument: *(const char **)dst =
 * it, or, with parse, parse() checks and stores it (dst, min and max
 * are there for it) and on a bad value prints its message and returns
 * false (exit code 2).
 */
typedef struct dm_cli_opt {
    const char *name; /* "--config"; NULL ends a table */
    bool value;
    void *dst;
    bool (*parse)(const dm_cli_cmd_t *cmd, const struct dm_cli_opt *opt,
                  const char *value);
    size_t min, max;
} dm_cli_opt_t;

/* Table rows: a flag, an option with a value, one whose value parse()
 * checks (with bounds), the end. */
#define DM_CLI_FLAG(name, dst)                                                 \
    {                                                                          \
        (name), false, (dst), NULL, 0, 0                                       \
    }
#define DM_CLI_VALUE(name, dst)                                                \
    {                                                                          \
        (name), true, (dst), NULL, 0, 0                                        \
    }
#define DM_CLI_PARSED(name, dst, parse, min, max)                              \
    {                                                                          \
        (name), true, (dst), (parse), (min), (max)                             \
    }
#define DM_CLI_END                                                             \
    {                                                                          \
        NULL, false, NULL, NULL, 0, 0                                          \
    }

/* The arguments a parser does not take. */
typedef enum dm_cli_bad {
    DM_CLI_BAD_UNKNOWN,  /* an option not in the table */
    DM_CLI_BAD_NO_VALUE, /* an option with a value, given last */
    DM_CLI_BAD_OPERAND   /* an operand too many (or one not taken) */
} dm_cli_bad_t;

/* A command's arguments. */
struct dm_cli_cmd {
    const char *name;         /* "ingest", as in the messages */
    const char *usage;        /* printed by --help, and after errors */
    const dm_cli_opt_t *opts; /* ended by {NULL} */
    const char **operand;     /* the one operand (FILE, "-"); NULL: none */
    /* Prints the error for a bad argument (usage included).  NULL: the
     * usual "driftmon: error: CMD: option '--x' needs a value" or
     * "... unexpected argument 'x'", then the usage. */
    void (*bad)(const dm_cli_cmd_t *cmd, dm_cli_bad_t why, const char *arg);
};

/*
 * Reads argv[1..argc-1] in order: --help or -h prints the usage on
 * stdout (DM_EXIT_OK); an argument not starting with '-', or "-", is the
 * operand; anything else must be an option of the table.  The first bad
 * argument is reported on stderr (DM_EXIT_USAGE).  Returns DM_CLI_GO_ON
 * when every argument was taken.
 */
int dm_cli_parse(const dm_cli_cmd_t *cmd, int argc, char **argv);

/* A bad argument as tokenize and embed say it: "driftmon: error: CMD:
 * unknown option: 'ARG'" (or "option needs a value", "one input file at
 * most"), then the usage. */
void dm_cli_bad_what(const dm_cli_cmd_t *cmd, dm_cli_bad_t why,
                     const char *arg);

/* "driftmon: error: CMD: WHAT: 'ARG'" and the usage on stderr; returns
 * DM_EXIT_USAGE. */
int dm_cli_value_error(const dm_cli_cmd_t *cmd, const char *what,
                       const char *arg);

/* "driftmon: error: CMD: MESSAGE" and the usage on stderr; returns
 * DM_EXIT_USAGE. */
int dm_cli_usage_error(const dm_cli_cmd_t *cmd, const char *fmt, ...)
    DM_PRINTF(2, 3);

/* A whole number from min to max, digits only (no sign); false else. */
bool dm_cli_count(const char *s, size_t min, size_t max, size_t *out);

/*
 * parse callbacks for a count into *(size_t *)opt->dst, from opt->min to
 * opt->max.  Their messages: dm_cli_opt_whole "driftmon: error: CMD:
 * --opt must be a whole number from MIN to MAX"; dm_cli_opt_integer (as
 * tokenize and embed say it) "driftmon: error: CMD: --opt must be an
 * integer from MIN to MAX: 'VALUE'" and the usage.
 */
bool dm_cli_opt_whole(const dm_cli_cmd_t *cmd, const dm_cli_opt_t *opt,
                      const char *value);
bool dm_cli_opt_integer(const dm_cli_cmd_t *cmd, const dm_cli_opt_t *opt,
                        const char *value);

/*
 * The prologue of a command with a config: the file at path, or the
 * defaults when path is NULL, with logging.level applied.  An error is
 * printed as "driftmon: error: FILE:LINE: KEY: reason" and returns
 * DM_EXIT_USAGE; else DM_CLI_GO_ON and *out is the caller's to free.
 */
int dm_cli_config(const char *path, dm_config_t **out);

#endif
