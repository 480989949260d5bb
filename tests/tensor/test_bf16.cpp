// bfloat16 and mixed precision on the CPU (docs/ARCHITECTURE.md, "Mixed precision"): the conversion
// (round to nearest even, NaN, infinities, subnormals, the largest value) against an independent
// float64 oracle (reference::round_to_bf16), the cast op and its backward by definition, the bf16 GEMM
// and convolution against exact products at a tolerance derived from k, k = 0 GEMMs, the precision
// policy of Linear/Conv2d/attention, the tempered CE at tau = 100 under it, and a training step of a tiny
// ResNet and ViT under bf16 against fp32. The GPU's side of each is tests/cuda/test_cuda_bf16.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "nn/loss.h"
#include "nn/models/resnet.h"
#include "nn/models/vit.h"
#include "optim/optimizer.h"
#include "support/errors.h"
#include "support/gradcheck.h"
#include "support/tier2.h"
#include "tensor/reference/conv2d.h"
#include "tensor/reference/elementwise.h"
#include "tensor/reference/softmax.h"

using namespace tg;
using namespace tg::testing;

namespace {

uint16_t bits_of(float f) { return bf16::from_float(f).bits; }

// The largest |a - b| over elements and the largest |b| (both as float64).
struct Gap {
  double diff = 0, scale = 0;
  double relative() const { return scale > 0 ? diff / scale : diff; }
};
Gap gap(const Tensor& a, const Tensor& b) {
  const auto x = a.cpu().to(DType::f64).to_vector<double>(), y = b.cpu().to(DType::f64).to_vector<double>();
  REQUIRE(x.size() == y.size());
  Gap g;
  for (size_t i = 0; i < x.size(); ++i) {
    g.diff = std::max(g.diff, std::fabs(x[i] - y[i]));
    g.scale = std::max(g.scale, std::fabs(y[i]));
  }
  return g;
}

Tensor round_bf16(const Tensor& x) { return reference::round_to_bf16(x.to(DType::f64)); }

}  // namespace

TEST_CASE("bf16: rounding to nearest even, on ties and off them") {
  const float one = 1.0f, ulp = std::ldexp(1.0f, -7);  // bf16's spacing in [1, 2)
  CHECK(bits_of(one) == 0x3F80);
  CHECK(bits_of(one + ulp / 2) == 0x3F80);                    // tie: to the even 1.0
  CHECK(bits_of(one + 3 * ulp / 2) == 0x3F82);                // tie: to the even 1 + 2 ulp
  CHECK(bits_of(one + ulp / 2 + std::ldexp(1.0f, -20)) == 0x3F81);  // just past the tie: up
  CHECK(bits_of(one + ulp / 2 - std::ldexp(1.0f, -20)) == 0x3F80);  // just before it: down
  CHECK(bits_of(-(one + ulp / 2)) == 0xBF80);
  CHECK(bits_of(-0.0f) == 0x8000);
  // A double just past a bf16 tie that float32 would round onto the tie: one rounding, not two.
  const double past_tie = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30);
  CHECK(static_cast<float>(past_tie) == one + ulp / 2);  // the double rounding's trap
  CHECK(bf16::from_double(past_tie).bits == 0x3F81);
  CHECK(bf16::from_double(-past_tie).bits == 0xBF81);
}

