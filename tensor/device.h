// Where a tensor lives. The CUDA backend is optional at build time and a GPU optional at run time:
// asking for CUDA where there is none fails with a message that says which of the two is missing.
#pragma once

#include <string>

namespace tg {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

// Parses "cpu", "cuda" (= "gpu" = "cuda:0"), "cuda:N" and "auto" (the GPU when there is one). Throws on
// anything else, on N beyond the GPUs CUDA sees, and on "auto" where visible_nvidia_gpus() finds GPUs
// that CUDA cannot use (then only an explicit "cpu" runs on the CPU).
Device parse_device(const std::string& name);

// The NVIDIA GPUs this machine shows, whether or not CUDA can use them: `nvidia-smi -L`'s "GPU ..."
// lines (searched on PATH), else the /dev/nvidiaN files; "" when there are none.
std::string visible_nvidia_gpus();

// True when this build has the CUDA backend and the machine has at least one GPU.
bool cuda_is_available();
// The GPUs CUDA can use (0 without the CUDA backend, a driver or a GPU).
int cuda_device_count();
// True when this build has the CUDA backend at all.
bool cuda_is_built();
// True when `d` is a GPU with bfloat16 tensor cores (compute capability 8.0 or later); false on the CPU.
bool cuda_supports_bf16(Device d);
// TF32 tensor cores for float32 GEMMs and convolutions on the GPU (cuda::set_allow_tf32); without the
// CUDA backend the flag is kept but nothing reads it.
void set_allow_tf32(bool allow);
bool allow_tf32();
// Throws a clear error unless a CUDA device can be used (built with CUDA, driver present, a GPU).
void require_cuda(const char* what);

}  // namespace tg
