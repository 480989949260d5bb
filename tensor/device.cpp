// Device strings, CUDA availability, and the loud refusal of `auto` on a machine whose NVIDIA GPUs
// CUDA cannot use (a driver too old for this CUDA runtime, a build without CUDA): training on the CPU
// there would be silently 100x slower.
#include "tensor/device.h"

#include <atomic>
#include <charconv>
#include <cstdio>
#include <filesystem>

#include "tensor/determinism.h"
#include "util/error.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

namespace tg {

namespace {

// Why CUDA cannot be used here, for messages.
std::string cuda_unusable_reason() {
#ifdef TAUGRAD_CUDA
  return "CUDA cannot use them (" + cuda::no_device_reason() + ")";
#else
  return "taugrad was built without CUDA (rebuild with `meson setup build -Dcuda=enabled`)";
#endif
}

}  // namespace

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu();
  if (name == "cuda" || name == "gpu") return Device::cuda(0);
  if (name == "auto") {
    if (cuda_is_available()) return Device::cuda(0);
    const std::string gpus = visible_nvidia_gpus();
    TG_CHECK(gpus.empty(), "--device auto: this machine has NVIDIA GPUs (", gpus, ") but ", cuda_unusable_reason(),
             ", so auto would run on the CPU. Fix that, or pass --device cpu to use the CPU on purpose.");
    return Device::cpu();
  }
  int index = -1;
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5) {
    const char* end = name.data() + name.size();
    auto [p, ec] = std::from_chars(name.data() + 5, end, index);
    if (ec != std::errc() || p != end) index = -1;
  }
  TG_CHECK(index >= 0, "unknown device '", name, "': use cpu, cuda, cuda:N or auto");
#ifdef TAUGRAD_CUDA
  const int count = cuda::device_count();
  TG_CHECK(count == 0 || index < count, "device '", name, "': this machine has ", count, " CUDA device",
           count == 1 ? "" : "s", " (cuda:0 to cuda:", count - 1, ")");
#endif
  return Device::cuda(index);
}

std::string visible_nvidia_gpus() {
  std::string gpus;
  if (std::FILE* p = ::popen("nvidia-smi -L 2>/dev/null", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, p) != nullptr) {
      std::string s(line);
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      if (s.rfind("GPU ", 0) == 0) gpus += (gpus.empty() ? "" : "; ") + s;
    }
    ::pclose(p);
  }
  if (!gpus.empty()) return gpus;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev", ec)) {
    const std::string f = e.path().filename().string();
    if (f.size() > 6 && f.rfind("nvidia", 0) == 0 && f.find_first_not_of("0123456789", 6) == std::string::npos)
      gpus += (gpus.empty() ? "" : ", ") + e.path().string();
  }
  return gpus;
}

bool cuda_is_built() {
#ifdef TAUGRAD_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_is_available() { return cuda_device_count() > 0; }

int cuda_device_count() {
#ifdef TAUGRAD_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

void require_cuda(const char* what) {
#ifdef TAUGRAD_CUDA
  TG_CHECK(cuda::device_count() > 0, what, ": a CUDA device was asked for, but this machine has no ",
           "usable GPU (", cuda::no_device_reason(), "). Use --device cpu.");
#else
  TG_FAIL(what, ": a CUDA device was asked for, but taugrad was built without CUDA. Rebuild with ",
          "`meson setup build -Dcuda=enabled` on a machine with the CUDA Toolkit, or use --device cpu.");
#endif
}

bool cuda_supports_bf16(Device d) {
#ifdef TAUGRAD_CUDA
  if (!d.is_cuda() || cuda::device_count() <= d.index) return false;
  int major = 0;
  return cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d.index) == cudaSuccess && major >= 8;
#else
  (void)d;
  return false;
#endif
}

#ifdef TAUGRAD_CUDA
void set_allow_tf32(bool allow) { cuda::set_allow_tf32(allow); }
bool allow_tf32() { return cuda::allow_tf32(); }
#else
namespace {
bool tf32_flag = true;  // what cuda::allow_tf32 starts as
}  // namespace
void set_allow_tf32(bool allow) { tf32_flag = allow; }
bool allow_tf32() { return tf32_flag; }
#endif
namespace {
std::atomic<bool> g_deterministic{true};
}  // namespace

void set_deterministic_algorithms(bool on) { g_deterministic = on; }
bool deterministic_algorithms() { return g_deterministic; }

}  // namespace tg
