// Scratch paths for tests: under the system's temp folder, named for the test and this process, so two
// test runs at once (CI jobs, sanitizer builds, several checkouts) never share a folder.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace tg::test {

inline std::filesystem::path scratch_path(const std::string& name) {
  return std::filesystem::temp_directory_path() / (name + "." + std::to_string(::getpid()));
}

}  // namespace tg::test
