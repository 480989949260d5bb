// Errors: one exception type, and a check macro whose message names the op and the operands.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace tg {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace tg

// TG_CHECK(cond, "matmul: inner sizes differ: ", shape_str(a), " @ ", shape_str(b))
#define TG_CHECK(cond, ...)                                       \
  do {                                                            \
    if (!(cond)) throw ::tg::Error(::tg::detail::concat(__VA_ARGS__)); \
  } while (0)

#define TG_FAIL(...) throw ::tg::Error(::tg::detail::concat(__VA_ARGS__))
