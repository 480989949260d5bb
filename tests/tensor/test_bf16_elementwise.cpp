// bfloat16 elementwise and reduction kernels (docs/ARCHITECTURE.md, "Mixed precision"): a kernel that
// takes bfloat16 widens to float, computes as the float32 kernel does and rounds once. So on inputs that
// are exactly bfloat16, its output is the float32 kernel's output on the same values rounded to bfloat16,
// bit for bit (any NaN matches any NaN: a payload is not a value). Sums accumulate in double on both
// paths and the float32 kernel rounds that double to float first, so a bfloat16 sum is held to the
// float64 kernel's sum rounded once (the float32 one may differ by the double rounding, which a case
// below shows). Inputs: random values over many binades, ties of round-to-nearest-even, signed zeros,
// infinities, NaN, the largest bfloat16 and subnormals. Tier 2 ("cuda: bf16 ..."): the CUDA kernels
// against these CPU kernels, at real sizes.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "support/errors.h"
#include "support/gradcheck.h"
#include "support/tier2.h"
#include "tensor/ops.h"
#include "tensor/reference/elementwise.h"

using namespace tg;
using namespace tg::testing;

namespace {

const double kInf = std::numeric_limits<double>::infinity(), kNaN = std::numeric_limits<double>::quiet_NaN();
const double kTie = std::ldexp(1.0, -8);  // half of bf16's spacing in [1, 2): 1 + kTie is a tie

// Values that exercise the rounding and IEEE's special cases; all exactly bfloat16.
const std::vector<double> kSpecials = {0.0, -0.0, 1.0, -1.0, 1.0 + std::ldexp(1.0, -7), kTie, 3.0, -0.5,
                                       kInf, -kInf, kNaN, std::ldexp(255.0, 120) /* largest bf16 */,
                                       -std::ldexp(255.0, 120), std::ldexp(1.0, -133) /* smallest subnormal */,
                                       std::ldexp(1.0, -126), 1e30, -2.5e-20};

Tensor bf(const Tensor& t) { return t.to(DType::bf16); }
Tensor f32(const Tensor& t) { return t.to(DType::f32); }

// n values: kSpecials, then random ones over the binades 2^-20 .. 2^20, rounded to bfloat16 (float64).
Tensor bf16_values(const Shape& shape, uint64_t seed, bool specials = true) {
  Tensor x = rand64(shape, seed, -2.0, 2.0);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::ldexp(p[i], static_cast<int>((i * 7 + seed) % 41) - 20);
  for (size_t i = 0; specials && i < kSpecials.size() && static_cast<int64_t>(i) < x.numel(); ++i) p[i] = kSpecials[i];
  return bf(x).to(DType::f64);
}

// got (bfloat16) against want rounded to bfloat16 by the float64 oracle (reference::round_to_bf16, not
// the cast the kernels use): the same value and sign, any NaN for a NaN.
void check_rounded(const Tensor& got, const Tensor& want, const std::string& what) {
  REQUIRE_MESSAGE(got.dtype() == DType::bf16, what, ": got ", got.str());
  REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": ", got.str(), " vs ", want.str());
  const std::vector<double> g = got.cpu().to(DType::f64).to_vector<double>(),
                            w = reference::round_to_bf16(want.cpu().to(DType::f64)).to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(g[i]) && std::isnan(w[i])) continue;
    REQUIRE_MESSAGE((g[i] == w[i] && std::signbit(g[i]) == std::signbit(w[i])), what, ": element ", i, " is ", g[i],
                    ", the float32 kernel's rounded is ", w[i]);
  }
}

const std::vector<UnaryOp> kUnaryOps = {UnaryOp::neg,  UnaryOp::exp,     UnaryOp::log,    UnaryOp::sqrt,
                                        UnaryOp::rsqrt, UnaryOp::abs,    UnaryOp::sign,   UnaryOp::relu,
                                        UnaryOp::gelu, UnaryOp::tanh,    UnaryOp::sigmoid, UnaryOp::square,
                                        UnaryOp::reciprocal};
const std::vector<BinaryOp> kBinaryOps = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div,
                                          BinaryOp::pow, BinaryOp::maximum, BinaryOp::minimum};
