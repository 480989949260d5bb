// Tiny-ImageNet-200 and Tiny-ImageNet-C on small folders the test writes in the real layout (64x64
// JPEGs by stb_image_write, one of them grayscale), and broken ones: missing wnids.txt, missing or
// bad val_annotations.txt, a truncated JPEG, a JPEG of the wrong size; each error names the file.
// Decoding on 1 or 3 threads gives the same dataset; a broken file among many is reported by name.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/tiny_imagenet.h"
#include "data_test_util.h"

using namespace tg;
using namespace tg::testing;
namespace fs = std::filesystem;

namespace {

// A smooth 64x64 image (JPEG keeps it within a few levels): channel c, value 40 + (x + y) / 2 + 20 c + tone.
Tensor smooth_image(int channels, int tone, int size = 64) {
  Tensor t = Tensor::empty({channels, size, size}, DType::u8);
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < size; ++y)
      for (int x = 0; x < size; ++x) t.data<uint8_t>()[(c * size + y) * size + x] = uint8_t(40 + (x + y) / 2 + 20 * c + tone);
  return t;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(double(a.data<uint8_t>()[i]) - b.data<uint8_t>()[i]));
  return m;
}

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

// wnids n02 and n01 (unsorted on purpose), two training images each (n01's second one grayscale),
// two validation images.
void make_tiny(const TempDir& dir) {
  write_text(dir / "wnids.txt", "n02\nn01\n");
  for (const char* w : {"n01", "n02"}) fs::create_directories(dir / (std::string("train/") + w + "/images"));
  fs::create_directories(dir / "val/images");
  write_jpeg((dir / "train/n01/images/n01_0.JPEG").string(), smooth_image(3, 0), 95);
  write_jpeg((dir / "train/n01/images/n01_1.JPEG").string(), smooth_image(1, 10), 95);
  write_jpeg((dir / "train/n02/images/n02_0.JPEG").string(), smooth_image(3, 30), 95);
  write_jpeg((dir / "train/n02/images/n02_1.JPEG").string(), smooth_image(3, 40), 95);
  write_text(dir / "train/n02/images/readme.txt", "not an image");
  write_jpeg((dir / "val/images/val_0.JPEG").string(), smooth_image(3, 50), 95);
  write_jpeg((dir / "val/images/val_1.JPEG").string(), smooth_image(3, 60), 95);
  write_text(dir / "val/val_annotations.txt", "val_0.JPEG\tn02\t0\t0\t63\t63\nval_1.JPEG\tn01\t1\t2\t30\t40\n");
}

}  // namespace

TEST_CASE("tiny-imagenet: train and val splits, sorted classes, gray JPEG to RGB") {
  TempDir dir("tiny_good");
  make_tiny(dir);
  Dataset train = load_tiny_imagenet(dir.string(), true);
  REQUIRE(train.size() == 4);
  CHECK(train.images.shape() == Shape{4, 3, 64, 64});
  CHECK(train.num_classes == 2);
  CHECK(train.class_names == std::vector<std::string>{"n01", "n02"});
  CHECK(std::vector<int64_t>(train.labels.data<int64_t>(), train.labels.data<int64_t>() + 4) ==
        std::vector<int64_t>{0, 0, 1, 1});
  CHECK(max_abs_diff(train.images.slice_rows(0, 1), smooth_image(3, 0)) <= 6);
  // The grayscale JPEG: three equal channels, close to the gray written.
  Tensor gray = train.images.slice_rows(1, 2).reshape({3, 64, 64});
  const uint8_t* g = gray.data<uint8_t>();
  for (int i = 0; i < 64 * 64; ++i) {
    CHECK(g[i] == g[4096 + i]);
    CHECK(g[i] == g[8192 + i]);
  }
  CHECK(max_abs_diff(gray.slice_rows(0, 1), smooth_image(1, 10)) <= 6);

  Dataset val = load_tiny_imagenet(dir.string(), false);
  REQUIRE(val.size() == 2);
  CHECK(val.labels.data<int64_t>()[0] == 1);
  CHECK(val.labels.data<int64_t>()[1] == 0);
  CHECK(max_abs_diff(val.images.slice_rows(1, 2), smooth_image(3, 60)) <= 6);
}

