// CPU 2-D convolution (cross-correlation, as torch.nn.functional.conv2d): im2col + Eigen GEMM.
//
// x [N, C, H, W], w [K, C, R, S], y [N, K, P, Q]. For a chunk of nb images the column matrix
// col [C*R*S, nb*P*Q] holds, in column (b, p, q), the input patch under output pixel (p, q) of
// image b (zeros where the patch hangs over the padding). With W = w viewed as [K, C*R*S]:
//   forward          Y = W col                          (Y [K, nb*P*Q], scattered to y[n][k])
//   backward data    dcol = W^T dY,   dx = col2im(dcol)
//   backward filter  dW = dY col^T
// Several images share one GEMM when P*Q is small (7x7, 4x4 maps), so the GEMM stays wide enough
// for Eigen's kernels. Chunks run in parallel (OpenMP), each thread with its own
// buffers; inside a parallel region Eigen runs single-threaded by itself. A lone chunk (batch 1)
// runs outside any region, so that Eigen's GEMM can use the threads instead.
// A 1x1, stride-1, unpadded convolution needs no im2col: x[n] viewed as [C, H*W] is the column.
// With stride 1 the backward data is itself a convolution: dx = conv(dy, w flipped in r and s with
// k and c swapped, padding R-1-ph), which runs the forward's path: its GEMM has the long inner
// dimension K*R*S (instead of K) and needs no col2im: 1.4-1.5x faster at ResNet-20 sizes.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "tensor/cpu/conv2d_dnnl.h"
#include "tensor/cpu/gemm_blocking.h"
#include "tensor/kernels.h"

namespace tg::cpu {

namespace {

template <class T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using MapMat = Eigen::Map<Mat<T>>;
template <class T>
using MapConstMat = Eigen::Map<const Mat<T>>;

// GEMM width a chunk aims for: images share a GEMM only when P*Q is below it. Measured at ResNet-20
// sizes (one thread): 64, 256 and 1024 were within noise of each other down to 8x8, wider slightly
// worse; the chunking matters for smaller maps (4x4, 7x7).
constexpr int64_t kTargetColumns = 64;

struct Geometry {
  int64_t N, C, H, W, K, R, S, P, Q, sh, sw, ph, pw;
  static Geometry of(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
    return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], p.stride_h, p.stride_w, p.pad_h, p.pad_w};
  }
  // The stride-1 backward data as a forward convolution of dy (see the header comment).
  Geometry transposed() const { return {N, K, P, Q, C, R, S, H, W, 1, 1, R - 1 - ph, S - 1 - pw}; }
  // Worth it when the transposed GEMM has enough rows: C of them (3 for an RGB stem is too few).
  bool transposable() const { return sh == 1 && sw == 1 && ph <= R - 1 && pw <= S - 1 && C >= 8; }
  int64_t crs() const { return C * R * S; }
  int64_t pq() const { return P * Q; }
  int64_t chw() const { return C * H * W; }
  bool pointwise() const { return R == 1 && S == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

// The output positions o in [0, n_out) whose input o * stride - pad + k lies inside [0, n_in).
struct Range {
  int64_t lo, hi;
};
Range valid_range(int64_t n_in, int64_t n_out, int64_t stride, int64_t pad, int64_t k) {
  const int64_t off = pad - k;  // need o * stride >= off and o * stride <= n_in - 1 + off
  const int64_t last = n_in - 1 + off;
  const int64_t hi = last < 0 ? 0 : std::min(n_out, last / stride + 1);
  const int64_t lo = off > 0 ? (off + stride - 1) / stride : 0;
  return {std::min(lo, hi), hi};
}

// Writes image x [C, H, W] as columns [0, P*Q) of col, whose rows (c, r, s) are `ld` apart.
template <class T>
void im2col(const T* x, const Geometry& g, T* col, int64_t ld) {
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t r = 0; r < g.R; ++r) {
      const Range rp = valid_range(g.H, g.P, g.sh, g.ph, r);
      for (int64_t s = 0; s < g.S; ++s) {
        const Range rq = valid_range(g.W, g.Q, g.sw, g.pw, s);
        T* row = col + ((c * g.R + r) * g.S + s) * ld;
        std::fill(row, row + rp.lo * g.Q, T(0));
        for (int64_t p = rp.lo; p < rp.hi; ++p) {
          T* out = row + p * g.Q;
          const T* in = x + (c * g.H + p * g.sh - g.ph + r) * g.W - g.pw + s;  // in[q * sw] is (p, q)
          std::fill(out, out + rq.lo, T(0));
          if (g.sw == 1) {
            std::copy(in + rq.lo, in + rq.hi, out + rq.lo);
          } else {
            for (int64_t q = rq.lo; q < rq.hi; ++q) out[q] = in[q * g.sw];
          }
          std::fill(out + rq.hi, out + g.Q, T(0));
        }
        std::fill(row + rp.hi * g.Q, row + g.P * g.Q, T(0));
      }
    }
  }
}

