// DataLoader: batches cover the epoch once, are the same for any number of workers (with
// augmentation too), prefetch stays within its window, errors reach the caller, and a loader
// destroyed mid-epoch shuts down cleanly.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include "data/loader.h"
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
