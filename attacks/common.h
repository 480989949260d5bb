// What every attack shares: the model as a function of pixels, the result type, the losses that
// attacks maximize, and the projections. Conventions (DESIGN.md §2, issue 5):
// - Inputs are pixels in [0, 1], [N, ...] (images NCHW); the model normalizes inside. eps is in pixel
//   units (8/255 means 8/255).
// - The model is evaluated as given: putting it in eval mode (BatchNorm running statistics, no
//   dropout) is the CALLER's job; adversarial training deliberately crafts in train mode.
// - Input gradients come from tg::grad(outputs, inputs): an attack never calls backward(), so model
//   parameters and their .grad are never touched. Square uses forward passes only (NoGradGuard).
// - Randomness only from the AttackRng passed in (attacks/rng.h: a tg::Generator, or Philox keyed by
//   sample), so attacks reproduce across devices, and per sample across batches and shards.
// - Everything runs on the tensors' device with tensor ops; host round trips happen only where the
//   algorithm takes a per-example decision (which points are still to attack).
#pragma once

#include <functional>
#include <limits>
#include <vector>

#include "attacks/rng.h"
#include "autograd/ops.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace tg::attacks {

// pixels [N, ...] in [0, 1] -> logits [N, K].
using ModelFn = std::function<Variable(const Variable&)>;

struct AttackResult {
  Tensor x_adv;   // same shape, dtype and device as x; inside the eps-ball around x and inside [0, 1]
  Tensor fooled;  // uint8 [N]: 1 where the attack reached its goal (misclassified; targeted: the target)
};

enum class Norm { linf, l2 };

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- model queries (no graph) ----
Tensor logits_no_grad(const ModelFn& model, const Tensor& x);
Tensor predict(const ModelFn& model, const Tensor& x);  // argmax of the logits, int64 [N]

// ---- indices into logits [N, K] (tensor ops, no graph) ----
// Index of max_{i != y} z_i, int64 [N, 1].
Tensor top_other_index(const Tensor& logits, const Tensor& y);
// Indices of the k largest logits in decreasing order, int64 [N, k] (ties: lowest index first).
Tensor top_k_indices(const Tensor& logits, int64_t k);
// z_y - max_{i != y} z_i, [N] (positive = classified correctly).
Tensor logit_margin(const Tensor& logits, const Tensor& y);

// ---- counts over a batch: int64 scalars on the batch's device, to be summed there and read once ----
// Rows of logits [N, K] whose argmax is the label y (int64 [N]).
Tensor count_correct(const Tensor& logits, const Tensor& y);
// Rows of an input gradient g [N, ...] that are exactly zero in every entry (a saturated softmax).
Tensor count_zero_rows(const Tensor& g);
// uint8 [N]: 1 for those rows.
Tensor zero_rows(const Tensor& g);

// ---- per-example objectives that attacks MAXIMIZE, [N], differentiable in the logits ----
// C&W margin max_{i != y} z_i - z_y, clamped above at kappa (kInf: no clamp).
Variable margin_loss(const Variable& logits, const Tensor& y, double kappa = kInf);
// Targeted C&W margin z_t - max_{i != t} z_i, clamped above at kappa.
Variable targeted_margin_loss(const Variable& logits, const Tensor& t, double kappa = kInf);
// DLR (Croce & Hein 2020, Eq. 6): -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12); K >= 3.
Variable dlr_loss(const Variable& logits, const Tensor& y);
// Targeted DLR (Eq. 7): -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12); K >= 4.
Variable targeted_dlr_loss(const Variable& logits, const Tensor& y, const Tensor& t);

// ---- geometry ----
// A per-example [N] tensor viewed as [N, 1, ..., 1] to broadcast against x.
Tensor per_example(const Tensor& v, const Tensor& x);
Tensor l2_norms(const Tensor& t);  // per-example l2 norm, [N]
// Projects x_adv onto {|x_adv - x|_inf <= eps} and then onto [0, 1].
Tensor project_linf(const Tensor& x_adv, const Tensor& x, double eps);
// Projects x_adv onto {|x_adv - x|_2 <= eps} and then clamps to [0, 1].
Tensor project_l2(const Tensor& x_adv, const Tensor& x, double eps);

// Rows of `full` with rows idx[j] replaced by sub's row j (sub [idx.size(), ...]): merges the result
// of an attack run on a subset back into the whole batch (a gather, so it runs on any device).
Tensor merge_rows(const Tensor& full, const Tensor& sub, const std::vector<int64_t>& idx);
// Host indices where a uint8 [N] mask is 1 (one device-to-host copy).
std::vector<int64_t> nonzero_indices(const Tensor& mask);
Tensor index_tensor(const std::vector<int64_t>& idx, Device device);  // int64 [n] on device
Tensor logical_not(const Tensor& mask);                                  // uint8 -> uint8
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);

}  // namespace tg::attacks
