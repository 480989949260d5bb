// The fuzz targets: each runs one input through one parser of a user's file, through the same
// in-memory entry point the path version calls. A target returns normally or throws tg::Error;
// anything else (a crash, a sanitizer report, another exception, a leak, a hang) is a bug in the
// parser. fuzz/fuzz_<name>.cpp wraps one target for libFuzzer; tests/fuzz/test_fuzz_regressions.cpp
// runs every seed and regression input through all of them in the ordinary test binary.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "data/corrupted.h"
#include "data/file_io.h"
#include "data/formats.h"
#include "data/npy.h"
#include "data/tiny_imagenet.h"
#include "tensor/host_allocator.h"
#include "tensor/json.h"
#include "tensor/safetensors.h"

namespace tg::fuzz {

using Bytes = std::span<const uint8_t>;

inline std::string_view text_of(Bytes in) { return {reinterpret_cast<const char*>(in.data()), in.size()}; }

inline void safetensors(Bytes in) { parse_safetensors(in, "fuzz.safetensors"); }

inline void json(Bytes in) { Json::parse(std::string(text_of(in)), "fuzz.json"); }

inline void npy(Bytes in) { parse_npy(in, "fuzz.npy"); }

// Raw or gzipped, as read_idx takes it; read as an image file and as a label file.
inline void idx(Bytes in) {
  std::vector<uint8_t> raw = is_gzip(in) ? gunzip(in, "fuzz-idx.gz") : std::vector<uint8_t>(in.begin(), in.end());
  for (uint32_t magic : {kIdxImagesMagic, kIdxLabelsMagic}) {
    try {
      parse_idx(raw, "fuzz-idx", magic);
    } catch (const Error&) {
    }
  }
}

// As a CIFAR-10 batch (1 label byte) and as a CIFAR-100 one (2, the fine label kept).
inline void cifar(Bytes in) {
  try {
    parse_cifar(in, "fuzz-cifar10.bin", 1, 0, 10);
  } catch (const Error&) {
  }
  parse_cifar(in, "fuzz-cifar100.bin", 2, 1, 100);
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
  parse_corrupted(rest.first(images), rest.subspan(images), 1 + in[0] % 5, 10);
}

// A Tiny-ImageNet image file: decoded as the loader does (64 x 64 required), and at any size.
inline void jpeg(Bytes in) {
  try {
    decode_image_rgb(in, "fuzz-64.JPEG", 64, 64);
  } catch (const Error&) {
  }
  decode_image_rgb(in, "fuzz.JPEG");
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
