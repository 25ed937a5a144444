/*
 * fuzz_config.c - libFuzzer target: the YAML config loader
 * (dm_config_load_buffer(), the same code dm_config_load() runs on a
 * file's bytes).  Any input must give DM_OK with a config, or an error
 * with a message and no config; a loaded config must dump without
 * trouble.  ${VAR} references see only the variables set here, so runs
 * are reproducible.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* a few variables for ${VAR} to find; the rest are unset */
    setenv("DM_FUZZ_NUM", "7", 1);
    setenv("DM_FUZZ_STR", "hello", 1);
    setenv("DM_FUZZ_EMPTY", "", 1);
    setenv("DM_FUZZ_BAD", "1e999", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_config_t *cfg = NULL;
    char err[512] = "";
    int rc;

    rc = dm_config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, err,
                               sizeof(err));
    if (rc == DM_OK) {
        FILE *null = fopen("/dev/null", "w");
        static char val[65536];

        if (cfg == NULL)
            abort();
        if (null != NULL) {
            dm_config_dump(cfg, null);
            fclose(null);
        }
        for (size_t i = 0; i < dm_config_key_count(); i++)
            if (dm_config_key_format(cfg, i, val, sizeof(val)) == DM_EINVAL)
                abort();
    } else if (cfg != NULL || err[0] == '\0') {
        abort(); /* an error must come with a message and no config */
    }
    dm_config_free(cfg);
    return 0;
}
