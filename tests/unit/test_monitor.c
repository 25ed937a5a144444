/*
 * test_monitor.c - the drift check end to end, its alerts, its fine-tuning
 * trigger and the scheduler, against a real store (DM_STORE_BACKEND
 * sqlite: a temporary file per test; postgres: a fresh database per test
 * on the server tests/pg/with-postgres started) with a fake Slack and a
 * fake Learning Engine (tests/support/fake_http.h) that record what they
 * were sent and answer as scripted.  Data comes from the synthetic
 * generator (src/monitor/synth.h) with known answers: which signal moved
 * and by how much.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/time.h"
#include "config/config.h"
#include "monitor/monitor.h"
#include "monitor/synth.h"
#include "store/store.h"
#include "store/store_int.h" /* dm_store_test_exec() */
#include "support/fake_http.h"
#include "support/testutil.h"

#define EB          DM_ERRBUF_SIZE
#define SECRET_WORD "SeCrEtToKeN123"
#define ROWS        250
/* as_of of every check: 2026-01-15T00:00:00Z; windows Jan 1-8, Jan 8-15 */
#define T0     INT64_C(1767225600000)
#define ASOF   (T0 + 14 * DM_MS_PER_DAY)
#define BSTART (T0)
#define CSTART (T0 + 7 * DM_MS_PER_DAY)

/* string equality that prints both sides (NULL-safe) */
#define STREQ(a, b) tu_streq(a, b)

static char dir[256], cfg_path[512], db_url[512];
static bool is_pg;
static fake_http_t *slack, *le;
static dm_config_t *cfg;
static dm_monitor_t *mon;
static const char *interval = "6";    /* monitoring.check_interval_hours */
static const char *alerts_extra = ""; /* more alerts.* keys */
/* "now" of the monitor's live/ad hoc rule: the checks replay 2026-01-15 */
static int64_t live_now = ASOF;

