#include "ckernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* On x86-64, one copy per vector level, chosen when the program loads; elsewhere the compiler's default. */
#if defined(__x86_64__) && defined(__ELF__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif

/* Helpers of cloned functions are always inlined: target_clones compiles only
 * the cloned function itself for each vector level, so a helper left as a
 * call runs at the default (SSE2) width in every clone. */
#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* exp for floats, vectorisable: n = round(x / ln 2), r = x - n ln 2 in two
 * parts, a degree-6 polynomial for e^r (Cephes expf, about 1 ulp), times 2^n
 * built in the exponent bits (as 2^(n-1) * 2, so n = 128 still works). NaN
 * passes through, above 88.72 is infinity, below -87.3 (where e^x is no
 * longer a normal float) is zero. */
ALWAYS_INLINE float ganc_exp(float x) {
  float c = fminf(fmaxf(x, -87.3f), 88.72f);
  float k = floorf(c * 1.44269504088896341f + 0.5f);
  float r = c - k * 0.693359375f + k * 2.12194440e-4f;
  float z = r * r;
  float p = ((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
             1.6666665459e-1f) * r + 5.0000001201e-1f;
  float y = p * z + r + 1.0f;
  int32_t bits = ((int32_t)k + 126) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  float e = y * scale * 2.0f;
  e = x > 88.72f ? INFINITY : e;
  e = x < -87.3f ? 0.0f : e;
  return x != x ? x : e;
}

/* tanh: an odd polynomial near zero (Cephes tanhf), 1 - 2 / (e^2|x| + 1) beyond. */
ALWAYS_INLINE float ganc_tanh(float x) {
  float ax = fabsf(x);
  float z = x * x;
  float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
                 3.33332819422e-1f) * z * x + x;
  float big = 1.0f - 2.0f / (ganc_exp(2.0f * fminf(ax, 20.0f)) + 1.0f);
  big = x < 0 ? -big : big;
  big = x != x ? x : big;
  return ax < 0.625f ? small : big;
}

/* sigmoid from e^-|x|, so neither branch overflows. */
ALWAYS_INLINE float ganc_sigmoid(float x) {
  float e = ganc_exp(-fabsf(x));
  float s = 1.0f / (1.0f + e);
  return x >= 0 ? s : e * s;
}

float ganc_ew_unary1(int32_t fn, float x, float param) {
  switch (fn) {
  case GANC_NEG: return -x;
  case GANC_EXP: return ganc_exp(x);
  case GANC_LOG: return logf(x);
  case GANC_SQRT: return sqrtf(x);
  case GANC_RSQRT: return 1.0f / sqrtf(x);
  case GANC_TANH: return ganc_tanh(x);
  case GANC_SIGMOID: return ganc_sigmoid(x);
  case GANC_SOFTPLUS: return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
  case GANC_ERF: return erff(x);
  case GANC_ABS: return fabsf(x);
  case GANC_SQUARE: return x * x;
  case GANC_RECIP: return 1.0f / x;
  case GANC_STEP: return x > 0 ? 1.0f : 0.0f;
  case GANC_LEAKY_RELU: return x > 0 ? x : param * x;
  case GANC_ELU: return x > 0 ? x : expm1f(x);
  }
  return NAN;
}

float ganc_ew_binary1(int32_t fn, float a, float b) {
  switch (fn) {
  case GANC_ADD: return a + b;
  case GANC_SUB: return a - b;
  case GANC_MUL: return a * b;
  case GANC_DIV: return a / b;
  case GANC_MAX: return a > b || a != a ? a : b;
  case GANC_MIN: return a < b || a != a ? a : b;
  case GANC_EQUAL: return a == b ? 1.0f : 0.0f;
  }
  return NAN;
}

CLONES
void ganc_nchw_blocks(const float *src, float *dst, int64_t c, int64_t hw, int64_t first, int64_t count, int to_blocked) {
  int64_t cb = c / 16;
  for (int64_t b = first; b < first + count; b++) {
    int64_t n = b / cb, k = b % cb;
    const float *plain_in = src + (n * c + k * 16) * hw;
    float *plain_out = dst + (n * c + k * 16) * hw;
    const float *blocked_in = src + b * 16 * hw;
    float *blocked_out = dst + b * 16 * hw;
    if (to_blocked) {
      for (int64_t p = 0; p < hw; p++)
        for (int64_t l = 0; l < 16; l++) blocked_out[p * 16 + l] = plain_in[l * hw + p];
    } else {
      for (int64_t l = 0; l < 16; l++)
        for (int64_t p = 0; p < hw; p++) plain_out[l * hw + p] = blocked_in[p * 16 + l];
    }
  }
}

