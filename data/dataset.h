// Datasets in memory: images, labels, class count and names, and the loaders of the image sets this
// study uses. A loader that cannot find its files says where to get them and which flag to set.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tg {

struct Dataset {
  std::string name;                      // "fashion-mnist/train", "cifar10/test", ...
  Tensor images;                         // uint8 [N, C, H, W] pixels 0..255, or float32 in [0, 1]
  Tensor labels;                         // int64 [N], in [0, num_classes)
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // num_classes names, or empty

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
};

// Debian's package dataset-fashion-mnist installs the files here.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST / MNIST: {train,t10k}-{images-idx3,labels-idx1}-ubyte, with or without .gz, in `dir`.
// An empty `dir` means the default (kFashionMnistDir for Fashion-MNIST, ./data/mnist for MNIST).
Dataset load_fashion_mnist(const std::string& dir = "", bool train = true);
Dataset load_mnist(const std::string& dir = "", bool train = true);
// CIFAR-10 binary: `dir` holds data_batch_{1..5}.bin and test_batch.bin, or holds the folder
// cifar-10-batches-bin that does. Default ./data.
Dataset load_cifar10(const std::string& dir = "", bool train = true);
// CIFAR-100 binary: `dir` holds train.bin and test.bin, or holds cifar-100-binary/. Fine labels
// (100 classes), or the 20 coarse ones when `coarse`. Default ./data.
Dataset load_cifar100(const std::string& dir = "", bool train = true, bool coarse = false);
// By name: "fashion-mnist", "mnist", "cifar10", "cifar100", "cifar100-coarse", "tiny-imagenet"
// (data/tiny_imagenet.h: train/ when `train`, else val/ as the test split; JPEGs decoded on all
// hardware threads).
Dataset load_dataset(const std::string& name, const std::string& dir = "", bool train = true);

// The first n examples, or n examples drawn without replacement by `seed` (kept in dataset order).
// n larger than the dataset is an error.
Dataset subset(const Dataset& data, int64_t n, std::optional<uint64_t> seed = std::nullopt);
// The examples at `indices` (copies), in that order.
Dataset select(const Dataset& data, const std::vector<int64_t>& indices);

}  // namespace tg
