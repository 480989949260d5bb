// IDX (MNIST, Fashion-MNIST) and CIFAR binary files: good files written here in the real format,
// broken ones (truncated, wrong magic, wrong counts, bad labels, missing files), the dataset loaders
// and subsets, and Debian's Fashion-MNIST when it is installed.
#include <doctest/doctest.h>

#include <algorithm>

#include "data/dataset.h"
#include "data/formats.h"
#include "data_test_util.h"

using namespace tg;
using namespace tg::testing;

namespace {

void put_be32(std::vector<uint8_t>& v, uint32_t x) {
  for (int s = 24; s >= 0; s -= 8) v.push_back(uint8_t(x >> s));
}

std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols, uint32_t magic = kIdxImagesMagic) {
  std::vector<uint8_t> v;
  put_be32(v, magic);
  put_be32(v, n);
  put_be32(v, rows);
  put_be32(v, cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) v.push_back(uint8_t(i * 7));
  return v;
}

std::vector<uint8_t> idx_labels(const std::vector<uint8_t>& labels) {
  std::vector<uint8_t> v;
  put_be32(v, kIdxLabelsMagic);
  put_be32(v, uint32_t(labels.size()));
  v.insert(v.end(), labels.begin(), labels.end());
  return v;
}

// CIFAR records: label bytes, then 3072 pixels whose value is (record + plane) for plane R, G, B.
std::vector<uint8_t> cifar_records(const std::vector<std::vector<uint8_t>>& labels) {
  std::vector<uint8_t> v;
  for (size_t r = 0; r < labels.size(); ++r) {
    v.insert(v.end(), labels[r].begin(), labels[r].end());
    for (int plane = 0; plane < 3; ++plane) v.insert(v.end(), 1024, uint8_t(10 * r + plane));
  }
  return v;
}

}  // namespace

