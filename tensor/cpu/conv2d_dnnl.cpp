// oneDNN float32 convolutions (the library PyTorch calls for CPU convolutions), behind the kernels
// of tensor/cpu/conv2d.cpp; the equations are there, the readable path is its im2col + Eigen.
//
// A primitive is created once per (shapes, stride, padding, direction, mode, OpenMP thread count)
// and kept in a mutex-guarded map. With DnnlConv2d::blocked oneDNN chooses the layouts
// (format_tag::any): on AVX2 (DNNL_VERBOSE=1 shows it) channel blocks of 8, nChw8c activations and
// OIhw8i8o weights (OIhw8o8i for the backward data), channels padded to a multiple of 8; the
// 3-channel stem reads its input as NCHW with Ohwi8o weights. The primitive carries the reorders
// between taugrad's NCHW / OIHW tensors and those layouts. With DnnlConv2d::nchw oneDNN computes on
// the NCHW tensors as they are (its gemm:jit, an im2col + sgemm). Bias is not fused: the autograd adds it.
//
// Threads: Debian's libdnnl is built with OpenMP (libgomp, the runtime taugrad uses), so it runs
// omp_get_max_threads() threads, i.e. OMP_NUM_THREADS. A primitive fixes its thread count when it
// is created, hence the count in the key. Bits: oneDNN picks its kernels by the CPU's instruction
// set at run time; capping it at the build's (AVX2 for the default x86-64-v3 build) keeps an
// AVX-512 machine on the same kernels as this one (docs/TESTING.md, "Reproducibility").
#include "tensor/cpu/conv2d_dnnl.h"

#ifndef TAUGRAD_DNNL
namespace tg::cpu {  // a build without oneDNN: the im2col path runs
bool dnnl_conv2d_available() { return false; }
bool dnnl_conv2d_forward(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&) { return false; }
bool dnnl_conv2d_backward_data(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&) { return false; }
bool dnnl_conv2d_backward_filter(const Tensor&, const Tensor&, Tensor&, const Conv2dParams&) { return false; }
size_t dnnl_conv2d_cached_primitives() { return 0; }
}  // namespace tg::cpu
#else

#include <omp.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>

#include "util/error.h"
#include "tensor/shape.h"

namespace tg::cpu {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

enum class Direction { forward, backward_data, backward_filter };

dnnl::engine& engine() {
  static dnnl::engine e = [] {
#if defined(__AVX512F__)
    dnnl::set_max_cpu_isa(dnnl::cpu_isa::all);
#elif defined(__AVX2__)
    dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx2);
#else
    dnnl::set_max_cpu_isa(dnnl::cpu_isa::sse41);
#endif
    return dnnl::engine(dnnl::engine::kind::cpu, 0);
  }();
  return e;
}

// Everything a primitive depends on: x, w and y shapes, stride, padding, direction, mode, threads.
using Key = std::array<int64_t, 19>;

// A primitive with its three arguments (two inputs, then the output): oneDNN's argument ids, the
// user's layouts (NCHW / OIHW), and the reorders into (inputs) or out of (output) the primitive's
// own layouts, empty where the layouts agree.
struct Primitive {
  dnnl::primitive compute;
  std::array<int, 3> args;
  std::array<memory::desc, 3> user, own;
  std::array<dnnl::reorder, 3> reorders;
  memory::desc scratchpad;
};