TEST_CASE("bf16: NaN stays NaN, infinities, the largest value, subnormals") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(std::isnan(bf16::from_float(std::numeric_limits<float>::quiet_NaN()).to_float()));
  float low_payload_nan;  // 0x7F800001: a NaN whose payload lies only in the bits rounding drops
  const uint32_t nan_bits = 0x7F800001u;
  std::memcpy(&low_payload_nan, &nan_bits, 4);
  CHECK(std::isnan(bf16::from_float(low_payload_nan).to_float()));  // plain rounding would make it inf
  CHECK(std::isnan(bf16::from_double(std::nan("")).to_float()));
  CHECK(bits_of(inf) == 0x7F80);
  CHECK(bits_of(-inf) == 0xFF80);
  const float max = bf16::from_bits(0x7F7F).to_float();  // (2 - 2^-7) 2^127
  CHECK(max == std::ldexp(255.0f, 120));
  CHECK(bits_of(std::numeric_limits<float>::max()) == 0x7F80);  // past max + half an ulp: infinity
  CHECK(bits_of(std::ldexp(511.0f, 119) - std::ldexp(1.0f, 104)) == 0x7F7F);  // below that: max
  CHECK(bf16::from_double(1e300).bits == 0x7F80);
  const float tiny = std::ldexp(1.0f, -133);  // bf16's smallest subnormal
  CHECK(bits_of(tiny) == 0x0001);
  CHECK(bf16::from_bits(0x0001).to_float() == tiny);
  CHECK(bits_of(tiny / 2) == 0x0000);     // tie: to even (zero)
  CHECK(bits_of(3 * tiny / 2) == 0x0002); // tie: to even
  CHECK(bits_of(std::ldexp(1.0f, -149)) == 0x0000);
  CHECK(bf16::from_double(std::ldexp(1.0, -140)).bits == 0x0000);
}

TEST_CASE("bf16: every bf16 value round-trips; random floats and doubles match the float64 oracle") {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float f = bf16::from_bits(static_cast<uint16_t>(b)).to_float();
    if (std::isnan(f)) continue;
    REQUIRE(bits_of(f) == b);
  }
  // Values over many binades, subnormals included, in float32 and float64.
  Tensor x = rand64({4096}, 7, -1.0, 1.0);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::ldexp(p[i], static_cast<int>(i % 300) - 150);
  const Tensor want = reference::round_to_bf16(x);
  CHECK(gap(cast(cast(x, DType::bf16), DType::f64), want).diff == 0);  // from double
  const Tensor x32 = cast(x, DType::f32);
  CHECK(gap(cast(cast(x32, DType::bf16), DType::f64), round_bf16(x32)).diff == 0);  // from float
  CHECK(cast(x32, DType::bf16).dtype() == DType::bf16);
  CHECK(cast(x32, DType::bf16).nbytes() == 2 * 4096);
}

TEST_CASE("bf16: fill and casts between every dtype") {
  Tensor h = Tensor::empty({3}, DType::bf16);
  h.fill_(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30));
  CHECK(h.to(DType::f32).to_vector<float>() == std::vector<float>(3, 1.0f + std::ldexp(1.0f, -7)));
  Tensor i = Tensor::from_vector(std::vector<int64_t>{-3, 0, 257}, {3});
  CHECK(i.to(DType::bf16).to(DType::f32).to_vector<float>() == std::vector<float>{-3, 0, 256});  // 257: tie to even
  CHECK(i.to(DType::bf16).to(DType::i32).to_vector<int32_t>() == std::vector<int32_t>{-3, 0, 256});
  CHECK(i.to(DType::bf16).to(DType::u8).to(DType::i64).to_vector<int64_t>()[1] == 0);
}

TEST_CASE("bf16: kernels without bf16 fail naming the op and the dtype") {
  // Softmax, the tempered CE and the optimizer steps stay float32 under mixed precision (elementwise ops
  // and reductions take bf16: tests/tensor/test_bf16_elementwise.cpp).
  Tensor h = Tensor::ones({2, 2}).to(DType::bf16);
  const std::string soft = error_of([&] { softmax(h); });
  CHECK(soft.find("softmax: bfloat16") != std::string::npos);
  Tensor param = h.clone(), no_momentum;
  const std::string step = error_of([&] { sgd_step_(param, h, no_momentum, SgdParams{}); });
  CHECK(step.find("sgd_step: bfloat16") != std::string::npos);
  CHECK(error_of([&] { matmul(h, Tensor::ones({2, 2})); }).find("dtype") != std::string::npos);  // mixed operands
}

