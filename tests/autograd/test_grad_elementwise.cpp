// Tier-1 gradient checks of the reductions over several axes.
#include <doctest/doctest.h>

#include "support/gradcheck.h"

using namespace tg;
using namespace tg::testing;

// The op table (tests/tensor/test_op_table.cpp) checks every elementwise op and single-axis
// reduction; reductions over several axes at once stay here.
TEST_CASE("gradcheck: reductions over several axes") {
  Tensor x = rand64({3, 4, 5}, 7);
  gradcheck("sum", [](auto& v) { return sum(v[0], {0, 2}); }, {x});
  gradcheck("var", [](auto& v) { return var(v[0], {0, 2}, 0, true); }, {x});
}
