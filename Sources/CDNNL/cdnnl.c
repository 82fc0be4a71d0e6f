#include "cdnnl.h"
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern void omp_set_num_threads(int);

#define MAX_REORDERS 3

typedef struct {
  dnnl_primitive_t prim;   /* NULL when the user layout is used directly */
  dnnl_memory_t user, inner;
  size_t offset;           /* of the inner copy in the scratch space */
} reorder_t;

struct ganc_dnnl_op {
  dnnl_primitive_t prim;
  dnnl_memory_t mem[3];    /* the primitive's three tensors, in its layouts */
  dnnl_memory_t scratch_mem;
  int args[3];
  reorder_t reorder[3];    /* in0, in1 go in; out comes back */
  size_t scratchpad_offset, scratch_size;
  char impl[64];
  /* A transposed convolution with few output channels runs as a batched
     matmul into columns (in the scratch space, at cols_offset) and a col2im. */
  struct ganc_dnnl_op *gemm;
  ganc_conv_shape geometry;
  size_t cols_offset;
  dnnl_memory_t bias;      /* the epilogue's bias, when it has one */
};

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static int ensure_engine(char *error, size_t size) {
  if (engine) return 0;
  if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success ||
      dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
    snprintf(error, size, "cannot create a oneDNN CPU engine");
    return -1;
  }
  return 0;
}

void ganc_dnnl_set_threads(int threads) { omp_set_num_threads(threads > 0 ? threads : 1); }

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Connects a plain user buffer to the primitive's memory in layout `want`;
   when the layouts differ, a reorder through the scratch space is set up. */
static int bind(ganc_dnnl_op *op, int i, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *want,
                int to_user, size_t *cursor) {
  reorder_t *r = &op->reorder[i];
  dnnl_memory_create(&r->user, user_md, engine, DNNL_MEMORY_NONE);
  if (dnnl_memory_desc_equal(user_md, want)) {
    op->mem[i] = r->user;
    return 0;
  }
  dnnl_memory_create(&r->inner, want, engine, DNNL_MEMORY_NONE);
  op->mem[i] = r->inner;
  r->offset = *cursor;
  *cursor += align64(dnnl_memory_desc_get_size(want));
  dnnl_primitive_desc_t pd;
  dnnl_status_t s = to_user ? dnnl_reorder_primitive_desc_create(&pd, want, engine, user_md, engine, NULL)
                            : dnnl_reorder_primitive_desc_create(&pd, user_md, engine, want, engine, NULL);
  if (s != dnnl_success) return -1;
  s = dnnl_primitive_create(&r->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  return s == dnnl_success ? 0 : -1;
}

static ganc_dnnl_op *finish(dnnl_primitive_desc_t pd, const dnnl_memory_desc_t *user[3], const int args[3],
                            const dnnl_query_t queries[3], char *error, size_t size) {
  ganc_dnnl_op *op = calloc(1, sizeof *op);
  size_t cursor = 0;
  for (int i = 0; i < 3; i++) {
    op->args[i] = args[i];
    const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, queries[i], 0);
    if (!want || bind(op, i, user[i], want, i == 2, &cursor) != 0) {
      snprintf(error, size, "oneDNN cannot convert operand %d to the layout it chose", i);
      dnnl_primitive_desc_destroy(pd);
      ganc_op_destroy(op);
      return NULL;
    }
  }
  const dnnl_memory_desc_t *spad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  op->scratchpad_offset = cursor;
  size_t spad_size = spad ? dnnl_memory_desc_get_size(spad) : 0;
  if (spad_size > 0) dnnl_memory_create(&op->scratch_mem, spad, engine, DNNL_MEMORY_NONE);
  op->scratch_size = cursor + align64(spad_size);
  const char *impl = NULL;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  snprintf(op->impl, sizeof op->impl, "%s", impl ? impl : "?");
  dnnl_status_t s = dnnl_primitive_create(&op->prim, pd);
  dnnl_primitive_desc_destroy(pd);
  if (s != dnnl_success) {
    snprintf(error, size, "oneDNN could not create the primitive (status %d)", (int)s);
    ganc_op_destroy(op);
    return NULL;
  }
  return op;
}

static dnnl_primitive_attr_t user_scratchpad(void) {
  dnnl_primitive_attr_t attr;
  dnnl_primitive_attr_create(&attr);
  dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
  return attr;
}

