// Transforms: crop and flip on known values, random crop/flip per image and by seed, and resize
// against PyTorch 1.13 (torch.nn.functional.interpolate, align_corners=False).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "data/transforms.h"

using namespace tg;

namespace {

Tensor ramp_u8(int64_t n, int64_t c, int64_t h, int64_t w) {
  return Tensor::arange(n * c * h * w, DType::i64).to(DType::u8).reshape({n, c, h, w});
}

// The input x of the reference: 1 x 1 x 3 x 4.
const std::vector<float> kX = {0.1f, 0.9f, 0.3f, 0.7f, 0.5f, 0.2f, 0.8f, 0.4f, 0.0f, 1.0f, 0.6f, 0.25f};

// Printed by /usr/bin/python3 with torch 1.13.1:
//   F.interpolate(x, size=..., mode=..., align_corners=False).flatten()
const std::vector<float> kBilinear5x7 = {
    0.10000000f, 0.38571429f, 0.84285712f, 0.59999990f, 0.32857150f, 0.55714291f, 0.69999999f,
    0.26000002f, 0.38857144f, 0.59428573f, 0.56000000f, 0.50571436f, 0.55142856f, 0.57999998f,
    0.49999997f, 0.39285710f, 0.22142860f, 0.50000006f, 0.77142853f, 0.54285705f, 0.40000001f,
    0.19999996f, 0.37142858f, 0.64571440f, 0.68000007f, 0.65357137f, 0.44214278f, 0.31000000f,
    0.00000000f, 0.35714290f, 0.92857146f, 0.79999995f, 0.57499999f, 0.37499997f, 0.25000000f};
const std::vector<float> kBilinear2x3 = {0.28750002f, 0.57499999f, 0.59166670f,
                                         0.23750001f, 0.72500002f, 0.34791663f};
const std::vector<float> kBicubic5x7 = {
    -0.02825038f, 0.41416055f, 0.94842172f, 0.64979994f, 0.24624418f, 0.52235043f, 0.77610642f,
    0.26345921f,  0.39030921f, 0.55768466f, 0.55774999f, 0.51043814f, 0.56125849f, 0.60293239f,
    0.52976519f,  0.36087814f, 0.18944965f, 0.50937510f, 0.80482870f, 0.57319593f, 0.36031342f,
    0.18148635f,  0.36011004f, 0.61193877f, 0.75546890f, 0.69260556f, 0.43667293f, 0.24423471f,
    -0.15959869f, 0.36577109f, 1.03535473f, 0.96661258f, 0.53813815f, 0.32272178f, 0.20135053f};
const std::vector<float> kBicubic2x3 = {0.28577751f, 0.59380484f, 0.60107630f,
                                        0.22532012f, 0.82753909f, 0.32705280f};

void check_close(const std::vector<float>& got, const std::vector<float>& want, float tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(std::fabs(got[i] - want[i]) <= tol);
  }
}

}  // namespace

TEST_CASE("transforms: to_float, hflip, crop with zeros outside, center crop") {
  Tensor x = ramp_u8(1, 1, 2, 3);  // [[0 1 2] [3 4 5]]
  auto f = to_float(Tensor::from_vector<uint8_t>({0, 51, 255}, {3, 1, 1})).to_vector<float>();
  CHECK(f == std::vector<float>{0.0f, 0.2f, 1.0f});
  CHECK(hflip(x).to_vector<uint8_t>() == std::vector<uint8_t>{2, 1, 0, 5, 4, 3});
  CHECK(hflip(x.reshape({1, 2, 3})).shape() == Shape{1, 2, 3});  // one image [C, H, W]
  CHECK(crop(x, -1, 1, 3, 3).to_vector<uint8_t>() == std::vector<uint8_t>{0, 0, 0, 1, 2, 0, 4, 5, 0});
  CHECK(crop(x, 5, 5, 2, 2).to_vector<uint8_t>() == std::vector<uint8_t>{0, 0, 0, 0});
  CHECK(center_crop(ramp_u8(1, 1, 4, 4), 2, 2).to_vector<uint8_t>() == std::vector<uint8_t>{5, 6, 9, 10});
  CHECK_THROWS_WITH_AS(hflip(Tensor::zeros({4, 4})), doctest::Contains("expected an image [C, H, W]"), Error);
}

