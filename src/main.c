/*
 * main.c - the driftmon command line: one table of subcommands, each
 * implemented in src/cli/.  Errors go to stderr as "driftmon: error: ...",
 * help to stdout.  Exit codes are enum dm_exit (src/cli/cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "embed/encoder.h"

#ifndef DM_VERSION
#define DM_VERSION "0.1.0"
#endif

typedef int (*command_fn)(int argc, char **argv);

static const struct command {
    const char *name;
    command_fn fn;
    const char *usage;
} commands[] = {
    {"compare", dm_cli_compare,
     "compare --baseline A.jsonl --current B.jsonl [--config F] [--json]"},
    {"check-config", dm_cli_check_config, "check-config FILE [--dump]"},
    {"tokenize", dm_cli_tokenize,
     "tokenize [--model-path DIR] [--max-length N] [--jsonl] [FILE|-]"},
    {"embed", dm_cli_embed,
     "embed [--model NAME] [--model-path DIR] [--batch-size N] [--threads N]\n"
     "                 [--dimension N] [--max-length N] "
     "[--precision auto|fp32|bf16]\n"
     "                 [--jsonl] [FILE|-]"},
    {"ingest", dm_cli_ingest,
     "ingest FILE [--config F] [--format jsonl|csv] [--skip-invalid]"},
    {"migrate", dm_cli_migrate, "migrate [--config F]"},
    {"check", dm_cli_check,
     "check [--config F] [--window-days N] [--as-of TIME] [--json]"},
    {"serve", dm_cli_serve, "serve [--config F] [--no-monitor]"},
    {"demo", dm_cli_demo,
     "demo [--dir DIR] [--rows-per-day N] [--json] [--force]"},
};

static void usage(FILE *f)
{
    fprintf(f,
            "driftmon %s - drift monitor for LLM assistants\n\n"
            "usage: driftmon COMMAND [OPTIONS]\n\ncommands:\n",
            DM_VERSION);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  driftmon %s\n", commands[i].usage);
    fprintf(f,
            "  driftmon --check-config FILE\n"
            "  driftmon --version | --help\n\n"
            "exit codes:\n"
            "  %d  success (check, compare: no drift)\n"
            "  %d  drift detected (check, compare)\n"
            "  %d  usage error, invalid config or invalid input\n"
            "  %d  the work failed (I/O, store, model)\n",
            DM_EXIT_OK, DM_EXIT_DRIFT, DM_EXIT_USAGE, DM_EXIT_FAILURE);
}

int main(int argc, char **argv)
{
    const char *name;

    dm_encoder_blas_autotune(argv);
    if (argc < 2) {
        usage(stderr);
        return DM_EXIT_USAGE;
    }
    name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
        strcmp(name, "help") == 0) {
        usage(stdout);
        return DM_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("driftmon %s\n", DM_VERSION);
        return DM_EXIT_OK;
    }
    if (strcmp(name, "--check-config") == 0)
        name = "check-config";
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr,
            "driftmon: error: unknown command '%s' (see driftmon --help)\n",
            argv[1]);
    return DM_EXIT_USAGE;
}
