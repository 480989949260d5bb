// Tier 2 (DESIGN.md §5): every kernel of tensor/kernels.inc on CUDA against the CPU, forward and
// backward, same inputs, tolerance by dtype. Each case runs a lambda once per device: inputs are
// made on the CPU (Philox, fixed seeds), copied to the device, the kernel is called through
// TG_DISPATCH, and the outputs come back for comparison. Backward kernels start from non-zero
// gradients, so an element a CUDA kernel fails to write differs (kernels write their outputs; the CPU
// side is held to that by tests/tensor/test_write_rule.cpp; slice_add/index_add/scatter_add add). TF32 is turned off: float32 GEMM and convolution
// then agree with the CPU to ~1e-5. Without a GPU every case is skipped, with the reason printed.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <functional>
#include <string>

#include "tensor/dispatch.h"
#include "tensor/ops.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

using namespace tg;

TEST_CASE("cuda: tier 2 availability") {
  if (!cuda_is_built()) {
    MESSAGE("tier 2 (CUDA vs CPU): skipped, taugrad was built without CUDA (-Dcuda=disabled)");
  } else if (!cuda_is_available()) {
#ifdef TAUGRAD_CUDA
    MESSAGE("tier 2 (CUDA vs CPU): skipped, no GPU: " << cuda::no_device_reason());
#endif
  } else {
    MESSAGE("tier 2 (CUDA vs CPU): running on a GPU");
  }
}

TEST_CASE("cuda: asking for a GPU where there is none fails clearly" * doctest::skip(cuda_is_available())) {
  CHECK_FALSE(cuda_is_available());
  if (visible_nvidia_gpus().empty()) CHECK(parse_device("auto") == Device::cpu());  // else it refuses: test_device.cpp
  const char* expected = cuda_is_built() ? "no usable GPU" : "built without CUDA";
  CHECK_THROWS_WITH_AS(Tensor::zeros({2, 3}, DType::f32, Device::cuda()), doctest::Contains(expected), Error);
  CHECK_THROWS_WITH_AS(Tensor::ones({4}).to(Device::cuda()), doctest::Contains(expected), Error);
}

#ifdef TAUGRAD_CUDA

namespace {

using Outputs = std::vector<Tensor>;

// A copy of a CPU tensor on `d` (a fresh copy on the CPU too: kernels may write into it).
Tensor on(const Tensor& t, Device d) { return t.defined() ? (d.is_cpu() ? t.clone() : t.to(d)) : Tensor(); }

uint64_t next_seed() {
  static uint64_t seed = 1000;
  return seed++;
}
Tensor randn(const Shape& s, DType dt = DType::f32, double mean = 0.0, double std = 1.0) {
  Tensor t = Tensor::empty(s, dt);
  cpu::random_normal(t, mean, std, {next_seed(), 0});
  return t;
}
Tensor randu(const Shape& s, double lo, double hi, DType dt = DType::f32) {
  Tensor t = Tensor::empty(s, dt);
  cpu::random_uniform(t, lo, hi, {next_seed(), 0});
  return t;
}
Tensor randint(const Shape& s, int64_t lo, int64_t hi, DType dt = DType::i64) {
  Tensor t = Tensor::empty(s, dt);
  cpu::random_integers(t, lo, hi, {next_seed(), 0});
  return t;
}

// |cuda - cpu| <= atol + rtol |cpu| elementwise (NaNs must match); reports the worst element.
void expect_close(const Tensor& want, const Tensor& got, double rtol, double atol, const std::string& what) {
  REQUIRE_MESSAGE(want.shape() == got.shape(), what, ": shape ", shape_str(got.shape()), " vs ",
                  shape_str(want.shape()));
  REQUIRE_MESSAGE(want.dtype() == got.dtype(), what, ": dtype");
  REQUIRE(got.is_cuda());
  const auto a = want.to(DType::f64).to_vector<double>();
  const auto b = got.cpu().to(DType::f64).to_vector<double>();
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double excess = std::isnan(a[i]) || std::isnan(b[i]) ? (std::isnan(a[i]) == std::isnan(b[i]) ? 0 : INFINITY)
                                                         : std::fabs(a[i] - b[i]) - (atol + rtol * std::fabs(a[i]));
    if (excess > worst) {
      worst = excess;
      at = i;
    }
  }
  CHECK_MESSAGE(worst <= 0, what, ": element ", at, " cuda ", b.empty() ? 0 : b[at], " cpu ",
                a.empty() ? 0 : a[at], " (rtol ", rtol, ", atol ", atol, ")");
}