const std::vector<BinaryOp> kComparisons = {BinaryOp::eq, BinaryOp::ne, BinaryOp::lt,
                                            BinaryOp::le, BinaryOp::gt, BinaryOp::ge};

}  // namespace

TEST_CASE("bf16 elementwise: every unary op and its backward are the float32 kernel's, rounded") {
  // 1003 elements: GELU's 8-lane loop ends on a partial step.
  const Tensor x = bf16_values({17, 59}, 1), dy = bf16_values({17, 59}, 2, false);
  for (UnaryOp op : kUnaryOps) {
    const std::string name = unary_name(op);
    const Tensor y = unary(op, bf(x));
    check_rounded(y, unary(op, f32(x)), name);
    // Backward on the same values: y is the bf16 forward output in both.
    check_rounded(unary_backward(op, bf(dy), bf(x), y), unary_backward(op, f32(dy), f32(x), f32(y)),
                  name + " backward");
  }
}

TEST_CASE("bf16 elementwise: affine, pow and clamp are the float32 kernels', rounded") {
  const Tensor x = bf16_values({1001}, 3);
  // affine(x, 1, 2^-8) puts x = 1 and x = 1 + 2^-7 on ties: they round to even (1 and 1 + 2^-6).
  for (auto [scale, shift] : {std::pair{1.0, kTie}, std::pair{-3.0, 0.25}, std::pair{0.1, -7.0}, std::pair{1e30, 0.0}})
    check_rounded(affine(bf(x), scale, shift), affine(f32(x), scale, shift), "affine");
  CHECK(bf(affine(bf(Tensor::scalar(1.0 + std::ldexp(1.0, -7))), 1.0, kTie)).to(DType::f64).item() ==
        1.0 + std::ldexp(1.0, -6));
  for (double p : {2.0, 0.5, -1.0, 3.0, 1.7})
    check_rounded(pow(bf(x), p), pow(f32(x), p), "pow " + std::to_string(p));
  for (auto [lo, hi] : {std::pair{-1.0, 1.0}, std::pair{0.0, kInf}, std::pair{0.1, 0.3}})
    check_rounded(clamp(bf(x), lo, hi), clamp(f32(x), lo, hi), "clamp");
}

TEST_CASE("bf16 elementwise: binary ops, broadcast and scalar, are the float32 kernels', rounded") {
  // Same shapes; b a scalar (2^-8: a tie beside every a in [1, 2)); and every special against every
  // other through a [S, 1] x [1, S] broadcast; and [4, 1, 5] x [3, 1].
  const int64_t s = static_cast<int64_t>(kSpecials.size());
  const Tensor specials = bf16_values({s}, 0);
  const std::vector<std::pair<Tensor, Tensor>> operands = {
      {bf16_values({1001}, 4), bf16_values({1001}, 5)},
      {bf16_values({1001}, 6), Tensor::scalar(kTie, DType::f64)},
      {specials.reshape({s, 1}), specials.reshape({1, s})},
      {bf16_values({4, 1, 5}, 7), bf16_values({3, 1}, 8)}};
  for (const auto& [a, b] : operands) {
    for (BinaryOp op : kBinaryOps)
      check_rounded(binary(op, bf(a), bf(b)), binary(op, f32(a), f32(b)), binary_name(op));
    for (BinaryOp op : kComparisons) {
      const Tensor got = binary(op, bf(a), bf(b));
      REQUIRE(got.dtype() == DType::u8);
      CHECK_MESSAGE(got.to_vector<uint8_t>() == binary(op, f32(a), f32(b)).to_vector<uint8_t>(), binary_name(op));
    }
  }
  // Ties by hand: 1 + 2^-8 rounds to 1, (1 + 2^-7) + 2^-8 to 1 + 2^-6 (truncation would give 1 + 2^-7).
  const Tensor ones = bf(Tensor::from_vector<double>({1.0, 1.0 + std::ldexp(1.0, -7)}, {2}));
  CHECK(add(ones, bf(Tensor::scalar(kTie, DType::f64))).to(DType::f64).to_vector<double>() ==
        std::vector<double>{1.0, 1.0 + std::ldexp(1.0, -6)});
  // In place, as the autograd engine accumulates gradients.
  Tensor acc = bf(operands[0].first);
  add_(acc, bf(operands[0].second));
  check_rounded(acc, add(f32(operands[0].first), f32(operands[0].second)), "add_");
}

