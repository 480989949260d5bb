// The cuDNN algorithm choice (tensor/algorithm_choice.h) on the CPU, over fake perf records: ranking
// and the determinism filter, the fallback when a workspace cannot be allocated, and the cache's keys.
#include <doctest/doctest.h>

#include <functional>
#include <vector>

#include "tensor/algorithm_choice.h"
#include "util/error.h"

using namespace tg;
using namespace tg::algorithm;

namespace {
constexpr size_t MiB = size_t(1) << 20;

// {algo, ok, time, memory, deterministic, math}: as cudnnFind returns them, fastest first.
std::vector<AlgoRecord> found() {
  return {
      {6, true, 0.5f, 300 * MiB, false, 1},  // fastest, atomics
      {1, true, 0.7f, 64 * MiB, true, 1},
      {7, false, 0.8f, 0, true, 0},          // failed
      {4, true, 0.9f, 128 * MiB, true, 0},   // slower and hungrier than algorithm 1
      {2, true, 1.1f, 8 * MiB, true, 0},
      {5, true, 1.3f, 2 * MiB, false, 0},
      {0, true, 2.0f, 0, true, 0},
  };
}

std::vector<int> algos(const std::vector<AlgoRecord>& r) {
  std::vector<int> a;
  for (const AlgoRecord& x : r) a.push_back(x.algo);
  return a;
}
}  // namespace

TEST_CASE("algorithm choice: ranks what succeeded and fits, deterministic ones only when asked") {
  CHECK(algos(rank(found(), false, 1024 * MiB, "c")) == std::vector<int>{6, 1, 4, 2, 5, 0});
  CHECK(algos(rank(found(), true, 1024 * MiB, "c")) == std::vector<int>{1, 4, 2, 0});
  CHECK(algos(rank(found(), true, 10 * MiB, "c")) == std::vector<int>{2, 0});
  CHECK(rank(found(), true, 1024 * MiB, "c")[0].math_type == 1);  // the record keeps its math type
  std::vector<AlgoRecord> only_atomics = {{6, true, 0.5f, 0, false, 0}, {7, false, 0.1f, 0, true, 0}};
  CHECK_THROWS_WITH_AS(rank(only_atomics, true, 0, "forward x [1]"),
                       doctest::Contains("2 tried, 1 succeeded, 1 within the workspace limit of 0 bytes, none of "
                                         "them deterministic; --no-deterministic allows the others"),
                       Error);
  CHECK(algos(rank(only_atomics, false, 0, "c")) == std::vector<int>{6});
}

TEST_CASE("algorithm choice: a workspace that cannot be allocated falls back to a leaner algorithm, and stays so") {
  Choice c{rank(found(), false, 1024 * MiB, "c")};
  std::vector<size_t> asked, released;
  size_t free_memory = 10 * MiB;
  auto acquire = [&](size_t bytes) -> void* {
    asked.push_back(bytes);
    return bytes <= free_memory ? reinterpret_cast<void*>(0x1000) : nullptr;
  };
  auto release = [&](void* p) { released.push_back(reinterpret_cast<size_t>(p)); };
  int ran = -1;
  auto run = [&](const AlgoRecord& r, void* ws) {
    ran = r.algo;
    CHECK((ws != nullptr) == (r.memory > 0));
  };
  run_with_workspace(c, acquire, release, run, "c");
  CHECK(ran == 2);  // 300 MiB and 64 MiB failed (128 MiB is not tried after 64 MiB failed); 8 MiB fits
  CHECK(asked == std::vector<size_t>{300 * MiB, 64 * MiB, 8 * MiB});
  CHECK(released.size() == 1);
  CHECK(c.fallbacks == 2);
  asked.clear();
  run_with_workspace(c, acquire, release, run, "c");  // remembered: no second try of the big ones
  CHECK(asked == std::vector<size_t>{8 * MiB});

  free_memory = 0;  // down to the algorithm without workspace
  run_with_workspace(c, acquire, release, run, "c");
  CHECK(ran == 0);
  CHECK(c.chosen().memory == 0);

  Choice none{{{3, true, 1.0f, 4 * MiB, true, 0}}};
  CHECK_THROWS_WITH_AS(run_with_workspace(none, acquire, release, run, "backward_data x [2]"),
                       doctest::Contains("out of memory for the workspace (4194304 bytes) of algorithm 3"), Error);

  // A failing run still gives its workspace back.
  free_memory = 1024 * MiB;
  Choice big{rank(found(), false, 1024 * MiB, "c")};
  released.clear();
  CHECK_THROWS_AS(run_with_workspace(big, acquire, release, [](const AlgoRecord&, void*) { throw Error("cuDNN"); }, "c"),
                  Error);
  CHECK(released.size() == 1);
}

TEST_CASE("algorithm choice: the cache searches once per key; TF32 and determinism are part of the key") {
  Cache cache;
  int searches = 0;
  auto search = [&] {
    ++searches;
    return Choice{rank(found(), true, 1024 * MiB, "c")};
  };
  Key k;
  k.direction = "forward";
  k.dtype = "float32";
  k.x = {8, 3, 32, 32};
  k.w = {16, 3, 3, 3};
  k.y = {8, 16, 32, 32};
  k.pad_h = k.pad_w = 1;
  k.tf32 = true;
  Choice& first = cache.get(k, search);
  CHECK(&cache.get(k, search) == &first);
  CHECK(searches == 1);
  for (auto change : std::vector<std::function<void(Key&)>>{
           [](Key& x) { x.tf32 = false; }, [](Key& x) { x.deterministic = false; },
           [](Key& x) { x.direction = "backward_data"; }, [](Key& x) { x.dtype = "float64"; },
           [](Key& x) { x.layout = "NHWC"; }, [](Key& x) { x.stride_w = 2; }, [](Key& x) { x.x[0] = 16; }}) {
    Key other = k;
    change(other);
    CHECK(other.str() != k.str());
    cache.get(other, search);
  }
  CHECK(searches == 8);
  first.fall_back();
  const CacheStats s = cache.stats();
  CHECK(s.searches == 8);
  CHECK(s.hits == 1);
  CHECK(s.fallbacks == 1);
  CHECK(k.str() == "forward float32 x [8, 3, 32, 32] w [16, 3, 3, 3] y [8, 16, 32, 32] stride 1,1 pad 1,1 NCHW tf32 "
                   "deterministic");
}
