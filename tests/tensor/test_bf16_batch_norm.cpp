// Batch norm on bfloat16 activations (docs/ARCHITECTURE.md, "Mixed precision"): x, y, dy, dx in
// bfloat16; gamma, beta, the running and saved statistics, dgamma and dbeta in float32.
//
// What pins the kernels: a gradient check cannot run in bfloat16 (its differences drown in the 2^-8
// rounding), so the bf16 kernels are held to the float32 kernels instead, which the op table
// gradient-checks in float64 and compares with the float64 reference. On inputs that bfloat16 holds
// exactly, a bf16 kernel reads the same values, sums them in the same order and width and computes
// the same float formulas, so every output must equal the float32 kernel's bit for bit: y and dx after
// rounding the float32 ones to bfloat16 once, the statistics and dgamma, dbeta as they are. Training
// and eval, forward and backward, on each device.
// That check fails for a kernel that rounds y twice or takes its statistics in bfloat16: with the CPU
// kernel mutated either way (y = round(round((x - mean) invstd) + beta), or the mean rounded to
// bfloat16 before use), "bf16 batch norm: ... the float32 kernel's bits" fails on every shape.
//
// Tier 2 ("cuda: bf16 batch norm ..."): the same bit-for-bit check on the GPU (whose bf16 and float32
// kernels share their double-precision sums), at the real sizes too (ResNet-50 CIFAR, batch 256: C = 64
// at 32x32 and C = 2048 at 4x4); and the GPU's bf16 kernels against the CPU's. Those two differ only in
// how the float32 kernels sum (the CPU: float lanes per plane, then double; the GPU: double), by at most
// E, the sum of both float32 kernels' error bounds against float64 (as tests/cuda/test_cuda_real_sizes.cpp
// derives them); after each rounds once to bfloat16, |gpu - cpu| <= 2^-7 |cpu| + 2 E: one bf16 unit in
// the last place (bf16 keeps 8 significant bits) where the float32 results straddle a rounding boundary.
// The comparison body also runs on the CPU against itself in every build, so CI runs its code.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "distributed/sync_batch_norm.h"
#include "nn/layers.h"
#include "support/errors.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;
using tg::testing::error_of;

namespace {

constexpr double kMomentum = 0.1, kEps = 1e-5;
constexpr double kU32 = 0x1p-24, kU64 = 0x1p-53;

// Normal values that bfloat16 holds exactly, as float32: the float32 kernel sees what the bf16 one does.
Tensor bf16_exact(const Shape& s, uint64_t seed, double mean = 0.0, double std = 1.0) {
  Generator gen(seed);
  return cast(cast(affine(randn(s, DType::f32, Device::cpu(), &gen), std, mean), DType::bf16), DType::f32);
}
Tensor randn32(const Shape& s, uint64_t seed, double mean = 0.0, double std = 1.0) {
  Generator gen(seed);
  return affine(randn(s, DType::f32, Device::cpu(), &gen), std, mean);
}
Tensor bf(const Tensor& t) { return cast(t, DType::bf16); }

bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.cpu(), hb = b.cpu();
  return ha.shape() == hb.shape() && ha.dtype() == hb.dtype() && std::memcmp(ha.raw(), hb.raw(), ha.nbytes()) == 0;
}

// The number of elements whose bits differ, for the failure message.
int64_t differing(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return -1;
  const Tensor ha = a.cpu().to(DType::f64), hb = b.cpu().to(DType::f64);
  const double *p = ha.data<double>(), *q = hb.data<double>();
  int64_t n = 0;
  for (int64_t i = 0; i < ha.numel(); ++i) n += !(p[i] == q[i] || (std::isnan(p[i]) && std::isnan(q[i])));
  return n;
}

