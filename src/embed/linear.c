/*
 * linear.c - linear layers as oneDNN matmuls.
 *
 * DESIGN
 * oneDNN's matmul computes dst[M x N] = src[M x K] . wei[K x N] + bias.
 * PyTorch keeps a Linear's weights as [out x in] row-major, which is
 * wei[K x N] in the "ba" layout; at creation a reorder converts them
 * (to bf16 for a bf16 plan) into the layout the plan's kernel chose
 * ("format any"), queried once from the DM_LINEAR_TILE-row primitive and
 * then imposed on every other row count (oneDNN 2.6 picks the same one
 * for every row count; imposing it keeps a layer's packed weights valid
 * for all of them whatever a later version does).
 *
 * A primitive's shape includes its row count.  Row counts are mapped to
 * at most 31 shapes: full tiles of DM_LINEAR_TILE rows; a remainder r
 * below the tile as r rounded down to a multiple of 16 (16 shapes,
 * including the tile), plus one 16-row tile ending at the last row when
 * r is not a multiple of 16 (it recomputes up to 15 rows of the tile
 * before, which is harmless: rows are independent and dst is not src);
 * fewer than 16 rows in all get a primitive of exactly that many (15
 * shapes).
 *
 * Scratchpad memory is the caller's (user mode), so one primitive runs
 * in several threads at once, each with its context's scratch buffer.
 *
 * The engine is the process's one CPU engine, made on first use and kept
 * until exit.
 */
#include "embed/linear.h"

#include <dnnl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "embed/kernels.h"

/* libgomp's (oneDNN's threading runtime); declared here so the build
 * does not need an OpenMP-enabled compiler for omp.h. */
extern void omp_set_num_threads(int n);

#define SHAPES_16  (DM_LINEAR_TILE / 16) /* 16, 32, ... DM_LINEAR_TILE */
#define SHAPES     (SHAPES_16 + 15)      /* and exactly 1 .. 15 rows */
#define SMALL_ROWS 16

struct shape {
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, dst_md, scratch_md;
    size_t scratch_size;
};

struct dm_linear_plan {
    size_t in, out;
    dm_linear_type_t src_t, dst_t;
    bool gelu;
    dnnl_memory_desc_t wei_md, bias_md; /* packed weights; fp32 bias */
    pthread_mutex_t lock;               /* guards shape[] */
    struct shape shape[SHAPES];
};

struct dm_linear {
    dm_linear_plan_t *plan;
    void *wei;   /* packed, dnnl_memory_desc_get_size(&plan->wei_md) */
    float *bias; /* [out] */
};

struct dm_linear_ctx {
    dnnl_stream_t stream;
    void *scratch;
    size_t scratch_cap;
    int threads;
};

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_status_t engine_status;

static void engine_init(void)
{
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
}

static dnnl_engine_t get_engine(void)
{
    pthread_once(&engine_once, engine_init);
    return engine_status == dnnl_success ? engine : NULL;
}

static int dnnl_fail(char *errbuf, size_t errlen, dnnl_status_t st,
                     const char *what)
{
    if (st == dnnl_out_of_memory)
        return dm_err_set(errbuf, errlen, DM_ENOMEM,
                          "oneDNN: %s: out of memory", what);
    if (st == dnnl_unimplemented)
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "oneDNN: %s: not available on this CPU (oneDNN "
                          "uses %s)",
                          what, dm_linear_isa_name());
    return dm_err_set(errbuf, errlen, DM_EMODEL,
                      "oneDNN: %s failed (status %d)", what, (int)st);
}

static dnnl_data_type_t dnnl_type(dm_linear_type_t t)
{
    return t == DM_LINEAR_BF16 ? dnnl_bf16 : dnnl_f32;
}

static size_t type_size(dm_linear_type_t t)
{
    return t == DM_LINEAR_BF16 ? 2 : 4;
}

/*
 * Makes the primitive for rows x in -> rows x out.  wei_md NULL lets
 * oneDNN choose the weights' layout (then copied into plan->wei_md).
 */