static void no_proxy(void)
{
    static const char *const vars[] = {"http_proxy", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

/* A fresh database and fake servers for this test. */
static void setup(void)
{
    const char *b = getenv("DM_STORE_BACKEND");

    no_proxy();
    is_pg = b && strcmp(b, "postgres") == 0;
    tu_tmpdir_make(dir, sizeof(dir), "monitor-test");
    snprintf(cfg_path, sizeof(cfg_path), "%s/driftmon.yaml", dir);
    if (is_pg) {
        tu_pg_database_new("m", db_url, sizeof(db_url));
    } else {
        snprintf(db_url, sizeof(db_url), "%s/t.db", dir);
    }
    slack = fake_http_start();
    le = fake_http_start();
    cr_assert(slack && le);
}

static void teardown(void)
{
    dm_monitor_free(mon);
    mon = NULL;
    dm_config_free(cfg);
    cfg = NULL;
    fake_http_stop(slack);
    fake_http_stop(le);
    tu_tmpdir_remove(dir);
}

TestSuite(monitor, .init = setup, .fini = teardown,
          .timeout = 120 * DM_TEST_TIMEOUT_SCALE);

/* Writes the config (the defaults below plus `extra`, YAML merged by
 * section: extra may only add sections not written here). */
static void write_cfg_with(const char *embeddings, const char *extra)
{
    char yaml[4096];

    snprintf(
        yaml, sizeof(yaml),
        "monitoring:\n  sliding_window_days: 7\n  min_samples: 100\n"
        "  check_interval_hours: %s\n"
        "embeddings:\n%s"
        "significance:\n  permutations: 100\n"
        "alerts:\n  enabled: true\n  repeat_hours: 24\n%s  slack:\n"
        "    webhook_url: \"%s/services/T000/B000/" SECRET_WORD "\"\n"
        "    channel: \"#drift\"\n    mention_users: [\"U012AB3CD\"]\n"
        "    timeout_seconds: 1\n    max_retries: 2\n"
        "fine_tuning:\n  auto_trigger: true\n  learning_engine_url: \"%s\"\n"
        "  min_drift_score: 0.2\n  cooldown_hours: 168\n"
        "  timeout_seconds: 1\n  max_retries: 2\n"
        "database:\n  backend: %s\n  %s: \"%s\"\n%s"
        "logging:\n  level: error\n",
        interval,
        embeddings ? embeddings : "  model: hashing\n  dimension: 384\n",
        alerts_extra, fake_http_url(slack), fake_http_url(le),
        is_pg ? "postgres" : "sqlite", is_pg ? "url" : "path", db_url,
        extra ? extra : "");
    tu_write_file(cfg_path, yaml);
}

static dm_monitor_opts_t fast_opts(void)
{
    dm_monitor_opts_t o;

    dm_monitor_opts_init(&o);
    o.http_budget_ms = 4000;
    o.stop_grace_ms = 200;
    o.retry_delay_ms = 200;
    o.live_now_ms = live_now;
    return o;
}

/* Loads the config and creates the monitor (replacing any previous one). */
static void monitor_new(void)
{
    char err[EB];
    dm_monitor_opts_t o = fast_opts();
    int rc;

    dm_monitor_free(mon);
    mon = NULL;
    dm_config_free(cfg);
    cfg = NULL;
    rc = dm_config_load(cfg_path, &cfg, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "config: %s", err);
    rc = dm_monitor_new(cfg, &o, &mon, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "monitor: %s", err);
}

static void setup_default(void)
{
    write_cfg_with(NULL, NULL);
    monitor_new();
}

static dm_store_t *store(void)
{
    dm_store_t *s = NULL;
    char err[EB];
    int rc = dm_store_open(cfg, &s, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "open: %s", err);
    rc = dm_store_migrate(s, NULL, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "migrate: %s", err);
    return s;
}

static const double uniform10[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
static const double uniform5[DM_SYNTH_INTENTS] = {1, 1, 1, 1, 1};

/* Inserts rows of one window (or any span). */
static void add_rows(const char *prefix, uint64_t seed, size_t n, int64_t start,
                     int64_t end, const double *topics, const double *intents,
                     double positive)
{
    dm_store_t *s = store();
    dm_synth_opts_t o = {.seed = seed,
                         .rows = n,
                         .start_ms = start,
                         .end_ms = end,
                         .topic_weights = topics,
                         .intent_weights = intents,
                         .positive_rate = positive,
                         .id_prefix = prefix};
    char err[EB];
    size_t ins = 0;
    int rc = dm_synth_ingest(s, &o, &ins, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "ingest: %s", err);
    cr_assert(eq(sz, ins, n));
    dm_store_free(s);
}

static void baseline(double positive)
{
    add_rows("b", 11, ROWS, BSTART, CSTART, uniform10, uniform5, positive);
}

static dm_monitor_result_t run_check(int want_rc)
{
    dm_monitor_result_t r;
    dm_monitor_check_opts_t o = {.as_of_ms = ASOF};
    char err[EB] = "";
    int rc = dm_monitor_check(mon, &o, &r, err, sizeof(err));

    cr_assert(eq(int, rc, want_rc), "check: %s", err);
    return r;
}

static dm_store_check_t latest_check(void)
{
    dm_store_t *s = store();
    dm_store_check_t *list = NULL, c;
    size_t n = 0;
    char err[EB];
    int rc = dm_store_check_list(s, 0, 1, DM_STORE_CHECK_DETAILS, &list, &n,
                                 err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "%s", err);
    cr_assert(eq(sz, n, 1));
    c = list[0];
    memset(&list[0], 0, sizeof(list[0]));
    dm_store_check_list_free(list, n);
    dm_store_free(s);
    return c;
}

static size_t check_count(void)
{
    dm_store_t *s = store();
    dm_store_check_t *list = NULL;
    size_t n = 0;
    char err[EB];
    int rc = dm_store_check_list(s, 0, 0, DM_STORE_CHECK_DETAILS, &list, &n,
                                 err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "%s", err);
    dm_store_check_list_free(list, n);
    dm_store_free(s);
    return n;
}

static uint64_t trigger_count(bool only_success)
{
    dm_store_t *s = store();
    uint64_t n = 0;
    char err[EB];
    int rc = dm_store_trigger_count(s, only_success, &n, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "%s", err);
    dm_store_free(s);
    return n;
}

static dm_store_trigger_t latest_trigger(void)
{
    dm_store_t *s = store();
    dm_store_trigger_t *list = NULL, t;
    size_t n = 0;
    char err[EB];
    int rc = dm_store_trigger_list(s, 1, &list, &n, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "%s", err);
    cr_assert(eq(sz, n, 1));
    t = list[0];
    memset(&list[0], 0, sizeof(list[0]));
    dm_store_trigger_list_free(list, n);
    dm_store_free(s);
    return t;
}

static json_t *request_json(fake_http_t *srv, size_t i)
{
    const fake_http_request_t *q = fake_http_request_at(srv, i);
    json_error_t je;
    json_t *j;

    cr_assert(q != NULL, "no request %zu", i);
    j = json_loads(q->body, 0, &je);
    cr_assert(j != NULL, "request %zu is not JSON: %s", i, je.text);
    return j;
}

static const char *slack_color(size_t i)
{
    static char color[16];
    json_t *j = request_json(slack, i);
    json_t *att = json_array_get(json_object_get(j, "attachments"), 0);

    snprintf(color, sizeof(color), "%s",
             json_string_value(json_object_get(att, "color")));
    json_decref(j);
    return color;
}

static bool slack_text_has(size_t i, const char *needle)
{
    const fake_http_request_t *q = fake_http_request_at(slack, i);

    cr_assert(q != NULL);
    return strstr(q->body, needle) != NULL;
}

/* ---- known answers ---------------------------------------------------- */

Test(monitor, no_drift_nothing_fires)
{
    setup_default();
    baseline(0.86);
    add_rows("c", 12, ROWS, CSTART, ASOF, uniform10, uniform5, 0.86);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.status, "ok"));
    cr_assert(r.have_analysis);
    cr_assert(not(r.analysis.verdict.drift_detected),
              "kl %g (p %g), psi %g (p %g)", r.analysis.semantic_effect,
              r.analysis.semantic_p_value, r.analysis.psi.psi,
              r.analysis.psi.p_value);
    cr_assert(STREQ(dm_severity_name(r.analysis.verdict.severity), "none"));
    cr_assert(eq(u64, r.baseline_count, ROWS));
    cr_assert(eq(u64, r.current_count, ROWS));
    cr_assert(eq(sz, r.embedded_now, 2 * ROWS));
    cr_assert(eq(sz, fake_http_request_count(slack), 0));
    cr_assert(eq(sz, fake_http_request_count(le), 0));
    cr_assert(STREQ(r.alert_status, "none"));
    cr_assert(STREQ(r.trigger_status, "no_drift"));

    dm_store_check_t c = latest_check();
    cr_assert(eq(i64, c.id, r.check_id));
    cr_assert(STREQ(c.status, "ok"));
    cr_assert(STREQ(c.severity, "none"));
    cr_assert(STREQ(c.alert_status, "none"));
    cr_assert(STREQ(c.model, "hashing:v1:384"));
    cr_assert(STREQ(c.embedder_precision, "fp32"));
    cr_assert(STREQ(r.embedder_precision, "fp32"));
    cr_assert(eq(i64, c.current_sampled, ROWS));
    cr_assert(not(c.drift_detected));
    cr_assert(STREQ(c.embedder, "hashing-384"));
    cr_assert(eq(i64, c.window_days, 7));
    cr_assert(STREQ(c.trigger_status, "no_drift"));
    cr_assert(c.details && strstr(c.details, "\"explanation\""));
    dm_store_check_cleanup(&c);
    cr_assert(eq(u64, trigger_count(false), 0));

    /* a second check reuses every cached embedding */
    r = run_check(DM_OK);
    cr_assert(eq(sz, r.embedded_now, 0));
    cr_assert(eq(sz, r.current_sampled, ROWS));
}

Test(monitor, intent_shift_fires_psi_only)
{
    static const double shifted[DM_SYNTH_INTENTS] = {4, 1, 0.5, 0.5, 0.3};

    setup_default();
    baseline(0.86);
    add_rows("c", 12, ROWS, CSTART, ASOF, uniform10, shifted, 0.86);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(r.analysis.psi_fired, "psi %g p %g", r.analysis.psi.psi,
              r.analysis.psi.p_value);
    cr_assert(not(r.analysis.semantic_fired), "semantic %g p %g",
              r.analysis.semantic_effect, r.analysis.semantic_p_value);
    cr_assert(not(r.analysis.accuracy_drop_fired));
    cr_assert(r.analysis.verdict.drift_detected);

    /* one Slack message with the table; one trigger */
    cr_assert(eq(sz, fake_http_request_count(slack), 1));
    cr_assert(slack_text_has(0, "psi"));
    cr_assert(STREQ(r.alert_status, "sent"));
    cr_assert(eq(sz, fake_http_request_count(le), 1));
    json_t *j = request_json(le, 0);
    cr_assert(eq(int, (int)json_integer_value(json_object_get(j, "days")), 7));
    cr_assert(eq(int, json_is_false(json_object_get(j, "force")), 1));
    json_t *reason = json_object_get(j, "reason");
    cr_assert(eq(int, json_is_true(json_object_get(reason, "psi_fired")), 1));
    cr_assert(eq(
        i64, (int64_t)json_integer_value(json_object_get(reason, "check_id")),
        r.check_id));
    json_decref(j);
    cr_assert(STREQ(fake_http_request_at(le, 0)->path, "/train"));
}

Test(monitor, topic_shift_fires_semantic)
{
    static const double before[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                   1, 0, 0, 0, 0};
    static const double after[DM_SYNTH_TOPICS] = {0.1, 0.1, 0, 0, 0,
                                                  0,   1,   1, 1, 1};

    setup_default();
    add_rows("b", 11, ROWS, BSTART, CSTART, before, uniform5, 0.86);
    add_rows("c", 12, ROWS, CSTART, ASOF, after, uniform5, 0.86);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(r.analysis.semantic_fired, "semantic %g p %g",
              r.analysis.semantic_effect, r.analysis.semantic_p_value);
    cr_assert(not(r.analysis.psi_fired), "psi %g", r.analysis.psi.psi);
    cr_assert(not(r.analysis.accuracy_drop_fired));
    dm_store_check_t c = latest_check();
    cr_assert(c.semantic_fired);
    cr_assert(STREQ(c.semantic_test, "mmd"));
    cr_assert(not(c.psi_fired));
    cr_assert(eq(dbl, c.semantic_effect, r.analysis.semantic_effect));
    cr_assert(eq(dbl, c.kl_divergence, r.analysis.kl.kl_divergence));
    dm_store_check_cleanup(&c);
}

/*
 * Statistics v2 through the whole pipeline (store, hashing embedder,
 * text): a week where 20% of queries come from a topic absent the week
 * before is semantic drift, and nothing else moves.
 */
Test(monitor, new_topic_20_percent_is_semantic_drift)
{
    /* topic 9 absent from the baseline; 20% of the current window */
    static const double before[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                   1, 1, 1, 1, 0};
    static const double after[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                  1, 1, 1, 1, 2.25};

    setup_default();
    add_rows("b", 21, ROWS, BSTART, CSTART, before, uniform5, 0.86);
    add_rows("c", 22, ROWS, CSTART, ASOF, after, uniform5, 0.86);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(r.analysis.semantic_fired, "effect %g p %g (Holm %g)",
              r.analysis.semantic_effect, r.analysis.semantic_p_value,
              r.analysis.semantic_p_adjusted);
    /* the effect reads as the share of new traffic, roughly */
    cr_assert(r.analysis.semantic_effect > 0.08 &&
                  r.analysis.semantic_effect < 0.4,
              "effect %g", r.analysis.semantic_effect);
    cr_assert(not(r.analysis.psi_fired));
    cr_assert(not(r.analysis.accuracy_drop_fired));
    cr_assert(not(r.analysis.below_floor));
    cr_assert(r.analysis.verdict.drift_detected);
    cr_assert(eq(sz, fake_http_request_count(slack), 1));
    cr_assert(slack_text_has(0, "semantic_effect"));
}

/* Two steady weeks: no signal fires, nothing is alerted. */
Test(monitor, steady_weeks_are_quiet)
{
    setup_default();
    add_rows("b", 31, ROWS, BSTART, CSTART, uniform10, uniform5, 0.86);
    add_rows("c", 32, ROWS, CSTART, ASOF, uniform10, uniform5, 0.86);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(not(r.analysis.verdict.drift_detected),
              "semantic %g (p %g), psi excess %g (p %g), drop %g (p %g)",
              r.analysis.semantic_effect, r.analysis.semantic_p_value,
              r.analysis.psi.psi_excess, r.analysis.psi.p_value,
              r.analysis.acc.accuracy_delta, r.analysis.acc.p_value);
    cr_assert(not(r.analysis.below_floor));
    cr_assert(STREQ(dm_severity_name(r.analysis.verdict.severity), "none"));
    cr_assert(eq(dbl, r.analysis.verdict.combined_score, 0.0));
    cr_assert(eq(sz, fake_http_request_count(slack), 0));
    /* the explanation agrees: no topic moved beyond noise (a few points
     * either way at this size), nothing to say */
    {
        const dm_explanation_t *e = &r.analysis.explanation;
        char top[1024] = "";

        cr_assert(e->have_topics && e->topics.k > 1);
        for (size_t i = 0; i < e->topics.k; i++)
            cr_assert(e->topics.topics[i].p_adjusted >= 0.05,
                      "topic %zu (%s): %g -> %g, p_adjusted %g", i,
                      e->topics.topics[i].terms[0],
                      e->topics.topics[i].baseline_share,
                      e->topics.topics[i].current_share,
                      e->topics.topics[i].p_adjusted);
        cr_assert(
            eq(sz, dm_explanation_top(e, 0.05, 3, false, "", top, sizeof(top)),
               0),
            "%s", top);
    }
}

/* Vocabulary of synth.c's topic 9 ("tutorials"). */
static const char *const tutorial_words[] = {
    "readme",  "tutorial", "guide",    "markdown",   "example", "installation",
    "chapter", "diagram",  "glossary", "quickstart", "section", "wiki"};

static bool has_tutorial_word(const char *text)
{
    for (size_t i = 0; i < sizeof(tutorial_words) / sizeof(*tutorial_words);
         i++)
        if (strstr(text, tutorial_words[i]) != NULL)
            return true;
    return false;
}

/*
 * The explanation of a check in which a topic appears at 20%: the topic
 * that grew most is it (terms, examples, share), most novel queries are
 * from it, the human lines name it, and the stored details carry the
 * same explanation (the API returns them).
 */
Test(monitor, explanation_names_the_new_topic_and_is_stored)
{
    static const double before[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                   1, 1, 1, 1, 0};
    static const double after[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                  1, 1, 1, 1, 2.25};
    size_t terms = 0, examples = 0, novel = 0;
    char top[2048];

    setup_default();
    add_rows("b", 21, 2 * ROWS, BSTART, CSTART, before, uniform5, 0.86);
    add_rows("c", 22, 2 * ROWS, CSTART, ASOF, after, uniform5, 0.86);
    dm_monitor_result_t *r = malloc(sizeof(*r));
    *r = run_check(DM_OK);
    const dm_explanation_t *e = &r->analysis.explanation;
    const dm_stats_topic_t *t = &e->topics.topics[0];

    cr_assert(e->have_topics && e->have_intents);
    cr_assert(eq(sz, e->topics.k, DM_STATS_EXPLAIN_TOPICS));
    for (size_t i = 1; i < e->topics.k; i++)
        cr_assert(t->change >= e->topics.topics[i].change,
                  "topic %zu grew more (%g > %g)", i,
                  e->topics.topics[i].change, t->change);
    /*
     * synth.c's rows share long query and response templates, and the
     * hashing embedder is lexical, so part of the new topic's rows sit
     * with their templates: its cluster holds 0.12-0.2 of the current
     * week, not all of it (test_explain.c checks the 0 -> 0.2 reading on
     * topic-dense text).
     */
    cr_assert(t->baseline_share < 0.02 && t->current_share > 0.1 &&
                  t->current_share < 0.26,
              "share %g -> %g", t->baseline_share, t->current_share);
    cr_assert(t->p_adjusted < 1e-6, "p_adjusted %g", t->p_adjusted);
    for (size_t j = 0; j < t->n_terms; j++)
        terms += has_tutorial_word(t->terms[j]);
    cr_assert(terms >= 3, "%zu of %zu terms from the new topic (%s, %s)", terms,
              t->n_terms, t->terms[0], t->terms[1]);
    for (size_t j = 0; j < t->n_examples; j++)
        examples += has_tutorial_word(e->examples[0][j]);
    cr_assert(examples >= 2, "%zu of %zu examples (%s)", examples,
              t->n_examples, e->examples[0][0]);
    for (size_t j = 0; j < e->topics.n_novel; j++)
        novel += has_tutorial_word(e->novel[j]);
    cr_assert(novel >= 6, "%zu of %zu novel queries (%s)", novel,
              e->topics.n_novel, e->novel[0]);
    /* topic accuracy: every window at 0.86, give or take a topic's luck */
    cr_assert(t->current_accuracy > 0.6 && t->current_accuracy <= 1.0);
    cr_assert(dm_explanation_top(e, 0.05, 3, false, "", top, sizeof(top)) >= 1);
    if (strchr(top, '\n') != NULL)
        *strchr(top, '\n') = '\0'; /* the first line: the new topic */
    cr_assert(strncmp(top, "\u25b2 topic *", strlen("\u25b2 topic *")) == 0 &&
                  has_tutorial_word(top),
              "%s", top);

    dm_store_check_t c = latest_check();
    json_t *d = json_loads(c.details, 0, NULL);
    json_t *ex = json_object_get(d, "explanation");
    json_t *t0 = json_array_get(json_object_get(ex, "topics"), 0);

    cr_assert(ex != NULL && json_typeof(ex) == JSON_OBJECT, "details: %s",
              c.details);
    cr_assert(eq(sz, json_array_size(json_object_get(ex, "topics")),
                 DM_STATS_EXPLAIN_TOPICS));
    cr_assert(STREQ(
        json_string_value(json_array_get(json_object_get(t0, "terms"), 0)),
        t->terms[0]));
    cr_assert(STREQ(
        json_string_value(json_array_get(json_object_get(t0, "examples"), 0)),
        e->examples[0][0]));
    cr_assert(eq(dbl, json_real_value(json_object_get(t0, "current_share")),
                 t->current_share));
    cr_assert(eq(sz, json_array_size(json_object_get(ex, "novel")),
                 e->topics.n_novel));
    cr_assert(
        eq(sz, json_array_size(json_object_get(ex, "intents")), e->n_intents));
    json_decref(d);
    dm_store_check_cleanup(&c);

    /* Slack: the top changes, without user text by default */
    cr_assert(eq(sz, fake_http_request_count(slack), 1));
    cr_assert(slack_text_has(0, "What changed"));
    cr_assert(slack_text_has(0, "topic *"));
    cr_assert(slack_text_has(0, t->terms[0]));
    cr_assert(not(slack_text_has(0, "e.g.")));
    cr_assert(not(slack_text_has(0, e->examples[0][0])));
    free(r);
}

/* The same store and config give the same explanation, byte for byte. */
Test(monitor, explanation_is_deterministic)
{
    static const double after[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                  1, 1, 1, 1, 2.25};
    char *text[2];

    setup_default();
    baseline(0.86);
    add_rows("c", 52, ROWS, CSTART, ASOF, after, uniform5, 0.8);
    for (int i = 0; i < 2; i++) {
        dm_monitor_result_t *r = malloc(sizeof(*r));
        json_t *j;

        *r = run_check(DM_OK);
        cr_assert(r->analysis.explanation.have_topics);
        j = dm_explanation_to_json(&r->analysis.explanation);
        text[i] = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
        json_decref(j);
        free(r);
        /* a new monitor: nothing carried over in memory */
        monitor_new();
    }
    cr_assert(STREQ(text[0], text[1]));
    free(text[0]);
    free(text[1]);
}

/* alerts.include_examples: true adds an example query to each topic. */
Test(monitor, slack_examples_only_when_asked)
{
    static const double before[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                   1, 1, 1, 1, 0};
    static const double after[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                  1, 1, 1, 1, 2.25};

    alerts_extra = "  include_examples: true\n";
    setup_default();
    alerts_extra = "";
    cr_assert(cfg->alerts.include_examples);
    add_rows("b", 21, 2 * ROWS, BSTART, CSTART, before, uniform5, 0.86);
    add_rows("c", 22, 2 * ROWS, CSTART, ASOF, after, uniform5, 0.86);
    dm_monitor_result_t *r = malloc(sizeof(*r));
    *r = run_check(DM_OK);
    cr_assert(eq(sz, fake_http_request_count(slack), 1));
    cr_assert(slack_text_has(0, "What changed"));
    cr_assert(slack_text_has(0, "(e.g. "));
    free(r);
}

/* One intent's accuracy falls from 0.9 to 0.6, the others hold: the
 * explanation names it, and only it. */
Test(monitor, explanation_names_the_intent_whose_accuracy_fell)
{
    static const double debug[DM_SYNTH_INTENTS] = {0, 0, 0, 1, 0};
    static const double others[DM_SYNTH_INTENTS] = {1, 1, 1, 0, 1};
    char top[2048];

    setup_default();
    add_rows("bd", 41, 150, BSTART, CSTART, uniform10, debug, 0.9);
    add_rows("bo", 42, 400, BSTART, CSTART, uniform10, others, 0.9);
    add_rows("cd", 43, 150, CSTART, ASOF, uniform10, debug, 0.6);
    add_rows("co", 44, 400, CSTART, ASOF, uniform10, others, 0.9);
    dm_monitor_result_t *r = malloc(sizeof(*r));
    *r = run_check(DM_OK);
    const dm_explanation_t *e = &r->analysis.explanation;
    size_t named = 0;

    cr_assert(e->have_intents);
    for (size_t i = 0; i < e->n_intents; i++) {
        const dm_stats_intent_t *it = &e->intents[i];

        if (strcmp(e->intent_names[i], "debug") == 0) {
            cr_assert(eq(dbl, it->baseline_accuracy, 0.9));
            cr_assert(eq(dbl, it->current_accuracy, 0.6));
            cr_assert(it->accuracy_p_adjusted < 0.001, "p %g",
                      it->accuracy_p_adjusted);
            named++;
        } else if (it->baseline_count > 0 && it->current_count > 0) {
            cr_assert(it->accuracy_p_adjusted > 0.05, "%s: p %g",
                      e->intent_names[i], it->accuracy_p_adjusted);
        }
    }
    cr_assert(eq(sz, named, 1));
    cr_assert(dm_explanation_top(e, 0.05, 3, false, "", top, sizeof(top)) >= 1);
    cr_assert(strstr(top, "intent *debug*: accuracy 90% \u2192 60%") != NULL,
              "%s", top);
    free(r);
}

/* A stable 72% is a quality problem, not drift: alerted as below the
 * floor, no fine-tuning. */
Test(monitor, stable_low_quality_is_below_floor_not_drift)
{
    setup_default();
    add_rows("b", 41, 600, BSTART, CSTART, uniform10, uniform5, 0.70);
    add_rows("c", 42, 600, CSTART, ASOF, uniform10, uniform5, 0.70);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(r.analysis.below_floor, "current %g, floor p %g",
              r.analysis.acc.current_accuracy, r.analysis.acc.floor_p_value);
    cr_assert(not(r.analysis.verdict.drift_detected));
    cr_assert(STREQ(dm_severity_name(r.analysis.verdict.severity), "warning"));
    cr_assert(eq(dbl, r.analysis.verdict.combined_score, 0.0));
    cr_assert(eq(sz, fake_http_request_count(slack), 1));
    cr_assert(slack_text_has(0, "Quality below floor"));
    cr_assert(eq(sz, fake_http_request_count(le), 0));
    dm_store_check_t c = latest_check();
    cr_assert(c.quality_below_floor);
    cr_assert(not(c.drift_detected));
    dm_store_check_cleanup(&c);
}

Test(monitor, satisfaction_drop_warning)
{
    setup_default();
    baseline(0.86); /* 215/250 */
    add_rows("c", 12, ROWS, CSTART, ASOF, uniform10, uniform5, 0.736); /* 184 */
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(r.analysis.accuracy_drop_fired);
    cr_assert(not(r.analysis.semantic_fired));
    cr_assert(not(r.analysis.psi_fired));
    cr_assert(eq(dbl, r.analysis.acc.current_accuracy, 184.0 / 250.0));
    cr_assert(STREQ(dm_severity_name(r.analysis.verdict.severity), "warning"));
    cr_assert(eq(sz, fake_http_request_count(slack), 1));
    cr_assert(STREQ(slack_color(0), "#ff9900"));
    cr_assert(not(slack_text_has(0, "<@U012AB3CD>")),
              "mentions are for critical alerts only");
}

Test(monitor, satisfaction_drop_critical_mentions)
{
    setup_default();
    baseline(0.86);
    add_rows("c", 12, ROWS, CSTART, ASOF, uniform10, uniform5, 0.66);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(dm_severity_name(r.analysis.verdict.severity), "critical"));
    cr_assert(eq(sz, fake_http_request_count(slack), 1));
    cr_assert(STREQ(slack_color(0), "#d00000"));
    cr_assert(slack_text_has(0, "<@U012AB3CD>"));
    cr_assert(slack_text_has(0, "#drift"));
    cr_assert(not(slack_text_has(0, SECRET_WORD)));
}

