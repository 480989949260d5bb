// The image-processing routines the reference scripts borrow from other libraries, re-implemented:
// SciPy's gaussian_filter and zoom, ImageMagick's motion blur, OpenCV's filter2D, PIL's BOX resize,
// and the scripts' own clipped_zoom and plasma_fractal. Each says what it reproduces.
#include "data/corruptions/common.h"

#include <algorithm>
#include <cmath>

#include "tensor/philox.h"
#include "util/error.h"

namespace tg::corruptions {

Image Image::plane(int ch) const {
  Image p(1, h, w);
  std::copy_n(px.begin() + size_t(ch) * h * w, size_t(h) * w, p.px.begin());
  return p;
}

void Image::set_plane(int ch, const Image& p) {
  std::copy_n(p.px.begin(), size_t(h) * w, px.begin() + size_t(ch) * h * w);
}

// ---- random stream ----

Rng::Rng(Generator& gen) {
  PhiloxState s = gen.take(1);
  philox::U32x4 b = philox::block(s.offset, s.seed);
  key_ = (uint64_t(b.v[0]) << 32) | b.v[1];
}

uint32_t Rng::next_word() {
  if (used_ == 4) {
    philox::U32x4 b = philox::block(counter_++, key_);
    std::copy_n(b.v, 4, buf_);
    used_ = 0;
  }
  return buf_[used_++];
}

double Rng::uniform() {  // 53 random bits, as NumPy's next_double
  uint64_t a = next_word() >> 5, b = next_word() >> 6;
  return double(a * 67108864 + b) / 9007199254740992.0;
}

double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {  // Box-Muller
  double u1 = 1.0 - uniform(), u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

int64_t Rng::randint(int64_t lo, int64_t hi) {
  TG_CHECK(hi > lo, "randint: empty range [", lo, ", ", hi, ")");
  return lo + std::min<int64_t>(int64_t(uniform() * double(hi - lo)), hi - lo - 1);
}

// NumPy's random_poisson: multiplication method below 10, PTRS (Hoermann 1993) from 10 on.
int64_t Rng::poisson(double lam) {
  if (lam <= 0) return 0;
  if (lam < 10) {
    double enlam = std::exp(-lam), prod = 1.0;
    int64_t x = 0;
    while (true) {
      prod *= uniform();
      if (prod > enlam) ++x;
      else return x;
    }
  }
  double slam = std::sqrt(lam), loglam = std::log(lam);
  double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
  double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
  while (true) {
    double u = uniform() - 0.5, v = uniform(), us = 0.5 - std::fabs(u);
    int64_t k = int64_t(std::floor((2 * a / us + b) * u + lam + 0.43));
    if (us >= 0.07 && v <= vr) return k;
    if (k < 0 || (us < 0.013 && v > us)) continue;
    if (std::log(v) + std::log(invalpha) - std::log(a / (us * us) + b) <= -lam + double(k) * loglam - std::lgamma(double(k) + 1))
      return k;
  }
}

// ---- filters ----

std::vector<double> gaussian_taps(double sigma, double truncate) {
  int r = int(truncate * sigma + 0.5);
  std::vector<double> t(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += t[i + r] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& v : t) v /= sum;
  return t;
}

int border_index(int i, int n, Border b) {
  if (n == 1) return 0;
  switch (b) {
    case Border::nearest: return std::clamp(i, 0, n - 1);
    case Border::reflect: {  // period 2n: abc|cba
      int p = 2 * n;
      i = ((i % p) + p) % p;
      return i < n ? i : p - 1 - i;
    }
    case Border::reflect101: {  // period 2n - 2: abc|ba
      int p = 2 * n - 2;
      i = ((i % p) + p) % p;
      return i < n ? i : p - i;
    }
  }
  return 0;
}

// scipy.ndimage.gaussian_filter: separable correlation along H, then W (skimage's multichannel
// gaussian gives the channel axis sigma 0, i.e. leaves it alone).
Image gaussian_blur(const Image& x, double sigma, Border border, double truncate) {
  if (sigma <= 0) return x;
  std::vector<double> t = gaussian_taps(sigma, truncate);
  int r = int(t.size() / 2);
  Image tmp(x.c, x.h, x.w), out(x.c, x.h, x.w);
  for (int c = 0; c < x.c; ++c)
    for (int y = 0; y < x.h; ++y)
      for (int xx = 0; xx < x.w; ++xx) {
        double s = 0;
        for (int k = -r; k <= r; ++k) s += t[k + r] * x.at(c, border_index(y + k, x.h, border), xx);
        tmp.at(c, y, xx) = s;
      }
  for (int c = 0; c < x.c; ++c)
    for (int y = 0; y < x.h; ++y)
      for (int xx = 0; xx < x.w; ++xx) {
        double s = 0;
        for (int k = -r; k <= r; ++k) s += t[k + r] * tmp.at(c, y, border_index(xx + k, x.w, border));
        out.at(c, y, xx) = s;
      }
  return out;
}

Image filter2d(const Image& x, const std::vector<double>& kernel, int r) {
  int n = 2 * r + 1;
  Image out(x.c, x.h, x.w);
  for (int c = 0; c < x.c; ++c)
    for (int y = 0; y < x.h; ++y)
      for (int xx = 0; xx < x.w; ++xx) {
        double s = 0;
        for (int dy = -r; dy <= r; ++dy) {
          int yy = border_index(y + dy, x.h, Border::reflect101);
          for (int dx = -r; dx <= r; ++dx)
            s += kernel[(dy + r) * n + dx + r] * x.at(c, yy, border_index(xx + dx, x.w, Border::reflect101));
        }
        out.at(c, y, xx) = s;
      }
  return out;
}

// ImageMagick 6 MotionBlurImage (effect.c): width = 2 ceil(radius) + 1 taps with weights
// exp(-i^2 / (2 sigma^2)), normalized, at offsets i * (cos a, sin a) rounded (ceil(v - 0.5)),
// trailing on one side of the pixel; pixels outside the image repeat the edge (the default
// virtual-pixel method). The reference writes the result as an 8-bit PNG; ImageMagick 6.9.11 Q16
// truncates to 8 bits there (floor, with 1e-6 of slack for sums that are whole in exact arithmetic).
// Against `convert -motion-blur RxS+A` (6.9.11-60 Q16) this gives 99.9% of pixels exactly, the
// rest within one level.
Image motion_blur_magick(const Image& x, double radius, double sigma, double angle_deg) {
  int width = int(2 * std::ceil(radius) + 1);
  std::vector<double> k(width);
  double norm = 0;
  for (int i = 0; i < width; ++i) norm += k[i] = std::exp(-double(i) * i / (2 * sigma * sigma));
  double a = angle_deg * M_PI / 180.0;
  double px = width * std::sin(a), py = width * std::cos(a), hyp = std::hypot(px, py);
  std::vector<int> ox(width), oy(width);
  for (int i = 0; i < width; ++i) {
    ox[i] = int(std::ceil(i * py / hyp - 0.5));
    oy[i] = int(std::ceil(i * px / hyp - 0.5));
  }
  Image out(x.c, x.h, x.w);
  for (int c = 0; c < x.c; ++c)
    for (int y = 0; y < x.h; ++y)
      for (int xx = 0; xx < x.w; ++xx) {
        double s = 0;
        for (int i = 0; i < width; ++i)
          s += k[i] / norm * x.at(c, std::clamp(y + oy[i], 0, x.h - 1), std::clamp(xx + ox[i], 0, x.w - 1));
        out.at(c, y, xx) = std::floor(std::clamp(s, 0.0, 1.0) * 255.0 + 1e-6) / 255.0;
      }
  return out;
}

// scipy.ndimage.zoom(order=1) maps output index o to input o * (in - 1) / (out - 1), with output
// size round(in * z) (Python's round: half to even); then the reference trims the centre.
Image clipped_zoom(const Image& x, double z) {
  auto zoom_axis = [z](int n, int& top, int& ch, int& zn, int& trim) {
    ch = int(std::ceil(n / z));
    top = (n - ch) / 2;
    zn = int(std::nearbyint(ch * z));
    trim = (zn - n) / 2;
  };
  int ty, chy, zny, trimy, tx, chx, znx, trimx;
  zoom_axis(x.h, ty, chy, zny, trimy);
  zoom_axis(x.w, tx, chx, znx, trimx);
  auto coord = [](int o, int in, int out, int& i0, double& f) {
    double v = out > 1 ? double(o) * (in - 1) / (out - 1) : 0.0;
    i0 = std::min(int(std::floor(v)), in - 1);
    f = v - i0;
  };
  Image out(x.c, x.h, x.w);
  for (int y = 0; y < x.h; ++y) {
    int y0;
    double fy;
    coord(y + trimy, chy, zny, y0, fy);
    int y1 = std::min(y0 + 1, chy - 1);
    for (int xx = 0; xx < x.w; ++xx) {
      int x0;
      double fx;
      coord(xx + trimx, chx, znx, x0, fx);
      int x1 = std::min(x0 + 1, chx - 1);
      for (int c = 0; c < x.c; ++c) {
        double a = x.at(c, ty + y0, tx + x0) * (1 - fx) + x.at(c, ty + y0, tx + x1) * fx;
        double b = x.at(c, ty + y1, tx + x0) * (1 - fx) + x.at(c, ty + y1, tx + x1) * fx;
        out.at(c, y, xx) = a * (1 - fy) + b * fy;
      }
    }
  }
  return out;
}

// The reference's plasma_fractal (after github.com/FLHerne/mapgen diamondsquare.py): squares and
// diamonds at halving step sizes, each new point the mean of its 4 neighbours (wrapping around, as
// np.roll does) plus wibble * U(-wibble, wibble), wibble divided by `wibbledecay` each level.
std::vector<double> plasma_fractal(int n, double wibbledecay, Rng& rng) {
  TG_CHECK(n > 0 && (n & (n - 1)) == 0, "plasma_fractal: mapsize ", n, " is not a power of two");
  std::vector<double> m(size_t(n) * n, 0.0);
  auto at = [&](int i, int j) -> double& { return m[size_t(i) * n + j]; };
  double wibble = 100;
  auto wibbled = [&](double sum) { return sum / 4 + wibble * rng.uniform(-wibble, wibble); };
  for (int step = n; step >= 2; step /= 2, wibble /= wibbledecay) {
    int g = n / step, half = step / 2;
    auto ul = [&](int i, int j) { return at(((i + g) % g) * step, ((j + g) % g) * step); };
    auto dr = [&](int i, int j) { return at(((i + g) % g) * step + half, ((j + g) % g) * step + half); };
    for (int i = 0; i < g; ++i)  // squares: the centre of each square of corners
      for (int j = 0; j < g; ++j)
        at(i * step + half, j * step + half) = wibbled(ul(i, j) + ul(i + 1, j) + ul(i, j + 1) + ul(i + 1, j + 1));
    std::vector<double> top(size_t(g) * g), left(size_t(g) * g);
    for (int i = 0; i < g; ++i)  // diamonds: both computed from the grids as they stand
      for (int j = 0; j < g; ++j) {
        top[size_t(i) * g + j] = dr(i, j) + dr(i - 1, j) + ul(i, j) + ul(i, j + 1);
        left[size_t(i) * g + j] = dr(i, j) + dr(i, j - 1) + ul(i, j) + ul(i + 1, j);
      }
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) at(i * step, j * step + half) = wibbled(top[size_t(i) * g + j]);
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) at(i * step + half, j * step) = wibbled(left[size_t(i) * g + j]);
  }
  auto [lo, hi] = std::minmax_element(m.begin(), m.end());
  double mn = *lo, range = *hi - *lo;
  for (double& v : m) v = range > 0 ? (v - mn) / range : 0.0;
  return m;
}

