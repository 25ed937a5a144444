/*
 * fuzz_compare.c - libFuzzer target: the input rows of `driftmon compare`
 * (dm_cli_compare_line(), the parser cli_compare.c runs on each line),
 * then the analysis of what was read, as the command does.  The input is
 * split into lines; a line "---" switches from the baseline file to the
 * current one.  Reading a side stops at its first bad line, like the
 * command.  Significance testing uses few permutations to keep runs fast.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_compare.h"
#include "common/alloc.h"
#include "config/config.h"
#include "fuzz_util.h"
#include "monitor/analyze.h"

static dm_config_t *cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];

    (void)argc;
    (void)argv;
    if (dm_config_defaults(&cfg, err, sizeof(err)) != DM_OK)
        abort();
    cfg->significance.permutations = 8;
    return 0;
}

static void check_double(double x)
{
    if (isnan(x))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    dm_cli_compare_side_t side[2] = {{0}, {0}};
    bool bad[2] = {false, false};
    size_t k = dm_analyze_categories(cfg), dim = 0, lineno = 0;
    int cur = 0;
    char err[512];

    side[0].path = "baseline.jsonl";
    side[1].path = "current.jsonl";
    side[0].intents = dm_calloc(k, sizeof(uint64_t));
    side[1].intents = dm_calloc(k, sizeof(uint64_t));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        /* a private copy, so reads past the line are caught */
        char *line = dm_malloc(len + 1);

        memcpy(line, p, len);
        line[len] = '\0';
        lineno++;
        if (len == 3 && memcmp(line, "---", 3) == 0) {
            cur = 1;
            lineno = 0;
        } else if (!bad[cur]) {
            err[0] = '\0';
            if (dm_cli_compare_line(cfg, &side[cur], line, len, lineno, &dim,
                                    err, sizeof(err)) != DM_OK) {
                if (err[0] == '\0')
                    abort();
                bad[cur] = true;
            }
        }
        free(line);
        p = nl ? nl + 1 : end;
    }
    if (!bad[0] && !bad[1] && side[0].rows > 0 && side[1].rows > 0) {
        dm_window_data_t w[2] = {{0}, {0}};
        dm_analysis_t a;

        for (int i = 0; i < 2; i++) {
            w[i].embeddings = side[i].emb;
            w[i].n_embeddings = side[i].rows_emb;
            if (side[0].any_intent || side[1].any_intent)
                w[i].intent_counts = side[i].intents;
            w[i].positives = side[i].positives;
            w[i].total_feedback = side[i].feedback;
        }
        if (dm_analyze(cfg, &w[0], &w[1], dim, &a, err, sizeof(err)) == DM_OK) {
            json_t *o = json_object();

            if (a.have_semantic) {
                check_double(a.kl.kl_divergence);
                check_double(a.semantic_effect);
            }
            if (a.have_psi) {
                check_double(a.psi.psi);
                check_double(a.psi.psi_excess);
            }
            check_double(a.verdict.combined_score);
            if (o == NULL || dm_analysis_to_json(&a, o) != DM_OK)
                abort();
            json_decref(o);
        }
    }
    for (int i = 0; i < 2; i++) {
        dm_cli_compare_side_cleanup(&side[i]);
        free(side[i].intents);
    }
    return 0;
}
