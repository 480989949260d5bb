// libFuzzer target: CIFAR-10 and CIFAR-100 binary batches (data/formats.cpp).
#include "fuzz/targets.h"

TG_FUZZ_TARGET(cifar)
