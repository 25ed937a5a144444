/*
 * cli_migrate.c - `driftmon migrate [--config F]`: brings the store's
 * schema to the version this build knows (idempotent; the service does
 * the same at start) and prints the backend and the version.
 */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "config/config.h"
#include "store/store.h"

static const char usage_text[] =
    "usage: driftmon migrate [--config FILE]\n\n"
    "Creates or upgrades the tables of the configured store\n"
    "(database.backend) and prints the schema version.\n";

int dm_cli_migrate(int argc, char **argv)
{
    const char *cfg_path = NULL;
    const dm_cli_opt_t opts[] = {DM_CLI_VALUE("--config", &cfg_path),
                                 DM_CLI_END};
    const dm_cli_cmd_t cmd = {"migrate", usage_text, opts, NULL, NULL};
    dm_config_t *cfg = NULL;
    dm_store_t *store = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    int rc, version = 0, ret;

    if ((ret = dm_cli_parse(&cmd, argc, argv)) != DM_CLI_GO_ON ||
        (ret = dm_cli_config(cfg_path, &cfg)) != DM_CLI_GO_ON)
        return ret;
    rc = dm_store_open_migrated(cfg, &store, &version, err, sizeof(err));
    if (rc == DM_OK) {
        printf("%s: schema version %d\n", dm_store_backend(store), version);
        ret = DM_EXIT_OK;
    } else {
        fprintf(stderr, "driftmon: error: %s\n",
                err[0] ? err : dm_strerror(rc));
        ret = DM_EXIT_FAILURE;
    }
    dm_store_free(store);
    dm_config_free(cfg);
    return ret;
}