// The adjoint of im2col: adds columns [0, P*Q) of col back into image dx [C, H, W].
template <class T>
void col2im_add(const T* col, int64_t ld, const Geometry& g, T* dx) {
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t r = 0; r < g.R; ++r) {
      const Range rp = valid_range(g.H, g.P, g.sh, g.ph, r);
      for (int64_t s = 0; s < g.S; ++s) {
        const Range rq = valid_range(g.W, g.Q, g.sw, g.pw, s);
        const T* row = col + ((c * g.R + r) * g.S + s) * ld;
        for (int64_t p = rp.lo; p < rp.hi; ++p) {
          const T* in = row + p * g.Q;
          T* out = dx + (c * g.H + p * g.sh - g.ph + r) * g.W - g.pw + s;
          for (int64_t q = rq.lo; q < rq.hi; ++q) out[q * g.sw] += in[q];
        }
      }
    }
  }
}

// How the batch is cut: chunks of nb images, each chunk one GEMM.
struct Chunking {
  int64_t nb, count;
};
Chunking chunking(const Geometry& g) {
  const int64_t threads = omp_get_max_threads();
  const int64_t per_thread = (g.N + threads - 1) / threads;
  const int64_t nb = std::clamp<int64_t>((kTargetColumns + g.pq() - 1) / g.pq(), 1, per_thread);
  return {nb, (g.N + nb - 1) / nb};
}

// Runs body(n0, nc, scratch) for every chunk (images [n0, n0 + nc)): in parallel with a scratch per thread, or
// directly when there is a single chunk (then Eigen may thread the GEMM itself).
template <class Scratch, class Body>
void for_each_chunk(const Geometry& g, const Chunking& ch, Body&& body) {
  auto run = [&](int64_t c, Scratch& scratch) {
    const int64_t n0 = c * ch.nb;
    body(n0, std::min(ch.nb, g.N - n0), scratch);
  };
  if (ch.count == 1) {
    Scratch scratch;
    run(0, scratch);
    return;
  }
#pragma omp parallel
  {
    Scratch scratch;
#pragma omp for schedule(static)
    for (int64_t c = 0; c < ch.count; ++c) run(c, scratch);
  }
}

// The column matrix [C*R*S, nc*P*Q] of images [n0, n0 + nc): x itself for a pointwise conv of
// one image, else built in `buffer`.
template <class T>
const T* columns(const T* x, const Geometry& g, int64_t n0, int64_t nc, std::vector<T>& buffer) {
  if (g.pointwise() && nc == 1) return x + n0 * g.chw();
  const int64_t cols = nc * g.pq();
  buffer.resize(static_cast<size_t>(g.crs() * cols));
  for (int64_t b = 0; b < nc; ++b) im2col(x + (n0 + b) * g.chw(), g, buffer.data() + b * g.pq(), cols);
  return buffer.data();
}

// dy of images [n0, n0 + nc) as one matrix [K, nc*P*Q]: dy itself for one image, else gathered.
template <class T>
const T* gather_dy(const T* dy, const Geometry& g, int64_t n0, int64_t nc, std::vector<T>& buffer) {
  const int64_t pq = g.pq(), cols = nc * pq;
  if (nc == 1) return dy + n0 * g.K * pq;
  buffer.resize(static_cast<size_t>(g.K * cols));
  for (int64_t b = 0; b < nc; ++b)
    for (int64_t k = 0; k < g.K; ++k) {
      const T* src = dy + ((n0 + b) * g.K + k) * pq;
      std::copy(src, src + pq, buffer.data() + k * cols + b * pq);
    }
  return buffer.data();
}