Test(monitor, insufficient_data_stored_nothing_fires)
{
    setup_default();
    add_rows("b", 11, 60, BSTART, CSTART, uniform10, uniform5, 0.9);
    add_rows("c", 12, 60, CSTART, ASOF, uniform10, uniform5, 0.2);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.status, "insufficient_data"));
    cr_assert(not(r.have_analysis));
    cr_assert(eq(sz, fake_http_request_count(slack), 0));
    cr_assert(eq(sz, fake_http_request_count(le), 0));
    dm_store_check_t c = latest_check();
    cr_assert(STREQ(c.status, "insufficient_data"));
    cr_assert(eq(i64, c.baseline_count, 60));
    cr_assert(eq(i64, c.current_count, 60));
    cr_assert(not(c.drift_detected));
    dm_store_check_cleanup(&c);
    cr_assert(eq(u64, trigger_count(false), 0));
}

Test(monitor, as_of_windows_are_exact)
{
    setup_default();
    baseline(0.86);
    add_rows("c", 12, ROWS, CSTART, ASOF, uniform10, uniform5, 0.86);
    /* rows outside both windows, and one at the exclusive end */
    add_rows("old", 13, 40, T0 - 3 * DM_MS_PER_DAY, T0, uniform10, uniform5,
             0.1);
    add_rows("new", 14, 40, ASOF, ASOF + DM_MS_PER_DAY, uniform10, uniform5,
             0.1);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(eq(i64, r.current_end_ms, ASOF));
    cr_assert(eq(i64, r.current_start_ms, CSTART));
    cr_assert(eq(i64, r.baseline_end_ms, CSTART));
    cr_assert(eq(i64, r.baseline_start_ms, BSTART));
    cr_assert(eq(u64, r.baseline_count, ROWS));
    cr_assert(eq(u64, r.current_count, ROWS));

    /* a 3-day window over the same data */
    dm_monitor_check_opts_t o = {.as_of_ms = ASOF, .window_days = 3};
    char err[EB];
    int rc = dm_monitor_check(mon, &o, &r, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "%s", err);
    cr_assert(eq(i64, r.current_start_ms, ASOF - 3 * DM_MS_PER_DAY));
    cr_assert(eq(i64, r.baseline_start_ms, ASOF - 6 * DM_MS_PER_DAY));
    cr_assert(lt(u64, r.current_count, (uint64_t)ROWS));
    cr_assert(gt(u64, r.current_count, 0));
}