// Runs `run` on the CPU and on the GPU and compares every output.
void compare(const std::string& what, const std::function<Outputs(Device)>& run, double rtol = 1e-4,
             double atol = 1e-5) {
  const bool tf32 = cuda::allow_tf32();
  cuda::set_allow_tf32(false);
  const Outputs want = run(Device::cpu());
  const Outputs got = run(Device::cuda());
  cuda::synchronize();
  cuda::set_allow_tf32(tf32);
  REQUIRE(want.size() == got.size());
  for (size_t i = 0; i < want.size(); ++i)
    expect_close(want[i], got[i], rtol, atol, what + " output " + std::to_string(i));
}

// Tolerances by dtype: float64 kernels agree to rounding.
double rtol_of(DType dt) { return dt == DType::f64 ? 1e-10 : 1e-4; }
double atol_of(DType dt) { return dt == DType::f64 ? 1e-12 : 1e-5; }

const DType kFloating[] = {DType::f32, DType::f64};

}  // namespace

#define TG_GPU_CASE(name) TEST_CASE("cuda vs cpu: " name * doctest::skip(!cuda_is_available()))

TG_GPU_CASE("fill and cast") {
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64, DType::u8})
    compare(std::string("fill ") + dtype_name(dt), [&](Device d) {
      Tensor t = Tensor::empty({37, 5}, dt, d);
      TG_DISPATCH(d, fill, t, 3.0);
      return Outputs{t};
    });
  const Tensor x = randn({1000}, DType::f32, 0, 50);
  for (DType to : {DType::f64, DType::i32, DType::i64, DType::u8}) {
    compare(std::string("cast to ") + dtype_name(to), [&](Device d) {
      Tensor xs = to == DType::u8 ? on(randu({1000}, 0, 255), d) : on(x, d), y = Tensor::empty({1000}, to, d);
      TG_DISPATCH(d, cast, xs, y);
      return Outputs{y};
    });
  }
}

TG_GPU_CASE("unary ops and their backward") {
  const UnaryOp ops[] = {UnaryOp::neg,  UnaryOp::exp,  UnaryOp::log,     UnaryOp::sqrt,   UnaryOp::rsqrt,
                         UnaryOp::abs,  UnaryOp::sign, UnaryOp::relu,    UnaryOp::gelu,   UnaryOp::tanh,
                         UnaryOp::sigmoid, UnaryOp::square, UnaryOp::reciprocal};
  for (DType dt : kFloating) {
    for (UnaryOp op : ops) {
      const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::rsqrt ||
                            op == UnaryOp::reciprocal;
      const Tensor x = positive ? randu({3, 333}, 0.5, 3.0, dt) : randn({3, 333}, dt);
      const Tensor dy = randn({3, 333}, dt), dx0 = randn({3, 333}, dt);
      compare(std::string(unary_name(op)) + " " + dtype_name(dt), [&](Device d) {
        Tensor xd = on(x, d), y = Tensor::empty_like(xd), dx = on(dx0, d);
        TG_DISPATCH(d, unary, xd, y, op);
        TG_DISPATCH(d, unary_backward, on(dy, d), xd, y, dx, op);
        return Outputs{y, dx};
      }, rtol_of(dt), atol_of(dt));
    }
  }
}

