// The -C sets in the CIFAR-10-C .npy layout: the `corrupt` binary's output read back by
// load_corrupted (and equal to corrupt_batch with the same streams), official-style uint8 labels,
// and broken sets (missing files, wrong shapes, wrong label counts, labels out of range).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "data/corrupted.h"
#include "data/file_io.h"
#include "data/corruptions/corruptions.h"
#include "data/npy.h"
#include "data_test_util.h"

using namespace tg;
using namespace tg::testing;

namespace {

// An IDX file of n images rows x cols (pixel i of image k = (7 k + 3 i) % 256), or of labels.
std::vector<uint8_t> idx(uint32_t magic, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> v;
  for (int s = 24; s >= 0; s -= 8) v.push_back(uint8_t(magic >> s));
  for (uint32_t d : dims)
    for (int s = 24; s >= 0; s -= 8) v.push_back(uint8_t(d >> s));
  v.insert(v.end(), data.begin(), data.end());
  return v;
}

// The folder of the running test binary (the build folder): experiments/corrupt lives below it.
std::string build_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, size_t(n));
  return p.substr(0, p.rfind('/'));
}

Tensor nhwc_set(int64_t rows, int64_t h, int64_t w, int64_t c) {
  Tensor t = Tensor::empty({rows, h, w, c}, DType::u8);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(i % 251);
  return t;
}

}  // namespace

TEST_CASE("corrupted: the corrupt binary writes a set that load_corrupted reads back") {
  std::string exe = build_dir() + "/experiments/corrupt";
  if (access(exe.c_str(), X_OK) != 0) {
    MESSAGE("skipped: no corrupt binary at ", exe);
    return;
  }
  TempDir dir("corrupt_bin");
  const uint32_t n = 6;
  std::vector<uint8_t> px(n * 28 * 28), labels = {3, 1, 4, 1, 5, 9};
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((7 * (i / 784) + 3 * (i % 784)) % 256);
  for (const char* stem : {"train", "t10k"}) {
    write_bytes((dir / (std::string(stem) + "-images-idx3-ubyte")).string(), idx(0x803, {n, 28, 28}, px));
    write_bytes((dir / (std::string(stem) + "-labels-idx1-ubyte")).string(), idx(0x801, {n}, labels));
  }
  std::string out = (dir / "mnist-c").string();
  std::string cmd = exe + " --dataset mnist --data-dir " + dir.string() + " --out " + out +
                    " --corruptions contrast,shot_noise --seed 11 > " + (dir / "log.txt").string() + " 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(is_file(out + "/preview.png"));
  CHECK(load_npy(out + "/shot_noise.npy").shape() == Shape{5 * n, 28, 28, 1});
  Tensor images = Tensor::from_vector<uint8_t>(px, {int64_t(n), 1, 28, 28});
  for (int s = 1; s <= 5; ++s) {
    CAPTURE(s);
    Dataset d = load_corrupted(out, "shot_noise", s, 10);
    REQUIRE(d.images.shape() == Shape{n, 1, 28, 28});
    CHECK(d.labels.data<int64_t>()[5] == 9);
    // The binary's stream for (corruption index 1, severity s).
    Generator gen;
    gen.set_state(11, (uint64_t(1) * 5 + uint64_t(s - 1)) << 40);
    Tensor expect = corrupt_batch(images, "shot_noise", s, gen);
    CHECK(std::memcmp(expect.raw(), d.images.raw(), expect.nbytes()) == 0);
  }
  check_error([&] { load_corrupted(out, "fog", 1, 10); }, out + "/fog.npy", {"not found", "corrupt"});
  // A bad flag is an error exit naming the flag.
  std::string bad = exe + " --dataset mnist --data-dir " + dir.string() + " --out " + out +
                    " --corruptions rain > /dev/null 2>&1";
  CHECK(std::system(bad.c_str()) != 0);
}

