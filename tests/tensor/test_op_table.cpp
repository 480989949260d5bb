// The op table: one entry per op (tests/support/op_table.h says what each entry drives). Adding an
// op means adding an entry here: its inputs, its autograd expression, its reference forward and
// backward (tensor/reference/), and, for a fused op, its composition from primitives.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <tuple>

#include "support/errors.h"
#include "support/op_table.h"
#include "tensor/dispatch.h"
#include "tensor/reference/attention.h"
#include "tensor/reference/batch_norm.h"
#include "tensor/reference/conv2d.h"
#include "tensor/reference/elementwise.h"
#include "tensor/reference/layer_norm.h"
#include "tensor/reference/matmul.h"
#include "tensor/reference/optim.h"
#include "tensor/reference/pool.h"
#include "tensor/reference/reduce.h"
#include "tensor/reference/shape.h"
#include "tensor/reference/softmax.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

using namespace tg;
using namespace tg::testing;
namespace ref = tg::reference;

namespace {

// ---- glue between the autograd API and the reference kernels' views ----

// A copy of a CPU tensor (captured by an entry) on the device and in the dtype of `like`.
Tensor as(const Tensor& t, const Variable& like) {
  return (t.dtype() == DType::f64 ? t.to(like.dtype()) : t).to(like.data().device());
}

struct ReduceView {
  int64_t outer = 1, n = 1, inner = 1;
};
// x viewed as [outer, n, inner] around `axis`; axis -2 (none) reduces everything.
ReduceView reduce_view(const Shape& s, int64_t axis) {
  ReduceView v;
  if (axis == -2) {
    v.n = numel(s);
    return v;
  }
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) (d < axis ? v.outer : d == axis ? v.n : v.inner) *= s[d];
  return v;
}

// The leading (batch) dims of a matmul's output, and an operand as [batch, rows, cols].
Shape matmul_shape(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Shape lead_a(a.shape().begin(), a.shape().end() - 2), lead_b(b.shape().begin(), b.shape().end() - 2);
  Shape out = numel(lead_a) >= numel(lead_b) && lead_a.size() >= lead_b.size() ? lead_a : lead_b;
  out.push_back(ta ? a.size(-1) : a.size(-2));
  out.push_back(tb ? b.size(-2) : b.size(-1));
  return out;
}
Tensor as_batch(const Tensor& t) { return t.reshape({-1, t.size(-2), t.size(-1)}); }

Tensor ref_matmul(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  return ref::matmul(as_batch(a), as_batch(b), ta, tb).reshape(matmul_shape(a, b, ta, tb));
}
Tensors ref_matmul_backward(const Tensor& dy, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  ref::MatmulGrads g = ref::matmul_backward(as_batch(dy), as_batch(a), as_batch(b), ta, tb);
  return {g.da.reshape(a.shape()), g.db.reshape(b.shape())};
}

// dbias of a conv: dy [N, K, P, Q] summed over N, P and Q.
Tensor conv_bias_grad(const Tensor& dy) {
  Tensor over_n = ref::reduce(dy, 1, dy.size(0), dy.numel() / dy.size(0), ReduceOp::sum);
  return ref::reduce(over_n, dy.size(1), dy.size(2) * dy.size(3), 1, ReduceOp::sum).reshape({dy.size(1)});
}

Conv2dParams conv_params(int64_t stride, int64_t pad) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return p;
}

Pool2dParams pool_params(int64_t kh, int64_t kw, int64_t stride, int64_t pad) {
  Pool2dParams p;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return p;
}

// The tempered CE with label smoothing from primitives: -sum_j t_j log_softmax(z / tau)_j with
// t = (1 - eps) onehot(y) + eps / C, as the label's term (gather) plus the mean term.
Variable ce_from_gather(const Variable& z, const Tensor& labels, double tau, double eps) {
  const int64_t n = z.size(0), c = z.size(1);
  Variable logp = log_softmax(mul(z, 1.0 / tau));
  Variable picked = reshape(gather(logp, labels.reshape({n, 1})), {n});
  return add(mul(picked, -(1.0 - eps)), mul(sum(logp, {1}), -eps / static_cast<double>(c)));
}

// Layer norm from primitives: (x - mean) / sqrt(biased var + eps) gamma + beta over the last axis.
Variable layer_norm_composed(const std::vector<Variable>& v, double eps) {
  Variable centered = sub(v[0], mean(v[0], {-1}, true));
  Variable y = mul(centered, unary(UnaryOp::rsqrt, add(var(v[0], {-1}, 0, true), eps)));
  return add(mul(y, v[1]), v[2]);
}

