// libFuzzer target: NumPy .npy files: preamble, header dict, shape and data size (data/npy.cpp).
#include "fuzz/targets.h"

TG_FUZZ_TARGET(npy)
