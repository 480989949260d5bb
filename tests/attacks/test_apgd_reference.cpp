// Tier 3 (DESIGN.md §5): APGD-CE, APGD-DLR and APGD-T against the reference algorithm, autoattack's
// attack_single_run and perturb loops (l_inf), transcribed in PyTorch by tools/apgd_reference.py. Both
// sides attack the same small MLP (weights in the file) from the same start points (ApgdOptions::x_init
// here, the reference's x_init there), so the runs are comparable number for number: in float64 the
// iterates are built from signs, step sizes and projections, which both sides compute exactly alike,
// and every per-example decision (loss increased, best loss improved, misclassified) must agree.
// scripts/test writes the file to build/apgd_reference.safetensors when PyTorch is installed and points
// TAUGRAD_APGD_REFERENCE at it; without it the comparison is skipped (doctest's skip, counted as
// skipped) and the availability case says why.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "attacks/apgd.h"
#include "support/reference.h"
#include "tensor/safetensors.h"

using namespace tg;
using namespace tg::attacks;

namespace {

const char* reference_path() { return testing::reference_file("TAUGRAD_APGD_REFERENCE"); }

struct Agreement {
  int fooled_mismatches = 0;  // examples fooled on one side only
  int x_mismatches = 0;       // examples whose x_adv differs by more than the tolerance
  double max_abs = 0;         // max |ours - reference| over every pixel
};

Agreement compare(const AttackResult& r, const Tensor& ref_x, const Tensor& ref_fooled, double tol) {
  REQUIRE(r.x_adv.shape() == ref_x.shape());
  const int64_t n = ref_x.size(0), d = ref_x.numel() / n;
  std::vector<double> a = r.x_adv.to(DType::f64).to_vector<double>(), b = ref_x.to(DType::f64).to_vector<double>();
  std::vector<uint8_t> fa = r.fooled.to_vector<uint8_t>(), fb = ref_fooled.to_vector<uint8_t>();
  Agreement out;
  for (int64_t i = 0; i < n; ++i) {
    double worst = 0;
    for (int64_t j = 0; j < d; ++j) worst = std::max(worst, std::abs(a[i * d + j] - b[i * d + j]));
    out.max_abs = std::max(out.max_abs, worst);
    out.x_mismatches += worst > tol;
    out.fooled_mismatches += fa[static_cast<size_t>(i)] != fb[static_cast<size_t>(i)];
  }
  return out;
}

}  // namespace

TEST_CASE("apgd reference (tier 3): availability") {
  testing::report_reference("APGD", "TAUGRAD_APGD_REFERENCE", "tools/apgd_reference.py");
}

TEST_CASE("apgd reference (tier 3): APGD-CE, APGD-DLR and APGD-T match autoattack's algorithm" *
          doctest::skip(!reference_path())) {
  SafetensorsFile ref = load_safetensors(reference_path());
  const Tensor& y = ref.at("y");
  const double eps = ref.at("eps").item();
  const int n_iter = static_cast<int>(ref.at("n_iter").to(DType::f64).item());

  struct Case {
    const char* name;
    ApgdLoss loss;
    int n_target_classes;
  };
  const Case cases[] = {{"ce", ApgdLoss::ce, 9}, {"dlr", ApgdLoss::dlr, 9}, {"t1", ApgdLoss::targeted_dlr, 1},
                        {"t9", ApgdLoss::targeted_dlr, 9}};
  for (DType dtype : {DType::f64, DType::f32}) {
    const std::string tag = dtype == DType::f64 ? "f64" : "f32";
    Variable w1(ref.at("model.w1").to(dtype)), b1(ref.at("model.b1").to(dtype));
    Variable w2(ref.at("model.w2").to(dtype)), b2(ref.at("model.b2").to(dtype));
    ModelFn f = [=](const Variable& x) { return linear(relu(linear(flatten(x), w1, b1)), w2, b2); };
    const Tensor x = ref.at("x").to(dtype);
    for (const Case& c : cases) {
      ApgdOptions o;
      o.eps = eps;
      o.n_iter = n_iter;
      o.loss = c.loss;
      o.n_target_classes = c.n_target_classes;
      o.x_init = ref.at("x_init").to(dtype);
      Generator gen(0);  // unused: the start is given
      AttackResult r = apgd(f, x, y, o, gen);
      const std::string key = tag + "." + c.name;
      // float64: the same decisions give the same iterates, to the bit; 1e-10 leaves room for nothing
      // but a different decision (a step is >= eps / 2^8, far above it).
      const double tol = dtype == DType::f64 ? 1e-10 : 1e-6;
      Agreement a = compare(r, ref.at(key + ".x_adv"), ref.at(key + ".fooled"), tol);
      MESSAGE("APGD ", key, ": fooled on one side only ", a.fooled_mismatches, "/", x.size(0), ", x_adv off by > ",
              tol, " ", a.x_mismatches, "/", x.size(0), ", max |dx| ", a.max_abs);
      if (dtype == DType::f64) {
        CHECK(a.fooled_mismatches == 0);
        CHECK(a.x_mismatches == 0);
      } else {
        // float32: the two sides sum in different orders (Eigen vs PyTorch's GEMM), so a gradient entry
        // near 0 can change sign or a near-tie loss comparison flip, sending an example on another
        // path late in the run (measured: 3-6 of 64 examples, by <= 5.3e-4, and no outcome differed;
        // docs/TESTING.md). The outcome may differ for one example at most, the path for 8.
        CHECK(a.fooled_mismatches <= 1);
        CHECK(a.x_mismatches <= 8);
      }
    }
  }
}
