// bfloat16 activations in the transformer path (docs/ARCHITECTURE.md, "Mixed precision"): GEMMs that
// write a bfloat16 C (float32 accumulation, one rounding; beta != 0 reads the bf16 C), the linear op
// with its bias added before that rounding, nn::Linear under the bf16 policy (bf16 y and dx, float32
// dw and db), layer norm over every mix of float32 and bfloat16 x and y with float32 parameters and
// statistics, and a ViT training step under bf16 whose MLP hidden activations are bfloat16.
//
// The defining test of a bf16 kernel: on bf16-exact inputs it equals the float32 kernel on the same
// values, rounded to bfloat16 once; on the CPU bit for bit (the same float arithmetic), on the GPU
// within a stated bound against the CPU (tier 2, "cuda: bf16 ..."; skipped without a GPU).
// Bounds use u = 2^-8 (bf16's unit roundoff) and e = 2^-24 (float32's); S = sum_i |a_i b_i|.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>

#include "nn/loss.h"
#include "nn/models/vit.h"
#include "optim/optimizer.h"
#include "support/errors.h"
#include "support/gradcheck.h"
#include "support/tier2.h"
#include "tensor/dispatch.h"
#include "tensor/kernels.h"
#include "tensor/storage_observer.h"

using namespace tg;
using namespace tg::testing;

namespace {

const double kU = std::ldexp(1.0, -8), kE = std::ldexp(1.0, -24);

Tensor bf(const Tensor& t) { return cast(t, DType::bf16); }
Tensor f32(const Tensor& t) { return cast(t, DType::f32); }
std::vector<double> values(const Tensor& t) { return t.cpu().to(DType::f64).to_vector<double>(); }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// float32 values that bfloat16 holds exactly, scaled: the inputs of every comparison here.
Tensor bf_exact(const Shape& s, uint64_t seed, double scale = 1.0, double shift = 0.0) {
  return f32(bf(affine(rand64(s, seed), scale, shift)));
}

// Bit for bit: the same dtype, shape and values.
void expect_same(const Tensor& got, const Tensor& want, const std::string& what) {
  REQUIRE_MESSAGE(got.dtype() == want.dtype(), what, ": dtype ", dtype_name(got.dtype()), " vs ",
                  dtype_name(want.dtype()));
  REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": shape");
  const auto g = values(got), w = values(want);
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (g[i] != w[i] && differ++ == 0) first = i;
  }
  CHECK_MESSAGE(differ == 0, what, ": ", differ, " of ", g.size(), " elements differ, first ", first, ": ",
                differ ? g[first] : 0.0, " vs ", differ ? w[first] : 0.0);
}

// |got - want| <= bound elementwise (bound a tensor of want's shape); reports the worst ratio.
void expect_within(const Tensor& got, const Tensor& want, const Tensor& bound, const std::string& what) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": shape");
  const auto g = values(got), w = values(want), b = values(bound);
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double r = std::fabs(g[i] - w[i]) / (b[i] + 1e-300);
    if (!(r <= worst)) {
      worst = r;
      at = i;
    }
  }
  CHECK_MESSAGE(worst <= 1, what, ": element ", at, " got ", g[at], " want ", w[at], " error / bound ", worst);
}

// a * |x| + b * |y| + c, elementwise in float64.
Tensor combine(double a, const Tensor& x, double b = 0.0, const Tensor& y = Tensor(), double c = 0.0) {
  Tensor t = affine(abs(x.to(DType::f64)), a, c);
  return y.defined() ? add(t, affine(abs(y.to(DType::f64)), b, 0.0)) : t;
}

struct GemmCase {
  Shape a, b;
  bool ta, tb;
};
int64_t inner_size(const GemmCase& c) { return c.ta ? c.a[c.a.size() - 2] : c.a.back(); }

}  // namespace

// ---- GEMM with a bfloat16 C ----

