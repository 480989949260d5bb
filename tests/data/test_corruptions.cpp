// The 15 common corruptions: each one's defining statistic on a test image (noise variance, contrast
// ratio, brightness shift in HSV value, JPEG error against quality, pixelate blocks, blur removing
// high frequencies), distortion growing with severity, seeded reproducibility, and bad arguments.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "data/corruptions/corruptions.h"
#include "util/error.h"

using namespace tg;

namespace {

// A fixed test image [c, h, w] with smooth shading and edges, kept inside 40..215 so that
// most corruptions do not clip.
Tensor test_image(int c = 3, int h = 32, int w = 32) {
  std::vector<uint8_t> v(size_t(c) * h * w);
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        double s = 128 + 40 * std::sin(0.45 * x + ch) * std::cos(0.3 * y) + (x + 2 * y > w ? 25 : -25) +
                   ((x > w / 2 && y > h / 3) ? 20 : 0);
        v[(size_t(ch) * h + y) * w + x] = uint8_t(std::clamp(s, 40.0, 215.0));
      }
  return Tensor::from_vector<uint8_t>(v, {c, h, w});
}

Tensor constant_image(int c, int h, int w, uint8_t value) {
  return Tensor::from_vector<uint8_t>(std::vector<uint8_t>(size_t(c) * h * w, value), {c, h, w});
}

std::vector<double> pixels(const Tensor& t) {
  const uint8_t* p = t.data<uint8_t>();
  return std::vector<double>(p, p + t.numel());
}

double mean_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = pixels(a), y = pixels(b);
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += std::fabs(x[i] - y[i]);
  return s / double(x.size()) / 255.0;
}

// Energy of horizontal and vertical first differences: the high-frequency content.
double high_freq(const Tensor& t) {
  int64_t c = t.size(0), h = t.size(1), w = t.size(2);
  const uint8_t* p = t.data<uint8_t>();
  double e = 0;
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y + 1 < h; ++y)
      for (int64_t x = 0; x + 1 < w; ++x) {
        double v = p[(ch * h + y) * w + x];
        e += std::pow(p[(ch * h + y) * w + x + 1] - v, 2) + std::pow(p[(ch * h + y + 1) * w + x] - v, 2);
      }
  return e;
}

Tensor run(const Tensor& image, const std::string& name, int severity, uint64_t seed = 1,
           ImageKind kind = ImageKind::cifar32) {
  Generator gen(seed);
  return corrupt(image, name, severity, gen, kind);
}

// |a - b| <= rel |b|.
bool near(double a, double b, double rel) { return std::fabs(a - b) <= rel * std::fabs(b); }

double std_of_diff(const Tensor& a, const Tensor& b, double* mean = nullptr) {
  std::vector<double> x = pixels(a), y = pixels(b);
  double m = 0, v = 0;
  for (size_t i = 0; i < x.size(); ++i) m += (x[i] - y[i]) / 255.0;
  m /= double(x.size());
  for (size_t i = 0; i < x.size(); ++i) v += std::pow((x[i] - y[i]) / 255.0 - m, 2);
  if (mean) *mean = m;
  return std::sqrt(v / double(x.size()));
}

}  // namespace

TEST_CASE("corruptions: the 15 names in benchmark order; shapes, dtypes and seeds") {
  std::vector<std::string> names = corruption_names();
  REQUIRE(names.size() == 15);
  CHECK(names.front() == "gaussian_noise");
  CHECK(names[7] == "snow");
  CHECK(names.back() == "jpeg_compression");
  Tensor rgb = test_image(3, 32, 32), gray = test_image(1, 28, 28);
  std::set<std::string> deterministic = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate",
                                         "jpeg_compression"};
  for (const auto& name : names) {
    CAPTURE(name);
    for (const Tensor& img : {rgb, gray}) {
      Tensor a = run(img, name, 3, 7), b = run(img, name, 3, 7), c = run(img, name, 3, 8);
      CHECK(a.shape() == img.shape());
      CHECK(a.dtype() == DType::u8);
      CHECK(pixels(a) == pixels(b));  // same seed, same image
      if (!deterministic.count(name)) CHECK(pixels(a) != pixels(c));
      else CHECK(pixels(a) == pixels(c));
    }
  }
  // A batch equals the images one by one from the same generator.
  Tensor batch = Tensor::empty({2, 3, 32, 32}, DType::u8);
  batch.slice_rows(0, 1).copy_(rgb);
  batch.slice_rows(1, 2).copy_(test_image(3, 32, 32));
  Generator g1(5), g2(5);
  Tensor out = corrupt_batch(batch, "snow", 4, g1);
  Tensor first = corrupt(rgb, "snow", 4, g2), second = corrupt(rgb, "snow", 4, g2);
  CHECK(pixels(out.slice_rows(0, 1)) == pixels(first));
  CHECK(pixels(out.slice_rows(1, 2)) == pixels(second));
  CHECK(g1.offset() == g2.offset());
}

