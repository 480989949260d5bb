// Robust evaluation: accuracy under each attack, the AutoAttack-style worst case over a list of
// attacks, robust accuracy against eps, the gradient-masking diagnostics of this study (exactly-zero
// input gradients in float32 and float64, the logit-margin distribution), and the logits a model gives
// (calibration's input: experiments/analysis/calibration.h). The model must be in eval mode (the caller's job). Inputs are processed in
// batches of batch_size rows; results are host numbers.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "attacks/apgd.h"
#include "attacks/common.h"
#include "attacks/pgd.h"
#include "attacks/square.h"
#include "nn/module.h"

namespace tg::attacks {

// An attack with everything but the model, data and random numbers fixed.
struct NamedAttack {
  std::string name;
  std::function<AttackResult(const ModelFn&, const Tensor& x, const Tensor& y, const AttackRng& rng)> run;
};

// The worst case over `parts` as one attack named "worst": each part runs on the points that the ones
// before it did not fool (misclassified, as robust_mask counts), and the first adversarial example found
// for a point is kept. eps_sweep runs it like any other attack.
NamedAttack worst_case_attack(std::vector<NamedAttack> parts);

// The study's attacks by name, at budget eps (steps scale as eps / 4 where the reference uses 2/255 at
// 8/255): "fgsm", "pgd20" (PGD-20, CE), "cw" (margin-loss PGD-20, kappa 0; see cw_options),
// "apgd-ce", "apgd-dlr", "apgd-t" (targeted DLR, 9 targets), "square" (5000 queries).
// square_queries and apgd_iters override the references' budgets (for quick runs).
NamedAttack make_attack(const std::string& name, double eps = 8.0 / 255, int square_queries = 5000,
                        int apgd_iters = 100);
std::vector<std::string> attack_names();
// The study's table, in its order: PGD-20, C&W, APGD-CE, APGD-DLR, APGD-T, Square (APGD-T needs K >= 4).
std::vector<NamedAttack> paper_attacks(double eps = 8.0 / 255, int square_queries = 5000, int apgd_iters = 100);

// A module as a ModelFn (it must outlive the function; put it in eval mode first).
ModelFn as_model_fn(nn::Module& model);

// uint8 [N]: 1 where the model classifies x correctly.
Tensor correct_mask(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size = 256);
double accuracy(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size = 256);

// uint8 [N]: 1 where the point is robust to the attack: classified correctly both clean and attacked.
// The attack runs only on the clean-correct points of each batch (rows [b, b + batch_size) of x, with
// rng.rows(b, b + batch_size)).
Tensor robust_mask(const ModelFn& model, const NamedAttack& attack, const Tensor& x, const Tensor& y,
                   const AttackRng& rng, int64_t batch_size = 256);
double robust_accuracy(const ModelFn& model, const NamedAttack& attack, const Tensor& x, const Tensor& y,
                       const AttackRng& rng, int64_t batch_size = 256);

struct WorstCaseResult {
  double clean = 0;
  // (name, accuracy). cascade: the accuracy left after this attack and all before it (AutoAttack's
  // running number); otherwise this attack's own robust accuracy.
  std::vector<std::pair<std::string, double>> per_attack;
  double worst = 0;  // a point is robust only if every attack fails on it
  Tensor robust;     // uint8 [N], on the host
};
// cascade (the default, as AutoAttack): each attack runs only on the points still robust.
WorstCaseResult worst_case(const ModelFn& model, const std::vector<NamedAttack>& attacks, const Tensor& x,
                           const Tensor& y, const AttackRng& rng, int64_t batch_size = 256, bool cascade = true);

// Robust accuracy at each eps (make(eps) builds the attack). A point broken at some eps counts as
// broken at every larger eps (its adversarial example lies in the larger ball too), so the curve never
// rises; larger eps are attacked only on the points still robust. eps = 0 gives the clean accuracy.
// A batch at a time: its points go through every eps before the next batch starts.
std::vector<std::pair<double, double>> eps_sweep(const ModelFn& model,
                                                 const std::function<NamedAttack(double eps)>& make,
                                                 const std::vector<double>& eps_values, const Tensor& x,
                                                 const Tensor& y, const AttackRng& rng, int64_t batch_size = 256);
// The same per point: uint8 [eps_values.size(), N] on the host, 1 where the point is robust at that eps.
Tensor eps_sweep_masks(const ModelFn& model, const std::function<NamedAttack(double eps)>& make,
                       const std::vector<double>& eps_values, const Tensor& x, const Tensor& y, const AttackRng& rng,
                       int64_t batch_size = 256);
std::vector<double> default_sweep_eps();  // 0, 1, 2, 4, 6, 8, 12, 16, 24, 32 (/255)

// ---- gradient masking ----
// Fraction of inputs whose input gradient of CE(F(x), y) (tau = 1) is exactly zero in every entry,
// computed in x's dtype (the model must compute in it too).
double zero_gradient_fraction(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size = 256);
// The same per input: uint8 [N] on the host, 1 where the input gradient is exactly zero.
Tensor zero_gradient_rows(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size = 256);
// z_y - max_{i != y} z_i per example (host).
std::vector<double> logit_margins(const ModelFn& model, const Tensor& x, const Tensor& y, int64_t batch_size = 256);

struct MarginSummary {
  double min = 0, p10 = 0, median = 0, p90 = 0, max = 0, mean = 0;
};
MarginSummary summarize(std::vector<double> values);

struct MaskingDiagnostics {
  double zero_grad_f32 = 0, zero_grad_f64 = 0;
  Tensor zero_rows_f32, zero_rows_f64;  // per input, as zero_gradient_rows gives them
  std::vector<double> margins;  // float32 logit margins
};
// Runs the module in float32, converts it to float64 IN PLACE for the float64 pass (same device) and
// back to float32 afterwards (exact: every float32 value is a float64). x: float32 pixels.
MaskingDiagnostics masking_diagnostics(nn::Module& model, const Tensor& x, const Tensor& y,
                                       int64_t batch_size = 256);

// ---- logits ----
Tensor collect_logits(const ModelFn& model, const Tensor& x, int64_t batch_size = 256);  // [N, K] on the host
// The same over n inputs made a batch at a time: inputs(begin, end) gives rows [begin, end) as the model
// takes them (converted, resized, on its device), so a large set never sits on the device whole.
Tensor collect_logits(const ModelFn& model, int64_t n, const std::function<Tensor(int64_t, int64_t)>& inputs,
                      int64_t batch_size = 256);

}  // namespace tg::attacks
