// Digital: brightness (HSV value), contrast, elastic transform, pixelate and JPEG compression.
// Constants: make_cifar_c.py (32x32) and make_tinyimagenet_c.py (64x64).
#include <algorithm>
#include <array>
#include <cmath>

#include "data/corruptions/common.h"

namespace tg::corruptions {

// skimage rgb2hsv, V = clip(V + c, 0, 1), hsv2rgb. With H and S fixed, hsv2rgb scales all channels by
// V' / V (V = max channel), and a black pixel (V = 0, S = 0) becomes gray V'. Computed in that closed
// form; on one channel it is clip(x + c).
void brightness(Image& x, int s, ImageKind k, Rng&) {
  static const double cifar[5] = {0.05, 0.1, 0.15, 0.2, 0.3};
  static const double tiny[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
  double c = pick(cifar, tiny, s, k);
  for (int y = 0; y < x.h; ++y)
    for (int xx = 0; xx < x.w; ++xx) {
      double v = 0;
      for (int ch = 0; ch < x.c; ++ch) v = std::max(v, x.at(ch, y, xx));
      double v2 = std::clamp(v + c, 0.0, 1.0);
      for (int ch = 0; ch < x.c; ++ch) x.at(ch, y, xx) = v > 0 ? x.at(ch, y, xx) * v2 / v : v2;
    }
}

// (x - mean) * c + mean, the mean per channel over the image.
void contrast(Image& x, int s, ImageKind k, Rng&) {
  static const double cifar[5] = {0.75, 0.5, 0.4, 0.3, 0.15};
  static const double tiny[5] = {0.4, 0.3, 0.2, 0.1, 0.05};
  double c = pick(cifar, tiny, s, k);
  size_t n = size_t(x.h) * x.w;
  for (int ch = 0; ch < x.c; ++ch) {
    double* p = x.px.data() + ch * n;
    double mean = 0;
    for (size_t i = 0; i < n; ++i) mean += p[i];
    mean /= double(n);
    for (size_t i = 0; i < n; ++i) p[i] = (p[i] - mean) * c + mean;
  }
}

namespace {

// cv2.getAffineTransform: the 2x3 matrix M with M [src_i; 1] = dst_i for three point pairs.
std::array<double, 6> affine_from_points(const double src[3][2], const double dst[3][2]) {
  // Solve [x y 1] [a b c]^T = u and [x y 1] [d e f]^T = v by Cramer's rule.
  auto det3 = [](double a, double b, double c, double d, double e, double f, double g, double h, double i) {
    return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  };
  double d = det3(src[0][0], src[0][1], 1, src[1][0], src[1][1], 1, src[2][0], src[2][1], 1);
  std::array<double, 6> m{};
  for (int r = 0; r < 2; ++r) {
    double u0 = dst[0][r], u1 = dst[1][r], u2 = dst[2][r];
    m[3 * r + 0] = det3(u0, src[0][1], 1, u1, src[1][1], 1, u2, src[2][1], 1) / d;
    m[3 * r + 1] = det3(src[0][0], u0, 1, src[1][0], u1, 1, src[2][0], u2, 1) / d;
    m[3 * r + 2] = det3(src[0][0], src[0][1], u0, src[1][0], src[1][1], u1, src[2][0], src[2][1], u2) / d;
  }
  return m;
}

// Bilinear sample of channel ch at (y, x) with a border rule for both neighbours.
double bilinear(const Image& x, int ch, double fy, double fx, Border b) {
  int y0 = int(std::floor(fy)), x0 = int(std::floor(fx));
  double ty = fy - y0, tx = fx - x0;
  auto p = [&](int yy, int xx) { return x.at(ch, border_index(yy, x.h, b), border_index(xx, x.w, b)); };
  return (p(y0, x0) * (1 - tx) + p(y0, x0 + 1) * tx) * (1 - ty) + (p(y0 + 1, x0) * (1 - tx) + p(y0 + 1, x0 + 1) * tx) * ty;
}

}  // namespace

// The reference's elastic_transform (after gist erniejunior/601cdf56d2b424757de5): a random affine
// warp (three points around the centre moved by U(-c2, c2); cv2.warpAffine, bilinear,
// BORDER_REFLECT_101; OpenCV's 1/32-pixel fixed-point weights are exact floats here), then a smooth
// displacement field c0 * gaussian(U(-1, 1), sigma c1, mode 'reflect', truncate 3) per axis, applied
// with scipy.ndimage.map_coordinates(order=1, mode='reflect'). The constants scale with the size.
void elastic_transform(Image& x, int s, ImageKind k, Rng& rng) {
  struct C { double alpha, sigma, affine; };
  static const C cifar[5] = {{0, 0, 0.08}, {0.05, 0.2, 0.07}, {0.08, 0.06, 0.06}, {0.1, 0.04, 0.05}, {0.1, 0.03, 0.03}};
  static const C tiny[5] = {{0, 0, 0.08}, {0.05, 0.3, 0.06}, {0.1, 0.08, 0.06}, {0.1, 0.03, 0.03}, {0.16, 0.03, 0.02}};
  C c = pick(cifar, tiny, s, k);
  double size = k == ImageKind::cifar32 ? 32 : 64;  // IMSIZE of the reference
  double alpha = c.alpha * size, sigma = c.sigma * size, affine = c.affine * size;

  // pts1 as the reference builds them (it mixes (row, col) and OpenCV's (x, y); kept as written).
  double cy = std::floor(x.h / 2.0), cx = std::floor(x.w / 2.0), sq = double(std::min(x.h, x.w) / 3);
  double src[3][2] = {{cy + sq, cx + sq}, {cy + sq, cx - sq}, {cy - sq, cx - sq}}, dst[3][2];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) dst[i][j] = src[i][j] + rng.uniform(-affine, affine);
  // warpAffine samples the source at M^-1 (x, y): invert dst = A src + t.
  std::array<double, 6> m = affine_from_points(src, dst);
  double det = m[0] * m[4] - m[1] * m[3];
  double ia = m[4] / det, ib = -m[1] / det, id = -m[3] / det, ie = m[0] / det;
  Image warped(x.c, x.h, x.w);
  for (int y = 0; y < x.h; ++y)
    for (int xx = 0; xx < x.w; ++xx) {
      double u = xx - m[2], v = y - m[5];
      double sx = ia * u + ib * v, sy = id * u + ie * v;
      for (int ch = 0; ch < x.c; ++ch) warped.at(ch, y, xx) = bilinear(x, ch, sy, sx, Border::reflect101);
    }

  Image dx(1, x.h, x.w), dy(1, x.h, x.w);
  for (double& v : dx.px) v = rng.uniform(-1, 1);
  for (double& v : dy.px) v = rng.uniform(-1, 1);
  dx = gaussian_blur(dx, sigma, Border::reflect, 3.0);
  dy = gaussian_blur(dy, sigma, Border::reflect, 3.0);
  for (int y = 0; y < x.h; ++y)
    for (int xx = 0; xx < x.w; ++xx) {
      double sy = y + alpha * dy.at(0, y, xx), sx = xx + alpha * dx.at(0, y, xx);
      for (int ch = 0; ch < x.c; ++ch) x.at(ch, y, xx) = bilinear(warped, ch, sy, sx, Border::reflect);
    }
}

// PIL resize to int(size * c) with the BOX filter and back.
void pixelate(Image& x, int s, ImageKind k, Rng&) {
  static const double cifar[5] = {0.95, 0.9, 0.85, 0.75, 0.65};
  static const double tiny[5] = {0.9, 0.8, 0.7, 0.6, 0.5};
  double c = pick(cifar, tiny, s, k);
  int h = x.h, w = x.w;
  x = resize_box_pil(resize_box_pil(x, int(h * c), int(w * c)), h, w);
}

// PIL x.save(format='JPEG', quality=c) and reopen: see jpeg.cpp.
void jpeg_compression(Image& x, int s, ImageKind k, Rng&) {
  static const int cifar[5] = {80, 65, 58, 50, 40};
  static const int tiny[5] = {65, 58, 50, 40, 25};
  x = jpeg_round_trip(x, pick(cifar, tiny, s, k));
}

}  // namespace tg::corruptions
