// The image-dataset file formats: IDX (MNIST, Fashion-MNIST) and the CIFAR-10/100 binary batches.
// Each reader checks the file against its format and fails with an error that names the file and the
// byte offset (of the decompressed data, for .gz files), never reading a wrong or short file silently.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tensor/tensor.h"

namespace tg {

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned bytes, 3 dims: [N, rows, cols]
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned bytes, 1 dim: [N]

// An unsigned-byte IDX file, gzipped or not, as uint8 with the file's dims. The magic (big-endian)
// must equal `expected_magic`, and the file must hold exactly the bytes its dims announce.
Tensor read_idx(const std::string& path, uint32_t expected_magic);

// A CIFAR binary file: records of `label_bytes` label bytes then 3072 pixel bytes (1024 R, 1024 G,
// 1024 B, rows of 32). CIFAR-10 has 1 label byte; CIFAR-100 2 (coarse, then fine). Keeps label byte
// `label_index`, which must be < `num_classes`. Returns images uint8 [N, 3, 32, 32], labels int64 [N].
struct ImagesAndLabels {
  Tensor images;
  Tensor labels;
};
ImagesAndLabels read_cifar_file(const std::string& path, int label_bytes, int label_index, int64_t num_classes);

// The same from a file's (decompressed) bytes in memory, `name` standing for the path in errors:
// read_idx and read_cifar_file call these, so the fuzzer (fuzz/) and the tests drive the same code.
Tensor parse_idx(std::span<const uint8_t> bytes, const std::string& name, uint32_t expected_magic);
ImagesAndLabels parse_cifar(std::span<const uint8_t> bytes, const std::string& name, int label_bytes, int label_index,
                            int64_t num_classes);

}  // namespace tg
