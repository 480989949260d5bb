// Tier 3 (DESIGN.md §5): whole models against PyTorch on the same weights and inputs. The reference
// file comes from tools/make_reference.py (scripts/test writes it to build/reference.safetensors when
// PyTorch is installed, and points TAUGRAD_REFERENCE at it); without it the comparison is skipped
// (doctest's skip, counted as skipped) and the availability case says why.
#include <doctest/doctest.h>

#include <string>

#include "autograd/ops.h"
#include "nn/models/factory.h"
#include "support/reference.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

using namespace tg;

namespace {

const char* reference_path() { return testing::reference_file("TAUGRAD_REFERENCE"); }

// Limits, about 10x the largest errors measured against the float64 reference (docs/TESTING.md:
// logits 9.8e-7, loss 9.8e-8, input gradients 1.3e-6, parameter gradients 9.9e-7).
constexpr double kLogitsLimit = 1e-5, kLossLimit = 1e-6, kGradLimit = 1.5e-5;

// max |a - b| / max |b|: the error relative to the reference's scale.
double relative_error(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  return max(abs(sub(a, b))).item() / std::max(max(abs(b)).item(), 1e-30);
}

void check_model(const SafetensorsFile& ref, const std::string& name, int64_t image_size,
                 const std::vector<std::string>& param_grads) {
  auto model = nn::create_model(name, 10, 3, image_size, "cifar10");
  StateDict state;
  const std::string prefix = name + ".param.";
  for (const auto& [key, t] : ref.tensors)
    if (key.rfind(prefix, 0) == 0) state.emplace_back(key.substr(prefix.size()), t);
  model->load_state_dict(state, true);
  model->eval();
  const Tensor& x = ref.at(name + ".input");
  const Tensor& labels = ref.at(name + ".labels");
  for (double tau : {1.0, 50.0}) {
    const std::string t = tau == 1.0 ? "1" : "50";
    Variable xv(x, true);
    model->zero_grad();
    Variable logits = (*model)(xv);
    Variable loss = cross_entropy(logits, labels, tau);
    loss.backward();
    double e_logits = relative_error(logits.data(), ref.at(name + ".logits"));
    double e_loss = relative_error(loss.data().reshape({1}), ref.at(name + ".loss_tau" + t));
    double e_grad = relative_error(xv.grad(), ref.at(name + ".input_grad_tau" + t));
    MESSAGE(name, " tau=", t, ": logits rel err ", e_logits, ", loss ", e_loss, ", input grad ", e_grad);
    CHECK(e_logits <= kLogitsLimit);
    CHECK(e_loss <= kLossLimit);
    CHECK(e_grad <= kGradLimit);
    if (tau == 1.0) {
      auto params = model->named_parameters();
      for (const auto& p : param_grads) {
        const Variable* v = nullptr;
        for (const auto& [n, var] : params)
          if (n == p) v = &var;
        REQUIRE_MESSAGE(v, "no parameter ", p);
        double e = relative_error(v->grad(), ref.at(name + ".grad." + p));
        MESSAGE(name, " grad ", p, ": rel err ", e);
        CHECK(e <= kGradLimit);
      }
    }
  }
}

}  // namespace

TEST_CASE("reference (tier 3): availability") {
  testing::report_reference("models", "TAUGRAD_REFERENCE", "tools/make_reference.py");
}

TEST_CASE("reference (tier 3): ResNet50-cifar and ViT-S/16 match PyTorch" * doctest::skip(!reference_path())) {
  SafetensorsFile ref = load_safetensors(reference_path());
  SUBCASE("resnet50_cifar") {
    check_model(ref, "resnet50_cifar", 0, {"conv1.weight", "layer4.2.conv3.weight", "fc.weight"});
  }
  SUBCASE("vit_small_patch16_224") {
    check_model(ref, "vit_small_patch16_224", 224, {"patch_embed.proj.weight", "blocks.11.attn.qkv.weight", "head.weight"});
  }
}