void expect_same_bits(const Tensor& got, const Tensor& want, const std::string& what) {
  CHECK_MESSAGE(same_bits(got, want), what, ": ", differing(got, want), " of ", want.numel(), " elements differ (",
                std::string(dtype_name(got.dtype())), " vs ", std::string(dtype_name(want.dtype())), ")");
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.cpu().to(DType::f64).to_vector<double>()) m = std::max(m, std::fabs(v));
  return m;
}

// The worst element's |got - want| / (rel |want| + abs), and where it is (NaN when either is NaN).
std::pair<double, size_t> worst_error(const Tensor& got, const Tensor& want, double rel, double abs) {
  const auto g = got.cpu().to(DType::f64).to_vector<double>(), w = want.cpu().to(DType::f64).to_vector<double>();
  REQUIRE(g.size() == w.size());
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double r = std::fabs(g[i] - w[i]) / (rel * std::fabs(w[i]) + abs + 1e-300);
    if (std::isnan(r) || r > worst) {  // a NaN stays the worst
      worst = r;
      at = i;
    }
  }
  return {worst, at};
}

// |got - want| <= rel |want| + abs elementwise; reports the worst element.
void expect_within(const Tensor& got, const Tensor& want, double rel, double abs, const std::string& what) {
  REQUIRE_MESSAGE(got.dtype() == want.dtype(), what, ": dtype ", std::string(dtype_name(got.dtype())), " vs ",
                  std::string(dtype_name(want.dtype())));
  const auto [worst, at] = worst_error(got, want, rel, abs);
  CHECK_MESSAGE(worst <= 1, what, ": element ", at, " got ", got.cpu().to(DType::f64).data<double>()[at], " want ",
                want.cpu().to(DType::f64).data<double>()[at], ", error / bound ", worst);
}

// One training step's and one eval pass's outputs of the batch-norm ops on device d.
struct Run {
  Tensor y, mean, invstd, running_mean, running_var, dx, dgamma, dbeta;  // training
  Tensor y_eval, dx_eval;                                                 // eval (running statistics)
};

struct Inputs {
  Tensor x, dy, gamma, beta, running_mean, running_var;  // x, dy bf16-exact float32; the rest float32
};

Inputs inputs(const Shape& s, uint64_t seed) {
  const int64_t c = s[1];
  return {bf16_exact(s, seed, 3.0, 2.0), bf16_exact(s, seed + 1), randn32({c}, seed + 2, 1.0, 0.2),
          randn32({c}, seed + 3), randn32({c}, seed + 4), affine(abs(randn32({c}, seed + 5)), 1.0, 0.5)};
}

// x and dy as `dtype` (float32 or bfloat16), everything on d.
Run run(const Inputs& in, DType dtype, Device d) {
  const Tensor x = cast(in.x, dtype).to(d), dy = cast(in.dy, dtype).to(d), gamma = in.gamma.to(d),
               beta = in.beta.to(d);
  Run r;
  r.running_mean = in.running_mean.to(d).clone();
  r.running_var = in.running_var.to(d).clone();
  BatchNormOutput train = batch_norm(x, gamma, beta, r.running_mean, r.running_var, true, kMomentum, kEps);
  NormGrads g = batch_norm_backward(dy, x, gamma, train.mean, train.invstd, true, {true, true, true});
  r.y = train.y;
  r.mean = train.mean;
  r.invstd = train.invstd;
  r.dx = g.dx;
  r.dgamma = g.dgamma;
  r.dbeta = g.dbeta;
  Tensor rm = in.running_mean.to(d).clone(), rv = in.running_var.to(d).clone();
  BatchNormOutput eval = batch_norm(x, gamma, beta, rm, rv, false, kMomentum, kEps);
  r.y_eval = eval.y;
  r.dx_eval = batch_norm_backward(dy, x, gamma, eval.mean, eval.invstd, false, {true, false, false}).dx;
  return r;
}

std::string name_of(const Shape& s, Device d) { return "batch_norm " + shape_str(s) + " on " + d.str(); }