/* ---- alert suppression ---------------------------------------------- */

Test(monitor, suppression_escalation_and_resolved)
{
    setup_default();
    baseline(0.86);
    add_rows("c", 12, ROWS, CSTART, ASOF, uniform10, uniform5, 0.736);
    dm_monitor_result_t r = run_check(DM_OK); /* warning: sent */
    cr_assert(STREQ(r.alert_status, "sent"));
    r = run_check(DM_OK); /* same: suppressed */
    cr_assert(STREQ(r.alert_status, "suppressed"));
    cr_assert(eq(sz, fake_http_request_count(slack), 1));
    dm_store_check_t c = latest_check();
    cr_assert(STREQ(c.alert_status, "suppressed"));
    dm_store_check_cleanup(&c);

    /* 100 more negative rows: critical, an escalation is always sent */
    add_rows("neg", 15, 100, CSTART, ASOF, uniform10, uniform5, 0.0);
    r = run_check(DM_OK);
    cr_assert(STREQ(dm_severity_name(r.analysis.verdict.severity), "critical"));
    cr_assert(STREQ(r.alert_status, "sent"));
    cr_assert(eq(sz, fake_http_request_count(slack), 2));
    cr_assert(STREQ(slack_color(1), "#d00000"));

    /* an insufficient-data live check in between (a month later, no
     * rows) is not "drift cleared" */
    {
        dm_monitor_check_opts_t o = {.as_of_ms = ASOF + 30 * DM_MS_PER_DAY};
        char err[EB];
        int rc;

        live_now = ASOF + 30 * DM_MS_PER_DAY;
        monitor_new();
        rc = dm_monitor_check(mon, &o, &r, err, sizeof(err));
        cr_assert(eq(int, rc, DM_OK), "%s", err);
        cr_assert(STREQ(r.status, "insufficient_data"));
        cr_assert(not(r.adhoc));
        cr_assert(eq(sz, fake_http_request_count(slack), 2));
        live_now = ASOF;
        monitor_new();
    }

    /* many positive rows: accuracy back over the floor, drift clears */
    add_rows("pos", 16, 900, CSTART, ASOF, uniform10, uniform5, 1.0);
    r = run_check(DM_OK);
    cr_assert(not(r.analysis.verdict.drift_detected), "acc %g",
              r.analysis.acc.current_accuracy);
    cr_assert(STREQ(r.alert_status, "resolved"));
    cr_assert(eq(sz, fake_http_request_count(slack), 3));
    cr_assert(STREQ(slack_color(2), "#36a64f"));
    cr_assert(slack_text_has(2, "esolved"));
    r = run_check(DM_OK); /* still clear: nothing */
    cr_assert(STREQ(r.alert_status, "none"));
    cr_assert(eq(sz, fake_http_request_count(slack), 3));
}

/* ---- ad hoc checks ----------------------------------------------------- */

