#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace tg {

namespace {

// Views one image [C, H, W] as a batch of one; returns the batch size and the per-image shape.
struct Geometry {
  int64_t n, c, h, w;
};

Geometry geometry(const Tensor& x, const char* op) {
  TG_CHECK(x.defined() && (x.dim() == 3 || x.dim() == 4), op, ": expected an image [C, H, W] or a batch ",
           "[N, C, H, W], got ", x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  TG_CHECK(!x.is_cuda(), op, ": data transforms run on the CPU, got a tensor on ", x.device().str());
  if (x.dim() == 3) return {1, x.size(0), x.size(1), x.size(2)};
  return {x.size(0), x.size(1), x.size(2), x.size(3)};
}

// The output's shape: the input's, with the spatial sizes replaced.
Shape with_size(const Tensor& x, int64_t h, int64_t w) {
  Shape s = x.shape();
  s[s.size() - 2] = h;
  s[s.size() - 1] = w;
  return s;
}

// Copies each image's (top, left) window into `out`, zeros outside the source; offsets per image.
Tensor crop_each(const Tensor& x, const std::vector<int64_t>& tops, const std::vector<int64_t>& lefts,
                 int64_t out_h, int64_t out_w, const char* op) {
  Geometry g = geometry(x, op);
  TG_CHECK(out_h > 0 && out_w > 0, op, ": output size ", out_h, "x", out_w, " must be positive");
  Tensor out = Tensor::zeros(with_size(x, out_h, out_w), x.dtype());
  size_t es = dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  for (int64_t i = 0; i < g.n; ++i) {
    int64_t top = tops[i], left = lefts[i];
    int64_t x0 = std::max<int64_t>(0, -left), x1 = std::min(out_w, g.w - left);  // output columns in range
    if (x1 <= x0) continue;
    for (int64_t ch = 0; ch < g.c; ++ch) {
      for (int64_t y = 0; y < out_h; ++y) {
        int64_t sy = top + y;
        if (sy < 0 || sy >= g.h) continue;
        const char* s = src + (((i * g.c + ch) * g.h + sy) * g.w + left + x0) * es;
        char* d = dst + (((i * g.c + ch) * out_h + y) * out_w + x0) * es;
        std::memcpy(d, s, static_cast<size_t>(x1 - x0) * es);
      }
    }
  }
  return out;
}

// One axis of a separable resize: for each output position, `taps` source indices and weights.
struct Taps {
  int taps = 0;
  std::vector<int64_t> index;
  std::vector<float> weight;
};

// PyTorch's cubic convolution coefficients (aten/src/ATen/native/UpSample.h), a = -0.75.
void cubic_coefficients(float t, float* c) {
  constexpr float A = -0.75f;
  auto conv1 = [](float x) { return ((A + 2) * x - (A + 3)) * x * x + 1; };             // |x| <= 1
  auto conv2 = [](float x) { return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; };       // 1 < |x| < 2
  c[0] = conv2(t + 1);
  c[1] = conv1(t);
  c[2] = conv1(1 - t);
  c[3] = conv2(2 - t);
}

Taps axis_taps(int64_t in, int64_t out, Interpolation mode) {
  Taps t;
  t.taps = mode == Interpolation::bilinear ? 2 : 4;
  t.index.resize(static_cast<size_t>(out * t.taps));
  t.weight.resize(t.index.size());
  float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    float src = scale * (static_cast<float>(o) + 0.5f) - 0.5f;
    int64_t* idx = &t.index[o * t.taps];
    float* w = &t.weight[o * t.taps];
    if (mode == Interpolation::bilinear) {
      src = std::max(src, 0.0f);
      int64_t i0 = static_cast<int64_t>(src);
      float l1 = src - static_cast<float>(i0);
      idx[0] = i0;
      idx[1] = i0 + (i0 < in - 1 ? 1 : 0);
      w[0] = 1.0f - l1;
      w[1] = l1;
    } else {
      int64_t i0 = static_cast<int64_t>(std::floor(src));
      cubic_coefficients(src - static_cast<float>(i0), w);
      for (int k = 0; k < 4; ++k) idx[k] = std::clamp<int64_t>(i0 - 1 + k, 0, in - 1);
    }
  }
  return t;
}

// Two passes, as PyTorch's per-pixel sum factors: each needed input row is first interpolated along
// x (tmp), then rows of tmp are blended along y. Same arithmetic, 2 x taps work per pixel.
template <class T>
void resize_planes(const T* src, T* dst, int64_t planes, int64_t h, int64_t w, const Taps& ty, const Taps& tx) {
  int64_t oh = static_cast<int64_t>(ty.index.size()) / ty.taps, ow = static_cast<int64_t>(tx.index.size()) / tx.taps;
  std::vector<float> tmp(static_cast<size_t>(h * ow)), acc(static_cast<size_t>(ow));
  for (int64_t p = 0; p < planes; ++p) {
    const T* in = src + p * h * w;
    T* out = dst + p * oh * ow;
    for (int64_t y = 0; y < h; ++y) {
      const T* row = in + y * w;
      float* t = tmp.data() + y * ow;
      for (int64_t x = 0; x < ow; ++x) {
        const int64_t* ix = &tx.index[x * tx.taps];
        const float* wx = &tx.weight[x * tx.taps];
        float r = 0;
        for (int b = 0; b < tx.taps; ++b) r += wx[b] * static_cast<float>(row[ix[b]]);
        t[x] = r;
      }
    }
    for (int64_t y = 0; y < oh; ++y) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int a = 0; a < ty.taps; ++a) {  // whole rows at a time, so the compiler vectorizes
        const float wy = ty.weight[y * ty.taps + a];
        const float* t = tmp.data() + ty.index[y * ty.taps + a] * ow;
        for (int64_t x = 0; x < ow; ++x) acc[x] += wy * t[x];
      }
      for (int64_t x = 0; x < ow; ++x) {
        if constexpr (std::is_same_v<T, uint8_t>) {
          out[y * ow + x] = static_cast<uint8_t>(std::clamp(std::nearbyint(acc[x]), 0.0f, 255.0f));
        } else {
          out[y * ow + x] = static_cast<T>(acc[x]);
        }
      }
    }
  }
}

}  // namespace

