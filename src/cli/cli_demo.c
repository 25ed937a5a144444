/*
 * cli_demo.c - `driftmon demo`: the whole product on one machine, with no
 * network and no model download.  It creates DIR (./driftmon-demo by
 * default; the demo's files there are replaced on every run), writes a
 * config (the shape of configs/demo.yaml: SQLite inside DIR, the hashing
 * embedder unless a MiniLM directory exists at models/all-MiniLM-L6-v2,
 * alerts and fine-tuning off), ingests 14 days of synthetic assistant
 * feedback whose second week drifts (topic mix, intent mix and
 * satisfaction, see src/monitor/synth.h), runs one drift check and
 * prints it with the check id and where the data lives.  Exit code 0
 * when the demo ran (drift is the expected finding), 2 for bad
 * arguments, 3 when something failed.
 *
 * DIR must be empty or hold only what an earlier demo made: the marker
 * file .driftmon-demo (written after the rows, with their number), the
 * store with exactly that many rows, its -wal/-shm/lock files, and
 * demo.yaml.  Anything else (another file, a store with rows added since)
 * makes the demo refuse DIR with exit 2, unless --force.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_int.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/time.h"
#include "config/config.h"
#include "monitor/monitor.h"
#include "monitor/synth.h"
#include "store/store.h"

#define DEFAULT_DIR  "driftmon-demo"
#define MINILM_DIR   "models/all-MiniLM-L6-v2"
#define DEFAULT_RATE 100
#define MARKER       ".driftmon-demo"

/*
 * Baseline week: coding, maths, puzzles, cooking and travel questions,
 * 86% positive.  Drifting week: a release went wrong: crash, performance
 * and documentation questions take over, and ratings fall to 68%.
 */
static const double base_topics[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                    1, 0, 0, 0, 0};
static const double cur_topics[DM_SYNTH_TOPICS] = {0.1, 0.1, 0, 0, 0,
                                                   0,   1,   1, 1, 1};
#define BASE_POSITIVE 0.86
#define CUR_POSITIVE  0.68

static const char usage_text[] =
    "usage: driftmon demo [--dir DIR] [--rows-per-day N] [--json] "
    "[--force]\n\n"
    "Creates DIR (default ./" DEFAULT_DIR ") with a SQLite store and a\n"
    "config, ingests 14 days of synthetic feedback whose second week\n"
    "drifts (topics, intents, satisfaction), runs one drift check\n"
    "and prints it.  Needs no network.  Re-running replaces the\n"
    "demo's files in DIR; a DIR holding anything else (other files,\n"
    "rows added to the demo's store) is refused unless --force.\n"
    "Exit code 0 when the demo ran.\n";

/* Appends s as a double-quoted YAML scalar ("${" kept literal). */
static int yaml_quote(dm_buf_t *b, const char *s)
{
    int rc = dm_buf_puts(b, "\"");

    for (; rc == DM_OK && *s; s++) {
        if (*s == '"' || *s == '\\')
            rc = dm_buf_printf(b, "\\%c", *s);
        else if (s[0] == '$' && s[1] == '{')
            rc = dm_buf_puts(b, "$$");
        else
            rc = dm_buf_append(b, s, 1);
    }
    return rc == DM_OK ? dm_buf_puts(b, "\"") : rc;
}

