// bfloat16 pooling (bf16 stage 2: a bf16 network's activations; docs/ARCHITECTURE.md "Mixed
// precision") and max_pool2d_backward's pool geometry. On inputs that are exactly bf16, every bf16
// kernel gives the float32 kernel's result on the same values, rounded to bf16 once: bit for bit for
// max pool forward and for every backward (float sums in the float32 kernel's order, rounded at the
// end); the average pools' forward sums in double, as the float32 kernel does, so their reference is
// the float64 kernel's value (the same double arithmetic) rounded once, which the float32 result
// rounded again would miss at a bf16 tie. The shapes are ResNet's: the ImageNet stem's overlapping
// 3x3 stride 2 pad 1 max pool and the global average pools of the head (8x8 and 4x4).
//
// Tier 2 ("cuda: bf16 pool ...", "cuda: max pool backward ..."): the CUDA kernels do the CPU's
// arithmetic in the CPU's order (tensor/cuda/pool.cu), so they must equal the CPU bit for bit, in
// float32 and bf16, at small and at real sizes; they skip without a GPU.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.h"
#include "autograd/variable.h"
#include "support/errors.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tensor/reference/pool.h"

using namespace tg;
using tg::testing::error_of;

namespace {

// One input shape, a pool's geometry and an adaptive pool's output size.
struct PoolCase {
  Shape x;
  Pool2dParams p;
  int64_t out_h, out_w;  // adaptive_avg_pool2d
};

// Every pooling kernel's outputs on one input.
struct Pooled {
  Tensor y_max, indices, dx_max, y_avg, dx_avg, y_adaptive, dx_adaptive;
};
constexpr std::array<std::pair<const char*, Tensor Pooled::*>, 7> kOutputs = {{
    {"max_pool2d y", &Pooled::y_max},
    {"max_pool2d indices", &Pooled::indices},
    {"max_pool2d_backward dx", &Pooled::dx_max},
    {"avg_pool2d y", &Pooled::y_avg},
    {"avg_pool2d_backward dx", &Pooled::dx_avg},
    {"adaptive_avg_pool2d y", &Pooled::y_adaptive},
    {"adaptive_avg_pool2d_backward dx", &Pooled::dx_adaptive},
}};

// Runs every pooling kernel on device d, in x's dtype, into outputs filled with NaN first (an element
// a kernel does not write stays NaN); returns them on the CPU. dy: the pools' output gradient;
// dy_adaptive: the adaptive pool's.
Pooled run_pools(const PoolCase& c, const Tensor& x, const Tensor& dy, const Tensor& dy_adaptive, Device d) {
  const Shape ys = pool2d_output_shape(c.x, c.p), as = {c.x[0], c.x[1], c.out_h, c.out_w};
  const DType dt = x.dtype();
  auto unwritten = [&](const Shape& s) { return Tensor::full(s, NAN, dt, d); };
  const Tensor xd = x.to(d), dyd = dy.to(d), dyad = dy_adaptive.to(d);
  Pooled o{unwritten(ys), Tensor::full(ys, -1, DType::i64, d), unwritten(c.x), unwritten(ys),
           unwritten(c.x), unwritten(as), unwritten(c.x)};
  TG_DISPATCH(d, max_pool2d_forward, xd, o.y_max, o.indices, c.p);
  TG_DISPATCH(d, max_pool2d_backward, dyd, o.indices, o.dx_max, c.p);
  TG_DISPATCH(d, avg_pool2d_forward, xd, o.y_avg, c.p);
  TG_DISPATCH(d, avg_pool2d_backward, dyd, o.dx_avg, c.p);
  TG_DISPATCH(d, adaptive_avg_pool2d_forward, xd, o.y_adaptive);
  TG_DISPATCH(d, adaptive_avg_pool2d_backward, dyad, o.dx_adaptive);
  for (const auto& [name, field] : kOutputs) o.*field = (o.*field).cpu();
  return o;
}

// Same shape, dtype and bits.
bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor x = a.cpu(), y = b.cpu();
  return std::memcmp(x.raw(), y.raw(), x.nbytes()) == 0;
}

