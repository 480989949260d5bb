// CPU shape and indexing kernels: permute (a strided copy), slicing, concatenation's parts,
// index_select/index_add, gather/scatter_add, one-hot.
#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

namespace tg::cpu {

void permute(const Tensor& x, const std::vector<int64_t>& perm, Tensor& y) {
  const int64_t nd = x.dim();
  std::vector<int64_t> x_strides(nd, 1);
  for (int64_t d = nd - 2; d >= 0; --d) x_strides[d] = x_strides[d + 1] * x.shape()[d + 1];
  std::vector<int64_t> src_stride(nd);  // stride in x of y's axis d
  for (int64_t d = 0; d < nd; ++d) src_stride[d] = x_strides[perm[d]];
  const Shape& ys = y.shape();
  const int64_t inner = nd ? ys[nd - 1] : 1, rows = inner ? y.numel() / inner : 0;
  const int64_t inner_stride = nd ? src_stride[nd - 1] : 0;
  const size_t es = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw());
  char* py = static_cast<char*>(y.raw());
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* sx = reinterpret_cast<const T*>(px);
    T* sy = reinterpret_cast<T*>(py);
    parallel_for(rows, inner, [&](int64_t row) {
      int64_t src = 0, rem = row;
      for (int64_t d = nd - 2; d >= 0; --d) {
        src += (rem % ys[d]) * src_stride[d];
        rem /= ys[d];
      }
      T* out = sy + row * inner;
      for (int64_t j = 0; j < inner; ++j) out[j] = sx[src + j * inner_stride];
    });
  });
  (void)es;
}

}  // namespace tg::cpu
