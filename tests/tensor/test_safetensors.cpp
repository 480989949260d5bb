// safetensors: round trips of every dtype, a file with a hand-built header as PyTorch's writer lays
// it out (keys sorted, data in another order, F16/BF16/BOOL), and broken files: each must fail with
// an error that names the file and the byte offset, never crash or read wrong values.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tensor/safetensors.h"
#include "support/scratch.h"

using namespace tg;
namespace fs = std::filesystem;

namespace {

// A private folder for the files of these tests, removed at exit.
struct TempDir {
  fs::path path = tg::test::scratch_path("taugrad_safetensors_");
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path temp_dir() {
  static TempDir dir;
  return dir.path;
}

// A file from an explicit header and data bytes, as another writer would produce it.
std::string write_raw(const std::string& name, const std::string& header, const std::string& data,
                      int64_t header_len = -1) {
  std::string path = (temp_dir() / name).string();
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header_len < 0 ? header.size() : static_cast<uint64_t>(header_len);
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header << data;
  return path;
}

std::string bytes_of(const void* p, size_t n) { return std::string(static_cast<const char*>(p), n); }

// The load fails, and the message names the file and contains `what`.
void check_fails(const std::string& path, const std::string& what) {
  CAPTURE(what);
  try {
    load_safetensors(path);
    FAIL("no error for a broken file");
  } catch (const Error& e) {
    std::string msg = e.what();
    CAPTURE(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(what) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype, in order, with metadata") {
  StateDict ts = {
      {"z.weight", Tensor::from_vector<float>({1.5f, -2.25f, 3e-8f, 1e30f, 0.f, -0.f}, {2, 3})},
      {"a.double", Tensor::from_vector<double>({3.141592653589793, -1e-300}, {2})},
      {"bn.num_batches_tracked", Tensor::from_vector<int64_t>({int64_t(1) << 40}, {})},
      {"ints", Tensor::from_vector<int32_t>({-7, 8, 2147483647}, {3, 1})},
      {"pixels", Tensor::from_vector<uint8_t>({0, 128, 255, 7}, {1, 2, 2})},
      {"empty", Tensor::zeros({0, 4})},
  };
  std::string path = (temp_dir() / "all.safetensors").string();
  save_safetensors(path, ts, {{"epoch", "3"}, {"note", "quote \" and \\ and \n"}});
  SafetensorsFile f = load_safetensors(path);
  REQUIRE(f.tensors.size() == ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    CAPTURE(i);
    CHECK(f.tensors[i].first == ts[i].first);
    CHECK(f.tensors[i].second.shape() == ts[i].second.shape());
    CHECK(f.tensors[i].second.dtype() == ts[i].second.dtype());
    CHECK(std::memcmp(f.tensors[i].second.raw(), ts[i].second.raw(), ts[i].second.nbytes()) == 0);
  }
  CHECK(f.metadata.at("epoch") == "3");
  CHECK(f.metadata.at("note") == "quote \" and \\ and \n");
  CHECK(f.at("ints").to_vector<int32_t>() == std::vector<int32_t>{-7, 8, 2147483647});
  CHECK_THROWS_WITH_AS(f.at("missing"), doctest::Contains("no tensor named 'missing'"), Error);
  // The data begins 8-byte aligned, and no temporary file is left behind.
  uint64_t n = 0;
  std::ifstream(path, std::ios::binary).read(reinterpret_cast<char*>(&n), 8);
  CHECK(n % 8 == 0);
  for (const auto& e : fs::directory_iterator(temp_dir()))
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  CHECK_THROWS_WITH_AS(save_safetensors(path, {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}}),
                       doctest::Contains("duplicate name 'a'"), Error);
  CHECK_THROWS_WITH_AS(save_safetensors((temp_dir() / "no/such/dir/x.safetensors").string(), ts),
                       doctest::Contains("cannot write"), Error);
}

TEST_CASE("safetensors: a hand-built header as PyTorch writes it, with F16, BF16 and BOOL") {
  // Header keys in alphabetical order, data laid out in another order, escapes, and padding.
  uint16_t f16[4] = {0x3C00, 0xC000, 0x0001, 0x7C00};  // 1, -2, 2^-24 (subnormal), +inf
  uint16_t bf16[2] = {0x3F80, 0xC0A0};                 // 1, -5
  int64_t i64[2] = {-1, 42};
  uint8_t flags[3] = {1, 0, 1};
  std::string data = bytes_of(i64, 16) + bytes_of(f16, 8) + bytes_of(bf16, 4) + bytes_of(flags, 3);
  std::string header =
      "{\"__metadata__\": {\"format\": \"pt\"},\n"
      " \"a.half\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [16, 24]},\n"
      " \"b\\u00e9.bf\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [24, 28]},\n"
      " \"c.mask\": {\"dtype\": \"BOOL\", \"shape\": [3], \"data_offsets\": [28, 31]},\n"
      " \"d.count\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]}}   ";
  SafetensorsFile f = load_safetensors(write_raw("pt.safetensors", header, data));
  REQUIRE(f.tensors.size() == 4);
  CHECK(f.tensors[0].first == "d.count");  // file order is data order
  CHECK(f.tensors[1].first == "a.half");
  CHECK(f.tensors[2].first == "b\xc3\xa9.bf");
  CHECK(f.file_dtypes[1] == "F16");
  CHECK(f.metadata.at("format") == "pt");
  CHECK(f.at("d.count").to_vector<int64_t>() == std::vector<int64_t>{-1, 42});
  auto h = f.at("a.half").to_vector<float>();
  CHECK(f.at("a.half").shape() == Shape{2, 2});
  CHECK(h[0] == 1.0f);
  CHECK(h[1] == -2.0f);
  CHECK(h[2] == std::ldexp(1.0f, -24));
  CHECK(std::isinf(h[3]));
  CHECK(f.tensors[2].second.to_vector<float>() == std::vector<float>{1.0f, -5.0f});
  CHECK(f.at("c.mask").to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 1});
}

TEST_CASE("safetensors: broken files give errors that name the file and the offset") {
  std::string ok = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  std::string eight(8, '\1');
  check_fails(write_raw("empty_header", "", ""), "byte offset 8: the header does not start with '{'");
  {
    std::string path = (temp_dir() / "tiny").string();
    std::ofstream(path, std::ios::binary) << "abc";
    check_fails(path, "truncated: the file has 3 bytes");
  }
  check_fails(write_raw("hdr_len", ok, eight, 1000), "header length 1000 runs past the end");
  check_fails(write_raw("not_json", "[1,2]", ""), "does not start with '{'");
  check_fails(write_raw("bad_json1", "{\"x\":{\"dtype\":\"F32\",}}", ""), "byte offset 28: expected a quoted key");
  check_fails(write_raw("bad_json2", "{\"x\":{\"dtype\":\"F32\"", ""), "the JSON ends");
  check_fails(write_raw("bad_json3", "{\"x\":tru}", ""), "unexpected character");
  check_fails(write_raw("dup", "{\"x\":{},\"x\":{}}", ""), "duplicate key \"x\"");
  check_fails(write_raw("dtype", "{\"x\":{\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,2]}}", "\1\1"),
              "unknown or unsupported dtype \"F8\"");
  check_fails(write_raw("shape", "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight),
              "shape [3] of F32 needs 12 bytes, but data_offsets [0, 8) hold 8");
  check_fails(write_raw("neg", "{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", eight),
              "must be a non-negative integer");
  check_fails(write_raw("missing", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", eight), "lacks data_offsets");
  check_fails(write_raw("trunc", ok, "1234"), "run past the end of the file (4 data bytes): truncated");
  check_fails(write_raw("trailing", ok, eight + "xx"), "2 trailing bytes");
  std::string two = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
  check_fails(write_raw("overlap", two, eight), "overlap");
  std::string gap = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
  check_fails(write_raw("gap", gap, eight), "a gap of 4 bytes");
  check_fails(write_raw("meta", "{\"__metadata__\":{\"a\":1}}", ""), "must be a string");
  check_fails((temp_dir() / "does_not_exist").string(), "cannot read safetensors file");
}
