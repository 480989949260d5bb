// libFuzzer target: the JSON reader (tensor/json.cpp): configs, metrics, safetensors headers.
#include "fuzz/targets.h"

TG_FUZZ_TARGET(json)