TEST_CASE("bf16: the cast's backward is the cast back, by definition") {
  // L = <dy, cast(x)>: with the rounding's derivative taken as 1, dL/dx = dy in x's dtype.
  Variable x(rand64({3, 4}, 3).to(DType::f32), true);
  Variable y = cast(x, DType::bf16);
  CHECK(y.dtype() == DType::bf16);
  const Tensor dy = cast(rand64({3, 4}, 4), DType::bf16);
  const std::vector<Tensor> g = grad({y}, {x}, {dy});
  REQUIRE(g[0].dtype() == DType::f32);
  CHECK(gap(g[0], cast(dy, DType::f32)).diff == 0);
  // float64 -> float32: the same rule (and cast to one's own dtype is the variable itself).
  Variable x64(rand64({5}, 5), true);
  const Tensor dy32 = rand64({5}, 6).to(DType::f32);
  const std::vector<Tensor> g64 = grad({cast(x64, DType::f32)}, {x64}, {dy32});
  CHECK(g64[0].dtype() == DType::f64);
  CHECK(gap(g64[0], dy32).diff == 0);
  CHECK(cast(x64, DType::f64).data().raw() == x64.data().raw());
}

TEST_CASE("bf16: gradients come back in each input's dtype; a master weight's stays float32, unrounded") {
  // A bf16 activation's gradient is bf16 (the GEMM's float32 accumulation rounded once), as under
  // PyTorch's autocast. Linear's dw is a float32 GEMM result that the cast of the master weight hands
  // back unrounded (autocast rounds it to bf16 first).
  const Tensor w = cast(rand64({3, 4}, 30), DType::bf16), dz = rand64({2, 3}, 31).to(DType::f32);
  Variable h(cast(rand64({2, 4}, 32), DType::bf16), true);
  const Tensor gh = grad({matmul(h, Variable(w), false, true)}, {h}, {dz})[0];
  REQUIRE(gh.dtype() == DType::bf16);
  const Tensor want = cast(matmul(cast(dz, DType::bf16), w), DType::bf16);  // the float32 GEMM, rounded once
  CHECK(gap(gh, want).diff == 0);
  // x -> cast -> bf16 used by a GEMM and by relu: both gradients reach x, as float32.
  Variable x(rand64({2, 4}, 33).to(DType::f32), true);
  const Variable xb = cast(x, DType::bf16);
  const Tensor dr = cast(rand64({2, 4}, 34), DType::bf16);
  const Tensor gx = grad({matmul(xb, Variable(w), false, true), relu(xb)}, {x}, {dz, dr})[0];
  REQUIRE(gx.dtype() == DType::f32);
  const Tensor relu_part = cast(unary_backward(UnaryOp::relu, dr, xb.data(), relu(xb.data())), DType::f32);
  CHECK(gap(gx, add(cast(want, DType::f32), relu_part)).relative() < std::ldexp(1.0, -7));
  // A master weight cast to bf16 for a Linear: its float32 gradient passes the cast unrounded.
  Variable master(rand64({3, 4}, 35).to(DType::f32), true);
  const Tensor gw = grad({linear(h, cast(master, DType::bf16), Variable())}, {master}, {dz})[0];
  REQUIRE(gw.dtype() == DType::f32);
  CHECK(gap(gw, matmul(cast(dz, DType::bf16), h.data(), true, false)).diff == 0);
  CHECK(gap(gw, cast(cast(gw, DType::bf16), DType::f32)).diff > 0);  // not bf16 values
}