// ---- the entries, by family ----

void add_elementwise(std::vector<OpCase>& t) {
  for (UnaryOp op : {UnaryOp::neg, UnaryOp::exp, UnaryOp::abs, UnaryOp::relu, UnaryOp::gelu, UnaryOp::tanh,
                     UnaryOp::sigmoid, UnaryOp::square, UnaryOp::log, UnaryOp::sqrt, UnaryOp::rsqrt, UnaryOp::reciprocal}) {
    const bool positive = op == UnaryOp::log || op == UnaryOp::sqrt || op == UnaryOp::rsqrt || op == UnaryOp::reciprocal;
    t.push_back({unary_name(op), {positive ? in({2, 5}, 0.2, 3.0) : kinked_in({2, 5})},
                 [op](auto& v) { return unary(op, v[0]); }, [op](auto& x) { return ref::unary(x[0], op); },
                 [op](auto& dy, auto& x) { return Tensors{ref::unary_backward(dy, x[0], op)}; }});
  }
  t.push_back({"affine", {in({2, 5})}, [](auto& v) { return affine(v[0], -1.5, 0.25); },
               [](auto& x) { return ref::affine(x[0], -1.5, 0.25); },
               [](auto& dy, auto&) { return Tensors{ref::affine(dy, -1.5, 0.0)}; }});
  // cast through float64 and back: exact in both dtypes, two Cast nodes whose backward casts dy back
  // (the rounding casts to bfloat16 are checked against reference::round_to_bf16 in test_bf16.cpp).
  t.push_back({"cast (to float64 and back)", {in({2, 5})},
               [](auto& v) { return cast(cast(v[0], DType::f64), v[0].dtype()); }, [](auto& x) { return x[0]; },
               [](auto& dy, auto&) { return Tensors{dy}; }});
  t.push_back({"pow", {in({2, 5}, 0.2, 3.0)}, [](auto& v) { return pow(v[0], 2.5); },
               [](auto& x) { return ref::pow_scalar(x[0], 2.5); },
               [](auto& dy, auto& x) { return Tensors{ref::pow_scalar_backward(dy, x[0], 2.5)}; }});
  t.push_back({"clamp", {in({2, 5}, -2.0, 2.0)}, [](auto& v) { return clamp(v[0], -1.0, 1.0); },
               [](auto& x) { return ref::clamp(x[0], -1.0, 1.0); },
               [](auto& dy, auto& x) { return Tensors{ref::clamp_backward(dy, x[0], -1.0, 1.0)}; }});
  const std::pair<BinaryOp, Variable (*)(const Variable&, const Variable&)> binaries[] = {
      {BinaryOp::add, add}, {BinaryOp::sub, sub}, {BinaryOp::mul, mul}, {BinaryOp::div, div},
      {BinaryOp::maximum, maximum}, {BinaryOp::minimum, minimum}};
  for (auto [op, f] : binaries) {
    // b broadcasts along a's rows; a divisor is a column in [0.5, 2).
    std::vector<Input> inputs = op == BinaryOp::div ? std::vector<Input>{in({3, 4}), in({3, 1}, 0.5, 2.0)}
                                                    : std::vector<Input>{in({3, 4}), in({4})};
    t.push_back({binary_name(op), inputs, [f](auto& v) { return f(v[0], v[1]); },
                 [op](auto& x) { return ref::binary(x[0], x[1], op); },
                 [op](auto& dy, auto& x) {
                   ref::BinaryGrads g = ref::binary_backward(dy, x[0], x[1], op);
                   return Tensors{g.da, g.db};
                 }});
  }
  const Tensor cond = gt(rand64({3, 4}, 4), Tensor::scalar(0.0, DType::f64));
  t.push_back({"where", {in({3, 4}), in({4})}, [cond](auto& v) { return where(as(cond, v[0]), v[0], v[1]); },
               [cond](auto& x) { return ref::where(cond, x[0], x[1]); },
               [cond](auto& dy, auto& x) {
                 ref::BinaryGrads g = ref::where_backward(dy, cond, x[0], x[1]);
                 return Tensors{g.da, g.db};
               }});
}

