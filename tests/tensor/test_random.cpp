#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tensor/ops.h"
#include "tensor/philox.h"
#include "tensor/random.h"

using namespace tg;

TEST_CASE("philox: the published known-answer test vector") {
  // Random123's kat_vectors: philox4x32_10, counter = key = 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8.
  auto b = philox::block(0, 0);
  CHECK(b.v[0] == 0x6627e8d5u);
  CHECK(b.v[1] == 0xe169c58du);
  CHECK(b.v[2] == 0xbc57ac4cu);
  CHECK(b.v[3] == 0x9b00dbd8u);
}

TEST_CASE("random: same seed, same numbers; moments are right") {
  Generator g1(7), g2(7);
  Tensor a = rand({1000}, DType::f32, Device::cpu(), &g1), b = rand({1000}, DType::f32, Device::cpu(), &g2);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  Tensor c = rand({1000}, DType::f32, Device::cpu(), &g1);  // the generator advanced
  CHECK(a.to_vector<float>() != c.to_vector<float>());
  Generator g(3);
  Tensor n = randn({200000}, DType::f64, Device::cpu(), &g);
  CHECK(mean(n).item() == doctest::Approx(0.0).epsilon(0.01));
  CHECK(var(n, {}, 1).item() == doctest::Approx(1.0).epsilon(0.01));
  Tensor u = uniform({200000}, -2, 4, DType::f64, Device::cpu(), &g);
  CHECK(min(u).item() >= -2);
  CHECK(max(u).item() < 4);
  CHECK(mean(u).item() == doctest::Approx(1.0).epsilon(0.02));
  Tensor k = randint({100000}, 3, 7, DType::i64, Device::cpu(), &g);
  auto kv = k.to_vector<int64_t>();
  for (int v = 3; v < 7; ++v) CHECK(std::count(kv.begin(), kv.end(), v) == doctest::Approx(25000).epsilon(0.03));
}

TEST_CASE("random: randperm is a permutation, reproducible by seed") {
  Generator g1(11), g2(11);
  auto p = randperm(1000, Device::cpu(), &g1).to_vector<int64_t>();
  CHECK(p == randperm(1000, Device::cpu(), &g2).to_vector<int64_t>());
  auto s = p;
  std::sort(s.begin(), s.end());
  for (int64_t i = 0; i < 1000; ++i) CHECK(s[i] == i);
  CHECK(p != s);
}
