// libFuzzer target: safetensors files: the 8-byte header length, the header JSON, dtypes, shapes and data_offsets (tensor/safetensors.cpp).
#include "fuzz/targets.h"

TG_FUZZ_TARGET(safetensors)
