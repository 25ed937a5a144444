/*
 * cli_check_config.c - `driftmon check-config FILE [--dump]` (also
 * `driftmon --check-config FILE`): loads and validates a config file
 * exactly as the service would, with ${VAR} expanded from the current
 * environment.
 *
 * Valid: prints "FILE: ok" and exits 0.  With --dump the effective
 * configuration (every key, defaults filled in, secrets redacted) is
 * printed as YAML on standard output and "FILE: ok" goes to standard
 * error, so the dump can be redirected to a file as it is.  Invalid (or
 * unreadable): "driftmon: error: FILE:LINE: KEY: reason" on standard
 * error and exit code 2 (DM_EXIT_USAGE).
 */
#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "common/error.h"
#include "config/config.h"
#include "embed/embed.h"

/*
 * What the config file alone cannot tell: embeddings.dimension against
 * the model, when the model's config.json can be read (a model not yet
 * fetched is left to the first check, which names its files).
 */
static int check_model_dimension(const dm_config_t *cfg, const char *file,
                                 char *errbuf, size_t n)
{
    dm_embedder_opts_t eo = {.model = cfg->embeddings.model,
                             .model_path = cfg->embeddings.model_path,
                             .dimension = cfg->embeddings.dimension};
    char why[DM_ERRBUF_SIZE];
    size_t dim = 0;

    if (dm_embedder_probe_dim(&eo, &dim, why, sizeof(why)) != DM_OK ||
        dim == cfg->embeddings.dimension)
        return DM_OK;
    return dm_err_set(errbuf, n, DM_ECONFIG,
                      "%s: embeddings.dimension: %u does not match the "
                      "model '%s' in %s (hidden_size %zu)",
                      file, (unsigned)cfg->embeddings.dimension,
                      cfg->embeddings.model, cfg->embeddings.model_path, dim);
}

static const char usage_text[] =
    "usage: driftmon check-config FILE [--dump]\n"
    "Validates the configuration FILE (with ${VAR} expanded from the "
    "environment).\n"
    "  --dump  print the effective configuration as YAML (secrets "
    "redacted)\n"
    "Exit codes: 0 valid, 2 invalid or unreadable.\n";

/* check-config's own words for a bad argument. */
static void bad_arg(const dm_cli_cmd_t *cmd, dm_cli_bad_t why, const char *arg)
{
    if (why == DM_CLI_BAD_OPERAND)
        fprintf(stderr, "driftmon: error: more than one FILE\n%s", cmd->usage);
    else
        fprintf(stderr, "driftmon: error: unknown option '%s'\n%s", arg,
                cmd->usage);
}

int dm_cli_check_config(int argc, char **argv)
{
    char errbuf[DM_ERRBUF_SIZE];
    const char *file = NULL;
    bool dump = false;
    const dm_cli_opt_t opts[] = {DM_CLI_FLAG("--dump", &dump), DM_CLI_END};
    const dm_cli_cmd_t cmd = {"check-config", usage_text, opts, &file, bad_arg};
    dm_config_t *cfg = NULL;
    int rc;

    if ((rc = dm_cli_parse(&cmd, argc, argv)) != DM_CLI_GO_ON)
        return rc;
    if (file == NULL) {
        fprintf(stderr, "driftmon: error: missing FILE\n%s", usage_text);
        return DM_EXIT_USAGE;
    }
    rc = dm_config_load(file, &cfg, errbuf, sizeof(errbuf));
    if (rc == DM_OK)
        rc = check_model_dimension(cfg, file, errbuf, sizeof(errbuf));
    if (rc != DM_OK) {
        fprintf(stderr, "driftmon: error: %s\n", errbuf);
        dm_config_free(cfg);
        return DM_EXIT_USAGE;
    }
    if (dump) {
        dm_config_dump(cfg, stdout);
        fprintf(stderr, "%s: ok\n", file);
    } else {
        printf("%s: ok\n", file);
    }
    dm_config_free(cfg);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "driftmon: error: cannot write standard output\n");
        return DM_EXIT_FAILURE;
    }
    return DM_EXIT_OK;
}
