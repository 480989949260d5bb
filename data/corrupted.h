// The common-corruption test sets in the official .npy layout of CIFAR-10-C / CIFAR-100-C
// (Hendrycks & Dietterich 2019, https://zenodo.org/record/2535967 and /3555552): in one folder,
// <corruption>.npy of uint8 (5 N, H, W, C) NHWC images, severity s in rows [N (s - 1), N s), and
// labels.npy of the 5 N labels (uint8 in the official files, int64 from our `corrupt` binary).
// The `corrupt` binary (experiments/corrupt.cpp) writes the same layout for any dataset we load
// (Fashion-MNIST-C, a generated CIFAR-10-C).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "data/dataset.h"

namespace tg {

// One corruption at one severity (1..5): images uint8 [N, C, H, W], labels int64 [N]. Reads only that
// severity's rows. Errors name the file: missing (and how to get or generate it), not uint8 NHWC with
// 1 or 3 channels, a row count not divisible by 5, labels of another length or out of range.
Dataset load_corrupted(const std::string& dir, const std::string& corruption, int severity, int64_t num_classes);
// The same checks and reading on the two files' bytes in memory (named images.npy and labels.npy in
// errors): load_corrupted calls the same code, so the fuzzer (fuzz/) and the tests drive it.
Dataset parse_corrupted(std::span<const uint8_t> images_npy, std::span<const uint8_t> labels_npy, int severity,
                        int64_t num_classes);

// Layout changes between the .npy sets (NHWC) and Dataset (NCHW), for uint8 or any dtype.
Tensor nhwc_to_nchw(const Tensor& images);
Tensor nchw_to_nhwc(const Tensor& images);

}  // namespace tg