TEST_CASE("bf16 elementwise: where and expand move bits") {
  const Tensor a = bf16_values({3, 17}, 9), b = bf16_values({17}, 10);
  const Tensor cond = gt(bf16_values({3, 1}, 11, false), Tensor::scalar(0.0, DType::f64));
  check_rounded(where(cond, bf(a), bf(b)), where(cond, f32(a), f32(b)), "where");
  check_rounded(expand(bf(b), {4, 17}), expand(f32(b), {4, 17}), "expand");
}

TEST_CASE("bf16 elementwise: mixed bfloat16 and float32 operands fail naming the op and both dtypes") {
  const Tensor h = bf(Tensor::ones({2, 2})), f = Tensor::ones({2, 2});
  for (const std::string& e : {error_of([&] { add(h, f); }), error_of([&] { where(gt(f, f), h, f); }),
                               error_of([&] { unary_backward(UnaryOp::relu, f, h, h); })}) {
    CHECK_MESSAGE(e.find("bfloat16") != std::string::npos, e);
    CHECK_MESSAGE(e.find("float32") != std::string::npos, e);
    CHECK_MESSAGE(e.find("tg::cast") != std::string::npos, e);  // the fix
  }
  CHECK(error_of([&] { mul(f, h); }).find("mul") != std::string::npos);
  CHECK(error_of([&] { exp(bf(Tensor::ones({2}, DType::i64))); }).empty());  // an int64 cast to bf16 is floating
  CHECK(error_of([&] { exp(Tensor::ones({2}, DType::i64)); }).find("exp") != std::string::npos);
}

// ---- reductions ----

TEST_CASE("bf16 reduce: sums and means are the float64 sums of the same values, rounded once") {
  // 300 columns: the column-blocked sum (blocks of 256) ends on a partial block.
  const Tensor x = bf16_values({37, 300}, 12, false);
  for (const std::vector<int64_t>& axes : {std::vector<int64_t>{0}, {1}, {}}) {
    check_rounded(sum(bf(x), axes), sum(x, axes), "sum");
    check_rounded(mean(bf(x), axes), mean(x, axes), "mean");
  }
  check_rounded(sum(bf(x.reshape({37, 3, 100})), {0, 2}), sum(x.reshape({37, 3, 100}), {0, 2}), "sum over 0, 2");
  // One rounding, not two: 1 + 2^-8 + 2^-30 lies just past the tie between 1 and 1 + 2^-7. Through
  // float32 it would land on the tie and round to even (1); rounded once it goes up.
  const Tensor parts = Tensor::from_vector<double>({1.0, kTie, std::ldexp(1.0, -30)}, {3});
  CHECK(bf(sum(f32(parts))).to(DType::f64).item() == 1.0);  // the double rounding
  CHECK(sum(bf(parts)).to(DType::f64).item() == 1.0 + std::ldexp(1.0, -7));
  CHECK(sum(bf(parts.reshape({3, 1})), {0}).to(DType::f64).item() == 1.0 + std::ldexp(1.0, -7));
  // Infinities and NaN propagate.
  CHECK(std::isinf(sum(bf(Tensor::from_vector<double>({1.0, kInf}, {2}))).to(DType::f64).item()));
  CHECK(std::isnan(mean(bf(Tensor::from_vector<double>({kInf, -kInf}, {2}))).to(DType::f64).item()));
}

TEST_CASE("bf16 reduce: max, min, argmax, argmin and var on the same values as float32") {
  Tensor x = bf16_values({6, 41}, 13, false);
  double* p = x.data<double>();
  p[1 * 41 + 5] = kNaN;                                       // row 1: NaN wins
  p[2 * 41 + 3] = p[2 * 41 + 9] = 1e30;                       // row 2: a tie, the first index wins
  for (int64_t j = 0; j < 41; ++j) p[3 * 41 + j] = j % 2 ? -0.0 : 0.0;  // row 3: signed zeros only
  p[4 * 41 + 7] = kInf;
  p[4 * 41 + 8] = -kInf;
  for (int64_t axis : {0, 1}) {
    check_rounded(max(bf(x), {axis}), max(f32(x), {axis}), "max");
    check_rounded(min(bf(x), {axis}), min(f32(x), {axis}), "min");
    CHECK(argmax(bf(x), axis).to_vector<int64_t>() == argmax(f32(x), axis).to_vector<int64_t>());
    CHECK(argmin(bf(x), axis).to_vector<int64_t>() == argmin(f32(x), axis).to_vector<int64_t>());
  }
  CHECK(argmax(bf(x), 1).dtype() == DType::i64);
  const Tensor y = bf16_values({9, 50}, 14, false);
  for (int64_t correction : {0, 1})
    for (int64_t axis : {0, 1}) check_rounded(var(bf(y), {axis}, correction), var(y, {axis}, correction), "var");
}

