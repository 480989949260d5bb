// The loss this study is about: the tempered cross-entropy L = CE(z / tau, y) = -log softmax(z / tau)_y,
// and its gradient (the paper's Eqs. 4-6)
//     dL/dz = (softmax(z / tau) - onehot(y)) / tau.
// A small tau sharpens softmax towards the argmax; a large one flattens it towards uniform and shrinks
// the gradient by 1/tau. For the logits z = [1, 5, 7, 10] with label 0, at tau = 0.1 ... 10000, this
// program computes L, softmax(z / tau) and dL/dz with taugrad (the fused op cross_entropy, its
// backward through loss.backward()) in float64, prints them, and checks each against the closed form
// evaluated here by plain loops. Exits 1 if any disagrees.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "autograd/ops.h"
#include "tensor/ops.h"

using namespace tg;

namespace {

// The closed form, shifted by the largest logit so that exp never overflows.
struct ClosedForm {
  double loss;
  std::vector<double> p, dz;
};
ClosedForm closed_form(const std::vector<double>& z, size_t y, double tau) {
  const double top = *std::max_element(z.begin(), z.end());
  double total = 0;
  for (double v : z) total += std::exp((v - top) / tau);
  ClosedForm c{(top - z[y]) / tau + std::log(total), {}, {}};
  for (size_t i = 0; i < z.size(); ++i) {
    c.p.push_back(std::exp((z[i] - top) / tau) / total);
    c.dz.push_back((c.p[i] - (i == y ? 1.0 : 0.0)) / tau);
  }
  return c;
}

// Agreement to float64 precision: relative, with an absolute floor of `floor`.
bool agree(const std::vector<double>& got, const std::vector<double>& want, double floor) {
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= 1e-9 * std::abs(want[i]) + floor)) return false;
  return true;
}

void print(const char* name, const std::vector<double>& v) {
  std::printf("  %-15s [", name);
  for (size_t i = 0; i < v.size(); ++i) std::printf("%s%.6g", i ? ", " : "", v[i]);
  std::printf("]\n");
}

}  // namespace

int main() {
  const std::vector<double> z = {1, 5, 7, 10};
  const size_t label = 0;
  bool ok = true;
  for (double tau : {0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0}) {
    Variable logits(Tensor::from_vector(z, {1, 4}), true);  // float64, a leaf that wants its gradient
    Variable loss = cross_entropy(logits, Tensor::from_vector<int64_t>({static_cast<int64_t>(label)}, {1}), tau);
    loss.backward();
    const std::vector<double> p = softmax(mul(logits.data(), 1 / tau)).to_vector<double>();
    const std::vector<double> dz = logits.grad().to_vector<double>();

    const ClosedForm want = closed_form(z, label, tau);
    // dz_i = (p_i - onehot_i) / tau loses p's last bits to the subtraction when p_i is near 1.
    const bool right = agree({loss.item()}, {want.loss}, 0) && agree(p, want.p, 0) && agree(dz, want.dz, 1e-14 / tau);
    std::printf("tau = %g: loss %.10g%s\n", tau, loss.item(), right ? "" : "   DISAGREES with the closed form:");
    print("softmax(z/tau)", p);
    print("dL/dz", dz);
    if (!right) print("closed form p", want.p), print("closed form dz", want.dz);
    ok = ok && right;
  }
  std::printf("%s\n", ok ? "every value agrees with the closed form" : "FAILED");
  return ok ? 0 : 1;
}
