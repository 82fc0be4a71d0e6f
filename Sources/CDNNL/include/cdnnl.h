#ifndef GANC_CDNNL_H
#define GANC_CDNNL_H
#include <stddef.h>
#include <stdint.h>

/// A oneDNN primitive with everything it needs: memory descriptors, the
/// reorders between our plain layouts and the layouts oneDNN prefers, and the
/// size of the scratch space (oneDNN's scratchpad plus reordered copies),
/// which the caller provides from its arena.
typedef struct ganc_dnnl_op ganc_dnnl_op;

/// The three directions of a 2-D convolution (NCHW data, OIHW weights).
typedef enum {
  GANC_CONV_FORWARD = 0,       ///< y = conv(x, w): inputs x, w; output y
  GANC_CONV_BACKWARD_DATA = 1, ///< dx = conv_transpose(dy, w): inputs dy, w; output dx
  GANC_CONV_BACKWARD_WEIGHTS = 2 ///< dw = conv_weight(x, dy): inputs x, dy; output dw
} ganc_conv_kind;

typedef struct {
  int64_t n, c, h, w;        ///< input (x) shape
  int64_t f, kh, kw;         ///< filters and kernel
  int64_t oh, ow;            ///< output (y) spatial size
  int64_t stride[2], dilation[2];
  int64_t pad_l[2], pad_r[2];
  int32_t x_blocked, y_blocked;   ///< x or y (or their gradients) lie in nChw16c, not NCHW
  int32_t columns_max_c;          ///< transposed convolutions to at most this many channels run as matmul + col2im
} ganc_conv_shape;

/// What oneDNN computes on a product's result before writing it (its bias
/// argument and an eltwise post-op), so no second pass reads it back.
typedef enum {
  GANC_ACT_NONE = 0,
  GANC_ACT_RELU = 1,      ///< leaky ReLU with slope alpha (0: ReLU)
  GANC_ACT_TANH = 2,
  GANC_ACT_SIGMOID = 3,
  GANC_ACT_ELU = 4,       ///< with alpha 1
} ganc_activation;

typedef struct {
  int32_t bias;           ///< add a bias: [1, N] for a matmul, [F] for a convolution
  ganc_activation activation;
  float alpha;
} ganc_epilogue;

/// C[M,N] = op(A) op(B), row-major; A is [M,K] (or [K,M] with trans_a).
/// With batch > 0, each operand is `batch` such matrices, one after another.
/// `epilogue` may be NULL (and must be, batched).
ganc_dnnl_op *ganc_matmul_create(int64_t batch, int64_t m, int64_t n, int64_t k, int trans_a, int trans_b,
                                 const ganc_epilogue *epilogue, char *error, size_t error_size);
/// `epilogue` (forward only) may be NULL.
ganc_dnnl_op *ganc_conv_create(ganc_conv_kind kind, const ganc_conv_shape *shape, const ganc_epilogue *epilogue,
                               char *error, size_t error_size);
/// Bytes of scratch space `execute` needs (64-byte aligned pointer).
size_t ganc_op_scratch_size(const ganc_dnnl_op *op);
/// Runs the op on its buffers (bias: NULL unless the epilogue adds one); returns 0 on success.
int ganc_op_execute(ganc_dnnl_op *op, const float *in0, const float *in1, const float *bias, float *out, void *scratch);
/// The implementation oneDNN chose, for reports ("brgemm:avx512_core", ...).
const char *ganc_op_implementation(const ganc_dnnl_op *op);
void ganc_op_destroy(ganc_dnnl_op *op);
/// Sets the OpenMP threads oneDNN uses.
void ganc_dnnl_set_threads(int threads);
#endif

#ifndef GANC_CDNNL_PARALLEL
#define GANC_CDNNL_PARALLEL
/// Runs fn(ctx, part) for part 0..<threads on the OpenMP team that oneDNN
/// also uses, so our kernels and oneDNN's never compete for cores.
void ganc_parallel(int threads, void (*fn)(void *ctx, int part), void *ctx);
#endif