// ---- autograd through bf16 activations ----

TEST_CASE("bf16 autograd: gradients of relu(a * b + c) * a equal float32's rounded where each kernel rounds") {
  // Every kernel of the bf16 graph (forward and backward) rounds its output once; the reference runs the
  // float32 kernels and rounds (r) after each, in the same places: a's two gradients are added by the
  // engine (add, rounded), c's is summed over its broadcast rows (rounded once, from a float64 sum).
  const Tensor a = bf16_values({5, 7}, 20, false), b = bf16_values({5, 7}, 21, false),
               c = bf16_values({1, 7}, 22, false), dz = bf16_values({5, 7}, 23, false);
  Variable va(bf(a), true), vb(bf(b), true), vc(bf(c), true);
  const Variable z = mul(relu(add(mul(va, vb), vc)), va);
  const std::vector<Tensor> g = grad({z}, {va, vb, vc}, {bf(dz)});

  auto r = [](const Tensor& t) { return f32(bf(t)); };
  const Tensor s = r(add(r(mul(f32(a), f32(b))), f32(c))), t = r(relu(s));
  check_rounded(z.data(), mul(t, f32(a)), "z");
  const Tensor dt = r(mul(f32(dz), f32(a))), ds = r(unary_backward(UnaryOp::relu, dt, s, t));
  check_rounded(g[0], add(r(mul(f32(dz), t)), r(mul(ds, f32(b)))), "da");
  check_rounded(g[1], mul(ds, f32(a)), "db");
  check_rounded(g[2], sum(ds.to(DType::f64), {0}, true), "dc");
  for (const Tensor& gi : g) CHECK(gi.dtype() == DType::bf16);
}

// ---- tier 2: the CUDA kernels against the CPU kernels above ----
// Bit for bit where both devices evaluate the same IEEE operations (+ - * / sqrt, comparisons, copies),
// in the same order. Within one bfloat16 unit where they may not: the transcendental functions (CUDA's
// expf, logf, tanhf, erff and powf are not glibc's, nor is the CPU GELU's vectorized erf; a few float
// ulps apart, which moves a rounding to bfloat16 by at most one unit), affine (nvcc contracts a x + b
// into one FMA), and sums (both accumulate in double, in different orders: the double sums differ by
// about n 2^-53 relative, which moves the rounding only where the exact sum lies that close to a
// rounding boundary). TG_TIER2_DEVICE=cpu runs these cases with the CPU in the GPU's place (tiny
// sizes; tests/support/tier2.h), which exercises the comparisons without a GPU.

namespace {

// key(bits): bfloat16 values in order, adjacent ones 1 apart (+0 and -0 both 0).
int32_t key(uint16_t bits) { return bits & 0x8000 ? -static_cast<int32_t>(bits & 0x7fff) : bits; }

// How far apart two bfloat16 tensors are: how many elements' bits differ (any NaN matches any NaN),
// and the largest distance in bfloat16 units (a NaN against a number: INT32_MAX), at element `at`
// where a and b hold a_at and b_at.
struct UnitGap {
  int64_t differ = 0, at = 0;
  int32_t worst = 0;
  float a_at = 0, b_at = 0;
};
UnitGap units_apart(const Tensor& a, const Tensor& b) {
  const Tensor x = a.cpu(), y = b.cpu();
  const bf16 *pa = x.data<bf16>(), *pb = y.data<bf16>();
  UnitGap g;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const bool na = std::isnan(pa[i].to_float()), nb = std::isnan(pb[i].to_float());
    if ((na && nb) || pa[i].bits == pb[i].bits) continue;
    const int32_t d = na || nb ? std::numeric_limits<int32_t>::max() : std::abs(key(pa[i].bits) - key(pb[i].bits));
    if (g.differ++ == 0 || d > g.worst) g = {g.differ, i, d, pa[i].to_float(), pb[i].to_float()};
  }
  return g;
}

