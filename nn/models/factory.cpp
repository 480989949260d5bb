#include "nn/models/factory.h"

#include <algorithm>
#include <cmath>

#include "tensor/ops.h"

namespace tg::nn {

// Bilinear, align_corners = false: source coordinate (i + 0.5) * in / out - 0.5, clamped at 0.
Tensor resize_pos_embed(const Tensor& pos_embed, int64_t new_gh, int64_t new_gw) {
  TG_CHECK(pos_embed.dim() == 3 && pos_embed.size(0) == 1, "resize_pos_embed: expected [1, 1 + g*g, D], got ",
           pos_embed.str());
  const int64_t n = pos_embed.size(1) - 1, D = pos_embed.size(2);
  const auto g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(n))));
  TG_CHECK(g * g == n, "resize_pos_embed: ", n, " patch positions are not a square grid");
  std::vector<double> src = pos_embed.to(DType::f64).cpu().to_vector<double>();
  std::vector<double> dst(static_cast<size_t>((1 + new_gh * new_gw) * D));
  std::copy(src.begin(), src.begin() + D, dst.begin());  // class token
  auto coord = [](int64_t i, int64_t in, int64_t out, int64_t& i0, int64_t& i1, double& w1) {
    double s = std::max(0.0, (i + 0.5) * static_cast<double>(in) / static_cast<double>(out) - 0.5);
    i0 = std::min(static_cast<int64_t>(s), in - 1);
    i1 = std::min(i0 + 1, in - 1);
    w1 = s - static_cast<double>(i0);
  };
  for (int64_t y = 0; y < new_gh; ++y) {
    int64_t y0, y1;
    double wy;
    coord(y, g, new_gh, y0, y1, wy);
    for (int64_t x = 0; x < new_gw; ++x) {
      int64_t x0, x1;
      double wx;
      coord(x, g, new_gw, x0, x1, wx);
      const double* p00 = &src[(1 + y0 * g + x0) * D];
      const double* p01 = &src[(1 + y0 * g + x1) * D];
      const double* p10 = &src[(1 + y1 * g + x0) * D];
      const double* p11 = &src[(1 + y1 * g + x1) * D];
      double* out = &dst[(1 + y * new_gw + x) * D];
      for (int64_t d = 0; d < D; ++d)
        out[d] = (1 - wy) * ((1 - wx) * p00[d] + wx * p01[d]) + wy * ((1 - wx) * p10[d] + wx * p11[d]);
    }
  }
  return Tensor::from_vector(dst, {1, 1 + new_gh * new_gw, D}).to(pos_embed.dtype()).to(pos_embed.device());
}

namespace {
bool is_input_conv(const std::string& name) { return name == "patch_embed.proj.weight" || name == "conv1.weight"; }
}  // namespace

StateDict adapt_state_dict(const Module& model, const StateDict& checkpoint, std::vector<std::string>* changed) {
  const StateDict own = model.state_dict();
  StateDict out;
  for (const auto& [name, t] : checkpoint) {
    const Tensor* mine = find(own, name);
    if (!mine || mine->shape() == t.shape()) {
      out.emplace_back(name, t);
      continue;
    }
    const bool head = name == "fc.weight" || name == "fc.bias" || name == "head.weight" || name == "head.bias";
    if (head) {
      out.emplace_back(name, *mine);
    } else if (name == "pos_embed" && t.dim() == 3 && mine->dim() == 3 && t.size(2) == mine->size(2)) {
      const auto g = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(mine->size(1) - 1))));
      TG_CHECK(g * g + 1 == mine->size(1), "adapt_state_dict: the model's pos_embed ", mine->str(),
               " is not a square grid");
      out.emplace_back(name, resize_pos_embed(t, g, g));
    } else if (is_input_conv(name) && t.dim() == 4 && mine->dim() == 4 && t.size(1) == 3 && mine->size(1) == 1 &&
               t.size(0) == mine->size(0) && t.size(2) == mine->size(2) && t.size(3) == mine->size(3)) {
      // An RGB stem on gray images: the filters summed over colour (timm's adapt_input_conv), so a
      // gray image x gives what the RGB model gives on (x, x, x).
      out.emplace_back(name, sum(t, {1}, /*keepdim=*/true));
    } else {
      out.emplace_back(name, t);
      continue;
    }
    if (changed) changed->push_back(name);
  }
  return out;
}

}  // namespace tg::nn
