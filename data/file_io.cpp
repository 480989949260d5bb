#include "data/file_io.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "tensor/error.h"

namespace tg {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  TG_CHECK(std::filesystem::is_regular_file(path, ec), "cannot read '", path, "': ",
           ec ? ec.message() : std::string("no such file"));
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), &gzclose);
  TG_CHECK(f != nullptr, "cannot open '", path, "': ", std::strerror(errno));
  gzbuffer(f.get(), 1 << 17);
  std::vector<uint8_t> bytes;
  constexpr size_t kChunk = 1 << 20;
  while (true) {
    size_t at = bytes.size();
    bytes.resize(at + kChunk);
    int got = gzread(f.get(), bytes.data() + at, kChunk);
    int err = Z_OK;
    const char* msg = gzerror(f.get(), &err);
    if (got < 0 || (err != Z_OK && err != Z_STREAM_END))
      TG_FAIL("file '", path, "': corrupt or truncated gzip data after ", at + std::max(got, 0),
              " decompressed bytes (", msg, ")");
    bytes.resize(at + static_cast<size_t>(got));
    if (got == 0) break;
  }
  return bytes;
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string first_existing(const std::vector<std::string>& candidates) {
  for (const auto& c : candidates)
    if (is_file(c)) return c;
  return "";
}

}  // namespace tg