// gpu against cpu: at most `units` bfloat16 units apart, and bit for bit when units is 0.
void check_units(const Tensor& gpu, const Tensor& cpu, int units, const std::string& what) {
  REQUIRE_MESSAGE(gpu.dtype() == DType::bf16, what, ": ", gpu.str());
  REQUIRE_MESSAGE(cpu.dtype() == DType::bf16, what, ": ", cpu.str());
  REQUIRE_MESSAGE(gpu.shape() == cpu.shape(), what, ": ", gpu.str(), " vs ", cpu.str());
  const UnitGap g = units_apart(gpu, cpu);
  MESSAGE(what, ": ", g.differ, " of ", cpu.numel(), " elements differ from the CPU's",
          g.differ ? ", at most by " + std::to_string(g.worst) + " bf16 units" : std::string());
  CHECK_MESSAGE((units == 0 ? g.differ == 0 : g.worst <= units), what, ": element ", g.at, " gpu ", g.a_at, " cpu ",
                g.b_at, ", ", g.worst, " bf16 units apart");
}

// The forward ops whose float formula is IEEE operations only (the rest call transcendental functions);
// every backward formula but GELU's is.
bool exact_on_both(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: case UnaryOp::sqrt: case UnaryOp::rsqrt: case UnaryOp::abs: case UnaryOp::sign:
    case UnaryOp::relu: case UnaryOp::square: case UnaryOp::reciprocal: return true;
    default: return false;
  }
}

#define TG_BF16_TIER2(name) TEST_CASE("cuda: bf16 " name * doctest::skip(!tier2_runs()))

}  // namespace

TEST_CASE("bf16 tier 2 support: the comparison counts bfloat16 units, signed zeros and NaN") {
  const Tensor a = bf(Tensor::from_vector<double>({1.0, -0.0, kNaN, 2.0, -kInf}, {5}));
  auto changed = [&](int64_t i, uint16_t bits) {
    Tensor b = a.clone();
    b.data<bf16>()[i] = bf16::from_bits(bits);
    return units_apart(a, b);
  };
  CHECK(units_apart(a, a.clone()).differ == 0);
  CHECK(changed(2, 0x7fc1).differ == 0);  // another NaN
  const UnitGap up = changed(0, 0x3f81), zero = changed(1, 0x0000), nan = changed(3, 0x7fc0), big = changed(4, 0xff7f);
  CHECK((up.differ == 1 && up.worst == 1 && up.at == 0));
  CHECK((zero.differ == 1 && zero.worst == 0));  // +0 for -0: bits differ, 0 units apart
  CHECK(nan.worst == std::numeric_limits<int32_t>::max());
  CHECK((big.differ == 1 && big.worst == 1));  // the largest finite bf16 beside infinity
}

TG_BF16_TIER2("elementwise: every unary op and its backward against the CPU") {
  const Tier2 t = *tier2();
  const Device gpu = t.device;
  const int64_t n = t.tiny ? 1 << 12 : 1 << 20;
  const Tensor x = bf(bf16_values({n}, 30)), dy = bf(bf16_values({n}, 31, false));
  for (UnaryOp op : kUnaryOps) {
    const std::string name = unary_name(op);
    const Tensor y = unary(op, x);
    check_units(unary(op, x.to(gpu)), y, exact_on_both(op) ? 0 : 1, name);
    check_units(unary_backward(op, dy.to(gpu), x.to(gpu), y.to(gpu)), unary_backward(op, dy, x, y),
                op == UnaryOp::gelu ? 1 : 0, name + " backward");
  }
}

