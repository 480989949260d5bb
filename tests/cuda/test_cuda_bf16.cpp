// Tier 2 (GPU) for bfloat16 mixed precision: the CUDA cast against the CPU's bit for bit, cuBLAS's bf16
// GEMM (float32 accumulation) and cuDNN's bf16 convolutions against the CPU emulation
// (tests/tensor/test_bf16.cpp holds that emulation to exact arithmetic), matmul with k = 0, and a
// training step of a tiny ResNet and ViT under bf16 on the GPU against fp32 and against the CPU's bf16.
// Tolerances: both sides compute exact products of the same bf16 operands and differ only in the order
// of float32 sums, at most 4 k 2^-24 sum |a b| per element (order_bound says why); cuDNN rounds its
// output to bf16, which may then differ by one bf16 unit (2^-7 relative). Without a GPU every case is
// skipped, with the reason printed.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>

#include "nn/loss.h"
#include "nn/models/resnet.h"
#include "nn/models/vit.h"
#include "support/gradcheck.h"
#include "support/tier2.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

using namespace tg;
using namespace tg::testing;

TEST_CASE("cuda: bf16 availability") {
  if (!cuda_is_available()) {
    MESSAGE("tier 2 (bf16): skipped, no usable GPU (or built without CUDA)");
  } else {
    MESSAGE("tier 2 (bf16): running; bf16 tensor cores " << (cuda_supports_bf16(Device::cuda()) ? "present" : "absent"));
  }
}

#ifdef TAUGRAD_CUDA

namespace {

const Device kGpu = Device::cuda();

Tensor f32(const Tensor& t) { return t.to(DType::f32); }
Tensor bf(const Tensor& t) { return t.to(DType::bf16); }

// Elementwise |got - want| <= rel |want| + bound (bound: a tensor of want's shape); reports the worst.
void expect_within(const Tensor& got, const Tensor& want, double rel, const Tensor& bound, const std::string& what) {
  REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": shape");
  REQUIRE_MESSAGE(got.dtype() == want.dtype(), what, ": dtype ", dtype_name(got.dtype()), " vs ", dtype_name(want.dtype()));
  const auto g = got.cpu().to(DType::f64).to_vector<double>(), w = want.cpu().to(DType::f64).to_vector<double>(),
             b = bound.cpu().to(DType::f64).to_vector<double>();
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double r = std::isnan(g[i]) != std::isnan(w[i]) ? INFINITY
                     : std::isnan(g[i])                 ? 0
                                                        : std::fabs(g[i] - w[i]) / (rel * std::fabs(w[i]) + b[i] + 1e-30);
    if (r > worst) {
      worst = r;
      at = i;
    }
  }
  CHECK_MESSAGE(worst <= 1, what, ": element ", at, " gpu ", g[at], " cpu ", w[at], " error / bound ", worst);
}

// The GPU's and the CPU's float32 sums of the same k exact products: each within k e sum |a b| of the
// exact sum (e = 2^-24, Higham's gamma_k), the tensor cores' within twice that if their accumulator
// truncates rather than rounds; 4 k e sum |a b| covers both sides.
Tensor order_bound(const Tensor& abs_products, int64_t k) {
  return affine(abs_products, 4.0 * static_cast<double>(k) * std::ldexp(1.0, -24), 0.0);
}

}  // namespace

#define TG_BF16_CASE(name) TEST_CASE("cuda: bf16 " name * doctest::skip(!cuda_is_available()))

TG_BF16_CASE("cast and fill match the CPU bit for bit") {
  Tensor x = rand64({100000}, 1, -1.0, 1.0);
  double* p = x.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::ldexp(p[i], static_cast<int>(i % 300) - 150);
  for (const Tensor& src : {x, f32(x), Tensor::arange(70000, DType::i64)}) {
    const Tensor cpu = bf(src), gpu = bf(src.to(kGpu));
    CHECK(gpu.cpu().to(DType::f64).to_vector<double>() == cpu.to(DType::f64).to_vector<double>());
    CHECK(f32(gpu).cpu().to_vector<float>() == f32(cpu).to_vector<float>());  // back to float32 on the GPU
  }
  Tensor h = Tensor::empty({1000}, DType::bf16, kGpu);
  h.fill_(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30));
  CHECK(f32(h).cpu().to_vector<float>() == std::vector<float>(1000, 1.0f + std::ldexp(1.0f, -7)));
}

