#ifndef GANC_CKERNELS_H
#define GANC_CKERNELS_H

#include <stdint.h>

/* Our own vectorised loops (no library): the elementwise interpreter of
 * fused kernels, whole optimizer updates, layout conversion, sums, narrow
 * products and random normals. Each hot function is compiled for x86-64-v4
 * (AVX-512), x86-64-v3 (AVX2 + FMA) and baseline x86-64, and the loader picks
 * the best one this CPU runs (GNU ifunc), so the shipped binary stays
 * portable while using the whole vector width where it exists. */

enum {
  GANC_EW_SET = 0,    /* register filled by the caller (product, load, constant) */
  GANC_EW_UNARY = 1,
  GANC_EW_BINARY = 2,
};

enum {
  GANC_NEG, GANC_EXP, GANC_LOG, GANC_SQRT, GANC_RSQRT, GANC_TANH, GANC_SIGMOID, GANC_SOFTPLUS,
  GANC_ERF, GANC_ABS, GANC_SQUARE, GANC_RECIP, GANC_STEP, GANC_LEAKY_RELU, GANC_ELU,
};

enum { GANC_ADD, GANC_SUB, GANC_MUL, GANC_DIV, GANC_MAX, GANC_MIN, GANC_EQUAL };

typedef struct {
  int32_t kind;   /* GANC_EW_* */
  int32_t fn;     /* a unary or binary function */
  int32_t a, b;   /* argument registers */
  float param;    /* leaky_relu's slope */
  int32_t slot;   /* where in scratch the register's values go (tile floats each) */
} ganc_ew_instruction;

/* Runs the computing instructions of a program over one tile of n elements.
 * regs[r] points at register r's n values, or is NULL when the register holds
 * one value for the whole tile, in scalars[r]. Register r is computed into
 * scratch + slot * tile (registers share slots once read for the last time,
 * so the tile's working set stays in L1), the last one into out. Registers
 * set by the caller are left as they are. */
void ganc_ew_tile(const ganc_ew_instruction *code, int32_t count, const float **regs, float *scalars,
                  float *scratch, int64_t tile, float *out, int64_t n);

/* Where a register set from memory gets a tile's values. */
enum {
  GANC_SRC_HEAD = 0,       /* the kernel's output (its product's result), read in place */
  GANC_SRC_CONSTANT = 1,   /* value */
  GANC_SRC_CONTIGUOUS = 2, /* ptr, the output's shape: read in place */
  GANC_SRC_SCALAR = 3,     /* ptr[0] for every element */
  GANC_SRC_BROADCAST = 4,  /* element i reads ptr[sum(index_d * strides[d])] over shape[0..<rank] */
  GANC_SRC_BLOCKED = 5,    /* a per-channel operand of an nChw16c domain with hw pixels and blocks channel blocks */
};

#define GANC_MAX_RANK 16 /* a tensor has at most 13 axes (12 per sample, see DataProbe) */

typedef struct {
  int32_t reg;
  int32_t kind;  /* GANC_SRC_* */
  const float *ptr;
  float value;
  int32_t rank;
  int64_t shape[GANC_MAX_RANK], strides[GANC_MAX_RANK];
  int64_t hw, blocks;
} ganc_ew_source;

typedef struct {
  int32_t reg;
  float *into;
} ganc_ew_store;

/* A sum closing a kernel: element i adds into sums[(i / after) % kept], or
 * into its channel of an nChw16c domain when blocked_hw > 0. */
typedef struct {
  int64_t kept, after, blocked_hw;
} ganc_ew_sum;

/* Runs a whole elementwise kernel over elements first..<end, tile by tile:
 * sets the registers read from memory (gathering broadcasts into their
 * slots), runs the program (ganc_ew_tile), then writes the stores; with a
 * sum, each tile's result (in slot slot_count) is added into sums. scratch
 * holds (slot_count + 1) * tile floats. */
void ganc_ew_run(const ganc_ew_instruction *code, int32_t count, const ganc_ew_source *sources, int32_t source_count,
                 const ganc_ew_store *stores, int32_t store_count, const ganc_ew_sum *sum, double *sums, float *out,
                 int64_t first, int64_t end, float *scratch, int64_t tile, int32_t slot_count);

