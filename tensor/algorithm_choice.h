// The choice of a cuDNN convolution algorithm, in plain C++ so that the CPU build compiles and tests
// it: tensor/cuda/conv2d.cu turns cuDNN's perf records into AlgoRecords, asks this file which one to
// run, and keeps the cuDNN calls themselves.
//
// - Where the records come from. With determinism on (--deterministic, the default), from cuDNN's
//   heuristics (cudnnGet*Algorithm_v7): they rank by a model of the GPU, not by timing, so every run on
//   the same GPU and cuDNN picks the same algorithm and a resumed run continues bit for bit. With it
//   off, from cudnnFind*AlgorithmEx, which times every algorithm (fastest first), so the pick may vary
//   from run to run when two are close.
// - Ranking: records that succeeded and whose workspace fits the limit, in cuDNN's order; with
//   determinism on, only those cuDNN marks deterministic (no atomics: CUDNN_DETERMINISTIC).
// - The chosen algorithm's math type is applied with it (cudnnSetConvolutionMathType), as cuDNN asks.
// - Workspace is sized when the algorithm is chosen; if its allocation fails later (memory has filled
//   since), the next ranked algorithm that needs less workspace is taken, down to one that needs none,
//   and the choice remembers it.
// - The choice is cached per key: direction, dtype, shapes, stride, padding, layout, math mode (TF32)
//   and determinism.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tg::algorithm {

// One row of cuDNN's perf results (cudnnConvolution*AlgoPerf_t), with cuDNN's enums as ints.
struct AlgoRecord {
  int algo = 0;
  bool ok = false;             // status == CUDNN_STATUS_SUCCESS
  float time_ms = -1;          // measured by Find; -1 from the heuristics
  size_t memory = 0;           // workspace bytes
  bool deterministic = false;  // determinism == CUDNN_DETERMINISTIC
  int math_type = 0;           // cudnnMathType_t
};

// The usable records, best first: ok, memory <= workspace_limit, and deterministic when asked.
// Throws tg::Error naming `what` (the convolution) when none is left.
std::vector<AlgoRecord> rank(const std::vector<AlgoRecord>& records, bool deterministic, size_t workspace_limit,
                             const std::string& what);

// The ranked list and which entry is in use.
struct Choice {
  std::vector<AlgoRecord> ranked;
  size_t current = 0;
  size_t fallbacks = 0;  // times a workspace could not be allocated and a leaner algorithm was taken

  const AlgoRecord& chosen() const { return ranked.at(current); }
  // The chosen algorithm's workspace could not be had: moves to the next ranked algorithm that needs
  // less. False when there is none (the chosen one needs no workspace, or nothing leaner is ranked).
  bool fall_back();
};

// Runs `run(record, workspace)` with the chosen algorithm and a workspace from `acquire(bytes)`, which
// returns nullptr when the memory is not there (acquire(0) is not called: a zero workspace is
// nullptr). On a failed acquire it falls back (Choice::fall_back) and tries again; throws naming
// `what` when even the leanest algorithm's workspace cannot be had. `release(workspace)` is called
// after `run`, also when it throws.
void run_with_workspace(Choice& choice, const std::function<void*(size_t)>& acquire,
                        const std::function<void(void*)>& release,
                        const std::function<void(const AlgoRecord&, void*)>& run, const std::string& what);

// What identifies a convolution's algorithm choice.
struct Key {
  std::string direction;  // forward | backward_data | backward_filter
  std::string dtype;      // dtype_name
  std::vector<int64_t> x, w, y;
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  std::string layout = "NCHW";
  bool tf32 = false;
  bool deterministic = true;
  std::string str() const;  // "forward f32 x [..] w [..] y [..] stride 1,1 pad 1,1 NCHW tf32 deterministic"
};

struct CacheStats {
  size_t searches = 0;   // choices made (one cuDNN query each)
  size_t hits = 0;       // lookups that found a choice made before
  size_t fallbacks = 0;  // leaner algorithms taken because a workspace could not be allocated
};

// Choices by key, made once by `search` and kept for the program's life. The map is thread-safe; a
// Choice stays at its address, and only the thread running that convolution moves it (fall_back).
class Cache {
 public:
  Choice& get(const Key& key, const std::function<Choice()>& search);
  CacheStats stats() const;  // fallbacks summed over the choices

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Choice>> choices_;
  CacheStats stats_;
};

}  // namespace tg::algorithm
