// The communicator (distributed/communicator.h) in a process no MPI launcher started: the single
// process, where each collective leaves its tensor as it is. The MPI backend's collectives run under
// `mpirun -np 2` in tests/experiments/test_mpirun.cpp.
#include <doctest/doctest.h>

#include <cstdlib>

#include "distributed/communicator.h"
#include "util/error.h"

using namespace tg;

TEST_CASE("communicator: a process without a launcher is rank 0 of 1, and its collectives are the identity" *
          doctest::skip(std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr || std::getenv("PMI_SIZE") != nullptr)) {
  distributed::Communicator& world = distributed::world();
  CHECK(world.rank() == 0);
  CHECK(world.size() == 1);
  CHECK(world.backend() == "single process");
  Tensor t = Tensor::from_vector(std::vector<float>{1.5f, -2, 3}, {3});
  world.allreduce_sum(t);
  world.allreduce_mean(t);
  world.broadcast(t, 0);
  CHECK(t.to_vector<float>() == std::vector<float>{1.5f, -2, 3});
  const Tensor g = world.allgather(t);
  CHECK(g.shape() == Shape({1, 3}));
  CHECK(g.to_vector<float>() == t.to_vector<float>());
  CHECK_THROWS_WITH_AS(world.broadcast(t, 1), doctest::Contains("root 1"), Error);
  Tensor k = Tensor::from_vector(std::vector<int64_t>{1, 2}, {2});
  CHECK_THROWS_WITH_AS(world.allreduce_mean(k), doctest::Contains("allreduce_sum"), Error);
}
