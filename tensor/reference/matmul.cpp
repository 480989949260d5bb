// Reference matmul. With A = op(a) [m, k] and B = op(b) [k, n] for each batch entry (op transposes
// when its flag is set):
//   c[i, j] = sum_k A[i, k] B[k, j]
//   dA[i, k] = sum_j dc[i, j] B[k, j]   (dA = dc B^T),   dB[k, j] = sum_i A[i, k] dc[i, j]   (dB = A^T dc)
// and an operand broadcast over the batch (batch 1) gets the sum over the batch of its gradients.
#include "tensor/reference/matmul.h"

#include <algorithm>

#include "tensor/reference/common.h"

namespace tg::reference {

namespace {

// One operand as a batch of matrices; at(b, i, k) is element (i, k) of op(matrix b).
struct Operand {
  const Tensor& t;
  bool trans;
  int64_t batch, rows, cols;  // of the stored matrices
  Operand(const Tensor& t, bool trans, const char* kernel) : t(t), trans(trans) {
    check_f64(t, kernel);
    TG_CHECK(t.dim() == 2 || t.dim() == 3, "reference::", kernel, ": operands are [B, r, c] or [r, c], got ", t.str());
    batch = t.dim() == 3 ? t.size(0) : 1;
    rows = t.size(-2);
    cols = t.size(-1);
  }
  int64_t m() const { return trans ? cols : rows; }  // rows of op(t)
  int64_t n() const { return trans ? rows : cols; }  // columns of op(t)
  int64_t index(int64_t b, int64_t i, int64_t k) const {
    const int64_t r = trans ? k : i, c = trans ? i : k;
    return ((batch == 1 ? 0 : b) * rows + r) * cols + c;
  }
};

struct Geometry {
  int64_t batch, m, k, n;
};

Geometry geometry(const Operand& A, const Operand& B) {
  TG_CHECK(A.n() == B.m(), "reference::matmul: inner sizes differ: ", A.t.str(), " @ ", B.t.str());
  TG_CHECK(A.batch == B.batch || A.batch == 1 || B.batch == 1, "reference::matmul: batches ", A.batch, " and ",
           B.batch, " do not broadcast");
  return {std::max(A.batch, B.batch), A.m(), A.n(), B.n()};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const Operand A(a, trans_a, "matmul"), B(b, trans_b, "matmul");
  const Geometry g = geometry(A, B);
  Tensor c = Tensor::empty({g.batch, g.m, g.n}, DType::f64);
  for (int64_t bt = 0; bt < g.batch; ++bt)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        double s = 0;
        for (int64_t k = 0; k < g.k; ++k) s += a.data<double>()[A.index(bt, i, k)] * b.data<double>()[B.index(bt, k, j)];
        c.data<double>()[(bt * g.m + i) * g.n + j] = s;
      }
  return c;
}

MatmulGrads matmul_backward(const Tensor& dc, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const Operand A(a, trans_a, "matmul_backward"), B(b, trans_b, "matmul_backward");
  const Geometry g = geometry(A, B);
  check_f64(dc, "matmul_backward");
  TG_CHECK(dc.numel() == g.batch * g.m * g.n, "reference::matmul_backward: dc ", dc.str(), " is not [", g.batch,
           ", ", g.m, ", ", g.n, "]");
  MatmulGrads grads{Tensor::zeros(a.shape(), DType::f64), Tensor::zeros(b.shape(), DType::f64)};
  const double *pa = a.data<double>(), *pb = b.data<double>(), *pdc = dc.data<double>();
  for (int64_t bt = 0; bt < g.batch; ++bt)
    for (int64_t i = 0; i < g.m; ++i)
      for (int64_t j = 0; j < g.n; ++j) {
        const double d = pdc[(bt * g.m + i) * g.n + j];
        for (int64_t k = 0; k < g.k; ++k) {
          grads.da.data<double>()[A.index(bt, i, k)] += d * pb[B.index(bt, k, j)];
          grads.db.data<double>()[B.index(bt, k, j)] += pa[A.index(bt, i, k)] * d;
        }
      }
  return grads;
}

}  // namespace tg::reference