TG_GPU_CASE("affine, pow, clamp") {
  for (DType dt : kFloating) {
    const Tensor x = randu({4, 257}, 0.1, 4.0, dt);
    compare(std::string("affine/pow/clamp ") + dtype_name(dt), [&](Device d) {
      Tensor xd = on(x, d), a = Tensor::empty_like(xd), p = Tensor::empty_like(xd), c = Tensor::empty_like(xd);
      TG_DISPATCH(d, affine, xd, a, -2.5, 0.75);
      TG_DISPATCH(d, pow_scalar, xd, p, 1.7);
      TG_DISPATCH(d, clamp, xd, c, 0.5, 2.0);
      return Outputs{a, p, c};
    }, rtol_of(dt), atol_of(dt));
  }
}

TG_GPU_CASE("binary ops with broadcasting, comparisons, where") {
  const BinaryOp ops[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::pow,
                          BinaryOp::maximum, BinaryOp::minimum, BinaryOp::eq, BinaryOp::ne, BinaryOp::lt,
                          BinaryOp::le, BinaryOp::gt, BinaryOp::ge};
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{6, 50}, {6, 50}}, {{6, 50}, {1}}, {{2, 3, 40}, {3, 1}}, {{5, 1, 7}, {1, 4, 7}}, {{}, {9}}};
  for (DType dt : kFloating) {
    for (const auto& [sa, sb] : shapes) {
      // Rounded values so that comparisons see equal elements too.
      const Tensor a = randu(sa, 0.5, 3.0, dt), b = randu(sb, 0.5, 3.0, dt);
      for (BinaryOp op : ops) {
        compare(std::string(binary_name(op)) + " " + shape_str(sa) + " " + shape_str(sb) + " " + dtype_name(dt),
                [&](Device d) {
                  Tensor ad = on(a, d), bd = on(b, d);
                  Tensor out = Tensor::empty(broadcast_shapes(sa, sb, "test"), is_comparison(op) ? DType::u8 : dt, d);
                  TG_DISPATCH(d, binary, ad, bd, out, op);
                  return Outputs{out};
                }, rtol_of(dt), atol_of(dt));
      }
    }
  }
  const Tensor ia = randint({4, 9}, -20, 20), ib = randint({9}, 1, 6);
  for (BinaryOp op : {BinaryOp::add, BinaryOp::mul, BinaryOp::maximum, BinaryOp::lt})
    compare(std::string("int64 ") + binary_name(op), [&](Device d) {
      Tensor out = Tensor::empty({4, 9}, is_comparison(op) ? DType::u8 : DType::i64, d);
      TG_DISPATCH(d, binary, on(ia, d), on(ib, d), out, op);
      return Outputs{out};
    });
  const Tensor cond = randint({3, 1, 8}, 0, 2, DType::u8), wa = randn({4, 8}), wb = randn({1});
  compare("where", [&](Device d) {
    Tensor out = Tensor::empty({3, 4, 8}, DType::f32, d);
    TG_DISPATCH(d, where, on(cond, d), on(wa, d), on(wb, d), out);
    return Outputs{out};
  });
}

TG_GPU_CASE("random draws are the same numbers on both devices") {
  for (DType dt : kFloating) {
    compare(std::string("random ") + dtype_name(dt), [&](Device d) {
      Tensor u = Tensor::empty({1001}, dt, d), n = Tensor::empty({1001}, dt, d);
      TG_DISPATCH(d, random_uniform, u, -2.0, 3.0, PhiloxState{42, 7});
      TG_DISPATCH(d, random_normal, n, 1.0, 2.0, PhiloxState{42, 9});
      return Outputs{u, n};
    }, 1e-6, 1e-7);  // normal: the device's log/cos may differ from glibc's in the last bits
  }
  compare("random_integers", [&](Device d) {
    Tensor i = Tensor::empty({999}, DType::i64, d), j = Tensor::empty({999}, DType::i32, d);
    TG_DISPATCH(d, random_integers, i, -5, 1000, PhiloxState{3, 0});
    TG_DISPATCH(d, random_integers, j, 0, 10, PhiloxState{3, 100});
    return Outputs{i, j};
  }, 0, 0);
}

