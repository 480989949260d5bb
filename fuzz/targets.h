// The fuzz targets: each runs one input through one parser of a user's file, through the same
// in-memory entry point the path version calls, and checks what it returns (expect_sane). A target
// returns normally or throws tg::Error; anything else (a crash, a sanitizer report, another
// exception, a leak, a hang) is a bug in the parser. fuzz/fuzz_<name>.cpp wraps one target for libFuzzer; tests/fuzz/test_fuzz_regressions.cpp
// runs every seed and regression input through all of them in the ordinary test binary.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <stdexcept>
#include <string_view>

#include "data/corrupted.h"
#include "data/file_io.h"
#include "data/formats.h"
#include "data/npy.h"
#include "data/tiny_imagenet.h"
#include "tensor/host_allocator.h"
#include "tensor/safetensors.h"
#include "util/json.h"

namespace tg::fuzz {

using Bytes = std::span<const uint8_t>;

inline std::string_view text_of(Bytes in) { return {reinterpret_cast<const char*>(in.data()), in.size()}; }

// A parser's result must be a tensor it could have read: sizes whose product does not overflow, and
// no more elements than `max_elements` (the input's bytes, where each element takes one or more).
// A violation is a parser bug; it is thrown as std::logic_error, not tg::Error, so that libFuzzer
// reports it as a crash and the test fails.
inline void expect_sane(const Tensor& t, uint64_t max_elements, const char* what) {
  int64_t n = 1;
  for (int64_t d : t.shape())
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      throw std::logic_error(std::string(what) + ": the parser returned shape " + shape_str(t.shape()) +
                             ", whose size overflows");
  if (n != t.numel() || uint64_t(n) > max_elements)
    throw std::logic_error(std::string(what) + ": the parser returned shape " + shape_str(t.shape()) + " from " +
                           std::to_string(max_elements) + " input bytes");
}

inline void safetensors(Bytes in) {
  for (const auto& [name, t] : parse_safetensors(in, "fuzz.safetensors").tensors) expect_sane(t, in.size(), "safetensors");
}

inline void json(Bytes in) { Json::parse(std::string(text_of(in)), "fuzz.json"); }

inline void npy(Bytes in) { expect_sane(parse_npy(in, "fuzz.npy"), in.size(), "npy"); }

// Raw or gzipped, as read_idx takes it; read as an image file and as a label file.
inline void idx(Bytes in) {
  std::vector<uint8_t> raw = is_gzip(in) ? gunzip(in, "fuzz-idx.gz") : std::vector<uint8_t>(in.begin(), in.end());
  for (uint32_t magic : {kIdxImagesMagic, kIdxLabelsMagic}) {
    try {
      expect_sane(parse_idx(raw, "fuzz-idx", magic), raw.size(), "idx");
    } catch (const Error&) {
    }
  }
}

// As a CIFAR-10 batch (1 label byte) and as a CIFAR-100 one (2, the fine label kept).
inline void cifar(Bytes in) {
  auto check = [&](const ImagesAndLabels& r) {
    expect_sane(r.images, in.size(), "cifar images");
    expect_sane(r.labels, in.size(), "cifar labels");
  };
  try {
    check(parse_cifar(in, "fuzz-cifar10.bin", 1, 0, 10));
  } catch (const Error&) {
  }
  check(parse_cifar(in, "fuzz-cifar100.bin", 2, 1, 100));
}

// wnids.txt, a NUL byte, then val_annotations.txt (checked against those wnids).
inline void tiny_imagenet(Bytes in) {
  std::string_view text = text_of(in);
  size_t nul = std::min(text.find('\0'), text.size());
  std::vector<std::string> wnids = parse_wnids(text.substr(0, nul), "fuzz/wnids.txt");
  if (nul < text.size()) parse_val_annotations(text.substr(nul + 1), "fuzz/val_annotations.txt", wnids);
}

// A -C set: byte 0 picks the severity (1 + b % 5), bytes 1..4 (little-endian) the length of
// images.npy, which follows; labels.npy is the rest. 10 classes.
inline void corrupted(Bytes in) {
  if (in.size() < 5) return;
  uint32_t n = 0;
  std::memcpy(&n, in.data() + 1, 4);
  Bytes rest = in.subspan(5);
  size_t images = std::min<size_t>(n, rest.size());
  Dataset d = parse_corrupted(rest.first(images), rest.subspan(images), 1 + in[0] % 5, 10);
  expect_sane(d.images, in.size(), "corrupted images");
  expect_sane(d.labels, in.size(), "corrupted labels");
}

// A Tiny-ImageNet image file: decoded as the loader does (64 x 64 required), and at any size.
inline void jpeg(Bytes in) {
  try {
    expect_sane(decode_image_rgb(in, "fuzz-64.JPEG", 64, 64), 3 * 64 * 64, "jpeg");
  } catch (const Error&) {
  }
  expect_sane(decode_image_rgb(in, "fuzz.JPEG"), std::numeric_limits<uint64_t>::max(), "jpeg");
}

struct Target {
  const char* name;  // also the folder under fuzz/corpus/ and fuzz/regressions/
  void (*run)(Bytes);
};

inline constexpr Target kTargets[] = {
    {"safetensors", safetensors}, {"json", json},   {"npy", npy},     {"idx", idx},
    {"cifar", cifar}, {"tiny_imagenet", tiny_imagenet}, {"corrupted", corrupted}, {"jpeg", jpeg},
};

}  // namespace tg::fuzz

// The libFuzzer entry point of fuzz/fuzz_<name>.cpp: the target, with tg::Error a clean rejection.
// The host allocator's cache is emptied after each input, so that -rss_limit_mb measures what the
// parser holds, not blocks kept for reuse.
#define TG_FUZZ_TARGET(name)                                                 \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    try {                                                                    \
      tg::fuzz::name(tg::fuzz::Bytes(data, size));                           \
    } catch (const tg::Error&) {                                             \
    }                                                                        \
    tg::host::release_cache();                                               \
    return 0;                                                                \
  }
