// Loader throughput, in images per CPU-second of one core (process CPU time, so it holds on a shared
// machine): the DataLoader with one worker over CIFAR-shaped uint8 images with random crop + flip;
// the same resized to 224 (bicubic, for ViT); and Tiny-ImageNet JPEG decoding (64x64 files the
// benchmark writes). Run with OMP_NUM_THREADS=1 so that one core does all the work.
//   bench_loader [images]
#include <ctime>
#include <cstdio>
#include <filesystem>
#include <string>

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

  auto dir = std::filesystem::temp_directory_path() / "taugrad_bench_jpeg";
  std::filesystem::create_directories(dir);
  const int64_t files = 500;
  Tensor images = randint({files, 3, 64, 64}, 0, 256, DType::u8);
  for (int64_t i = 0; i < files; ++i)
    write_jpeg((dir / (std::to_string(i) + ".JPEG")).string(), images.slice_rows(i, i + 1).reshape({3, 64, 64}));
  double t0 = cpu_seconds();
  for (int64_t i = 0; i < files; ++i) read_image_rgb((dir / (std::to_string(i) + ".JPEG")).string(), 64, 64);
  double r3 = static_cast<double>(files) / (cpu_seconds() - t0);
  std::filesystem::remove_all(dir);

  std::printf("| CIFAR 32x32, random crop 4 + flip, to float (DataLoader, 1 worker) | %.0f |\n", r1);
  std::printf("| CIFAR 32x32, crop + flip, bicubic resize to 224 (DataLoader, 1 worker) | %.0f |\n", r2);
  std::printf("| Tiny-ImageNet 64x64 JPEG decode (stb_image) | %.0f |\n", r3);
}