void add_reductions(std::vector<OpCase>& t) {
  struct Reduction {
    const char* name;
    ReduceOp op;
    int64_t axis;  // -2: every axis
    bool keepdim;
  };
  for (Reduction r : {Reduction{"sum", ReduceOp::sum, -2, false}, Reduction{"sum", ReduceOp::sum, 1, false},
                      Reduction{"sum", ReduceOp::sum, 2, true}, Reduction{"mean", ReduceOp::mean, -2, false},
                      Reduction{"mean", ReduceOp::mean, 1, true}, Reduction{"max", ReduceOp::max, 1, false},
                      Reduction{"max", ReduceOp::max, 2, true}}) {
    auto build = [r](auto& v) {
      if (r.axis == -2) return r.op == ReduceOp::sum ? sum(v[0]) : mean(v[0]);
      if (r.op == ReduceOp::max) return max(v[0], r.axis, r.keepdim);
      return r.op == ReduceOp::sum ? sum(v[0], {r.axis}, r.keepdim) : mean(v[0], {r.axis}, r.keepdim);
    };
    auto forward = [r, build](auto& x) {
      const ReduceView w = reduce_view(x[0].shape(), r.axis);
      NoGradGuard ng;
      const std::vector<Variable> v{Variable(x[0])};
      return ref::reduce(x[0], w.outer, w.n, w.inner, r.op).reshape(build(v).shape());
    };
    auto backward = [r](auto& dy, auto& x) {
      const ReduceView w = reduce_view(x[0].shape(), r.axis);
      return Tensors{ref::reduce_backward(dy, x[0], w.outer, w.n, w.inner, r.op)};
    };
    t.push_back({std::string(r.name) + " (axis " + std::to_string(r.axis) + ")", {in({3, 4, 5})}, build, forward, backward});
  }
  for (int64_t correction : {0, 1}) {
    t.push_back({"var (correction " + std::to_string(correction) + ")", {in({3, 4, 5})},
                 [correction](auto& v) { return var(v[0], {1}, correction); },
                 [correction](auto& x) { return ref::variance(x[0], 3, 4, 5, correction); },
                 [correction](auto& dy, auto& x) { return Tensors{ref::variance_backward(dy, x[0], 3, 4, 5, correction)}; }});
  }
}

void add_matmuls(std::vector<OpCase>& t) {
  struct Shapes {
    const char* what;
    Shape a, b;  // of a and b before any transpose
  };
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      auto mat = [](bool trans, int64_t r, int64_t c, Shape batch) {
        batch.push_back(trans ? c : r);
        batch.push_back(trans ? r : c);
        return batch;
      };
      for (const Shapes& s : {Shapes{"", mat(ta, 3, 4, {}), mat(tb, 4, 5, {})},
                              Shapes{" batched", mat(ta, 3, 4, {2}), mat(tb, 4, 5, {2})},
                              Shapes{" 2-D a broadcast", mat(ta, 3, 4, {}), mat(tb, 4, 2, {2, 2})},
                              Shapes{" 2-D b broadcast", mat(ta, 3, 4, {2, 2}), mat(tb, 4, 2, {})},
                              Shapes{" batch-1 broadcast", mat(ta, 3, 4, {1}), mat(tb, 4, 2, {3})}}) {
        t.push_back({std::string("matmul") + s.what + (ta ? " a^T" : "") + (tb ? " b^T" : ""), {in(s.a), in(s.b)},
                     [ta, tb](auto& v) { return matmul(v[0], v[1], ta, tb); },
                     [ta, tb](auto& x) { return ref_matmul(x[0], x[1], ta, tb); },
                     [ta, tb](auto& dy, auto& x) { return ref_matmul_backward(dy, x[0], x[1], ta, tb); }});
      }
    }
  }
  // linear: x @ w^T + b, any leading dims (the ViT-S MLP's first layer at the real size).
  for (auto [x, out, real] : {std::tuple{Shape{2, 3, 4}, int64_t{5}, false}, std::tuple{Shape{2, 197, 384}, int64_t{1536}, true},
                              std::tuple{Shape{32, 2048}, int64_t{1000}, true}}) {
    t.push_back({"linear " + shape_str(x), {in(x), in({out, x.back()}), in({out})},
                 [](auto& v) { return linear(v[0], v[1], v[2]); },
                 [](auto& x) { return ref::binary(ref_matmul(x[0], x[1], false, true), x[2], BinaryOp::add); },
                 [out](auto& dy, auto& x) {
                   Tensors g = ref_matmul_backward(dy, x[0], x[1], false, true);
                   g.push_back(ref::reduce(dy, 1, dy.numel() / out, out, ReduceOp::sum).reshape({out}));
                   return g;
                 },
                 nullptr, real, real ? 1e-4 : 1e-5});
  }
}