/* The attributes of a product: our scratchpad, and the epilogue's activation as an eltwise post-op. */
static dnnl_primitive_attr_t product_attr(const ganc_epilogue *e) {
  dnnl_primitive_attr_t attr = user_scratchpad();
  if (!e || e->activation == GANC_ACT_NONE) return attr;
  dnnl_alg_kind_t alg = dnnl_eltwise_relu;
  float alpha = 0;
  switch (e->activation) {
  case GANC_ACT_RELU: alg = dnnl_eltwise_relu; alpha = e->alpha; break;
  case GANC_ACT_TANH: alg = dnnl_eltwise_tanh; break;
  case GANC_ACT_SIGMOID: alg = dnnl_eltwise_logistic; break;
  case GANC_ACT_ELU: alg = dnnl_eltwise_elu; alpha = 1; break;
  default: break;
  }
  dnnl_post_ops_t po;
  dnnl_post_ops_create(&po);
  dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, 0.0f);
  dnnl_primitive_attr_set_post_ops(attr, po);
  dnnl_post_ops_destroy(po);
  return attr;
}

static void attach_bias(ganc_dnnl_op *op, const dnnl_memory_desc_t *md) {
  if (op && md) dnnl_memory_create(&op->bias, md, engine, DNNL_MEMORY_NONE);
}

ganc_dnnl_op *ganc_matmul_create(int64_t batch, int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                                 const ganc_epilogue *epilogue, char *error, size_t size) {
  if (ensure_engine(error, size)) return NULL;
  dnnl_dims_t a_dims = {m, k}, b_dims = {k, n}, c_dims = {m, n}, bias_dims = {1, n};
  dnnl_memory_desc_t a, b, c, bias;
  dnnl_memory_desc_init_by_tag(&bias, 2, bias_dims, dnnl_f32, dnnl_ab);
  const dnnl_memory_desc_t *bias_md = epilogue && epilogue->bias ? &bias : NULL;
  if (batch > 0) {
    /* Batched (attention): [batch, M, K] x [batch, K, N], no epilogue. */
    dnnl_dims_t a3 = {batch, m, k}, b3 = {batch, k, n}, c3 = {batch, m, n};
    dnnl_memory_desc_init_by_tag(&a, 3, a3, dnnl_f32, trans_a ? dnnl_acb : dnnl_abc);
    dnnl_memory_desc_init_by_tag(&b, 3, b3, dnnl_f32, trans_b ? dnnl_acb : dnnl_abc);
    dnnl_memory_desc_init_by_tag(&c, 3, c3, dnnl_f32, dnnl_abc);
    bias_md = NULL;
    epilogue = NULL;
  } else {
    dnnl_memory_desc_init_by_tag(&a, 2, a_dims, dnnl_f32, trans_a ? dnnl_ba : dnnl_ab);
    dnnl_memory_desc_init_by_tag(&b, 2, b_dims, dnnl_f32, trans_b ? dnnl_ba : dnnl_ab);
    dnnl_memory_desc_init_by_tag(&c, 2, c_dims, dnnl_f32, dnnl_ab);
  }
  dnnl_matmul_desc_t desc;
  if (dnnl_matmul_desc_init(&desc, &a, &b, bias_md, &c) != dnnl_success) {
    snprintf(error, size, "oneDNN rejects a %lldx%lldx%lld matmul", (long long)m, (long long)n, (long long)k);
    return NULL;
  }
  dnnl_primitive_attr_t attr = product_attr(epilogue);
  dnnl_primitive_desc_t pd;
  dnnl_status_t s = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
  dnnl_primitive_attr_destroy(attr);
  if (s != dnnl_success) {
    snprintf(error, size, "oneDNN has no matmul for %lldx%lldx%lld", (long long)m, (long long)n, (long long)k);
    return NULL;
  }
  const dnnl_memory_desc_t *user[3] = {&a, &b, &c};
  const int args[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
  const dnnl_query_t queries[3] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md};
  ganc_dnnl_op *op = finish(pd, user, args, queries, error, size);
  attach_bias(op, bias_md);
  return op;
}

/* columns[n] = W^T g[n]: W^T is the [C*KH*KW, F] transposed view of the
   weights (shared by the batch), g[n] the [F, OH*OW] slice of the incoming
   gradient; columns are [N, C*KH*KW, OH*OW]. */
