// CPU op timings at ResNet-20 sizes (batch 128, CIFAR 32x32): conv2d forward, backward data,
// backward filter and all three together, and matmul forward and forward+backward; and the row ops
// at ViT-S sizes (attention softmax, layer norm) and the classifier's cross-entropy, and GELU at
// ViT-Ti/4's MLP size. Prints one JSON
// line per measurement, {"op": ..., "shape": ..., "ms": ...}: the median of several timed runs after
// warm-up. bench/bench_torch.py measures the same ops in PyTorch; bench/run_ops.sh runs both and
// prints the ratio table (docs/PERFORMANCE.md). Threads: OpenMP's default (OMP_NUM_THREADS or nproc).
// BENCH_CLOCK=cpu times the process's CPU time instead of wall time: with one thread on a machine
// that other jobs share, it measures the work done and not the share of the CPU that was left.
// `bench_ops conv28` times instead the convolutions of ResNet-20 on 28x28 inputs (Fashion-MNIST),
// each with every CPU path ("impl": oneDNN's blocked layouts, oneDNN on NCHW, im2col + Eigen);
// `bench/run_ops.sh conv28` prints them beside PyTorch. `bench_ops bf16` times ReLU, add and GELU at a
// ResNet-50 activation's size in float32 and in bfloat16; `bench_ops bn` times batch norm in float32
// and on bfloat16 activations (64x64x32x32).
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tensor/kernels.h"
#include "tensor/cpu/conv2d_dnnl.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;

