// Helpers for the data tests: a private temporary folder, writing files byte for byte, and a check
// that a parser fails with an error naming the file and saying what is wrong.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "util/error.h"
#include "support/scratch.h"

namespace tg::testing {

// A private temporary folder, removed with its contents when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& what)
      : path_(tg::test::scratch_path("taugrad_" + what)) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  std::string string() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gzip = false) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
    gzclose(f);
    return;
  }
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// `f` throws a tg::Error whose message contains `path` and every one of `parts`.
inline void check_error(const std::function<void()>& f, const std::string& path, const std::vector<std::string>& parts) {
  CAPTURE(path);
  try {
    f();
    FAIL("no error");
  } catch (const Error& e) {
    std::string msg = e.what();
    CAPTURE(msg);
    CHECK(msg.find(path) != std::string::npos);
    for (const auto& p : parts) {
      CAPTURE(p);
      CHECK(msg.find(p) != std::string::npos);
    }
  }
}

}  // namespace tg::testing
