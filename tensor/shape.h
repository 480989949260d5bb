// Shapes: row-major sizes, with the helpers every op needs (numel, broadcasting, axis wrapping).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tg {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);                   // "[2, 3, 4]"
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);  // numpy rules; throws
int64_t wrap_axis(int64_t axis, int64_t ndim, const char* op);           // -1 -> ndim-1; throws
// Row-major element strides of `s`, padded on the left to `ndim` dims with broadcast (0) strides
// for dims where s has size 1 and out has more.
std::vector<int64_t> broadcast_strides(const Shape& s, const Shape& out);

}  // namespace tg