TG_BF16_CASE("permute, slice, concat, index_select and gather of bf16 activations match the CPU bit for bit") {
  // ViT's qkv split at ViT-S/16 size (B = 64, N = 197, 3 x 6 heads x 64) and a ResNet option-A shortcut.
  const Tensor qkv = bf(rand64({64, 197, 3, 6, 64}, 9, -4.0, 4.0)), act = bf(rand64({32, 16, 8, 8}, 10));
  auto both = [](const Tensor& x, const std::function<Tensor(const Tensor&)>& op, const char* what) {
    const Tensor cpu = op(x), gpu = op(x.to(kGpu));
    REQUIRE(gpu.dtype() == DType::bf16);
    CHECK_MESSAGE(f32(gpu).cpu().to_vector<float>() == f32(cpu).to_vector<float>(), what);
  };
  both(qkv, [](const Tensor& t) { return permute(t, {2, 0, 3, 1, 4}); }, "permute");
  both(qkv, [](const Tensor& t) { return slice(permute(t, {2, 0, 3, 1, 4}), 0, 1, 2); }, "slice");
  both(act, [](const Tensor& t) {
    const Tensor z = Tensor::zeros({32, 8, 8, 8}, DType::bf16, t.device());
    return concat({z, t, z}, 1);
  }, "concat");
  both(act, [](const Tensor& t) { return slice_backward(t, 1, 4, {32, 24, 8, 8}); }, "slice_backward");
  both(act, [](const Tensor& t) { return index_select(t, 0, Tensor::from_vector<int64_t>({31, 0, 7}, {3}).to(t.device())); },
       "index_select");
  Tensor cols = Tensor::empty({4096, 2}, DType::i64);
  for (int64_t i = 0; i < cols.numel(); ++i) cols.data<int64_t>()[i] = (i * 3) % 8;
  both(act.reshape({4096, 8}), [&](const Tensor& t) { return gather(t, cols.to(t.device())); }, "gather");
}

TG_BF16_CASE("GEMM against the CPU emulation (cuBLAS, float32 accumulation)") {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  const Case cases[] = {{{64, 300}, {300, 96}, false, false},          {{300, 64}, {96, 300}, true, true},
                        {{4, 33, 70}, {70, 17}, false, false},         {{4, 70, 33}, {4, 17, 70}, true, true},
                        {{1, 50, 40}, {3, 40, 20}, false, false},      {{8, 197, 64}, {8, 197, 64}, false, true},
                        {{2048, 384}, {1152, 384}, false, true},       {{2048, 1152}, {2048, 384}, true, false},
                        {{2, 3, 20, 16}, {2, 3, 24, 16}, false, true}, {{2, 3, 20, 24}, {2, 3, 24, 16}, false, false},
                        {{2, 40, 16}, {40, 24}, true, false}};  // 4-D as attention; a 2-D b beside a transposed a
  uint64_t seed = 10;
  for (const Case& c : cases) {
    const Tensor a = bf(rand64(c.a, ++seed)), b = bf(rand64(c.b, ++seed));
    const int64_t k = c.ta ? c.a[c.a.size() - 2] : c.a.back();
    const Tensor cpu = matmul(a, b, c.ta, c.tb), gpu = matmul(a.to(kGpu), b.to(kGpu), c.ta, c.tb);
    REQUIRE(gpu.dtype() == DType::f32);
    const Tensor bound = order_bound(matmul(abs(f32(a)), abs(f32(b)), c.ta, c.tb), k);
    expect_within(gpu, cpu, 0.0, bound, "bf16 GEMM " + shape_str(c.a) + (c.ta ? "^T" : "") + " @ " + shape_str(c.b) + (c.tb ? "^T" : ""));
  }
}