/* Blocks first..<first+count of an [N C H W] tensor between NCHW and
 * nChw16c; block b is image b / (C/16), channels 16 * (b % (C/16)) on. */
void ganc_nchw_blocks(const float *src, float *dst, int64_t c, int64_t hw, int64_t first, int64_t count, int to_blocked);

/* Columns c0..<c1 of the sums (or maxima) over the rows of a [rows, columns]
 * block: dst[c] = src[0][c] + src[1][c] + ..., row by row (a bias gradient). */
void ganc_column_reduce(const float *src, float *dst, int64_t rows, int64_t columns, int64_t c0, int64_t c1, int is_max);

/* Per-channel sums (or maxima) of an nChw16c tensor over the batch and the
 * pixels, for channel blocks first..<first+count; out has C entries. */
void ganc_blocked_channel_reduce(const float *src, float *out, int64_t n, int64_t c, int64_t hw, int64_t first, int64_t count, int is_max);

/* Adds elements start..<start+n of a tensor (values v[0..<n]) into acc, at
 * index (i / after) % kept; or, when blocked_hw > 0, into the channel of
 * element i of an nChw16c tensor with kept channels and blocked_hw pixels. */
void ganc_accumulate(const float *v, int64_t n, int64_t start, int64_t kept, int64_t after, int64_t blocked_hw, double *acc);

/* Rows m0..<m1 of C[M,N] = A op(B) for a product with only a few output
 * columns (A is [M,K] row-major; B is [K,N], or [N,K] with tb): one dot
 * product per element, which oneDNN's per-call setup would dominate. */
void ganc_narrow_matmul_rows(int64_t m0, int64_t m1, int64_t n, int64_t k, int tb, const float *a, const float *b, float *c);

/* Rows m0..<m1 of C[M,N] = A^T B with A stored [K,M] and B [K,N], N <= 2
 * (the weight gradient of a layer with one or two inputs): each row block of
 * C is summed over K in registers, reading A's rows along M. */
void ganc_narrow_matmul_ta_rows(int64_t m0, int64_t m1, int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c);

/* One optimizer update over a parameter, the operations and their order
 * exactly those of the elementwise program it replaces (so the bits are the
 * same). Outputs may be their inputs (updated in place).
 *   Adam:      s1' = s1*b1 + g*c1; s2' = s2*b2 + (g*g)*c2;
 *              p' = p - ((s1'*bias1) / (sqrt(s2'*bias2) + eps)) * lr
 *   RMSprop:   s1' = s1*b2 + (g*g)*c2; step = g / (sqrt(s1') + eps);
 *              with momentum s2' = s2*mu + step and p' = p - s2'*lr,
 *              else p' = p - step*lr
 *   SGD:       s1' = s1*mu + g; p' = p - s1'*lr (with momentum only)
 * with g replaced by g + p*wd under weight decay, and with clip,
 * p' = max(min(p', clip_hi), clip_lo) (a WGAN critic). */
enum { GANC_UPDATE_ADAM = 0, GANC_UPDATE_RMSPROP = 1, GANC_UPDATE_SGD = 2 };

typedef struct {
  int32_t kind;
  int32_t momentum; /* RMSprop with a momentum buffer in s2 */
  int32_t decay;    /* weight decay added to the gradient */
  int32_t clip;
  const float *g, *p, *s1, *s2;
  float *s1_out, *s2_out, *p_out;
  float b1, c1, b2, c2, eps, mu, wd, clip_hi, clip_lo;
  float bias1, bias2, lr; /* fed each step */
} ganc_update;

void ganc_optimizer_update(const ganc_update *u, int64_t first, int64_t count);

/* Standard normal numbers of one counter-based stream (GANIR's
 * CounterRandom): number i is Box-Muller over uniforms 2i and 2i+1 (24 bits
 * each, the first at least 2^-25), computed in float with our own log and
 * cos, without contraction, so the vector and scalar versions give the same
 * bits. out[j] is number first + j. */
void ganc_normal_fill(float *out, int64_t first, int64_t count, uint64_t seed, int64_t stream);
float ganc_normal_at(int64_t index, uint64_t seed, int64_t stream);

/* One unary function or binary function of floats, for scalar registers. */
float ganc_ew_unary1(int32_t fn, float x, float param);
float ganc_ew_binary1(int32_t fn, float a, float b);

#endif