// Normal values rounded to bf16 (so every dtype sees exactly the same values), made on `d` from a
// fixed seed; `bump` is added at odd rows and columns, where the 3x3 stride-2 windows overlap, so
// that one element is the maximum of up to four windows.
Tensor bf16_input(const Shape& s, uint64_t seed, Device d = Device::cpu(), double bump = 0) {
  Generator gen(seed);
  Tensor x = randn(s, DType::f32, d, &gen);
  if (bump != 0) {
    Tensor mask = Tensor::zeros({s[2], s[3]}, DType::f32);
    for (int64_t h = 1; h < s[2]; h += 2)
      for (int64_t w = 1; w < s[3]; w += 2) mask.data<float>()[h * s[3] + w] = static_cast<float>(bump);
    x = add(x, mask.to(d));
  }
  return cast(x, DType::bf16);
}

std::string case_name(const PoolCase& c, DType dt) {
  return shape_str(c.x) + " kernel " + std::to_string(c.p.kernel_h) + "x" + std::to_string(c.p.kernel_w) +
         " stride " + std::to_string(c.p.stride_h) + " pad " + std::to_string(c.p.pad_h) + " adaptive -> " +
         std::to_string(c.out_h) + "x" + std::to_string(c.out_w) + " " + dtype_name(dt);
}

// ResNet's ImageNet stem (3x3 stride 2 pad 1), non-overlapping 2x2 windows with the head's global pool
// at 8x8 and at 4x4, windows overlapping by two (3x3 stride 1), and overlapping adaptive windows.
const std::vector<PoolCase> kCases = {{{2, 3, 16, 16}, {3, 3, 2, 2, 1, 1}, 1, 1},
                                      {{2, 8, 8, 8}, {2, 2, 2, 2, 0, 0}, 1, 1},
                                      {{2, 16, 4, 4}, {3, 3, 1, 1, 1, 1}, 1, 1},
                                      {{1, 2, 7, 9}, {3, 2, 1, 2, 1, 0}, 3, 4}};

// The pools of one case on its inputs (bf16-exact, in dtype dt) on device d.
Pooled pools_in(const PoolCase& c, DType dt, Device d, uint64_t seed) {
  const Shape ys = pool2d_output_shape(c.x, c.p), as = {c.x[0], c.x[1], c.out_h, c.out_w};
  return run_pools(c, cast(bf16_input(c.x, seed, Device::cpu(), 4.0), dt), cast(bf16_input(ys, seed + 1), dt),
                   cast(bf16_input(as, seed + 2), dt), d);
}

}  // namespace

TEST_CASE("bf16 pool: each kernel gives the float32 kernel's result rounded once") {
  for (const PoolCase& c : kCases) {
    CAPTURE(case_name(c, DType::bf16));
    const Pooled b = pools_in(c, DType::bf16, Device::cpu(), 11), f = pools_in(c, DType::f32, Device::cpu(), 11),
                 d = pools_in(c, DType::f64, Device::cpu(), 11);
    CHECK(b.y_max.dtype() == DType::bf16);
    CHECK(same_bits(b.y_max, cast(f.y_max, DType::bf16)));  // a maximum is one of x's values: exact
    CHECK(same_bits(b.indices, f.indices));                 // ties (frequent in bf16) pick the same first one
    CHECK(same_bits(b.dx_max, cast(f.dx_max, DType::bf16)));
    CHECK(same_bits(b.dx_avg, cast(f.dx_avg, DType::bf16)));
    CHECK(same_bits(b.dx_adaptive, cast(f.dx_adaptive, DType::bf16)));
    // The forward averages sum in double in both the float32 and the bf16 kernel: the float64 kernel's
    // arithmetic, rounded once.
    CHECK(same_bits(b.y_avg, cast(d.y_avg, DType::bf16)));
    CHECK(same_bits(b.y_adaptive, cast(d.y_adaptive, DType::bf16)));
  }
}

