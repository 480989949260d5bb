// DataLoader: batches cover the epoch once, are the same for any number of workers (with
// augmentation too), prefetch stays within its window, errors reach the caller, and a loader
// destroyed mid-epoch shuts down cleanly. pin_memory gives the same batches (pinned only with a GPU),
// and a DevicePrefetcher on the CPU passes the loader's batches through (on a GPU:
// tests/cuda/test_prefetch.cpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "data/loader.h"
#include "data/prefetcher.h"
#include "data/transforms.h"

using namespace tg;

namespace {

// n images 1 x 4 x 4 whose pixels all equal the example index (mod 256); label = index % 10.
Dataset toy(int64_t n) {
  Dataset d;
  d.name = "toy";
  std::vector<uint8_t> px;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) {
    px.insert(px.end(), 16, uint8_t(i));
    labels.push_back(i % 10);
  }
  d.images = Tensor::from_vector(px, {n, 1, 4, 4});
  d.labels = Tensor::from_vector(labels, {n});
  d.num_classes = 10;
  return d;
}

std::vector<std::vector<float>> run_epoch(DataLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<std::vector<float>> out;
  while (auto b = loader.next()) {
    CHECK(b->index == static_cast<int64_t>(out.size()));
    CHECK(b->images.dtype() == DType::f32);
    auto v = b->images.to_vector<float>();
    for (int64_t l : b->labels.to_vector<int64_t>()) v.push_back(float(l));
    out.push_back(v);
  }
  return out;
}

}  // namespace

TEST_CASE("loader: an epoch covers the data once, shuffled by seed, batches as sized") {
  LoaderOptions opt;
  opt.batch_size = 10;
  opt.seed = 3;
  DataLoader loader(toy(103), opt);
  CHECK(loader.num_batches() == 11);
  loader.start_epoch(0);
  std::vector<int64_t> seen;
  int64_t batches = 0;
  while (auto b = loader.next()) {
    CHECK(b->images.shape() == Shape{batches < 10 ? 10 : 3, 1, 4, 4});
    auto px = b->images.to_vector<float>();
    auto lab = b->labels.to_vector<int64_t>();
    for (size_t i = 0; i < lab.size(); ++i) {
      int64_t idx = std::lround(px[i * 16] * 255.0f);
      CHECK(lab[i] == idx % 10);  // images and labels stay together
      seen.push_back(idx);
    }
    ++batches;
  }
  CHECK(batches == 11);
  CHECK(!loader.next().has_value());
  CHECK(!std::is_sorted(seen.begin(), seen.end()));
  std::sort(seen.begin(), seen.end());
  for (int64_t i = 0; i < 103; ++i) CHECK(seen[i] == i);
  CHECK(run_epoch(loader, 1) != run_epoch(loader, 2));  // each epoch its own order
  CHECK(run_epoch(loader, 1) == run_epoch(loader, 1));
  opt.drop_last = true;
  DataLoader dropping(toy(103), opt);
  CHECK(dropping.num_batches() == 10);
  CHECK(run_epoch(dropping, 0).size() == 10);
}

TEST_CASE("loader: the same batches for 0, 1 and 2 workers, with augmentation") {
  LoaderOptions opt;
  opt.batch_size = 8;
  opt.seed = 11;
  opt.prefetch = 2;
  opt.augment = [](const Tensor& x, Generator& gen) {
    return random_horizontal_flip(random_crop(x, 4, 4, 2, gen), gen);
  };
  Dataset d = toy(50);
  std::vector<std::vector<std::vector<float>>> results;
  for (int workers : {0, 1, 2}) {
    opt.num_workers = workers;
    DataLoader loader(d, opt);
    results.push_back(run_epoch(loader, 4));
  }
  CHECK(results[0].size() == 7);
  CHECK(results[0] == results[1]);
  CHECK(results[0] == results[2]);
  bool cropped = false;  // the augmentation did something: some pixels are padding zeros
  for (const auto& b : results[0]) cropped |= std::count(b.begin(), b.end(), 0.0f) > 8;
  CHECK(cropped);
}

