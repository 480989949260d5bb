// Weather: snow (a motion-blurred random snow layer), frost (a frost texture blended in) and fog (a
// plasma fractal added). Constants: make_cifar_c.py (32x32) and make_tinyimagenet_c.py (64x64).
#include <algorithm>
#include <cmath>

#include "data/corruptions/common.h"

namespace tg::corruptions {

namespace {

// cv2.cvtColor(RGB2GRAY): 0.299 R + 0.587 G + 0.114 B; a one-channel image is its own gray.
double gray(const Image& x, int y, int xx) {
  if (x.c == 1) return x.at(0, y, xx);
  return 0.299 * x.at(0, y, xx) + 0.587 * x.at(1, y, xx) + 0.114 * x.at(2, y, xx);
}

int next_pow2(int n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

}  // namespace

// Snow flakes: N(c0, c1) per pixel, zoomed by c2 (clipped_zoom), values below c3 dropped, made 8-bit
// and motion-blurred (radius c4, sigma c5, angle U(-135, -45)); the image is whitened toward
// max(x, 1.5 gray + 0.5) with weight 1 - c6; then the layer and its 180-degree rotation are added.
void snow(Image& x, int s, ImageKind k, Rng& rng) {
  struct C { double loc, scale, zoom, threshold, radius, sigma, keep; };
  static const C cifar[5] = {{0.1, 0.2, 1, 0.6, 8, 3, 0.95},
                             {0.1, 0.2, 1, 0.5, 10, 4, 0.9},
                             {0.15, 0.3, 1.75, 0.55, 10, 4, 0.9},
                             {0.25, 0.3, 2.25, 0.6, 12, 6, 0.85},
                             {0.3, 0.3, 1.25, 0.65, 14, 12, 0.8}};
  static const C tiny[5] = {{0.1, 0.2, 1, 0.6, 8, 3, 0.8},
                            {0.1, 0.2, 1, 0.5, 10, 4, 0.8},
                            {0.15, 0.3, 1.75, 0.55, 10, 4, 0.7},
                            {0.25, 0.3, 2.25, 0.6, 12, 6, 0.65},
                            {0.3, 0.3, 1.25, 0.65, 14, 12, 0.6}};
  C c = pick(cifar, tiny, s, k);
  Image layer(1, x.h, x.w);
  for (double& v : layer.px) v = c.loc + c.scale * rng.normal();
  layer = clipped_zoom(layer, c.zoom);
  for (double& v : layer.px) v = v < c.threshold ? 0.0 : std::floor(std::clamp(v, 0.0, 1.0) * 255.0) / 255.0;
  layer = motion_blur_magick(layer, c.radius, c.sigma, rng.uniform(-135, -45));
  for (int y = 0; y < x.h; ++y)
    for (int xx = 0; xx < x.w; ++xx) {
      double g = gray(x, y, xx) * 1.5 + 0.5;
      double flakes = layer.at(0, y, xx) + layer.at(0, x.h - 1 - y, x.w - 1 - xx);
      for (int ch = 0; ch < x.c; ++ch) {
        double& v = x.at(ch, y, xx);
        v = c.keep * v + (1 - c.keep) * std::max(v, g) + flakes;
      }
    }
}

// APPROXIMATION. The reference blends a random crop of one of six frost photographs (frost1.png ..
// frost6.jpg, resized by 0.2 for CIFAR, 0.3 for Tiny-ImageNet), which we cannot ship. This texture
// imitates them: a cloudy plasma-fractal base (0.3..0.65: the photographs are bright) and ice
// needles (bright straight strokes from random seeds, each with short side branches at +-60
// degrees, fading toward their tips), softened by a 0.5-pixel Gaussian and tinted blue-white like
// the photographs. Values 0..255 as the photographs' pixels.
static Image frost_texture(int channels, int h, int w, Rng& rng) {
  int n = next_pow2(std::max(h, w));
  std::vector<double> base = plasma_fractal(n, 2.0, rng);
  Image v(1, h, w);
  for (int y = 0; y < h; ++y)
    for (int xx = 0; xx < w; ++xx) v.at(0, y, xx) = 0.3 + 0.35 * base[size_t(y) * n + xx];
  auto stroke = [&](double x0, double y0, double angle, double length, double strength) {
    for (double t = 0; t < length; t += 0.5) {
      int px = int(std::lround(x0 + t * std::cos(angle))), py = int(std::lround(y0 + t * std::sin(angle)));
      if (px < 0 || py < 0 || px >= w || py >= h) return;
      double& p = v.at(0, py, px);
      p = std::max(p, strength * (1.0 - 0.6 * t / length));
    }
  };
  int seeds = std::max(1, h * w / 48);
  for (int i = 0; i < seeds; ++i) {
    double x0 = rng.uniform(0, w), y0 = rng.uniform(0, h);
    int needles = int(rng.randint(3, 7));
    for (int j = 0; j < needles; ++j) {
      double a = rng.uniform(0, 2 * M_PI), len = rng.uniform(2, std::max(3.0, h / 4.0)), b = rng.uniform(0.5, 1.0);
      stroke(x0, y0, a, len, b);
      for (double t = len / 3; t < len; t += len / 3) {  // side branches
        double bx = x0 + t * std::cos(a), by = y0 + t * std::sin(a);
        stroke(bx, by, a + M_PI / 3, len / 3, 0.8 * b);
        stroke(bx, by, a - M_PI / 3, len / 3, 0.8 * b);
      }
    }
  }
  v = gaussian_blur(v, 0.5);
  static const double tint[3] = {0.80, 0.90, 1.0};
  Image out(channels, h, w);
  for (int ch = 0; ch < channels; ++ch)
    for (int y = 0; y < h; ++y)
      for (int xx = 0; xx < w; ++xx) {
        double t = channels == 1 ? 0.299 * tint[0] + 0.587 * tint[1] + 0.114 * tint[2] : tint[ch];
        out.at(ch, y, xx) = std::floor(std::clamp(v.at(0, y, xx), 0.0, 1.0) * t * 255.0);
      }
  return out;
}

// clip(c0 * x + c1 * frost, 0, 255) in 0..255 units, with the texture above.
void frost(Image& x, int s, ImageKind k, Rng& rng) {
  struct C { double image, frost; };
  static const C cifar[5] = {{1, 0.2}, {1, 0.3}, {0.9, 0.4}, {0.85, 0.4}, {0.75, 0.45}};
  static const C tiny[5] = {{1, 0.3}, {0.9, 0.4}, {0.8, 0.45}, {0.75, 0.5}, {0.7, 0.55}};
  C c = pick(cifar, tiny, s, k);
  Image f = frost_texture(x.c, x.h, x.w, rng);
  for (size_t i = 0; i < x.px.size(); ++i) x.px[i] = c.image * x.px[i] + c.frost * f.px[i] / 255.0;
}

// x + c0 * plasma_fractal(wibbledecay c1), then rescaled by max(x) / (max(x) + c0). The fractal is
// mapsize 32 (CIFAR) or 64 (Tiny-ImageNet): the next power of two of the image size, cropped.
void fog(Image& x, int s, ImageKind k, Rng& rng) {
  struct C { double amount, decay; };
  static const C cifar[5] = {{0.2, 3}, {0.5, 3}, {0.75, 2.5}, {1, 2}, {1.5, 1.75}};
  static const C tiny[5] = {{0.4, 3}, {0.7, 3}, {1, 2.5}, {1.5, 2}, {2, 1.75}};
  C c = pick(cifar, tiny, s, k);
  double max_val = *std::max_element(x.px.begin(), x.px.end());
  int n = next_pow2(std::max(x.h, x.w));
  std::vector<double> p = plasma_fractal(n, c.decay, rng);
  for (int ch = 0; ch < x.c; ++ch)
    for (int y = 0; y < x.h; ++y)
      for (int xx = 0; xx < x.w; ++xx) {
        double& v = x.at(ch, y, xx);
        v = (v + c.amount * p[size_t(y) * n + xx]) * max_val / (max_val + c.amount);
      }
}

}  // namespace tg::corruptions
