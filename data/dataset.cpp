#include "data/dataset.h"

#include <algorithm>
#include <cstring>

#include "data/file_io.h"
#include "data/formats.h"
#include "data/tiny_imagenet.h"
#include "tensor/random.h"

namespace tg {

namespace {

const std::vector<std::string> kFashionNames = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
const std::vector<std::string> kCifar10Names = {"airplane", "automobile", "bird", "cat", "deer",
                                                "dog", "frog", "horse", "ship", "truck"};

std::string join(const std::string& dir, const std::string& file) {
  return dir.empty() || dir.back() == '/' ? dir + file : dir + "/" + file;
}

// MNIST and Fashion-MNIST share the file layout.
Dataset load_idx_pair(const std::string& title, const std::string& key, const std::string& dir, bool train,
                      const std::string& how_to_get) {
  std::string stem = train ? "train" : "t10k";
  std::string images_base = join(dir, stem + "-images-idx3-ubyte"), labels_base = join(dir, stem + "-labels-idx1-ubyte");
  std::string images_path = first_existing({images_base + ".gz", images_base});
  std::string labels_path = first_existing({labels_base + ".gz", labels_base});
  TG_CHECK(!images_path.empty(), title, " not found: no ", images_base, "(.gz). ", how_to_get);
  TG_CHECK(!labels_path.empty(), title, " labels not found: no ", labels_base, "(.gz) beside ", images_path,
           ". ", how_to_get);
  Tensor images = read_idx(images_path, kIdxImagesMagic);
  Tensor labels = read_idx(labels_path, kIdxLabelsMagic);
  TG_CHECK(images.size(0) == labels.size(0), title, ": ", images_path, " has ", images.size(0), " images but ",
           labels_path, " has ", labels.size(0), " labels");
  Dataset d;
  d.name = key + (train ? "/train" : "/test");
  d.images = images.reshape({images.size(0), 1, images.size(1), images.size(2)});
  d.labels = labels.to(DType::i64);
  d.num_classes = 10;
  const uint8_t* l = labels.data<uint8_t>();
  for (int64_t i = 0; i < labels.size(0); ++i)
    TG_CHECK(l[i] < 10, "file '", labels_path, "', byte offset ", 8 + i, ": label ", int(l[i]), " of example ", i,
             " is out of range [0, 10)");
  return d;
}

// Concatenates the records of several CIFAR files.
Dataset load_cifar_files(const std::vector<std::string>& paths, int label_bytes, int label_index,
                         int64_t num_classes) {
  std::vector<ImagesAndLabels> parts;
  int64_t n = 0;
  for (const auto& p : paths) {
    parts.push_back(read_cifar_file(p, label_bytes, label_index, num_classes));
    n += parts.back().labels.size(0);
  }
  Dataset d;
  d.images = Tensor::empty({n, 3, 32, 32}, DType::u8);
  d.labels = Tensor::empty({n}, DType::i64);
  int64_t at = 0;
  for (const auto& part : parts) {
    int64_t m = part.labels.size(0);
    d.images.slice_rows(at, at + m).copy_(part.images);
    d.labels.slice_rows(at, at + m).copy_(part.labels);
    at += m;
  }
  d.num_classes = num_classes;
  return d;
}

// `dir` itself, or its subfolder `sub`, whichever holds `probe`.
std::string resolve_dir(const std::string& dir, const std::string& sub, const std::string& probe) {
  if (is_file(join(dir, probe))) return dir;
  if (is_file(join(join(dir, sub), probe))) return join(dir, sub);
  return "";
}

}  // namespace

Dataset load_fashion_mnist(const std::string& dir, bool train) {
  std::string d = dir.empty() ? kFashionMnistDir : dir;
  Dataset data = load_idx_pair(
      "Fashion-MNIST", "fashion-mnist", d, train,
      "Install Debian's copy with `sudo apt-get install dataset-fashion-mnist` (it goes to " +
          std::string(kFashionMnistDir) +
          "), or download the four files from https://github.com/zalandoresearch/fashion-mnist and pass "
          "--data-dir <folder>.");
  data.class_names = kFashionNames;
  return data;
}

Dataset load_mnist(const std::string& dir, bool train) {
  std::string d = dir.empty() ? "data/mnist" : dir;
  return load_idx_pair("MNIST", "mnist", d, train,
                       "Download the four files from https://yann.lecun.com/exdb/mnist/ (or a mirror such as "
                       "https://ossci-datasets.s3.amazonaws.com/mnist/) and pass --data-dir <folder>.");
}

Dataset load_cifar10(const std::string& dir, bool train) {
  std::string base = dir.empty() ? "data" : dir;
  std::string probe = train ? "data_batch_1.bin" : "test_batch.bin";
  std::string d = resolve_dir(base, "cifar-10-batches-bin", probe);
  TG_CHECK(!d.empty(), "CIFAR-10 not found: no ", probe, " in '", base, "' or '", join(base, "cifar-10-batches-bin"),
           "'. Download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, extract it (tar xzf), "
           "and pass --data-dir <folder holding cifar-10-batches-bin>.");
  std::vector<std::string> files;
  if (train) {
    for (int i = 1; i <= 5; ++i) files.push_back(join(d, "data_batch_" + std::to_string(i) + ".bin"));
  } else {
    files.push_back(join(d, "test_batch.bin"));
  }
  for (const auto& f : files)
    TG_CHECK(is_file(f), "CIFAR-10 is incomplete: '", f, "' is missing. Extract cifar-10-binary.tar.gz again.");
  Dataset data = load_cifar_files(files, 1, 0, 10);
  data.name = train ? "cifar10/train" : "cifar10/test";
  data.class_names = kCifar10Names;
  return data;
}

Dataset load_cifar100(const std::string& dir, bool train, bool coarse) {
  std::string base = dir.empty() ? "data" : dir;
  std::string file = train ? "train.bin" : "test.bin";
  std::string d = resolve_dir(base, "cifar-100-binary", file);
  TG_CHECK(!d.empty(), "CIFAR-100 not found: no ", file, " in '", base, "' or '", join(base, "cifar-100-binary"),
           "'. Download https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz, extract it (tar xzf), "
           "and pass --data-dir <folder holding cifar-100-binary>.");
  Dataset data = load_cifar_files({join(d, file)}, 2, coarse ? 0 : 1, coarse ? 20 : 100);
  data.name = std::string(coarse ? "cifar100-coarse" : "cifar100") + (train ? "/train" : "/test");
  return data;
}

Dataset load_dataset(const std::string& name, const std::string& dir, bool train) {
  if (name == "fashion-mnist") return load_fashion_mnist(dir, train);
  if (name == "mnist") return load_mnist(dir, train);
  if (name == "cifar10") return load_cifar10(dir, train);
  if (name == "cifar100") return load_cifar100(dir, train, false);
  if (name == "cifar100-coarse") return load_cifar100(dir, train, true);
  if (name == "tiny-imagenet") return load_tiny_imagenet(dir, train);
  TG_FAIL("unknown dataset '", name,
          "': use fashion-mnist, mnist, cifar10, cifar100, cifar100-coarse or tiny-imagenet");
}

Dataset select(const Dataset& data, const std::vector<int64_t>& indices) {
  int64_t n = data.size(), m = static_cast<int64_t>(indices.size());
  Shape shape = data.images.shape();
  shape[0] = m;
  Dataset out = data;
  out.images = Tensor::empty(shape, data.images.dtype());
  out.labels = Tensor::empty({m}, DType::i64);
  size_t row = data.images.nbytes() / static_cast<size_t>(std::max<int64_t>(n, 1));
  const char* src = static_cast<const char*>(data.images.cpu().raw());
  char* dst = static_cast<char*>(out.images.raw());
  std::vector<int64_t> labels = data.labels.to_vector<int64_t>();
  int64_t* lab = out.labels.data<int64_t>();
  for (int64_t i = 0; i < m; ++i) {
    int64_t k = indices[i];
    TG_CHECK(k >= 0 && k < n, "select: index ", k, " out of range for ", data.name, " (", n, " examples)");
    std::memcpy(dst + i * row, src + k * row, row);
    lab[i] = labels[k];
  }
  return out;
}

Dataset subset(const Dataset& data, int64_t n, std::optional<uint64_t> seed) {
  TG_CHECK(n >= 0 && n <= data.size(), "subset: asked for ", n, " examples of ", data.name, ", which has ",
           data.size());
  std::vector<int64_t> idx(static_cast<size_t>(n));
  if (!seed) {
    for (int64_t i = 0; i < n; ++i) idx[i] = i;
  } else {
    Generator gen(*seed);
    std::vector<int64_t> perm = randperm(data.size(), Device::cpu(), &gen).to_vector<int64_t>();
    std::copy(perm.begin(), perm.begin() + n, idx.begin());
    std::sort(idx.begin(), idx.end());
  }
  Dataset out = select(data, idx);
  out.name = data.name + "[" + std::to_string(n) + (seed ? " seed " + std::to_string(*seed) : "") + "]";
  return out;
}

}  // namespace tg
