// Tier 2 at model level (tests/cuda/test_cuda_models.cpp): where it runs, how two results are compared,
// and the tolerances. docs/TESTING.md ("Tier 2 inventory") lists the cases.
//
// Where: on a GPU when there is one. `TG_TIER2_DEVICE=cpu` puts the CPU in the GPU's place, so that the
// same test bodies run in CI without a GPU (scripts/gpu-check --dry-run): the CPU is compared with itself
// and must agree, which exercises every comparison; `tier 2 support:` cases show that a perturbed result
// fails them. `TG_TIER2_SIZE=tiny|real` picks the shapes (default: real on a GPU, tiny for the stand-in).
// `TG_TIER2_ERRORS=FILE` appends every compared tensor's error to FILE (comparison, tensor, error,
// tolerance, ok: tab-separated), which scripts/gpu-check puts into its report.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/tensor.h"
#include "util/error.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

namespace tg::testing {

struct Tier2 {
  Device device;
  bool stand_in;  // the CPU in the GPU's place
  bool tiny;      // tiny shapes: seconds on a 2-core CI machine
};

inline std::string tier2_env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The device tier 2 runs on, or nullopt (no GPU and no stand-in asked for: the cases skip).
inline std::optional<Tier2> tier2() {
  const std::string device = tier2_env("TG_TIER2_DEVICE"), size = tier2_env("TG_TIER2_SIZE");
  TG_CHECK(device.empty() || device == "cuda" || device == "cpu", "TG_TIER2_DEVICE='", device,
           "': set it to cuda (the GPU, the default) or cpu (the CPU standing in for the GPU), or unset it");
  TG_CHECK(size.empty() || size == "tiny" || size == "real", "TG_TIER2_SIZE='", size,
           "': set it to tiny or real, or unset it");
  const bool stand_in = device == "cpu";
  if (!stand_in && !cuda_is_available()) return std::nullopt;
  return Tier2{stand_in ? Device::cpu() : Device::cuda(), stand_in, size.empty() ? stand_in : size == "tiny"};
}

inline bool tier2_runs() { return tier2().has_value(); }

// TF32 for the device's float32 GEMMs and convolutions while in scope (no-op on the CPU, which has none).
class Tf32Scope {
 public:
  explicit Tf32Scope(bool on) {
#ifdef TAUGRAD_CUDA
    if (cuda_is_available()) {
      before_ = cuda::allow_tf32();
      cuda::set_allow_tf32(on);
    }
#else
    (void)on;
#endif
  }
  ~Tf32Scope() {
#ifdef TAUGRAD_CUDA
    if (cuda_is_available()) cuda::set_allow_tf32(before_);
#endif
  }
  Tf32Scope(const Tf32Scope&) = delete;
  Tf32Scope& operator=(const Tf32Scope&) = delete;

 private:
  bool before_ = false;
};

// Units of rounding: float32 (24-bit significand) and TF32 (11 bits: cuBLAS/cuDNN round each operand).
constexpr double kUnitF32 = 0x1p-24, kUnitTf32 = 0x1p-11;

// The worst relative error (below) allowed between two float32 computations of a network `depth`
// weight layers deep whose longest dot products sum `k` terms: a sum of k products rounds to about
// sqrt(k) u (errors of random sign), and the errors of L layers add up at most linearly; x2 for the
// normalization layers' division by a batch's spread. ResNet-50 (L 50, k 4608): 4.0e-4.
inline double float32_tolerance(int depth, int64_t k) {
  return 2.0 * depth * std::sqrt(static_cast<double>(k)) * kUnitF32;
}
// With TF32 the operand rounding dominates (u = 2^-11 per product, not growing with k); the layers'
// errors are independent and add in quadrature: 4 sqrt(L) u. ResNet-50: 1.4e-2.
inline double tf32_tolerance(int depth) { return 4.0 * std::sqrt(static_cast<double>(depth)) * kUnitTf32; }

inline std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", v);
  return buf;
}

inline std::vector<double> host_values(const Tensor& t) { return t.cpu().to(DType::f64).to_vector<double>(); }

// max |got - want| / max |want| (the error relative to the tensor's scale, as tier 3 measures it);
// infinite on a shape mismatch or a NaN in one but not the other.
inline double relative_error(const Tensor& want, const Tensor& got) {
  if (want.shape() != got.shape()) return INFINITY;
  const std::vector<double> a = host_values(want), b = host_values(got);
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    if (std::isnan(a[i])) continue;
    diff = std::max(diff, std::fabs(a[i] - b[i]));
    scale = std::max(scale, std::fabs(a[i]));
  }
  return diff == 0 ? 0 : diff / std::max(scale, 1e-30);
}