TEST_CASE("bf16 gemm: a bf16 C is the float32-accumulated product rounded once (CPU, every layout)") {
  const GemmCase cases[] = {{{5, 37}, {37, 6}, false, false},       {{37, 5}, {6, 37}, true, true},
                            {{5, 300}, {7, 300}, false, true},      {{300, 5}, {300, 7}, true, false},
                            {{3, 4, 33}, {33, 9}, false, false},    {{1, 5, 7}, {3, 7, 4}, false, false},
                            {{2, 3, 20, 16}, {2, 3, 24, 16}, false, true}};
  uint64_t seed = 100;
  for (const GemmCase& c : cases) {
    const std::string what = shape_str(c.a) + (c.ta ? "^T" : "") + " @ " + shape_str(c.b) + (c.tb ? "^T" : "");
    const Tensor a = bf(rand64(c.a, ++seed)), b = bf(rand64(c.b, ++seed));
    const Tensor c16 = matmul(a, b, c.ta, c.tb, DType::bf16), c32 = matmul(a, b, c.ta, c.tb);
    REQUIRE(c32.dtype() == DType::f32);  // stage 1's float32 product stays the default
    expect_same(c16, bf(c32), what + ": bf16 C vs the float32 C rounded");
    // Against the exact product of the same operands: one rounding (u |exact|) after a float32 sum
    // (k e S), |c16 - exact| <= u |exact| + (1 + u) k e S.
    const int64_t k = inner_size(c);
    const Tensor exact = matmul(a.to(DType::f64), b.to(DType::f64), c.ta, c.tb);
    const Tensor s = matmul(abs(a.to(DType::f64)), abs(b.to(DType::f64)), c.ta, c.tb);
    expect_within(c16, exact, combine(kU, exact, (1 + kU) * k * kE, s), what + ": against the exact product");
  }
  CHECK(contains(error_of([] { matmul(Tensor::ones({2, 2}), Tensor::ones({2, 2}), false, false, DType::bf16); }),
                 "float32[2, 2] @ float32[2, 2] cannot give bfloat16"));
}

TEST_CASE("bf16 gemm: beta != 0 reads the bf16 C as float32 and rounds the sum once (CPU kernel)") {
  const Tensor a = bf(rand64({6, 40}, 1)), b = bf(rand64({40, 9}, 2)), c0 = bf(rand64({6, 9}, 3, -4.0, 4.0));
  for (double beta : {1.0, 2.0, -0.5}) {
    Tensor c16 = c0.clone(), c32 = f32(c0);
    cpu::matmul(a, b, c16, false, false, 0.5, beta);
    cpu::matmul(a, b, c32, false, false, 0.5, beta);  // the float32 kernel on the same values
    expect_same(c16, bf(c32), "beta = " + std::to_string(beta));
    // and C was read: without it the result is far off.
    CHECK(values(c16) != values(bf(matmul(a, b))));
  }
}

TEST_CASE("bf16 gemm: the linear op adds the bias before the one rounding") {
  const Tensor x = bf(rand64({50, 64}, 4)), w = bf(rand64({24, 64}, 5)), bias = rand64({24}, 6, -2.0, 2.0).to(DType::f32);
  const Tensor y16 = linear(x, w, bias, DType::bf16);
  // What it is: the float32 linear op on the bias rounded to bfloat16 (autocast's bf16 bias), rounded.
  expect_same(y16, bf(linear(x, w, f32(bf(bias)), DType::f32)), "linear bf16");
  // Not the product rounded and then the bias added and rounded again (two roundings).
  CHECK(values(y16) != values(bf(add(f32(bf(matmul(x, w, false, true))), f32(bf(bias))))));
  // Against exact arithmetic on the same values: |y16 - exact| <= u |exact| + (1 + u)(k + 1) e (S + |b|).
  const Tensor exact = add(matmul(x.to(DType::f64), w.to(DType::f64), false, true), bf(bias).to(DType::f64));
  const Tensor s = add(matmul(abs(x.to(DType::f64)), abs(w.to(DType::f64)), false, true), abs(bf(bias).to(DType::f64)));
  expect_within(y16, exact, combine(kU, exact, (1 + kU) * 65 * kE, s), "linear bf16 against exact");
  // float32 output from bf16 operands keeps the float32 bias as it is.
  const Tensor y32 = linear(x, w, bias, DType::f32);
  const Tensor exact32 = add(matmul(x.to(DType::f64), w.to(DType::f64), false, true), bias.to(DType::f64));
  expect_within(y32, exact32, combine(65 * kE, s, 65 * kE, bias), "linear float32 output");
  CHECK(contains(error_of([&] { linear(x, w, bf(bias), DType::bf16); }), "must be [24] of float32"));
}