static const char *stored_kind(int64_t id)
{
    static char kind[16];
    dm_store_t *s = store();
    dm_store_check_t *list = NULL;
    size_t n = 0;
    char err[EB];
    int rc = dm_store_check_list(s, 0, 0, 0, &list, &n, err, sizeof(err));

    cr_assert(eq(int, rc, DM_OK), "%s", err);
    kind[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (list[i].id == id)
            snprintf(kind, sizeof(kind), "%s",
                     list[i].kind ? list[i].kind : "(null)");
    dm_store_check_list_free(list, n);
    dm_store_free(s);
    return kind;
}

/*
 * Issue 14 item 2: a calm backfill after a live critical alert sent
 * "resolved", so the next live check alerted again at once.  An ad hoc
 * check (as_of in the past, or another window) is stored as "adhoc" and
 * never alerts, resolves, triggers or moves the monitor's last check.
 */
Test(monitor, adhoc_checks_never_alert_resolve_or_trigger)
{
    dm_monitor_status_t ms;

    setup_default();
    fake_http_reply(le, 200, "{\"job_id\": \"ft-1\"}");
    baseline(0.86);
    add_rows("c", 12, ROWS, CSTART, ASOF, uniform10, uniform5, 0.0);
    /* calm traffic the week before the baseline */
    add_rows("old", 13, ROWS, T0 - 7 * DM_MS_PER_DAY, T0, uniform10, uniform5,
             0.86);
    dm_monitor_result_t live = run_check(DM_OK);
    cr_assert(not(live.adhoc));
    cr_assert(
        STREQ(dm_severity_name(live.analysis.verdict.severity), "critical"));
    cr_assert(STREQ(live.alert_status, "sent"));
    cr_assert(STREQ(live.trigger_status, "success"), "%s", live.trigger_error);
    cr_assert(STREQ(stored_kind(live.check_id), "live"));
    /* the alert and the notice of the fine-tuning job */
    size_t sent = fake_http_request_count(slack);
    cr_assert(eq(sz, sent, 2));
    cr_assert(eq(u64, trigger_count(false), 1));

    /* a calm backfill a week back: stored as ad hoc, says nothing */
    dm_monitor_check_opts_t o = {.as_of_ms = CSTART};
    dm_monitor_result_t r;
    char err[EB];
    int rc = dm_monitor_check(mon, &o, &r, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "%s", err);
    cr_assert(STREQ(r.status, "ok"));
    cr_assert(r.adhoc);
    cr_assert(not(r.analysis.verdict.drift_detected));
    cr_assert(STREQ(r.alert_status, "adhoc"));
    cr_assert(STREQ(r.trigger_status, "adhoc"));
    cr_assert(STREQ(stored_kind(r.check_id), "adhoc"));
    json_t *j = NULL;
    cr_assert(
        eq(int, dm_monitor_result_json(mon, &r, &j, err, sizeof(err)), DM_OK),
        "%s", err);
    cr_assert(STREQ(json_string_value(json_object_get(j, "kind")), "adhoc"));
    json_decref(j);

    /* another window ending now, drifting: ad hoc too, no trigger */
    o = (dm_monitor_check_opts_t){.as_of_ms = ASOF, .window_days = 3};
    rc = dm_monitor_check(mon, &o, &r, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "%s", err);
    cr_assert(r.adhoc);
    cr_assert(STREQ(r.alert_status, "adhoc"));
    cr_assert(eq(sz, fake_http_request_count(slack), sent));
    cr_assert(eq(u64, trigger_count(false), 1));
    cr_assert(eq(sz, fake_http_request_count(le), 1));

    /* the monitor's last check is still the live one */
    dm_monitor_status(mon, &ms);
    cr_assert(ms.have_last);
    cr_assert(eq(i64, ms.last_check_id, live.check_id));

    /* the episode goes on: the next live check is suppressed, not re-sent */
    r = run_check(DM_OK);
    cr_assert(not(r.adhoc));
    cr_assert(STREQ(r.alert_status, "suppressed"), "%s", r.alert_status);
    cr_assert(eq(sz, fake_http_request_count(slack), sent));
    cr_assert(eq(sz, check_count(), 4));
}

Test(monitor, as_of_in_the_future_is_an_error)
{
    setup_default();
    baseline(0.86);
    dm_monitor_check_opts_t o = {.as_of_ms = ASOF + DM_MS_PER_HOUR};
    dm_monitor_result_t r;
    char err[EB] = "";
    int rc = dm_monitor_check(mon, &o, &r, err, sizeof(err));

    cr_assert(eq(int, rc, DM_EINVAL), "%s", err);
    cr_assert(strstr(err, "future") != NULL, "%s", err);
    cr_assert(eq(i64, r.check_id, 0));
    cr_assert(eq(sz, check_count(), 0));
    cr_assert(eq(sz, fake_http_request_count(slack), 0));
}

/* ---- Slack delivery -------------------------------------------------- */

static void drifting_data(void)
{
    baseline(0.86);
    add_rows("c", 12, ROWS, CSTART, ASOF, uniform10, uniform5, 0.66);
}

Test(monitor, slack_429_retry_after_honoured)
{
    fake_http_response_t s[] = {{.status = 429, .retry_after = "1"},
                                {.status = 200, .body = "ok"}};

    setup_default();
    fake_http_script(slack, s, 2);
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.alert_status, "sent"), "%s", r.alert_error);
    cr_assert(eq(sz, fake_http_request_count(slack), 2));
    uint64_t gap = fake_http_request_at(slack, 1)->received_ns -
                   fake_http_request_at(slack, 0)->received_ns;
    cr_assert(ge(u64, gap, 900000000u), "Retry-After: 1 was not honoured");
    cr_assert(STREQ(fake_http_request_at(slack, 0)->body,
                    fake_http_request_at(slack, 1)->body));
}

Test(monitor, slack_500_then_200)
{
    fake_http_response_t s[] = {{.status = 500, .body = "oops"},
                                {.status = 200, .body = "ok"}};

    setup_default();
    fake_http_script(slack, s, 2);
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.alert_status, "sent"), "%s", r.alert_error);
    cr_assert(eq(sz, fake_http_request_count(slack), 2));
    dm_store_check_t c = latest_check();
    cr_assert(STREQ(c.alert_status, "sent"));
    cr_assert(eq(ptr, c.alert_error, NULL));
    dm_store_check_cleanup(&c);
}

Test(monitor, slack_hang_fails_then_next_check_retries)
{
    /* max_retries 2: at most three hanging attempts, then 200 */
    fake_http_response_t s[] = {{.status = 200, .delay_ms = 10000},
                                {.status = 200, .delay_ms = 10000},
                                {.status = 200, .delay_ms = 10000},
                                {.status = 200, .body = "ok"}};

    setup_default();
    fake_http_script(slack, s, 4);
    fake_http_reply(le, 200, "{\"job_id\": \"j1\"}");
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.alert_status, "failed"));
    cr_assert(strstr(r.alert_error, "127.0.0.1") != NULL, "%s", r.alert_error);
    cr_assert(strstr(r.alert_error, SECRET_WORD) == NULL, "%s", r.alert_error);
    dm_store_check_t c = latest_check();
    cr_assert(STREQ(c.alert_status, "failed"));
    cr_assert(c.alert_error && !strstr(c.alert_error, SECRET_WORD));
    dm_store_check_cleanup(&c);
    /* the check itself went on: the trigger ran */
    cr_assert(STREQ(r.trigger_status, "success"), "%s", r.trigger_error);

    /* a failed alert is not "sent": the next drifting check alerts */
    size_t before = fake_http_request_count(slack);
    r = run_check(DM_OK);
    cr_assert(STREQ(r.alert_status, "sent"), "%s", r.alert_error);
    cr_assert(gt(sz, fake_http_request_count(slack), before));
}

/* ---- embedding cache ---------------------------------------------------- */

static void exec_sql(const char *sql)
{
    dm_store_t *s = store();
    char err[EB];

    cr_assert(eq(int, dm_store_test_exec(s, sql, err, sizeof(err)), DM_OK),
              "%s: %s", sql, err);
    dm_store_free(s);
}

/*
 * Issue 14 item 3: the cache was keyed by (model, row id) only, so a row
 * whose text changed (edited, or the same id in another feedback table)
 * kept the vector of its old text.
 */
Test(monitor, cache_never_reuses_a_vector_of_another_text)
{
    setup_default();
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);
    cr_assert(eq(sz, r.embedded_now, r.baseline_sampled + r.current_sampled));
    r = run_check(DM_OK);
    cr_assert(eq(sz, r.embedded_now, 0)); /* all from the cache */

    /* the current window's texts change under the same ids */
    exec_sql("UPDATE feedback SET query = 'edited: ' || query "
             "WHERE id LIKE 'c%'");
    r = run_check(DM_OK);
    cr_assert(eq(sz, r.embedded_now, r.current_sampled),
              "%zu embedded now, %zu current rows", r.embedded_now,
              r.current_sampled);
    r = run_check(DM_OK);
    cr_assert(eq(sz, r.embedded_now, 0));
}

/*
 * Issue 14 item 10: a corrupted (non-finite) cached vector failed every
 * check with "row 193" (a sample index).  It is dropped and the row
 * embedded again; the check succeeds and the cache entry is replaced.
 */
Test(monitor, non_finite_cached_vector_is_dropped_and_reembedded)
{
    static char sql[8192];
    size_t used;

    setup_default();
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);
    cr_assert(STREQ(r.status, "ok"));

    /* row c-5's vector becomes 384 NaNs (0x7fc00000, little-endian) */
    used = (size_t)snprintf(sql, sizeof(sql),
                            "UPDATE embedding_cache SET vector = %s",
                            is_pg ? "'\\x" : "X'");
    for (int j = 0; j < 384; j++)
        used += (size_t)snprintf(sql + used, sizeof(sql) - used, "0000c07f");
    snprintf(sql + used, sizeof(sql) - used, "'%s WHERE row_id = 'c-5'",
             is_pg ? "::bytea" : "");
    exec_sql(sql);

    r = run_check(DM_OK);
    cr_assert(STREQ(r.status, "ok"), "%s", r.error);
    cr_assert(eq(sz, r.embedded_now, 1));
    r = run_check(DM_OK);
    cr_assert(STREQ(r.status, "ok"), "%s", r.error);
    cr_assert(eq(sz, r.embedded_now, 0)); /* the entry was replaced */
}