TG_GPU_CASE("reductions and variance") {
  const std::vector<std::array<int64_t, 3>> views = {{3, 5, 4}, {4, 1000, 1}, {1, 70000, 1}, {2, 3, 3000}, {7, 1, 3}};
  const ReduceOp ops[] = {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min, ReduceOp::argmax,
                          ReduceOp::argmin};
  for (DType dt : kFloating) {
    for (const auto& v : views) {
      // Integer-valued data: many ties, so "first index of the extreme" is tested.
      const Tensor x = randint({v[0] * v[1] * v[2]}, -8, 9, DType::i64).to(dt);
      for (ReduceOp op : ops) {
        compare(std::string("reduce ") + std::to_string(static_cast<int>(op)) + " " + dtype_name(dt) + " [" +
                    std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " + std::to_string(v[2]) + "]",
                [&](Device d) {
                  const bool arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
                  Tensor y = Tensor::empty({v[0], v[2]}, arg ? DType::i64 : dt, d);
                  TG_DISPATCH(d, reduce, on(x, d), y, v[0], v[1], v[2], op);
                  return Outputs{y};
                }, rtol_of(dt), atol_of(dt));
      }
      const Tensor xr = randn({v[0] * v[1] * v[2]}, dt, 3.0, 2.0);
      for (int64_t correction : {0, 1}) {
        if (v[1] - correction <= 0) continue;
        compare("variance", [&](Device d) {
          Tensor y = Tensor::empty({v[0], v[2]}, dt, d);
          TG_DISPATCH(d, variance, on(xr, d), y, v[0], v[1], v[2], correction);
          return Outputs{y};
        }, rtol_of(dt), atol_of(dt));
      }
    }
  }
  compare("reduce int64 sum and argmax", [&](Device d) {
    const Tensor xi = randint({6 * 40}, -100, 100);
    Tensor s = Tensor::empty({6, 1}, DType::i64, d), a = Tensor::empty({6, 1}, DType::i64, d);
    TG_DISPATCH(d, reduce, on(xi, d), s, 6, 40, 1, ReduceOp::sum);
    TG_DISPATCH(d, reduce, on(xi, d), a, 6, 40, 1, ReduceOp::argmax);
    return Outputs{s, a};
  }, 0, 0);
}

TG_GPU_CASE("matmul: transposes, batch broadcast, alpha and beta") {
  for (DType dt : kFloating) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        for (int64_t ba : {int64_t(1), int64_t(3)}) {
          const int64_t m = 17, k = 33, n = 9, batch = 3;
          const Tensor a = ta ? randn({ba, k, m}, dt) : randn({ba, m, k}, dt);
          const Tensor b = tb ? randn({batch, n, k}, dt) : randn({batch, k, n}, dt);
          const Tensor c0 = randn({batch, m, n}, dt);
          compare(std::string("matmul ") + dtype_name(dt) + (ta ? " A^T" : " A") + (tb ? " B^T" : " B") +
                      " Ba=" + std::to_string(ba),
                  [&](Device d) {
                    Tensor c = on(c0, d);
                    TG_DISPATCH(d, matmul, on(a, d), on(b, d), c, ta, tb, 0.5, 2.0);
                    return Outputs{c};
                  }, dt == DType::f64 ? 1e-10 : 1e-4, dt == DType::f64 ? 1e-10 : 1e-4);
        }
      }
    }
  }
  const Tensor a = randn({2, 64, 48}), b = randn({48, 80});
  compare("matmul through ops", [&](Device d) {
    return Outputs{matmul(on(a, d), on(b, d))};
  }, 1e-4, 1e-4);
}