static ganc_dnnl_op *columns_matmul(const ganc_conv_shape *s, char *error, size_t size) {
  int64_t ckk = s->c * s->kh * s->kw, ohw = s->oh * s->ow;
  dnnl_dims_t a_dims = {1, ckk, s->f}, a_strides = {ckk * s->f, 1, ckk};
  dnnl_dims_t b_dims = {s->n, s->f, ohw}, c_dims = {s->n, ckk, ohw};
  dnnl_memory_desc_t a, b, c;
  dnnl_memory_desc_init_by_strides(&a, 3, a_dims, dnnl_f32, a_strides);
  dnnl_memory_desc_init_by_tag(&b, 3, b_dims, dnnl_f32, dnnl_abc);
  dnnl_memory_desc_init_by_tag(&c, 3, c_dims, dnnl_f32, dnnl_abc);
  dnnl_matmul_desc_t desc;
  if (dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c) != dnnl_success) return NULL;
  dnnl_primitive_attr_t attr = user_scratchpad();
  dnnl_primitive_desc_t pd;
  dnnl_status_t st = dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
  dnnl_primitive_attr_destroy(attr);
  if (st != dnnl_success) return NULL;
  const dnnl_memory_desc_t *user[3] = {&a, &b, &c};
  const int args[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
  const dnnl_query_t queries[3] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md};
  return finish(pd, user, args, queries, error, size);
}

typedef struct {
  const ganc_conv_shape *s;
  const float *cols;
  float *out;
  int parts;
} col2im_job;

/* dx[n, c, y, x] = sum of columns[n, (c, p, q), (i, j)] over the (p, q, i, j)
   that land on (y, x); images are split across the team. */
static void col2im_part(void *ctx, int part) {
  const col2im_job *job = ctx;
  const ganc_conv_shape *s = job->s;
  int64_t per = (s->n + job->parts - 1) / job->parts;
  int64_t lo = part * per, hi = lo + per < s->n ? lo + per : s->n;
  int64_t ckk = s->c * s->kh * s->kw, ohw = s->oh * s->ow, hw = s->h * s->w;
  for (int64_t n = lo; n < hi; n++) {
    float *out = job->out + n * s->c * hw;
    memset(out, 0, (size_t)(s->c * hw) * sizeof(float));
    const float *cols = job->cols + n * ckk * ohw;
    for (int64_t c = 0; c < s->c; c++) {
      for (int64_t p = 0; p < s->kh; p++) {
        for (int64_t q = 0; q < s->kw; q++) {
          const float *row = cols + ((c * s->kh + p) * s->kw + q) * ohw;
          for (int64_t i = 0; i < s->oh; i++) {
            int64_t y = i * s->stride[0] - s->pad_l[0] + p * s->dilation[0];
            if (y < 0 || y >= s->h) continue;
            float *dst = out + c * hw + y * s->w;
            const float *src = row + i * s->ow;
            for (int64_t j = 0; j < s->ow; j++) {
              int64_t x = j * s->stride[1] - s->pad_l[1] + q * s->dilation[1];
              if (x >= 0 && x < s->w) dst[x] += src[j];
            }
          }
        }
      }
    }
  }
}

extern int omp_get_max_threads(void);

/* oneDNN pads the channels of a transposed convolution to the vector width,
   so with one output channel (an image generator's last layer) it does 16
   times the work at a few GFLOP/s; a matmul plus col2im does the real work. */
static ganc_dnnl_op *transposed_by_columns(const ganc_conv_shape *s, char *error, size_t size) {
  ganc_dnnl_op *mm = columns_matmul(s, error, size);
  if (!mm) return NULL;
  ganc_dnnl_op *op = calloc(1, sizeof *op);
  op->gemm = mm;
  op->geometry = *s;
  op->cols_offset = align64(mm->scratch_size);
  op->scratch_size = op->cols_offset + align64((size_t)(s->n * s->c * s->kh * s->kw * s->oh * s->ow) * sizeof(float));
  snprintf(op->impl, sizeof op->impl, "matmul+col2im:%s", mm->impl);
  return op;
}

