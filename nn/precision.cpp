#include "nn/precision.h"

#include "util/error.h"

namespace tg::nn {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::fp32: return "fp32";
    case Precision::tf32: return "tf32";
    case Precision::bf16: return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& name, const std::string& flag) {
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::bf16})
    if (name == precision_name(p)) return p;
  TG_FAIL(flag, ": unknown precision '", name, "' (choose fp32, tf32 or bf16)");
}

Precision default_precision(Device d) { return cuda_supports_bf16(d) ? Precision::bf16 : Precision::fp32; }

void apply_tf32(Precision p) { set_allow_tf32(p == Precision::tf32); }

}  // namespace tg::nn