TEST_CASE("tiny-imagenet-c: <corruption>/<severity>/<wnid>/*.JPEG") {
  TempDir dir("tiny_c");
  for (const char* w : {"n05", "n03"}) {
    fs::create_directories(dir / (std::string("fog/3/") + w));
    write_jpeg((dir / (std::string("fog/3/") + w + "/a.JPEG")).string(), smooth_image(3, w[2] == '5' ? 5 : 0), 90);
  }
  Dataset d = load_tiny_imagenet_c(dir.string(), "fog", 3);
  REQUIRE(d.size() == 2);
  CHECK(d.class_names == std::vector<std::string>{"n03", "n05"});
  CHECK(d.labels.data<int64_t>()[1] == 1);
  check_error([&] { load_tiny_imagenet_c(dir.string(), "fog", 2); }, (dir / "fog/2").string(), {"Tiny-ImageNet-C"});
}

TEST_CASE("tiny-imagenet-c: labelled by all of Tiny-ImageNet's classes when a folder holds only some") {
  TempDir dir("tiny_c_classes");
  for (const char* w : {"n40", "n20"}) {
    fs::create_directories(dir / (std::string("fog/1/") + w));
    write_jpeg((dir / (std::string("fog/1/") + w + "/a.JPEG")).string(), smooth_image(3, w[1] == '4' ? 40 : 0), 90);
  }
  const std::vector<std::string> classes = {"n10", "n20", "n30", "n40"};
  Dataset d = load_tiny_imagenet_c(dir.string(), "fog", 1, classes);
  REQUIRE(d.size() == 2);
  CHECK(d.num_classes == 4);
  CHECK(d.class_names == classes);
  CHECK(d.labels.to_vector<int64_t>() == std::vector<int64_t>{1, 3});  // n20, n40 among the four
  CHECK(d.images.slice_rows(1, 2).data<uint8_t>()[0] > d.images.data<uint8_t>()[0]);  // n40's brighter image is row 1
  // A folder of a class the list lacks, and a list that is not sorted wnids, are errors naming the folder.
  check_error([&] { load_tiny_imagenet_c(dir.string(), "fog", 1, {"n10", "n20", "n30", "n50"}); },
              (dir / "fog/1").string(), {"n40", "not one of the 4 classes"});
  check_error([&] { load_tiny_imagenet_c(dir.string(), "fog", 1, {"n40", "n20"}); }, (dir / "fog/1").string(),
              {"sorted wnids"});
}

TEST_CASE("tiny-imagenet: broken folders are clear errors naming the file") {
  TempDir dir("tiny_bad");
  make_tiny(dir);
  std::string ds = dir.string();
  // Missing folder and missing wnids.txt.
  check_error([&] { load_tiny_imagenet(ds + "/nowhere", true); }, ds + "/nowhere", {"tiny-imagenet-200.zip"});
  fs::rename(dir / "wnids.txt", dir / "wnids.bak");
  check_error([&] { load_tiny_imagenet(ds, true); }, ds + "/wnids.txt", {"cannot read"});
  fs::rename(dir / "wnids.bak", dir / "wnids.txt");
  // Missing annotations, a malformed line, an unknown class.
  fs::rename(dir / "val/val_annotations.txt", dir / "val/ann.bak");
  check_error([&] { load_tiny_imagenet(ds, false); }, ds + "/val/val_annotations.txt", {"validation labels"});
  write_text(dir / "val/val_annotations.txt", "val_0.JPEG\tn02\nval_1.JPEG n01 1 2 3 4\n");
  check_error([&] { load_tiny_imagenet(ds, false); }, ds + "/val/val_annotations.txt", {"line 2"});
  write_text(dir / "val/val_annotations.txt", "val_0.JPEG\tn07\t0\t0\t1\t1\n");
  check_error([&] { load_tiny_imagenet(ds, false); }, ds + "/val/val_annotations.txt", {"n07", "not in wnids.txt"});
  // A class folder missing.
  write_text(dir / "wnids.txt", "n01\nn02\nn09\n");
  check_error([&] { load_tiny_imagenet(ds, true); }, ds + "/train/n09/images", {"n09"});
  write_text(dir / "wnids.txt", "n01\nn02\n");
  // A truncated JPEG, and one of the wrong size.
  std::string bad = ds + "/train/n02/images/n02_1.JPEG";
  std::vector<uint8_t> bytes = read_bytes(bad);
  bytes.resize(bytes.size() / 3);
  write_bytes(bad, bytes);
  check_error([&] { load_tiny_imagenet(ds, true); }, bad, {"cannot decode"});
  write_jpeg(bad, smooth_image(3, 0, 32), 90);
  check_error([&] { load_tiny_imagenet(ds, true); }, bad, {"32 x 32", "expected 64 x 64"});
  write_bytes(bad, {0xFF, 0xD8, 0xFF});
  check_error([&] { read_image_rgb(bad); }, bad, {"cannot decode"});
  check_error([&] { read_image_rgb(ds + "/none.png"); }, ds + "/none.png", {"cannot open"});
}