TG_GPU_CASE("conv2d forward, backward data, backward filter") {
  struct Case {
    Shape x, w;
    Conv2dParams p;
  };
  const Case cases[] = {{{2, 3, 9, 9}, {4, 3, 3, 3}, {1, 1, 1, 1}},
                        {{3, 5, 12, 10}, {6, 5, 3, 3}, {2, 2, 1, 1}},
                        {{2, 4, 8, 8}, {8, 4, 1, 1}, {2, 2, 0, 0}},
                        {{1, 3, 11, 7}, {2, 3, 5, 3}, {1, 2, 2, 0}}};
  for (DType dt : kFloating) {
    for (const Case& c : cases) {
      const Shape ys = conv2d_output_shape(c.x, c.w, c.p);
      const Tensor x = randn(c.x, dt), w = randn(c.w, dt), dy = randn(ys, dt);
      const Tensor dx0 = randn(c.x, dt), dw0 = randn(c.w, dt);
      compare(std::string("conv2d ") + shape_str(c.x) + " " + shape_str(c.w) + " " + dtype_name(dt), [&](Device d) {
        Tensor xd = on(x, d), wd = on(w, d), dyd = on(dy, d);
        Tensor y = Tensor::empty(ys, dt, d), dx = on(dx0, d), dw = on(dw0, d);
        TG_DISPATCH(d, conv2d_forward, xd, wd, y, c.p);
        TG_DISPATCH(d, conv2d_backward_data, dyd, wd, dx, c.p);
        TG_DISPATCH(d, conv2d_backward_filter, dyd, xd, dw, c.p);
        return Outputs{y, dx, dw};
      }, dt == DType::f64 ? 1e-9 : 1e-4, dt == DType::f64 ? 1e-9 : 1e-3);  // f32: Winograd/FFT rounding
    }
  }
}

TG_GPU_CASE("batch norm: training, eval, backward") {
  for (DType dt : kFloating) {
    for (const Shape& s : {Shape{4, 3, 5, 5}, Shape{8, 16, 2, 3}, Shape{2, 5, 1, 1}}) {
      const int64_t C = s[1];
      const Tensor x = randn(s, dt, 0.5, 2.0), gamma = randn({C}, dt, 1.0, 0.2), beta = randn({C}, dt);
      const Tensor rm0 = randn({C}, dt), rv0 = randu({C}, 0.5, 1.5, dt), dy = randn(s, dt);
      const Tensor dx0 = randn(s, dt), dg0 = randn({C}, dt), db0 = randn({C}, dt);
      for (bool batch_stats : {true, false}) {
        compare(std::string("batch_norm ") + shape_str(s) + dtype_name(dt) + (batch_stats ? " train" : " eval"),
                [&](Device d) {
                  Tensor xd = on(x, d), gd = on(gamma, d), bd = on(beta, d), rm = on(rm0, d), rv = on(rv0, d);
                  Tensor y = Tensor::empty(s, dt, d), mean = Tensor::empty({C}, dt, d),
                         invstd = Tensor::empty({C}, dt, d);
                  if (batch_stats) {
                    TG_DISPATCH(d, batch_norm_forward_train, xd, gd, bd, rm, rv, y, mean, invstd, 0.1, 1e-5);
                  } else {
                    TG_DISPATCH(d, batch_norm_forward_eval, xd, gd, bd, rm, rv, y, 1e-5);
                    mean = rm;
                    invstd = on(pow(affine(rv0, 1.0, 1e-5), -0.5), d);
                  }
                  Tensor dx = on(dx0, d), dg = on(dg0, d), db = on(db0, d);
                  TG_DISPATCH(d, batch_norm_backward, on(dy, d), xd, gd, mean, invstd, dx, dg, db, batch_stats);
                  Tensor dx_only = on(dx0, d), none;
                  TG_DISPATCH(d, batch_norm_backward, on(dy, d), xd, gd, mean, invstd, dx_only, none, none,
                              batch_stats);
                  return Outputs{y, mean, invstd, rm, rv, dx, dg, db, dx_only};
                }, dt == DType::f64 ? 1e-9 : 1e-4, dt == DType::f64 ? 1e-10 : 1e-4);
      }
    }
  }
}

