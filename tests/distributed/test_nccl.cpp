// The NCCL backend (distributed/nccl_backend.h): every collective on CUDA tensors of two ranks, each on its GPU
// (`mpirun --oversubscribe -np 2 taugrad_mpi_check cuda`). Tier 2 ("cuda: ..."): it needs a build with
// NCCL (CUDA and MPI too) and two GPUs, and says which is missing when it skips; scripts/gpu-check runs it.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "distributed/communicator.h"
#include "experiments/runner/results.h"
#include "support/mpirun.h"
#include "support/scratch.h"
#include "tensor/device.h"

namespace fs = std::filesystem;
using namespace tg;

TEST_CASE("cuda: nccl: allreduce, broadcast and allgather on the GPUs of two ranks (mpirun -np 2)") {
  if (!distributed::nccl_built() || test::find_mpirun().empty()) {
    MESSAGE("skipped: ", std::string(!distributed::nccl_built() ? "this build has no NCCL backend (it needs -Dcuda, "
                                                                  "-Dmpi and NCCL)" : "mpirun is not on PATH"));
    return;
  }
  if (cuda_device_count() < 2) {
    MESSAGE("skipped: NCCL between two ranks needs two GPUs, one a rank; this machine has ", cuda_device_count());
    return;
  }
  const fs::path check = fs::read_symlink("/proc/self/exe").parent_path() / "distributed" / "taugrad_mpi_check";
  REQUIRE_MESSAGE(fs::exists(check), check.string(), " is not built (ninja -C build distributed/taugrad_mpi_check)");
  const fs::path dir = test::scratch_path("taugrad_test_nccl");
  fs::create_directories(dir);
  const std::string log = (dir / "mpirun.log").string();
  test::Env env = test::mpirun_env();
  const int status =
      test::wait_exit(test::spawn(test::find_mpirun(), {"--oversubscribe", "-np", "2", check.string(), "cuda"}, log));
  const std::string out = runner::read_file(log);
  CHECK_MESSAGE(status == 0, out);
  CHECK_MESSAGE(out.find("rank 0 of 2: ok (cuda)") != std::string::npos, out);
  CHECK_MESSAGE(out.find("rank 1 of 2: ok (cuda)") != std::string::npos, out);
  fs::remove_all(dir);
}