static int make_shape(dm_linear_plan_t *p, size_t rows, struct shape *s,
                      bool choose_layout, char *errbuf, size_t errlen)
{
    dnnl_engine_t eng = get_engine();
    dnnl_memory_desc_t src_md, wei_md, dst_md;
    dnnl_dims_t sd = {(dnnl_dim_t)rows, (dnnl_dim_t)p->in};
    dnnl_dims_t wd = {(dnnl_dim_t)p->in, (dnnl_dim_t)p->out};
    dnnl_dims_t dd = {(dnnl_dim_t)rows, (dnnl_dim_t)p->out};
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st;
    const char *what = "matmul descriptor";
    int rc = DM_OK;

    if (eng == NULL)
        return dnnl_fail(errbuf, errlen, engine_status, "CPU engine");
    st = dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_type(p->src_t),
                                      dnnl_ab);
    if (st == dnnl_success)
        st = dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_type(p->dst_t),
                                          dnnl_ab);
    if (st == dnnl_success) {
        if (choose_layout)
            st = dnnl_memory_desc_init_by_tag(
                &wei_md, 2, wd, dnnl_type(p->src_t), dnnl_format_tag_any);
        else
            wei_md = p->wei_md;
    }
    if (st == dnnl_success)
        st = dnnl_matmul_desc_init(&desc, &src_md, &wei_md, &p->bias_md,
                                   &dst_md);
    if (st == dnnl_success) {
        what = "matmul attributes";
        st = dnnl_primitive_attr_create(&attr);
    }
    if (st == dnnl_success)
        st = dnnl_primitive_attr_set_scratchpad_mode(attr,
                                                     dnnl_scratchpad_mode_user);
    if (st == dnnl_success && p->gelu) {
        st = dnnl_post_ops_create(&po);
        if (st == dnnl_success)
            st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_gelu_erf,
                                              0.0f, 0.0f);
        if (st == dnnl_success)
            st = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    if (st == dnnl_success) {
        what = "matmul kernel";
        st = dnnl_primitive_desc_create(&pd, &desc, attr, eng, NULL);
    }
    if (st == dnnl_success) {
        s->src_md = src_md;
        s->dst_md = dst_md;
        s->scratch_md =
            *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        s->scratch_size = dnnl_memory_desc_get_size(&s->scratch_md);
        if (choose_layout)
            p->wei_md =
                *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        what = "matmul primitive";
        st = dnnl_primitive_create(&s->prim, pd);
    }
    if (st != dnnl_success) {
        char where[96];

        snprintf(where, sizeof(where), "%s (%zu x %zu -> %zu, %s)", what, rows,
                 p->in, p->out, p->src_t == DM_LINEAR_BF16 ? "bf16" : "fp32");
        rc = dnnl_fail(errbuf, errlen, st, where);
        s->prim = NULL;
    }
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static size_t shape_index(size_t rows)
{
    return rows < SMALL_ROWS ? SHAPES_16 + rows - 1 : rows / 16 - 1;
}

int dm_linear_plan_new(size_t in, size_t out, dm_linear_type_t src,
                       dm_linear_type_t dst, bool gelu, dm_linear_plan_t **plan,
                       char *errbuf, size_t errlen)
{
    dm_linear_plan_t *p;
    dnnl_dims_t bd = {1, (dnnl_dim_t)out};
    int rc;

    *plan = NULL;
    if (in == 0 || out == 0)
        return dm_err_set(errbuf, errlen, DM_EINVAL,
                          "linear layer: %zu -> %zu features", in, out);
    p = dm_calloc(1, sizeof(*p));
    p->in = in;
    p->out = out;
    p->src_t = src;
    p->dst_t = dst;
    p->gelu = gelu;
    pthread_mutex_init(&p->lock, NULL);
    if (dnnl_memory_desc_init_by_tag(&p->bias_md, 2, bd, dnnl_f32, dnnl_ab) !=
        dnnl_success) {
        dm_linear_plan_free(p);
        return dm_err_set(errbuf, errlen, DM_EMODEL,
                          "oneDNN: bias of %zu features", out);
    }
    rc = make_shape(p, DM_LINEAR_TILE, &p->shape[shape_index(DM_LINEAR_TILE)],
                    true, errbuf, errlen);
    if (rc != DM_OK) {
        dm_linear_plan_free(p);
        return rc;
    }
    *plan = p;
    return DM_OK;
}

void dm_linear_plan_free(dm_linear_plan_t *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < SHAPES; i++)
        if (plan->shape[i].prim)
            dnnl_primitive_destroy(plan->shape[i].prim);
    pthread_mutex_destroy(&plan->lock);
    free(plan);
}