ganc_dnnl_op *ganc_conv_create(ganc_conv_kind kind, const ganc_conv_shape *s, const ganc_epilogue *epilogue,
                               char *error, size_t size) {
  if (ensure_engine(error, size)) return NULL;
  if (kind != GANC_CONV_FORWARD) epilogue = NULL;
  if (kind == GANC_CONV_BACKWARD_DATA && s->c <= s->columns_max_c && !s->x_blocked && !s->y_blocked) {
    ganc_dnnl_op *op = transposed_by_columns(s, error, size);
    if (op) return op;
  }
  dnnl_dims_t x_dims = {s->n, s->c, s->h, s->w}, w_dims = {s->f, s->c, s->kh, s->kw}, y_dims = {s->n, s->f, s->oh, s->ow};
  dnnl_dims_t strides = {s->stride[0], s->stride[1]}, dil = {s->dilation[0] - 1, s->dilation[1] - 1};
  dnnl_dims_t pl = {s->pad_l[0], s->pad_l[1]}, pr = {s->pad_r[0], s->pad_r[1]};
  dnnl_memory_desc_t x, w, y, xa, wa, ya, bias;
  dnnl_dims_t bias_dims = {s->f};
  dnnl_memory_desc_init_by_tag(&bias, 1, bias_dims, dnnl_f32, dnnl_a);
  const dnnl_memory_desc_t *bias_md = epilogue && epilogue->bias ? &bias : NULL;
  dnnl_memory_desc_init_by_tag(&x, 4, x_dims, dnnl_f32, s->x_blocked ? dnnl_aBcd16b : dnnl_abcd);
  dnnl_memory_desc_init_by_tag(&w, 4, w_dims, dnnl_f32, dnnl_abcd);
  dnnl_memory_desc_init_by_tag(&y, 4, y_dims, dnnl_f32, s->y_blocked ? dnnl_aBcd16b : dnnl_abcd);
  dnnl_memory_desc_init_by_tag(&xa, 4, x_dims, dnnl_f32, dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag(&wa, 4, w_dims, dnnl_f32, dnnl_format_tag_any);
  dnnl_memory_desc_init_by_tag(&ya, 4, y_dims, dnnl_f32, dnnl_format_tag_any);
  dnnl_convolution_desc_t fwd, desc;
  if (dnnl_dilated_convolution_forward_desc_init(&fwd, dnnl_forward_training, dnnl_convolution_direct,
                                                 &xa, &wa, bias_md, &ya, strides, dil, pl, pr) != dnnl_success) {
    snprintf(error, size, "oneDNN rejects this convolution's shape");
    return NULL;
  }
  dnnl_primitive_attr_t attr = product_attr(epilogue);
  dnnl_primitive_desc_t hint = NULL, pd = NULL;
  dnnl_status_t st = dnnl_primitive_desc_create(&hint, &fwd, attr, engine, NULL);
  if (st == dnnl_success && kind == GANC_CONV_FORWARD) {
    pd = hint;
    hint = NULL;
  } else if (st == dnnl_success) {
    if (kind == GANC_CONV_BACKWARD_DATA)
      st = dnnl_dilated_convolution_backward_data_desc_init(&desc, dnnl_convolution_direct, &xa, &wa, &ya, strides, dil, pl, pr);
    else
      st = dnnl_dilated_convolution_backward_weights_desc_init(&desc, dnnl_convolution_direct, &xa, &wa, NULL, &ya, strides, dil, pl, pr);
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, &desc, attr, engine, hint);
  }
  if (hint) dnnl_primitive_desc_destroy(hint);
  dnnl_primitive_attr_destroy(attr);
  if (st != dnnl_success || !pd) {
    snprintf(error, size, "oneDNN has no convolution for this shape (status %d)", (int)st);
    return NULL;
  }
  const dnnl_memory_desc_t *user[3];
  int args[3];
  dnnl_query_t queries[3];
  switch (kind) {
  case GANC_CONV_FORWARD:
    user[0] = &x; user[1] = &w; user[2] = &y;
    args[0] = DNNL_ARG_SRC; args[1] = DNNL_ARG_WEIGHTS; args[2] = DNNL_ARG_DST;
    queries[0] = dnnl_query_src_md; queries[1] = dnnl_query_weights_md; queries[2] = dnnl_query_dst_md;
    break;
  case GANC_CONV_BACKWARD_DATA:
    user[0] = &y; user[1] = &w; user[2] = &x;
    args[0] = DNNL_ARG_DIFF_DST; args[1] = DNNL_ARG_WEIGHTS; args[2] = DNNL_ARG_DIFF_SRC;
    queries[0] = dnnl_query_diff_dst_md; queries[1] = dnnl_query_weights_md; queries[2] = dnnl_query_diff_src_md;
    break;
  default:
    user[0] = &x; user[1] = &y; user[2] = &w;
    args[0] = DNNL_ARG_SRC; args[1] = DNNL_ARG_DIFF_DST; args[2] = DNNL_ARG_DIFF_WEIGHTS;
    queries[0] = dnnl_query_src_md; queries[1] = dnnl_query_diff_dst_md; queries[2] = dnnl_query_diff_weights_md;
    break;
  }
  ganc_dnnl_op *op = finish(pd, user, args, queries, error, size);
  attach_bias(op, bias_md);
  return op;
}