TEST_CASE("bf16 pool: a sum of three windows' gradients rounds once (1 + 2^-8 + 2^-8 is 1 + 2^-7, not 1)") {
  // Every window of a 3x3 stride-1 pad-1 pool of a 3x3 plane contains the centre, which holds the
  // maximum; so does every 2x2 window of the adaptive pool 3x3 -> 2x2. The centre's gradient sums three
  // nonzero terms 1, 2^-8, 2^-8 (scaled by each pool's divisor, so each term is exact): rounded once,
  // 1 + 2^-7; rounded after every window, 1 + 2^-8 ties to the even 1 twice, giving 1.
  const float u = std::ldexp(1.0f, -8);
  const Tensor x = cast(Tensor::from_vector(std::vector<float>{0, 0, 0, 0, 1, 0, 0, 0, 0}, {1, 1, 3, 3}), DType::bf16);
  const Pool2dParams p{3, 3, 1, 1, 1, 1};
  auto dy_of = [&](float scale, const Shape& s) {
    std::vector<float> v(static_cast<size_t>(s[2] * s[3]), 0.0f);
    v[0] = scale, v[1] = scale * u, v[2] = scale * u;
    return cast(Tensor::from_vector(v, s), DType::bf16);
  };
  const float once = 1 + 2 * u;
  auto centre = [](const Tensor& dx) { return cast(dx, DType::f32).to_vector<float>()[4]; };
  const auto [y, indices] = max_pool2d(x, p);
  CHECK(centre(max_pool2d_backward(dy_of(1, y.shape()), indices, x.shape(), p)) == once);
  CHECK(centre(avg_pool2d_backward(dy_of(9, y.shape()), x.shape(), p)) == once);
  CHECK(centre(adaptive_avg_pool2d_backward(dy_of(4, {1, 1, 2, 2}), x.shape())) == once);
}

TEST_CASE("bf16 pool: an average rounds the double sum once (no double rounding through float32)") {
  // The mean of {4, 2^-6, 2^-28, 0} is 1 + 2^-8 + 2^-30, just past the bf16 tie 1 + 2^-8: rounded once it
  // is 1 + 2^-7 (0x3F81); rounded to float32 first it lands on the tie, which goes to the even 1.
  const Tensor x = cast(Tensor::from_vector(std::vector<double>{4, std::ldexp(1.0, -6), std::ldexp(1.0, -28), 0},
                                            {1, 1, 2, 2}),
                        DType::bf16);
  const uint16_t once = 0x3F81;
  CHECK(avg_pool2d(x, {2, 2, 2, 2, 0, 0}).data<bf16>()[0].bits == once);
  CHECK(adaptive_avg_pool2d(x, 1, 1).data<bf16>()[0].bits == once);
  CHECK(cast(avg_pool2d(cast(x, DType::f32), {2, 2, 2, 2, 0, 0}), DType::bf16).data<bf16>()[0].bits == 0x3F80);
}

TEST_CASE("bf16 pool: max pool keeps NaN and the first of equal maxima, as float32") {
  const float nan = NAN;
  const Tensor x32 = Tensor::from_vector(std::vector<float>{1, 3, 3, 0, 2, 3, nan, 1, 0, 0, 5, 5, -1, -1, 5, 2}, {1, 1, 4, 4});
  for (const Pool2dParams& p : {Pool2dParams{2, 2, 2, 2, 0, 0}, Pool2dParams{3, 3, 2, 2, 1, 1}}) {
    const auto [yb, ib] = max_pool2d(cast(x32, DType::bf16), p);
    const auto [yf, iff] = max_pool2d(x32, p);
    CHECK(same_bits(ib, iff));
    CHECK(same_bits(yb, cast(yf, DType::bf16)));
  }
}

TEST_CASE("max_pool2d_backward takes the pool geometry and checks dy and indices against it") {
  const Shape s{2, 3, 9, 7};
  const Pool2dParams p{3, 3, 2, 2, 1, 1};
  Generator gen(5);
  const Tensor x = randn(s, DType::f64, Device::cpu(), &gen);
  const auto [y, indices] = max_pool2d(x, p);
  const Tensor dy = randn(y.shape(), DType::f64, Device::cpu(), &gen);
  // The op against the reference, which sums each element's terms in the same output order.
  CHECK(same_bits(max_pool2d_backward(dy, indices, s, p), reference::max_pool2d_backward(dy, indices, s)));
  // dy of another geometry, indices of another dtype or shape: errors naming the op and the operands.
  const std::string other = error_of([&] { max_pool2d_backward(dy, indices, s, Pool2dParams{2, 2, 2, 2, 0, 0}); });
  CHECK(other.find("max_pool2d_backward: dy [2, 3, 5, 4] does not match the output [2, 3, 4, 3]") != std::string::npos);
  const std::string i32 = error_of([&] { max_pool2d_backward(dy, cast(indices, DType::i32), s, p); });
  CHECK(i32.find("max_pool2d_backward: indices") != std::string::npos);
  CHECK(i32.find("must be int64") != std::string::npos);
  CHECK(error_of([&] { max_pool2d_backward(dy, indices.reshape({2, 3, 4, 5}), s, p); }).find("shaped as dy") !=
        std::string::npos);
  // Through autograd in bf16: dx is bf16, and the op's.
  Variable xb(cast(x, DType::bf16), true);
  const Tensor dyb = cast(dy, DType::bf16);
  const std::vector<Tensor> g = grad({max_pool2d(xb, p)}, {xb}, {dyb});
  const auto [yb, ib] = max_pool2d(xb.data(), p);
  CHECK(same_bits(g[0], max_pool2d_backward(dyb, ib, s, p)));
  CHECK(g[0].dtype() == DType::bf16);
}