// The defining test of the bf16 kernels on d: the float32 kernels' bits, y and dx rounded once.
void check_rounded_once(Device d, const std::vector<Shape>& shapes) {
  uint64_t seed = 100;
  for (const Shape& s : shapes) {
    const std::string what = name_of(s, d);
    const Inputs in = inputs(s, seed += 10);
    const Run f32 = run(in, DType::f32, d), b16 = run(in, DType::bf16, d);
    REQUIRE(b16.y.dtype() == DType::bf16);
    REQUIRE(b16.dx.dtype() == DType::bf16);
    expect_same_bits(b16.y, bf(f32.y), what + " y");
    expect_same_bits(b16.mean, f32.mean, what + " saved mean");
    expect_same_bits(b16.invstd, f32.invstd, what + " saved invstd");
    expect_same_bits(b16.running_mean, f32.running_mean, what + " running mean");
    expect_same_bits(b16.running_var, f32.running_var, what + " running var");
    expect_same_bits(b16.dx, bf(f32.dx), what + " dx");
    expect_same_bits(b16.dgamma, f32.dgamma, what + " dgamma");
    expect_same_bits(b16.dbeta, f32.dbeta, what + " dbeta");
    expect_same_bits(b16.y_eval, bf(f32.y_eval), what + " eval y");
    expect_same_bits(b16.dx_eval, bf(f32.dx_eval), what + " eval dx");
    // The rounding is real: y and dx are not all bf16 values in float32 (else the check above is void).
    CHECK(!same_bits(cast(bf(f32.y), DType::f32), f32.y));
    CHECK(!same_bits(cast(bf(f32.dx), DType::f32), f32.dx));
  }
}

// 2 (r u32 + n u64): r float32 roundings and a double sum of n terms (tests/cuda/test_cuda_real_sizes.cpp).
double tolerance(int r, int64_t n = 0) { return 2 * (r * kU32 + static_cast<double>(n) * kU64); }

// d's bf16 kernels against the CPU's, at the bounds of the header: E is the sum of the two float32
// kernels' bounds against float64 (the CPU's sums add a plane's H*W values in float: `plane` more
// roundings), relative to each output's scale.
void check_against_cpu(Device d, const std::vector<Shape>& shapes) {
  uint64_t seed = 200;
  for (const Shape& s : shapes) {
    const std::string what = name_of(s, d) + " vs the CPU";
    const int64_t m = s[0] * s[2] * s[3];
    const int plane = static_cast<int>(s[2] * s[3]);
    const Inputs in = inputs(s, seed += 10);
    const Run got = run(in, DType::bf16, d), want = run(in, DType::bf16, Device::cpu());
    const auto both = [&](int r, int64_t n) { return tolerance(r, n) + tolerance(r + plane, n); };
    const auto rounded = [&](const Tensor& g, const Tensor& w, double e, const std::string& name) {
      expect_within(g, w, 0x1p-7, 2 * e, what + " " + name);
    };
    const auto stat = [&](const Tensor& g, const Tensor& w, double tol, const std::string& name) {
      expect_within(g, w, 0.0, tol * max_abs(w), what + " " + name);
    };
    // dx's scale: its largest term |gamma invstd dy| (it cancels toward 0).
    const double dx_scale = max_abs(in.gamma) * max_abs(want.invstd) * max_abs(in.dy);
    rounded(got.y, want.y, both(6, 2 * m) * max_abs(want.y), "y");
    rounded(got.dx, want.dx, both(10, 2 * m) * dx_scale, "dx");
    rounded(got.y_eval, want.y_eval, both(6, 0) * max_abs(want.y_eval), "eval y");
    rounded(got.dx_eval, want.dx_eval, both(3, 0) * max_abs(want.dx_eval), "eval dx");
    stat(got.mean, want.mean, both(1, m), "saved mean");
    stat(got.invstd, want.invstd, both(1, 2 * m), "saved invstd");
    stat(got.running_mean, want.running_mean, both(2, m), "running mean");
    stat(got.running_var, want.running_var, both(2, 2 * m), "running var");
    stat(got.dgamma, want.dgamma, both(3, m), "dgamma");
    stat(got.dbeta, want.dbeta, both(1, m), "dbeta");
  }
}

