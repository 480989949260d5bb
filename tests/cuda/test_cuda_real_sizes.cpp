// Tier 2 at the sizes the models use (issue 13): the deterministic CUDA sums (tensor/cuda/sums.cuh)
// behind reductions, variance, batch norm and layer norm, and the atomic-free backwards of pooling,
// index_add and scatter_add, against the float64 reference (tensor/reference/), at small sizes and
// at ResNet-50 (CIFAR stem, batch 256: 64..2048 channels of 32x32..4x4) and ViT-S/16 (batch 128 and
// 256: 197 tokens of 384 and 1536 dims) sizes. Every kernel runs twice on the same inputs and must
// give the same bits both times (no atomics). max pool, index_add and scatter_add add in the CPU's
// order, so on a GPU they must also equal the CPU kernel bit for bit.
//
// One body per kernel, run on a device: "cuda: small sizes: ..." and "cuda: real sizes: ..." on a GPU
// (skipped, saying why, without one; scripts/gpu-check runs both, and the small ones under
// compute-sanitizer), and "real-size checks on the CPU: ..." with the small sizes in every build, so
// CI runs the same comparison code on the CPU kernels.
//
// Tolerance, derived from the path to each output: max |got - want| / max |want| (the op table's
// measure) must stay within 2 (r u32 + n u64), where r counts the float32 roundings on the way to
// the output (u32 = 2^-24; a sum of k floats in float32 counts k), n is the length of the sums
// accumulated in double (u64 = 2^-53; n u64 is below 3e-11 even at 262k values, so the float32
// roundings dominate), and the 2 covers the first-order bound's slack.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <string>

#include "support/op_table.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tensor/reference/batch_norm.h"
#include "tensor/reference/layer_norm.h"
#include "tensor/reference/pool.h"
#include "tensor/reference/reduce.h"
#include "tensor/reference/shape.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

using namespace tg;
using tg::testing::expect_close;

namespace {

using Outputs = std::vector<Tensor>;
enum class Sizes { small, real };

constexpr double kU32 = 0x1p-24, kU64 = 0x1p-53;

// r float32 roundings and a double sum of n terms (see the header).
double tolerance(int r, int64_t n = 0) { return 2 * (r * kU32 + static_cast<double>(n) * kU64); }

// float32 inputs (so the float64 reference sees exactly the same values), from fixed seeds.
Tensor randn32(const Shape& s, uint64_t seed, double mean = 0.0, double std = 1.0) {
  Generator gen(seed);
  return affine(randn(s, DType::f32, Device::cpu(), &gen), std, mean);
}
Tensor index_tensor(const Shape& s, int64_t hi, uint64_t seed) {
  Generator gen(seed);
  return randint(s, 0, hi, DType::i64, Device::cpu(), &gen);
}
Tensor f64(const Tensor& t) { return t.to(DType::f64); }
// A fresh copy on d (kernels write into it).
Tensor on(const Tensor& t, Device d) { return d.is_cpu() ? t.clone() : t.to(d); }
// An output of `s` on d filled with NaN: an element a kernel fails to write stays NaN and fails.
Tensor unwritten(const Shape& s, Device d) {
  Tensor t = Tensor::empty(s, DType::f32, d);
  TG_DISPATCH(d, fill, t, NAN);
  return t;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to(DType::f64).to_vector<double>()) m = std::max(m, std::fabs(v));
  return m;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor ha = a.cpu(), hb = b.cpu();
  return ha.shape() == hb.shape() && ha.dtype() == hb.dtype() && std::memcmp(ha.raw(), hb.raw(), ha.nbytes()) == 0;
}

// Runs `run` twice: every output must have the same bits both times. Returns the first run's.
Outputs run_twice(const std::function<Outputs()>& run, const std::string& what) {
  const Outputs a = run(), b = run();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i)
    CHECK_MESSAGE(same_bits(a[i], b[i]), what, ": output ", i, " differs between two runs");
  return a;
}

std::string name_of(const std::string& op, const Shape& s, Device d) {
  return op + " " + shape_str(s) + " on " + d.str();
}

// max |got - want| / scale <= tol, for an output that cancels to near 0 (batch norm's dx over a
// channel of 2 values): its error is measured against the size of the terms that cancel.
void expect_close_to_scale(const Tensor& got, const Tensor& want, double scale, double tol, const std::string& what) {
  REQUIRE(got.shape() == want.shape());
  const auto g = got.cpu().to(DType::f64).to_vector<double>(), w = want.to_vector<double>();
  double diff = 0;
  for (size_t i = 0; i < g.size(); ++i) diff = std::isnan(g[i]) ? INFINITY : std::max(diff, std::fabs(g[i] - w[i]));
  CHECK_MESSAGE(diff <= tol * scale, what, ": max |got - want| / ", scale, " = ", diff / scale, " > ", tol);
}