namespace {

// Milliseconds on the chosen clock (BENCH_CLOCK=cpu: process CPU time; else wall time).
double now_ms() {
  static const bool cpu = std::getenv("BENCH_CLOCK") && std::strcmp(std::getenv("BENCH_CLOCK"), "cpu") == 0;
  timespec t;
  clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

// Median milliseconds of f over runs that fill about `budget_ms` (at least 5, at most 50), after 2
// warm-up runs.
double median_ms(const std::function<void()>& f, double budget_ms = 1000.0) {
  for (int i = 0; i < 2; ++i) f();
  std::vector<double> ms;
  const double start = now_ms();
  while (ms.size() < 5 || (ms.size() < 50 && now_ms() - start < budget_ms)) {
    const double t0 = now_ms();
    f();
    ms.push_back(now_ms() - t0);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void report(const std::string& op, const std::string& shape, double ms, const std::string& impl = "") {
  const std::string impl_field = impl.empty() ? "" : ", \"impl\": \"" + impl + "\"";
  std::printf("{\"op\": \"%s\", \"shape\": \"%s\", \"ms\": %.4f%s}\n", op.c_str(), shape.c_str(), ms,
              impl_field.c_str());
  std::fflush(stdout);
}

std::string dims(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

struct ConvCase {
  Shape x, w;
  int64_t stride;
};

void bench_conv(const ConvCase& c, const std::string& impl = "") {
  Conv2dParams p;
  p.stride_h = p.stride_w = c.stride;
  p.pad_h = p.pad_w = 1;
  const std::string shape = "x" + dims(c.x) + " w" + dims(c.w) + " s" + std::to_string(c.stride) + " p1";
  Tensor x = randn(c.x), w = randn(c.w), dy = randn(conv2d_output_shape(c.x, c.w, p));
  report("conv2d_fwd", shape, median_ms([&] { conv2d(x, w, p); }), impl);
  report("conv2d_bwd_data", shape, median_ms([&] { conv2d_backward_data(dy, w, c.x, p); }), impl);
  report("conv2d_bwd_filter", shape, median_ms([&] { conv2d_backward_filter(dy, x, c.w, p); }), impl);
  report("conv2d_fwd_bwd", shape, median_ms([&] {
           conv2d(x, w, p);
           conv2d_backward_data(dy, w, c.x, p);
           conv2d_backward_filter(dy, x, c.w, p);
         }),
         impl);
}

// ResNet-20's convolutions at batch 128 on c x size x size inputs (3x32x32: CIFAR, 1x28x28: Fashion-MNIST).
std::vector<ConvCase> resnet20_convs(int64_t c, int64_t size) {
  const int64_t s2 = (size + 1) / 2, s3 = (s2 + 1) / 2;  // the stride-2 stages' outputs
  return {
      {{128, c, size, size}, {16, c, 3, 3}, 1},     // stem
      {{128, 16, size, size}, {16, 16, 3, 3}, 1},   // stage 1
      {{128, 16, size, size}, {32, 16, 3, 3}, 2},   // stage 1 -> 2
      {{128, 32, s2, s2}, {32, 32, 3, 3}, 1},       // stage 2
      {{128, 32, s2, s2}, {64, 32, 3, 3}, 2},       // stage 2 -> 3
      {{128, 64, s3, s3}, {64, 64, 3, 3}, 1},       // stage 3
  };
}

// ResNet-20's convolutions on 1x28x28 inputs, with every CPU path.
void bench_conv28() {
  const std::vector<std::pair<std::string, cpu::DnnlConv2d>> impls = {
      {"onednn", cpu::DnnlConv2d::blocked}, {"onednn_nchw", cpu::DnnlConv2d::nchw}, {"im2col", cpu::DnnlConv2d::off}};
  for (const ConvCase& c : resnet20_convs(1, 28))
    for (const auto& [name, mode] : impls) {
      if (mode != cpu::DnnlConv2d::off && !cpu::dnnl_conv2d_available()) continue;
      cpu::ScopedDnnlConv2d scoped(mode);
      bench_conv(c, name);
    }
}

// y = x @ w^T (a linear layer's layout); backward dx = dy @ w, dw = dy^T @ x.
void bench_matmul(int64_t m, int64_t k, int64_t n) {
  const std::string shape = "[" + std::to_string(m) + "," + std::to_string(k) + "]x[" + std::to_string(k) + "," +
                            std::to_string(n) + "]";
  Tensor x = randn({m, k}), w = randn({n, k}), dy = randn({m, n});
  report("matmul_fwd", shape, median_ms([&] { matmul(x, w, false, true); }));
  report("matmul_fwd_bwd", shape, median_ms([&] {
           matmul(x, w, false, true);
           matmul(dy, w);
           matmul(dy, x, true, false);
         }));
}

// Row ops, forward and backward (the backward kernels write a fresh gradient, as autograd asks them).
void bench_softmax(int64_t rows, int64_t cols, bool log) {
  const std::string shape = dims({rows, cols}), op = log ? "log_softmax" : "softmax";
  Tensor x = randn({rows, cols}), dy = randn({rows, cols}), y = log ? log_softmax(x) : softmax(x);
  report(op + "_fwd", shape, median_ms([&] { log ? log_softmax(x) : softmax(x); }));
  report(op + "_bwd", shape, median_ms([&] {
           Tensor dx = Tensor::empty_like(y);
           cpu::softmax_backward(dy, y, dx, log);
         }));
}

void bench_cross_entropy(int64_t rows, int64_t classes) {
  const std::string shape = dims({rows, classes});
  Tensor z = randn({rows, classes}), labels = randint({rows}, 0, classes), dl = Tensor::full({rows}, 1.0 / static_cast<double>(rows));
  report("cross_entropy_fwd", shape, median_ms([&] { cross_entropy(z, labels, 1.0); }));
  report("cross_entropy_fwd_bwd", shape, median_ms([&] {
           CrossEntropyOutput out = cross_entropy(z, labels, 1.0);
           Tensor dz = Tensor::empty_like(z);
           cpu::cross_entropy_backward(dl, out.probs, labels, dz, 1.0, 0.0);
         }));
}

void bench_layer_norm(int64_t rows, int64_t cols) {
  const std::string shape = dims({rows, cols});
  Tensor x = randn({rows, cols}), gamma = randn({cols}), beta = randn({cols}), dy = randn({rows, cols});
  LayerNormOutput out = layer_norm(x, gamma, beta, 1e-6);
  report("layer_norm_fwd", shape, median_ms([&] { layer_norm(x, gamma, beta, 1e-6); }));
  report("layer_norm_bwd", shape, median_ms([&] {
           Tensor dx = Tensor::empty_like(x), dgamma = Tensor::empty_like(gamma), dbeta = Tensor::empty_like(beta);
           cpu::layer_norm_backward(dy, x, gamma, out.mean, out.invstd, dx, dgamma, dbeta);
         }));
}

// GELU (exact, with erf) forward and backward, the elementwise op of a ViT's MLP.
void bench_gelu(int64_t rows, int64_t cols) {
  const std::string shape = dims({rows, cols});
  Tensor x = randn({rows, cols}), dy = randn({rows, cols}), y = gelu(x);
  report("gelu_fwd", shape, median_ms([&] { gelu(x); }));
  report("gelu_bwd", shape, median_ms([&] { unary_backward(UnaryOp::gelu, dy, x, y); }));
}

// `bench_ops bf16`: the activation ops of a ResNet-50 step at batch 256 (64 x 32 x 32), float32 against
// bfloat16 storage (tensor/cpu/elementwise.cpp: widened to float, rounded once on store).
void bench_bf16_elementwise() {
  const Shape s = {256, 64, 32, 32};
  for (DType dt : {DType::f32, DType::bf16}) {
    const std::string shape = dims(s) + " " + dtype_name(dt);
    Tensor x = randn(s).to(dt), r = randn(s).to(dt), y = relu(x);
    report("relu_fwd", shape, median_ms([&] { relu(x); }));
    report("relu_bwd", shape, median_ms([&] { unary_backward(UnaryOp::relu, r, x, y); }));
    report("add", shape, median_ms([&] { add(x, r); }));
    report("gelu_fwd", shape, median_ms([&] { gelu(x); }));
  }
}

// Batch norm in training, forward and forward + backward (all three gradients), on float32 and on
// bfloat16 activations (float32 parameters and statistics): `bench_ops bn`.
void bench_batch_norm(const Shape& s) {
  const int64_t c = s[1];
  Tensor gamma = randn({c}), beta = randn({c});
  for (DType dt : {DType::f32, DType::bf16}) {
    const std::string suffix = dt == DType::bf16 ? "_bf16" : "";
    Tensor x = cast(randn(s), dt), dy = cast(randn(s), dt), rm = Tensor::zeros({c}), rv = Tensor::ones({c});
    report("batch_norm_fwd" + suffix, dims(s), median_ms([&] { batch_norm(x, gamma, beta, rm, rv, true, 0.1, 1e-5); }));
    report("batch_norm_fwd_bwd" + suffix, dims(s), median_ms([&] {
             BatchNormOutput out = batch_norm(x, gamma, beta, rm, rv, true, 0.1, 1e-5);
             batch_norm_backward(dy, x, gamma, out.mean, out.invstd, true, {true, true, true});
           }));
  }
}

}  // namespace

int main(int argc, char** argv) {
  manual_seed(0);
  std::fprintf(stderr, "bench_ops: %d OpenMP threads, clock %s\n", omp_get_max_threads(),
               std::getenv("BENCH_CLOCK") ? std::getenv("BENCH_CLOCK") : "wall");
  if (argc > 1 && std::strcmp(argv[1], "conv28") == 0) {
    bench_conv28();
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "bf16") == 0) {
    bench_bf16_elementwise();
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "bn") == 0) {
    bench_batch_norm({64, 64, 32, 32});
    return 0;
  }
  // `bench_ops rows` times only the row ops (softmax, cross-entropy, layer norm) and GELU.
  const bool rows_only = argc > 1 && std::strcmp(argv[1], "rows") == 0;
  if (!rows_only) {
    for (const ConvCase& c : resnet20_convs(3, 32)) bench_conv(c);
    bench_matmul(128, 64, 10);  // the classifier
    bench_matmul(512, 512, 512);
  }
  bench_softmax(64 * 6 * 197, 197, false);  // ViT-S/16 attention: batch 64, 6 heads, 197 tokens
  bench_softmax(64 * 6 * 197, 197, true);
  bench_cross_entropy(128, 10);
  bench_cross_entropy(128, 1000);
  bench_layer_norm(64 * 197, 384);  // ViT-S/16 tokens, width 384
  bench_gelu(64 * 65, 768);         // ViT-Ti/4's MLP hidden: batch 64, 65 tokens, width 4 x 192
}
