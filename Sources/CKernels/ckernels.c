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

/* A square root that never sets errno, so loops holding one vectorise
 * without -fno-math-errno (a package others depend on may not pass flags). */
#if defined(__clang__) && __has_builtin(__builtin_elementwise_sqrt)
#define GANC_SQRTF(x) __builtin_elementwise_sqrt(x)
#else
#define GANC_SQRTF(x) sqrtf(x)
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

/* Random normals: contraction off from here, so the vector loop and the
 * scalar function (which are compiled for different targets) round alike. */
#pragma STDC FP_CONTRACT OFF

/* CounterRandom.mix: SplitMix64's finaliser. */
ALWAYS_INLINE uint64_t ganc_mix(uint64_t x) {
  uint64_t z = x + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* log of a normal positive float (Cephes logf, about 1 ulp): x = m 2^e with
 * m in [sqrt(1/2), sqrt(2)), a polynomial in m - 1. */
ALWAYS_INLINE float ganc_log_positive(float x) {
  int32_t bits;
  memcpy(&bits, &x, sizeof bits);
  int32_t e = ((bits >> 23) & 0xff) - 126;
  int32_t mb = (bits & 0x807fffff) | 0x3f000000; /* m in [0.5, 1) */
  float m;
  memcpy(&m, &mb, sizeof m);
  int small = m < 0.707106781186547524f;
  float fe = (float)(small ? e - 1 : e);
  float t = small ? m + m - 1.0f : m - 1.0f;
  float z = t * t;
  float y = ((((((((7.0376836292e-2f * t - 1.1514610310e-1f) * t + 1.1676998740e-1f) * t - 1.2420140846e-1f) * t +
                 1.4249322787e-1f) * t - 1.6668057665e-1f) * t + 2.0000714765e-1f) * t - 2.4999993993e-1f) * t +
             3.3333331174e-1f) * t * z;
  y = y + -2.12194440e-4f * fe;
  y = y + -0.5f * z;
  return (t + y) + 0.693359375f * fe;
}

/* cos(2 pi u) for u in [0, 1): u - round(u) in [-1/2, 1/2], folded to
 * |s| <= 1/4 (cos(2 pi t) = -cos(2 pi (1/2 - |t|))), then the even Taylor
 * series of cos to x^12 on |x| <= pi/2 (truncation below 1e-8). */
ALWAYS_INLINE float ganc_cos_2pi(float u) {
  float t = fabsf(u - floorf(u + 0.5f));
  int flip = t > 0.25f;
  float s = flip ? 0.5f - t : t;
  float x = 6.28318530717958648f * s;
  float z = x * x;
  float c = (((((2.08767569878681e-9f * z - 2.75573192239859e-7f) * z + 2.48015873015873e-5f) * z -
              1.38888888888889e-3f) * z + 4.16666666666667e-2f) * z - 0.5f) * z + 1.0f;
  return flip ? -c : c;
}

ALWAYS_INLINE float ganc_normal(uint64_t base, int64_t index) {
  float u1 = (float)(ganc_mix(base + (uint64_t)(2 * index)) >> 40) * 0x1p-24f;
  float u2 = (float)(ganc_mix(base + (uint64_t)(2 * index + 1)) >> 40) * 0x1p-24f;
  u1 = u1 > 0x1p-25f ? u1 : 0x1p-25f;
  return GANC_SQRTF(-2.0f * ganc_log_positive(u1)) * ganc_cos_2pi(u2);
}

ALWAYS_INLINE uint64_t ganc_stream_base(uint64_t seed, int64_t stream) {
  return ganc_mix(seed ^ ((uint64_t)stream * 0xD1B54A32D192ED03ull));
}

CLONES
void ganc_normal_fill(float *out, int64_t first, int64_t count, uint64_t seed, int64_t stream) {
  const uint64_t base = ganc_stream_base(seed, stream);
  for (int64_t j = 0; j < count; j++) out[j] = ganc_normal(base, first + j);
}

float ganc_normal_at(int64_t index, uint64_t seed, int64_t stream) {
  return ganc_normal(ganc_stream_base(seed, stream), index);
}

#pragma STDC FP_CONTRACT ON

float ganc_ew_unary1(int32_t fn, float x, float param) {
  switch (fn) {
  case GANC_NEG: return -x;
  case GANC_EXP: return ganc_exp(x);
  case GANC_LOG: return logf(x);
  case GANC_SQRT: return GANC_SQRTF(x);
  case GANC_RSQRT: return 1.0f / GANC_SQRTF(x);
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

#if defined(__clang__)
typedef float ganc_v16 __attribute__((ext_vector_type(16)));

/* Shuffles that swap the off-diagonal s x s blocks of two rows s apart. */
#define GANC_LO1 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define GANC_HI1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
#define GANC_LO2 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define GANC_HI2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define GANC_LO4 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define GANC_HI4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define GANC_LO8 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define GANC_HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define GANC_SWAP(s)                                                    \
  for (int i = 0; i < 16; i++) {                                        \
    if (i & s) continue;                                                \
    ganc_v16 a = r[i], b = r[i + s];                                    \
    r[i] = __builtin_shufflevector(a, b, GANC_LO##s);                   \
    r[i + s] = __builtin_shufflevector(a, b, GANC_HI##s);               \
  }

/* A 16 x 16 transpose in registers: four rounds of block swaps. */
ALWAYS_INLINE void transpose16(ganc_v16 r[16]) {
  GANC_SWAP(8)
  GANC_SWAP(4)
  GANC_SWAP(2)
  GANC_SWAP(1)
}
#endif

CLONES
void ganc_nchw_blocks(const float *src, float *dst, int64_t c, int64_t hw, int64_t first, int64_t count, int to_blocked) {
  int64_t cb = c / 16;
  for (int64_t b = first; b < first + count; b++) {
    int64_t n = b / cb, k = b % cb;
    const float *plain_in = src + (n * c + k * 16) * hw;
    float *plain_out = dst + (n * c + k * 16) * hw;
    const float *blocked_in = src + b * 16 * hw;
    float *blocked_out = dst + b * 16 * hw;
    int64_t p = 0;
#if defined(__clang__)
    /* 16 pixels x 16 channels at a time, transposed in registers. */
    for (; p + 16 <= hw; p += 16) {
      ganc_v16 r[16];
      if (to_blocked) {
        for (int l = 0; l < 16; l++) memcpy(&r[l], plain_in + l * hw + p, sizeof r[l]);
        transpose16(r);
        for (int q = 0; q < 16; q++) memcpy(blocked_out + (p + q) * 16, &r[q], sizeof r[q]);
      } else {
        for (int q = 0; q < 16; q++) memcpy(&r[q], blocked_in + (p + q) * 16, sizeof r[q]);
        transpose16(r);
        for (int l = 0; l < 16; l++) memcpy(plain_out + l * hw + p, &r[l], sizeof r[l]);
      }
    }
#endif
    if (to_blocked) {
      for (int64_t q = p; q < hw; q++)
        for (int64_t l = 0; l < 16; l++) blocked_out[q * 16 + l] = plain_in[l * hw + q];
    } else {
      for (int64_t l = 0; l < 16; l++)
        for (int64_t q = p; q < hw; q++) plain_out[l * hw + q] = blocked_in[q * 16 + l];
    }
  }
}

CLONES
void ganc_column_reduce(const float *src, float *dst, int64_t rows, int64_t columns, int64_t c0, int64_t c1, int is_max) {
  float *d = dst + c0;
  const int64_t n = c1 - c0;
  if (is_max) {
    memcpy(d, src + c0, (size_t)n * sizeof(float));
    for (int64_t r = 1; r < rows; r++) {
      const float *row = src + r * columns + c0;
      for (int64_t k = 0; k < n; k++) d[k] = row[k] > d[k] || row[k] != row[k] ? row[k] : d[k];
    }
    return;
  }
  /* Sums in double, a block of columns at a time: a float running sum over
   * the rows loses about rows * 2^-24 of a gradient that cancels (a bias
   * whose real and generated terms nearly balance); PyTorch's cascade sums
   * lose far less, and so do these. */
  enum { BLOCK = 256 };
  double acc[BLOCK];
  for (int64_t b = 0; b < n; b += BLOCK) {
    const int64_t m = n - b < BLOCK ? n - b : BLOCK;
    for (int64_t k = 0; k < m; k++) acc[k] = 0;
    for (int64_t r = 0; r < rows; r++) {
      const float *row = src + r * columns + c0 + b;
      for (int64_t k = 0; k < m; k++) acc[k] += row[k];
    }
    for (int64_t k = 0; k < m; k++) d[b + k] = (float)acc[k];
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
    /* In double: a sum such as a logit's bias gradient, whose real and
     * generated halves nearly cancel, keeps its last bits. */
    double s = 0;
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
      double s = 0;
      for (int64_t k = i; k < stop; k++) s += v[k - start];
      acc[(i / after) % kept] += s;
      i = stop;
    }
  }
}

CLONES
void ganc_narrow_matmul_rows(int64_t m0, int64_t m1, int64_t n, int64_t k, int tb, const float *a, const float *b, float *c) {
  /* B as [N,K] rows, so each output is a contiguous dot product: a B stored
   * [K,N] is transposed into a small local copy first (read with stride N it
   * ran at half oneDNN's speed). */
  enum { LOCAL = 8192 };
  float local[LOCAL];
  if (!tb && n * k <= LOCAL) {
    for (int64_t p = 0; p < k; p++)
      for (int64_t j = 0; j < n; j++) local[j * k + p] = b[p * n + j];
    b = local;
    tb = 1;
  }
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
 * to scalar code when an output is its input). min and max keep the
 * interpreter's NaN rule (a NaN first argument wins). */
#pragma STDC FP_CONTRACT OFF

/* The gradient, with weight decay added as the program does (g + p*wd). */
ALWAYS_INLINE float decayed(const float *g, const float *p, int64_t i, int decay, float wd) {
  float t = p[i] * wd;
  return decay ? g[i] + t : g[i];
}

/* A second moment: s*b2 + (g*g)*c2 (Adam's v, RMSprop's square average). */
ALWAYS_INLINE float second_moment(float s, float g, float b2, float c2) {
  float v = s * b2;
  float g2 = g * g;
  g2 = g2 * c2;
  return v + g2;
}

/* RMSprop's step before momentum: g / (sqrt(v) + eps). */
ALWAYS_INLINE float rmsprop_step(float g, float v, float eps) {
  float d = GANC_SQRTF(v);
  d = d + eps;
  return g / d;
}

/* The parameter after a step: p - step*lr, clipped into [lo, hi] for a WGAN
 * critic (min then max, a NaN first argument winning as in the interpreter). */
ALWAYS_INLINE float descended(float p, float step, float lr, int clip, float hi, float lo) {
  float q = step * lr;
  float x = p - q;
  if (!clip) return x;
  x = x < hi || x != x ? x : hi;
  return x > lo || x != x ? x : lo;
}

#if defined(__clang__)
#define GANC_SAFE_LOOP _Pragma("clang loop vectorize(assume_safety)")
#else
#define GANC_SAFE_LOOP
#endif

CLONES
void ganc_optimizer_update(const ganc_update *u, int64_t first, int64_t count) {
  const float *g = u->g, *p = u->p, *s1 = u->s1, *s2 = u->s2;
  float *s1_out = u->s1_out, *s2_out = u->s2_out, *p_out = u->p_out;
  const float b1 = u->b1, c1 = u->c1, b2 = u->b2, c2 = u->c2, eps = u->eps, mu = u->mu;
  const float bias1 = u->bias1, bias2 = u->bias2, lr = u->lr;
  const int clip = u->clip, momentum = u->momentum, decay = u->decay;
  const float hi = u->clip_hi, lo = u->clip_lo, wd = u->wd;
  const int64_t end = first + count;
  switch (u->kind) {
  case GANC_UPDATE_ADAM:
    GANC_SAFE_LOOP
    for (int64_t i = first; i < end; i++) {
      float gi = decayed(g, p, i, decay, wd);
      float mi = s1[i] * b1;
      float gm = gi * c1;
      mi = mi + gm;
      float vi = second_moment(s2[i], gi, b2, c2);
      float mh = mi * bias1;
      float vh = vi * bias2;
      float d = GANC_SQRTF(vh);
      d = d + eps;
      float q = mh / d;
      s1_out[i] = mi;
      s2_out[i] = vi;
      p_out[i] = descended(p[i], q, lr, clip, hi, lo);
    }
    break;
  case GANC_UPDATE_RMSPROP:
    /* Two loops, so neither has a store under a branch (which kept the
     * vectoriser off: a branchy loop ran 3x slower than the interpreter). */
    if (momentum) {
      GANC_SAFE_LOOP
      for (int64_t i = first; i < end; i++) {
        float gi = decayed(g, p, i, decay, wd);
        float vi = second_moment(s1[i], gi, b2, c2);
        float bm = s2[i] * mu;
        float step = bm + rmsprop_step(gi, vi, eps);
        s1_out[i] = vi;
        s2_out[i] = step;
        p_out[i] = descended(p[i], step, lr, clip, hi, lo);
      }
    } else {
      GANC_SAFE_LOOP
      for (int64_t i = first; i < end; i++) {
        float gi = decayed(g, p, i, decay, wd);
        float vi = second_moment(s1[i], gi, b2, c2);
        s1_out[i] = vi;
        p_out[i] = descended(p[i], rmsprop_step(gi, vi, eps), lr, clip, hi, lo);
      }
    }
    break;
  case GANC_UPDATE_SGD:
    GANC_SAFE_LOOP
    for (int64_t i = first; i < end; i++) {
      float bm = s1[i] * mu;
      bm = bm + decayed(g, p, i, decay, wd);
      s1_out[i] = bm;
      p_out[i] = descended(p[i], bm, lr, clip, hi, lo);
    }
    break;
  }
}


#pragma STDC FP_CONTRACT ON

CLONES
void ganc_narrow_matmul_ta_rows(int64_t m0, int64_t m1, int64_t m, int64_t n, int64_t k, const float *a, const float *b, float *c) {
  enum { BLOCK = 64 };
  for (int64_t i = m0; i < m1; i += BLOCK) {
    int64_t w = m1 - i < BLOCK ? m1 - i : BLOCK;
    float acc0[BLOCK] = {0}, acc1[BLOCK] = {0};
    for (int64_t p = 0; p < k; p++) {
      const float *ap = a + p * m + i;
      float b0 = b[p * n], b1 = n > 1 ? b[p * n + 1] : 0.0f;
      if (w == BLOCK) {
        for (int l = 0; l < BLOCK; l++) {
          acc0[l] += ap[l] * b0;
          acc1[l] += ap[l] * b1;
        }
      } else {
        for (int64_t l = 0; l < w; l++) {
          acc0[l] += ap[l] * b0;
          acc1[l] += ap[l] * b1;
        }
      }
    }
    for (int64_t l = 0; l < w; l++) {
      c[(i + l) * n] = acc0[l];
      if (n > 1) c[(i + l) * n + 1] = acc1[l];
    }
  }
}

/* One loop per function: each is a plain loop the compiler vectorises. */
#define UNARY_LOOP(expr) for (int64_t i = 0; i < n; i++) { float x = a[i]; d[i] = (expr); } break;

ALWAYS_INLINE void unary(int32_t fn, const float *a, float *d, int64_t n, float s) {
  switch (fn) {
  case GANC_NEG: UNARY_LOOP(-x)
  case GANC_EXP: UNARY_LOOP(ganc_exp(x))
  case GANC_LOG: UNARY_LOOP(logf(x))
  case GANC_SQRT: UNARY_LOOP(GANC_SQRTF(x))
  case GANC_RSQRT: UNARY_LOOP(1.0f / GANC_SQRTF(x))
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

/* Where a broadcast operand is read: the output element's index over the
 * operand's merged axes and the offset it reads. Set once per call (with
 * divisions), then moved along tile by tile without dividing. */
typedef struct {
  int64_t index[GANC_MAX_RANK];
  int64_t offset;
} ganc_cursor;

static void cursor_at(const ganc_ew_source *s, int64_t start, ganc_cursor *c) {
  int64_t rest = start;
  c->offset = 0;
  for (int32_t d = s->rank - 1; d >= 0; d--) {
    c->index[d] = rest % s->shape[d];
    rest /= s->shape[d];
    c->offset += c->index[d] * s->strides[d];
  }
}

/* Moves the cursor by `run` elements that stay within one innermost run. */
static inline void cursor_step(const ganc_ew_source *s, ganc_cursor *c, int64_t run) {
  const int32_t last = s->rank - 1;
  c->offset += run * s->strides[last];
  c->index[last] += run;
  int32_t d = last;
  while (d > 0 && c->index[d] == s->shape[d]) {
    c->offset -= c->index[d] * s->strides[d];
    c->index[d] = 0;
    d -= 1;
    c->index[d] += 1;
    c->offset += s->strides[d];
  }
}

/* n elements of a broadcast operand from the cursor into dst, run by run
 * along the innermost axis; leaves the cursor n elements on. */
static void gather_broadcast(const ganc_ew_source *s, ganc_cursor *c, int64_t n, float *dst) {
  const int32_t last = s->rank - 1;
  const float *src = s->ptr;
  const int64_t inner_stride = s->strides[last], inner_size = s->shape[last];
  int64_t k = 0;
  while (k < n) {
    int64_t run = inner_size - c->index[last];
    if (run > n - k) run = n - k;
    const float *from = src + c->offset;
    if (inner_stride == 0) {
      float v = *from;
      for (int64_t t = 0; t < run; t++) dst[k + t] = v;
    } else if (inner_stride == 1) {
      memcpy(dst + k, from, (size_t)run * sizeof(float));
    } else {
      for (int64_t t = 0; t < run; t++) dst[k + t] = from[t * inner_stride];
    }
    k += run;
    cursor_step(s, c, run);
  }
}

/* Elements start..<start+n of a per-channel operand over an nChw16c domain:
 * runs of the block's 16 channels, repeated for every pixel. */
/* Moves a per-channel cursor by `run` elements within the current block's
 * pixels, on to the next block (cyclically over the batch) at its end. */
static inline void blocked_step(const ganc_ew_source *s, ganc_cursor *c, int64_t run) {
  c->index[0] += run;
  if (c->index[0] == 16 * s->hw) {
    c->index[0] = 0;
    c->index[1] = c->index[1] + 1 == s->blocks ? 0 : c->index[1] + 1;
  }
}

static void gather_blocked_channels(const ganc_ew_source *s, ganc_cursor *c, int64_t n, float *dst) {
  /* The cursor holds the position within the current channel block's
   * pixels (index[0], a multiple of 16 plus the lane) and the block (index[1]). */
  const int64_t span = 16 * s->hw;
  int64_t k = 0;
  while (k < n) {
    int64_t run = span - c->index[0];
    if (run > n - k) run = n - k;
    const float *channels = s->ptr + c->index[1] * 16;
    int64_t lane = c->index[0] & 15, t = 0;
    for (; t < run && lane != 0; t++, lane = (lane + 1) & 15) dst[k + t] = channels[lane];
    for (; t + 16 <= run; t += 16) memcpy(dst + k + t, channels, 16 * sizeof(float));
    for (; t < run; t++, lane = (lane + 1) & 15) dst[k + t] = channels[lane];
    k += run;
    blocked_step(s, c, run);
  }
}

void ganc_ew_run(const ganc_ew_instruction *code, int32_t count, const ganc_ew_source *sources, int32_t source_count,
                 const ganc_ew_store *stores, int32_t store_count, const ganc_ew_sum *sum, double *sums, float *out,
                 int64_t first, int64_t end, float *scratch, int64_t tile, int32_t slot_count) {
  const float *regs[count > 0 ? count : 1];
  float scalars[count > 0 ? count : 1];
  ganc_cursor cursors[source_count > 0 ? source_count : 1];
  /* What a blocked operand's slot holds: n elements of block filled_block from filled_lane (0: nothing reusable). */
  int64_t filled[source_count > 0 ? source_count : 1], filled_block[source_count > 0 ? source_count : 1],
      filled_lane[source_count > 0 ? source_count : 1];
  for (int32_t k = 0; k < source_count; k++) filled[k] = 0;
  for (int32_t k = 0; k < source_count; k++)
    if (sources[k].kind == GANC_SRC_BROADCAST) {
      cursor_at(&sources[k], first, &cursors[k]);
    } else if (sources[k].kind == GANC_SRC_BLOCKED) {
      const int64_t span = 16 * sources[k].hw;
      cursors[k].index[0] = first % span;
      cursors[k].index[1] = (first / span) % sources[k].blocks;
    }
  for (int64_t start = first; start < end; start += tile) {
    const int64_t n = end - start < tile ? end - start : tile;
    for (int32_t k = 0; k < source_count; k++) {
      const ganc_ew_source *s = &sources[k];
      float *slot = scratch + (int64_t)code[s->reg].slot * tile;
      switch (s->kind) {
      case GANC_SRC_HEAD: regs[s->reg] = out + start; break;
      case GANC_SRC_CONSTANT: regs[s->reg] = NULL; scalars[s->reg] = s->value; break;
      case GANC_SRC_CONTIGUOUS: regs[s->reg] = s->ptr + start; break;
      case GANC_SRC_SCALAR: regs[s->reg] = NULL; scalars[s->reg] = s->ptr[0]; break;
      case GANC_SRC_BROADCAST: {
        /* Within one run of the innermost axis the tile reads one value
         * (a scalar register) or consecutive values (read in place). */
        ganc_cursor *c = &cursors[k];
        const int32_t last = s->rank - 1;
        const int64_t stride = s->strides[last];
        if (s->shape[last] - c->index[last] >= n && (stride == 0 || stride == 1)) {
          if (stride == 0) {
            regs[s->reg] = NULL;
            scalars[s->reg] = s->ptr[c->offset];
          } else {
            regs[s->reg] = s->ptr + c->offset;
          }
          cursor_step(s, c, n);
        } else {
          gather_broadcast(s, c, n, slot);
          regs[s->reg] = slot;
        }
        break;
      }
      case GANC_SRC_BLOCKED: {
        /* A tile inside one channel block is the block's 16 channels
         * repeated from a lane: the slot (which no other register shares)
         * still holds it from the previous tile when the block and the lane
         * are the same and that tile was at least as long. */
        ganc_cursor *c = &cursors[k];
        const int64_t span = 16 * s->hw, lane = c->index[0] & 15;
        const int within = span - c->index[0] >= n;
        if (within && filled[k] >= n && filled_block[k] == c->index[1] && filled_lane[k] == lane) {
          blocked_step(s, c, n);
        } else {
          filled_block[k] = c->index[1];
          filled_lane[k] = lane;
          filled[k] = within ? n : 0;
          gather_blocked_channels(s, c, n, slot);
        }
        regs[s->reg] = slot;
        break;
      }
      }
    }
    /* A summed tile goes to the spare slot, then into the sums. */
    float *result = sum ? scratch + (int64_t)slot_count * tile : out + start;
    ganc_ew_tile(code, count, regs, scalars, scratch, tile, result, n);
    if (sum) ganc_accumulate(result, n, start, sum->kept, sum->after, sum->blocked_hw, sums);
    /* Every register of the tile is computed: the stores may now overwrite operands. */
    for (int32_t k = 0; k < store_count; k++) {
      float *into = stores[k].into + start;
      const float *values = regs[stores[k].reg];
      if (values) {
        memcpy(into, values, (size_t)n * sizeof(float));
      } else {
        for (int64_t i = 0; i < n; i++) into[i] = scalars[stores[k].reg];
      }
    }
  }
}