TEST_CASE("corruptions: distortion grows with severity, on both constant tables") {
  for (ImageKind kind : {ImageKind::cifar32, ImageKind::tiny64}) {
    int size = kind == ImageKind::cifar32 ? 32 : 64;
    Tensor img = test_image(3, size, size);
    for (const auto& name : corruption_names()) {
      CAPTURE(name);
      CAPTURE(size);
      std::vector<double> mad;
      for (int s = 1; s <= 5; ++s) {
        double m = 0;
        for (uint64_t seed = 0; seed < 3; ++seed) m += mean_abs_diff(run(img, name, s, seed, kind), img) / 3;
        mad.push_back(m);
      }
      INFO(name, " ", size, "px: mean |corrupted - clean| by severity ", mad[0], " ", mad[1], " ", mad[2], " ",
              mad[3], " ", mad[4]);
      // The reference's elastic_transform is not monotone in pixel distance: severity 1 is a large
      // affine warp, 5 a small one with a stronger local field. Its test: every severity distorts.
      // Frost is a blend c0 x + c1 frost whose pixel distance depends on how bright the image is
      // against the texture; its severity test is the blend-weight test below.
      if (name == "elastic_transform" || name == "frost") {
        for (double m : mad) CHECK(m > 0.01);
        continue;
      }
      CHECK(mad[4] > mad[0]);
      // Not strictly monotone in the reference either: glass blur's stronger blur at severity 2 hides
      // part of its shuffling; motion blur's severities 3 and 4 differ only in negligible taps.
      for (int s = 1; s < 5; ++s) CHECK(mad[s] >= 0.7 * mad[s - 1]);
    }
  }
}

TEST_CASE("corruptions: noise statistics") {
  Tensor flat = constant_image(3, 64, 64, 128);
  double mean = 0;
  // Gaussian: std of the difference = sigma (0.08 at severity 3 on CIFAR, 0.18 at 5 on Tiny).
  CHECK(near(std_of_diff(run(flat, "gaussian_noise", 3), flat, &mean), 0.08, 0.05));
  CHECK(std::fabs(mean + 0.5 / 255) < 0.004);  // zero-mean noise, less the truncation to uint8
  CHECK(near(std_of_diff(run(flat, "gaussian_noise", 5, 1, ImageKind::tiny64), flat), 0.18, 0.05));
  // Shot: Poisson(x c) / c has variance x / c: x = 128/255, c = 100.
  CHECK(near(std_of_diff(run(flat, "shot_noise", 3), flat, &mean), std::sqrt(128.0 / 255 / 100), 0.05));
  CHECK(std::fabs(mean) < 0.005);
  // Impulse: a fraction `amount` (0.03) of values set to 0 or 255, about half each.
  std::vector<double> p = pixels(run(flat, "impulse_noise", 3));
  double zeros = double(std::count(p.begin(), p.end(), 0.0)) / double(p.size());
  double full = double(std::count(p.begin(), p.end(), 255.0)) / double(p.size());
  CHECK(near(zeros + full, 0.03, 0.15));
  CHECK(near(zeros, full, 0.3));
  CHECK(std::count(p.begin(), p.end(), 128.0) == int64_t(p.size()) - std::count(p.begin(), p.end(), 0.0) -
                                                     std::count(p.begin(), p.end(), 255.0));
}