Tensor to_float(const Tensor& images) {
  if (images.dtype() != DType::u8) return images;
  Tensor out = Tensor::empty(images.shape(), DType::f32);
  const uint8_t* s = images.data<uint8_t>();
  float* d = out.data<float>();
  for (int64_t i = 0; i < images.numel(); ++i) d[i] = static_cast<float>(s[i]) / 255.0f;  // as torchvision: x.float().div(255)
  return out;
}

Tensor hflip(const Tensor& images) {
  Geometry g = geometry(images, "hflip");
  Tensor out = Tensor::empty_like(images);
  visit_dtype(images.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* src = images.data<T>();
    T* dst = out.data<T>();
    for (int64_t r = 0; r < g.n * g.c * g.h; ++r) std::reverse_copy(src + r * g.w, src + (r + 1) * g.w, dst + r * g.w);
  });
  return out;
}

Tensor crop(const Tensor& images, int64_t top, int64_t left, int64_t out_h, int64_t out_w) {
  Geometry g = geometry(images, "crop");
  return crop_each(images, std::vector<int64_t>(g.n, top), std::vector<int64_t>(g.n, left), out_h, out_w, "crop");
}

Tensor center_crop(const Tensor& images, int64_t out_h, int64_t out_w) {
  // torchvision rounds the offsets: int(round((H - h) / 2)).
  Geometry g = geometry(images, "center_crop");
  auto offset = [](int64_t in, int64_t out) { return static_cast<int64_t>(std::nearbyint((in - out) / 2.0)); };
  return crop(images, offset(g.h, out_h), offset(g.w, out_w), out_h, out_w);
}

Tensor random_crop(const Tensor& images, int64_t out_h, int64_t out_w, int64_t padding, Generator& gen) {
  Geometry g = geometry(images, "random_crop");
  int64_t range_y = g.h + 2 * padding - out_h, range_x = g.w + 2 * padding - out_w;
  TG_CHECK(padding >= 0 && range_y >= 0 && range_x >= 0, "random_crop: a ", out_h, "x", out_w,
           " crop does not fit a ", g.h, "x", g.w, " image padded by ", padding);
  Tensor r = rand({g.n, 2}, DType::f64, Device::cpu(), &gen);
  const double* u = r.data<double>();
  std::vector<int64_t> tops(g.n), lefts(g.n);
  for (int64_t i = 0; i < g.n; ++i) {
    tops[i] = static_cast<int64_t>(u[2 * i] * static_cast<double>(range_y + 1)) - padding;
    lefts[i] = static_cast<int64_t>(u[2 * i + 1] * static_cast<double>(range_x + 1)) - padding;
  }
  return crop_each(images, tops, lefts, out_h, out_w, "random_crop");
}

Tensor random_horizontal_flip(const Tensor& images, Generator& gen, double p) {
  Geometry g = geometry(images, "random_horizontal_flip");
  Tensor r = rand({g.n}, DType::f64, Device::cpu(), &gen);
  const double* u = r.data<double>();
  Tensor flipped = hflip(images);
  Tensor out = images.clone();
  Tensor out4 = out.reshape({g.n, g.c, g.h, g.w}), flipped4 = flipped.reshape({g.n, g.c, g.h, g.w});
  for (int64_t i = 0; i < g.n; ++i)
    if (u[i] < p) out4.slice_rows(i, i + 1).copy_(flipped4.slice_rows(i, i + 1));
  return out;
}

Tensor resize(const Tensor& images, int64_t out_h, int64_t out_w, Interpolation mode) {
  Geometry g = geometry(images, "resize");
  TG_CHECK(out_h > 0 && out_w > 0 && g.h > 0 && g.w > 0, "resize: cannot resize ", g.h, "x", g.w, " to ",
           out_h, "x", out_w);
  Taps ty = axis_taps(g.h, out_h, mode), tx = axis_taps(g.w, out_w, mode);
  Tensor out = Tensor::empty(with_size(images, out_h, out_w), images.dtype());
  visit_dtype(images.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, uint8_t>) {
      resize_planes(images.data<T>(), out.data<T>(), g.n * g.c, g.h, g.w, ty, tx);
    } else {
      TG_FAIL("resize: expected uint8 or floating images, got ", dtype_name(images.dtype()));
    }
  });
  return out;
}

}  // namespace tg