void add_softmax_and_cross_entropy(std::vector<OpCase>& t) {
  for (bool log : {false, true}) {
    for (auto [shape, real] : {std::pair{Shape{3, 5}, false}, std::pair{Shape{2, 3, 4}, false}, std::pair{Shape{12, 197, 197}, true}}) {
      t.push_back({std::string(log ? "log_softmax " : "softmax ") + shape_str(shape), {in(shape, -2.0, 2.0)},
                   [log](auto& v) { return log ? log_softmax(v[0]) : softmax(v[0]); },
                   [log](auto& x) { return ref::softmax_forward(x[0], log); },
                   [log](auto& dy, auto& x) { return Tensors{ref::softmax_backward(dy, ref::softmax_forward(x[0], log), log)}; },
                   nullptr, real});
    }
  }
  // The tempered CE at the paper's temperatures; logits on the scale tau, so z / tau spans a few units.
  for (double tau : {0.1, 0.5, 1.0, 50.0, 10000.0}) {
    for (double eps : {0.0, 0.1}) {
      for (auto [n, c, real] : {std::tuple{int64_t{4}, int64_t{5}, false}, std::tuple{int64_t{32}, int64_t{1000}, true}}) {
        if (real && eps != 0.0) continue;
        char name[96];
        std::snprintf(name, sizeof name, "cross_entropy_per_sample tau %g eps %g [%lld, %lld]", tau, eps,
                      static_cast<long long>(n), static_cast<long long>(c));
        t.push_back({name, {in({n, c}, -3 * tau, 3 * tau), index_in({n}, c)},
                     [tau, eps](auto& v) { return cross_entropy_per_sample(v[0], v[1].data(), tau, eps); },
                     [tau, eps](auto& x) { return ref::cross_entropy_forward(x[0], x[1], tau, eps).losses; },
                     [tau, eps](auto& dy, auto& x) {
                       Tensor probs = ref::cross_entropy_forward(x[0], x[1], tau, eps).probs;
                       return Tensors{ref::cross_entropy_backward(dy, probs, x[1], tau, eps)};
                     },
                     [tau, eps](auto& v) { return ce_from_gather(v[0], v[1].data(), tau, eps); }, real});
      }
    }
  }
  // The batch mean, what training minimizes: dL/dz = dy (softmax(z / tau) - t) / tau / N.
  t.push_back({"cross_entropy (mean) tau 50 eps 0.1", {in({4, 5}, -150.0, 150.0), index_in({4}, 5)},
               [](auto& v) { return cross_entropy(v[0], v[1].data(), 50.0, 0.1); },
               [](auto& x) {
                 Tensor losses = ref::cross_entropy_forward(x[0], x[1], 50.0, 0.1).losses;
                 return ref::reduce(losses, 1, 4, 1, ReduceOp::mean).reshape({});
               },
               [](auto& dy, auto& x) {
                 Tensor dlosses = Tensor::full({4}, dy.item() / 4, DType::f64);
                 return Tensors{ref::cross_entropy_backward(dlosses, ref::cross_entropy_forward(x[0], x[1], 50.0, 0.1).probs, x[1], 50.0, 0.1)};
               }});
}

