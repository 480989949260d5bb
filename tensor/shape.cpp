#include "tensor/shape.h"

#include <algorithm>

#include "util/error.h"

namespace tg {

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    TG_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int64_t wrap_axis(int64_t axis, int64_t ndim, const char* op) {
  TG_CHECK(axis >= -ndim && axis < std::max<int64_t>(ndim, 1), op, ": axis ", axis,
           " out of range for a tensor of ", ndim, " dims");
  return axis < 0 ? axis + ndim : axis;
}

std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    size_t si = s.size() - 1 - i, oi = out.size() - 1 - i;
    strides[oi] = s[si] == 1 ? 0 : stride;
    stride *= s[si];
  }
  return strides;
}

}  // namespace tg
