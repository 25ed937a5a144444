/*
 * cli_opts.c - the two things every subcommand does before its own work:
 * reading its arguments (dm_cli_parse) and getting its config
 * (dm_cli_config), so that each command states its options as a table
 * and its prologue in a line, and the messages for a bad argument are
 * written once.
 *
 * The parser is a small table walk rather than getopt_long(): the
 * commands' behaviour predates it and is kept to the letter: arguments
 * are taken in order (the first of --help or a bad argument decides), an
 * option's value is the next argument whatever it looks like, and there
 * are no abbreviations, no --opt=value and no "--" end marker.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "common/log.h"

/* The messages of most commands: "option '--x' needs a value" or
 * "unexpected argument 'x'", then the usage. */
static void bad_arg(const dm_cli_cmd_t *cmd, dm_cli_bad_t why, const char *arg)
{
    if (why == DM_CLI_BAD_NO_VALUE)
        fprintf(stderr, "driftmon: error: %s: option '%s' needs a value\n",
                cmd->name, arg);
    else
        fprintf(stderr, "driftmon: error: %s: unexpected argument '%s'\n",
                cmd->name, arg);
    fputs(cmd->usage, stderr);
}

void dm_cli_bad_what(const dm_cli_cmd_t *cmd, dm_cli_bad_t why, const char *arg)
{
    static const char *const what[] = {
        [DM_CLI_BAD_UNKNOWN] = "unknown option",
        [DM_CLI_BAD_NO_VALUE] = "option needs a value",
        [DM_CLI_BAD_OPERAND] = "one input file at most",
    };

    dm_cli_value_error(cmd, what[why], arg);
}

int dm_cli_value_error(const dm_cli_cmd_t *cmd, const char *what,
                       const char *arg)
{
    fprintf(stderr, "driftmon: error: %s: %s: '%s'\n%s", cmd->name, what, arg,
            cmd->usage);
    return DM_EXIT_USAGE;
}

int dm_cli_usage_error(const dm_cli_cmd_t *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "driftmon: error: %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", cmd->usage);
    return DM_EXIT_USAGE;
}

static const dm_cli_opt_t *find(const dm_cli_opt_t *opts, const char *name)
{
    for (; opts && opts->name; opts++)
        if (strcmp(opts->name, name) == 0)
            return opts;
    return NULL;
}

static int bad(const dm_cli_cmd_t *cmd, dm_cli_bad_t why, const char *arg)
{
    (cmd->bad ? cmd->bad : bad_arg)(cmd, why, arg);
    return DM_EXIT_USAGE;
}

int dm_cli_parse(const dm_cli_cmd_t *cmd, int argc, char **argv)
{
    bool have_operand = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const dm_cli_opt_t *o;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(cmd->usage, stdout);
            return DM_EXIT_OK;
        }
        if (a[0] != '-' || a[1] == '\0') { /* an operand; "-" is stdin */
            if (cmd->operand == NULL || have_operand)
                return bad(cmd, DM_CLI_BAD_OPERAND, a);
            *cmd->operand = a;
            have_operand = true;
            continue;
        }
        o = find(cmd->opts, a);
        if (o == NULL)
            return bad(cmd, DM_CLI_BAD_UNKNOWN, a);
        if (!o->value) {
            *(bool *)o->dst = true;
            continue;
        }
        if (i + 1 == argc)
            return bad(cmd, DM_CLI_BAD_NO_VALUE, a);
        a = argv[++i];
        if (o->parse == NULL)
            *(const char **)o->dst = a;
        else if (!o->parse(cmd, o, a))
            return DM_EXIT_USAGE;
    }
    return DM_CLI_GO_ON;
}

bool dm_cli_count(const char *s, size_t min, size_t max, size_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (s[0] == '-' || s[0] == '\0')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return false;
    *out = (size_t)v;
    return true;
}

bool dm_cli_opt_whole(const dm_cli_cmd_t *cmd, const dm_cli_opt_t *opt,
                      const char *value)
{
    if (dm_cli_count(value, opt->min, opt->max, opt->dst))
        return true;
    fprintf(stderr,
            "driftmon: error: %s: %s must be a whole number from %zu to %zu\n",
            cmd->name, opt->name, opt->min, opt->max);
    return false;
}

bool dm_cli_opt_integer(const dm_cli_cmd_t *cmd, const dm_cli_opt_t *opt,
                        const char *value)
{
    char what[96];

    if (dm_cli_count(value, opt->min, opt->max, opt->dst))
        return true;
    snprintf(what, sizeof(what), "%s must be an integer from %zu to %zu",
             opt->name, opt->min, opt->max);
    dm_cli_value_error(cmd, what, value);
    return false;
}

int dm_cli_apply_log_level(const dm_config_t *cfg)
{
    dm_log_level_t lvl;

    if (cfg->logging.level &&
        dm_log_level_parse(cfg->logging.level, &lvl) == DM_OK)
        dm_log_set_level(lvl);
    return DM_OK;
}

int dm_cli_config(const char *path, dm_config_t **out)
{
    char err[DM_ERRBUF_SIZE] = "";
    int rc = path ? dm_config_load(path, out, err, sizeof(err))
                  : dm_config_defaults(out, err, sizeof(err));

    if (rc != DM_OK) {
        fprintf(stderr, "driftmon: error: %s\n",
                err[0] ? err : dm_strerror(rc));
        return DM_EXIT_USAGE;
    }
    dm_cli_apply_log_level(*out);
    return DM_CLI_GO_ON;
}