void add_normalization(std::vector<OpCase>& t) {
  for (auto [shape, real] : {std::pair{Shape{2, 3, 6}, false}, std::pair{Shape{2, 197, 384}, true}}) {
    const int64_t c = shape.back();
    t.push_back({"layer_norm " + shape_str(shape), {in(shape, -2.0, 2.0), in({c}, 0.5, 1.5), in({c})},
                 [](auto& v) { return layer_norm(v[0], v[1], v[2], 1e-5); },
                 [](auto& x) { return ref::layer_norm_forward(x[0], x[1], x[2], 1e-5).y; },
                 [](auto& dy, auto& x) {
                   ref::LayerNormOutput f = ref::layer_norm_forward(x[0], x[1], x[2], 1e-5);
                   ref::LayerNormGrads g = ref::layer_norm_backward(dy, x[0], x[1], f.saved_mean, f.saved_invstd);
                   return Tensors{g.dx, g.dgamma, g.dbeta};
                 },
                 [](auto& v) { return layer_norm_composed(v, 1e-5); }, real, real ? 1e-4 : 1e-5});
  }
  t.push_back({"layer_norm (no affine)", {in({2, 3, 6}, -2.0, 2.0)},
               [](auto& v) { return layer_norm(v[0], Variable(), Variable(), 1e-5); },
               [](auto& x) { return ref::layer_norm_forward(x[0], Tensor(), Tensor(), 1e-5).y; },
               [](auto& dy, auto& x) {
                 ref::LayerNormOutput f = ref::layer_norm_forward(x[0], Tensor(), Tensor(), 1e-5);
                 return Tensors{ref::layer_norm_backward(dy, x[0], Tensor(), f.saved_mean, f.saved_invstd).dx};
               }});
  for (auto [shape, real] : {std::pair{Shape{3, 2, 2, 3}, false}, std::pair{Shape{8, 256, 14, 14}, true}}) {
    const int64_t c = shape[1];
    // Each evaluation starts from the same running statistics, so every call computes one function.
    auto train = [c](auto& v) {
      Tensor rm = Tensor::zeros({c}, v[0].dtype(), v[0].data().device());
      Tensor rv = Tensor::ones({c}, v[0].dtype(), v[0].data().device());
      return batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1, 1e-5);
    };
    auto stats = [c] { return Tensors{Tensor::zeros({c}, DType::f64), Tensor::ones({c}, DType::f64)}; };
    t.push_back({"batch_norm(train) " + shape_str(shape), {in(shape, -2.0, 2.0), in({c}, 0.5, 1.5), in({c})}, train,
                 [stats](auto& x) { return ref::batch_norm_forward_train(x[0], x[1], x[2], stats()[0], stats()[1], 0.1, 1e-5).y; },
                 [stats](auto& dy, auto& x) {
                   ref::BatchNormTrainOutput f = ref::batch_norm_forward_train(x[0], x[1], x[2], stats()[0], stats()[1], 0.1, 1e-5);
                   ref::BatchNormGrads g = ref::batch_norm_backward(dy, x[0], x[1], f.saved_mean, f.saved_invstd, true);
                   return Tensors{g.dx, g.dgamma, g.dbeta};
                 },
                 nullptr, real, real ? 1e-4 : 1e-5});
  }
  const Tensor rm = rand64({2}, 9), rv = rand64({2}, 10, 0.5, 2.0);
  t.push_back({"batch_norm(eval)", {in({3, 2, 2, 3}, -2.0, 2.0), in({2}, 0.5, 1.5), in({2})},
               [rm, rv](auto& v) {
                 Tensor m = as(rm, v[0]).clone(), s = as(rv, v[0]).clone();
                 return batch_norm(v[0], v[1], v[2], m, s, false, 0.1, 1e-5);
               },
               [rm, rv](auto& x) { return ref::batch_norm_forward_eval(x[0], x[1], x[2], rm, rv, 1e-5); },
               [rm, rv](auto& dy, auto& x) {
                 Tensor invstd = ref::unary(ref::affine(rv, 1.0, 1e-5), UnaryOp::rsqrt);
                 ref::BatchNormGrads g = ref::batch_norm_backward(dy, x[0], x[1], rm, invstd, false);
                 return Tensors{g.dx, g.dgamma, g.dbeta};
               }});
}

