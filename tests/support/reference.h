// Tier 3 (DESIGN.md §5): the reference file a test compares with, named by an environment variable
// that scripts/test sets where PyTorch wrote the file. A comparison without its file is skipped with
// doctest's skip (`* doctest::skip(!reference_file(VAR))`, counted as skipped, as the CUDA cases are)
// and an availability case says why, with report_reference().
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace tg::testing {

// The path in `var`, or nullptr where it is unset or empty.
inline const char* reference_file(const char* var) {
  const char* p = std::getenv(var);
  return p && *p ? p : nullptr;
}

// The availability message: the file compared with, or why the comparison is skipped.
inline void report_reference(const std::string& what, const char* var, const std::string& script) {
  if (const char* path = reference_file(var))
    MESSAGE("tier 3 (", what, "): comparing with ", std::string(path));
  else
    MESSAGE("tier 3 (", what, "): skipped, ", std::string(var), " is not set (scripts/test sets it when PyTorch is "
            "installed; or run /usr/bin/python3 ", script, " FILE)");
}

}  // namespace tg::testing