// ---- nn::Linear under the bf16 policy ----

TEST_CASE("bf16 linear: forward and backward under bf16 against fp32, at bounds derived from the sizes") {
  constexpr int64_t in = 48, out = 24, rows = 15;
  Generator g(7);
  nn::Linear layer(in, out, true, &g);
  layer.bias.data().copy_(rand64({out}, 8, -0.5, 0.5).to(DType::f32));
  const Tensor x = bf_exact({3, 5, in}, 9), dy = bf_exact({3, 5, out}, 10);
  const Tensor w = layer.weight.data(), b = layer.bias.data();

  // fp32: the reference.
  Variable x32(x.clone(), true);
  Variable y32 = layer.forward(x32);
  const auto g32 = grad({y32}, {x32, layer.weight, layer.bias}, {dy});

  // bf16: a bfloat16 input (an activation), bf16_output set: y and dx bfloat16, dw and db float32.
  layer.set_precision(nn::Precision::bf16);
  layer.bf16_output = true;
  Variable x16(bf(x), true);
  Variable y16 = layer.forward(x16);
  REQUIRE(y16.dtype() == DType::bf16);
  const auto g16 = grad({y16}, {x16, layer.weight, layer.bias}, {bf(dy)});
  REQUIRE(g16[0].dtype() == DType::bf16);
  REQUIRE(g16[1].dtype() == DType::f32);
  REQUIRE(g16[2].dtype() == DType::f32);

  // y: w and b rounded ((2u + u^2) S + u |b|), float32 sums on both sides (2 (k + 1) e (S + |b|)), and
  // y's rounding (u |y32| (1 + u) around the rest).
  const Tensor x2 = x.reshape({rows, in}).to(DType::f64), w64 = w.to(DType::f64);
  const Tensor s_y = matmul(abs(x2), abs(w64), false, true).reshape({3, 5, out});
  const Tensor rest = add(combine((2 * kU + kU * kU) + 2 * (in + 1) * kE, s_y),
                          expand(combine(kU + 2 * (in + 1) * kE, b).reshape({1, 1, out}), {3, 5, out}));
  expect_within(y16.data(), y32.data(), add(combine(kU, y32.data()), affine(rest, 1 + kU, 0.0)), "y");
  // dx = dy w: w rounded (u S), two float32 sums (2 k e S), dx rounded.
  const Tensor s_dx = matmul(abs(dy.to(DType::f64)), abs(w64));
  expect_within(g16[0], g32[0], add(combine(kU, g32[0]), combine((1 + kU) * (kU + 2 * out * kE), s_dx)), "dx");
  // dw = dy^T x over 15 rows: the same values on both sides (x and dy are bf16-exact), float32 sums,
  // not rounded to bfloat16: within 2 rows e S, and not all bf16-exact.
  const Tensor dy2 = dy.reshape({rows, out}).to(DType::f64);
  const Tensor s_dw = matmul(abs(dy2), abs(x2), true, false);
  expect_within(g16[1], g32[1], combine(2 * rows * kE, s_dw), "dw");
  CHECK(values(g16[1]) != values(f32(bf(g16[1]))));
  // db: float32 sums of the same bf16 dy.
  expect_within(g16[2], g32[2], affine(sum(abs(dy2), {0}), 2 * rows * kE, 0.0), "db");
  // bf16 really ran: y is not float32's.
  CHECK(values(f32(y16.data())) != values(y32.data()));
}

// ---- layer norm ----