TEST_CASE("corruptions: contrast ratio and brightness shift in HSV value") {
  Tensor img = test_image(3, 32, 32);
  double mean_in = 0, mean_out = 0;
  Tensor out = run(img, "contrast", 3);  // c = 0.4
  std::vector<double> x = pixels(img), y = pixels(out);
  for (size_t i = 0; i < x.size(); ++i) mean_in += x[i] / double(x.size()), mean_out += y[i] / double(y.size());
  double sx = 0, sy = 0;
  for (size_t i = 0; i < x.size(); ++i) sx += std::pow(x[i] - mean_in, 2), sy += std::pow(y[i] - mean_out, 2);
  CHECK(near(std::sqrt(sy / sx), 0.4, 0.03));
  CHECK(near(mean_out, mean_in, 0.01));

  // Brightness: V = max(R, G, B) rises by c = 0.15 (38.25 levels); hue and saturation (channel
  // ratios) stay. Gray images: x + c.
  Tensor b = run(img, "brightness", 3);
  const uint8_t *pi = img.data<uint8_t>(), *po = b.data<uint8_t>();
  for (int i = 0; i < 32 * 32; ++i) {
    double vin = std::max({pi[i], pi[1024 + i], pi[2048 + i]}), vout = std::max({po[i], po[1024 + i], po[2048 + i]});
    CHECK(near(vout - vin, 0.15 * 255, 0.04));
    CHECK(near(double(po[i]) / vout, double(pi[i]) / vin, 0.04));
  }
  Tensor g = test_image(1, 28, 28), gb = run(g, "brightness", 5);  // c = 0.3
  for (int i = 0; i < 28 * 28; ++i)
    CHECK(gb.data<uint8_t>()[i] == uint8_t(std::floor(std::min(g.data<uint8_t>()[i] / 255.0 + 0.3, 1.0) * 255)));
}

TEST_CASE("corruptions: frost blends the image (weight falling with severity) with one texture") {
  // Same seed, same texture: out = c0 x + c1 F, so for two images c0 = (out1 - out2) / (x1 - x2), and
  // (out - c0 x) / c1 is the same texture at every severity.
  const double c0[5] = {1, 1, 0.9, 0.85, 0.75}, c1[5] = {0.2, 0.3, 0.4, 0.4, 0.45};
  Tensor x1 = constant_image(3, 32, 32, 40), x2 = constant_image(3, 32, 32, 100);
  std::vector<double> texture;
  for (int s = 1; s <= 5; ++s) {
    CAPTURE(s);
    std::vector<double> a = pixels(run(x1, "frost", s, 3)), b = pixels(run(x2, "frost", s, 3)), f(a.size());
    double weight = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      weight += (b[i] - a[i]) / 60.0 / double(a.size());
      f[i] = (a[i] - c0[s - 1] * 40) / c1[s - 1];
    }
    CHECK(std::fabs(weight - c0[s - 1]) < 0.03);  // up to the truncation to uint8 (and no clipping here)
    if (texture.empty()) texture = f;
    double diff = 0;
    for (size_t i = 0; i < f.size(); ++i) diff = std::max(diff, std::fabs(f[i] - texture[i]));
    CHECK(diff < 6);  // 1 level of truncation / c1
  }
  double mean = 0;
  for (double v : texture) mean += v / double(texture.size());
  CHECK(mean > 80);  // the texture is bright, like the photographs
}

