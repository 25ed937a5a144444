/*
 * cli_migrate.c - `driftmon migrate [--config F]`: brings the store's
 * schema to the version this build knows (idempotent; the service does
 * the same at start) and prints the backend and the version.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "store/store.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: driftmon migrate [--config FILE]\n\n"
               "Creates or upgrades the tables of the configured store\n"
               "(database.backend) and prints the schema version.\n");
}

int dm_cli_migrate(int argc, char **argv)
{
    const char *cfg_path = NULL;
    dm_config_t *cfg = NULL;
    dm_store_t *store = NULL;
    char err[DM_ERRBUF_SIZE] = "";
    int rc, version = 0, ret = DM_EXIT_FAILURE;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return DM_EXIT_OK;
        } else if (i + 1 < argc && strcmp(argv[i], "--config") == 0) {
            cfg_path = argv[++i];
        } else {
            static const char *const value_opts[] = {"--config", NULL};

            dm_cli_bad_arg("migrate", argv[i], value_opts);
            usage(stderr);
            return DM_EXIT_USAGE;
        }
    }
    rc = cfg_path ? dm_config_load(cfg_path, &cfg, err, sizeof(err))
                  : dm_config_defaults(&cfg, err, sizeof(err));
    if (rc != DM_OK) {
        ret = DM_EXIT_USAGE;
        goto out;
    }
    rc = dm_store_open_migrated(cfg, NULL, &store, &version, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    printf("%s: schema version %d\n", dm_store_backend(store), version);
    ret = DM_EXIT_OK;
out:
    if (rc != DM_OK)
        fprintf(stderr, "driftmon: error: %s\n",
                err[0] ? err : dm_strerror(rc));
    dm_store_free(store);
    dm_config_free(cfg);
    return ret;
}
