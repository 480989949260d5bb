#include "data/corrupted.h"

#include <cstring>

#include "data/file_io.h"
#include "data/npy.h"
#include "util/error.h"

namespace tg {

namespace {

std::string join(const std::string& dir, const std::string& file) {
  return dir.empty() || dir.back() == '/' ? dir + file : dir + "/" + file;
}

// Permutes the dims of a 4-D tensor: out dim d is in dim perm[d].
Tensor permute4(const Tensor& t, const int perm[4], const char* op) {
  TG_CHECK(t.dim() == 4, op, ": expected a 4-D tensor, got ", shape_str(t.shape()));
  Tensor src = t.cpu();
  Shape out_shape(4);
  for (int d = 0; d < 4; ++d) out_shape[d] = src.size(perm[d]);
  Tensor out = Tensor::empty(out_shape, src.dtype());
  int64_t in_stride[4];
  in_stride[3] = 1;
  for (int d = 2; d >= 0; --d) in_stride[d] = in_stride[d + 1] * src.size(d + 1);
  size_t es = dtype_size(src.dtype());
  const char* s = static_cast<const char*>(src.raw());
  char* o = static_cast<char*>(out.raw());
  int64_t i = 0;
  for (int64_t a = 0; a < out_shape[0]; ++a)
    for (int64_t b = 0; b < out_shape[1]; ++b)
      for (int64_t c = 0; c < out_shape[2]; ++c)
        for (int64_t d = 0; d < out_shape[3]; ++d, ++i) {
          int64_t at = a * in_stride[perm[0]] + b * in_stride[perm[1]] + c * in_stride[perm[2]] + d * in_stride[perm[3]];
          std::memcpy(o + i * es, s + at * es, es);
        }
  return out;
}

}  // namespace

Tensor nhwc_to_nchw(const Tensor& images) {
  static const int perm[4] = {0, 3, 1, 2};
  return permute4(images, perm, "nhwc_to_nchw");
}

Tensor nchw_to_nhwc(const Tensor& images) {
  static const int perm[4] = {0, 2, 3, 1};
  return permute4(images, perm, "nchw_to_nhwc");
}

namespace {

// One severity of a -C set from its two .npy files (on disk or in memory), checked.
Dataset read_corrupted(const ByteReader& images, const ByteReader& labels, const std::string& name, int severity,
                       int64_t num_classes) {
  const std::string &images_path = images.name(), &labels_path = labels.name();
  TG_CHECK(severity >= 1 && severity <= 5, "load_corrupted: severity ", severity, " is not in 1..5");
  NpyHeader h = read_npy_header(images);
  TG_CHECK(h.dtype == DType::u8 && h.shape.size() == 4 && (h.shape[3] == 1 || h.shape[3] == 3),
           "load_corrupted: ", images_path, " holds ", h.descr, " ", shape_str(h.shape),
           "; expected uint8 (5 N, H, W, C) NHWC images with C = 1 or 3");
  TG_CHECK(h.shape[0] % 5 == 0 && h.shape[0] > 0, "load_corrupted: ", images_path, " has ", h.shape[0],
           " rows, not a positive multiple of 5 (severities 1..5)");
  NpyHeader lh = read_npy_header(labels);
  TG_CHECK(lh.shape.size() == 1 && lh.shape[0] == h.shape[0], "load_corrupted: ", labels_path, " has shape ",
           shape_str(lh.shape), "; expected (", h.shape[0], ",), one label per row of ", images_path);
  TG_CHECK(lh.dtype == DType::u8 || lh.dtype == DType::i32 || lh.dtype == DType::i64, "load_corrupted: ",
           labels_path, " holds ", lh.descr, "; expected integer labels");
  int64_t n = h.shape[0] / 5, begin = n * (severity - 1);
  Dataset d;
  d.name = name;
  d.images = nhwc_to_nchw(read_npy_rows(images, h, begin, begin + n));
  d.labels = read_npy_rows(labels, lh, begin, begin + n).to(DType::i64);
  d.num_classes = num_classes;
  const int64_t* l = d.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    TG_CHECK(l[i] >= 0 && l[i] < num_classes, "load_corrupted: ", labels_path, ": label ", l[i], " of row ", begin + i,
             " is out of range [0, ", num_classes, ")");
  return d;
}

}  // namespace

Dataset load_corrupted(const std::string& dir, const std::string& corruption, int severity, int64_t num_classes) {
  std::string images_path = join(dir, corruption + ".npy"), labels_path = join(dir, "labels.npy");
  const std::string how = "Download CIFAR-10-C / CIFAR-100-C (https://zenodo.org/record/2535967, "
                          "https://zenodo.org/record/3555552) into that folder, or generate the set with the "
                          "`corrupt` binary: corrupt --dataset <name> --out " + dir;
  TG_CHECK(severity >= 1 && severity <= 5, "load_corrupted: severity ", severity, " is not in 1..5");
  TG_CHECK(is_file(images_path), "load_corrupted: ", images_path, " not found. ", how);
  TG_CHECK(is_file(labels_path), "load_corrupted: ", labels_path, " not found (the labels of ", images_path, "). ", how);
  return read_corrupted(ByteReader::open(images_path, ".npy file"), ByteReader::open(labels_path, ".npy file"),
                        corruption + "/" + std::to_string(severity), severity, num_classes);
}

Dataset parse_corrupted(std::span<const uint8_t> images_npy, std::span<const uint8_t> labels_npy, int severity,
                        int64_t num_classes) {
  return read_corrupted(ByteReader::memory(images_npy, "images.npy"), ByteReader::memory(labels_npy, "labels.npy"),
                        "images/" + std::to_string(severity), severity, num_classes);
}

}  // namespace tg
