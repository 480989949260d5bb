#include "tensor/algorithm_choice.h"

#include <sstream>

#include "util/error.h"

namespace tg::algorithm {

std::vector<AlgoRecord> rank(const std::vector<AlgoRecord>& records, bool deterministic, size_t workspace_limit,
                             const std::string& what) {
  std::vector<AlgoRecord> ranked;
  for (const AlgoRecord& r : records)
    if (r.ok && r.memory <= workspace_limit && (r.deterministic || !deterministic)) ranked.push_back(r);
  if (ranked.empty()) {
    size_t ok = 0, fit = 0;
    for (const AlgoRecord& r : records) {
      ok += r.ok;
      fit += r.ok && r.memory <= workspace_limit;
    }
    TG_FAIL("conv2d ", what, ": cuDNN offers no usable algorithm (", records.size(), " tried, ", ok, " succeeded, ",
            fit, " within the workspace limit of ", workspace_limit, " bytes",
            deterministic ? ", none of them deterministic; --no-deterministic allows the others)" : ")");
  }
  return ranked;
}

bool Choice::fall_back() {
  const size_t failed = chosen().memory;
  for (size_t k = current + 1; k < ranked.size(); ++k) {
    if (ranked[k].memory < failed) {
      current = k;
      ++fallbacks;
      return true;
    }
  }
  return false;
}

void run_with_workspace(Choice& choice, const std::function<void*(size_t)>& acquire,
                        const std::function<void(void*)>& release,
                        const std::function<void(const AlgoRecord&, void*)>& run, const std::string& what) {
  for (;;) {
    const AlgoRecord& r = choice.chosen();
    void* workspace = r.memory ? acquire(r.memory) : nullptr;
    if (workspace || r.memory == 0) {
      try {
        run(r, workspace);
      } catch (...) {
        release(workspace);
        throw;
      }
      release(workspace);
      return;
    }
    const size_t failed = r.memory;
    TG_CHECK(choice.fall_back(), "conv2d ", what, ": out of memory for the workspace (", failed,
             " bytes) of algorithm ", r.algo, ", and no ranked algorithm needs less. Reduce the batch size");
  }
}

std::string Key::str() const {
  std::ostringstream os;
  auto dims = [&](const char* name, const std::vector<int64_t>& d) {
    os << ' ' << name << " [";
    for (size_t i = 0; i < d.size(); ++i) os << (i ? ", " : "") << d[i];
    os << ']';
  };
  os << direction << ' ' << dtype;
  dims("x", x);
  dims("w", w);
  dims("y", y);
  os << " stride " << stride_h << ',' << stride_w << " pad " << pad_h << ',' << pad_w << ' ' << layout
     << (tf32 ? " tf32" : " fp32-math") << (deterministic ? " deterministic" : " benchmarked");
  return os.str();
}

Choice& Cache::get(const Key& key, const std::function<Choice()>& search) {
  const std::string k = key.str();
  std::lock_guard<std::mutex> lock(mutex_);
  std::unique_ptr<Choice>& slot = choices_[k];
  if (slot) {
    ++stats_.hits;
    return *slot;
  }
  slot = std::make_unique<Choice>(search());  // under the lock: one search per key
  ++stats_.searches;
  return *slot;
}

CacheStats Cache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  CacheStats s = stats_;
  for (const auto& [key, choice] : choices_)
    if (choice) s.fallbacks += choice->fallbacks;
  return s;
}

}  // namespace tg::algorithm