void add_convolutions(std::vector<OpCase>& t) {
  struct Conv {
    Shape x, w;
    int64_t stride, pad;
    bool bias, real;
  };
  for (const Conv& cv : {Conv{{2, 3, 5, 4}, {4, 3, 3, 3}, 1, 1, true, false}, Conv{{2, 3, 5, 4}, {4, 3, 3, 3}, 2, 1, true, false},
                         Conv{{2, 3, 5, 4}, {4, 3, 3, 3}, 1, 0, false, false},
                         Conv{{2, 8, 4, 3}, {2, 8, 3, 3}, 1, 1, true, false},  // C >= 8: the flipped-weight backward data
                         Conv{{2, 3, 5, 4}, {2, 3, 1, 1}, 1, 0, true, false},  // pointwise
                         // ResNet-50: the stem, a 3x3 of stage 3, a strided 1x1 downsample.
                         Conv{{2, 3, 224, 224}, {64, 3, 7, 7}, 2, 3, false, true},
                         Conv{{2, 256, 14, 14}, {256, 256, 3, 3}, 1, 1, false, true},
                         Conv{{2, 512, 28, 28}, {1024, 512, 1, 1}, 2, 0, false, true}}) {
    const Conv2dParams p = conv_params(cv.stride, cv.pad);
    std::vector<Input> inputs{in(cv.x), in(cv.w)};
    if (cv.bias) inputs.push_back(in({cv.w[0]}));
    char name[128];
    std::snprintf(name, sizeof name, "conv2d x %s w %s stride %lld pad %lld%s", shape_str(cv.x).c_str(),
                  shape_str(cv.w).c_str(), static_cast<long long>(cv.stride), static_cast<long long>(cv.pad),
                  cv.bias ? " bias" : "");
    t.push_back({name, inputs, [p](auto& v) { return conv2d(v[0], v[1], v.size() > 2 ? v[2] : Variable(), p); },
                 [p](auto& x) {
                   Tensor y = ref::conv2d_forward(x[0], x[1], p);
                   return x.size() > 2 ? ref::binary(y, x[2].reshape({-1, 1, 1}), BinaryOp::add) : y;
                 },
                 [p](auto& dy, auto& x) {
                   Tensors g{ref::conv2d_backward_data(dy, x[1], x[0].shape(), p), ref::conv2d_backward_filter(dy, x[0], x[1].shape(), p)};
                   if (x.size() > 2) g.push_back(conv_bias_grad(dy));
                   return g;
                 },
                 nullptr, cv.real, cv.real ? 1e-4 : 1e-5});
  }
}

void add_pooling(std::vector<OpCase>& t) {
  // Distinct random values: no ties in max pooling.
  for (auto [x, p, real] : {std::tuple{Shape{2, 2, 5, 6}, pool_params(2, 2, 2, 0), false},
                            std::tuple{Shape{2, 2, 5, 6}, pool_params(3, 3, 2, 1), false},  // overlapping
                            std::tuple{Shape{2, 64, 112, 112}, pool_params(3, 3, 2, 1), true}}) {  // ResNet-50's
    t.push_back({"max_pool2d " + shape_str(x) + " k" + std::to_string(p.kernel_h), {in(x)},
                 [p](auto& v) { return max_pool2d(v[0], p); }, [p](auto& x) { return ref::max_pool2d_forward(x[0], p).y; },
                 [p](auto& dy, auto& x) { return Tensors{ref::max_pool2d_backward(dy, ref::max_pool2d_forward(x[0], p).indices, x[0].shape())}; },
                 nullptr, real});
  }
  for (const Pool2dParams& p : {pool_params(2, 2, 2, 0), pool_params(3, 2, 1, 1)}) {
    t.push_back({"avg_pool2d k" + std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w), {in({2, 2, 5, 6})},
                 [p](auto& v) { return avg_pool2d(v[0], p); }, [p](auto& x) { return ref::avg_pool2d_forward(x[0], p); },
                 [p](auto& dy, auto& x) { return Tensors{ref::avg_pool2d_backward(dy, x[0].shape(), p)}; }});
  }
  for (auto [x, oh, ow, real] : {std::tuple{Shape{2, 2, 5, 6}, 1, 1, false}, std::tuple{Shape{1, 2, 5, 7}, 3, 4, false},
                                 std::tuple{Shape{8, 2048, 7, 7}, 1, 1, true}}) {
    t.push_back({"adaptive_avg_pool2d " + shape_str(x) + " -> " + std::to_string(oh) + "x" + std::to_string(ow), {in(x)},
                 [oh, ow](auto& v) { return adaptive_avg_pool2d(v[0], oh, ow); },
                 [oh, ow](auto& x) { return ref::adaptive_avg_pool2d_forward(x[0], oh, ow); },
                 [](auto& dy, auto& x) { return Tensors{ref::adaptive_avg_pool2d_backward(dy, x[0].shape())}; },
                 nullptr, real});
  }
}