TG_GPU_CASE("pooling: max (indices), avg (padding counts), adaptive avg, backward") {
  const std::vector<std::pair<Shape, Pool2dParams>> cases = {{{2, 3, 8, 8}, {2, 2, 2, 2, 0, 0}},
                                                             {{2, 3, 9, 7}, {3, 3, 2, 2, 1, 1}},
                                                             {{1, 4, 10, 10}, {3, 2, 1, 2, 1, 0}}};
  for (DType dt : kFloating) {
    for (const auto& [s, p] : cases) {
      const Shape ys = pool2d_output_shape(s, p);
      const Tensor x = randn(s, dt), dy = randn(ys, dt), dx0 = randn(s, dt);
      compare(std::string("pool ") + shape_str(s) + " " + dtype_name(dt), [&](Device d) {
        Tensor xd = on(x, d), dyd = on(dy, d);
        Tensor ym = Tensor::empty(ys, dt, d), idx = Tensor::empty(ys, DType::i64, d), ya = Tensor::empty(ys, dt, d);
        TG_DISPATCH(d, max_pool2d_forward, xd, ym, idx, p);
        TG_DISPATCH(d, avg_pool2d_forward, xd, ya, p);
        Tensor dxm = on(dx0, d), dxa = on(dx0, d);
        TG_DISPATCH(d, max_pool2d_backward, dyd, idx, dxm, p);
        TG_DISPATCH(d, avg_pool2d_backward, dyd, dxa, p);
        return Outputs{ym, idx, ya, dxm, dxa};
      }, rtol_of(dt), atol_of(dt));
    }
    for (const auto& [in, out] : std::vector<std::pair<Shape, Shape>>{{{2, 3, 7, 7}, {2, 3, 3, 3}},
                                                                      {{2, 3, 5, 6}, {2, 3, 1, 1}},
                                                                      {{1, 2, 4, 4}, {1, 2, 6, 5}}}) {
      const Tensor x = randn(in, dt), dy = randn(out, dt), dx0 = randn(in, dt);
      compare(std::string("adaptive_avg_pool2d ") + shape_str(in) + " -> " + shape_str(out), [&](Device d) {
        Tensor y = Tensor::empty(out, dt, d), dx = on(dx0, d);
        TG_DISPATCH(d, adaptive_avg_pool2d_forward, on(x, d), y);
        TG_DISPATCH(d, adaptive_avg_pool2d_backward, on(dy, d), dx);
        return Outputs{y, dx};
      }, rtol_of(dt), atol_of(dt));
    }
  }
}