TEST_CASE("transforms: random crop (padding 4) and flip, per image, by seed") {
  Tensor x = ramp_u8(64, 2, 8, 8);
  Generator g1(5), g2(5);
  Tensor a = random_crop(x, 8, 8, 4, g1), b = random_crop(x, 8, 8, 4, g2);
  CHECK(a.to_vector<uint8_t>() == b.to_vector<uint8_t>());
  CHECK(a.shape() == x.shape());
  // Each output is the input shifted by one (dy, dx) in [-4, 4]^2, zeros shifted in.
  std::set<std::pair<int64_t, int64_t>> shifts;
  for (int64_t i = 0; i < 64; ++i) {
    Tensor xi = x.slice_rows(i, i + 1), ai = a.slice_rows(i, i + 1);
    int found = 0;
    for (int64_t dy = -4; dy <= 4; ++dy)
      for (int64_t dx = -4; dx <= 4; ++dx)
        if (crop(xi, dy, dx, 8, 8).to_vector<uint8_t>() == ai.to_vector<uint8_t>()) {
          ++found;
          shifts.insert({dy, dx});
        }
    CHECK(found == 1);
  }
  CHECK(shifts.size() > 20);  // 81 possible; 64 draws land on many
  Tensor f = random_horizontal_flip(x, g1);
  Tensor flipped = hflip(x);
  int n_flipped = 0;
  for (int64_t i = 0; i < 64; ++i) {
    auto fi = f.slice_rows(i, i + 1).to_vector<uint8_t>();
    bool same = fi == x.slice_rows(i, i + 1).to_vector<uint8_t>();
    bool mirrored = fi == flipped.slice_rows(i, i + 1).to_vector<uint8_t>();
    CHECK(same != mirrored);
    n_flipped += mirrored;
  }
  CHECK(n_flipped > 16);
  CHECK(n_flipped < 48);
  CHECK(random_horizontal_flip(x, g1, 0.0).to_vector<uint8_t>() == x.to_vector<uint8_t>());
}

TEST_CASE("transforms: resize matches PyTorch's interpolate, bilinear and bicubic") {
  Tensor x = Tensor::from_vector<float>(kX, {1, 1, 3, 4});
  check_close(resize(x, 5, 7, Interpolation::bilinear).to_vector<float>(), kBilinear5x7, 1e-6f);
  check_close(resize(x, 2, 3, Interpolation::bilinear).to_vector<float>(), kBilinear2x3, 1e-6f);
  check_close(resize(x, 5, 7, Interpolation::bicubic).to_vector<float>(), kBicubic5x7, 1e-6f);
  check_close(resize(x, 2, 3, Interpolation::bicubic).to_vector<float>(), kBicubic2x3, 1e-6f);
  Tensor x64 = x.to(DType::f64);
  check_close(resize(x64, 5, 7, Interpolation::bicubic).to(DType::f32).to_vector<float>(), kBicubic5x7, 1e-6f);
  // Same size is the identity; uint8 rounds and clamps the bicubic overshoot.
  CHECK(resize(x, 3, 4, Interpolation::bicubic).to_vector<float>() == kX);
  Tensor u = Tensor::from_vector<uint8_t>({0, 255, 0, 255}, {1, 1, 1, 4});
  auto up = resize(u, 1, 8, Interpolation::bicubic).to_vector<uint8_t>();
  auto upf = resize(u.to(DType::f32), 1, 8, Interpolation::bicubic).to_vector<float>();
  CHECK(upf[0] < 0);  // overshoot below 0 ...
  for (size_t i = 0; i < 8; ++i) CHECK(up[i] == uint8_t(std::clamp(std::nearbyint(upf[i]), 0.0f, 255.0f)));
  // CIFAR to ViT: 3 x 32 x 32 -> 3 x 224 x 224; a constant image stays constant.
  Tensor c = resize(Tensor::full({2, 3, 32, 32}, 0.25), 224, 224, Interpolation::bicubic);
  CHECK(c.shape() == Shape{2, 3, 224, 224});
  auto cv = c.to_vector<float>();
  CHECK(*std::max_element(cv.begin(), cv.end()) == doctest::Approx(0.25).epsilon(1e-6));
  CHECK(*std::min_element(cv.begin(), cv.end()) == doctest::Approx(0.25).epsilon(1e-6));
}