TEST_CASE("bf16: the CPU GEMM is exact products of rounded operands, within a bound derived from k") {
  // Let u = 2^-8 (bf16's unit roundoff) and e = 2^-24 (float32's). Each rounded operand is a (1 + d),
  // |d| <= u, so each product is off by at most (2u + u^2) |a b|; float32 accumulation of k terms adds at
  // most k e sum |a b| (Higham's gamma_k). Against the exact product of the unrounded operands:
  //   |c - a b| <= (2u + u^2 + k e) sum_i |a_i b_i|,
  // and against the exact product of the rounded operands only the k e term remains.
  for (int64_t k : {1, 7, 64, 700}) {
    const Tensor a = rand64({5, k}, 10 + k), b = rand64({k, 6}, 20 + k);
    const Tensor c = matmul(cast(a, DType::bf16), cast(b, DType::bf16));
    REQUIRE(c.dtype() == DType::f32);
    const Tensor exact = matmul(a, b), rounded = matmul(round_bf16(a), round_bf16(b));
    const Tensor abs_sum = matmul(abs(a), abs(b));
    const double u = std::ldexp(1.0, -8), e = std::ldexp(1.0, -24);
    const auto got = c.to(DType::f64).to_vector<double>(), want = exact.to_vector<double>(),
               want_rounded = rounded.to_vector<double>(), bound = abs_sum.to_vector<double>();
    double worst = 0, worst_rounded = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, std::fabs(got[i] - want[i]) / ((2 * u + u * u + k * e) * bound[i]));
      worst_rounded = std::max(worst_rounded, std::fabs(got[i] - want_rounded[i]) / (k * e * bound[i]));
    }
    CHECK_MESSAGE(worst <= 1, "k = ", k, ": error / bound = ", worst);
    CHECK_MESSAGE(worst_rounded <= 1, "k = ", k, ": error against rounded operands / bound = ", worst_rounded);
    // The operands really were rounded: the bf16 GEMM is further from the exact product than float32's.
    CHECK(gap(c, exact).diff > 8 * gap(matmul(a.to(DType::f32), b.to(DType::f32)), exact).diff);
  }
}

TEST_CASE("bf16: matmul with k = 0 gives zeros (plain, batched, transposed, bf16)") {
  for (DType dt : {DType::f32, DType::f64, DType::bf16}) {
    const Tensor a = Tensor::empty({3, 0}, dt), b = Tensor::empty({0, 4}, dt);
    const Tensor c = matmul(a, b);
    CHECK(c.shape() == Shape{3, 4});
    CHECK(gap(c, Tensor::zeros({3, 4}, c.dtype())).diff == 0);
    const Tensor cb = matmul(Tensor::empty({2, 0, 3}, dt), Tensor::empty({2, 0, 5}, dt), true, false);
    CHECK(cb.shape() == Shape{2, 3, 5});
    CHECK(gap(cb, Tensor::zeros({2, 3, 5}, cb.dtype())).diff == 0);
    const Tensor ct = matmul(Tensor::empty({2, 3, 0}, dt), Tensor::empty({4, 0}, dt), false, true);
    CHECK(gap(ct, Tensor::zeros({2, 3, 4}, ct.dtype())).diff == 0);
  }
  // Through autograd: a linear layer with no inputs gives its bias, and gradients of the right shapes.
  Variable x(Tensor::empty({2, 0}), true), w(Tensor::empty({3, 0}), true), b(Tensor::ones({3}), true);
  Variable y = linear(x, w, b);
  CHECK(gap(y.data(), Tensor::ones({2, 3})).diff == 0);
  const auto g = grad({y}, {x, w, b}, {Tensor::ones({2, 3})});
  CHECK(g[0].shape() == Shape{2, 0});
  CHECK(g[1].shape() == Shape{3, 0});
  CHECK(gap(g[2], Tensor::full({3}, 2.0)).diff == 0);
}