void add_indexing_and_attention(std::vector<OpCase>& t) {
  // x [2, 3, 4]: 5 picks among 4 along dim 2, 3 among 2 along dim 0 (so some repeat).
  for (auto [dim, picks, size] : {std::tuple{int64_t{2}, int64_t{5}, int64_t{4}}, std::tuple{int64_t{0}, int64_t{3}, int64_t{2}}}) {
    t.push_back({"index_select dim " + std::to_string(dim), {in({2, 3, 4}), index_in({picks}, size)},
                 [dim](auto& v) { return index_select(v[0], dim, v[1].data()); },
                 [dim](auto& x) { return ref::index_select(x[0], x[1], dim); },
                 [dim](auto& dy, auto& x) { return Tensors{ref::index_add(dy, x[1], x[0].shape(), dim)}; }});
  }
  t.push_back({"gather", {in({3, 4}), index_in({3, 2}, 4)}, [](auto& v) { return gather(v[0], v[1].data()); },
               [](auto& x) { return ref::gather(x[0], x[1]); },
               [](auto& dy, auto& x) { return Tensors{ref::scatter_add(dy, x[1], x[0].shape())}; }});
  // Attention as the ViT block composes it from primitives, against the reference attention.
  for (auto [b, tq, d, real] : {std::tuple{2, 4, 8, false}, std::tuple{12, 197, 64, true}}) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    const int64_t s = real ? tq : 6;
    t.push_back({"attention [" + std::to_string(b) + ", " + std::to_string(tq) + ", " + std::to_string(d) + "]",
                 {in({b, tq, d}), in({b, s, d}), in({b, s, d})},
                 [scale](auto& v) { return matmul(softmax(mul(matmul(v[0], v[1], false, true), scale)), v[2]); },
                 [scale](auto& x) { return ref::attention_forward(x[0], x[1], x[2], scale).out; },
                 [scale](auto& dy, auto& x) {
                   Tensor probs = ref::attention_forward(x[0], x[1], x[2], scale).probs;
                   ref::AttentionGrads g = ref::attention_backward(dy, x[0], x[1], x[2], probs, scale);
                   return Tensors{g.dq, g.dk, g.dv};
                 },
                 nullptr, real, real ? 1e-4 : 1e-5});
  }
}

const std::vector<OpCase>& op_table() {
  static const std::vector<OpCase> table = [] {
    std::vector<OpCase> t;
    add_elementwise(t);
    add_reductions(t);
    add_matmuls(t);
    add_softmax_and_cross_entropy(t);
    add_normalization(t);
    add_convolutions(t);
    add_pooling(t);
    add_indexing_and_attention(t);
    return t;
  }();
  return table;
}

// ---- the ops that update state: optimizer steps and batch norm's running statistics ----

const std::vector<StateCase>& state_table() {
  static const std::vector<StateCase> table = [] {
    std::vector<StateCase> t;
    // Inputs: param, grad, momentum buffer.
    for (auto [momentum, nesterov, weight_decay, first] :
         {std::tuple{0.0, false, 0.0, false}, std::tuple{0.9, false, 5e-4, false}, std::tuple{0.9, true, 5e-4, false},
          std::tuple{0.9, false, 0.0, true}}) {
      SgdParams p;
      p.lr = 0.1;
      p.momentum = momentum;
      p.dampening = 0.0;
      p.nesterov = nesterov;
      p.weight_decay = weight_decay;
      p.first_step = first;
      char name[96];
      std::snprintf(name, sizeof name, "sgd_step momentum %g nesterov %d wd %g first %d", momentum, nesterov, weight_decay, first);
      t.push_back({name, {in({3, 7}), in({3, 7}), in({3, 7})},
                   [p](Tensors& x) {
                     Tensor buf = p.momentum != 0 ? x[2] : Tensor();
                     TG_DISPATCH(x[0].device(), sgd_step, x[1], x[0], buf, p);
                     return p.momentum != 0 ? Tensors{x[0], x[2]} : Tensors{x[0]};
                   },
                   [p](const Tensors& x) {
                     ref::SgdState s = ref::sgd_step(x[1], x[0], x[2], p);
                     return p.momentum != 0 ? Tensors{s.param, s.momentum_buf} : Tensors{s.param};
                   }});
    }
    // Inputs: param, grad, exp_avg, exp_avg_sq.
    for (auto [decoupled, weight_decay, step] : {std::tuple{false, 0.0, 1}, std::tuple{false, 1e-2, 7}, std::tuple{true, 5e-2, 3}}) {
      AdamParams p;
      p.lr = 1e-2;
      p.decoupled = decoupled;
      p.weight_decay = weight_decay;
      p.step = step;
      char name[96];
      std::snprintf(name, sizeof name, "%s wd %g step %d", decoupled ? "adamw" : "adam_step", weight_decay, step);
      t.push_back({name, {in({3, 7}), in({3, 7}), in({3, 7}, -0.1, 0.1), in({3, 7}, 0.0, 0.01)},
                   [p](Tensors& x) {
                     TG_DISPATCH(x[0].device(), adam_step, x[1], x[0], x[2], x[3], p);
                     return Tensors{x[0], x[2], x[3]};
                   },
                   [p](const Tensors& x) {
                     ref::AdamState s = ref::adam_step(x[1], x[0], x[2], x[3], p);
                     return Tensors{s.param, s.exp_avg, s.exp_avg_sq};
                   }});
    }
    // Inputs: x, gamma, beta, running mean, running var.
    t.push_back({"batch_norm(train) statistics", {in({3, 2, 2, 3}, -2.0, 2.0), in({2}, 0.5, 1.5), in({2}), in({2}), in({2}, 0.5, 2.0)},
                 [](Tensors& x) {
                   BatchNormOutput o = batch_norm(x[0], x[1], x[2], x[3], x[4], true, 0.1, 1e-5);
                   return Tensors{o.mean, o.invstd, x[3], x[4]};
                 },
                 [](const Tensors& x) {
                   ref::BatchNormTrainOutput o = ref::batch_norm_forward_train(x[0], x[1], x[2], x[3], x[4], 0.1, 1e-5);
                   return Tensors{o.saved_mean, o.saved_invstd, o.running_mean, o.running_var};
                 }});
    return t;
  }();
  return table;
}

}  // namespace

