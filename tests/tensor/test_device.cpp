// Device strings and `auto` (tensor/device.cpp): strict parsing of cpu, cuda, cuda:N and auto, and
// `auto` refusing to fall back to the CPU, loudly, when NVIDIA GPUs are present that CUDA cannot use.
// The GPUs are faked with an `nvidia-smi` script on PATH.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tensor/device.h"
#include "util/error.h"
#include "support/scratch.h"

using namespace tg;

TEST_CASE("device: strings are parsed strictly") {
  CHECK(parse_device("cpu") == Device::cpu());
  CHECK(parse_device("cuda") == Device::cuda(0));
  CHECK(parse_device("gpu") == Device::cuda(0));
  CHECK(parse_device("cuda:0") == Device::cuda(0));
  if (!cuda_is_available()) CHECK(parse_device("cuda:12") == Device::cuda(12));  // checked when used
  for (const char* bad : {"tpu", "cuda:", "cuda:x", "cuda:1x", "cuda:-1", "cuda: 1", "cuda:99999999999", "CPU", ""})
    CHECK_THROWS_WITH_AS(parse_device(bad), doctest::Contains("use cpu, cuda, cuda:N or auto"), Error);
}

TEST_CASE("device: auto refuses the CPU when nvidia-smi lists GPUs that CUDA cannot use") {
  if (cuda_is_available()) {
    MESSAGE("skipped: CUDA is usable here, so auto picks the GPU");
    return;
  }
  namespace fs = std::filesystem;
  const fs::path dir = tg::test::scratch_path("taugrad_test_device");
  fs::create_directories(dir);
  {
    std::ofstream script(dir / "nvidia-smi");
    script << "#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-00000000-fake)'\n";
  }
  fs::permissions(dir / "nvidia-smi", fs::perms::owner_all);
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  setenv("PATH", (dir.string() + ":" + old_path).c_str(), 1);
  CHECK(visible_nvidia_gpus().find("NVIDIA H200") != std::string::npos);
  CHECK_THROWS_WITH_AS(parse_device("auto"), doctest::Contains("GPU 0: NVIDIA H200"), Error);
  CHECK_THROWS_WITH_AS(parse_device("auto"), doctest::Contains("--device cpu"), Error);
  CHECK(parse_device("cpu") == Device::cpu());  // an explicit CPU is still fine
  setenv("PATH", old_path.c_str(), 1);
  fs::remove_all(dir);
  if (visible_nvidia_gpus().empty()) CHECK(parse_device("auto") == Device::cpu());
}