TEST_CASE("bf16: the CPU convolution rounds operands and output like cuDNN's bf16 convolution") {
  const Conv2dParams p{1, 1, 1, 1};
  const Tensor x = rand64({2, 3, 6, 6}, 40), w = rand64({4, 3, 3, 3}, 41);
  const Tensor y = conv2d(cast(x, DType::bf16), cast(w, DType::bf16), p);
  REQUIRE(y.dtype() == DType::bf16);
  // The exact convolution of the rounded operands, rounded once more (float32 accumulation of 27 terms
  // stays far inside half a bf16 ulp, but may move a value across a rounding boundary: allow one ulp).
  const Tensor want = reference::round_to_bf16(reference::conv2d_forward(round_bf16(x), round_bf16(w), p));
  const auto got = y.to(DType::f64).to_vector<double>(), ref = want.to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i)
    REQUIRE_MESSAGE(std::fabs(got[i] - ref[i]) <= std::ldexp(std::fabs(ref[i]), -7), "element ", i);
  // Backward data and filter take bf16 and give bf16, as cuDNN's do.
  const Tensor dy = cast(rand64(y.shape(), 42), DType::bf16);
  CHECK(conv2d_backward_data(dy, cast(w, DType::bf16), x.shape(), p).dtype() == DType::bf16);
  const Tensor dw = conv2d_backward_filter(dy, cast(x, DType::bf16), w.shape(), p);
  const Tensor dw_ref = reference::conv2d_backward_filter(dy.to(DType::f64), round_bf16(x), w.shape(), p);
  CHECK(gap(dw, dw_ref).relative() <= std::ldexp(1.0, -7));
}

// ---- the precision policy (nn/precision.h) ----

namespace {

nn::ResNetConfig tiny_resnet() {
  nn::ResNetConfig c;
  c.blocks = {1, 1};
  c.widths = {8, 16};
  c.stem = nn::ResNetStem::cifar;
  c.num_classes = 5;
  c.in_channels = 3;
  c.stats = {{0.4, 0.5, 0.6}, {0.2, 0.3, 0.25}};
  return c;
}

nn::ViTConfig tiny_vit() {
  nn::ViTConfig c;
  c.image_size = 16;
  c.patch = 4;
  c.in_channels = 3;
  c.num_classes = 5;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  c.mlp_hidden = 32;
  return c;
}

// One SGD step of `make()`'s model (same init each call) under `p`: the loss, and each parameter's step.
template <class Make>
std::pair<double, std::vector<Tensor>> sgd_step(Make make, nn::Precision p, const Tensor& x, const Tensor& y) {
  auto model = make();
  model->set_precision(p);
  std::vector<Tensor> steps;
  for (const Variable& v : model->parameters()) steps.push_back(v.data().clone());
  optim::SGD opt(model->named_parameters(), {0.1, 0.9});
  Variable loss = nn::tempered_cross_entropy(model->forward(Variable(x)), y, 2.0);
  loss.backward();
  opt.step();
  const std::vector<Variable> params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    REQUIRE(params[i].dtype() == DType::f32);  // master weights and their gradients stay float32
    REQUIRE(params[i].grad().dtype() == DType::f32);
    steps[i] = sub(params[i].data().to(DType::f64), steps[i].to(DType::f64));
  }
  return {loss.item(), steps};
}

}  // namespace

TEST_CASE("bf16 policy: names, parsing, the default on the CPU") {
  CHECK(nn::parse_precision("bf16", "--precision") == nn::Precision::bf16);
  CHECK(std::string(nn::precision_name(nn::Precision::tf32)) == "tf32");
  const std::string e = error_of([] { nn::parse_precision("fp16", "--precision"); });
  CHECK(e.find("--precision") != std::string::npos);
  CHECK(e.find("fp16") != std::string::npos);
  CHECK(nn::default_precision(Device::cpu()) == nn::Precision::fp32);
  nn::Linear layer(3, 2);
  CHECK(error_of([&] { layer.to(DType::bf16); }).find("set_precision") != std::string::npos);
}