const std::vector<Shape> kSmall = {{4, 3, 5, 5}, {2, 5, 1, 1}, {8, 16, 7, 9}, {16, 4, 32, 32}};
const std::vector<Shape> kReal = {{256, 64, 32, 32}, {256, 2048, 4, 4}};

// A communicator of two ranks whose peer holds this rank's tensors (allreduce doubles).
class Twin final : public distributed::Communicator {
 public:
  int64_t rank() const override { return 0; }
  int64_t size() const override { return 2; }
  std::string backend() const override { return "twin"; }
  void allreduce_sum(Tensor& t) override { t.copy_(mul(t, 2.0)); }
  void broadcast(Tensor&, int64_t) override {}
  Tensor allgather(const Tensor& t) override { return concat({t, t}, 0); }
};

}  // namespace

TEST_CASE("bf16 batch norm: every output is the float32 kernel's bits, y and dx rounded once (CPU)") {
  check_rounded_once(Device::cpu(), kSmall);
}

TEST_CASE("bf16 batch norm: infinities, NaN and overflow round as the cast does, in the vector body and the tail") {
  // Eval with beta 0, mean 0, var 1 - eps: y = x * gamma / sqrt(1), gamma = 1 + 2^-8 taking bf16's largest
  // value (2 - 2^-7) 2^127 to (2 - 2^-15) 2^127, a float past its half-way point to 2^128: bf16 infinity.
  // 21 values per plane: two vectors of 8 and a tail of 5, with the special values in both.
  const float inf = INFINITY, big = 0x1.fep127f;  // bf16's largest value
  std::vector<float> v = {1.0f, -inf, 2.5f, NAN, inf, -0.0f, big, -big, 0x1p-133f, -3.0f, 7.0f,
                          0.1f, 0.2f, 0.3f, 0.4f, 0.5f, -inf, NAN, big, 0x1p-140f, -0.0f};
  const Tensor x32 = cast(bf(Tensor::from_vector(v, {1, 1, 3, 7})), DType::f32);
  Tensor gamma = Tensor::full({1}, 1.0 + 0x1p-8), beta = Tensor::zeros({1}), rm = Tensor::zeros({1}),
         rv = Tensor::full({1}, 1.0 - kEps);
  const Tensor y32 = batch_norm(x32, gamma, beta, rm, rv, false, kMomentum, kEps).y;
  const Tensor y16 = batch_norm(bf(x32), gamma, beta, rm, rv, false, kMomentum, kEps).y;
  expect_same_bits(y16, bf(y32), "special values");
  const auto y = cast(y16, DType::f32).to_vector<float>();
  CHECK(std::isinf(y[6]));  // rounded past the largest bf16
  CHECK(std::isnan(y[3]));
  CHECK(std::isnan(y[17]));
  CHECK(y[1] == -inf);
}