// ---- tier 2 ----

namespace {

bool gpu_or_skip(const char* what) {
  if (cuda_is_available()) return true;
  MESSAGE((std::string(what) + ": skipped, no usable GPU (or built without CUDA)"));
  return false;
}

// Every output on the GPU equals the CPU's, bit for bit.
void expect_same_as_cpu(const Pooled& gpu, const Pooled& cpu, const std::string& what) {
  for (const auto& [name, field] : kOutputs)
    CHECK_MESSAGE(same_bits(gpu.*field, cpu.*field), what, ": ", name, " differs from the CPU's bits");
}

}  // namespace

TEST_CASE("cuda: bf16 pool: every kernel equals the CPU's bits (float32 and bf16)") {
  if (!gpu_or_skip("cuda: bf16 pool")) return;
  for (DType dt : {DType::bf16, DType::f32})
    for (const PoolCase& c : kCases)
      expect_same_as_cpu(pools_in(c, dt, Device::cuda(), 21), pools_in(c, dt, Device::cpu(), 21), case_name(c, dt));
}

TEST_CASE("cuda: bf16 pool: real sizes (ResNet's stem max pool 112x112 -> 56x56, the head 4x4 -> 1x1)") {
  if (!gpu_or_skip("cuda: bf16 pool real sizes")) return;
  // Inputs are made on the GPU (Philox gives both devices the same values) and copied to the CPU.
  for (const PoolCase& c : {PoolCase{{256, 64, 112, 112}, {3, 3, 2, 2, 1, 1}, 7, 7},
                            PoolCase{{256, 2048, 4, 4}, {2, 2, 2, 2, 0, 0}, 1, 1}}) {
    const Shape ys = pool2d_output_shape(c.x, c.p), as = {c.x[0], c.x[1], c.out_h, c.out_w};
    const Tensor x = bf16_input(c.x, 31, Device::cuda(), 4.0), dy = bf16_input(ys, 32, Device::cuda()),
                 dya = bf16_input(as, 33, Device::cuda());
    expect_same_as_cpu(run_pools(c, x, dy, dya, Device::cuda()), run_pools(c, x.cpu(), dy.cpu(), dya.cpu(), Device::cpu()),
                       case_name(c, DType::bf16));
  }
}

TEST_CASE("cuda: max pool backward: the per-element gather equals the CPU's scatter bit for bit at 256x64x112x112") {
  if (!gpu_or_skip("cuda: max pool backward")) return;
  const Shape s{256, 64, 112, 112};
  const Pool2dParams p{3, 3, 2, 2, 1, 1};
  // float32 (bf16 at this size: "cuda: bf16 pool: real sizes").
  const Tensor x = cast(bf16_input(s, 41, Device::cuda(), 4.0), DType::f32);
  const auto [y, indices] = max_pool2d(x, p);
  Generator gen(42);
  const Tensor dy = randn(y.shape(), DType::f32, Device::cuda(), &gen);  // full float32: its sums round
  const Tensor first = max_pool2d_backward(dy, indices, s, p), second = max_pool2d_backward(dy, indices, s, p);
  CHECK(same_bits(first, second));  // deterministic: no atomics
  const auto [y_cpu, indices_cpu] = max_pool2d(x.cpu(), p);
  CHECK(same_bits(indices, indices_cpu));
  CHECK(same_bits(first, max_pool2d_backward(dy.cpu(), indices_cpu, s, p)));
}
