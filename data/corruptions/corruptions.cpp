// The registry of the 15 corruptions and the conversion between uint8 tensors and float images.
#include "data/corruptions/corruptions.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/corruptions/common.h"
#include "util/error.h"

namespace tg {

namespace {

using Fn = void (*)(corruptions::Image&, int, ImageKind, corruptions::Rng&);
struct Entry {
  const char* name;
  Fn fn;
};
const Entry kCorruptions[] = {
    {"gaussian_noise", corruptions::gaussian_noise}, {"shot_noise", corruptions::shot_noise},
    {"impulse_noise", corruptions::impulse_noise},   {"defocus_blur", corruptions::defocus_blur},
    {"glass_blur", corruptions::glass_blur},         {"motion_blur", corruptions::motion_blur},
    {"zoom_blur", corruptions::zoom_blur},           {"snow", corruptions::snow},
    {"frost", corruptions::frost},                   {"fog", corruptions::fog},
    {"brightness", corruptions::brightness},         {"contrast", corruptions::contrast},
    {"elastic_transform", corruptions::elastic_transform}, {"pixelate", corruptions::pixelate},
    {"jpeg_compression", corruptions::jpeg_compression},
};

Fn find(const std::string& name) {
  for (const Entry& e : kCorruptions)
    if (name == e.name) return e.fn;
  std::string all;
  for (const Entry& e : kCorruptions) all += std::string(all.empty() ? "" : ", ") + e.name;
  TG_FAIL("corrupt: unknown corruption '", name, "'; expected one of ", all);
}

// One image, uint8 [C, H, W] at `src`, corrupted into `dst`.
void corrupt_one(const uint8_t* src, uint8_t* dst, int c, int h, int w, Fn fn, int severity, Generator& gen,
                 ImageKind kind) {
  corruptions::Image x(c, h, w);
  for (size_t i = 0; i < x.px.size(); ++i) x.px[i] = src[i] / 255.0;
  corruptions::Rng rng(gen);
  fn(x, severity, kind, rng);
  // np.uint8(np.clip(x, 0, 1) * 255): truncation. (k / 255.0) * 255.0 is exactly k for every k, so
  // the steps with 8-bit results (JPEG, pixelate, motion blur) come back unchanged.
  for (size_t i = 0; i < x.px.size(); ++i) dst[i] = uint8_t(std::floor(std::clamp(x.px[i], 0.0, 1.0) * 255.0));
}

void check_args(const Tensor& images, int64_t dims, int severity, const char* op) {
  TG_CHECK(images.dim() == dims, op, ": expected uint8 ", dims == 3 ? "[C, H, W]" : "[N, C, H, W]", ", got ",
           shape_str(images.shape()));
  TG_CHECK(images.dtype() == DType::u8, op, ": expected uint8 pixels, got ", dtype_name(images.dtype()));
  int64_t c = images.size(-3);
  TG_CHECK(c == 1 || c == 3, op, ": ", c, " channels in ", shape_str(images.shape()), "; expected 1 or 3");
  TG_CHECK(images.size(-1) >= 8 && images.size(-2) >= 8, op, ": image ", shape_str(images.shape()),
           " is smaller than 8 x 8");
  TG_CHECK(severity >= 1 && severity <= 5, op, ": severity ", severity, " is not in 1..5");
}

}  // namespace

std::vector<std::string> corruption_names() {
  std::vector<std::string> names;
  for (const Entry& e : kCorruptions) names.push_back(e.name);
  return names;
}

Tensor corrupt(const Tensor& image, const std::string& name, int severity, Generator& gen, ImageKind kind) {
  check_args(image, 3, severity, "corrupt");
  Fn fn = find(name);
  Tensor src = image.cpu();
  Tensor out = Tensor::empty(src.shape(), DType::u8);
  corrupt_one(src.data<uint8_t>(), out.data<uint8_t>(), int(src.size(0)), int(src.size(1)), int(src.size(2)), fn,
              severity, gen, kind);
  return out;
}

Tensor corrupt_batch(const Tensor& images, const std::string& name, int severity, Generator& gen, ImageKind kind) {
  check_args(images, 4, severity, "corrupt_batch");
  Fn fn = find(name);
  Tensor src = images.cpu();
  Tensor out = Tensor::empty(src.shape(), DType::u8);
  int c = int(src.size(1)), h = int(src.size(2)), w = int(src.size(3));
  size_t per = size_t(c) * h * w;
  int64_t n = src.size(0);
  // Image i draws from the generator state that a one-by-one loop would give it: block offset + i.
  PhiloxState base = gen.take(uint64_t(n));
  const uint8_t* s = src.data<uint8_t>();
  uint8_t* o = out.data<uint8_t>();
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t i = 0; i < n; ++i) {
    Generator g;
    g.set_state(base.seed, base.offset + uint64_t(i));
    corrupt_one(s + i * per, o + i * per, c, h, w, fn, severity, g, kind);
  }
  return out;
}

}  // namespace tg
