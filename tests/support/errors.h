// error_of(f): the message of the tg::Error that f throws, or "" when it throws none; for checks
// that an error names the op, the shapes and the fix.
#pragma once

#include <string>

#include "util/error.h"

namespace tg::testing {

inline std::string error_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace tg::testing
