// CUDA 2-D convolution (NCHW, cross-correlation as torch) through cuDNN; float32, float64, and bfloat16
// (tensor cores, float32 accumulation, bf16 output). For each geometry (dtype,
// shapes, stride, padding, TF32 setting) a plan holds the cuDNN descriptors. The algorithm of each
// direction is chosen once per key by tensor/algorithm_choice.h: from cuDNN's heuristics filtered on
// determinism when tg::deterministic_algorithms() (--deterministic, the default), else from the timed
// cudnnFind*AlgorithmEx; its math type is applied with it, and its workspace comes from the caching
// allocator, with a leaner algorithm taken when that fails. Every direction writes its output (beta = 0).
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "tensor/cuda/common.cuh"
#include "tensor/determinism.h"

namespace tg::cuda {

// kernels (none: cuDNN)

// launchers

namespace {

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  // The math type the algorithm query sees: CUDNN_DEFAULT_MATH lets float32 use TF32 tensor cores,
  // CUDNN_FMA_MATH (float32 with TF32 off) keeps full float32 and then also runs every algorithm.
  cudnnMathType_t search_math = CUDNN_DEFAULT_MATH;
};

std::string conv_shapes(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  return detail::concat("x ", shape_str(x), " w ", shape_str(w), " -> y ", shape_str(y), " stride (",
                        p.stride_h, ", ", p.stride_w, ") pad (", p.pad_h, ", ", p.pad_w, ")");
}

// The plan for this geometry, made on first use. Plans live as long as the program.
ConvPlan& plan_for(const Shape& xs, const Shape& ws, const Shape& ys, DType dtype, const Conv2dParams& p) {
  static std::mutex mutex;
  static auto* plans = new std::map<std::string, std::unique_ptr<ConvPlan>>();
  const std::string what = conv_shapes(xs, ws, ys, p);
  const bool tf32 = allow_tf32();
  const std::string key = detail::concat(dtype_name(dtype), " ", what, tf32 ? " tf32" : "");
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = (*plans)[key];
  if (slot) return *slot;
  for (const Shape* s : {&xs, &ws, &ys})
    for (int64_t d : *s) TG_CHECK(d <= 2147483647, "conv2d: ", what, ": a size exceeds cuDNN's int range");
  auto plan = std::make_unique<ConvPlan>();
  const cudnnDataType_t type = dtype == DType::f64    ? CUDNN_DATA_DOUBLE
                               : dtype == DType::bf16 ? CUDNN_DATA_BFLOAT16
                                                      : CUDNN_DATA_FLOAT;
  // bfloat16 data accumulates in float32 (cuDNN's PSEUDO_BFLOAT16_CONFIG).
  const cudnnDataType_t compute = type == CUDNN_DATA_BFLOAT16 ? CUDNN_DATA_FLOAT : type;
  auto i = [](int64_t v) { return static_cast<int>(v); };
  TG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x), "conv2d ", what);
  TG_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y), "conv2d ", what);
  TG_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w), "conv2d ", what);
  TG_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv), "conv2d ", what);
  TG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, type, i(xs[0]), i(xs[1]), i(xs[2]), i(xs[3])),
                 "conv2d x descriptor ", what);
  TG_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, type, i(ys[0]), i(ys[1]), i(ys[2]), i(ys[3])),
                 "conv2d y descriptor ", what);
  TG_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, type, CUDNN_TENSOR_NCHW, i(ws[0]), i(ws[1]), i(ws[2]), i(ws[3])),
                 "conv2d w descriptor ", what);
  TG_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, i(p.pad_h), i(p.pad_w), i(p.stride_h), i(p.stride_w),
                                                 1, 1, CUDNN_CROSS_CORRELATION, compute),
                 "conv2d descriptor ", what);
  // CUDNN_DEFAULT_MATH lets float32 use TF32 tensor cores; FMA_MATH keeps full float32; bf16 asks for
  // tensor cores explicitly.
  plan->search_math = type == CUDNN_DATA_BFLOAT16         ? CUDNN_TENSOR_OP_MATH
                      : (type == CUDNN_DATA_FLOAT && !tf32) ? CUDNN_FMA_MATH
                                                            : CUDNN_DEFAULT_MATH;
  slot = std::move(plan);
  return *slot;
}

// ---- algorithm choice (the logic: tensor/algorithm_choice.h) ----

// Workspace offered to the algorithm search: a quarter of the free memory (with `cached`, counting
// what the caching allocator holds free as well), at most 1 GiB. For the timed search it is
// cudaMalloc'ed and freed around the search (once per key), so the cache does not keep it.
size_t search_workspace_limit(bool cached = false) {
  size_t free_bytes = 0, total = 0;
  TG_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total), "conv2d: cudaMemGetInfo");
  if (cached) free_bytes += cache_stats().cached_bytes;
  return std::min(free_bytes / 4, size_t(1) << 30);
}
struct SearchWorkspace {
  void* p = nullptr;
  size_t bytes = 0;
  SearchWorkspace() : bytes(search_workspace_limit()) {
    if (cudaMalloc(&p, bytes) != cudaSuccess) {  // offer none rather than fail
      (void)cudaGetLastError();
      p = nullptr;
      bytes = 0;
    }
  }
  ~SearchWorkspace() {
    if (p) (void)cudaFree(p);  // cudaFree synchronizes: the search has finished with it
  }
  SearchWorkspace(const SearchWorkspace&) = delete;
  SearchWorkspace& operator=(const SearchWorkspace&) = delete;
};