TEST_CASE("bf16 batch norm: the ops take bfloat16 x with float32 parameters and refuse other mixes, naming the dtypes") {
  const Tensor x = bf(Tensor::ones({2, 3, 2, 2})), p32 = Tensor::ones({3});
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  CHECK(batch_norm(x, p32, p32, rm, rv, true, kMomentum, kEps).mean.dtype() == DType::f32);
  auto forward_error = [&](const Tensor& xx, const Tensor& gamma, Tensor& mean, Tensor& var) {
    return error_of([&] { batch_norm(xx, gamma, p32.to(gamma.dtype()), mean, var, true, kMomentum, kEps); });
  };
  Tensor rm16 = bf(rm), rv16 = bf(rv), rm64 = rm.to(DType::f64), rv64 = rv.to(DType::f64);
  // bf16 x with bf16 or float64 parameters.
  std::string e = forward_error(x, bf(p32), rm, rv);
  CHECK(e.find("batch_norm: gamma must be float32 for input bfloat16[2, 3, 2, 2]") != std::string::npos);
  CHECK(e.find("got bfloat16[3]") != std::string::npos);
  CHECK(e.find("float32 parameters and statistics") != std::string::npos);
  e = forward_error(x, p32, rm64, rv64);
  CHECK(e.find("running_mean must be float32") != std::string::npos);
  CHECK(e.find("got float64[3]") != std::string::npos);
  // float32 x with bf16 statistics; float64 x with float32 parameters.
  e = forward_error(x.to(DType::f32), p32, rm16, rv16);
  CHECK(e.find("batch_norm: running_mean must be float32 for input float32[2, 3, 2, 2]") != std::string::npos);
  CHECK(e.find("got bfloat16[3]") != std::string::npos);
  e = forward_error(x.to(DType::f64), p32, rm64, rv64);
  CHECK(e.find("gamma must be float64 for input float64") != std::string::npos);
  // Backward: dy must have x's dtype; the per-channel tensors float32 for bf16 x.
  const Tensor dy = bf(Tensor::ones({2, 3, 2, 2}));
  CHECK(batch_norm_backward(dy, x, p32, p32, p32, true, {true, true, true}).dgamma.dtype() == DType::f32);
  e = error_of([&] { batch_norm_backward(dy.to(DType::f32), x, p32, p32, p32, true, {true, true, true}); });
  CHECK(e.find("batch_norm_backward: dtypes differ") != std::string::npos);
  CHECK(e.find("bfloat16[2, 3, 2, 2]") != std::string::npos);
  CHECK(e.find("float32[2, 3, 2, 2]") != std::string::npos);
  e = error_of([&] { batch_norm_backward(dy, x, p32, bf(p32), p32, true, {true, true, true}); });
  CHECK(e.find("batch_norm_backward: mean must be float32 for input bfloat16") != std::string::npos);
  // Shapes still checked first-class: a [4] gamma for 3 channels.
  e = error_of([&] { batch_norm(x, Tensor::ones({4}), p32, rm, rv, true, kMomentum, kEps); });
  CHECK(e.find("per-channel tensors must be [3]") != std::string::npos);
}

TEST_CASE("bf16 batch norm: BatchNorm2d and autograd give bfloat16 dx and float32 parameter gradients") {
  const Shape s{4, 3, 6, 5};
  const Inputs in = inputs(s, 300);
  nn::BatchNorm2d bn32(3), bn16(3);
  for (nn::BatchNorm2d* bn : {&bn32, &bn16}) {
    bn->weight.data().copy_(in.gamma);
    bn->bias.data().copy_(in.beta);
  }
  Variable x32(in.x, true), x16(bf(in.x), true);
  const Variable y32 = bn32.forward(x32), y16 = bn16.forward(x16);
  REQUIRE(y16.dtype() == DType::bf16);
  expect_same_bits(y16.data(), bf(y32.data()), "y");
  expect_same_bits(bn16.running_var, bn32.running_var, "running var");
  const auto g32 = grad({y32}, {x32, bn32.weight, bn32.bias}, {in.dy});
  const auto g16 = grad({y16}, {x16, bn16.weight, bn16.bias}, {bf(in.dy)});
  CHECK(g16[1].dtype() == DType::f32);
  expect_same_bits(g16[0], bf(g32[0]), "dx");
  expect_same_bits(g16[1], g32[1], "dgamma");
  expect_same_bits(g16[2], g32[2], "dbeta");
  // Without gamma and beta: the defaults take the running statistics' dtype (float32).
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3}), rm32 = rm.clone(), rv32 = rv.clone();
  const Variable plain16 = batch_norm(x16, Variable(), Variable(), rm, rv, true, kMomentum, kEps);
  const Variable plain32 = batch_norm(x32, Variable(), Variable(), rm32, rv32, true, kMomentum, kEps);
  expect_same_bits(plain16.data(), bf(plain32.data()), "y without affine");
  expect_same_bits(grad({plain16}, {x16}, {bf(in.dy)})[0], bf(grad({plain32}, {x32}, {in.dy})[0]),
                   "dx without affine");
}