TG_GPU_CASE("softmax, log-softmax, tempered cross-entropy with label smoothing") {
  for (DType dt : kFloating) {
    for (const Shape& s : {Shape{7, 10}, Shape{3, 1000}, Shape{2, 3, 5}}) {
      const Tensor x = randn(s, dt, 0.0, 3.0), dy = randn(s, dt), dx0 = randn(s, dt);
      for (bool log : {false, true}) {
        compare(std::string(log ? "log_softmax " : "softmax ") + shape_str(s) + " " + dtype_name(dt), [&](Device d) {
          Tensor y = Tensor::empty(s, dt, d), dx = on(dx0, d);
          TG_DISPATCH(d, softmax_forward, on(x, d), y, log);
          TG_DISPATCH(d, softmax_backward, on(dy, d), y, dx, log);
          return Outputs{y, dx};
        }, rtol_of(dt), atol_of(dt));
      }
    }
    for (double tau : {1.0, 50.0, 0.5}) {
      for (double smoothing : {0.0, 0.1}) {
        const int64_t N = 33, C = 10;
        const Tensor logits = randn({N, C}, dt, 0.0, 5.0 * tau), labels = randint({N}, 0, C);
        const Tensor dl = randn({N}, dt), dz0 = randn({N, C}, dt);
        compare(std::string("cross_entropy tau ") + std::to_string(tau) + " eps " + std::to_string(smoothing),
                [&](Device d) {
                  Tensor losses = Tensor::empty({N}, dt, d), probs = Tensor::empty({N, C}, dt, d), dz = on(dz0, d);
                  Tensor ld = on(labels, d);
                  TG_DISPATCH(d, cross_entropy_forward, on(logits, d), ld, losses, probs, tau, smoothing);
                  TG_DISPATCH(d, cross_entropy_backward, on(dl, d), probs, ld, dz, tau, smoothing);
                  return Outputs{losses, probs, dz};
                }, rtol_of(dt), atol_of(dt));
      }
    }
  }
}

TG_GPU_CASE("layer norm forward and backward") {
  for (DType dt : kFloating) {
    for (const Shape& s : {Shape{6, 33}, Shape{300, 384}, Shape{2, 4, 7}}) {
      const int64_t cols = s.back();
      const Tensor x = randn(s, dt, 1.0, 2.0), g = randn({cols}, dt, 1.0, 0.3), b = randn({cols}, dt);
      const Tensor dy = randn(s, dt), dx0 = randn(s, dt), dg0 = randn({cols}, dt), db0 = randn({cols}, dt);
      const int64_t rows = numel(s) / cols;
      compare(std::string("layer_norm ") + shape_str(s) + " " + dtype_name(dt), [&](Device d) {
        Tensor xd = on(x, d), gd = on(g, d), y = Tensor::empty(s, dt, d), mean = Tensor::empty({rows}, dt, d),
               invstd = Tensor::empty({rows}, dt, d);
        TG_DISPATCH(d, layer_norm_forward, xd, gd, on(b, d), y, mean, invstd, 1e-5);
        Tensor dx = on(dx0, d), dg = on(dg0, d), db = on(db0, d);
        TG_DISPATCH(d, layer_norm_backward, on(dy, d), xd, gd, mean, invstd, dx, dg, db);
        return Outputs{y, mean, invstd, dx, dg, db};
      }, dt == DType::f64 ? 1e-9 : 1e-4, dt == DType::f64 ? 1e-10 : 1e-4);
    }
  }
}

TG_GPU_CASE("shape and indexing: permute, slice, index_select/add, gather/scatter_add, one_hot") {
  for (DType dt : kFloating) {
    const Tensor x = randn({3, 4, 5, 6}, dt);
    compare("permute", [&](Device d) {
      Tensor y = Tensor::empty({5, 3, 6, 4}, dt, d);
      TG_DISPATCH(d, permute, on(x, d), y, std::vector<int64_t>{2, 0, 3, 1});
      return Outputs{y};
    }, 0, 0);
    const Tensor dy = randn({3, 2, 5, 6}, dt), dx0 = randn({3, 4, 5, 6}, dt);
    compare("slice", [&](Device d) {
      Tensor y = Tensor::empty({3, 2, 5, 6}, dt, d), dx = on(dx0, d);
      TG_DISPATCH(d, slice_forward, on(x, d), y, 1, 1);
      TG_DISPATCH(d, slice_add, on(dy, d), dx, 1, 1);
      return Outputs{y, dx};
    }, rtol_of(dt), atol_of(dt));
    const Tensor index = Tensor::from_vector<int64_t>({4, 0, 4, 2, 1, 4}, {6});
    const Tensor dyi = randn({3, 4, 6, 6}, dt);
    compare("index_select/index_add", [&](Device d) {
      Tensor y = Tensor::empty({3, 4, 6, 6}, dt, d), dx = on(dx0, d), id = on(index, d);
      TG_DISPATCH(d, index_select, on(x, d), id, y, 2);
      TG_DISPATCH(d, index_add, on(dyi, d), id, dx, 2);
      return Outputs{y, dx};
    }, rtol_of(dt), atol_of(dt));
    const Tensor xg = randn({7, 10}, dt), gidx = randint({7, 4}, 0, 10), dyg = randn({7, 4}, dt),
                 dxg0 = randn({7, 10}, dt);
    compare("gather/scatter_add", [&](Device d) {
      Tensor y = Tensor::empty({7, 4}, dt, d), dx = on(dxg0, d), id = on(gidx, d);
      TG_DISPATCH(d, gather, on(xg, d), id, y);
      TG_DISPATCH(d, scatter_add, on(dyg, d), id, dx);
      return Outputs{y, dx};
    }, rtol_of(dt), atol_of(dt));
    const Tensor labels = randint({9}, 0, 5);
    compare("one_hot", [&](Device d) {
      Tensor y = Tensor::empty({9, 5}, dt, d);
      TG_DISPATCH(d, one_hot, on(labels, d), y);
      return Outputs{y};
    }, 0, 0);
  }
}