/* ---- fine-tuning trigger --------------------------------------------- */

Test(monitor, trigger_success_cooldown_across_restart)
{
    fake_http_response_t s[] = {
        {.status = 200, .body = "{\"job_id\": \"ft-42\"}"},
        {.status = 200, .body = "{\"job_id\": 4242}"}};

    setup_default();
    fake_http_script(le, s, 2);
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.trigger_status, "success"), "%s", r.trigger_error);
    cr_assert(STREQ(r.trigger_job_id, "ft-42"));
    dm_store_trigger_t t = latest_trigger();
    cr_assert(STREQ(t.status, "success"));
    cr_assert(STREQ(t.job_id, "ft-42"));
    cr_assert(eq(i64, t.check_id, r.check_id));
    cr_assert(not(t.forced));
    cr_assert(t.metrics_json && strstr(t.metrics_json, "combined_score"));
    dm_store_trigger_cleanup(&t);
    /* Slack: the drift alert and the "fine-tuning started" message */
    cr_assert(eq(sz, fake_http_request_count(slack), 2));
    cr_assert(slack_text_has(1, "ft-42"));

    /* a new monitor (a restart) on the same store: cooldown holds */
    monitor_new();
    r = run_check(DM_OK);
    cr_assert(STREQ(r.trigger_status, "cooldown"));
    cr_assert(eq(sz, fake_http_request_count(le), 1));
    cr_assert(eq(u64, trigger_count(false), 1));

    /* the manual trigger ignores score and cooldown, force: true */
    dm_monitor_trigger_result_t mt;
    char err[EB];
    int rc = dm_monitor_trigger_manual(mon, &mt, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "%s", err);
    cr_assert(STREQ(mt.job_id, "4242"));
    cr_assert(eq(sz, fake_http_request_count(le), 2));
    json_t *j = request_json(le, 1);
    cr_assert(eq(int, json_is_true(json_object_get(j, "force")), 1));
    json_decref(j);
    t = latest_trigger();
    cr_assert(t.forced);
    cr_assert(eq(i64, t.check_id, 0));
    dm_store_trigger_cleanup(&t);
}

Test(monitor, trigger_malformed_json_no_cooldown)
{
    fake_http_response_t s[] = {
        {.status = 200, .body = "{\"job_id\": "},
        {.status = 200, .body = "{\"job_id\": \"ft-2\"}"}};

    setup_default();
    fake_http_script(le, s, 2);
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.trigger_status, "failed"));
    cr_assert(strstr(r.trigger_error, "not JSON") != NULL, "%s",
              r.trigger_error);
    dm_store_trigger_t t = latest_trigger();
    cr_assert(STREQ(t.status, "failed"));
    cr_assert(eq(ptr, t.job_id, NULL));
    cr_assert(t.error && strstr(t.error, "not JSON"));
    dm_store_trigger_cleanup(&t);
    /* only the drift alert: no "fine-tuning started" */
    cr_assert(eq(sz, fake_http_request_count(slack), 1));

    /* a failed call does not start the cooldown */
    r = run_check(DM_OK);
    cr_assert(STREQ(r.trigger_status, "success"), "%s", r.trigger_error);
    cr_assert(eq(u64, trigger_count(false), 2));
    cr_assert(eq(u64, trigger_count(true), 1));
}

Test(monitor, trigger_500_then_200)
{
    fake_http_response_t s[] = {{.status = 500},
                                {.status = 200, .body = "{\"job_id\":\"j\"}"}};

    setup_default();
    fake_http_script(le, s, 2);
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.trigger_status, "success"), "%s", r.trigger_error);
    cr_assert(eq(sz, fake_http_request_count(le), 2));
    cr_assert(eq(u64, trigger_count(false), 1));
}

Test(monitor, trigger_retries_are_its_own)
{
    /* fine_tuning.max_retries 0 while alerts.slack.max_retries stays 2:
     * the Learning Engine gets one attempt */
    fake_http_response_t s[] = {{.status = 500},
                                {.status = 200, .body = "{\"job_id\":\"j\"}"}};

    setup_default();
    cr_assert(eq(u32, cfg->alerts.slack.max_retries, 2));
    cfg->fine_tuning.max_retries = 0; /* the monitor reads it per call */
    fake_http_script(le, s, 2);
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.trigger_status, "failed"));
    cr_assert(eq(sz, fake_http_request_count(le), 1));
    cr_assert(eq(u64, trigger_count(true), 0));
}

Test(monitor, trigger_hang_is_bounded_and_stored)
{
    fake_http_response_t s[] = {{.status = 200, .delay_ms = 10000}};

    setup_default();
    fake_http_script(le, s, 1);
    drifting_data();
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(STREQ(r.trigger_status, "failed"));
    cr_assert(lt(dbl, r.phase_ms[DM_MONITOR_PHASE_TRIGGER], 9000.0));
    dm_store_trigger_t t = latest_trigger();
    cr_assert(STREQ(t.status, "failed"));
    cr_assert(t.error != NULL);
    dm_store_trigger_cleanup(&t);
}

Test(monitor, below_score_and_disabled_do_not_trigger)
{
    write_cfg_with(NULL, NULL);
    monitor_new();
    baseline(0.86);
    add_rows("c", 12, ROWS, CSTART, ASOF, uniform10, uniform5, 0.736);
    dm_monitor_result_t r = run_check(DM_OK);

    cr_assert(r.analysis.verdict.drift_detected);
    if (r.analysis.verdict.combined_score < 0.2)
        cr_assert(STREQ(r.trigger_status, "below_score"));
    else
        cr_assert(STREQ(r.trigger_status, "success"));
    cr_assert(eq(u64, trigger_count(false),
                 r.analysis.verdict.combined_score < 0.2 ? 0 : 1));
}

/* ---- failures -------------------------------------------------------- */

Test(monitor, embedder_error_recorded_as_failed)
{
    char emb[600];

    snprintf(emb, sizeof(emb),
             "  model: \"sentence-transformers/all-MiniLM-L6-v2\"\n"
             "  model_path: \"%s/no-such-model\"\n",
             dir);
    write_cfg_with(emb, NULL);
    monitor_new();
    drifting_data();
    dm_monitor_result_t r;
    dm_monitor_check_opts_t o = {.as_of_ms = ASOF};
    char err[EB];
    int rc = dm_monitor_check(mon, &o, &r, err, sizeof(err));

    cr_assert(ne(int, rc, DM_OK));
    cr_assert(STREQ(r.status, "failed"));
    cr_assert(strstr(r.error, "embed") != NULL, "%s", r.error);
    cr_assert(ne(i64, r.check_id, 0));
    dm_store_check_t c = latest_check();
    cr_assert(STREQ(c.status, "failed"));
    cr_assert(c.error && strstr(c.error, "no-such-model"), "%s", c.error);
    cr_assert(eq(i64, c.current_count, ROWS));
    dm_store_check_cleanup(&c);
    cr_assert(eq(sz, check_count(), 1));
    cr_assert(eq(sz, fake_http_request_count(slack), 0));
    cr_assert(eq(sz, fake_http_request_count(le), 0));
}

Test(monitor, store_error_recorded_as_failed)
{
    write_cfg_with(NULL, "  feedback:\n    table: no_such_table\n");
    monitor_new();
    dm_monitor_result_t r;
    dm_monitor_check_opts_t o = {.as_of_ms = ASOF};
    char err[EB];
    int rc = dm_monitor_check(mon, &o, &r, err, sizeof(err));

    cr_assert(eq(int, rc, DM_ESTORE), "%s", err);
    cr_assert(strstr(r.error, "aggregate") != NULL, "%s", r.error);
    dm_store_check_t c = latest_check();
    cr_assert(STREQ(c.status, "failed"));
    cr_assert(c.error && strstr(c.error, "no_such_table"), "%s", c.error);
    dm_store_check_cleanup(&c);
    cr_assert(eq(sz, check_count(), 1));
}

/* ---- scheduler --------------------------------------------------------- */

Test(monitor, next_due_time)
{
    int64_t h = DM_MS_PER_HOUR;

    cr_assert(eq(i64, dm_monitor_next_due_ms(false, 0, 6, 1000), 1000));
    cr_assert(eq(i64, dm_monitor_next_due_ms(true, 10 * h, 6, 11 * h), 16 * h));
    cr_assert(eq(i64, dm_monitor_next_due_ms(true, 10 * h, 6, 20 * h), 16 * h));
    /* a last check in the future counts as now */
    cr_assert(eq(i64, dm_monitor_next_due_ms(true, 30 * h, 6, 20 * h), 26 * h));
}

static bool wait_for_checks(size_t n, unsigned ms)
{
    for (unsigned t = 0; t < ms; t += 100) {
        if (check_count() >= n)
            return true;
        usleep(100000);
    }
    return false;
}