// PIL's ImagingResample with the BOX filter (Pillow libImaging/Resample.c precompute_coeffs): output
// pixel i covers centre (i + 0.5) * scale, support 0.5 * max(scale, 1); input pixel j has weight 1
// when (j - centre + 0.5) / max(scale, 1) lies in (-0.5, 0.5]; weights normalized; 8-bit result
// rounded. Horizontal pass first, then vertical, as Pillow does.
namespace {

void box_pass(const std::vector<double>& in, int n_in, int n_out, int count, int stride_in, int stride_out,
              int step_in, int step_out, std::vector<double>& out) {
  double scale = double(n_in) / n_out, fs = std::max(scale, 1.0), support = 0.5 * fs;
  for (int o = 0; o < n_out; ++o) {
    double centre = (o + 0.5) * scale;
    int lo = std::max(int(centre - support + 0.5), 0), hi = std::min(int(centre + support + 0.5), n_in);
    std::vector<double> k;
    double ww = 0;
    for (int j = lo; j < hi; ++j) {
      double t = (j - centre + 0.5) / fs;
      k.push_back(t > -0.5 && t <= 0.5 ? 1.0 : 0.0);
      ww += k.back();
    }
    for (int line = 0; line < count; ++line) {
      double s = 0;
      for (int j = lo; j < hi; ++j) s += k[j - lo] * in[size_t(line) * stride_in + size_t(j) * step_in];
      if (ww != 0) s /= ww;
      out[size_t(line) * stride_out + size_t(o) * step_out] = std::clamp(std::floor(s + 0.5), 0.0, 255.0);
    }
  }
}

}  // namespace

Image resize_box_pil(const Image& x, int out_h, int out_w) {
  Image out(x.c, out_h, out_w);
  for (int c = 0; c < x.c; ++c) {
    std::vector<double> p(size_t(x.h) * x.w);
    for (size_t i = 0; i < p.size(); ++i) p[i] = std::round(x.px[size_t(c) * x.h * x.w + i] * 255.0);
    std::vector<double> mid(size_t(x.h) * out_w), fin(size_t(out_h) * out_w);
    if (out_w != x.w) box_pass(p, x.w, out_w, x.h, x.w, out_w, 1, 1, mid);
    else mid = p;
    if (out_h != x.h) box_pass(mid, x.h, out_h, out_w, 1, 1, out_w, out_w, fin);
    else fin = mid;
    for (size_t i = 0; i < fin.size(); ++i) out.px[size_t(c) * out_h * out_w + i] = fin[i] / 255.0;
  }
  return out;
}

}  // namespace tg::corruptions
