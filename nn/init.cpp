#include "nn/init.h"

#include <cmath>

#include "tensor/ops.h"

namespace tg::nn::init {

namespace {
int64_t receptive_field(const Tensor& w) {
  TG_CHECK(w.dim() >= 2, "init: fan needs a weight with at least 2 dims, got ", w.str());
  int64_t r = 1;
  for (int64_t d = 2; d < w.dim(); ++d) r *= w.size(d);
  return r;
}
}  // namespace

int64_t fan_in(const Tensor& w) { return w.size(1) * receptive_field(w); }
int64_t fan_out(const Tensor& w) { return w.size(0) * receptive_field(w); }

void uniform_(Tensor& t, double lo, double hi, Generator* gen) {
  t.copy_(uniform(t.shape(), lo, hi, t.dtype(), t.device(), gen));
}

void normal_(Tensor& t, double mean, double std, Generator* gen) {
  t.copy_(normal(t.shape(), mean, std, t.dtype(), t.device(), gen));
}

void trunc_normal_(Tensor& t, double std, double mean, double a, double b, Generator* gen) {
  // Draw on the host in float64 and redraw the entries outside [a, b] from fresh draws, in order:
  // deterministic for a seed, and exact (the accepted values are N(mean, std) conditioned on [a, b]).
  std::vector<double> v = normal(t.shape(), mean, std, DType::f64, Device::cpu(), gen).to_vector<double>();
  for (int round = 0; round < 1000; ++round) {
    std::vector<size_t> bad;
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] < a || v[i] > b) bad.push_back(i);
    if (bad.empty()) break;
    std::vector<double> fresh =
        normal({static_cast<int64_t>(bad.size())}, mean, std, DType::f64, Device::cpu(), gen).to_vector<double>();
    for (size_t k = 0; k < bad.size(); ++k) v[bad[k]] = fresh[k];
  }
  t.copy_(Tensor::from_vector(v, t.shape()).to(t.dtype()));
}

void constant_(Tensor& t, double value) { t.fill_(value); }

void kaiming_normal_(Tensor& w, FanMode mode, double a, Generator* gen) {
  const double fan = static_cast<double>(mode == FanMode::fan_in ? fan_in(w) : fan_out(w));
  normal_(w, 0.0, std::sqrt(2.0 / (1.0 + a * a)) / std::sqrt(fan), gen);
}

void kaiming_uniform_(Tensor& w, double a, FanMode mode, Generator* gen) {
  const double fan = static_cast<double>(mode == FanMode::fan_in ? fan_in(w) : fan_out(w));
  const double bound = std::sqrt(2.0 / (1.0 + a * a)) * std::sqrt(3.0 / fan);
  uniform_(w, -bound, bound, gen);
}

void torch_default_(Tensor& w, Tensor* bias, Generator* gen) {
  kaiming_uniform_(w, std::sqrt(5.0), FanMode::fan_in, gen);
  if (bias && bias->defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in(w)));
    uniform_(*bias, -bound, bound, gen);
  }
}

}  // namespace tg::nn::init