Test(monitor, scheduler_runs_and_resumes_from_store)
{
    char err[EB];
    dm_monitor_status_t st;

    interval = "0.0005"; /* 1.8 s between checks */
    write_cfg_with(NULL, NULL);
    monitor_new();
    cr_assert(eq(int, dm_monitor_start(mon, err, sizeof(err)), DM_OK), "%s",
              err);
    cr_assert(eq(int, dm_monitor_start(mon, err, sizeof(err)), DM_EBUSY));
    /* nothing stored yet: the first check is due at once */
    cr_assert(wait_for_checks(1, 10000), "no scheduled check");
    dm_monitor_status(mon, &st);
    cr_assert(st.running);
    dm_monitor_stop(mon);
    dm_monitor_status(mon, &st);
    cr_assert(not(st.running));
    size_t n = check_count();
    dm_store_check_t c = latest_check();

    /* a restart right after: the next run is last + interval, not now */
    monitor_new();
    cr_assert(eq(int, dm_monitor_start(mon, err, sizeof(err)), DM_OK));
    for (int i = 0; i < 50; i++) {
        dm_monitor_status(mon, &st);
        if (st.next_check_ms)
            break;
        usleep(20000);
    }
    cr_assert(eq(i64, st.next_check_ms,
                 c.checked_at_ms + (int64_t)ceil(0.0005 * 3600000.0)));
    cr_assert(eq(i64, st.last_check_id, c.id));
    /* and it does run when due */
    cr_assert(wait_for_checks(n + 1, 10000), "the due check did not run");
    dm_monitor_stop(mon);
    dm_store_check_cleanup(&c);
}

static void slow_progress(dm_monitor_phase_t p, size_t done, size_t total,
                          void *arg)
{
    (void)p;
    (void)done;
    (void)total;
    (void)arg;
    usleep(300000);
}

Test(monitor, stop_abandons_a_long_check_cleanly)
{
    char err[EB];
    dm_monitor_opts_t o = fast_opts();

    write_cfg_with("  model: hashing\n  dimension: 64\n  batch_size: 1\n"
                   "  threads: 1\n",
                   NULL);
    int rc = dm_config_load(cfg_path, &cfg, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK), "%s", err);
    /* scheduled checks end now: data in the last 14 days */
    int64_t now = dm_time_now_ms();
    add_rows("b", 11, ROWS, now - 14 * DM_MS_PER_DAY, now - 7 * DM_MS_PER_DAY,
             uniform10, uniform5, 0.86);
    add_rows("c", 12, ROWS, now - 7 * DM_MS_PER_DAY, now - 1000, uniform10,
             uniform5, 0.66);
    o.progress = slow_progress; /* 16-row chunks, 0.3 s each: ~10 s */
    o.stop_grace_ms = 300;
    rc = dm_monitor_new(cfg, &o, &mon, err, sizeof(err));
    cr_assert(eq(int, rc, DM_OK));
    cr_assert(eq(int, dm_monitor_start(mon, err, sizeof(err)), DM_OK));
    dm_monitor_status_t st;
    for (int i = 0; i < 100; i++) {
        dm_monitor_status(mon, &st);
        if (st.checking)
            break;
        usleep(20000);
    }
    cr_assert(st.checking, "the scheduled check did not start");
    usleep(500000);
    uint64_t t0 = dm_time_mono_ns();
    dm_monitor_stop(mon);
    double took = (double)(dm_time_mono_ns() - t0) / 1e9;
    cr_assert(lt(dbl, took, 5.0), "stop took %.1f s", took);
    cr_assert(eq(sz, check_count(), 0), "an abandoned check stored a row");
    cr_assert(eq(sz, fake_http_request_count(slack), 0));
}

/* ---- the binary --------------------------------------------------------- */

static int run_bin(const char *args, char *out, size_t outlen)
{
    return tu_run_binary(args, out, outlen, NULL, 0);
}

Test(monitor, cli_check_exit_codes_and_json)
{
    static char out[1 << 16];
    char args[1024];

    /* the binary's clock is the real one: live checks end now */
    int64_t now = dm_time_now_ms() / 1000 * 1000;
    char asof[DM_TIME_STRLEN];

    dm_time_format_s(now, asof, sizeof(asof));
    setup_default();
    add_rows("b", 11, ROWS, now - 14 * DM_MS_PER_DAY, now - 7 * DM_MS_PER_DAY,
             uniform10, uniform5, 0.86);
    add_rows("c", 12, ROWS, now - 7 * DM_MS_PER_DAY, now, uniform10, uniform5,
             0.86);
    snprintf(args, sizeof(args), "check --config '%s' --as-of %s", cfg_path,
             asof);
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "drift check #1: ok (live") != NULL, "%s", out);

    add_rows("neg", 15, 200, now - 7 * DM_MS_PER_DAY, now, uniform10, uniform5,
             0.0);
    snprintf(args, sizeof(args), "check --config '%s' --as-of %s --json",
             cfg_path, asof);
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 1), "%s", out);
    json_error_t je;
    json_t *j = json_loads(out, 0, &je);
    cr_assert(j != NULL, "not JSON: %s\n%s", je.text, out);
    cr_assert(eq(int, json_is_true(json_object_get(j, "drift_detected")), 1));
    cr_assert(eq(int, (int)json_integer_value(json_object_get(j, "id")), 2));
    cr_assert(
        STREQ(json_string_value(json_object_get(j, "alert_status")), "sent"));
    cr_assert(STREQ(json_string_value(json_object_get(j, "kind")), "live"));
    json_decref(j);
    cr_assert(strstr(out, SECRET_WORD) == NULL);

    snprintf(args, sizeof(args), "check --config '%s' --window-days 0",
             cfg_path);
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 2), "%s", out);

    /* a backfill is ad hoc: drift shows in the exit code, no alert */
    snprintf(args, sizeof(args),
             "check --config '%s' --window-days 3 --as-of %s --json", cfg_path,
             "2026-01-15T00:00:00Z");
    run_bin(args, out, sizeof(out));
    j = json_loads(out, 0, &je);
    cr_assert(j != NULL, "not JSON: %s\n%s", je.text, out);
    cr_assert(STREQ(json_string_value(json_object_get(j, "kind")), "adhoc"));
    cr_assert(
        STREQ(json_string_value(json_object_get(j, "alert_status")), "adhoc"));
    json_decref(j);

    /* as_of in the future is a usage error; nothing is stored */
    snprintf(args, sizeof(args),
             "check --config '%s' --as-of 2999-01-01T00:00:00Z", cfg_path);
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 2), "%s", out);
    cr_assert(strstr(out, "future") != NULL, "%s", out);
    cr_assert(eq(sz, check_count(), 3));
}

Test(monitor, cli_check_failure_exits_3)
{
    static char out[1 << 14];
    char args[1024];

    write_cfg_with(NULL, "  feedback:\n    table: no_such_table\n");
    monitor_new();
    /* the store exists (check refuses a missing one with exit 2) */
    snprintf(args, sizeof(args), "migrate --config '%s'", cfg_path);
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 0), "%s", out);
    snprintf(args, sizeof(args), "check --config '%s'", cfg_path);
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 3), "%s", out);
    cr_assert(strstr(out, "no_such_table") != NULL, "%s", out);
}

Test(monitor, cli_demo_runs_offline)
{
    static char out[1 << 16];
    char args[1024];

    if (is_pg) { /* the demo always uses SQLite: nothing backend-specific */
        cr_assert(true);
        return;
    }
    snprintf(args, sizeof(args), "demo --dir '%s/demo' --rows-per-day 60", dir);
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "stored as check #1") != NULL, "%s", out);
    cr_assert(strstr(out, "drift DETECTED") != NULL, "%s", out);
    /* every signal fires on the demo data, and its accuracy falls below
     * the floor too */
    cr_assert(strstr(out, "semantic (share unlike)") != NULL);
    cr_assert(strstr(out, "quality below floor") != NULL);
    size_t fired = 0;
    for (const char *p = out; (p = strstr(p, "FIRED")) != NULL; p++)
        fired++;
    cr_assert(eq(sz, fired, 4), "%s", out);
    /* re-running replaces the data: again check #1 */
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 0), "%s", out);
    cr_assert(strstr(out, "stored as check #1") != NULL, "%s", out);
}

/*
 * embeddings.precision reaches the embedder: each value as the status
 * (/health) shows it, with the reason; nothing until it is loaded.
 */
Test(monitor, embedder_precision_from_config)
{
    static const struct {
        const char *key, *want, *reason;
    } cases[] = {{"fp32", "fp32", "set to fp32"},
                 {"bf16", "bf16", "set to bf16"},
                 {"auto", NULL, "auto: "}};
    char model[1024], emb[1400], errbuf[EB];
    dm_monitor_status_t ms;
    int rc;

    tu_fixture_path(model, sizeof(model), "minilm-tiny");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(emb, sizeof(emb),
                 "  model: minilm-tiny\n  model_path: \"%s\"\n"
                 "  dimension: 32\n  threads: 1\n  precision: %s\n",
                 model, cases[i].key);
        write_cfg_with(emb, NULL);
        monitor_new();
        dm_monitor_status(mon, &ms);
        cr_assert(STREQ(ms.embedder_precision, ""));
        rc = dm_monitor_embedder_open(mon, errbuf, sizeof(errbuf));
        if (rc != DM_OK && strcmp(cases[i].key, "bf16") == 0) {
            /* a CPU oneDNN cannot run bf16 on: refused, saying so */
            cr_assert(strstr(errbuf, "bf16") != NULL, "%s", errbuf);
            continue;
        }
        cr_assert(eq(int, rc, DM_OK), "%s: %s", cases[i].key, errbuf);
        dm_monitor_status(mon, &ms);
        if (cases[i].want)
            cr_assert(STREQ(ms.embedder_precision, cases[i].want), "%s",
                      cases[i].key);
        cr_assert(strncmp(ms.embedder_precision_reason, cases[i].reason,
                          strlen(cases[i].reason)) == 0,
                  "%s: %s", cases[i].key, ms.embedder_precision_reason);
    }
}

