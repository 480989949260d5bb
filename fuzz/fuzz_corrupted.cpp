// libFuzzer target: the -C sets: images.npy and labels.npy of one corruption (data/corrupted.cpp).
#include "fuzz/targets.h"

TG_FUZZ_TARGET(corrupted)