TEST_CASE("corruptions: JPEG error grows as quality falls; pixelate makes blocks; blurs remove high frequencies") {
  Tensor img = test_image(3, 32, 32);
  double last = 0;
  for (int s = 1; s <= 5; ++s) {  // quality 80, 65, 58, 50, 40
    double err = std::pow(std_of_diff(run(img, "jpeg_compression", s), img), 2);
    CAPTURE(s);
    CHECK(err > last);
    CHECK(err < 0.01);  // still the same picture
    last = err;
  }
  // Bit-exact with PIL 9.4 / libjpeg-turbo: Image.fromarray(a).save(b, 'JPEG', quality=q) and reopened,
  // for a = (37 x + 91 y + 53 c + 5 ((x y) % 17)) % 256 in [C, H, W] order (fingerprints: the sum,
  // a weighted sum, the first pixels). RGB 32x32 at quality 58 (4:2:0), gray 28x28 at quality 40.
  struct Case { int c, size, severity; ImageKind kind; int64_t sum, weighted; std::vector<int> first; };
  for (const Case& k : {Case{3, 32, 3, ImageKind::cifar32, 391159, 19349032, {0, 37, 138, 168, 192, 173}},
                        Case{1, 28, 4, ImageKind::tiny64, 98485, 4800439, {20, 40, 60, 106, 173, 136}}}) {
    CAPTURE(k.c);
    std::vector<uint8_t> a(size_t(k.c) * k.size * k.size);
    for (int ch = 0; ch < k.c; ++ch)
      for (int y = 0; y < k.size; ++y)
        for (int x = 0; x < k.size; ++x)
          a[(size_t(ch) * k.size + y) * k.size + x] = uint8_t((x * 37 + y * 91 + ch * 53 + (x * y) % 17 * 5) % 256);
    std::vector<double> r = pixels(run(Tensor::from_vector<uint8_t>(a, {k.c, k.size, k.size}), "jpeg_compression",
                                       k.severity, 0, k.kind));
    int64_t sum = 0, weighted = 0;
    for (size_t i = 0; i < r.size(); ++i) sum += int64_t(r[i]), weighted += int64_t(r[i]) * int64_t(i % 101);
    CHECK(sum == k.sum);
    CHECK(weighted == k.weighted);
    for (size_t i = 0; i < k.first.size(); ++i) CHECK(int(r[i]) == k.first[i]);
  }
  // A flat image survives JPEG (DC only) up to rounding.
  Tensor flat = constant_image(3, 32, 32, 100);
  CHECK(mean_abs_diff(run(flat, "jpeg_compression", 5), flat) < 2.0 / 255);
  Tensor gray = test_image(1, 28, 28);
  CHECK(mean_abs_diff(run(gray, "jpeg_compression", 5), gray) > 0);

  // Pixelate at severity 5 (0.65): 32 -> 20 -> 32, so at most 20 distinct columns and rows, in runs.
  Tensor p = run(img, "pixelate", 5);
  const uint8_t* q = p.data<uint8_t>();
  int col_changes = 0, row_changes = 0;
  for (int x = 1; x < 32; ++x) {
    bool same = true;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y) same = same && q[(c * 32 + y) * 32 + x] == q[(c * 32 + y) * 32 + x - 1];
    col_changes += !same;
  }
  for (int y = 1; y < 32; ++y) {
    bool same = true;
    for (int c = 0; c < 3; ++c)
      for (int x = 0; x < 32; ++x) same = same && q[(c * 32 + y) * 32 + x] == q[(c * 32 + y - 1) * 32 + x];
    row_changes += !same;
  }
  CHECK(col_changes <= 19);
  CHECK(row_changes <= 19);
  CHECK(col_changes >= 10);

  for (const char* name : {"defocus_blur", "motion_blur", "zoom_blur"}) {  // (glass: shuffling adds some)
    CAPTURE(name);
    double before = high_freq(img), after = high_freq(run(img, name, 3));
    CHECK(after < 0.8 * before);
  }
  // Snow brightens.
  double m = 0;
  std_of_diff(run(img, "snow", 5), img, &m);
  CHECK(m > 0.02);
}

TEST_CASE("corruptions: bad arguments are clear errors") {
  Tensor img = test_image();
  Generator gen(0);
  auto msg = [&](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(msg([&] { corrupt(img, "rain", 1, gen); }).find("unknown corruption 'rain'") != std::string::npos);
  CHECK(msg([&] { corrupt(img, "fog", 6, gen); }).find("severity 6") != std::string::npos);
  CHECK(msg([&] { corrupt(img.to(DType::f32), "fog", 1, gen); }).find("uint8") != std::string::npos);
  CHECK(msg([&] { corrupt(test_image(2, 32, 32), "fog", 1, gen); }).find("channels") != std::string::npos);
}
