// The NCCL backend (distributed/nccl_backend.h) on the GPUs of two ranks, one each (rank_gpu()):
// every collective on CUDA tensors (`mpirun --oversubscribe -np 2 taugrad_mpi_check cuda`), and
// sync batch norm and bucketed data-parallel SGD (`mpirun ... taugrad_dp_check cuda`). Tier 2
// ("cuda: ..."): they need a build with NCCL (CUDA and MPI too), mpirun and two GPUs, and say which is
// missing when they skip; scripts/gpu-check runs them.
#include <doctest/doctest.h>

#include <string>

#include "distributed/communicator.h"
#include "support/mpirun.h"
#include "tensor/device.h"

using namespace tg;

namespace {

// Why two ranks cannot run NCCL here, or "" when they can.
std::string why_not() {
  if (!distributed::nccl_built()) return "this build has no NCCL backend (it needs -Dcuda, -Dmpi and NCCL: -Dnccl=enabled)";
  if (test::find_mpirun().empty()) return "mpirun is not on PATH";
  if (cuda_device_count() < 2)
    return "NCCL between two ranks needs two GPUs, one a rank; this machine has " + std::to_string(cuda_device_count());
  return "";
}

}  // namespace

TEST_CASE("cuda: nccl: allreduce, broadcast and allgather on the GPUs of two ranks (mpirun -np 2)") {
  if (const std::string why = why_not(); !why.empty()) {
    MESSAGE("skipped: ", why);
    return;
  }
  test::check_on_two_ranks("taugrad_mpi_check", "ok (cuda)", "cuda");
}

TEST_CASE("cuda: data parallel: sync batch norm and bucketed SGD on the GPUs of two ranks equal one GPU (mpirun -np 2)") {
  if (const std::string why = why_not(); !why.empty()) {
    MESSAGE("skipped: ", why);
    return;
  }
  test::check_on_two_ranks("taugrad_dp_check", "dp ok (cuda)", "cuda");
}
