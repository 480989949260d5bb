// The op table (DESIGN.md §5, tiers 1 and 2; the model is ggml's tests/test-backend-ops.cpp): one
// entry per op drives every check of it.
//   OpCase: a differentiable op. `build` runs it through autograd (the fast kernels, forward and
//     backward); `forward`/`backward` are the float64 reference (tensor/reference/). Drives
//     (a) the float64 gradient check, (b) fast CPU against the reference in float64 and float32,
//     (c) CUDA against the reference (tier 2), (d) a fused op against `composed`, the same math
//     from primitives.
//   StateCase: an op that updates state instead (optimizer steps, running statistics): drives (b), (c).
// Errors are relative to the largest reference element: max |got - want| / max |want|.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "support/gradcheck.h"

namespace tg::testing {

using Tensors = std::vector<Tensor>;
using Build = std::function<Variable(const std::vector<Variable>&)>;

struct Input {
  Shape shape;
  double lo = -1.0, hi = 1.0;    // uniform values in [lo, hi); for an index, integers in [lo, hi)
  bool index = false;            // int64 labels or indices: no gradient
  bool away_from_kinks = false;  // |x| >= 0.05 (relu, abs, clamp at 0)
};
inline Input in(Shape s, double lo = -1.0, double hi = 1.0) { return {std::move(s), lo, hi}; }
inline Input index_in(Shape s, int64_t n) { return {std::move(s), 0.0, static_cast<double>(n), true}; }
inline Input kinked_in(Shape s, double lo = -2.0, double hi = 2.0) { return {std::move(s), lo, hi, false, true}; }

struct OpCase {
  std::string name;
  std::vector<Input> inputs;
  Build build;                                                    // through autograd
  std::function<Tensor(const Tensors&)> forward;                  // the reference output
  std::function<Tensors(const Tensor& dy, const Tensors&)> backward;  // dL/d(each floating input), L = <dy, y>
  Build composed = nullptr;  // for a fused op: the same math from primitives
  bool real = false;         // a real model's shapes (ResNet-50, ViT-S/16): tier 2 only
  double f32_tol = 1e-5;
};

struct StateCase {
  std::string name;
  std::vector<Input> inputs;
  std::function<Tensors(Tensors&)> fast;  // runs the op on its inputs (any device and dtype); the outputs
  std::function<Tensors(const Tensors&)> reference;
  bool real = false;
  double f32_tol = 1e-5;
};

// float64 agrees to rounding; float32 to the entry's f32_tol on the CPU, and to 10x that on a GPU,
// where cuBLAS and cuDNN sum in other orders (cuDNN's Winograd and FFT convolutions round more).
inline double tolerance(DType dt, Device d, double f32_tol) {
  return dt == DType::f64 ? 1e-12 : d.is_cuda() ? 10 * f32_tol : f32_tol;
}

// The inputs of a case, float64 (or int64) on the CPU, from seeds fixed by the case's name.
inline Tensors make_inputs(const std::string& name, const std::vector<Input>& inputs) {
  Tensors out;
  uint64_t seed = std::hash<std::string>{}(name) % 100000;
  for (const Input& spec : inputs) {
    Tensor t = rand64(spec.shape, ++seed, spec.lo, spec.hi);
    if (spec.away_from_kinks) t = away_from_kinks(t);
    if (spec.index) {
      Tensor i = Tensor::empty(spec.shape, DType::i64);
      for (int64_t k = 0; k < t.numel(); ++k) i.data<int64_t>()[k] = static_cast<int64_t>(std::floor(t.data<double>()[k]));
      t = i;
    }
    out.push_back(t);
  }
  return out;
}

inline void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  REQUIRE_MESSAGE(got.defined(), what, ": no output");
  REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": shape ", shape_str(got.shape()), ", reference ",
                  shape_str(want.shape()));
  const std::vector<double> g = got.cpu().to(DType::f64).to_vector<double>(), w = want.cpu().to(DType::f64).to_vector<double>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    diff = std::isnan(g[i]) != std::isnan(w[i]) ? INFINITY : std::max(diff, std::fabs(g[i] - w[i]));
    scale = std::max(scale, std::fabs(w[i]));
  }
  const double err = scale > 0 ? diff / scale : diff;
  CHECK_MESSAGE(err <= tol, what, ": max |got - want| / max |want| = ", err, " > ", tol);
}

// The op through autograd on device d in dtype dt: its output and the gradients of <dy, y> with
// respect to its floating inputs.
inline Tensors run_autograd(const Build& build, const Tensors& inputs, const Tensor& dy, DType dt, Device d) {
  std::vector<Variable> vars, wrt;
  for (const Tensor& t : inputs) {
    const bool floating = t.dtype() == DType::f64;
    vars.emplace_back(floating ? t.to(dt).to(d) : t.to(d), floating);
    if (floating) wrt.push_back(vars.back());
  }
  Variable y = build(vars);
  Tensors out{y.data()};
  for (const Tensor& g : grad({y}, wrt, {dy.to(dt).to(d)})) out.push_back(g);
  return out;
}

// (b), (c): the fast kernels through autograd against the reference, forward and backward.
inline void check_against_reference(const OpCase& c, DType dt, Device d) {
  const Tensors inputs = make_inputs(c.name, c.inputs);
  const Tensor want_y = c.forward(inputs);
  const Tensor dy = rand64(want_y.shape(), 777);
  const Tensors want_grads = c.backward(dy, inputs);
  const Tensors got = run_autograd(c.build, inputs, dy, dt, d);
  REQUIRE_MESSAGE(got.size() == want_grads.size() + 1, c.name, ": ", got.size() - 1, " gradients, reference ",
                  want_grads.size());
  const double tol = tolerance(dt, d, c.f32_tol);
  const std::string where = c.name + " (" + dtype_name(dt) + ", " + d.str() + ")";
  expect_close(got[0], want_y, tol, where + " forward");
  for (size_t i = 0; i < want_grads.size(); ++i)
    expect_close(got[i + 1], want_grads[i], tol, where + " gradient " + std::to_string(i));
}

// (d): the fused op against its composition from primitives, forward and backward.
inline void check_against_composed(const OpCase& c, DType dt, Device d) {
  const Tensors inputs = make_inputs(c.name, c.inputs);
  const Tensor dy = rand64(c.forward(inputs).shape(), 778);
  const Tensors fused = run_autograd(c.build, inputs, dy, dt, d), composed = run_autograd(c.composed, inputs, dy, dt, d);
  const std::string where = c.name + " fused vs composed (" + dtype_name(dt) + ", " + d.str() + ")";
  for (size_t i = 0; i < fused.size(); ++i)
    expect_close(fused[i], composed[i], tolerance(dt, d, c.f32_tol), where + (i ? " gradient " + std::to_string(i - 1) : " forward"));
}

inline void check_state_case(const StateCase& c, DType dt, Device d) {
  const Tensors inputs = make_inputs(c.name, c.inputs);
  const Tensors want = c.reference(inputs);
  Tensors on_device;
  for (const Tensor& t : inputs) on_device.push_back((t.dtype() == DType::f64 ? t.to(dt) : t).to(d).clone());
  const Tensors got = c.fast(on_device);
  REQUIRE(got.size() == want.size());
  const std::string where = c.name + " (" + dtype_name(dt) + ", " + d.str() + ")";
  for (size_t i = 0; i < want.size(); ++i)
    expect_close(got[i], want[i], tolerance(dt, d, c.f32_tol), where + " output " + std::to_string(i));
}

}  // namespace tg::testing