TEST_CASE("corrupted: official-style files (uint8 labels, RGB) and NHWC <-> NCHW") {
  TempDir dir("corrupted_good");
  Tensor set = nhwc_set(10, 4, 3, 3);
  save_npy((dir / "fog.npy").string(), set);
  std::vector<uint8_t> l = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  save_npy((dir / "labels.npy").string(), Tensor::from_vector<uint8_t>(l, {10}));
  Dataset d = load_corrupted(dir.string(), "fog", 4, 10);
  REQUIRE(d.images.shape() == Shape{2, 3, 4, 3});
  CHECK(d.labels.dtype() == DType::i64);
  CHECK(d.labels.data<int64_t>()[0] == 6);
  // image 0 of severity 4 is row 6; NCHW (c, y, x) = NHWC (y, x, c).
  const uint8_t* s = set.data<uint8_t>();
  const uint8_t* o = d.images.data<uint8_t>();
  CHECK(o[(2 * 4 + 1) * 3 + 2] == s[((6 * 4 + 1) * 3 + 2) * 3 + 2]);
  CHECK(std::memcmp(nchw_to_nhwc(nhwc_to_nchw(set)).raw(), set.raw(), set.nbytes()) == 0);
}

TEST_CASE("corrupted: broken sets are clear errors naming the file") {
  TempDir dir("corrupted_bad");
  std::string ds = dir.string();
  check_error([&] { load_corrupted(ds, "snow", 1, 10); }, ds + "/snow.npy", {"not found", "corrupt --dataset"});
  save_npy((dir / "snow.npy").string(), nhwc_set(10, 4, 4, 3));
  check_error([&] { load_corrupted(ds, "snow", 1, 10); }, ds + "/labels.npy", {"not found"});
  save_npy((dir / "labels.npy").string(), Tensor::zeros({9}, DType::i64));
  check_error([&] { load_corrupted(ds, "snow", 1, 10); }, ds + "/labels.npy", {"expected (10,)"});
  save_npy((dir / "labels.npy").string(), Tensor::full({10}, 12, DType::i64));
  check_error([&] { load_corrupted(ds, "snow", 2, 10); }, ds + "/labels.npy", {"label 12", "out of range"});
  save_npy((dir / "labels.npy").string(), Tensor::zeros({10}, DType::f32));
  check_error([&] { load_corrupted(ds, "snow", 2, 10); }, ds + "/labels.npy", {"integer labels"});
  save_npy((dir / "labels.npy").string(), Tensor::zeros({10}, DType::i64));
  save_npy((dir / "snow.npy").string(), Tensor::zeros({10, 4, 4}, DType::u8));  // no channel dim
  check_error([&] { load_corrupted(ds, "snow", 1, 10); }, ds + "/snow.npy", {"[10, 4, 4]", "NHWC"});
  save_npy((dir / "snow.npy").string(), Tensor::zeros({10, 3, 4, 4}, DType::u8));  // NCHW by mistake
  check_error([&] { load_corrupted(ds, "snow", 1, 10); }, ds + "/snow.npy", {"C = 1 or 3"});
  save_npy((dir / "snow.npy").string(), Tensor::zeros({10, 4, 4, 3}, DType::f32));
  check_error([&] { load_corrupted(ds, "snow", 1, 10); }, ds + "/snow.npy", {"uint8"});
  save_npy((dir / "snow.npy").string(), nhwc_set(12, 4, 4, 3));
  save_npy((dir / "labels.npy").string(), Tensor::zeros({12}, DType::i64));
  check_error([&] { load_corrupted(ds, "snow", 1, 10); }, ds + "/snow.npy", {"multiple of 5"});
  // A truncated .npy: the npy reader's error names the file.
  save_npy((dir / "snow.npy").string(), nhwc_set(10, 4, 4, 3));
  std::vector<uint8_t> bytes = read_bytes((dir / "snow.npy").string());
  bytes.resize(bytes.size() - 7);
  write_bytes((dir / "snow.npy").string(), bytes);
  check_error([&] { load_corrupted(ds, "snow", 1, 10); }, ds + "/snow.npy", {});
}
