// The gradient check (DESIGN.md §5, tier 1): backward against central differences in float64.
//
// For f: inputs -> output, let L(x) = <r, f(x)> with a fixed random r. When the Jacobian is small
// (inputs x outputs <= kFullJacobian), every entry is checked: column j numerically by perturbing
// input element j, row k analytically by grad() seeded with e_k. Otherwise each input is checked
// along random directions v: (L(x + hv) - L(x - hv)) / 2h against <dL/dx, v>.
// Error of an entry: |analytic - numeric| / max(|analytic|, |numeric|, 1e-2).
// Inputs should sit away from kinks (relu at 0, ties in max): use away_from_kinks().
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace tg::testing {

using Fn = std::function<Variable(const std::vector<Variable>&)>;

// Worst error seen per function name, printed at the end of the test run (tests/main.cpp).
inline std::map<std::string, double>& gradcheck_report() {
  static std::map<std::string, double> report;
  return report;
}

// A float64 tensor of uniform values in [lo, hi), from a fixed seed.
inline Tensor rand64(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  Generator g(seed);
  return uniform(shape, lo, hi, DType::f64, Device::cpu(), &g);
}

// Moves values within `margin` of 0 out to +-margin (so relu, abs, sign have no kink nearby).
inline Tensor away_from_kinks(Tensor t, double margin = 0.05) {
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (std::fabs(p[i]) < margin) p[i] = p[i] < 0 ? -margin - std::fabs(p[i]) : margin + p[i];
  return t;
}

inline double entry_error(double analytic, double numeric) {
  return std::fabs(analytic - numeric) / std::max({std::fabs(analytic), std::fabs(numeric), 1e-2});
}

struct GradcheckOptions {
  double h = 1e-6;
  double tolerance = 1e-6;
  int64_t full_jacobian_limit = 4096;
  int directions = 6;
  std::vector<bool> check;  // per input; empty = all floating inputs
};

// Returns the worst entry error over all checked inputs, and records it under `name`.
inline double gradcheck(const std::string& name, const Fn& f, std::vector<Tensor> inputs,
                        GradcheckOptions opt = {}) {
  std::vector<Variable> vars;
  std::vector<bool> check(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    check[i] = (opt.check.empty() || opt.check[i]) && inputs[i].dtype() == DType::f64;
    vars.emplace_back(inputs[i], check[i]);
  }
  Variable y = f(vars);
  REQUIRE_MESSAGE(y.dtype() == DType::f64, name, ": gradcheck needs a float64 output");
  const int64_t ny = y.numel();
  Tensor r = rand64(y.shape(), 12345);
  auto loss_at = [&](const std::vector<Tensor>& xs) {
    NoGradGuard ng;
    std::vector<Variable> vs;
    for (const Tensor& x : xs) vs.emplace_back(x);
    return sum(mul(f(vs).data(), r)).item();
  };
  auto output_at = [&](const std::vector<Tensor>& xs) {
    NoGradGuard ng;
    std::vector<Variable> vs;
    for (const Tensor& x : xs) vs.emplace_back(x);
    return f(vs).data().clone();
  };
  double worst = 0.0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!check[i]) continue;
    const int64_t nx = inputs[i].numel();
    std::vector<Tensor> xs = inputs;
    if (nx * ny <= opt.full_jacobian_limit) {
      // Full Jacobian: J[k][j] = d y_k / d x_j.
      std::vector<double> numeric(static_cast<size_t>(nx * ny));
      for (int64_t j = 0; j < nx; ++j) {
        Tensor xp = inputs[i].clone(), xm = inputs[i].clone();
        xp.data<double>()[j] += opt.h;
        xm.data<double>()[j] -= opt.h;
        xs[i] = xp;
        std::vector<double> yp = output_at(xs).to_vector<double>();
        xs[i] = xm;
        std::vector<double> ym = output_at(xs).to_vector<double>();
        for (int64_t k = 0; k < ny; ++k) numeric[k * nx + j] = (yp[k] - ym[k]) / (2 * opt.h);
      }
      for (int64_t k = 0; k < ny; ++k) {
        Variable yk = f(vars);
        Tensor seed = Tensor::zeros(yk.shape(), DType::f64);
        seed.data<double>()[k] = 1.0;
        std::vector<double> row = grad({yk}, {vars[i]}, {seed}, true)[0].to_vector<double>();
        for (int64_t j = 0; j < nx; ++j) worst = std::max(worst, entry_error(row[j], numeric[k * nx + j]));
      }
    } else {
      // Random directions through L = <r, f>.
      Tensor dx = grad({f(vars)}, {vars[i]}, {r}, true)[0];
      for (int d = 0; d < opt.directions; ++d) {
        Tensor v = rand64(inputs[i].shape(), 1000 + d);
        double analytic = sum(mul(dx, v)).item();
        xs[i] = add(inputs[i], mul(v, opt.h));
        double lp = loss_at(xs);
        xs[i] = add(inputs[i], mul(v, -opt.h));
        double lm = loss_at(xs);
        worst = std::max(worst, entry_error(analytic, (lp - lm) / (2 * opt.h)));
      }
    }
  }
  double& rec = gradcheck_report()[name];
  rec = std::max(rec, worst);
  CHECK_MESSAGE(worst <= opt.tolerance, name, ": worst gradient error ", worst, " > ", opt.tolerance);
  return worst;
}

}  // namespace tg::testing