algorithm::Cache& algorithm_cache() {
  static auto* cache = new algorithm::Cache();  // leaked on purpose, as the plans
  return *cache;
}

algorithm::Key algorithm_key(const char* direction, const Shape& xs, const Shape& ws, const Shape& ys, DType dtype,
                             const Conv2dParams& p) {
  algorithm::Key k;
  k.direction = direction;
  k.dtype = dtype_name(dtype);
  k.x = xs;
  k.w = ws;
  k.y = ys;
  k.stride_h = p.stride_h;
  k.stride_w = p.stride_w;
  k.pad_h = p.pad_h;
  k.pad_w = p.pad_w;
  k.tf32 = allow_tf32();
  k.deterministic = deterministic_algorithms();
  return k;
}

// The ranked choice for one direction. `get(perf, count)` asks cuDNN's heuristics,
// `find(perf, count, workspace, bytes)` times the algorithms; both fill up to kCount records.
template <class Perf, int kCount>
algorithm::Choice choose(const ConvPlan& plan, bool deterministic, const std::string& what,
                         const std::function<void(Perf*, int*)>& get,
                         const std::function<void(Perf*, int*, void*, size_t)>& find) {
  TG_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, plan.search_math), "conv2d math type ", what);
  Perf perf[kCount];
  int count = 0;
  size_t limit = 0;
  if (deterministic) {  // ranked by a model of the GPU: the same choice in every run
    get(perf, &count);
    limit = search_workspace_limit(true);  // the workspace will come from the cache
  } else {  // ranked by measured time: the fastest, which may differ from run to run
    SearchWorkspace ws;
    find(perf, &count, ws.p, ws.bytes);
    limit = ws.bytes;
  }
  std::vector<algorithm::AlgoRecord> records;
  for (int k = 0; k < count; ++k)
    records.push_back({static_cast<int>(perf[k].algo), perf[k].status == CUDNN_STATUS_SUCCESS, perf[k].time,
                       perf[k].memory, perf[k].determinism == CUDNN_DETERMINISTIC, static_cast<int>(perf[k].mathType)});
  return algorithm::Choice{algorithm::rank(records, deterministic, limit, what)};
}

// A workspace from the caching allocator, or nullptr when the device has no room for it.
void* try_workspace(size_t bytes) {
  try {
    return allocate(bytes);
  } catch (const Error&) {
    return nullptr;
  }
}

// Runs `call(algo, workspace, bytes)` with the choice's algorithm, its math type applied, falling back
// to leaner algorithms while the workspace cannot be had. The workspace goes back to the cache at once:
// stream order keeps it valid for the kernels already queued.
void run_chosen(algorithm::Choice& choice, const ConvPlan& plan, const std::string& what,
                const std::function<void(int, void*, size_t)>& call) {
  algorithm::run_with_workspace(choice, try_workspace, deallocate, [&](const algorithm::AlgoRecord& r, void* ws) {
    const cudnnMathType_t math =
        plan.search_math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : static_cast<cudnnMathType_t>(r.math_type);
    TG_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, math), "conv2d math type ", what);
    call(r.algo, ws, r.memory);
  }, what);
}

template <class T>
struct Scalars {
  T one = T(1), zero = T(0);
};

// The type of cuDNN's alpha and beta: float for bfloat16 data.
DType scaling_dtype(DType data) { return data == DType::bf16 ? DType::f32 : data; }

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  if (y.numel() == 0) return;
  const std::string what = conv_shapes(x.shape(), w.shape(), y.shape(), p);
  ConvPlan& plan = plan_for(x.shape(), w.shape(), y.shape(), x.dtype(), p);
  const algorithm::Key key = algorithm_key("forward", x.shape(), w.shape(), y.shape(), x.dtype(), p);
  algorithm::Choice& choice = algorithm_cache().get(key, [&] {  // y is overwritten by the timed search: fine
    return choose<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
        plan, key.deterministic, what,
        [&](cudnnConvolutionFwdAlgoPerf_t* perf, int* count) {
          TG_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn(), plan.x, plan.w, plan.conv, plan.y,
                                                                CUDNN_CONVOLUTION_FWD_ALGO_COUNT, count, perf),
                         "conv2d_forward algorithm heuristics ", what);
        },
        [&](cudnnConvolutionFwdAlgoPerf_t* perf, int* count, void* ws, size_t bytes) {
          TG_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(cudnn(), plan.x, x.raw(), plan.w, w.raw(), plan.conv,
                                                                plan.y, y.raw(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                                count, perf, ws, bytes),
                         "conv2d_forward algorithm search ", what);
        });
  });
  run_chosen(choice, plan, what, [&](int algo, void* ws, size_t bytes) {
    visit_floating(scaling_dtype(x.dtype()), "conv2d", [&](auto zero) {
      Scalars<decltype(zero)> s;
      TG_CUDNN_CHECK(cudnnConvolutionForward(cudnn(), &s.one, plan.x, x.raw(), plan.w, w.raw(), plan.conv,
                                             static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, bytes, &s.zero, plan.y,
                                             y.raw()),
                     "conv2d_forward ", what);
    });
  });
}