// ---- sums, means, variances (reduce.cu) ----

struct View {
  int64_t outer, n, inner;
};

void check_reductions(Device d, Sizes sizes) {
  // Column sums (inner > 1) with one and with several chunks; rows (inner == 1) likewise; empty sums.
  std::vector<View> views = {{3, 5, 40}, {1, 1000, 37}, {2, 1, 3}, {4, 300, 1}, {2, 20000, 1}, {2, 0, 3}, {3, 0, 1}};
  if (sizes == Sizes::real) {
    views = {
        {1, 128 * 197, 384},   // ViT-S batch 128: the bias gradient of proj and fc2 (384 outputs)
        {1, 128 * 197, 1536},  // ViT-S batch 128: fc1's bias gradient
        {1, 256 * 197, 384},   // ViT-S batch 256: 50k rows
        {256, 2048, 16},       // ResNet-50's last stage summed over channels (middle axis)
        {1, 256 * 64 * 32 * 32, 1},  // a whole-tensor sum of 16.7M values: 1024 chunks, then stage 2
        {128 * 197, 384, 1},   // rows: ViT-S token rows
        {70000, 3, 2},         // more outers than one grid's z (65535): the loop over o
        {70000, 3, 1},         // more rows than one grid's y (65535): the loop over segments
    };
  }
  for (const View& v : views) {
    const Shape s{v.outer, v.n, v.inner};
    const Tensor x = randn32(s, 11 + v.n, 0.5, 2.0);
    const Tensor want_sum = reference::reduce(f64(x), v.outer, v.n, v.inner, ReduceOp::sum);
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean}) {
      const std::string what = name_of(op == ReduceOp::sum ? "sum" : "mean", s, d);
      const Outputs got = run_twice([&] {
        Tensor y = unwritten({v.outer, v.inner}, d);
        TG_DISPATCH(d, reduce, on(x, d), y, v.outer, v.n, v.inner, op);
        return Outputs{y};
      }, what);
      const Tensor want = op == ReduceOp::sum ? want_sum : affine(want_sum, 1.0 / static_cast<double>(v.n), 0.0);
      expect_close(got[0], want, tolerance(1, v.n), what);
    }
    for (int64_t correction : sizes == Sizes::real ? std::vector<int64_t>{1} : std::vector<int64_t>{0, 1}) {
      if (v.n <= correction) continue;
      const std::string what = name_of("var (correction " + std::to_string(correction) + ")", s, d);
      const Outputs got = run_twice([&] {
        Tensor y = unwritten({v.outer, v.inner}, d);
        TG_DISPATCH(d, variance, on(x, d), y, v.outer, v.n, v.inner, correction);
        return Outputs{y};
      }, what);
      expect_close(got[0], reference::variance(f64(x), v.outer, v.n, v.inner, correction), tolerance(1, 2 * v.n),
                   what);
    }
  }
}

// ---- batch norm (batch_norm.cu): training statistics, running statistics, backward ----

