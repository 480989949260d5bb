#include "data/formats.h"

#include <cstdio>
#include <cstring>

#include "data/file_io.h"
#include "util/error.h"

namespace tg {

namespace {

std::string where(const std::string& path, uint64_t offset) {
  bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  return detail::concat("file '", path, "', byte offset ", offset, gz ? " (decompressed)" : "", ": ");
}

uint32_t read_be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

}  // namespace

Tensor read_idx(const std::string& path, uint32_t expected_magic) {
  return parse_idx(read_file_bytes(path), path, expected_magic);
}

Tensor parse_idx(std::span<const uint8_t> bytes, const std::string& path, uint32_t expected_magic) {
  auto what = [](uint32_t m) {
    return m == kIdxImagesMagic ? "an IDX image file" : m == kIdxLabelsMagic ? "an IDX label file" : "an IDX file";
  };
  TG_CHECK(bytes.size() >= 4, where(path, 0), "truncated: ", bytes.size(), " bytes, too short for the IDX magic");
  uint32_t magic = read_be32(bytes.data());
  TG_CHECK(magic == expected_magic, where(path, 0), "magic number ", hex(magic), " is not ", hex(expected_magic),
           " (", what(expected_magic), "); ", (magic == kIdxImagesMagic || magic == kIdxLabelsMagic)
               ? std::string("this is ") + what(magic) + ": were images and labels swapped?"
               : std::string("not an IDX file, or a gzip file that is not named .gz"));
  size_t ndims = magic & 0xFF, header = 4 + 4 * ndims;
  TG_CHECK(bytes.size() >= header, where(path, bytes.size()), "truncated inside the header: ", ndims,
           " dims need ", header, " bytes");
  Shape shape;
  uint64_t count = 1;
  for (size_t d = 0; d < ndims; ++d) {
    uint32_t s = read_be32(bytes.data() + 4 + 4 * d);
    TG_CHECK(s > 0 && s < (1u << 28) && count < (uint64_t(1) << 40) / s, where(path, 4 + 4 * d),  // no overflow
             "implausible size ", s, " of dim ", d, " (dims must be in [1, 2^28), their product below 2^40)");
    shape.push_back(s);
    count *= s;
  }
  uint64_t have = bytes.size() - header;
  TG_CHECK(have >= count, where(path, bytes.size()), "truncated: shape ", shape_str(shape), " needs ", count,
           " data bytes from offset ", header, ", the file ends after ", have);
  TG_CHECK(have == count, where(path, header + count), have - count, " unexpected trailing bytes after shape ",
           shape_str(shape));
  Tensor t = Tensor::empty(shape, DType::u8);
  std::memcpy(t.raw(), bytes.data() + header, count);
  return t;
}

ImagesAndLabels read_cifar_file(const std::string& path, int label_bytes, int label_index, int64_t num_classes) {
  return parse_cifar(read_file_bytes(path), path, label_bytes, label_index, num_classes);
}

ImagesAndLabels parse_cifar(std::span<const uint8_t> bytes, const std::string& path, int label_bytes, int label_index,
                            int64_t num_classes) {
  constexpr size_t kPixels = 3 * 32 * 32;
  size_t record = label_bytes + kPixels, n = bytes.size() / record;
  TG_CHECK(bytes.size() % record == 0, where(path, n * record), "truncated: the file has ", bytes.size(),
           " bytes, not a whole number of ", record, "-byte records; record ", n, " is cut after ",
           bytes.size() - n * record, " bytes");
  TG_CHECK(n > 0, where(path, 0), "empty file: no CIFAR records");
  ImagesAndLabels out{Tensor::empty({int64_t(n), 3, 32, 32}, DType::u8), Tensor::empty({int64_t(n)}, DType::i64)};
  uint8_t* img = out.images.data<uint8_t>();
  int64_t* lab = out.labels.data<int64_t>();
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* r = bytes.data() + i * record;
    lab[i] = r[label_index];
    TG_CHECK(lab[i] < num_classes, where(path, i * record + label_index), "label ", lab[i], " of record ", i,
             " is out of range [0, ", num_classes, "): not a ", record == 3073 ? "CIFAR-10" : "CIFAR-100",
             " file, or a corrupt one");
    std::memcpy(img + i * kPixels, r + label_bytes, kPixels);
  }
  return out;
}

}  // namespace tg