TEST_CASE("bf16 layer norm: every float32/bfloat16 mix is the float32 kernel on the same values, rounded") {
  const double eps = 1e-6;
  for (int64_t cols : {37, 192}) {
    const int64_t rows = 300;  // two of the CPU backward's 256-row blocks
    const Tensor x = bf_exact({3, 100, cols}, 20 + cols, 2.0, 3.0);  // mean ~3: the two-pass variance matters
    const Tensor dy = bf_exact({3, 100, cols}, 21 + cols);
    const Tensor gamma = rand64({cols}, 22, 0.5, 1.5).to(DType::f32), beta = rand64({cols}, 23).to(DType::f32);
    const LayerNormOutput ref = layer_norm(x, gamma, beta, eps);
    const NormGrads ref_g = layer_norm_backward(dy, x, gamma, ref.mean, ref.invstd, {true, true, true});
    for (auto [xd, yd] : {std::pair{DType::f32, DType::bf16}, {DType::bf16, DType::f32}, {DType::bf16, DType::bf16}}) {
      const std::string what = std::to_string(rows) + "x" + std::to_string(cols) + " x " + dtype_name(xd) + " y " +
                               dtype_name(yd);
      const LayerNormOutput o = layer_norm(cast(x, xd), gamma, beta, eps, yd);
      expect_same(o.y, cast(ref.y, yd), what + ": y");
      expect_same(o.mean, ref.mean, what + ": mean");
      expect_same(o.invstd, ref.invstd, what + ": invstd");
      const NormGrads gr = layer_norm_backward(cast(dy, yd), cast(x, xd), gamma, o.mean, o.invstd, {true, true, true});
      expect_same(gr.dx, cast(ref_g.dx, xd), what + ": dx");
      expect_same(gr.dgamma, ref_g.dgamma, what + ": dgamma");
      expect_same(gr.dbeta, ref_g.dbeta, what + ": dbeta");
    }
  }
}

TEST_CASE("bf16 layer norm: autograd gives dx in x's dtype; other mixes fail naming the dtypes") {
  const Tensor x = bf_exact({4, 16}, 30);
  Variable xb(bf(x), true), gamma(Tensor::ones({16}), true), beta(Tensor::zeros({16}), true);
  Variable y = layer_norm(xb, gamma, beta, 1e-5, DType::f32);
  CHECK(y.dtype() == DType::f32);
  const auto g = grad({y}, {xb, gamma, beta}, {bf_exact({4, 16}, 31)});
  CHECK(g[0].dtype() == DType::bf16);
  CHECK(g[1].dtype() == DType::f32);
  const std::string params = error_of([&] { layer_norm(bf(x), bf(Tensor::ones({16})), Tensor(), 1e-5); });
  CHECK(contains(params, "gamma"));
  CHECK(contains(params, "must be [16] of float32"));
  const std::string f64 = error_of([&] { layer_norm(x.to(DType::f64), Tensor(), Tensor(), 1e-5, DType::bf16); });
  CHECK(contains(f64, "float64"));
  CHECK(contains(f64, "bfloat16"));
}

// ---- the ViT under bf16 ----

namespace {

nn::ViTConfig tiny_vit_ti() {
  nn::ViTConfig c = nn::vit_tiny_config(8, 32);  // dim 192, heads 3, MLP 768
  c.depth = 2;
  c.num_classes = 10;
  c.stats = {{0.5, 0.45, 0.4}, {0.25, 0.25, 0.25}};
  return c;
}

// The storages alive (address -> bytes) while the observer is set: after a forward, what the graph saved.
std::map<const void*, size_t> g_live;
void track_storage(const void* storage, size_t bytes, bool allocated) {
  if (allocated) {
    g_live[storage] = bytes;
  } else {
    g_live.erase(storage);
  }
}
int count_live(size_t bytes) {
  int n = 0;
  for (const auto& [storage, b] : g_live) n += b == bytes;
  return n;
}

// One SGD step from the same initialization under `p`: the loss and each parameter's step (float64).
std::pair<double, std::vector<Tensor>> vit_step(nn::Precision p, const Tensor& x, const Tensor& y) {
  Generator g(3);
  nn::VisionTransformer model(tiny_vit_ti(), &g);
  model.set_precision(p);
  std::vector<Tensor> before;
  for (const Variable& v : model.parameters()) before.push_back(v.data().to(DType::f64));
  optim::SGD opt(model.named_parameters(), {0.1, 0.9});
  Variable loss = nn::tempered_cross_entropy(model.forward(Variable(x)), y, 2.0);
  loss.backward();
  opt.step();
  std::vector<Tensor> steps;
  const std::vector<Variable> params = model.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    REQUIRE(params[i].dtype() == DType::f32);  // master weights and their gradients stay float32
    REQUIRE(params[i].grad().dtype() == DType::f32);
    steps.push_back(sub(params[i].data().to(DType::f64), before[i]));
  }
  return {loss.item(), steps};
}

}  // namespace