void check_batch_norm(Device d, Sizes sizes) {
  std::vector<Shape> shapes = {{4, 3, 5, 5}, {2, 5, 1, 1}, {16, 4, 32, 32}};  // the last: 16k values, 2 chunks
  if (sizes == Sizes::real)
    shapes = {{256, 64, 32, 32},    // ResNet-50 CIFAR stem, batch 256: C = 64 over 262k values
              {256, 2048, 4, 4}};   // stage 4: 4k values per channel, one chunk
  const double momentum = 0.1, eps = 1e-5;
  for (const Shape& s : shapes) {
    const int64_t C = s[1], m = s[0] * s[2] * s[3];
    // The CPU kernel sums each channel's H * W plane in float32 lanes (then the planes in double).
    const int plane_sum = d.is_cpu() ? static_cast<int>(s[2] * s[3]) : 0;
    const Tensor x = randn32(s, 21 + C, 0.5, 2.0), dy = randn32(s, 22 + C);
    const Tensor gamma = randn32({C}, 23, 1.0, 0.2), beta = randn32({C}, 24), rm0 = randn32({C}, 25);
    const Tensor rv0 = affine(abs(randn32({C}, 26)), 1.0, 0.5);
    const std::string what = name_of("batch_norm", s, d);
    const Outputs got = run_twice([&] {
      Tensor xd = on(x, d), gd = on(gamma, d), rm = on(rm0, d), rv = on(rv0, d);
      Tensor y = unwritten(s, d), mean = unwritten({C}, d), invstd = unwritten({C}, d);
      TG_DISPATCH(d, batch_norm_forward_train, xd, gd, on(beta, d), rm, rv, y, mean, invstd, momentum, eps);
      Tensor dx = unwritten(s, d), dgamma = unwritten({C}, d), dbeta = unwritten({C}, d);
      TG_DISPATCH(d, batch_norm_backward, on(dy, d), xd, gd, mean, invstd, dx, dgamma, dbeta, true);
      return Outputs{y, mean, invstd, rm, rv, dx, dgamma, dbeta};
    }, what);
    const auto want = reference::batch_norm_forward_train(f64(x), f64(gamma), f64(beta), f64(rm0), f64(rv0), momentum,
                                                          eps);
    const auto grads = reference::batch_norm_backward(f64(dy), f64(x), f64(gamma), want.saved_mean,
                                                      want.saved_invstd, true);
    // y: the saved mean and invstd rounded (2), x - mean, * invstd, * gamma, + beta (4).
    expect_close(got[0], want.y, tolerance(6, 2 * m), what + " y");
    expect_close(got[1], want.saved_mean, tolerance(1, m), what + " saved mean");
    expect_close(got[2], want.saved_invstd, tolerance(1, 2 * m), what + " saved invstd");
    expect_close(got[3], want.running_mean, tolerance(2, m), what + " running mean");
    expect_close(got[4], want.running_var, tolerance(2, 2 * m), what + " running var");
    // dx = gamma invstd (dy - mean dy - xhat mean(dy xhat)): the saved statistics (2), the sums (2),
    // then about 6 float32 operations, relative to its largest term |gamma invstd dy|.
    const double terms = max_abs(f64(gamma)) * max_abs(want.saved_invstd) * max_abs(f64(dy));
    expect_close_to_scale(got[5], grads.dx, std::max(terms, max_abs(grads.dx)), tolerance(10 + plane_sum, 2 * m),
                          what + " dx");
    expect_close(got[6], grads.dgamma, tolerance(3 + plane_sum, m), what + " dgamma");
    expect_close(got[7], grads.dbeta, tolerance(1 + plane_sum, m), what + " dbeta");
  }
}

// ---- layer norm (layer_norm.cu): dgamma and dbeta are column sums over every row ----

void check_layer_norm(Device d, Sizes sizes) {
  std::vector<Shape> shapes = {{6, 33}, {1000, 40}, {2, 4, 7}};  // {1000, 40}: two chunks of rows
  if (sizes == Sizes::real) shapes = {{128, 197, 384}, {256, 197, 384}};  // ViT-S at batch 128 and 256
  for (const Shape& s : shapes) {
    const int64_t cols = s.back(), rows = numel(s) / cols;
    const Tensor x = randn32(s, 31 + cols, 1.0, 2.0), dy = randn32(s, 32 + cols);
    const Tensor gamma = randn32({cols}, 33, 1.0, 0.3), beta = randn32({cols}, 34);
    const std::string what = name_of("layer_norm", s, d);
    const Outputs got = run_twice([&] {
      Tensor xd = on(x, d), gd = on(gamma, d);
      Tensor y = unwritten(s, d), mean = unwritten({rows}, d), invstd = unwritten({rows}, d);
      TG_DISPATCH(d, layer_norm_forward, xd, gd, on(beta, d), y, mean, invstd, 1e-5);
      Tensor dx = unwritten(s, d), dgamma = unwritten({cols}, d), dbeta = unwritten({cols}, d);
      TG_DISPATCH(d, layer_norm_backward, on(dy, d), xd, gd, mean, invstd, dx, dgamma, dbeta);
      return Outputs{y, mean, invstd, dx, dgamma, dbeta};
    }, what);
    const auto want = reference::layer_norm_forward(f64(x), f64(gamma), f64(beta), 1e-5);
    const auto grads = reference::layer_norm_backward(f64(dy), f64(x), f64(gamma), want.saved_mean, want.saved_invstd);
    expect_close(got[0], want.y, tolerance(6, 2 * cols), what + " y");
    expect_close(got[1], want.saved_mean, tolerance(1, cols), what + " saved mean");
    expect_close(got[2], want.saved_invstd, tolerance(1, 2 * cols), what + " saved invstd");
    expect_close(got[3], grads.dx, tolerance(8, 2 * cols), what + " dx");
    expect_close(got[4], grads.dgamma, tolerance(3, rows), what + " dgamma");
    expect_close(got[5], grads.dbeta, tolerance(1, rows), what + " dbeta");
  }
}

