// CUDA matmul: cublasGemmStridedBatchedEx. cuBLAS is column-major; a row-major C = op(A) op(B) is the
// column-major C^T = op(B)^T op(A)^T, so the operands are passed swapped and each row-major matrix is
// read as its column-major transpose (the usual trick; no copies). A batch of 1 on either side
// broadcasts through a stride of 0. float32 uses TF32 tensor cores when allow_tf32() (the default);
// bfloat16 operands run on bf16 tensor cores with float32 accumulation (CUBLAS_COMPUTE_32F, float
// alpha and beta) and a float32 or bfloat16 C: cuBLAS forms alpha * AB + beta * C in float and rounds
// a bf16 C once. k = 0 writes beta * C without cuBLAS, whose leading dimensions may not be 0.
#include <algorithm>

#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels (none: cuBLAS)

// launchers

namespace {

// A [..., rows, cols] operand as its matrices: the batch is the product of the leading dims (1 for a
// 2-D operand), as the tensor op hands them over (any rank, e.g. attention's [B, heads, N, d]).
struct MatrixDims {
  int64_t batch, rows, cols;
};
MatrixDims matrix_dims(const Tensor& t) {
  return {numel(Shape(t.shape().begin(), t.shape().end() - 2)), t.size(-2), t.size(-1)};
}

}  // namespace

void matmul(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, double alpha,
            double beta) {
  const MatrixDims da = matrix_dims(a), db = matrix_dims(b), dc = matrix_dims(c);
  const int64_t batch = dc.batch, m = dc.rows, n = dc.cols;
  const int64_t ra = da.rows, ca = da.cols, rb = db.rows, cb = db.cols;
  const int64_t k = trans_a ? ra : ca;
  auto shapes = [&] {
    return detail::concat(shape_str(a.shape()), trans_a ? "^T" : "", " @ ", shape_str(b.shape()),
                          trans_b ? "^T" : "", " -> ", shape_str(c.shape()));
  };
  TG_CHECK((trans_a ? ca : ra) == m && (trans_b ? cb : rb) == n && (trans_b ? rb : cb) == k &&
               (da.batch == batch || da.batch == 1) && (db.batch == batch || db.batch == 1),
           "matmul: ", shapes(), ": sizes do not agree");
  constexpr int64_t kIntMax = 2147483647;
  TG_CHECK(m <= kIntMax && n <= kIntMax && k <= kIntMax && batch <= kIntMax, "matmul: ", shapes(),
           ": a size exceeds cuBLAS's int range");
  if (batch == 0 || m == 0 || n == 0) return;
  if (k == 0 && beta == 0) {  // an empty sum: C = 0
    TG_CUDA_CHECK(cudaMemsetAsync(c.raw(), 0, c.nbytes(), stream()), "matmul ", shapes());
    return;
  }
  if (k == 0 && beta == 1) return;  // C = C (a linear layer's bias with no inputs)
  const long long stride_a = da.batch == 1 ? 0 : ra * ca, stride_b = db.batch == 1 ? 0 : rb * cb;
  const long long stride_c = m * n;
  // Column-major view: C^T [n, m] = op(B)^T [n, k] @ op(A)^T [k, m]; B's memory is B^T with ld = cb.
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const bool f64 = c.dtype() == DType::f64, bf16_in = a.dtype() == DType::bf16;
  auto type_of = [](DType t) { return t == DType::f64 ? CUDA_R_64F : t == DType::bf16 ? CUDA_R_16BF : CUDA_R_32F; };
  const cublasComputeType_t compute = f64                       ? CUBLAS_COMPUTE_64F
                                      : !bf16_in && allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                 : CUBLAS_COMPUTE_32F;
  // Leading dimensions are at least 1, as cuBLAS requires even of an empty operand.
  const int ld_a = static_cast<int>(std::max<int64_t>(ca, 1)), ld_b = static_cast<int>(std::max<int64_t>(cb, 1));
  // alpha and beta have the compute type's scalar type: double for float64, float otherwise.
  auto gemm = [&](const void* al, const void* be) {
    TG_CUBLAS_CHECK(cublasGemmStridedBatchedEx(cublas(), op_b, op_a, static_cast<int>(n), static_cast<int>(m),
                                               static_cast<int>(k), al, b.raw(), type_of(b.dtype()), ld_b, stride_b,
                                               a.raw(), type_of(a.dtype()), ld_a, stride_a, be, c.raw(),
                                               type_of(c.dtype()), static_cast<int>(n), stride_c,
                                               static_cast<int>(batch), compute, CUBLAS_GEMM_DEFAULT),
                    "matmul ", shapes());
  };
  if (f64) {
    const double al = alpha, be = beta;
    gemm(&al, &be);
  } else {
    const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
    gemm(&al, &be);
  }
}

}  // namespace tg::cuda
