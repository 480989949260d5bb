// Blur: defocus (a disk kernel), glass (blur, local pixel shuffling, blur), motion (ImageMagick's
// one-sided line blur at a random angle) and zoom (the mean of centred zooms).
// Constants: make_cifar_c.py (32x32) and make_tinyimagenet_c.py (64x64).
#include <cmath>

#include "data/corruptions/common.h"

namespace tg::corruptions {

namespace {

// The reference's disk(radius, alias_blur): the pixels of [-8, 8]^2 (or [-r, r]^2 for r > 8) within
// `radius`, normalized, then cv2.GaussianBlur with ksize 3 (5 for r > 8) and sigma alias_blur,
// BORDER_REFLECT_101, to antialias. Returns the kernel; `r` receives its half width.
std::vector<double> disk(double radius, double alias_blur, int& r) {
  r = radius <= 8 ? 8 : int(radius);
  int n = 2 * r + 1, kr = radius <= 8 ? 1 : 2;
  Image d(1, n, n);
  double sum = 0;
  for (int y = -r; y <= r; ++y)
    for (int x = -r; x <= r; ++x) sum += d.at(0, y + r, x + r) = (x * x + y * y <= radius * radius) ? 1.0 : 0.0;
  for (double& v : d.px) v /= sum;
  // cv2.getGaussianKernel(ksize, sigma): exp(-(i - (ksize-1)/2)^2 / (2 sigma^2)), normalized.
  std::vector<double> g(2 * kr + 1);
  double gs = 0;
  for (int i = -kr; i <= kr; ++i) gs += g[i + kr] = std::exp(-double(i * i) / (2 * alias_blur * alias_blur));
  std::vector<double> k2((2 * kr + 1) * (2 * kr + 1));
  for (int i = 0; i <= 2 * kr; ++i)
    for (int j = 0; j <= 2 * kr; ++j) k2[i * (2 * kr + 1) + j] = g[i] * g[j] / (gs * gs);
  return filter2d(d, k2, kr).px;
}

}  // namespace

// cv2.filter2D of each channel with the antialiased disk of radius c[0] (alias blur c[1]).
void defocus_blur(Image& x, int s, ImageKind k, Rng&) {
  struct C { double radius, alias; };
  static const C cifar[5] = {{0.3, 0.4}, {0.4, 0.5}, {0.5, 0.6}, {1, 0.2}, {1.5, 0.1}};
  static const C tiny[5] = {{0.5, 0.6}, {1, 0.1}, {1.5, 0.1}, {2.5, 0.01}, {3, 0.1}};
  C c = pick(cifar, tiny, s, k);
  int r = 0;
  std::vector<double> kernel = disk(c.radius, c.alias, r);
  x = filter2d(x, kernel, r);
}

// Gaussian blur (sigma), truncated to uint8, then `iterations` sweeps that swap each pixel (all
// channels) with one at offset randint(-delta, delta) in each axis (NumPy's exclusive upper end:
// [-delta, delta - 1]), rows and columns from h - delta down to delta + 1; then blur again.
void glass_blur(Image& x, int s, ImageKind k, Rng& rng) {
  struct C { double sigma; int delta, iterations; };
  static const C cifar[5] = {{0.05, 1, 1}, {0.25, 1, 1}, {0.4, 1, 1}, {0.25, 1, 2}, {0.4, 1, 2}};
  static const C tiny[5] = {{0.1, 1, 1}, {0.5, 1, 1}, {0.6, 1, 2}, {0.7, 2, 1}, {0.9, 2, 2}};
  C c = pick(cifar, tiny, s, k);
  x = gaussian_blur(x, c.sigma);
  for (double& v : x.px) v = std::floor(v * 255.0) / 255.0;  // np.uint8(... * 255) then / 255
  for (int it = 0; it < c.iterations; ++it)
    for (int h = x.h - c.delta; h > c.delta; --h)
      for (int w = x.w - c.delta; w > c.delta; --w) {
        int dx = int(rng.randint(-c.delta, c.delta)), dy = int(rng.randint(-c.delta, c.delta));
        for (int ch = 0; ch < x.c; ++ch) std::swap(x.at(ch, h, w), x.at(ch, h + dy, w + dx));
      }
  x = gaussian_blur(x, c.sigma);
}

// ImageMagick motion blur with (radius, sigma) at an angle drawn from U(-45, 45) degrees.
void motion_blur(Image& x, int s, ImageKind k, Rng& rng) {
  struct C { double radius, sigma; };
  static const C cifar[5] = {{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}};
  static const C tiny[5] = {{10, 1}, {10, 1.5}, {10, 2}, {10, 2.5}, {12, 3}};
  C c = pick(cifar, tiny, s, k);
  x = motion_blur_magick(x, c.radius, c.sigma, rng.uniform(-45, 45));
}

// (x + sum_z clipped_zoom(x, z)) / (count + 1) for z = 1.00, 1.01, ... (np.arange(1, end, 0.01),
// whose float rounding gives 7, 12, 16, 21 and 26 factors).
void zoom_blur(Image& x, int s, ImageKind, Rng&) {
  static const int count[5] = {7, 12, 16, 21, 26};
  int n = count[s - 1];
  Image out(x.c, x.h, x.w);
  for (int i = 0; i < n; ++i) {
    Image z = clipped_zoom(x, 1.0 + 0.01 * i);
    for (size_t j = 0; j < out.px.size(); ++j) out.px[j] += z.px[j];
  }
  for (size_t j = 0; j < out.px.size(); ++j) x.px[j] = (x.px[j] + out.px[j]) / (n + 1);
}

}  // namespace tg::corruptions
