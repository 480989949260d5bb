// Every seed input (fuzz/corpus/<target>/) and every input that ever crashed or hung a parser
// (fuzz/regressions/<target>/) through the fuzz targets (fuzz/targets.h: the parsers' in-memory
// entry points): each must parse or fail with a clean tg::Error. Runs in the ordinary test binary,
// without clang or sanitizers; scripts/fuzz runs the same targets under libFuzzer.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/targets.h"
#include "support/process.h"

namespace fs = std::filesystem;
using namespace tg;

namespace {

std::vector<uint8_t> file_bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("fuzz: every seed and regression input parses or fails with a clean tg::Error") {
  const fs::path src = test::source_dir();
  for (const fuzz::Target& target : fuzz::kTargets) {
    size_t seeds = 0;
    for (const char* folder : {"corpus", "regressions"}) {
      const fs::path dir = src / "fuzz" / folder / target.name;
      if (!fs::is_directory(dir)) continue;
      for (const auto& e : fs::directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        seeds += std::string(folder) == "corpus";
        const std::vector<uint8_t> bytes = file_bytes(e.path());
        CAPTURE(e.path().string());
        auto run = [&] {
          try {
            target.run(bytes);
          } catch (const Error&) {  // a clean rejection; any other exception fails the check
          }
        };
        CHECK_NOTHROW(run());
      }
    }
    CHECK_MESSAGE(seeds > 0, "no seed files in fuzz/corpus/", target.name);
  }
}

TEST_CASE("fuzz: the regressions' errors name the file, the byte offset and what is wrong") {
  const fs::path reg = test::source_dir() / "fuzz/regressions";
  auto error_of = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  std::vector<uint8_t> npy = file_bytes(reg / "npy/shape-product-overflows-int64");
  std::string e = error_of([&] { parse_npy(npy, "big.npy"); });
  CHECK(e.find("'big.npy', byte offset 93") != std::string::npos);
  CHECK(e.find("over 2^48 elements") != std::string::npos);
  std::vector<uint8_t> idx = file_bytes(reg / "idx/dims-product-wraps-to-zero");
  e = error_of([&] { parse_idx(idx, "big-idx3-ubyte", kIdxImagesMagic); });
  CHECK(e.find("'big-idx3-ubyte', byte offset 12") != std::string::npos);
  CHECK(e.find("implausible size 33554432 of dim 2") != std::string::npos);
}

// A header of many keys (a checkpoint of a huge model, or a hostile one up to safetensors' 100 MiB
// limit) parses in time linear in its keys: the duplicate-key check once compared each key with
// every earlier one.
TEST_CASE("fuzz: a JSON object of 200,000 keys parses in well under a second") {
  std::string text = "{";
  for (int i = 0; i < 200000; ++i) text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
  text += "}";
  auto start = std::chrono::steady_clock::now();
  CHECK(Json::parse(text, "many-keys.json").fields().size() == 200000);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK_MESSAGE(seconds < 2.0, "took ", seconds, " s");
}

TEST_CASE("fuzz: val_annotations.txt names plain files in val/images/, nothing outside it") {
  const std::vector<std::string> wnids = {"n01", "n02"};
  CHECK(parse_val_annotations("a.JPEG\tn02\t0\t0\t9\t9\r\n\nb.JPEG\tn01\n", "ann.txt", wnids) ==
        std::vector<std::pair<std::string, int64_t>>{{"a.JPEG", 1}, {"b.JPEG", 0}});
  for (const char* line : {"../../etc/passwd\tn01\n", "x/y.JPEG\tn01\n", "..\tn01\n"}) {
    CAPTURE(line);
    try {
      parse_val_annotations(line, "ann.txt", wnids);
      FAIL("no error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("ann.txt, line 1: the file name") != std::string::npos);
    }
  }
}