CLONES
void ganc_blocked_channel_reduce(const float *src, float *out, int64_t n, int64_t c, int64_t hw, int64_t first, int64_t count, int is_max) {
  int64_t cb = c / 16;
  for (int64_t k = first; k < first + count; k++) {
    double total[16] = {0};
    float best[16];
    for (int l = 0; l < 16; l++) best[l] = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
      const float *p = src + (i * cb + k) * 16 * hw;
      /* Per image: float partial sums per lane, then into doubles. */
      float part[16] = {0};
      for (int64_t q = 0; q < hw; q++) {
        for (int l = 0; l < 16; l++) {
          float v = p[q * 16 + l];
          part[l] += v;
          best[l] = v > best[l] || v != v ? v : best[l];
        }
      }
      for (int l = 0; l < 16; l++) total[l] += part[l];
    }
    for (int l = 0; l < 16; l++) out[k * 16 + l] = is_max ? best[l] : (float)total[l];
  }
}

CLONES
void ganc_accumulate(const float *v, int64_t n, int64_t start, int64_t kept, int64_t after, int64_t blocked_hw, double *acc) {
  int64_t end = start + n, i = start;
  if (kept == 1) {
    float s = 0;
    for (int64_t k = 0; k < n; k++) s += v[k];
    acc[0] += s;
  } else if (blocked_hw > 0) {
    int64_t span = 16 * blocked_hw, blocks = kept / 16;
    while (i < end) {
      int64_t stop = (i / span + 1) * span;
      if (stop > end) stop = end;
      float lanes[16] = {0};
      for (int64_t k = i; k < stop; k++) lanes[k & 15] += v[k - start];
      double *a = acc + ((i / span) % blocks) * 16;
      for (int l = 0; l < 16; l++) a[l] += lanes[l];
      i = stop;
    }
  } else if (after == 1) {
    while (i < end) {
      int64_t idx = i % kept, run = kept - idx;
      if (run > end - i) run = end - i;
      const float *p = v + (i - start);
      for (int64_t t = 0; t < run; t++) acc[idx + t] += p[t];
      i += run;
    }
  } else {
    while (i < end) {
      int64_t stop = (i / after + 1) * after;
      if (stop > end) stop = end;
      float s = 0;
      for (int64_t k = i; k < stop; k++) s += v[k - start];
      acc[(i / after) % kept] += s;
      i = stop;
    }
  }
}

CLONES
void ganc_narrow_matmul_rows(int64_t m0, int64_t m1, int64_t n, int64_t k, int tb, const float *a, const float *b, float *c) {
  for (int64_t i = m0; i < m1; i++) {
    const float *ai = a + i * k;
    for (int64_t j = 0; j < n; j++) {
      /* 16 partial sums, so the loop vectorises without reassociating. */
      float lanes[16] = {0};
      int64_t p = 0;
      if (tb) {
        const float *bj = b + j * k;
        for (; p + 16 <= k; p += 16)
          for (int l = 0; l < 16; l++) lanes[l] += ai[p + l] * bj[p + l];
        for (; p < k; p++) lanes[0] += ai[p] * bj[p];
      } else {
        for (; p + 16 <= k; p += 16)
          for (int l = 0; l < 16; l++) lanes[l] += ai[p + l] * b[(p + l) * n + j];
        for (; p < k; p++) lanes[0] += ai[p] * b[p * n + j];
      }
      float s = 0;
      for (int l = 0; l < 16; l++) s += lanes[l];
      c[i * n + j] = s;
    }
  }
}

/* Each statement one rounding, in the program's order: no contraction into
 * FMAs, which would change the bits against the interpreted program. Every
 * iteration reads element i before writing it, so in-place outputs are safe
 * to vectorise (without the hint the compiler's overlap check would fall back
 * to scalar code when an output is its input). */
CLONES
void ganc_adam(const float *g, const float *m, const float *v, const float *p, float *m_out, float *v_out, float *p_out,
               int64_t first, int64_t count, float b1, float c1, float b2, float c2, float eps, float bias1, float bias2,
               float lr) {
#pragma STDC FP_CONTRACT OFF
#if defined(__clang__)
#pragma clang loop vectorize(assume_safety)
#endif
  for (int64_t i = first; i < first + count; i++) {
    float gi = g[i];
    float mi = m[i] * b1;
    float gm = gi * c1;
    mi = mi + gm;
    float vi = v[i] * b2;
    float g2 = gi * gi;
    g2 = g2 * c2;
    vi = vi + g2;
    float mh = mi * bias1;
    float vh = vi * bias2;
    float d = sqrtf(vh);
    d = d + eps;
    float q = mh / d;
    q = q * lr;
    float pi = p[i] - q;
    m_out[i] = mi;
    v_out[i] = vi;
    p_out[i] = pi;
  }
}

