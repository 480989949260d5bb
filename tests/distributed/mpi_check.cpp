// Every collective of distributed/communicator.h on every rank, run by tests/experiments/test_mpirun.cpp
// as `mpirun -np 2 taugrad_mpi_check` (CPU tensors: MPI), and by tests/distributed/test_nccl.cpp as
// `mpirun -np 2 taugrad_mpi_check cuda` (the tensors on each rank's GPU: NCCL). Each rank prints
// "rank R of N: ok" (with " (cuda)" for the second) when its results are right, or the first wrong one
// and exits 1. Values are small integers, exact in float32, so every check is equality.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "distributed/communicator.h"
#include "util/error.h"

using namespace tg;

namespace {

template <class T>
std::vector<T> range(int64_t n, double start) {
  std::vector<T> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<T>(start + i);
  return v;
}

template <class T>
void expect(const Tensor& t, const std::vector<T>& want, const char* what) {
  TG_CHECK(t.cpu().to_vector<T>() == want, what, ": wrong result on this rank (", t.device().str(), ")");
}

}  // namespace

int main(int argc, char** argv) {
  distributed::Communicator& world = distributed::world();
  const int64_t r = world.rank(), n = world.size();
  const bool cuda = argc > 1 && std::string(argv[1]) == "cuda";
  try {
    const Device device = cuda ? distributed::rank_gpu() : Device::cpu();
    auto from = [&](auto values, Shape shape) { return Tensor::from_vector(values, shape).to(device); };
    const char* launched = std::getenv("OMPI_COMM_WORLD_SIZE");
    TG_CHECK(world.backend().rfind("MPI", 0) == 0 && launched && n == std::atoll(launched), "the world is ", world.backend(),
             " of size ", n, ", not MPI's of the launcher's size");
    const int64_t len = 5;
    // Sum: rank r holds r + i, so the sum is n(n-1)/2 + n i.
    Tensor f = from(range<float>(len, static_cast<double>(r)), {len});
    world.allreduce_sum(f);
    std::vector<float> sum(len);
    for (int64_t i = 0; i < len; ++i) sum[i] = static_cast<float>(n * (n - 1) / 2 + n * i);
    expect(f, sum, "allreduce_sum f32");
    // The same through allreduce_sum_async (MPI_Iallreduce on the CPU; NCCL on the stream on a GPU).
    Tensor a = from(range<float>(len, static_cast<double>(r)), {len});
    world.allreduce_sum_async(a)->wait();
    expect(a, sum, "allreduce_sum_async f32");
    Tensor k = from(range<int64_t>(len, static_cast<double>(r)), {len});
    world.allreduce_sum(k);
    std::vector<int64_t> ksum(len);
    for (int64_t i = 0; i < len; ++i) ksum[i] = n * (n - 1) / 2 + n * i;
    expect(k, ksum, "allreduce_sum i64");
    // Mean: rank r holds 2r, so the mean is n - 1.
    Tensor d = Tensor::full({len}, 2.0 * static_cast<double>(r), DType::f64, device);
    world.allreduce_mean(d);
    expect(d, std::vector<double>(len, static_cast<double>(n - 1)), "allreduce_mean f64");
    // Broadcast from the last rank.
    Tensor b = from(range<float>(len, 10.0 * static_cast<double>(r)), {len});
    world.broadcast(b, n - 1);
    expect(b, range<float>(len, 10.0 * static_cast<double>(n - 1)), "broadcast");
    // Allgather: rank r's [r, r + 1] becomes row r.
    Tensor g = world.allgather(from(range<float>(2, static_cast<double>(r)), {2}));
    TG_CHECK(g.device() == device, "allgather: the result is on ", g.device().str());
    TG_CHECK(g.shape() == Shape({n, 2}), "allgather: shape ", g.str());
    std::vector<float> rows;
    for (int64_t q = 0; q < n; ++q) rows.insert(rows.end(), {static_cast<float>(q), static_cast<float>(q + 1)});
    expect(g, rows, "allgather");
  } catch (const Error& e) {
    std::printf("rank %lld of %lld: %s\n", static_cast<long long>(r), static_cast<long long>(n), e.what());
    return 1;
  }
  std::printf("rank %lld of %lld: ok%s\n", static_cast<long long>(r), static_cast<long long>(n), cuda ? " (cuda)" : "");
  return 0;
}