TG_BF16_TIER2("elementwise: binary ops, broadcast, affine, pow, clamp, where and expand against the CPU") {
  const Tier2 t = *tier2();
  const Device gpu = t.device;
  const int64_t n = t.tiny ? 1 << 12 : 1 << 20, m = t.tiny ? 8 : 64;
  const int64_t s = static_cast<int64_t>(kSpecials.size());
  const Tensor specials = bf(bf16_values({s}, 0));
  const std::vector<std::pair<Tensor, Tensor>> operands = {
      {bf(bf16_values({n}, 32)), bf(bf16_values({n}, 33))},
      {bf(bf16_values({n}, 34)), bf(Tensor::scalar(kTie, DType::f64))},
      {specials.reshape({s, 1}), specials.reshape({1, s})},
      {bf(bf16_values({m, 1, 1000}, 35)), bf(bf16_values({300, 1}, 36))}};
  for (const auto& [a, b] : operands) {
    for (BinaryOp op : kBinaryOps)
      check_units(binary(op, a.to(gpu), b.to(gpu)), binary(op, a, b), op == BinaryOp::pow ? 1 : 0, binary_name(op));
    for (BinaryOp op : kComparisons) {
      const Tensor got = binary(op, a.to(gpu), b.to(gpu)).cpu();
      CHECK_MESSAGE(got.to_vector<uint8_t>() == binary(op, a, b).to_vector<uint8_t>(), binary_name(op));
    }
  }
  const Tensor x = operands[0].first, xg = x.to(gpu);
  check_units(affine(xg, 0.1, -7.0), affine(x, 0.1, -7.0), 1, "affine");
  check_units(pow(xg, 1.7), pow(x, 1.7), 1, "pow");
  check_units(clamp(xg, -1.0, 0.3), clamp(x, -1.0, 0.3), 0, "clamp");
  const Tensor cond = gt(bf16_values({m, 300, 1}, 37, false), Tensor::scalar(0.0, DType::f64));
  const Tensor a = operands[3].first, b = operands[3].second;
  check_units(where(cond.to(gpu), a.to(gpu), b.to(gpu)), where(cond, a, b), 0, "where");
  check_units(expand(b.to(gpu), {m, 300, 1000}), expand(b, {m, 300, 1000}), 0, "expand");
}

TG_BF16_TIER2("elementwise at real sizes: ReLU and add of a 256x64x32x32 activation") {
  const Tier2 t = *tier2();
  const Device gpu = t.device;
  const Shape shape = {t.tiny ? 2 : 256, 64, 32, 32};
  const Tensor x = bf(bf16_values(shape, 40)), r = bf(bf16_values(shape, 41, false));
  const Tensor bias = bf(bf16_values({64, 1, 1}, 42, false));
  const Tensor xg = x.to(gpu), rg = r.to(gpu);
  const Tensor y = relu(x), yg = relu(xg);
  check_units(yg, y, 0, "relu");
  check_units(unary_backward(UnaryOp::relu, rg, xg, yg), unary_backward(UnaryOp::relu, r, x, y), 0, "relu backward");
  check_units(add(xg, rg), add(x, r), 0, "add");
  check_units(add(xg, bias.to(gpu)), add(x, bias), 0, "add of a [64, 1, 1] bias");
  Tensor acc = xg.clone();
  add_(acc, rg);
  check_units(acc, add(x, r), 0, "add_ (gradient accumulation)");
}

TG_BF16_TIER2("reduce at real sizes: a 50k x 384 sum over rows, and the other reductions") {
  const Tier2 t = *tier2();
  const Device gpu = t.device;
  Tensor x64 = bf16_values({t.tiny ? 2000 : 50000, 384}, 50, false);
  x64.data<double>()[7 * 384 + 11] = kNaN;
  const Tensor x = bf(x64), xg = x.to(gpu);
  check_units(sum(xg, {0}), sum(x, {0}), 1, "sum over rows (the bias gradient)");
  check_units(sum(xg, {1}), sum(x, {1}), 1, "sum over columns");
  check_units(mean(xg, {0}), mean(x, {0}), 1, "mean over rows");
  check_units(sum(xg), sum(x), 1, "sum of all");
  for (int64_t axis : {0, 1}) {
    check_units(max(xg, {axis}), max(x, {axis}), 0, "max");
    check_units(min(xg, {axis}), min(x, {axis}), 0, "min");
    CHECK(argmax(xg, axis).cpu().to_vector<int64_t>() == argmax(x, axis).to_vector<int64_t>());
    CHECK(argmin(xg, axis).cpu().to_vector<int64_t>() == argmin(x, axis).to_vector<int64_t>());
    check_units(var(xg, {axis}, 1), var(x, {axis}, 1), 1, "var");
  }
}
