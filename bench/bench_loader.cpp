// Loader throughput, in images per CPU-second of one core (process CPU time, so it holds on a shared
// machine): the DataLoader with one worker over CIFAR-shaped uint8 images with random crop + flip;
// the same resized to 224 (bicubic, for ViT); and Tiny-ImageNet JPEG decoding (64x64 files the
// benchmark writes) on one thread, then on all hardware threads: that last figure is per wall-clock
// second, so it depends on how many cores are free. Run with OMP_NUM_THREADS=1 so that one core does
// all the work of the per-CPU-second figures.
//   bench_loader [images]
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "data/loader.h"
#include "data/tiny_imagenet.h"
#include "data/transforms.h"
#include "tensor/random.h"

using namespace tg;

namespace {

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

double loader_rate(const Dataset& d, Augment augment) {
  LoaderOptions o;
  o.batch_size = 128;
  o.num_workers = 1;
  o.augment = std::move(augment);
  DataLoader loader(d, o);
  loader.start_epoch(0);
  double t0 = cpu_seconds();
  int64_t n = 0;
  while (auto b = loader.next()) n += b->images.size(0);
  return static_cast<double>(n) / (cpu_seconds() - t0);
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::stoll(argv[1]) : 10240;
  Dataset cifar;
  cifar.name = "cifar-shaped";
  cifar.images = randint({n, 3, 32, 32}, 0, 256, DType::u8);
  cifar.labels = randint({n}, 0, 10);
  cifar.num_classes = 10;
  auto crop_flip = [](const Tensor& x, Generator& g) { return random_horizontal_flip(random_crop(x, 32, 32, 4, g), g); };
  double r1 = loader_rate(cifar, crop_flip);
  Dataset small = cifar;
  small.images = cifar.images.slice_rows(0, n / 10);
  small.labels = cifar.labels.slice_rows(0, n / 10);
  double r2 = loader_rate(small, [&](const Tensor& x, Generator& g) {
    return resize(to_float(crop_flip(x, g)), 224, 224, Interpolation::bicubic);
  });

  // Tiny-ImageNet decoding as load_tiny_imagenet does it (the Tiny-ImageNet-C layout: one folder of
  // files), on 1 thread (per CPU-second) and on every hardware thread (per wall-clock second).
  auto dir = std::filesystem::temp_directory_path() / "taugrad_bench_jpeg";
  auto folder = dir / "fog" / "1" / "n00000000";
  std::filesystem::create_directories(folder);
  const int64_t files = 2000;
  Tensor images = randint({files, 3, 64, 64}, 0, 256, DType::u8);
  for (int64_t i = 0; i < files; ++i)
    write_jpeg((folder / (std::to_string(i) + ".JPEG")).string(), images.slice_rows(i, i + 1).reshape({3, 64, 64}));
  load_tiny_imagenet_c(dir.string(), "fog", 1, 0);  // warm-up (file cache, allocator), not timed
  double t0 = cpu_seconds();
  load_tiny_imagenet_c(dir.string(), "fog", 1, 1);
  double r3 = static_cast<double>(files) / (cpu_seconds() - t0);
  const unsigned all = std::max(1u, std::thread::hardware_concurrency());
  auto w0 = std::chrono::steady_clock::now();
  load_tiny_imagenet_c(dir.string(), "fog", 1, 0);
  double r4 = static_cast<double>(files) / std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  std::filesystem::remove_all(dir);

  std::printf("| CIFAR 32x32, random crop 4 + flip, to float (DataLoader, 1 worker) | %.0f |\n", r1);
  std::printf("| CIFAR 32x32, crop + flip, bicubic resize to 224 (DataLoader, 1 worker) | %.0f |\n", r2);
  std::printf("| Tiny-ImageNet 64x64 JPEG decode (libjpeg-turbo), 1 thread | %.0f |\n", r3);
  std::printf("| Tiny-ImageNet 64x64 JPEG decode, %u threads (images per wall-clock second) | %.0f |\n", all, r4);
}
