// The shard arithmetic of sharded evaluation (distributed/shard.h): whole batches, contiguous, in rank
// order, as even as whole batches allow, empty shards past the batches; and gather_shards, run on
// N threads that stand for N ranks (tests/support/thread_ranks.h), so the uneven and empty shards are
// checked without mpirun.
#include <doctest/doctest.h>

#include <vector>

#include "distributed/shard.h"
#include "support/thread_ranks.h"

using namespace tg;
using distributed::Shard;
using distributed::shard_of;


TEST_CASE("shard_of: contiguous whole batches in rank order, as even as batches allow, empty past the batches") {
  struct Case {
    int64_t n, batch, ranks;
    std::vector<Shard> expected;
  };
  const std::vector<Case> cases = {
      {10, 3, 2, {{0, 6}, {6, 10}}},              // 4 batches (3, 3, 3, 1): two each
      {10, 3, 3, {{0, 6}, {6, 9}, {9, 10}}},      // the first rank takes the extra batch
      {10, 4, 1, {{0, 10}}},                      // one rank: the whole set
      {5, 8, 3, {{0, 5}, {5, 5}, {5, 5}}},        // one batch: ranks 1 and 2 get nothing
      {2, 1, 4, {{0, 1}, {1, 2}, {2, 2}, {2, 2}}}, // more ranks than samples
      {0, 4, 2, {{0, 0}, {0, 0}}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.n);
    CAPTURE(c.batch);
    CAPTURE(c.ranks);
    for (int64_t r = 0; r < c.ranks; ++r) {
      const Shard s = shard_of(c.n, c.batch, r, c.ranks);
      CHECK(s.begin == c.expected[static_cast<size_t>(r)].begin);
      CHECK(s.end == c.expected[static_cast<size_t>(r)].end);
    }
  }
  // Every layout: the shards tile [0, n) in order, start on a batch boundary, and differ by one batch at most.
  for (int64_t n = 0; n <= 23; ++n)
    for (int64_t batch = 1; batch <= 7; ++batch)
      for (int64_t ranks = 1; ranks <= 9; ++ranks) {
        int64_t at = 0, fewest = n, most = 0;
        for (int64_t r = 0; r < ranks; ++r) {
          const Shard s = shard_of(n, batch, r, ranks);
          CHECK(s.begin == at);
          CHECK((s.begin % batch == 0 || s.begin == n));
          at = s.end;
          const int64_t batches = (s.size() + batch - 1) / batch;
          fewest = std::min(fewest, batches), most = std::max(most, batches);
        }
        CHECK(at == n);
        CHECK(most - fewest <= 1);
      }
  CHECK_THROWS_AS(shard_of(10, 0, 0, 2), Error);
  CHECK_THROWS_AS(shard_of(10, 3, 2, 2), Error);
}

TEST_CASE("gather_shards: every rank's rows in set order, uneven and empty shards, every dtype") {
  for (const int64_t ranks : {1, 2, 3, 5}) {
    const int64_t n = 7, batch = 2;  // 4 batches: with 5 ranks one shard is empty; with 3 uneven
    CAPTURE(ranks);
    // The set: row i of the logits is (i, -i), row i of the mask is i % 3 == 0.
    std::vector<float> logits;
    std::vector<uint8_t> mask;
    for (int64_t i = 0; i < n; ++i) logits.insert(logits.end(), {float(i), -float(i)}), mask.push_back(i % 3 == 0);
    const Tensor all_logits = Tensor::from_vector(logits, {n, 2});
    const Tensor all_mask = Tensor::from_vector(mask, {n});

    test::Threads threads(ranks);
    std::vector<Tensor> got_logits(static_cast<size_t>(ranks)), got_mask(static_cast<size_t>(ranks));
    test::run_ranks(threads, [&](test::ThreadRank& comm) {
      const Shard s = shard_of(n, batch, comm);
      const size_t r = static_cast<size_t>(comm.rank());
      got_logits[r] = distributed::gather_shards(comm, all_logits.slice_rows(s.begin, s.end), n, batch);
      got_mask[r] = distributed::gather_shards(comm, all_mask.slice_rows(s.begin, s.end), n, batch);
    });
    CHECK(!threads.shapes_differ);
    for (int64_t r = 0; r < ranks; ++r) {
      CAPTURE(r);
      CHECK(got_logits[static_cast<size_t>(r)].dtype() == DType::f32);
      CHECK(got_logits[static_cast<size_t>(r)].to_vector<float>() == logits);
      CHECK(got_mask[static_cast<size_t>(r)].dtype() == DType::u8);
      CHECK(got_mask[static_cast<size_t>(r)].to_vector<uint8_t>() == mask);
    }
  }
}

TEST_CASE("gather_shards: a rank that holds other rows than its shard's is an error") {
  test::Threads threads(1);
  test::ThreadRank comm(threads, 0);
  CHECK_THROWS_WITH_AS(distributed::gather_shards(comm, Tensor::zeros({3}), 4, 2), doctest::Contains("shard of 4 rows"),
                       Error);
}