// ||a - b|| / ||b|| over the tensors of rank >= min_dim, as one vector (a model's parameter steps or
// gradients under two precisions: tests/tensor/test_bf16.cpp, test_bf16_transformer.cpp).
inline double relative_l2(const std::vector<Tensor>& a, const std::vector<Tensor>& b, int64_t min_dim = 0) {
  double d = 0, n = 0;
  for (size_t t = 0; t < a.size(); ++t) {
    if (a[t].dim() < min_dim) continue;
    const std::vector<double> x = host_values(a[t]), y = host_values(b[t]);
    for (size_t i = 0; i < x.size(); ++i) {
      d += (x[i] - y[i]) * (x[i] - y[i]);
      n += y[i] * y[i];
    }
  }
  return std::sqrt(d / n);
}

// Same shape, dtype and bits.
inline bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor x = a.cpu(), y = b.cpu();
  return std::memcmp(x.raw(), y.raw(), x.nbytes()) == 0;
}

// One comparison of many tensors (a model's logits, loss, input gradient and every parameter gradient):
// records each tensor's worst relative error against its tolerance (or, for add_bits, whether the bits
// are the same); report() prints the worst and every tensor that failed, and fails the test case for
// each of those. failures() lets a test see a perturbed result fail without failing itself.
class Comparison {
 public:
  explicit Comparison(std::string name) : name_(std::move(name)) {}

  void add(const std::string& tensor, const Tensor& want, const Tensor& got, double tolerance) {
    const double e = relative_error(want, got);
    push({tensor, e, tolerance, e <= tolerance});
  }
  // Element by element, |got_i - want_i| <= bound_i (where a single tolerance cannot serve: Adam's
  // update, tests/cuda/test_cuda_models.cpp); recorded as the worst |got_i - want_i| / bound_i against 1.
  void add_bounded(const std::string& tensor, const Tensor& want, const Tensor& got, const std::vector<double>& bound) {
    const std::vector<double> a = host_values(want), b = host_values(got);
    double worst = a.size() == b.size() && a.size() == bound.size() ? 0 : INFINITY;
    for (size_t i = 0; i < a.size() && i < b.size() && i < bound.size(); ++i)
      worst = std::max(worst, std::isnan(a[i]) || std::isnan(b[i]) ? INFINITY : std::fabs(a[i] - b[i]) / bound[i]);
    push({tensor + " (error / bound)", worst, 1.0, worst <= 1.0});
  }
  // Repeated calls on cached plans must give the same bits.
  void add_bits(const std::string& tensor, const Tensor& first, const Tensor& again) {
    const bool same = same_bits(first, again);
    push({tensor + " (bits)", same ? 0.0 : relative_error(first, again), 0.0, same});
  }

  size_t size() const { return rows_.size(); }
  size_t failures() const { return failed_.size(); }

  void report() const {
    REQUIRE_MESSAGE(!rows_.empty(), name_, ": nothing compared");
    std::string worst = "- (bits only)";
    double ratio = -1;
    for (const Row& r : rows_)
      if (r.tolerance > 0 && r.error / r.tolerance > ratio) {
        ratio = r.error / r.tolerance;
        worst = r.tensor + " " + sci(r.error) + " (tolerance " + sci(r.tolerance) + ")";
      }
    MESSAGE("tier2 ", name_, ": ", rows_.size(), " tensors, worst ", worst, ", ", failed_.size(), " failed");
    // Every tensor's error, for the device report (scripts/gpu-check sets TG_TIER2_ERRORS).
    if (const std::string path = tier2_env("TG_TIER2_ERRORS"); !path.empty()) {
      std::ofstream f(path, std::ios::app);
      for (const Row& r : rows_)
        f << name_ << '\t' << r.tensor << '\t' << sci(r.error) << '\t' << sci(r.tolerance) << '\t' << (r.ok ? "ok" : "FAILED") << '\n';
      CHECK_MESSAGE(f.good(), "TG_TIER2_ERRORS=", path, ": cannot append to it; point it at a writable file");
    }
    for (const Row& r : failed_)
      CHECK_MESSAGE(r.ok, name_, ": ", r.tensor, " relative error ", sci(r.error),
                    r.tolerance > 0 ? " over " + sci(r.tolerance) : std::string(", bits differ"));
  }

 private:
  struct Row {
    std::string tensor;
    double error, tolerance;
    bool ok;
  };
  void push(Row r) {
    if (!r.ok) failed_.push_back(r);
    rows_.push_back(std::move(r));
  }
  std::string name_;
  std::vector<Row> rows_, failed_;
};

}  // namespace tg::testing