TEST_CASE("bf16 policy: Linear and attention give float32; Conv2d takes and gives bf16 activations") {
  Generator g(5);
  nn::MultiheadSelfAttention attn(16, 2, true, &g);
  nn::Conv2d conv(3, 4, 3, 1, 1, true, &g);
  const Tensor tokens = rand64({2, 5, 16}, 50).to(DType::f32), image = rand64({2, 3, 6, 6}, 51).to(DType::f32);
  const Tensor attn32 = attn.forward(Variable(tokens)).data(), conv32 = conv.forward(Variable(image)).data();
  const Tensor dy = rand64(conv32.shape(), 52).to(DType::f32);
  // dy in the output's dtype: a bf16 activation's gradient is bf16.
  const auto conv_grads = [&] {
    const Variable out = conv.forward(Variable(image));
    return grad({out}, {conv.weight, conv.bias}, {cast(dy, out.dtype())});
  };
  const std::vector<Tensor> g32 = conv_grads();
  attn.set_precision(nn::Precision::bf16);
  conv.set_precision(nn::Precision::bf16);
  CHECK(attn.qkv->precision() == nn::Precision::bf16);  // recursive
  const Tensor attn16 = attn.forward(Variable(tokens)).data(), conv16 = conv.forward(Variable(image)).data();
  const std::vector<Tensor> g16 = conv_grads();
  CHECK(g16[0].dtype() == DType::f32);  // master weights' gradients stay float32
  CHECK(g16[1].dtype() == DType::f32);
  CHECK(gap(g16[0], g32[0]).relative() < 4 * std::ldexp(1.0, -8));  // dw: bf16 operands, bf16 dy
  // db: the bf16 dy summed in float and rounded once, against float32 sums of float32 dy.
  CHECK(gap(g16[1], g32[1]).relative() < 2 * std::ldexp(1.0, -8));
  CHECK(attn16.dtype() == DType::f32);
  CHECK(conv16.dtype() == DType::bf16);
  // bf16 tolerance: a few units of 2^-8 relative to the output's scale; and not float32's agreement.
  for (auto [got, want] : {std::pair{attn16, attn32}, std::pair{conv16, conv32}}) {
    const double rel = gap(got, want).relative();
    CHECK(rel < 8 * std::ldexp(1.0, -8));
    CHECK(rel > 1e-5);
  }
  // The conv under bf16 is the rounded operands' convolution, rounded, plus the bias rounded to bf16.
  const Tensor want = add(conv2d(cast(image, DType::bf16), cast(conv.weight.data(), DType::bf16), conv.params),
                          cast(conv.bias.data(), DType::bf16).reshape({1, 4, 1, 1}));
  REQUIRE(want.dtype() == DType::bf16);
  CHECK(gap(conv16, want).diff == 0);
}

TEST_CASE("bf16 policy: a ResNet's activations stay bf16 from the first conv to the pooled features") {
  const Tensor x = rand64({4, 3, 8, 8}, 61, 0.0, 1.0).to(DType::f32);
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3}, {4});
  for (nn::Shortcut shortcut : {nn::Shortcut::projection, nn::Shortcut::zero_pad}) {  // 1x1 conv; pool + concat
    CAPTURE(static_cast<int>(shortcut));
    nn::ResNetConfig c = tiny_resnet();
    c.shortcut = shortcut;
    Generator g(7);
    nn::ResNet model(c, &g);
    CHECK(model.features(Variable(x)).dtype() == DType::f32);
    model.set_precision(nn::Precision::bf16);
    for (bool training : {true, false}) {
      model.train(training);
      CHECK(model.features(Variable(x)).dtype() == DType::bf16);  // conv, BN, ReLU, adds and pools in bf16
      CHECK(model.forward(Variable(x)).dtype() == DType::f32);    // the head gives float32 logits
    }
    model.train(true);
    Variable input(x, true);  // an attack's gradient: back through the casts to the float32 image
    const Tensor dx = grad({nn::tempered_cross_entropy(model.forward(input), labels, 1.0)}, {input})[0];
    CHECK(dx.dtype() == DType::f32);
    CHECK(gap(dx, Tensor::zeros_like(dx)).diff > 0);
  }
}