TEST_CASE("op table: float64 gradient check of every op (tier 1)") {
  for (const OpCase& c : op_table()) {
    if (c.real) continue;
    CAPTURE(c.name);
    gradcheck(c.name.substr(0, c.name.find(' ')), c.build, make_inputs(c.name, c.inputs));  // reported by op
  }
}

TEST_CASE("op table: fast CPU kernels against the reference, float64 and float32, forward and backward") {
  for (const OpCase& c : op_table()) {
    if (c.real) continue;
    for (DType dt : {DType::f64, DType::f32}) check_against_reference(c, dt, Device::cpu());
  }
  for (const StateCase& c : state_table())
    for (DType dt : {DType::f64, DType::f32}) check_state_case(c, dt, Device::cpu());
}

TEST_CASE("op table: fused ops against their composition from primitives (tempered CE at tau 0.1 to 10000, layer norm)") {
  int fused = 0;
  for (const OpCase& c : op_table()) {
    if (c.real || !c.composed) continue;
    ++fused;
    for (DType dt : {DType::f64, DType::f32}) check_against_composed(c, dt, Device::cpu());
  }
  CHECK(fused >= 11);
}

TEST_CASE("reference kernels refuse what they cannot read, naming the kernel and the fix") {
  const std::string f32 = error_of([] { ref::unary(Tensor::ones({2}), UnaryOp::exp); });
  CHECK(f32.find("reference::unary") != std::string::npos);
  CHECK(f32.find("float32") != std::string::npos);
  CHECK(f32.find(".to(DType::f64)") != std::string::npos);
  const std::string inner = error_of([] { ref::matmul(rand64({2, 3}, 1), rand64({4, 5}, 2), false, false); });
  CHECK(inner.find("inner sizes differ") != std::string::npos);
  const std::string index = error_of([] { ref::gather(rand64({2, 3}, 1), Tensor::from_vector<int64_t>({0, 3}, {2, 1})); });
  CHECK(index.find("index 3 at 1 is outside [0, 3)") != std::string::npos);
}

#ifdef TAUGRAD_CUDA
// Tier 2: on a GPU, every entry (small and real shapes) in float32, TF32 off.
TEST_CASE("cuda: op table: CUDA kernels against the reference, small and real ResNet-50 / ViT-S shapes (tier 2)" * doctest::skip(!cuda_is_available())) {
  const bool tf32 = cuda::allow_tf32();
  cuda::set_allow_tf32(false);
  for (const OpCase& c : op_table()) {
    check_against_reference(c, DType::f32, Device::cuda());
    if (c.composed) check_against_composed(c, DType::f32, Device::cuda());
  }
  for (const StateCase& c : state_table()) check_state_case(c, DType::f32, Device::cuda());
  cuda::set_allow_tf32(tf32);
}
#endif
