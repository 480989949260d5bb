// CUDA 2-D convolution (NCHW, cross-correlation as torch) through cuDNN; float32, float64, and bfloat16
// (tensor cores, float32 accumulation, bf16 output). For each geometry (dtype,
// shapes, stride, padding, TF32 setting) a plan holds the cuDNN descriptors and, found once with
// cudnnFind*AlgorithmEx (benchmarked, fastest first), the algorithm of each direction and its
// workspace size. Workspaces come from the caching allocator. Every direction writes its output (beta = 0).
#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels (none: cuDNN)

// launchers

namespace {

struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
};

// A device buffer from the caching allocator, returned at scope exit (stream order keeps it valid
// for the kernels already queued).
struct Scratch {
  void* p = nullptr;
  explicit Scratch(size_t bytes) : p(bytes ? allocate(bytes) : nullptr) {}
  ~Scratch() { deallocate(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
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
  const cudnnMathType_t math = type == CUDNN_DATA_BFLOAT16         ? CUDNN_TENSOR_OP_MATH
                               : (type == CUDNN_DATA_FLOAT && !tf32) ? CUDNN_FMA_MATH
                                                                     : CUDNN_DEFAULT_MATH;
  TG_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, math), "conv2d math type ", what);
  slot = std::move(plan);
  return *slot;
}

// Workspace offered to the algorithm search: a quarter of the free memory, at most 1 GiB. It is
// cudaMalloc'ed and freed around the search (once per geometry) so the cache does not keep it.
size_t search_workspace_limit() {
  size_t free_bytes = 0, total = 0;
  TG_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total), "conv2d: cudaMemGetInfo");
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

// The fastest algorithm that succeeded and fits the limit (results come sorted by time).
template <class Perf, class Algo>
void pick(const Perf* perf, int count, size_t limit, Algo& algo, size_t& ws, const std::string& what) {
  for (int k = 0; k < count; ++k) {
    if (perf[k].status == CUDNN_STATUS_SUCCESS && perf[k].memory <= limit) {
      algo = perf[k].algo;
      ws = perf[k].memory;
      return;
    }
  }
  TG_FAIL("conv2d: cuDNN found no usable algorithm for ", what);
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
  if (!plan.have_fwd) {  // y is overwritten by the search, which is fine: the forward assigns it
    SearchWorkspace ws;
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    TG_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(cudnn(), plan.x, x.raw(), plan.w, w.raw(), plan.conv,
                                                          plan.y, y.raw(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                          &count, perf, ws.p, ws.bytes),
                   "conv2d_forward algorithm search ", what);
    pick(perf, count, ws.bytes, plan.fwd, plan.fwd_ws, what);
    plan.have_fwd = true;
  }
  Scratch ws(plan.fwd_ws);
  visit_floating(scaling_dtype(x.dtype()), "conv2d", [&](auto zero) {
    Scalars<decltype(zero)> s;
    TG_CUDNN_CHECK(cudnnConvolutionForward(cudnn(), &s.one, plan.x, x.raw(), plan.w, w.raw(), plan.conv, plan.fwd,
                                           ws.p, plan.fwd_ws, &s.zero, plan.y, y.raw()),
                   "conv2d_forward ", what);
  });
}

// Let L = <dy, conv(x, w)>. Writes dL/dx = conv_transpose(dy, w) into dx (cuDNN, beta = 0).
void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p) {
  if (dy.numel() == 0 || dx.numel() == 0) return;
  const std::string what = conv_shapes(dx.shape(), w.shape(), dy.shape(), p);
  ConvPlan& plan = plan_for(dx.shape(), w.shape(), dy.shape(), dy.dtype(), p);
  if (!plan.have_bwd_data) {  // dx is overwritten by the search, which is fine: the backward writes it
    SearchWorkspace ws;
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    TG_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(cudnn(), plan.w, w.raw(), plan.y, dy.raw(), plan.conv,
                                                               plan.x, dx.raw(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                               &count, perf, ws.p, ws.bytes),
                   "conv2d_backward_data algorithm search ", what);
    pick(perf, count, ws.bytes, plan.bwd_data, plan.bwd_data_ws, what);
    plan.have_bwd_data = true;
  }
  Scratch ws(plan.bwd_data_ws);
  visit_floating(scaling_dtype(dy.dtype()), "conv2d_backward_data", [&](auto zero) {
    Scalars<decltype(zero)> s;
    TG_CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn(), &s.one, plan.w, w.raw(), plan.y, dy.raw(), plan.conv,
                                                plan.bwd_data, ws.p, plan.bwd_data_ws, &s.zero, plan.x, dx.raw()),
                   "conv2d_backward_data ", what);
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
  if (!plan.have_bwd_filter) {  // dw is overwritten by the search, which is fine: the backward writes it
    SearchWorkspace ws;
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    TG_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
                       cudnn(), plan.x, x.raw(), plan.y, dy.raw(), plan.conv, plan.w, dw.raw(),
                       CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count, perf, ws.p, ws.bytes),
                   "conv2d_backward_filter algorithm search ", what);
    pick(perf, count, ws.bytes, plan.bwd_filter, plan.bwd_filter_ws, what);
    plan.have_bwd_filter = true;
  }
  Scratch ws(plan.bwd_filter_ws);
  visit_floating(scaling_dtype(dy.dtype()), "conv2d_backward_filter", [&](auto zero) {
    Scalars<decltype(zero)> s;
    TG_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn(), &s.one, plan.x, x.raw(), plan.y, dy.raw(), plan.conv,
                                                  plan.bwd_filter, ws.p, plan.bwd_filter_ws, &s.zero, plan.w,
                                                  dw.raw()),
                   "conv2d_backward_filter ", what);
  });
}

}  // namespace tg::cuda
