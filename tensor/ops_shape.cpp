// Device-generic shape and indexing ops.
#include <algorithm>

#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm) {
  Device d = common_device({&x}, "permute");
  TG_CHECK(static_cast<int64_t>(perm.size()) == x.dim(), "permute: ", perm.size(), " axes for ", x.str());
  std::vector<int64_t> p(perm.size());
  Shape out(perm.size());
  std::vector<bool> used(perm.size(), false);
  for (size_t i = 0; i < perm.size(); ++i) {
    p[i] = wrap_axis(perm[i], x.dim(), "permute");
    TG_CHECK(!used[p[i]], "permute: axis ", p[i], " repeated");
    used[p[i]] = true;
    out[i] = x.shape()[p[i]];
  }
  bool identity = true;
  for (size_t i = 0; i < p.size(); ++i) identity = identity && p[i] == static_cast<int64_t>(i);
  if (identity) return x;
  Tensor y = Tensor::empty(out, x.dtype(), d);
  TG_DISPATCH(d, permute, x, p, y);
  return y;
}

Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
  std::vector<int64_t> perm(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) perm[i] = i;
  std::swap(perm[wrap_axis(a, x.dim(), "transpose")], perm[wrap_axis(b, x.dim(), "transpose")]);
  return permute(x, perm);
}

}  // namespace tg