TG_BF16_CASE("matmul with k = 0 writes zeros over a reused block") {
  for (DType dt : {DType::f32, DType::f64, DType::bf16}) {
    const DType out = dt == DType::bf16 ? DType::f32 : dt;
    { Tensor dirty = Tensor::full({64, 64}, 7.0, out, kGpu); }  // freed into the cache: the next block of this size
    const Tensor c = matmul(Tensor::empty({64, 0}, dt, kGpu), Tensor::empty({0, 64}, dt, kGpu));
    CHECK(c.cpu().to(DType::f64).to_vector<double>() == std::vector<double>(64 * 64, 0.0));
    const Tensor ct = matmul(Tensor::empty({2, 0, 8}, dt, kGpu), Tensor::empty({5, 0}, dt, kGpu), true, true);
    CHECK(ct.shape() == Shape{2, 8, 5});
    CHECK(ct.cpu().to(DType::f64).to_vector<double>() == std::vector<double>(80, 0.0));
  }
}

TG_BF16_CASE("conv2d forward and backward against the CPU emulation (cuDNN)") {
  struct Case {
    Shape x, w;
    Conv2dParams p;
  };
  const Case cases[] = {{{4, 16, 12, 12}, {32, 16, 3, 3}, {1, 1, 1, 1}},
                        {{8, 64, 16, 16}, {64, 64, 3, 3}, {1, 1, 1, 1}},
                        {{8, 64, 16, 16}, {128, 64, 3, 3}, {2, 2, 1, 1}},
                        {{8, 256, 8, 8}, {1024, 256, 1, 1}, {1, 1, 0, 0}},
                        {{2, 3, 32, 32}, {48, 3, 4, 4}, {4, 4, 0, 0}}};
  uint64_t seed = 40;
  for (const Case& c : cases) {
    const Tensor x = bf(rand64(c.x, ++seed)), w = bf(rand64(c.w, ++seed));
    const std::string what = "bf16 conv2d x " + shape_str(c.x) + " w " + shape_str(c.w);
    const int64_t k_fwd = c.w[1] * c.w[2] * c.w[3];
    const Tensor y = conv2d(x, w, c.p);
    expect_within(conv2d(x.to(kGpu), w.to(kGpu), c.p), y, std::ldexp(1.0, -7),
                  order_bound(conv2d(abs(f32(x)), abs(f32(w)), c.p), k_fwd), what + " forward");
    const Tensor dy = bf(rand64(y.shape(), ++seed));
    const int64_t k_data = c.w[0] * c.w[2] * c.w[3], k_filter = c.x[0] * y.size(2) * y.size(3);
    expect_within(conv2d_backward_data(dy.to(kGpu), w.to(kGpu), c.x, c.p), conv2d_backward_data(dy, w, c.x, c.p),
                  std::ldexp(1.0, -7), order_bound(conv2d_backward_data(abs(f32(dy)), abs(f32(w)), c.x, c.p), k_data),
                  what + " backward data");
    expect_within(conv2d_backward_filter(dy.to(kGpu), x.to(kGpu), c.w, c.p), conv2d_backward_filter(dy, x, c.w, c.p),
                  std::ldexp(1.0, -7),
                  order_bound(conv2d_backward_filter(abs(f32(dy)), abs(f32(x)), c.w, c.p), k_filter),
                  what + " backward filter");
  }
}