// Runs once the bf16 elementwise kernels (GELU, add) are in: the MLP's GELU and the engine's sum of
// q's, k's and v's bfloat16 gradients need them.
TEST_CASE("bf16 vit: the MLP's hidden activations are bfloat16 in the model's own forward") {
  // What the graph holds after a forward: fc1's output (GELU's saved input) and GELU's output (fc2's
  // saved operand) in every block, [batch, tokens, hidden]: 2-byte elements under bf16, none of 4 bytes
  // (the CPU emulation's float32 copies of them are temporaries, freed by then).
  const nn::ViTConfig c = tiny_vit_ti();
  constexpr int64_t batch = 4;
  const int64_t tokens = 1 + (c.image_size / c.patch) * (c.image_size / c.patch);
  const size_t hidden = static_cast<size_t>(batch * tokens * c.mlp_hidden);
  const Tensor x = rand64({batch, 3, 32, 32}, 40, 0.0, 1.0).to(DType::f32);
  Generator g(3);
  nn::VisionTransformer model(c, &g);
  for (nn::Precision p : {nn::Precision::fp32, nn::Precision::bf16}) {
    model.set_precision(p);
    g_live.clear();
    detail::set_storage_observer(track_storage);
    const Variable logits = model.forward(Variable(x));
    const size_t bytes = p == nn::Precision::bf16 ? 2 : 4, other = p == nn::Precision::bf16 ? 4 : 2;
    const int saved = count_live(hidden * bytes), saved_other = count_live(hidden * other);
    detail::set_storage_observer(nullptr);
    CHECK(logits.dtype() == DType::f32);
    CHECK_MESSAGE(saved >= 2 * c.depth, nn::precision_name(p), ": ", saved, " hidden-sized tensors of ", bytes,
                  "-byte elements saved");
    CHECK_MESSAGE(saved_other == 0, nn::precision_name(p), ": ", saved_other, " hidden-sized tensors of ", other,
                  "-byte elements saved");
  }
}

TEST_CASE("bf16 vit: one SGD step of a ViT-Ti (2 blocks, 32x32, patch 8) under bf16 against fp32") {
  const Tensor x = rand64({8, 3, 32, 32}, 41, 0.0, 1.0).to(DType::f32);
  Tensor y = Tensor::empty({8}, DType::i64);
  for (int64_t i = 0; i < 8; ++i) y.data<int64_t>()[i] = (i * 3) % 10;
  const auto [loss32, p32] = vit_step(nn::Precision::fp32, x, y);
  const auto [loss16, p16] = vit_step(nn::Precision::bf16, x, y);
  // The loss: within 2 u relative (measured 3.5e-5: the logits' errors of ~u average out in the CE).
  CHECK_MESSAGE(std::fabs(loss16 - loss32) <= 2 * kU * std::fabs(loss32), "loss ", loss16, " vs ", loss32);
  CHECK(loss16 != loss32);
  // The steps (lr times the gradient, momentum's first step): relative l2 over all parameters. bf16
  // rounds every GEMM operand and the MLP's and attention's activations (u each), and a gradient passes
  // ~10 such roundings in two blocks; measured 0.0086 (2026-11-30, this CPU); the bound 0.03 (stage 1's
  // for its ViT, tests/tensor/test_bf16.cpp) sits above it, far below the 1 of unrelated steps.
  const double rel = relative_l2(p16, p32);
  CHECK_MESSAGE(rel < 0.03, "steps differ by ", rel, " (relative l2)");
  CHECK(rel > 1e-4);  // and bf16 really ran
}

// ---- tier 2: CUDA against the CPU ----
// On a GPU; TG_TIER2_DEVICE=cpu runs them with the CPU in the GPU's place at tiny sizes
// (tests/support/tier2.h), which exercises the comparisons in CI without a GPU.

#define TG_BF16_TIER2(name) TEST_CASE("cuda: bf16 " name * doctest::skip(!tier2_runs()))