// ---- pooling backwards (pool.cu): gathers ----

void check_pooling(Device d, Sizes sizes) {
  struct Case {
    Shape x;
    Pool2dParams p;
  };
  std::vector<Case> cases = {{{2, 3, 9, 7}, {3, 3, 2, 2, 1, 1}}, {{2, 3, 8, 8}, {2, 2, 2, 2, 0, 0}},
                             {{1, 2, 10, 10}, {3, 2, 1, 2, 1, 0}}, {{2, 4, 8, 8}, {1, 1, 2, 2, 0, 0}}};
  std::vector<std::pair<Shape, Shape>> adaptive = {{{2, 3, 7, 7}, {2, 3, 3, 3}}, {{1, 2, 4, 4}, {1, 2, 6, 5}}};
  if (sizes == Sizes::real) {
    cases = {{{256, 64, 32, 32}, {3, 3, 2, 2, 1, 1}},   // ResNet's ImageNet stem pool at 64x64 input, batch 256
             {{256, 16, 32, 32}, {1, 1, 2, 2, 0, 0}}};  // ResNet-20's option-A shortcut subsampling
    adaptive = {{{256, 2048, 4, 4}, {256, 2048, 1, 1}}};  // ResNet-50 (CIFAR) head
  }
  for (const auto& [s, p] : cases) {
    const Shape ys = pool2d_output_shape(s, p);
    const Tensor x = randn32(s, 41 + s[1]), dy = randn32(ys, 42 + s[1]);
    const auto fwd = reference::max_pool2d_forward(f64(x), p);
    const std::string what = name_of("max_pool2d_backward", s, d);
    // Windows containing an element: at most ceil(k / stride) per axis, each a float32 addition.
    const int windows = static_cast<int>(((p.kernel_h + p.stride_h - 1) / p.stride_h) *
                                         ((p.kernel_w + p.stride_w - 1) / p.stride_w));
    const Outputs got = run_twice([&] {
      Tensor y = unwritten(ys, d), indices = Tensor::empty(ys, DType::i64, d), dx = unwritten(s, d);
      Tensor dxa = unwritten(s, d), dyd = on(dy, d);
      TG_DISPATCH(d, max_pool2d_forward, on(x, d), y, indices, p);
      TG_DISPATCH(d, max_pool2d_backward, dyd, indices, dx, p);
      TG_DISPATCH(d, avg_pool2d_backward, dyd, dxa, p);
      return Outputs{indices, dx, dxa};
    }, what);
    CHECK_MESSAGE(same_bits(got[0], fwd.indices), what, ": argmax indices differ from the reference");
    expect_close(got[1], reference::max_pool2d_backward(f64(dy), fwd.indices, s), tolerance(windows), what);
    expect_close(got[2], reference::avg_pool2d_backward(f64(dy), s, p), tolerance(windows + 1),
                 name_of("avg_pool2d_backward", s, d));
    // The CPU adds each dy in output order; the CUDA gather adds an element's in ascending (p, q), the same order: the same bits.
    Tensor dx_cpu = Tensor::empty(s, DType::f32);
    cpu::max_pool2d_backward(dy, got[0].cpu(), dx_cpu, p);
    CHECK_MESSAGE(same_bits(got[1], dx_cpu), what, ": differs from the CPU kernel's bits");
  }
  for (const auto& [s, out] : adaptive) {
    const Tensor dy = randn32(out, 43 + s[1]);
    const std::string what = name_of("adaptive_avg_pool2d_backward", s, d);
    const Outputs got = run_twice([&] {
      Tensor dx = unwritten(s, d);
      TG_DISPATCH(d, adaptive_avg_pool2d_backward, on(dy, d), dx);
      return Outputs{dx};
    }, what);
    // Each window containing an element: a division and an addition.
    const int windows = static_cast<int>((out[2] / s[2] + 2) * (out[3] / s[3] + 2));
    expect_close(got[0], reference::adaptive_avg_pool2d_backward(f64(dy), s), tolerance(2 * windows), what);
  }
}

// ---- index_add and scatter_add (shape.cu): gathers that add into dx ----

