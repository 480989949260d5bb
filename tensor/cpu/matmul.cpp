// CPU batched GEMM: Eigen on row-major maps of each batch's matrices. Small matrices run one per
// OpenMP thread over the batch; large ones run one after another, each threaded by Eigen itself
// (Eigen runs single-threaded when it is called inside an OpenMP team, so the two never nest).
// bfloat16 operands are widened to float32 (exactly) and multiplied in float32: the numerics of a
// tensor-core bf16 GEMM with float32 accumulation, up to the order of the sums. A bfloat16 C is that
// float32 result (beta * C read as float32) rounded once.
#include <Eigen/Core>

#include "tensor/cpu/gemm_blocking.h"
#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

namespace tg::cpu {

namespace {

// Multiply-adds per matrix below which parallelism goes over the batch rather than into Eigen.
constexpr int64_t kSmallGemm = 64 * 64 * 64;

// The matrix dims of a [..., rows, cols] tensor, and its batch (the product of the leading dims).
struct MatrixDims {
  int64_t batch, rows, cols;
};
MatrixDims matrix_dims(const Tensor& t) {
  const int64_t r = t.size(-2), c = t.size(-1);
  return {r * c != 0 ? t.numel() / (r * c) : numel(Shape(t.shape().begin(), t.shape().end() - 2)), r, c};
}

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// c = alpha * op(a) @ op(b) + beta * c for one matrix triple. beta == 0 ignores c's old contents
// (which may be uninitialized).
template <class T>
void gemm(const T* pa, const T* pb, T* pc, const MatrixDims& da, const MatrixDims& db, const MatrixDims& dc,
          bool trans_a, bool trans_b, T alpha, T beta) {
  Eigen::Map<const RowMajor<T>> a(pa, da.rows, da.cols), b(pb, db.rows, db.cols);
  Eigen::Map<RowMajor<T>> c(pc, dc.rows, dc.cols);
  if (beta == T(0)) {
    c.setZero();
  } else if (beta != T(1)) {
    c *= beta;
  }
  if (trans_a && trans_b) {
    c.noalias() += alpha * (a.transpose() * b.transpose());
  } else if (trans_a) {
    c.noalias() += alpha * (a.transpose() * b);
  } else if (trans_b) {
    c.noalias() += alpha * (a * b.transpose());
  } else {
    c.noalias() += alpha * (a * b);
  }
}

}  // namespace

void matmul(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, double alpha,
            double beta) {
  if (a.dtype() == DType::bf16) {
    Tensor a32 = Tensor::empty(a.shape()), b32 = Tensor::empty(b.shape());
    cast(a, a32);
    cast(b, b32);
    if (c.dtype() == DType::f32) return matmul(a32, b32, c, trans_a, trans_b, alpha, beta);
    Tensor c32 = Tensor::empty(c.shape());
    if (beta != 0) cast(c, c32);
    matmul(a32, b32, c32, trans_a, trans_b, alpha, beta);
    cast(c32, c);
    return;
  }
  const MatrixDims da = matrix_dims(a), db = matrix_dims(b), dc = matrix_dims(c);
  fix_gemm_blocking();
  visit_floating(c.dtype(), "matmul", [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = c.data<T>();
    const int64_t inner = trans_a ? da.rows : da.cols;
    const int64_t flops = dc.rows * dc.cols * inner;
    // A side with batch 1 is broadcast: its stride over the batch is 0.
    const int64_t step_a = da.batch == 1 ? 0 : da.rows * da.cols, step_b = db.batch == 1 ? 0 : db.rows * db.cols;
    auto one = [&](int64_t i) {
      gemm<T>(pa + i * step_a, pb + i * step_b, pc + i * dc.rows * dc.cols, da, db, dc, trans_a, trans_b,
              static_cast<T>(alpha), static_cast<T>(beta));
    };
    if (dc.batch > 1 && flops < kSmallGemm) {
      parallel_for(dc.batch, flops, one);
    } else {
      for (int64_t i = 0; i < dc.batch; ++i) one(i);
    }
  });
}

}  // namespace tg::cpu