TG_GPU_CASE("optimizers: SGD (momentum, Nesterov, weight decay) and Adam/AdamW") {
  for (DType dt : kFloating) {
    const Tensor p0 = randn({1000}, dt), g = randn({1000}, dt), buf0 = randn({1000}, dt), v0 = randu({1000}, 0, 1, dt);
    for (const SgdParams& sp : {SgdParams{0.1, 0.0, 0.0, 0.0, false, false}, SgdParams{0.1, 0.9, 0.0, 5e-4, false, true},
                                SgdParams{0.05, 0.9, 0.1, 1e-4, false, false}, SgdParams{0.1, 0.9, 0.0, 5e-4, true, false}}) {
      compare("sgd_step", [&](Device d) {
        Tensor p = on(p0, d), buf = sp.momentum != 0 ? on(buf0, d) : Tensor();
        TG_DISPATCH(d, sgd_step, on(g, d), p, buf, sp);
        return sp.momentum != 0 ? Outputs{p, buf} : Outputs{p};
      }, rtol_of(dt), atol_of(dt));
    }
    for (bool decoupled : {false, true}) {
      AdamParams ap;
      ap.lr = 1e-2;
      ap.weight_decay = 0.05;
      ap.decoupled = decoupled;
      ap.step = 3;
      compare(decoupled ? "adamw_step" : "adam_step", [&](Device d) {
        Tensor p = on(p0, d), m = on(buf0, d), v = on(v0, d);
        TG_DISPATCH(d, adam_step, on(g, d), p, m, v, ap);
        return Outputs{p, m, v};
      }, rtol_of(dt), dt == DType::f64 ? 1e-10 : 1e-5);
    }
  }
}

TG_GPU_CASE("runtime: copies round-trip and the caching allocator reuses blocks") {
  const Tensor x = randn({12345});
  CHECK(x.to(Device::cuda()).cpu().to_vector<float>() == x.to_vector<float>());
  CHECK(x.to(Device::cuda()).clone().cpu().to_vector<float>() == x.to_vector<float>());
  { Tensor warm = Tensor::empty({4096}, DType::f32, Device::cuda()); }
  const size_t mallocs = cuda::cache_stats().malloc_calls;
  for (int i = 0; i < 10; ++i) Tensor t = Tensor::empty({4096}, DType::f32, Device::cuda());
  CHECK(cuda::cache_stats().malloc_calls == mallocs);  // a steady step does not cudaMalloc
  cuda::empty_cache();  // every wholly free segment goes; blocks beside live tensors stay cached
  CHECK(cuda::cache_stats().releasable_bytes == 0);
}

#endif  // TAUGRAD_CUDA