TG_BF16_TIER2("gemm with a bf16 C against the CPU (cuBLAS, CUBLAS_COMPUTE_32F), at ViT-S sizes") {
  // Both sides round (exact products, float32 sums in different orders: within 4 k e S of each other,
  // tests/cuda/test_cuda_bf16.cpp's order_bound) to bfloat16 once; rounding may then split them by one
  // bf16 unit: |gpu - cpu| <= 2^-7 |cpu| + (1 + 2^-7) 4 k e S.
  const Tier2 t = *tier2();
  const double u7 = std::ldexp(1.0, -7);
  std::vector<GemmCase> cases = {{{64, 300}, {300, 96}, false, false},
                                 {{300, 64}, {96, 300}, true, true},
                                 {{4, 33, 70}, {70, 17}, false, false},
                                 {{8, 197, 64}, {8, 197, 64}, false, true}};
  if (!t.tiny) {
    cases.insert(cases.end(), {{{3152, 384}, {1152, 384}, false, true},   // ViT-S qkv, 16 images
                               {{3152, 384}, {1536, 384}, false, true},   // fc1
                               {{3152, 1536}, {384, 1536}, false, true},  // fc2 (k = 1536)
                               {{2, 6, 197, 197}, {2, 6, 197, 64}, false, false}});  // attn v
  }
  uint64_t seed = 200;
  for (const GemmCase& c : cases) {
    const std::string what = shape_str(c.a) + (c.ta ? "^T" : "") + " @ " + shape_str(c.b) + (c.tb ? "^T" : "");
    const Tensor a = bf(rand64(c.a, ++seed)), b = bf(rand64(c.b, ++seed));
    const Tensor cpu = matmul(a, b, c.ta, c.tb, DType::bf16);
    const Tensor got = matmul(a.to(t.device), b.to(t.device), c.ta, c.tb, DType::bf16);
    REQUIRE(got.dtype() == DType::bf16);
    const Tensor s = matmul(abs(f32(a)), abs(f32(b)), c.ta, c.tb);
    expect_within(got, cpu, combine(u7, cpu, (1 + u7) * 4 * inner_size(c) * kE, s), what);
  }
  // beta != 0: the linear op's bias rows (beta = 1), and beta = 2 through the kernel; S + |C| for S.
  const int64_t rows = t.tiny ? 64 : 3152, in = t.tiny ? 48 : 384, out = t.tiny ? 40 : 1536;
  const Tensor x = bf(rand64({rows, in}, 300)), w = bf(rand64({out, in}, 301));
  const Tensor bias = rand64({out}, 302, -2.0, 2.0).to(DType::f32);
  const Tensor cpu = linear(x, w, bias, DType::bf16);
  const Tensor got = linear(x.to(t.device), w.to(t.device), bias.to(t.device), DType::bf16);
  const Tensor s = add(matmul(abs(f32(x)), abs(f32(w)), false, true), abs(bias));
  expect_within(got, cpu, combine(u7, cpu, (1 + u7) * 4 * (in + 1) * kE, s), "linear with a bf16 bias row");
  Tensor c_cpu = bf(rand64({rows, out}, 303)), c_dev = c_cpu.to(t.device);
  const Tensor s2 = add(s, affine(abs(f32(c_cpu)), 2.0, 0.0));
  TG_DISPATCH(Device::cpu(), matmul, x, w, c_cpu, false, true, 1.0, 2.0);
  TG_DISPATCH(t.device, matmul, x.to(t.device), w.to(t.device), c_dev, false, true, 1.0, 2.0);
  expect_within(c_dev, c_cpu, combine(u7, c_cpu, (1 + u7) * 4 * (in + 1) * kE, s2), "beta = 2");
}