/*
 * The bf16 products change no decision: one drifting pair of weeks
 * checked with the fixture BERT at fp32 and at bf16 gives the same
 * verdict and signals, the same p-values to a few permutations, the
 * effect within half a point of AUC and the KL within 1%; the ':bf16'
 * fingerprint keeps the caches apart (the second check embeds everything
 * again).  Where oneDNN has no bf16 (an AVX2 CPU, valgrind), bf16 must be
 * refused, naming it.
 */
Test(monitor, bf16_check_decides_as_fp32)
{
    static const double before[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                   1, 1, 1, 1, 0};
    static const double after[DM_SYNTH_TOPICS] = {1, 1, 1, 1, 1,
                                                  1, 1, 1, 1, 2.25};
    static const double shifted[DM_SYNTH_INTENTS] = {4, 1, 0.5, 0.5, 0.3};
    static const char *prec[2] = {"fp32", "bf16"};
    char model[1024], emb[1400], errbuf[EB];
    dm_monitor_result_t r[2];
    double tol_p;

    setup_default(); /* the store the rows go to */
    tu_fixture_path(model, sizeof(model), "minilm-tiny");
    add_rows("b", 31, ROWS, BSTART, CSTART, before, uniform5, 0.86);
    add_rows("c", 32, ROWS, CSTART, ASOF, after, shifted, 0.80);
    for (size_t i = 0; i < 2; i++) {
        snprintf(emb, sizeof(emb),
                 "  model: minilm-tiny\n  model_path: \"%s\"\n"
                 "  dimension: 32\n  threads: 1\n  precision: %s\n",
                 model, prec[i]);
        write_cfg_with(emb, NULL);
        monitor_new();
        if (i == 1 &&
            dm_monitor_embedder_open(mon, errbuf, sizeof(errbuf)) != DM_OK) {
            cr_assert(strstr(errbuf, "bf16") != NULL, "%s", errbuf);
            return;
        }
        r[i] = run_check(DM_OK);
        cr_assert(STREQ(r[i].embedder_precision, prec[i]));
        cr_assert(eq(sz, r[i].embedded_now, 2 * ROWS), "%s", prec[i]);
        cr_assert(r[i].have_analysis);
    }

    const dm_analysis_t *a = &r[0].analysis, *b = &r[1].analysis;

    cr_log_info("fp32/bf16: effect %.6g/%.6g p %.4g/%.4g kl %.6g/%.6g",
                a->semantic_effect, b->semantic_effect, a->semantic_p_value,
                b->semantic_p_value, a->kl.kl_divergence, b->kl.kl_divergence);
    cr_assert(a->have_semantic && b->have_semantic);
    cr_assert(eq(int, a->semantic_fired, b->semantic_fired));
    cr_assert(eq(int, a->psi_fired, b->psi_fired));
    cr_assert(eq(int, a->accuracy_drop_fired, b->accuracy_drop_fired));
    cr_assert(eq(int, a->below_floor, b->below_floor));
    cr_assert(eq(int, a->verdict.drift_detected, b->verdict.drift_detected));
    cr_assert(STREQ(dm_severity_name(a->verdict.severity),
                    dm_severity_name(b->verdict.severity)));
    /* the embedding-free signals are the same numbers */
    cr_assert(eq(dbl, a->psi.psi, b->psi.psi));
    cr_assert(eq(dbl, a->psi.p_value, b->psi.p_value));
    cr_assert(eq(dbl, a->acc.p_value, b->acc.p_value));
    /*
     * the embedding signals within rounding: the p-value counts the
     * permutations whose statistic reaches the observed one, and bf16
     * moves both a little (a few permutations at most); the effect is
     * a held-out AUC, which moves by whole pair orderings (0.005 is half
     * a point of AUC)
     */
    tol_p = 5.0 / (a->permutations + 1);
    cr_assert(fabs(a->semantic_p_value - b->semantic_p_value) <= tol_p,
              "p %g vs %g", a->semantic_p_value, b->semantic_p_value);
    cr_assert(fabs(a->semantic_effect - b->semantic_effect) <= 0.005,
              "effect %g vs %g", a->semantic_effect, b->semantic_effect);
    cr_assert(fabs(a->kl.kl_divergence - b->kl.kl_divergence) <=
                  0.01 * fabs(a->kl.kl_divergence) + 1e-6,
              "kl %g vs %g", a->kl.kl_divergence, b->kl.kl_divergence);
}

/*
 * Issue 14 item 9: a broken embedder looked healthy, and the CLI printed
 * "698 rows, 698 embedded" for a check that failed in the embed phase.
 */
Test(monitor, broken_embedder_reported_with_its_phase)
{
    static char out[1 << 16];
    char emb[600], args[1024], errbuf[EB];
    dm_monitor_status_t ms;
    int64_t now = dm_time_now_ms() / 1000 * 1000;

    snprintf(emb, sizeof(emb),
             "  model: \"sentence-transformers/all-MiniLM-L6-v2\"\n"
             "  model_path: \"%s/no-such-model\"\n",
             dir);
    write_cfg_with(emb, NULL);
    monitor_new();
    dm_monitor_status(mon, &ms);
    cr_assert(STREQ(ms.embedder_error, "")); /* not tried yet */
    cr_assert(eq(int, dm_monitor_embedder_open(mon, errbuf, sizeof(errbuf)),
                 DM_EMODEL),
              "%s", errbuf);
    dm_monitor_status(mon, &ms);
    cr_assert(strstr(ms.embedder_error, "no-such-model") != NULL, "%s",
              ms.embedder_error);

    add_rows("b", 11, ROWS, now - 14 * DM_MS_PER_DAY, now - 7 * DM_MS_PER_DAY,
             uniform10, uniform5, 0.86);
    add_rows("c", 12, ROWS, now - 7 * DM_MS_PER_DAY, now, uniform10, uniform5,
             0.86);
    snprintf(args, sizeof(args), "check --config '%s'", cfg_path);
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 3), "%s", out);
    cr_assert(strstr(out, "failed in phase embed") != NULL, "%s", out);
    cr_assert(strstr(out, "embedded") == NULL, "%s", out);
    cr_assert(strstr(out, "no-such-model") != NULL, "%s", out);

    snprintf(args, sizeof(args), "check --config '%s' --json", cfg_path);
    cr_assert(eq(int, run_bin(args, out, sizeof(out)), 3), "%s", out);
    cr_assert(strstr(out, "\"failed_phase\": \"embed\"") != NULL, "%s", out);
}

/* ---- replicas --------------------------------------------------------- */

Test(monitor, two_processes_never_trigger_twice)
{
    char cmd[2048];
    pid_t pids[2];

    /* live checks of the real binary: data in the windows ending now */
    int64_t now = dm_time_now_ms() / 1000 * 1000;
    char asof[DM_TIME_STRLEN];

    dm_time_format_s(now, asof, sizeof(asof));
    setup_default();
    fake_http_reply(le, 200, "{\"job_id\": \"only-once\"}");
    add_rows("b", 11, ROWS, now - 14 * DM_MS_PER_DAY, now - 7 * DM_MS_PER_DAY,
             uniform10, uniform5, 0.86);
    add_rows("c", 12, ROWS, now - 7 * DM_MS_PER_DAY, now, uniform10, uniform5,
             0.66);
    snprintf(cmd, sizeof(cmd),
             "'%s' check --config '%s' --as-of %s >/dev/null 2>&1",
             getenv("DM_BINARY"), cfg_path, asof);
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        cr_assert(pids[i] >= 0);
        if (pids[i] == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < 2; i++) {
        int st;
        cr_assert(eq(int, (int)waitpid(pids[i], &st, 0), (int)pids[i]));
        cr_assert(eq(int, WIFEXITED(st) ? 1 : 0, 1));
        cr_assert(eq(int, WEXITSTATUS(st), 1), "exit %d", WEXITSTATUS(st));
    }
    cr_assert(eq(sz, check_count(), 2));
    cr_assert(eq(sz, fake_http_request_count(le), 1));
    cr_assert(eq(u64, trigger_count(false), 1));
    dm_store_check_t c = latest_check();
    cr_assert(STREQ(c.alert_status, "suppressed"), "second alert: %s",
              c.alert_status);
    dm_store_check_cleanup(&c);
}