template <class T>
struct Buffers {
  std::vector<T> col, gemm;
};

// y = conv(x, w) for geometry g, or y += conv(x, w) when `accumulate`.
template <class T>
void forward_impl(const T* px, const T* pw, T* py, const Geometry& g, bool accumulate) {
  const Chunking ch = chunking(g);
  const MapConstMat<T> wm(pw, g.K, g.crs());
  for_each_chunk<Buffers<T>>(g, ch, [&](int64_t n0, int64_t nc, Buffers<T>& buf) {
    const int64_t pq = g.pq(), cols = nc * pq;
    const MapConstMat<T> col(columns(px, g, n0, nc, buf.col), g.crs(), cols);
    if (nc == 1) {
      MapMat<T> out(py + n0 * g.K * pq, g.K, pq);
      if (accumulate) {
        out.noalias() += wm * col;
      } else {
        out.noalias() = wm * col;
      }
      return;
    }
    buf.gemm.resize(static_cast<size_t>(g.K * cols));
    MapMat<T>(buf.gemm.data(), g.K, cols).noalias() = wm * col;
    for (int64_t b = 0; b < nc; ++b)
      for (int64_t k = 0; k < g.K; ++k) {
        const T* src = buf.gemm.data() + k * cols + b * pq;
        T* dst = py + ((n0 + b) * g.K + k) * pq;
        if (accumulate) {
          for (int64_t i = 0; i < pq; ++i) dst[i] += src[i];
        } else {
          std::copy(src, src + pq, dst);
        }
      }
  });
}

// A bfloat16 convolution (the mixed-precision operands): a and b widened to float32 (exactly), the
// float32 kernel, its result rounded to bfloat16. That is cuDNN's bf16 convolution (float32
// accumulation, bf16 output) up to the order of the sums, so the CPU runs the GPU's numerics.
template <class Kernel>
void via_float32(const Tensor& a, const Tensor& b, Tensor& out, const Conv2dParams& params, Kernel kernel) {
  Tensor a32 = Tensor::empty(a.shape()), b32 = Tensor::empty(b.shape()), out32 = Tensor::empty(out.shape());
  cast(a, a32);
  cast(b, b32);
  kernel(a32, b32, out32, params);
  cast(out32, out);
}

}  // namespace

// y[n, k, p, q] = sum_{c, r, s} w[k, c, r, s] x[n, c, p*sh - ph + r, q*sw - pw + s]  (zero outside).
void conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& params) {
  if (x.dtype() == DType::bf16) return via_float32(x, w, y, params, conv2d_forward);
  if (dnnl_conv2d_forward(x, w, y, params)) return;
  fix_gemm_blocking();
  visit_floating(x.dtype(), "conv2d", [&](auto zero) {
    using T = decltype(zero);
    forward_impl(x.data<T>(), w.data<T>(), y.data<T>(), Geometry::of(x.shape(), w.shape(), y.shape(), params), false);
  });
}