TEST_CASE("loader: 2 workers prefetch within the window; errors reach next(); clean shutdown") {
  std::atomic<int> assembled{0};
  LoaderOptions opt;
  opt.batch_size = 4;
  opt.num_workers = 2;
  opt.prefetch = 3;
  opt.augment = [&](const Tensor& x, Generator&) {
    ++assembled;
    return x;
  };
  {
    DataLoader loader(toy(40), opt);
    loader.start_epoch(0);
    for (int i = 0; i < 200 && assembled < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    CHECK(assembled == 3);  // ahead of the consumer by exactly the window
    CHECK(loader.next().has_value());
    for (int i = 0; i < 200 && assembled < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(assembled == 4);
  }  // destroyed mid-epoch: the workers stop and join

  opt.augment = [](const Tensor& x, Generator&) -> Tensor {
    if (x.to_vector<uint8_t>()[0] == 0) throw Error("augment: bad image");  // not shuffled: batch 0
    return x;
  };
  opt.shuffle = false;
  DataLoader failing(toy(12), opt);
  failing.start_epoch(0);
  CHECK_THROWS_WITH_AS(failing.next(), "augment: bad image", Error);
  CHECK(failing.next().has_value());  // the others are fine
  failing.start_epoch(1);             // restart mid-epoch
  CHECK_THROWS_AS(failing.next(), Error);
}

namespace {

// The batches of an epoch as (images, labels, index), copied to the host.
struct HostBatch {
  std::vector<float> images;
  std::vector<int64_t> labels;
  Shape shape;
  int64_t index = 0;
  bool operator==(const HostBatch&) const = default;
};
template <class Source>
std::vector<HostBatch> host_batches(Source& source, int64_t epoch) {
  source.start_epoch(epoch);
  std::vector<HostBatch> out;
  while (auto b = source.next())
    out.push_back({b->images.template to_vector<float>(), b->labels.template to_vector<int64_t>(), b->images.shape(),
                   b->index});
  return out;
}

}  // namespace

TEST_CASE("loader: pin_memory gives the same batches; pinned only with a GPU, else ordinary memory") {
  Dataset u8 = toy(53);
  Dataset f32 = u8;
  f32.images = to_float(u8.images);
  auto crop_flip = [](const Tensor& x, Generator& g) { return random_horizontal_flip(random_crop(x, 4, 4, 1, g), g); };
  // uint8 with and without augmentation (converted into pinned memory), float32 without (gathered
  // straight into it) and with (copied into it).
  for (const Dataset* data : {&u8, &f32})
    for (bool augment : {false, true}) {
      CAPTURE(data == &u8);
      CAPTURE(augment);
      LoaderOptions o;
      o.batch_size = 8;
      o.seed = 5;
      if (augment) o.augment = crop_flip;
      DataLoader plain(*data, o);
      o.pin_memory = true;
      DataLoader pinned(*data, o);
      CHECK(host_batches(pinned, 1) == host_batches(plain, 1));
      pinned.start_epoch(0);
      auto b = pinned.next();
      REQUIRE(b);
      CHECK(b->images.is_pinned() == cuda_is_available());
      CHECK(b->labels.is_pinned() == cuda_is_available());
      CHECK(b->images.device() == Device::cpu());
    }
  // Tensor::empty_pinned itself: ordinary host memory without a GPU, usable as any CPU tensor.
  Tensor t = Tensor::empty_pinned({3, 5}, DType::f64);
  CHECK(t.is_pinned() == cuda_is_available());
  t.fill_(2.5);
  CHECK(t.to_vector<double>() == std::vector<double>(15, 2.5));
  CHECK_FALSE(Tensor::empty({3, 5}).is_pinned());
  CHECK_FALSE(t.clone().is_pinned());
}

TEST_CASE("loader: DevicePrefetcher on the CPU yields exactly the loader's batches") {
  LoaderOptions o;
  o.batch_size = 7;
  o.seed = 11;
  o.augment = [](const Tensor& x, Generator& g) { return random_horizontal_flip(x, g); };
  DataLoader reference(toy(40), o);
  DataLoader wrapped(toy(40), o);
  DevicePrefetcher prefetcher(wrapped, Device::cpu());
  CHECK_THROWS_WITH_AS(prefetcher.next(), doctest::Contains("start_epoch"), Error);
  for (int64_t epoch : {0, 1}) {
    CAPTURE(epoch);
    auto want = host_batches(reference, epoch);
    CHECK(want.size() == 6);
    CHECK(host_batches(prefetcher, epoch) == want);
  }
  // An epoch abandoned halfway, then a new one: the new epoch's batches from the start.
  prefetcher.start_epoch(2);
  CHECK(prefetcher.next()->index == 0);
  CHECK(prefetcher.next()->index == 1);
  CHECK(host_batches(prefetcher, 3) == host_batches(reference, 3));
}