static int write_config(const char *path, const char *db, const char *model,
                        const char *model_path, char *err, size_t n)
{
    dm_buf_t b;
    FILE *f;
    int rc;

    dm_buf_init(&b, 64 * 1024);
    rc = dm_buf_puts(&b,
                     "# driftmon demo configuration, written by `driftmon "
                     "demo` (template:\n"
                     "# configs/demo.yaml).  Everything not set here has its "
                     "default.\n"
                     "monitoring:\n"
                     "  sliding_window_days: 7\n"
                     "  min_samples: 100\n"
                     "embeddings:\n"
                     "  model: ");
    if (rc == DM_OK)
        rc = yaml_quote(&b, model);
    if (rc == DM_OK)
        rc = dm_buf_puts(&b, "\n  model_path: ");
    if (rc == DM_OK)
        rc = yaml_quote(&b, model_path);
    if (rc == DM_OK)
        rc = dm_buf_puts(&b,
                         "\n  dimension: 384\n"
                         "significance:\n"
                         "  permutations: 200\n"
                         "alerts:\n"
                         "  enabled: false        # the demo needs no network\n"
                         "fine_tuning:\n"
                         "  auto_trigger: false\n"
                         "  learning_engine_url: \"http://127.0.0.1:9\"\n"
                         "database:\n"
                         "  backend: sqlite\n"
                         "  path: ");
    if (rc == DM_OK)
        rc = yaml_quote(&b, db);
    if (rc == DM_OK)
        rc = dm_buf_puts(&b, "\nlogging:\n  level: warn\n");
    if (rc != DM_OK) {
        dm_buf_cleanup(&b);
        return dm_err_set(err, n, rc, "demo config: path too long");
    }
    f = fopen(path, "w");
    if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len) {
        rc = dm_err_set(err, n, DM_EIO, "%s: %s", path, strerror(errno));
        if (f)
            fclose(f);
    } else if (fclose(f) != 0) {
        rc = dm_err_set(err, n, DM_EIO, "%s: %s", path, strerror(errno));
    }
    dm_buf_cleanup(&b);
    return rc;
}

/* Removes the files a previous demo run left (the store and its lock). */
static void remove_old(const char *db)
{
    static const char *const suffix[] = {"", "-wal", "-shm",
                                         "." DM_MONITOR_LOCK ".lock"};
    char p[PATH_MAX + 64];

    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", db, suffix[i]);
        unlink(p);
    }
}