/* One loop per function: each is a plain loop the compiler vectorises. */
#define UNARY_LOOP(expr) for (int64_t i = 0; i < n; i++) { float x = a[i]; d[i] = (expr); } break;

ALWAYS_INLINE void unary(int32_t fn, const float *a, float *d, int64_t n, float s) {
  switch (fn) {
  case GANC_NEG: UNARY_LOOP(-x)
  case GANC_EXP: UNARY_LOOP(ganc_exp(x))
  case GANC_LOG: UNARY_LOOP(logf(x))
  case GANC_SQRT: UNARY_LOOP(sqrtf(x))
  case GANC_RSQRT: UNARY_LOOP(1.0f / sqrtf(x))
  case GANC_TANH: UNARY_LOOP(ganc_tanh(x))
  case GANC_SIGMOID: UNARY_LOOP(ganc_sigmoid(x))
  case GANC_SOFTPLUS: UNARY_LOOP(fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))))
  case GANC_ERF: UNARY_LOOP(erff(x))
  case GANC_ABS: UNARY_LOOP(fabsf(x))
  case GANC_SQUARE: UNARY_LOOP(x * x)
  case GANC_RECIP: UNARY_LOOP(1.0f / x)
  case GANC_STEP: UNARY_LOOP(x > 0 ? 1.0f : 0.0f)
  case GANC_LEAKY_RELU: UNARY_LOOP(x > 0 ? x : s * x)
  case GANC_ELU: UNARY_LOOP(x > 0 ? x : expm1f(x))
  }
}

/* Binary loops over two vectors, a vector and a scalar, or a scalar and a vector. */
#define BINARY_LOOPS(A, B)                                                                  \
  switch (fn) {                                                                             \
  case GANC_ADD: for (int64_t i = 0; i < n; i++) d[i] = (A) + (B); break;                   \
  case GANC_SUB: for (int64_t i = 0; i < n; i++) d[i] = (A) - (B); break;                   \
  case GANC_MUL: for (int64_t i = 0; i < n; i++) d[i] = (A) * (B); break;                   \
  case GANC_DIV: for (int64_t i = 0; i < n; i++) d[i] = (A) / (B); break;                   \
  case GANC_MAX: for (int64_t i = 0; i < n; i++) { float x = (A), y = (B); d[i] = x > y || x != x ? x : y; } break; \
  case GANC_MIN: for (int64_t i = 0; i < n; i++) { float x = (A), y = (B); d[i] = x < y || x != x ? x : y; } break; \
  case GANC_EQUAL: for (int64_t i = 0; i < n; i++) d[i] = (A) == (B) ? 1.0f : 0.0f; break;  \
  }

ALWAYS_INLINE void binary_vv(int32_t fn, const float *a, const float *b, float *d, int64_t n) { BINARY_LOOPS(a[i], b[i]) }
ALWAYS_INLINE void binary_vs(int32_t fn, const float *a, float c, float *d, int64_t n) { BINARY_LOOPS(a[i], c) }
ALWAYS_INLINE void binary_sv(int32_t fn, float c, const float *b, float *d, int64_t n) { BINARY_LOOPS(c, b[i]) }

CLONES
void ganc_ew_tile(const ganc_ew_instruction *code, int32_t count, const float **regs, float *scalars,
                  float *scratch, int64_t tile, float *out, int64_t n) {
  for (int32_t r = 0; r < count; r++) {
    const ganc_ew_instruction *in = &code[r];
    if (in->kind == GANC_EW_SET) continue;
    float *d = r == count - 1 ? out : scratch + (int64_t)in->slot * tile;
    const float *a = regs[in->a];
    if (in->kind == GANC_EW_UNARY) {
      if (a) {
        unary(in->fn, a, d, n, in->param);
        regs[r] = d;
      } else {
        scalars[r] = ganc_ew_unary1(in->fn, scalars[in->a], in->param);
        regs[r] = NULL;
      }
    } else {
      const float *b = regs[in->b];
      if (a && b) {
        binary_vv(in->fn, a, b, d, n);
        regs[r] = d;
      } else if (a) {
        binary_vs(in->fn, a, scalars[in->b], d, n);
        regs[r] = d;
      } else if (b) {
        binary_sv(in->fn, scalars[in->a], b, d, n);
        regs[r] = d;
      } else {
        scalars[r] = ganc_ew_binary1(in->fn, scalars[in->a], scalars[in->b]);
        regs[r] = NULL;
      }
    }
  }
  /* A program whose result is one value for the whole tile. */
  if (count > 0 && regs[count - 1] == NULL) {
    float v = scalars[count - 1];
    for (int64_t i = 0; i < n; i++) out[i] = v;
  } else if (count > 0 && regs[count - 1] != out) {
    memmove(out, regs[count - 1], (size_t)n * sizeof(float));
  }
}
