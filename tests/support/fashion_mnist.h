// Tests that train on Fashion-MNIST read Debian's dataset-fashion-mnist; where it is not installed they
// skip, saying so: TG_SKIP_WITHOUT_FASHION_MNIST(); at the top of the test case.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "data/dataset.h"

namespace tg::test {

inline bool have_fashion_mnist() {
  return std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz");
}

}  // namespace tg::test

#define TG_SKIP_WITHOUT_FASHION_MNIST()                                                        \
  if (!tg::test::have_fashion_mnist()) {                                                       \
    MESSAGE("skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)"); \
    return;                                                                                    \
  }
