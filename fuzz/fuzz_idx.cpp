// libFuzzer target: IDX files (MNIST, Fashion-MNIST), raw or gzipped (data/formats.cpp, data/file_io.cpp).
#include "fuzz/targets.h"

TG_FUZZ_TARGET(idx)