TEST_CASE("tiny-imagenet: load_dataset by name, val split as the test split") {
  TempDir dir("tiny_by_name");
  make_tiny(dir);
  Dataset train = load_dataset("tiny-imagenet", dir.string(), true);
  Dataset test = load_dataset("tiny-imagenet", dir.string(), false);
  CHECK(train.name == "tiny-imagenet/train");
  CHECK(train.size() == 4);
  CHECK(test.name == "tiny-imagenet/val");
  CHECK(test.size() == 2);
  CHECK(test.class_names == std::vector<std::string>{"n01", "n02"});
  CHECK_THROWS_WITH_AS(load_dataset("tiny-imagenet-201", dir.string()), doctest::Contains("tiny-imagenet"), Error);
}

namespace {

// 3 classes of 40 training images each, every image different; Tiny-ImageNet-C's fog/2 the same.
void make_many(const TempDir& dir) {
  write_text(dir / "wnids.txt", "n03\nn01\nn02\n");
  int tone = 0;
  for (const char* w : {"n01", "n02", "n03"}) {
    fs::create_directories(dir / (std::string("train/") + w + "/images"));
    fs::create_directories(dir / (std::string("c/fog/2/") + w));
    for (int k = 0; k < 40; ++k, tone = (tone + 7) % 90) {
      std::string file = std::string(w) + "_" + std::to_string(k) + ".JPEG";
      write_jpeg((dir / (std::string("train/") + w + "/images/" + file)).string(), smooth_image(3, tone), 90);
      write_jpeg((dir / (std::string("c/fog/2/") + w + "/" + file)).string(), smooth_image(3, 89 - tone), 90);
    }
  }
}

bool same(const Dataset& a, const Dataset& b) {
  return a.images.shape() == b.images.shape() && a.labels.to_vector<int64_t>() == b.labels.to_vector<int64_t>() &&
         a.images.to_vector<uint8_t>() == b.images.to_vector<uint8_t>() && a.class_names == b.class_names;
}

}  // namespace

TEST_CASE("tiny-imagenet: decoding on 1 or 3 threads gives the same dataset, in the same order") {
  TempDir dir("tiny_threads");
  make_many(dir);
  Dataset one = load_tiny_imagenet(dir.string(), true, 1);
  REQUIRE(one.size() == 120);
  CHECK(one.labels.data<int64_t>()[39] == 0);
  CHECK(one.labels.data<int64_t>()[40] == 1);
  CHECK(max_abs_diff(one.images.slice_rows(0, 1), smooth_image(3, 0)) <= 6);
  CHECK(same(one, load_tiny_imagenet(dir.string(), true, 3)));
  CHECK(same(one, load_tiny_imagenet(dir.string(), true)));  // all hardware threads
  Dataset c1 = load_tiny_imagenet_c((dir / "c").string(), "fog", 2, 1);
  REQUIRE(c1.size() == 120);
  CHECK(same(c1, load_tiny_imagenet_c((dir / "c").string(), "fog", 2, 3)));
  CHECK_THROWS_WITH_AS(load_tiny_imagenet(dir.string(), true, -1), doctest::Contains("threads"), Error);
}

TEST_CASE("tiny-imagenet: an undecodable file among many is an error naming it, on any thread count") {
  TempDir dir("tiny_threads_bad");
  make_many(dir);
  std::string bad = (dir / "train/n02/images/n02_17.JPEG").string();
  write_bytes(bad, {'n', 'o', 't', ' ', 'a', ' ', 'J', 'P', 'E', 'G'});
  for (int threads : {1, 3, 0}) {
    CAPTURE(threads);
    check_error([&] { load_tiny_imagenet(dir.string(), true, threads); }, bad, {"cannot decode"});
  }
  // Two broken files: the first in file order is the one reported, whatever the threads.
  std::string later = (dir / "train/n03/images/n03_5.JPEG").string();
  write_bytes(later, {0xFF, 0xD8, 0xFF});
  for (int threads : {1, 3}) {
    CAPTURE(threads);
    check_error([&] { load_tiny_imagenet(dir.string(), true, threads); }, bad, {"cannot decode"});
  }
  // A validation image listed in val_annotations.txt but missing.
  TempDir small("tiny_threads_missing");
  make_tiny(small);
  fs::remove(small / "val/images/val_1.JPEG");
  check_error([&] { load_tiny_imagenet(small.string(), false, 3); }, (small / "val/images/val_1.JPEG").string(),
              {"cannot open"});
}