// The most times one value occurs in each row of `index` [rows, K]: the float32 additions into one
// element.
int max_multiplicity(const Tensor& index, int64_t K) {
  const auto v = index.to_vector<int64_t>();
  int most = 0;
  for (size_t r = 0; r < v.size(); r += K) {
    std::map<int64_t, int> count;
    for (size_t k = r; k < r + K; ++k) most = std::max(most, ++count[v[k]]);
  }
  return most;
}

void check_index_adds(Device d, Sizes sizes) {
  struct IndexAddCase {
    Shape dx;
    int64_t dim, K;
  };
  std::vector<IndexAddCase> cases = {{{3, 5, 6}, 1, 9}, {{7, 4}, 0, 20}};
  std::vector<std::pair<Shape, int64_t>> scatters = {{{7, 10}, 4}, {{5, 3}, 1}};  // dx [rows, C], K
  if (sizes == Sizes::real) {
    cases = {{{256, 3, 32, 32}, 0, 256}};  // a batch of CIFAR images picked by index (repeats add)
    scatters = {{{512, 1000}, 2}, {{256, 10}, 1}, {{128, 1000}, 1000}};  // margin losses, CE, a full row
  }
  for (const auto& c : cases) {
    Shape dys = c.dx;
    dys[c.dim] = c.K;
    const Tensor index = index_tensor({c.K}, c.dx[c.dim], 51 + c.K), dy = randn32(dys, 52), dx0 = randn32(c.dx, 53);
    const std::string what = name_of("index_add", c.dx, d);
    const Outputs got = run_twice([&] {
      Tensor dx = on(dx0, d);
      TG_DISPATCH(d, index_add, on(dy, d), on(index, d), dx, c.dim);
      return Outputs{dx};
    }, what);
    const Tensor want = add(reference::index_add(f64(dy), index, c.dx, c.dim), f64(dx0));
    expect_close(got[0], want, tolerance(max_multiplicity(index, c.K)), what);
    Tensor dx_cpu = dx0.clone();
    cpu::index_add(dy, index, dx_cpu, c.dim);
    CHECK_MESSAGE(same_bits(got[0], dx_cpu), what, ": differs from the CPU kernel's bits");
  }
  for (const auto& [s, K] : scatters) {
    const Tensor index = index_tensor({s[0], K}, s[1], 54 + K), dy = randn32({s[0], K}, 55), dx0 = randn32(s, 56);
    const std::string what = name_of("scatter_add", s, d);
    const Outputs got = run_twice([&] {
      Tensor dx = on(dx0, d);
      TG_DISPATCH(d, scatter_add, on(dy, d), on(index, d), dx);
      return Outputs{dx};
    }, what);
    const Tensor want = add(reference::scatter_add(f64(dy), index, s), f64(dx0));
    expect_close(got[0], want, tolerance(max_multiplicity(index, K)), what);
    Tensor dx_cpu = dx0.clone();
    cpu::scatter_add(dy, index, dx_cpu);
    CHECK_MESSAGE(same_bits(got[0], dx_cpu), what, ": differs from the CPU kernel's bits");
  }
}

}  // namespace

// In every build: the small sizes on the CPU kernels, through the same bodies.
TEST_CASE("real-size checks on the CPU: reductions and variance") { check_reductions(Device::cpu(), Sizes::small); }
TEST_CASE("real-size checks on the CPU: batch norm") { check_batch_norm(Device::cpu(), Sizes::small); }
TEST_CASE("real-size checks on the CPU: layer norm") { check_layer_norm(Device::cpu(), Sizes::small); }
TEST_CASE("real-size checks on the CPU: pooling backwards") { check_pooling(Device::cpu(), Sizes::small); }
TEST_CASE("real-size checks on the CPU: index_add and scatter_add") { check_index_adds(Device::cpu(), Sizes::small); }

// On a GPU (tier 2; scripts/gpu-check): small sizes (also under compute-sanitizer), then real ones.
#define TG_GPU_SIZES_CASE(name, body)                                            \
  TEST_CASE("cuda: small sizes: " name * doctest::skip(!cuda_is_available())) { \
    body(Device::cuda(), Sizes::small);                                          \
  }                                                                              \
  TEST_CASE("cuda: real sizes: " name * doctest::skip(!cuda_is_available())) {  \
    body(Device::cuda(), Sizes::real);                                           \
  }

TG_GPU_SIZES_CASE("reductions and variance", check_reductions)
TG_GPU_SIZES_CASE("batch norm", check_batch_norm)
TG_GPU_SIZES_CASE("layer norm", check_layer_norm)
TG_GPU_SIZES_CASE("pooling backwards", check_pooling)
TG_GPU_SIZES_CASE("index_add and scatter_add", check_index_adds)