// Let L = <dy, conv(x, w)>. Writes dL/dx = conv_transpose(dy, w) into dx (cuDNN, beta = 0).
void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p) {
  if (dy.numel() == 0 || dx.numel() == 0) return;
  const std::string what = conv_shapes(dx.shape(), w.shape(), dy.shape(), p);
  ConvPlan& plan = plan_for(dx.shape(), w.shape(), dy.shape(), dy.dtype(), p);
  const algorithm::Key key = algorithm_key("backward_data", dx.shape(), w.shape(), dy.shape(), dy.dtype(), p);
  algorithm::Choice& choice = algorithm_cache().get(key, [&] {  // dx is overwritten by the timed search: fine
    return choose<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
        plan, key.deterministic, what,
        [&](cudnnConvolutionBwdDataAlgoPerf_t* perf, int* count) {
          TG_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn(), plan.w, plan.y, plan.conv, plan.x,
                                                                     CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, count,
                                                                     perf),
                         "conv2d_backward_data algorithm heuristics ", what);
        },
        [&](cudnnConvolutionBwdDataAlgoPerf_t* perf, int* count, void* ws, size_t bytes) {
          TG_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
                             cudnn(), plan.w, w.raw(), plan.y, dy.raw(), plan.conv, plan.x, dx.raw(),
                             CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, count, perf, ws, bytes),
                         "conv2d_backward_data algorithm search ", what);
        });
  });
  run_chosen(choice, plan, what, [&](int algo, void* ws, size_t bytes) {
    visit_floating(scaling_dtype(dy.dtype()), "conv2d_backward_data", [&](auto zero) {
      Scalars<decltype(zero)> s;
      TG_CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn(), &s.one, plan.w, w.raw(), plan.y, dy.raw(), plan.conv,
                                                  static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws, bytes,
                                                  &s.zero, plan.x, dx.raw()),
                     "conv2d_backward_data ", what);
    });
  });
}

// Let L = <dy, conv(x, w)>. Writes dL/dw = correlation of x with dy into dw (cuDNN, beta = 0).
void conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dw, const Conv2dParams& p) {
  if (dw.numel() == 0) return;
  if (dy.numel() == 0) {  // an empty batch: the gradient is zero
    TG_CUDA_CHECK(cudaMemsetAsync(dw.raw(), 0, dw.nbytes(), stream()), "conv2d_backward_filter zero dw");
    return;
  }
  const std::string what = conv_shapes(x.shape(), dw.shape(), dy.shape(), p);
  ConvPlan& plan = plan_for(x.shape(), dw.shape(), dy.shape(), dy.dtype(), p);
  const algorithm::Key key = algorithm_key("backward_filter", x.shape(), dw.shape(), dy.shape(), dy.dtype(), p);
  algorithm::Choice& choice = algorithm_cache().get(key, [&] {  // dw is overwritten by the timed search: fine
    return choose<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
        plan, key.deterministic, what,
        [&](cudnnConvolutionBwdFilterAlgoPerf_t* perf, int* count) {
          TG_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn(), plan.x, plan.y, plan.conv, plan.w,
                                                                       CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, count,
                                                                       perf),
                         "conv2d_backward_filter algorithm heuristics ", what);
        },
        [&](cudnnConvolutionBwdFilterAlgoPerf_t* perf, int* count, void* ws, size_t bytes) {
          TG_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                             cudnn(), plan.x, x.raw(), plan.y, dy.raw(), plan.conv, plan.w, dw.raw(),
                             CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, count, perf, ws, bytes),
                         "conv2d_backward_filter algorithm search ", what);
        });
  });
  run_chosen(choice, plan, what, [&](int algo, void* ws, size_t bytes) {
    visit_floating(scaling_dtype(dy.dtype()), "conv2d_backward_filter", [&](auto zero) {
      Scalars<decltype(zero)> s;
      TG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn(), &s.one, plan.x, x.raw(), plan.y, dy.raw(), plan.conv,
                                                    static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ws, bytes,
                                                    &s.zero, plan.w, dw.raw()),
                     "conv2d_backward_filter ", what);
    });
  });
}

algorithm::CacheStats conv_algorithm_stats() { return algorithm_cache().stats(); }

}  // namespace tg::cuda
