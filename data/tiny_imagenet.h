// Tiny-ImageNet-200 (http://cs231n.stanford.edu/tiny-imagenet-200.zip): 200 classes of 64x64 JPEG
// images, and its corrupted twin Tiny-ImageNet-C (https://zenodo.org/record/2536630). Images are
// decoded with libjpeg-turbo; grayscale JPEGs are turned into RGB by repeating the gray.
//
//   <dir>/wnids.txt                     the 200 class ids (WordNet ids), one a line; classes are them sorted
//   <dir>/train/<wnid>/images/*.JPEG    500 images per class
//   <dir>/val/images/*.JPEG             10,000 images
//   <dir>/val/val_annotations.txt       "<file>\t<wnid>\t<x0>\t<y0>\t<x1>\t<y1>" per validation image
//   <c_dir>/<corruption>/<severity>/<wnid>/*.JPEG   Tiny-ImageNet-C (severity 1..5)
//
// Also the image-file helpers the data layer and the experiments use (libjpeg-turbo to read JPEGs,
// stb_image_write to write PNGs and JPEGs).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/dataset.h"

namespace tg {

// Decoding: every JPEG is decoded once, at load time, into the uint8 [N, 3, 64, 64] dataset (1.2 GB
// for the 100,000 training images), by a pool of `threads` std::threads (0: one per hardware thread,
// std::thread::hardware_concurrency()). Files are sorted first and each lands in its own row, so the
// result is identical, in the same order, whatever the thread count; the first broken file (in that
// order) stops the pool and its error, naming the file, is rethrown on the caller. The DataLoader
// then crops, flips and converts batches of the decoded pixels on its own worker threads.

// Train (train/) or validation (val/) split: images uint8 [N, 3, 64, 64], labels int64 by the sorted
// wnids, class_names the wnids. Default dir ./data/tiny-imagenet-200. Errors name the missing or
// broken file (wnids.txt, val_annotations.txt, an undecodable JPEG) and say where to get the set.
Dataset load_tiny_imagenet(const std::string& dir = "", bool train = true, int threads = 0);

// Tiny-ImageNet-C: <dir>/<corruption>/<severity>/<wnid>/*.JPEG, classes the sorted wnid folders
// (class_names; the labels index them). Decoded like load_tiny_imagenet.
Dataset load_tiny_imagenet_c(const std::string& dir, const std::string& corruption, int severity, int threads = 0);
// The same labelled by `classes`, Tiny-ImageNet's sorted wnids (its test split's class_names), as a
// model trained on Tiny-ImageNet predicts them: a folder holding only some classes keeps their indices
// among all 200. Errors name the folder: `classes` not sorted wnids, a wnid folder not among them.
Dataset load_tiny_imagenet_c(const std::string& dir, const std::string& corruption, int severity,
                             const std::vector<std::string>& classes, int threads = 0);

// One JPEG file as uint8 [3, H, W] (gray becomes RGB). With expect_h, expect_w > 0 the size must
// match, checked in the header before decoding; without, images over 2^26 pixels are refused. Damaged
// data is an error, never patched over. Errors name the file and libjpeg's reason.
Tensor read_image_rgb(const std::string& path, int expect_h = 0, int expect_w = 0);

// The parsers under the loaders, on bytes in memory (`name` stands for the file in errors); the
// loaders call them, so the fuzzer (fuzz/) and the tests drive the same code.
// wnids.txt: the class ids, one a line, sorted; none, or one twice, is an error.
std::vector<std::string> parse_wnids(std::string_view text, const std::string& name);
// val_annotations.txt: (file, class index into the sorted `wnids`) per line.
std::vector<std::pair<std::string, int64_t>> parse_val_annotations(std::string_view text, const std::string& name,
                                                                  const std::vector<std::string>& wnids);
// A JPEG file's bytes, as read_image_rgb decodes them.
Tensor decode_image_rgb(std::span<const uint8_t> bytes, const std::string& name, int expect_h = 0, int expect_w = 0);

// uint8 [C, H, W] with C = 1 or 3, as a PNG or a JPEG (baseline, stb_image_write; quality 1..100).
void write_png(const std::string& path, const Tensor& image);
void write_jpeg(const std::string& path, const Tensor& image, int quality = 90);

}  // namespace tg