TG_BF16_TIER2("layer norm: each float32/bfloat16 mix is the device's float32 kernel rounded, at ViT-S size") {
  // The GPU computes in double and rounds to float32 (the float32 kernel's value), then to bfloat16: so
  // bit for bit against the GPU's float32 kernel rounded. Against the CPU (float32 arithmetic) within one
  // bf16 unit (2^-7 relative) plus 1e-5 absolute (the float32 kernels' own gap on values of order 1).
  const Tier2 t = *tier2();
  const double eps = 1e-6;
  std::vector<std::pair<int64_t, int64_t>> sizes = {{300, 37}};
  if (!t.tiny) sizes.push_back({16 * 197, 384});
  for (auto [rows, cols] : sizes) {
    const Tensor x = bf_exact({rows, cols}, 400 + cols, 2.0, 3.0).to(t.device);
    const Tensor dy = bf_exact({rows, cols}, 401).to(t.device);
    const Tensor gamma = rand64({cols}, 402, 0.5, 1.5).to(DType::f32).to(t.device);
    const Tensor beta = rand64({cols}, 403).to(DType::f32).to(t.device);
    const LayerNormOutput ref = layer_norm(x, gamma, beta, eps);
    const NormGrads ref_g = layer_norm_backward(dy, x, gamma, ref.mean, ref.invstd, {true, true, true});
    for (auto [xd, yd] : {std::pair{DType::f32, DType::bf16}, {DType::bf16, DType::f32}, {DType::bf16, DType::bf16}}) {
      const std::string what = shape_str({rows, cols}) + " x " + dtype_name(xd) + " y " + dtype_name(yd);
      const LayerNormOutput o = layer_norm(cast(x, xd), gamma, beta, eps, yd);
      expect_same(o.y, cast(ref.y, yd), what + ": y");
      expect_same(o.mean, ref.mean, what + ": mean");
      const NormGrads gr = layer_norm_backward(cast(dy, yd), cast(x, xd), gamma, o.mean, o.invstd, {true, true, true});
      expect_same(gr.dx, cast(ref_g.dx, xd), what + ": dx");
      expect_same(gr.dgamma, ref_g.dgamma, what + ": dgamma");
      const LayerNormOutput on_cpu = layer_norm(cast(x, xd).cpu(), gamma.cpu(), beta.cpu(), eps, yd);
      expect_within(o.y, on_cpu.y, combine(std::ldexp(1.0, -7), on_cpu.y, 0.0, Tensor(), 1e-5), what + ": y vs the CPU");
    }
  }
}

TG_BF16_TIER2("vit: a ViT-Ti training step under bf16 against the CPU's bf16 and the device's fp32") {
  const Tier2 t = *tier2();
  const Tensor x = rand64({8, 3, 32, 32}, 41, 0.0, 1.0).to(DType::f32);
  Tensor y = Tensor::empty({8}, DType::i64);
  for (int64_t i = 0; i < 8; ++i) y.data<int64_t>()[i] = (i * 3) % 10;
  auto grads = [&](Device d, nn::Precision p) {
    Generator g(3);
    nn::VisionTransformer model(tiny_vit_ti(), &g);
    model.to(d);
    model.set_precision(p);
    Variable loss = nn::tempered_cross_entropy(model.forward(Variable(x.to(d))), y.to(d), 2.0);
    loss.backward();
    std::vector<Tensor> out;
    for (const Variable& v : model.parameters()) out.push_back(v.grad().cpu().to(DType::f64));
    return std::pair{loss.item(), out};
  };
  // Tolerances as the CPU test measured bf16 against fp32 (0.0086 for the step): 0.03 on the gradients,
  // and the loss within 8 u (unmeasured on a GPU: stage 1's GPU bound, tests/cuda/test_cuda_bf16.cpp).
  Tf32Scope no_tf32(false);
  const auto [loss16, g16] = grads(t.device, nn::Precision::bf16);
  const auto [loss_cpu, g_cpu] = grads(Device::cpu(), nn::Precision::bf16);
  const auto [loss32, g32] = grads(t.device, nn::Precision::fp32);
  CHECK_MESSAGE(std::fabs(loss16 - loss_cpu) <= 8 * kU * std::fabs(loss_cpu), "loss ", loss16, " vs the CPU's ", loss_cpu);
  CHECK_MESSAGE(std::fabs(loss16 - loss32) <= 8 * kU * std::fabs(loss32), "loss ", loss16, " vs fp32 ", loss32);
  CHECK_MESSAGE(relative_l2(g16, g_cpu) < 0.03, "gradients vs the CPU's bf16: ", relative_l2(g16, g_cpu));
  CHECK_MESSAGE(relative_l2(g16, g32) < 0.03, "gradients vs the device's fp32: ", relative_l2(g16, g32));
}