/* The primitive for rows (a multiple of 16 up to the tile, or < 16). */
static const struct shape *get_shape(dm_linear_plan_t *p, size_t rows, int *rc,
                                     char *errbuf, size_t errlen)
{
    struct shape *s = &p->shape[shape_index(rows)];

    *rc = DM_OK;
    pthread_mutex_lock(&p->lock);
    if (s->prim == NULL)
        *rc = make_shape(p, rows, s, false, errbuf, errlen);
    pthread_mutex_unlock(&p->lock);
    return *rc == DM_OK ? s : NULL;
}

static int reorder_weights(dm_linear_plan_t *p, const float *w, void *packed,
                           char *errbuf, size_t errlen)
{
    dnnl_engine_t eng = get_engine();
    dnnl_dims_t wd = {(dnnl_dim_t)p->in, (dnnl_dim_t)p->out};
    dnnl_memory_desc_t user_md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t from = NULL, to = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t st;

    /* [out x in] row-major is [in x out] in the "ba" layout */
    st = dnnl_memory_desc_init_by_tag(&user_md, 2, wd, dnnl_f32, dnnl_ba);
    if (st == dnnl_success)
        st = dnnl_reorder_primitive_desc_create(&pd, &user_md, eng, &p->wei_md,
                                                eng, NULL);
    if (st == dnnl_success)
        st = dnnl_primitive_create(&prim, pd);
    if (st == dnnl_success)
        st = dnnl_memory_create(&from, &user_md, eng, (void *)(uintptr_t)w);
    if (st == dnnl_success)
        st = dnnl_memory_create(&to, &p->wei_md, eng, packed);
    if (st == dnnl_success)
        st = dnnl_stream_create(&stream, eng, dnnl_stream_default_flags);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};

        omp_set_num_threads(1);
        st = dnnl_primitive_execute(prim, stream, 2, args);
    }
    if (st == dnnl_success)
        st = dnnl_stream_wait(stream);
    if (stream)
        dnnl_stream_destroy(stream);
    if (to)
        dnnl_memory_destroy(to);
    if (from)
        dnnl_memory_destroy(from);
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success
               ? DM_OK
               : dnnl_fail(errbuf, errlen, st, "weights reorder");
}

int dm_linear_new(dm_linear_plan_t *plan, const float *w, const float *b,
                  dm_linear_t **layer, char *errbuf, size_t errlen)
{
    dm_linear_t *l;
    size_t size = dnnl_memory_desc_get_size(&plan->wei_md);
    int rc;

    *layer = NULL;
    l = dm_calloc(1, sizeof(*l));
    l->plan = plan;
    /* 64-byte aligned for the kernels' vector loads */
    if (posix_memalign(&l->wei, 64, size ? size : 64) != 0) {
        free(l);
        return dm_err_set(errbuf, errlen, DM_ENOMEM,
                          "linear layer: %zu bytes of weights", size);
    }
    l->bias = dm_mallocarray(plan->out, sizeof(float));
    if (b)
        memcpy(l->bias, b, plan->out * sizeof(float));
    else
        memset(l->bias, 0, plan->out * sizeof(float));
    rc = reorder_weights(plan, w, l->wei, errbuf, errlen);
    if (rc != DM_OK) {
        dm_linear_free(l);
        return rc;
    }
    *layer = l;
    return DM_OK;
}

void dm_linear_free(dm_linear_t *layer)
{
    if (layer == NULL)
        return;
    free(layer->wei);
    free(layer->bias);
    free(layer);
}

int dm_linear_ctx_new(dm_linear_ctx_t **ctx, char *errbuf, size_t errlen)
{
    dnnl_engine_t eng = get_engine();
    dm_linear_ctx_t *c;
    dnnl_status_t st;

    *ctx = NULL;
    if (eng == NULL)
        return dnnl_fail(errbuf, errlen, engine_status, "CPU engine");
    c = dm_calloc(1, sizeof(*c));
    c->threads = 1;
    st = dnnl_stream_create(&c->stream, eng, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        free(c);
        return dnnl_fail(errbuf, errlen, st, "stream");
    }
    *ctx = c;
    return DM_OK;
}

void dm_linear_ctx_free(dm_linear_ctx_t *ctx)
{
    if (ctx == NULL)
        return;
    dnnl_stream_destroy(ctx->stream);
    free(ctx->scratch);
    free(ctx);
}