size_t ganc_op_scratch_size(const ganc_dnnl_op *op) { return op->scratch_size; }
const char *ganc_op_implementation(const ganc_dnnl_op *op) { return op->impl; }

int ganc_op_execute(ganc_dnnl_op *op, const float *in0, const float *in1, const float *bias, float *out, void *scratch) {
  void *user[3] = {(void *)in0, (void *)in1, out};
  char *base = scratch;
  if (op->gemm) {
    float *cols = (float *)(base + op->cols_offset);
    if (ganc_op_execute(op->gemm, in1, in0, NULL, cols, scratch) != 0) return -1;
    int parts = omp_get_max_threads();
    if (parts > op->geometry.n) parts = (int)op->geometry.n;
    col2im_job job = {&op->geometry, cols, out, parts > 0 ? parts : 1};
    ganc_parallel(job.parts, col2im_part, &job);
    return 0;
  }
  for (int i = 0; i < 3; i++) {
    reorder_t *r = &op->reorder[i];
    dnnl_memory_set_data_handle(r->user, user[i]);
    if (r->inner) dnnl_memory_set_data_handle(r->inner, base + r->offset);
  }
  for (int i = 0; i < 2; i++) {
    reorder_t *r = &op->reorder[i];
    if (!r->prim) continue;
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, r->user}, {DNNL_ARG_TO, r->inner}};
    if (dnnl_primitive_execute(r->prim, stream, 2, a) != dnnl_success) return -1;
  }
  dnnl_exec_arg_t args[5];
  int count = 0;
  for (int i = 0; i < 3; i++) { args[count].arg = op->args[i]; args[count].memory = op->mem[i]; count++; }
  if (op->bias) {
    if (!bias) return -1;
    dnnl_memory_set_data_handle(op->bias, (void *)bias);
    args[count].arg = DNNL_ARG_BIAS;
    args[count].memory = op->bias;
    count++;
  }
  if (op->scratch_mem) {
    dnnl_memory_set_data_handle(op->scratch_mem, base + op->scratchpad_offset);
    args[count].arg = DNNL_ARG_SCRATCHPAD;
    args[count].memory = op->scratch_mem;
    count++;
  }
  if (dnnl_primitive_execute(op->prim, stream, count, args) != dnnl_success) return -1;
  reorder_t *r = &op->reorder[2];
  if (r->prim) {
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, r->inner}, {DNNL_ARG_TO, r->user}};
    if (dnnl_primitive_execute(r->prim, stream, 2, a) != dnnl_success) return -1;
  }
  return dnnl_stream_wait(stream) == dnnl_success ? 0 : -1;
}

void ganc_op_destroy(ganc_dnnl_op *op) {
  if (!op) return;
  if (op->gemm) ganc_op_destroy(op->gemm);
  if (op->prim) dnnl_primitive_destroy(op->prim);
  for (int i = 0; i < 3; i++) {
    reorder_t *r = &op->reorder[i];
    if (r->prim) dnnl_primitive_destroy(r->prim);
    if (r->inner) dnnl_memory_destroy(r->inner);
    if (r->user) dnnl_memory_destroy(r->user);
  }
  if (op->scratch_mem) dnnl_memory_destroy(op->scratch_mem);
  if (op->bias) dnnl_memory_destroy(op->bias);
  free(op);
}

/* libgomp's ABI, as gcc-compiled OpenMP code calls it. */
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_thread_num(void);

typedef struct {
  void (*fn)(void *, int);
  void *ctx;
} ganc_job;

static void ganc_trampoline(void *p) {
  ganc_job *job = p;
  job->fn(job->ctx, omp_get_thread_num());
}

void ganc_parallel(int threads, void (*fn)(void *ctx, int part), void *ctx) {
  ganc_job job = {fn, ctx};
  if (threads <= 1) {
    fn(ctx, 0);
    return;
  }
  GOMP_parallel(ganc_trampoline, &job, (unsigned)threads, 0);
}