TG_BF16_CASE("a training step of a tiny ResNet and ViT: GPU bf16 against GPU fp32 and the CPU's bf16") {
  nn::ResNetConfig rc;
  rc.blocks = {1, 1};
  rc.widths = {16, 32};
  rc.stem = nn::ResNetStem::cifar;
  rc.num_classes = 10;
  nn::ViTConfig vc;
  vc.image_size = 16;
  vc.patch = 4;
  vc.num_classes = 10;
  vc.dim = 64;
  vc.depth = 2;
  vc.heads = 4;
  vc.mlp_hidden = 128;
  const Tensor x = rand64({16, 3, 16, 16}, 80, 0.0, 1.0).to(DType::f32);
  Tensor y = Tensor::empty({16}, DType::i64);
  for (int64_t i = 0; i < 16; ++i) y.data<int64_t>()[i] = i % 10;
  // The loss and every parameter gradient of one forward/backward on `d` under `p`.
  auto step = [&](const std::function<std::shared_ptr<nn::Module>()>& make, Device d, nn::Precision p) {
    auto model = make();
    model->to(d);
    model->set_precision(p);
    Variable loss = nn::tempered_cross_entropy(model->forward(Variable(x.to(d))), y.to(d), 2.0);
    loss.backward();
    std::vector<Tensor> out{loss.data().cpu()};
    for (const Variable& v : model->parameters()) out.push_back(v.grad().cpu());
    return out;
  };
  // ||a - b|| / ||b|| over every gradient as one vector (entry 0, the loss, left out).
  auto grads_gap = [](const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    return relative_l2({a.begin() + 1, a.end()}, {b.begin() + 1, b.end()});
  };
  // Tolerances as tests/tensor/test_bf16.cpp measured them on the CPU: BatchNorm's cancellation lets the
  // ResNet's gradients move by up to 15% under bf16, the ViT's by 3%.
  struct Model {
    const char* name;
    std::function<std::shared_ptr<nn::Module>()> make;
    double tol;
  };
  const Model models[] = {{"resnet", [&] { Generator g(1); return std::make_shared<nn::ResNet>(rc, &g); }, 0.15},
                          {"vit", [&] { Generator g(2); return std::make_shared<nn::VisionTransformer>(vc, &g); }, 0.03}};
  const bool tf32 = cuda::allow_tf32();
  cuda::set_allow_tf32(false);
  for (const Model& m : models) {
    const auto gpu16 = step(m.make, kGpu, nn::Precision::bf16), gpu32 = step(m.make, kGpu, nn::Precision::fp32),
               cpu16 = step(m.make, Device::cpu(), nn::Precision::bf16);
    const double loss16 = gpu16[0].item(), loss32 = gpu32[0].item(), loss_cpu = cpu16[0].item();
    CHECK_MESSAGE(std::fabs(loss16 - loss32) <= 8 * std::ldexp(1.0, -8) * std::fabs(loss32), m.name, ": loss ", loss16,
                  " vs fp32 ", loss32);
    CHECK_MESSAGE(std::fabs(loss16 - loss_cpu) <= 8 * std::ldexp(1.0, -8) * std::fabs(loss_cpu), m.name, ": loss ",
                  loss16, " vs the CPU's bf16 ", loss_cpu);
    CHECK_MESSAGE(grads_gap(gpu16, gpu32) < m.tol, m.name, ": gradients bf16 vs fp32 ", grads_gap(gpu16, gpu32));
    CHECK_MESSAGE(grads_gap(gpu16, cpu16) < m.tol, m.name, ": gradients GPU vs CPU bf16 ", grads_gap(gpu16, cpu16));
  }
  cuda::set_allow_tf32(tf32);
}

TG_BF16_CASE("activations: a ResNet-20 step's peak memory falls to at most 70% of fp32's") {
  // The saved activations (conv inputs, BN inputs, ReLU outputs) are bf16 under the bf16 policy:
  // about half the bytes of fp32's. The weights, their gradients and the workspace do not shrink,
  // so the whole step's peak falls by less than half; 70% leaves room for them at batch 128.
  const Tensor x = rand64({128, 3, 32, 32}, 90, 0.0, 1.0).to(DType::f32).to(kGpu);
  Tensor labels = Tensor::empty({128}, DType::i64);
  for (int64_t i = 0; i < 128; ++i) labels.data<int64_t>()[i] = i % 10;
  const Tensor y = labels.to(kGpu);
  auto peak = [&](nn::Precision p) {
    Generator g(3);
    nn::ResNet model(nn::resnet20_config(), &g);
    model.to(kGpu);
    model.set_precision(p);
    cuda::synchronize();
    cuda::reset_peak_memory();
    const size_t before = cuda::cache_stats().allocated_bytes;
    Variable loss = nn::tempered_cross_entropy(model.forward(Variable(x)), y, 1.0);
    loss.backward();
    cuda::synchronize();
    return static_cast<double>(cuda::cache_stats().peak_allocated_bytes - before);
  };
  const double fp32 = peak(nn::Precision::fp32), bf16 = peak(nn::Precision::bf16);
  MESSAGE("ResNet-20 step at batch 128: peak ", fp32 / 1048576.0, " MiB in fp32, ", bf16 / 1048576.0, " MiB in bf16");
  CHECK(bf16 < 0.7 * fp32);
}

#endif  // TAUGRAD_CUDA