Primitive create(Direction dir, const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p,
                 DnnlConv2d mode) {
  using namespace dnnl;
  const memory::dims xd(xs.begin(), xs.end()), wd(ws.begin(), ws.end()), yd(ys.begin(), ys.end());
  const memory::dims strides{p.stride_h, p.stride_w}, pad{p.pad_h, p.pad_w};
  const auto f32 = memory::data_type::f32;
  const bool any = mode == DnnlConv2d::blocked;
  const memory::desc x_user(xd, f32, Tag::nchw), w_user(wd, f32, Tag::oihw), y_user(yd, f32, Tag::nchw);
  const memory::desc x(xd, f32, any ? Tag::any : Tag::nchw), w(wd, f32, any ? Tag::any : Tag::oihw),
      y(yd, f32, any ? Tag::any : Tag::nchw);
  const auto algo = algorithm::convolution_direct;
  primitive_attr attr;  // the scratchpad comes from taugrad's host allocator, as the tensors do
  attr.set_scratchpad_mode(scratchpad_mode::user);
  // The right padding equals the left, as in PyTorch: oneDNN rounds the output size down as taugrad does.
  const convolution_forward::primitive_desc fwd({prop_kind::forward_training, algo, x, w, y, strides, pad, pad},
                                                attr, engine());
  Primitive out;
  switch (dir) {
    case Direction::forward:
      out = {convolution_forward(fwd), {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}, {x_user, w_user, y_user},
             {fwd.src_desc(), fwd.weights_desc(), fwd.dst_desc()}, {}, fwd.scratchpad_desc()};
      break;
    case Direction::backward_data: {
      const convolution_backward_data::primitive_desc pd({algo, x, w, y, strides, pad, pad}, attr, engine(), fwd);
      out = {convolution_backward_data(pd), {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
             {y_user, w_user, x_user}, {pd.diff_dst_desc(), pd.weights_desc(), pd.diff_src_desc()}, {},
             pd.scratchpad_desc()};
      break;
    }
    case Direction::backward_filter: {
      const convolution_backward_weights::primitive_desc pd({algo, x, w, y, strides, pad, pad}, attr, engine(), fwd);
      out = {convolution_backward_weights(pd), {DNNL_ARG_DIFF_DST, DNNL_ARG_SRC, DNNL_ARG_DIFF_WEIGHTS},
             {y_user, x_user, w_user}, {pd.diff_dst_desc(), pd.src_desc(), pd.diff_weights_desc()}, {},
             pd.scratchpad_desc()};
      break;
    }
  }
  for (int i = 0; i < 3; ++i) {
    if (out.user[i] == out.own[i]) continue;
    const memory::desc& from = i < 2 ? out.user[i] : out.own[i];
    const memory::desc& to = i < 2 ? out.own[i] : out.user[i];
    out.reorders[i] = reorder(reorder::primitive_desc(engine(), from, engine(), to));
  }
  return out;
}

std::mutex cache_mutex;
std::map<Key, Primitive> cache;  // entries are never removed, so references into it stay valid

const Primitive& cached(Direction dir, const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p,
                        DnnlConv2d mode) {
  const Key key{xs[0], xs[1], xs[2], xs[3], ws[0], ws[1], ws[2], ws[3], ys[0], ys[1], ys[2], ys[3],
                p.stride_h, p.stride_w, p.pad_h, p.pad_w, static_cast<int64_t>(dir), static_cast<int64_t>(mode),
                omp_get_max_threads()};
  std::lock_guard<std::mutex> lock(cache_mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  try {
    return cache.emplace(key, create(dir, xs, ws, ys, p, mode)).first->second;
  } catch (const dnnl::error& e) {
    TG_FAIL("conv2d (oneDNN): no primitive for input ", shape_str(xs), ", weight ", shape_str(ws), ", stride (",
            p.stride_h, ", ", p.stride_w, "), padding (", p.pad_h, ", ", p.pad_w, "): ", e.what(),
            "; configure with -Ddnnl=disabled to use the im2col path");
  }
}

// Memory of layout md in a buffer from taugrad's host allocator (kept alive by `buffers`): a fresh
// oneDNN allocation per call would be a fresh mmap, whose page faults cost more than the reorders.
memory buffer(const memory::desc& md, std::vector<Tensor>& buffers) {
  const int64_t floats = static_cast<int64_t>((md.get_size() + sizeof(float) - 1) / sizeof(float));
  buffers.push_back(Tensor::empty({std::max<int64_t>(floats, 1)}));
  return memory(md, engine(), buffers.back().raw());
}

// Runs dir on the float32 tensors a, b (inputs) and out, in the order of Primitive::args; false
// (nothing done) where oneDNN does not apply. oneDNN pads channels to its blocks of 8, so a
// convolution with fewer than 8 input or output channels (an image stem) stays on im2col: measured,
// the 1-channel stem's backward ran 2.7-3x slower on oneDNN (docs/PERFORMANCE.md).
bool run(Direction dir, const Tensor& a, const Tensor& b, Tensor& out, const Shape& xs, const Shape& ws,
         const Shape& ys, const Conv2dParams& p) {
  const DnnlConv2d mode = dnnl_conv2d_mode;
  if (mode == DnnlConv2d::off || a.dtype() != DType::f32 || ws[0] < 8 || ws[1] < 8 || xs[0] == 0) return false;
  const Primitive& prim = cached(dir, xs, ws, ys, p, mode);
  dnnl::stream stream(engine());
  const std::array<void*, 3> data{a.raw(), b.raw(), out.raw()};
  std::array<memory, 3> user, own;
  std::vector<Tensor> buffers;
  std::unordered_map<int, memory> args{{DNNL_ARG_SCRATCHPAD, buffer(prim.scratchpad, buffers)}};
  for (int i = 0; i < 3; ++i) {
    user[i] = memory(prim.user[i], engine(), data[i]);
    if (!prim.reorders[i]) {
      args.emplace(prim.args[i], user[i]);
      continue;
    }
    own[i] = buffer(prim.own[i], buffers);
    if (i < 2) prim.reorders[i].execute(stream, user[i], own[i]);
    args.emplace(prim.args[i], own[i]);
  }
  prim.compute.execute(stream, args);
  if (prim.reorders[2]) prim.reorders[2].execute(stream, own[2], user[2]);
  stream.wait();
  return true;
}

}  // namespace

bool dnnl_conv2d_available() { return true; }

bool dnnl_conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p) {
  return run(Direction::forward, x, w, y, x.shape(), w.shape(), y.shape(), p);
}

bool dnnl_conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p) {
  return run(Direction::backward_data, dy, w, dx, dx.shape(), w.shape(), dy.shape(), p);
}

bool dnnl_conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dw, const Conv2dParams& p) {
  return run(Direction::backward_filter, dy, x, dw, x.shape(), dw.shape(), dy.shape(), p);
}

size_t dnnl_conv2d_cached_primitives() {
  std::lock_guard<std::mutex> lock(cache_mutex);
  return cache.size();
}

}  // namespace tg::cpu
#endif  // TAUGRAD_DNNL