TEST_CASE("bf16 batch norm: SyncBatchNorm on bfloat16 activations is its float32 computation, rounded once") {
  // --sync-bn with --precision bf16: float32 statistics, allreduces and parameter gradients.
  const Shape s{3, 2, 4, 4};
  const Inputs in = inputs(s, 400);
  Twin comm;
  Tensor rm32 = in.running_mean.clone(), rv32 = in.running_var.clone(), rm16 = rm32.clone(), rv16 = rv32.clone();
  Variable x32(in.x, true), x16(bf(in.x), true), g32(in.gamma, true), b32(in.beta, true), g16(in.gamma, true),
      b16(in.beta, true);
  const Variable y32 = distributed::sync_batch_norm(x32, g32, b32, rm32, rv32, kMomentum, kEps, comm);
  const Variable y16 = distributed::sync_batch_norm(x16, g16, b16, rm16, rv16, kMomentum, kEps, comm);
  REQUIRE(y16.dtype() == DType::bf16);
  expect_same_bits(y16.data(), bf(y32.data()), "y");
  expect_same_bits(rm16, rm32, "running mean");
  expect_same_bits(rv16, rv32, "running var");
  const auto d32 = grad({y32}, {x32, g32, b32}, {in.dy}), d16 = grad({y16}, {x16, g16, b16}, {bf(in.dy)});
  REQUIRE(d16[0].dtype() == DType::bf16);
  expect_same_bits(d16[0], bf(d32[0]), "dx");
  expect_same_bits(d16[1], d32[1], "dgamma");
  expect_same_bits(d16[2], d32[2], "dbeta");
}

// The tier-2 comparison's code, on the CPU against itself (so it runs in CI without a GPU).
TEST_CASE("bf16 batch norm: the device comparison body, CPU against CPU") { check_against_cpu(Device::cpu(), kSmall); }

TEST_CASE("bf16 batch norm: the device comparison fails three bf16 units off, or on a NaN") {
  const std::vector<float> v = {1.5f, -3.25f, 100.0f, 0.0078125f};
  const Tensor want = bf(Tensor::from_vector(v, {4}));
  const double e = 1e-6;  // a float32-sized E, far below a bf16 unit
  CHECK(worst_error(want, want, 0x1p-7, 2 * e).first == 0);
  std::vector<float> off = v;
  off[2] = 101.5f;  // 3 units of 0.5 (bf16's spacing in [64, 128)) off: 1.9 times the bound
  CHECK(worst_error(bf(Tensor::from_vector(off, {4})), want, 0x1p-7, 2 * e).first > 1);
  off[2] = 100.5f;  // one unit: within it
  CHECK(worst_error(bf(Tensor::from_vector(off, {4})), want, 0x1p-7, 2 * e).first <= 1);
  off[2] = NAN;
  CHECK(std::isnan(worst_error(bf(Tensor::from_vector(off, {4})), want, 0x1p-7, 2 * e).first));
}

#define TG_BF16_BN_CASE(name) TEST_CASE("cuda: bf16 batch norm " name * doctest::skip(!cuda_is_available()))

TG_BF16_BN_CASE("is the CUDA float32 kernel's bits, y and dx rounded once (small and real sizes)") {
  check_rounded_once(Device::cuda(), kSmall);
  check_rounded_once(Device::cuda(), kReal);
}

TG_BF16_BN_CASE("against the CPU bf16 kernels (small and real sizes)") {
  check_against_cpu(Device::cuda(), kSmall);
  check_against_cpu(Device::cuda(), kReal);
}