TEST_CASE("bf16 policy: the tempered CE at tau = 100 stays exact; logits differ only at bf16 tolerance") {
  Generator g(9);
  nn::ResNet model(tiny_resnet(), &g);
  model.eval();
  const Tensor x = rand64({4, 3, 8, 8}, 60, 0.0, 1.0).to(DType::f32);
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3}, {4});
  const Tensor z32 = model.forward(Variable(x)).data();
  model.set_precision(nn::Precision::bf16);
  const Tensor z16 = model.forward(Variable(x)).data();
  REQUIRE(z16.dtype() == DType::f32);
  const double rel = gap(z16, z32).relative();
  CHECK(rel < 16 * std::ldexp(1.0, -8));
  CHECK(rel > 1e-6);
  // Given the same float32 logits (scaled to a tau = 100 model's size), dCE(z / tau)/dz does not depend
  // on the policy: it is the float32 kernel, at float32 accuracy against float64.
  const double tau = 100;
  const Tensor logits = affine(z16, 100.0 / gap(z16, z16).scale, 0.0);
  auto dce = [&](nn::Precision p) {
    model.set_precision(p);  // what the run is under; the loss runs on float32 logits regardless
    Variable z(logits, true);
    return grad({nn::tempered_cross_entropy(z, labels, tau)}, {z})[0];
  };
  const Tensor d16 = dce(nn::Precision::bf16), d32 = dce(nn::Precision::fp32);
  CHECK(d16.dtype() == DType::f32);
  CHECK(gap(d16, d32).diff == 0);
  Variable z64(logits.to(DType::f64), true);
  const Tensor d64 = grad({nn::tempered_cross_entropy(z64, labels, tau)}, {z64})[0];
  CHECK(gap(d16, d64).relative() < 1e-5);
}

TEST_CASE("bf16 policy: one SGD step of a tiny ResNet and ViT under bf16 against fp32") {
  const Tensor x = rand64({16, 3, 16, 16}, 70, 0.0, 1.0).to(DType::f32);
  Tensor y = Tensor::empty({16}, DType::i64);
  for (int64_t i = 0; i < 16; ++i) y.data<int64_t>()[i] = (i * 7) % 5;
  auto resnet = [] {
    Generator g(21);
    return std::make_shared<nn::ResNet>(tiny_resnet(), &g);
  };
  auto vit = [] {
    Generator g(22);
    return std::make_shared<nn::VisionTransformer>(tiny_vit(), &g);
  };
  auto compare = [&](const char* name, auto make, double tol) {
    const auto [loss32, p32] = sgd_step(make, nn::Precision::fp32, x, y);
    const auto [loss16, p16] = sgd_step(make, nn::Precision::bf16, x, y);
    CHECK_MESSAGE(std::fabs(loss16 - loss32) <= 8 * std::ldexp(1.0, -8) * std::fabs(loss32), name, ": loss ", loss16,
                  " vs ", loss32);
    CHECK(loss16 != loss32);  // bf16 really ran
    REQUIRE(p16.size() == p32.size());
    // The step (lr times the gradient) of the weights (rank >= 2) and of everything. Measured per tensor:
    // the ViT's steps differ by 0.04-2.5%; the ResNet's by 0.2% (fc) to 11% (the first conv), 15% for a
    // BN beta: BatchNorm subtracts the batch mean of bf16-rounded conv outputs (and of bf16-rounded dx in
    // backward), and what the cancellation leaves carries the rounding at full size, growing layer by
    // layer toward the input. PyTorch's autocast rounds the same tensors. The bounds sit above those.
    const double weights = relative_l2(p16, p32, 2), all = relative_l2(p16, p32, 1);
    CHECK_MESSAGE(weights < tol, name, ": the weights' steps differ by ", weights, " (relative l2)");
    CHECK_MESSAGE(all < tol, name, ": the steps differ by ", all, " (relative l2)");
    CHECK(weights > 1e-5);
  };
  compare("resnet", resnet, 0.15);
  compare("vit", vit, 0.03);
}