/* Runs shape s on rows [row, row + s->rows) of src into dst. */
static int run_tile(const dm_linear_t *l, dm_linear_ctx_t *ctx,
                    const struct shape *s, const void *src, void *dst,
                    char *errbuf, size_t errlen)
{
    dm_linear_plan_t *p = l->plan;
    dnnl_engine_t eng = get_engine();
    dnnl_memory_t m_src = NULL, m_wei = NULL, m_bias = NULL, m_dst = NULL,
                  m_scr = NULL;
    dnnl_status_t st;

    if (s->scratch_size > ctx->scratch_cap) {
        free(ctx->scratch);
        ctx->scratch = NULL;
        ctx->scratch_cap = 0;
        if (posix_memalign(&ctx->scratch, 64, s->scratch_size) != 0)
            return dm_err_set(errbuf, errlen, DM_ENOMEM,
                              "linear layer: %zu bytes of scratch memory",
                              s->scratch_size);
        ctx->scratch_cap = s->scratch_size;
    }
    st = dnnl_memory_create(&m_src, &s->src_md, eng, (void *)(uintptr_t)src);
    if (st == dnnl_success)
        st = dnnl_memory_create(&m_wei, &p->wei_md, eng, l->wei);
    if (st == dnnl_success)
        st = dnnl_memory_create(&m_bias, &p->bias_md, eng, l->bias);
    if (st == dnnl_success)
        st = dnnl_memory_create(&m_dst, &s->dst_md, eng, dst);
    if (st == dnnl_success)
        st = dnnl_memory_create(&m_scr, &s->scratch_md, eng, ctx->scratch);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, m_src},
                                   {DNNL_ARG_WEIGHTS, m_wei},
                                   {DNNL_ARG_BIAS, m_bias},
                                   {DNNL_ARG_DST, m_dst},
                                   {DNNL_ARG_SCRATCHPAD, m_scr}};

        st = dnnl_primitive_execute(s->prim, ctx->stream, 5, args);
    }
    if (st == dnnl_success)
        st = dnnl_stream_wait(ctx->stream);
    dnnl_memory_destroy(m_scr);
    dnnl_memory_destroy(m_dst);
    dnnl_memory_destroy(m_bias);
    dnnl_memory_destroy(m_wei);
    dnnl_memory_destroy(m_src);
    return st == dnnl_success ? DM_OK : dnnl_fail(errbuf, errlen, st, "matmul");
}

int dm_linear_run(const dm_linear_t *l, dm_linear_ctx_t *ctx, const void *src,
                  size_t rows, void *dst, char *errbuf, size_t errlen)
{
    dm_linear_plan_t *p = l->plan;
    const size_t in_row = p->in * type_size(p->src_t);
    const size_t out_row = p->out * type_size(p->dst_t);
    const char *x = src;
    char *y = dst;
    size_t row = 0;
    int rc = DM_OK;

    /* this thread's share of oneDNN's OpenMP threads (a per-thread
     * setting: our own threads split the work) */
    omp_set_num_threads(ctx->threads);
    while (rc == DM_OK && row < rows) {
        size_t left = rows - row, n, at = row;
        const struct shape *s;

        if (left >= DM_LINEAR_TILE)
            n = DM_LINEAR_TILE;
        else if (left >= SMALL_ROWS)
            n = left / 16 * 16;
        else if (rows >= SMALL_ROWS) {
            n = SMALL_ROWS; /* the last 16 rows, overlapping the tile before */
            at = rows - SMALL_ROWS;
        } else
            n = left;
        s = get_shape(p, n, &rc, errbuf, errlen);
        if (s)
            rc = run_tile(l, ctx, s, x + at * in_row, y + at * out_row, errbuf,
                          errlen);
        row = at + n;
    }
    return rc;
}

void dm_linear_to_bf16(const float *x, uint16_t *y, size_t n)
{
    dm_kern_to_bf16(x, y, n);
}

float dm_linear_from_bf16(uint16_t v)
{
    uint32_t u = (uint32_t)v << 16;
    float f;

    memcpy(&f, &u, sizeof(f));
    return f;
}

bool dm_linear_bf16_native(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();

    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
           (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

const char *dm_linear_isa_name(void)
{
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41:
        return "sse41";
    case dnnl_cpu_isa_avx:
        return "avx";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
    case dnnl_cpu_isa_avx512_mic_4ops:
        return "avx512_mic";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    case dnnl_cpu_isa_all:
        break;
    }
    return "unknown";
}
