#include "data/file_io.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "util/error.h"

namespace tg {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  TG_CHECK(std::filesystem::is_regular_file(path, ec), "cannot read '", path, "': ",
           ec ? ec.message() : std::string("no such file"));
  uintmax_t size = std::filesystem::file_size(path, ec);
  TG_CHECK(!ec, "cannot read '", path, "': ", ec.message());
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  TG_CHECK(f != nullptr, "cannot open '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> bytes(size);
  TG_CHECK(std::fread(bytes.data(), 1, size, f.get()) == size, "cannot read '", path, "': ", std::strerror(errno),
           " (file changed while reading?)");
  return is_gzip(bytes) ? gunzip(bytes, path) : bytes;
}

bool is_gzip(std::span<const uint8_t> bytes) { return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b; }

std::vector<uint8_t> gunzip(std::span<const uint8_t> bytes, const std::string& name) {
  TG_CHECK(is_gzip(bytes), "file '", name, "': not gzip data (no 1f 8b magic)");
  z_stream z{};
  TG_CHECK(inflateInit2(&z, 16 + MAX_WBITS) == Z_OK, "file '", name, "': cannot start zlib");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, &inflateEnd);
  std::vector<uint8_t> out;
  size_t in_at = 0;  // offset of the next compressed byte
  auto fail = [&](const char* what) {
    TG_FAIL("file '", name, "': corrupt or truncated gzip data after ", out.size(), " decompressed bytes (", what,
            "; compressed byte offset ", in_at, ")");
  };
  while (true) {  // one gzip member a turn: gzip files may hold several, concatenated
    while (true) {
      // Room for as many bytes again as decompressed so far (at least 64 KiB, at most 1 GiB).
      const size_t at = out.size(), room = std::clamp<size_t>(at, 1 << 16, 1 << 30);
      out.resize(at + room);
      z.next_in = const_cast<Bytef*>(bytes.data() + in_at);
      z.avail_in = static_cast<uInt>(std::min<size_t>(bytes.size() - in_at, 1u << 30));
      z.next_out = out.data() + at;
      z.avail_out = static_cast<uInt>(room);
      int rc = inflate(&z, Z_NO_FLUSH);
      in_at = size_t(z.next_in - bytes.data());
      out.resize(at + room - z.avail_out);
      if (rc == Z_STREAM_END) break;
      // With fresh room for output, no progress (Z_BUF_ERROR) means the input ran out.
      if (rc == Z_BUF_ERROR) fail("the stream ends early");
      if (rc != Z_OK) fail(z.msg != nullptr ? z.msg : "inflate failed");
    }
    if (in_at == bytes.size()) return out;
    if (!is_gzip(bytes.subspan(in_at)))
      TG_FAIL("file '", name, "', compressed byte offset ", in_at, ": ", bytes.size() - in_at,
              " bytes of trailing garbage after the gzip data");
    TG_CHECK(inflateReset(&z) == Z_OK, "file '", name, "': cannot restart zlib");
  }
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