// Let L = <dy, y>. Writes dL/dx into dx: dx = col2im(W^T dY), the adjoint of the forward's
// im2col-then-GEMM (each x element gets w times every dy it contributed to). With stride 1 that is
// the convolution dx[n, c, h, v] = sum_{k, r, s} w[k, c, R-1-r, S-1-s] dy[n, k, h - (R-1-ph) + r, ...],
// run as a forward with the flipped, transposed weight.
void conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& params) {
  if (dy.dtype() == DType::bf16) return via_float32(dy, w, dx, params, conv2d_backward_data);
  if (dnnl_conv2d_backward_data(dy, w, dx, params)) return;
  fix_gemm_blocking();
  visit_floating(dy.dtype(), "conv2d_backward_data", [&](auto zero) {
    using T = decltype(zero);
    const Geometry g = Geometry::of(dx.shape(), w.shape(), dy.shape(), params);
    const T* pdy = dy.data<T>();
    const T* pw = w.data<T>();
    T* pdx = dx.data<T>();
    if (g.transposable()) {
      std::vector<T> wt(static_cast<size_t>(g.K * g.crs()));  // [C, K, R, S], flipped in r and s
      for (int64_t k = 0; k < g.K; ++k)
        for (int64_t c = 0; c < g.C; ++c)
          for (int64_t r = 0; r < g.R; ++r)
            for (int64_t s = 0; s < g.S; ++s)
              wt[((c * g.K + k) * g.R + g.R - 1 - r) * g.S + g.S - 1 - s] = pw[((k * g.C + c) * g.R + r) * g.S + s];
      forward_impl(pdy, wt.data(), pdx, g.transposed(), false);
      return;
    }
    const Chunking ch = chunking(g);
    const MapConstMat<T> wm(pw, g.K, g.crs());
    for_each_chunk<Buffers<T>>(g, ch, [&](int64_t n0, int64_t nc, Buffers<T>& buf) {
      const int64_t cols = nc * g.pq();
      const MapConstMat<T> dym(gather_dy(pdy, g, n0, nc, buf.gemm), g.K, cols);
      buf.col.resize(static_cast<size_t>(g.crs() * cols));
      MapMat<T>(buf.col.data(), g.crs(), cols).noalias() = wm.transpose() * dym;
      std::fill(pdx + n0 * g.chw(), pdx + (n0 + nc) * g.chw(), T(0));  // col2im adds: this chunk's dx
      for (int64_t b = 0; b < nc; ++b) col2im_add(buf.col.data() + b * g.pq(), cols, g, pdx + (n0 + b) * g.chw());
    });
  });
}

// Let L = <dy, y>. Writes dL/dw into dw: dW = sum over chunks of dY col^T. Threads sum into their
// own dW, which are then summed into dw in thread order (a fixed order: the same bits every call).
void conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dw, const Conv2dParams& params) {
  if (dy.dtype() == DType::bf16) return via_float32(dy, x, dw, params, conv2d_backward_filter);
  if (dnnl_conv2d_backward_filter(dy, x, dw, params)) return;
  fix_gemm_blocking();
  visit_floating(dy.dtype(), "conv2d_backward_filter", [&](auto zero) {
    using T = decltype(zero);
    const Geometry g = Geometry::of(x.shape(), dw.shape(), dy.shape(), params);
    const Chunking ch = chunking(g);
    const T* pdy = dy.data<T>();
    const T* px = x.data<T>();
    MapMat<T> dwm(dw.data<T>(), g.K, g.crs());
    dwm.setZero();  // the chunks' products are summed into it
    struct Scratch : Buffers<T> {
      Mat<T> dw_local;
      bool used = false;
    };
    auto accumulate = [&](int64_t n0, int64_t nc, Buffers<T>& buf, auto& target) {
      const int64_t cols = nc * g.pq();
      const MapConstMat<T> dym(gather_dy(pdy, g, n0, nc, buf.gemm), g.K, cols);
      const MapConstMat<T> col(columns(px, g, n0, nc, buf.col), g.crs(), cols);
      target.noalias() += dym * col.transpose();
    };
    if (ch.count == 1) {
      Buffers<T> buf;
      accumulate(0, g.N, buf, dwm);
      return;
    }
    std::vector<Scratch> scratch(static_cast<size_t>(omp_get_max_threads()));
#pragma omp parallel
    {
      Scratch& s = scratch[static_cast<size_t>(omp_get_thread_num())];
      s.dw_local = Mat<T>::Zero(g.K, g.crs());
#pragma omp for schedule(static)
      for (int64_t c = 0; c < ch.count; ++c) {
        const int64_t n0 = c * ch.nb;
        accumulate(n0, std::min(ch.nb, g.N - n0), s, s.dw_local);
        s.used = true;
      }
    }
    for (const Scratch& s : scratch)  // in thread order, so the sum is the same on every call
      if (s.used) dwm += s.dw_local;
  });
}

}  // namespace tg::cpu