TEST_CASE("idx: Fashion-MNIST and MNIST files, gzipped or not") {
  TempDir dir("idx_good");
  write_bytes((dir / "train-images-idx3-ubyte.gz").string(), idx_images(3, 2, 2), true);
  write_bytes((dir / "train-labels-idx1-ubyte.gz").string(), idx_labels({9, 0, 4}), true);
  write_bytes((dir / "t10k-images-idx3-ubyte").string(), idx_images(2, 2, 2));
  write_bytes((dir / "t10k-labels-idx1-ubyte").string(), idx_labels({1, 2}));
  Dataset train = load_fashion_mnist(dir.string(), true);
  CHECK(train.name == "fashion-mnist/train");
  CHECK(train.images.shape() == Shape{3, 1, 2, 2});
  CHECK(train.images.dtype() == DType::u8);
  CHECK(train.labels.to_vector<int64_t>() == std::vector<int64_t>{9, 0, 4});
  auto px = train.images.to_vector<uint8_t>();
  for (size_t i = 0; i < px.size(); ++i) CHECK(px[i] == uint8_t(i * 7));
  CHECK(train.num_classes == 10);
  CHECK(train.class_names[9] == "Ankle boot");
  Dataset test = load_mnist(dir.string(), false);
  CHECK(test.name == "mnist/test");
  CHECK(test.size() == 2);
  CHECK(test.labels.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  CHECK(load_dataset("fashion-mnist", dir.string(), false).size() == 2);
}

TEST_CASE("idx: broken files name the file and the offset") {
  TempDir dir("idx_bad");
  std::string p = (dir / "x-idx3-ubyte").string();
  auto images = idx_images(3, 2, 2);

  write_bytes(p, {0, 0});
  check_error([&] { read_idx(p, kIdxImagesMagic); }, p, {"byte offset 0", "truncated"});
  write_bytes(p, idx_labels({1, 2}));
  check_error([&] { read_idx(p, kIdxImagesMagic); }, p, {"magic number 0x00000801 is not 0x00000803", "swapped"});
  write_bytes(p, {'G', 'I', 'F', '8', '9', 'a', 0, 0});
  check_error([&] { read_idx(p, kIdxImagesMagic); }, p, {"byte offset 0", "not an IDX file"});
  write_bytes(p, std::vector<uint8_t>(images.begin(), images.end() - 1));
  check_error([&] { read_idx(p, kIdxImagesMagic); }, p,
              {"byte offset 27", "truncated: shape [3, 2, 2] needs 12 data bytes from offset 16, the file ends after 11"});
  write_bytes(p, std::vector<uint8_t>(images.begin(), images.begin() + 10));
  check_error([&] { read_idx(p, kIdxImagesMagic); }, p, {"truncated inside the header"});
  auto extra = images;
  extra.push_back(0);
  write_bytes(p, extra);
  check_error([&] { read_idx(p, kIdxImagesMagic); }, p, {"byte offset 28", "1 unexpected trailing bytes"});

  // A gzip stream cut short.
  std::string gz = (dir / "cut.gz").string();
  write_bytes(gz, idx_images(50, 28, 28), true);
  auto bytes = read_bytes(gz);
  write_bytes(gz, std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
  check_error([&] { read_idx(gz, kIdxImagesMagic); }, gz, {"corrupt or truncated gzip"});

  // Loader-level checks: counts that disagree, a label out of range, missing files.
  write_bytes((dir / "train-images-idx3-ubyte").string(), images);
  write_bytes((dir / "train-labels-idx1-ubyte").string(), idx_labels({1, 2}));
  check_error([&] { load_fashion_mnist(dir.string(), true); }, (dir / "train-labels-idx1-ubyte").string(),
              {"has 3 images but", "has 2 labels"});
  write_bytes((dir / "train-labels-idx1-ubyte").string(), idx_labels({1, 10, 2}));
  check_error([&] { load_fashion_mnist(dir.string(), true); }, (dir / "train-labels-idx1-ubyte").string(),
              {"byte offset 9", "label 10 of example 1 is out of range"});
  std::filesystem::remove(dir / "train-labels-idx1-ubyte");
  check_error([&] { load_fashion_mnist(dir.string(), true); }, dir.string(), {"labels not found", "--data-dir"});
  std::string none = (dir / "nowhere").string();
  check_error([&] { load_fashion_mnist(none, true); }, none,
              {"Fashion-MNIST not found", "apt-get install dataset-fashion-mnist", "--data-dir"});
  check_error([&] { load_mnist(none, false); }, none, {"MNIST not found", "--data-dir"});
}

TEST_CASE("cifar: CIFAR-10 batches and CIFAR-100 fine and coarse labels") {
  TempDir dir("cifar_good");
  auto sub = dir / "cifar-10-batches-bin";
  std::filesystem::create_directories(sub);
  for (int i = 1; i <= 5; ++i)
    write_bytes((sub / ("data_batch_" + std::to_string(i) + ".bin")).string(), cifar_records({{uint8_t(i)}, {uint8_t(9 - i)}}));
  write_bytes((sub / "test_batch.bin").string(), cifar_records({{7}}));
  Dataset train = load_cifar10(dir.string(), true);  // the parent folder works, and the folder itself
  CHECK(train.images.shape() == Shape{10, 3, 32, 32});
  CHECK(train.labels.to_vector<int64_t>() == std::vector<int64_t>{1, 8, 2, 7, 3, 6, 4, 5, 5, 4});
  auto px = train.images.to_vector<uint8_t>();
  CHECK(px[0] == 0);
  CHECK(px[1024] == 1);         // green plane of record 0
  CHECK(px[2 * 1024 + 5] == 2); // blue plane
  CHECK(px[3072 + 1023] == 10); // record 1 of batch 1, red
  CHECK(px[2 * 3072] == 0);     // record 0 of batch 2
  Dataset test = load_cifar10(sub.string(), false);
  CHECK(test.size() == 1);
  CHECK(test.labels.to_vector<int64_t>() == std::vector<int64_t>{7});
  CHECK(test.class_names[7] == "horse");

  auto sub100 = dir / "cifar-100-binary";
  std::filesystem::create_directories(sub100);
  write_bytes((sub100 / "train.bin").string(), cifar_records({{3, 99}, {19, 0}}));
  Dataset fine = load_cifar100(dir.string(), true);
  CHECK(fine.num_classes == 100);
  CHECK(fine.labels.to_vector<int64_t>() == std::vector<int64_t>{99, 0});
  CHECK(fine.images.to_vector<uint8_t>()[3072] == 10);
  Dataset coarse = load_cifar100(dir.string(), true, true);
  CHECK(coarse.num_classes == 20);
  CHECK(coarse.labels.to_vector<int64_t>() == std::vector<int64_t>{3, 19});
  CHECK(coarse.name == "cifar100-coarse/train");
}

TEST_CASE("cifar: truncated files, bad labels and missing sets") {
  TempDir dir("cifar_bad");
  std::string p = (dir / "test_batch.bin").string();
  auto two = cifar_records({{1}, {2}});
  write_bytes(p, std::vector<uint8_t>(two.begin(), two.end() - 100));
  check_error([&] { read_cifar_file(p, 1, 0, 10); }, p, {"byte offset 3073", "truncated", "record 1 is cut after 2973 bytes"});
  write_bytes(p, {});
  check_error([&] { read_cifar_file(p, 1, 0, 10); }, p, {"empty file"});
  write_bytes(p, cifar_records({{1}, {12}}));
  check_error([&] { read_cifar_file(p, 1, 0, 10); }, p, {"byte offset 3073", "label 12 of record 1 is out of range [0, 10)"});
  // A CIFAR-100 file read as CIFAR-10: the sizes do not divide.
  write_bytes(p, cifar_records({{1, 50}, {2, 60}, {3, 70}}));
  check_error([&] { read_cifar_file(p, 1, 0, 10); }, p, {"not a whole number of 3073-byte records"});
  check_error([&] { load_cifar10(dir.string(), true); }, dir.string(), {"CIFAR-10 not found", "cifar-10-binary.tar.gz", "--data-dir"});
  check_error([&] { load_cifar100(dir.string(), false); }, dir.string(), {"CIFAR-100 not found", "--data-dir"});
  write_bytes((dir / "data_batch_1.bin").string(), cifar_records({{1}}));
  check_error([&] { load_cifar10(dir.string(), true); }, (dir / "data_batch_2.bin").string(), {"incomplete"});
}

TEST_CASE("dataset: subsets, first n or seeded") {
  Dataset d;
  d.name = "toy";
  d.images = Tensor::arange(20, DType::i64).to(DType::u8).reshape({20, 1, 1, 1});
  d.labels = Tensor::arange(20, DType::i64);
  d.num_classes = 20;
  Dataset first = subset(d, 5);
  CHECK(first.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  Dataset r1 = subset(d, 6, 42), r2 = subset(d, 6, 42), r3 = subset(d, 6, 43);
  auto l1 = r1.labels.to_vector<int64_t>();
  CHECK(l1 == r2.labels.to_vector<int64_t>());
  CHECK(l1 != r3.labels.to_vector<int64_t>());
  CHECK(std::is_sorted(l1.begin(), l1.end()));
  CHECK(std::adjacent_find(l1.begin(), l1.end()) == l1.end());
  auto px = r1.images.to_vector<uint8_t>();
  for (size_t i = 0; i < 6; ++i) CHECK(px[i] == l1[i]);  // images follow their labels
  CHECK_THROWS_WITH_AS(subset(d, 21), doctest::Contains("asked for 21 examples of toy"), Error);
  CHECK(select(d, {3, 3, 0}).labels.to_vector<int64_t>() == std::vector<int64_t>{3, 3, 0});
}

TEST_CASE("dataset: Debian's Fashion-MNIST, when installed") {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte")) {
    MESSAGE("skipped: no Fashion-MNIST in ", kFashionMnistDir, " (apt-get install dataset-fashion-mnist)");
    return;
  }
  Dataset train = load_fashion_mnist();
  Dataset test = load_fashion_mnist("", false);
  CHECK(train.images.shape() == Shape{60000, 1, 28, 28});
  CHECK(test.images.shape() == Shape{10000, 1, 28, 28});
  std::vector<int64_t> hist(10, 0), hist_test(10, 0);
  for (int64_t l : train.labels.to_vector<int64_t>()) ++hist[l];
  for (int64_t l : test.labels.to_vector<int64_t>()) ++hist_test[l];
  CHECK(hist == std::vector<int64_t>(10, 6000));
  CHECK(hist_test == std::vector<int64_t>(10, 1000));
  auto px = train.images.slice_rows(0, 100).to_vector<uint8_t>();
  CHECK(*std::max_element(px.begin(), px.end()) == 255);  // real pixels, not zeros
}
