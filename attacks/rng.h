// Where an attack's random numbers come from (random starts, random targets, Square's windows and
// signs). Two kinds:
// - Sequential: the draws come from a tg::Generator in the order the attack makes them, as
//   tg::uniform(..., &gen) would. A point's numbers then depend on which points share its batch (the
//   generator's offset moves with every draw). Adversarial training and direct callers use this; an
//   AttackRng converts implicitly from a Generator&, so `pgd(model, x, y, options, gen)` reads as before.
// - Per sample: row r of every draw is a function of (seed, ids[r], the number of draws sample ids[r]
//   made before) only, so a point gets the same numbers in any batch, subset or shard (sharded
//   evaluation equals unsharded evaluation, issue 14). The evaluation uses this, with ids the points'
//   indices in the evaluated set.
// Per sample, a draw of rows of D elements each is, for the rows whose samples made k draws before, the
// Philox stream of key mix_seed(seed, k) laid out as [samples, 4 ceil(D / 4)] (every row starts at a
// block; the padding columns are cut): one Philox draw of the rows min(ids)..max(ids), of which the ids'
// rows are kept. So callers should attack batches of nearby ids (a batch of an evaluated set, or a
// subset of one).
//
// An AttackRng is a handle: copies and rows() views share the state (the generator, or the per-sample
// draw counts), so a draw made through a view of some rows counts for those samples everywhere.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "tensor/random.h"

namespace tg::attacks {

class AttackRng {
 public:
  // Sequential, from gen (which must outlive the handle).
  AttackRng(Generator& gen);  // NOLINT(google-explicit-constructor): a Generator is an AttackRng
  // Per sample: rows keyed by ids (distinct, >= 0), one per row of the tensors the attack gets.
  static AttackRng per_sample(uint64_t seed, std::vector<int64_t> ids);
  // Per sample, rows keyed by first, first + 1, ..., first + count - 1.
  static AttackRng per_sample(uint64_t seed, int64_t first, int64_t count);

  bool keyed() const { return counts_ != nullptr; }
  // The view of rows idx (a subset the attack goes on with), or of rows [begin, end). Sequential: the same
  // generator.
  AttackRng rows(const std::vector<int64_t>& idx) const;
  AttackRng rows(int64_t begin, int64_t end) const;

  // Draws of `shape`, whose first dimension is the number of rows (per sample: ids' size).
  Tensor uniform(const Shape& shape, double lo, double hi, DType dtype, Device device) const;  // [lo, hi)
  Tensor normal(const Shape& shape, DType dtype, Device device) const;                          // N(0, 1)
  Tensor randint(const Shape& shape, int64_t lo, int64_t hi, Device device) const;               // int64 [lo, hi)

 private:
  enum class Kind { uniform, normal, integers };
  AttackRng() = default;
  Tensor draw(Kind kind, const Shape& shape, double lo, double hi, DType dtype, Device device) const;

  Generator* gen_ = nullptr;                                         // sequential
  uint64_t seed_ = 0;                                                // per sample: the key's seed,
  std::vector<int64_t> ids_;                                         // the rows' samples,
  std::shared_ptr<std::unordered_map<int64_t, uint64_t>> counts_;    // and each sample's draws so far
};

// A 64-bit mix of (a, b) (splitmix64's finalizer over a and b): the per-sample draws' keys, and the
// evaluation's seed per attack stream.
uint64_t mix_seed(uint64_t a, uint64_t b);

}  // namespace tg::attacks