/* Whether name is one of the files a demo run makes in its directory. */
static bool demo_file(const char *name)
{
    static const char *const names[] = {
        MARKER,
        "demo.yaml",
        "driftmon.db",
        "driftmon.db-wal",
        "driftmon.db-shm",
        "driftmon.db-journal",
        "driftmon.db." DM_MONITOR_LOCK ".lock",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* Rows in the demo store at db (a read of the store, nothing created). */
static int count_rows(const char *db, uint64_t *rows, char *err, size_t n)
{
    dm_config_t *cfg = NULL;
    dm_store_t *st = NULL;
    int rc = dm_config_defaults(&cfg, err, n);

    if (rc == DM_OK) {
        free(cfg->database.path); /* owned by the config (dm_config_free()) */
        cfg->database.path = dm_strdup(db);
        rc = dm_store_open(cfg, &st, err, n);
    }
    if (rc == DM_OK)
        rc = dm_store_feedback_count(st, rows, err, n);
    dm_store_free(st);
    dm_config_free(cfg);
    return rc;
}

/*
 * DM_OK when dir is empty or holds only an earlier demo's files and rows
 * (see the top of the file); else DM_EINVAL with the reason in err.
 */
static int dir_is_demo(const char *dir, const char *db, char *err, size_t n)
{
    char marker[PATH_MAX + 32];
    unsigned long long want = 0;
    uint64_t rows = 0;
    bool empty = true, have_marker;
    struct dirent *de;
    DIR *d = opendir(dir);
    FILE *f;
    int rc = DM_OK;

    if (d == NULL)
        return dm_err_set(err, n, DM_EIO, "%s: %s", dir, strerror(errno));
    while (rc == DM_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        empty = false;
        if (!demo_file(de->d_name))
            rc = dm_err_set(err, n, DM_EINVAL,
                            "%s holds '%s', which the demo did not make", dir,
                            de->d_name);
    }
    closedir(d);
    if (rc != DM_OK || empty)
        return rc;
    snprintf(marker, sizeof(marker), "%s/" MARKER, dir);
    f = fopen(marker, "r");
    have_marker = f != NULL && fscanf(f, "rows %llu", &want) == 1;
    if (f)
        fclose(f);
    if (!have_marker)
        return dm_err_set(err, n, DM_EINVAL,
                          "%s holds files but no " MARKER " (not a demo "
                          "directory, or from an older demo)",
                          dir);
    if (access(db, F_OK) != 0)
        return DM_OK;
    rc = count_rows(db, &rows, err, n);
    if (rc != DM_OK)
        return dm_err_prefix(err, n, DM_EINVAL, "%s: ", db);
    if (rows != want)
        return dm_err_set(err, n, DM_EINVAL,
                          "%s holds %llu feedback rows, the demo wrote %llu "
                          "(rows were added since)",
                          db, (unsigned long long)rows, want);
    return DM_OK;
}

static int write_marker(const char *dir, uint64_t rows, char *err, size_t n)
{
    char marker[PATH_MAX + 32];
    FILE *f;

    snprintf(marker, sizeof(marker), "%s/" MARKER, dir);
    f = fopen(marker, "w");
    if (f == NULL || fprintf(f, "rows %llu\n", (unsigned long long)rows) < 0 ||
        fclose(f) != 0)
        return dm_err_set(err, n, DM_EIO, "%s: %s", marker, strerror(errno));
    return DM_OK;
}

static int ingest(const dm_config_t *cfg, size_t per_day, int64_t now,
                  char *err, size_t n)
{
    dm_store_t *st = NULL;
    dm_synth_opts_t o = {0};
    int rc;

    rc = dm_store_open_migrated(cfg, &st, NULL, err, n);
    if (rc == DM_OK)
        rc = dm_store_tx_begin(st, err, n);
    if (rc == DM_OK) {
        o.seed = 2026;
        o.rows = per_day * 7;
        o.start_ms = now - 14 * DM_MS_PER_DAY;
        o.end_ms = now - 7 * DM_MS_PER_DAY;
        o.topic_weights = base_topics;
        o.positive_rate = BASE_POSITIVE;
        o.id_prefix = "demo-baseline";
        rc = dm_synth_ingest(st, &o, NULL, err, n);
    }
    if (rc == DM_OK) {
        o.seed = 2027;
        o.start_ms = now - 7 * DM_MS_PER_DAY;
        o.end_ms = now;
        o.topic_weights = cur_topics;
        o.positive_rate = CUR_POSITIVE;
        o.id_prefix = "demo-current";
        rc = dm_synth_ingest(st, &o, NULL, err, n);
    }
    if (rc == DM_OK)
        rc = dm_store_tx_commit(st, err, n);
    else if (st)
        dm_store_tx_rollback(st);
    dm_store_free(st);
    return rc;
}

/* Where the demo lives: DIR made absolute, its store and its config. */
struct place {
    char absdir[PATH_MAX], db[PATH_MAX + 32], cfg_path[PATH_MAX + 32];
};

/*
 * Creates dir (or takes it when it holds an earlier demo, or with force)
 * and fills *p.  Returns DM_CLI_GO_ON, or an exit code after the message.
 */
static int prepare_dir(const char *dir, bool force, struct place *p)
{
    char err[DM_ERRBUF_SIZE] = "", marker[PATH_MAX + 32];
    int rc;

    if ((mkdir(dir, 0777) != 0 && errno != EEXIST) ||
        realpath(dir, p->absdir) == NULL) {
        fprintf(stderr, "driftmon: error: demo: %s: %s\n", dir,
                strerror(errno));
        return DM_EXIT_FAILURE;
    }
    snprintf(p->db, sizeof(p->db), "%s/driftmon.db", p->absdir);
    snprintf(p->cfg_path, sizeof(p->cfg_path), "%s/demo.yaml", p->absdir);
    if (!force &&
        (rc = dir_is_demo(p->absdir, p->db, err, sizeof(err))) != DM_OK) {
        fprintf(stderr,
                "driftmon: error: demo: %s; nothing was changed (use another "
                "--dir, or --force to replace the demo's files there)\n",
                err);
        return rc == DM_EINVAL ? DM_EXIT_USAGE : DM_EXIT_FAILURE;
    }
    /* the marker goes last: a run that fails midway leaves none */
    snprintf(marker, sizeof(marker), "%s/" MARKER, p->absdir);
    unlink(marker);
    return DM_CLI_GO_ON;
}

/* The check's report: JSON with the demo's places, or the story. */
static void print_demo(dm_monitor_t *m, const dm_monitor_result_t *r,
                       const struct place *p, size_t per_day, bool minilm,
                       bool json)
{
    char err[DM_ERRBUF_SIZE];
    json_t *o = NULL;

    if (json) {
        if (dm_monitor_result_json(m, r, &o, err, sizeof(err)) == DM_OK) {
            json_object_set_new(o, "demo",
                                json_pack("{s:s, s:s, s:s, s:I}", "dir",
                                          p->absdir, "database", p->db,
                                          "config", p->cfg_path, "rows_per_day",
                                          (json_int_t)per_day));
            json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
            fputc('\n', stdout);
        }
        json_decref(o);
        return;
    }
    printf("driftmon demo: baseline week = coding, maths, cooking and "
           "travel questions, %.0f%% positive;\n"
           "               current week  = mostly crashes, performance "
           "and docs questions, %.0f%% positive.\n\n",
           BASE_POSITIVE * 100, CUR_POSITIVE * 100);
    dm_monitor_result_print(r, stdout);
    printf("\n%s: the demo data drifts on purpose, so this is the "
           "expected finding\n(the demo itself succeeded).\n",
           r->have_analysis && r->analysis.verdict.drift_detected
               ? "Drift detected"
               : "No drift detected");
    printf("\nstored as check #%lld in %s\n"
           "config: %s (embedder %s%s)\n"
           "run another check on the same data:\n"
           "    driftmon check --config %s\n",
           (long long)r->check_id, p->db, p->cfg_path, r->embedder,
           minilm ? "" : "; put all-MiniLM-L6-v2 in " MINILM_DIR " to use it",
           p->cfg_path);
}

int dm_cli_demo(int argc, char **argv)
{
    const char *dir = DEFAULT_DIR;
    bool json = false, minilm, force = false;
    size_t per_day = DEFAULT_RATE;
    const dm_cli_opt_t opts[] = {
        DM_CLI_FLAG("--json", &json),
        DM_CLI_FLAG("--force", &force),
        DM_CLI_VALUE("--dir", &dir),
        DM_CLI_PARSED("--rows-per-day", &per_day, dm_cli_opt_whole, 20, 100000),
        DM_CLI_END,
    };
    const dm_cli_cmd_t cmd = {"demo", usage_text, opts, NULL, NULL};
    struct place p;
    char model_path[PATH_MAX], err[DM_ERRBUF_SIZE] = "";
    dm_config_t *cfg = NULL;
    dm_monitor_t *m = NULL;
    dm_monitor_check_opts_t co = {.manual = true};
    dm_monitor_result_t *r = NULL;
    struct stat sb;
    int rc, ret;

    if ((ret = dm_cli_parse(&cmd, argc, argv)) != DM_CLI_GO_ON ||
        (ret = prepare_dir(dir, force, &p)) != DM_CLI_GO_ON)
        return ret;
    ret = DM_EXIT_FAILURE;
    minilm = stat(MINILM_DIR "/config.json", &sb) == 0 &&
             realpath(MINILM_DIR, model_path) != NULL;
    if (!minilm)
        snprintf(model_path, sizeof(model_path), "%s", MINILM_DIR);
    remove_old(p.db);
    rc = write_config(p.cfg_path, p.db,
                      minilm ? "sentence-transformers/all-MiniLM-L6-v2"
                             : "hashing",
                      model_path, err, sizeof(err));
    if (rc == DM_OK)
        rc = dm_config_load(p.cfg_path, &cfg, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    dm_cli_apply_log_level(cfg);
    if (!json)
        fprintf(stderr,
                "driftmon demo: ingesting 14 days x %zu rows of synthetic "
                "feedback into %s\n",
                per_day, p.db);
    co.as_of_ms = dm_time_now_ms();
    rc = ingest(cfg, per_day, co.as_of_ms, err, sizeof(err));
    if (rc == DM_OK)
        rc = write_marker(p.absdir, (uint64_t)per_day * 14, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    rc = dm_cli_check_once(cfg, 0, &co, &m, &r, err, sizeof(err));
    if (rc != DM_OK)
        goto out;
    print_demo(m, r, &p, per_day, minilm, json);
    ret = DM_EXIT_OK;
out:
    if (rc != DM_OK)
        fprintf(stderr, "driftmon: error: demo: %s\n",
                err[0] ? err : dm_strerror(rc));
    free(r);
    dm_monitor_free(m);
    dm_config_free(cfg);
    return ret;
}
