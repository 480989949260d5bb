#include "attacks/rng.h"

#include <algorithm>
#include <map>

#include "attacks/common.h"
#include "util/error.h"

namespace tg::attacks {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  auto finalize = [](uint64_t z) {  // splitmix64's output function
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  return finalize(a + 0x9E3779B97F4A7C15ull * (finalize(b) + 1));
}

AttackRng::AttackRng(Generator& gen) : gen_(&gen) {}

AttackRng AttackRng::per_sample(uint64_t seed, std::vector<int64_t> ids) {
  for (int64_t id : ids) TG_CHECK(id >= 0, "AttackRng::per_sample: sample id ", id, " is negative");
  AttackRng r;
  r.seed_ = seed;
  r.ids_ = std::move(ids);
  r.counts_ = std::make_shared<std::unordered_map<int64_t, uint64_t>>();
  return r;
}

AttackRng AttackRng::per_sample(uint64_t seed, int64_t first, int64_t count) {
  std::vector<int64_t> ids(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) ids[static_cast<size_t>(i)] = first + i;
  return per_sample(seed, std::move(ids));
}

AttackRng AttackRng::rows(const std::vector<int64_t>& idx) const {
  if (!keyed()) return *this;
  AttackRng view = *this;
  view.ids_.clear();
  for (int64_t i : idx) {
    TG_CHECK(i >= 0 && i < static_cast<int64_t>(ids_.size()), "AttackRng::rows: row ", i, " of ", ids_.size());
    view.ids_.push_back(ids_[static_cast<size_t>(i)]);
  }
  return view;
}

AttackRng AttackRng::rows(int64_t begin, int64_t end) const {
  std::vector<int64_t> idx;
  for (int64_t i = begin; i < end; ++i) idx.push_back(i);
  return rows(idx);
}

Tensor AttackRng::uniform(const Shape& shape, double lo, double hi, DType dtype, Device device) const {
  return draw(Kind::uniform, shape, lo, hi, dtype, device);
}

Tensor AttackRng::normal(const Shape& shape, DType dtype, Device device) const {
  return draw(Kind::normal, shape, 0, 1, dtype, device);
}

Tensor AttackRng::randint(const Shape& shape, int64_t lo, int64_t hi, Device device) const {
  return draw(Kind::integers, shape, static_cast<double>(lo), static_cast<double>(hi), DType::i64, device);
}

Tensor AttackRng::draw(Kind kind, const Shape& shape, double lo, double hi, DType dtype, Device device) const {
  auto plain = [&](const Shape& s, Generator* g) {
    if (kind == Kind::uniform) return tg::uniform(s, lo, hi, dtype, device, g);
    if (kind == Kind::normal) return tg::normal(s, lo, hi, dtype, device, g);
    return tg::randint(s, static_cast<int64_t>(lo), static_cast<int64_t>(hi), dtype, device, g);
  };
  if (!keyed()) return plain(shape, gen_);
  const int64_t n = static_cast<int64_t>(ids_.size());
  TG_CHECK(!shape.empty() && shape[0] == n, "AttackRng: a draw of shape ", shape_str(shape), " for ", n,
           " samples (the first dimension is the rows)");
  if (n == 0) return Tensor::empty(shape, kind == Kind::integers ? DType::i64 : dtype, device);
  int64_t d = 1;
  for (size_t i = 1; i < shape.size(); ++i) d *= shape[i];
  const int64_t padded = (d + 3) / 4 * 4;  // every row starts at a Philox block
  const uint64_t blocks_per_row = static_cast<uint64_t>(kind == Kind::normal ? padded / 2 : padded / 4);

  // The rows by their samples' draw counts (one group, unless the caller mixes samples of different
  // histories); each group is one Philox draw spanning its ids.
  std::map<uint64_t, std::vector<int64_t>> groups;  // count -> rows
  for (int64_t r = 0; r < n; ++r) groups[(*counts_)[ids_[static_cast<size_t>(r)]]++].push_back(r);
  std::vector<Tensor> parts;
  std::vector<int64_t> order;  // the rows of concat(parts) in order
  for (const auto& [count, rows] : groups) {
    std::vector<int64_t> ids;
    for (int64_t r : rows) ids.push_back(ids_[static_cast<size_t>(r)]);
    const int64_t first = *std::min_element(ids.begin(), ids.end()), last = *std::max_element(ids.begin(), ids.end());
    Generator g;
    g.set_state(mix_seed(seed_, count), static_cast<uint64_t>(first) * blocks_per_row);
    Tensor span = plain({last - first + 1, padded}, &g);
    if (padded != d) span = slice(span, 1, 0, d);
    std::vector<int64_t> at;
    for (int64_t id : ids) at.push_back(id - first);
    const bool whole = static_cast<int64_t>(at.size()) == last - first + 1 && std::is_sorted(at.begin(), at.end());
    parts.push_back(whole ? span : index_select(span, 0, index_tensor(at, device)));
    order.insert(order.end(), rows.begin(), rows.end());
  }
  Tensor out = parts.size() == 1 ? parts[0] : concat(parts, 0);
  if (parts.size() > 1) {  // back to the rows' order
    std::vector<int64_t> inverse(order.size());
    for (size_t i = 0; i < order.size(); ++i) inverse[static_cast<size_t>(order[i])] = static_cast<int64_t>(i);
    out = index_select(out, 0, index_tensor(inverse, device));
  }
  return out.reshape(shape);
}

}  // namespace tg::attacks
