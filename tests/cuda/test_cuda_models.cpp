// Tier 2 at model level (issue 13): ResNet-50 (CIFAR stem) and ViT-S/16 forward and backward on the
// device against the CPU from the same weights and batch, a training step on both, every attack on both,
// and repeated calls on cached plans. Where the device is and at which shapes: tests/support/tier2.h
// (`TG_TIER2_DEVICE=cpu` runs the same bodies with the CPU standing in for the GPU; CI does, through
// scripts/gpu-check --dry-run). The CPU side takes a small batch (it is the expensive side); the device
// also runs the real batch in eval mode, whose first rows must equal the CPU's small batch.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attacks/evaluate.h"
#include "autograd/ops.h"
#include "nn/models/classifier.h"
#include "nn/models/registry.h"
#include "optim/optimizer.h"
#include "support/tier2.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;
using testing::Comparison;

namespace {

// A model at the shapes of one tier-2 run. depth: weight layers on the longest path; k: the longest
// dot product (both for the float32 tolerance).
struct ModelShape {
  std::string name;
  int64_t size, batch, big_batch;
  int depth;
  int64_t k;
};

ModelShape model_shape(const std::string& name, bool tiny) {
  if (name == "resnet50_cifar")  // 8x8 keeps every stage (8 -> 4 -> 2 -> 1); k = 3 x 3 x 512
    return tiny ? ModelShape{name, 8, 2, 4, 50, 4608} : ModelShape{name, 32, 8, 256, 50, 4608};
  // ViT-S/16: 12 blocks of qkv, QK^T, AV, proj, fc1, fc2, plus patch embedding and head; k = 1536 (fc2).
  // Tiny: 32x32 images, a 2x2 grid of patches.
  return tiny ? ModelShape{name, 32, 2, 4, 74, 1536} : ModelShape{name, 224, 2, 128, 74, 1536};
}

using Named = std::vector<std::pair<std::string, Tensor>>;

// One forward and backward: CE(model(x), y) at tau = 1.
struct Pass {
  Tensor logits, loss, input_grad;
  Named grads;
};

Pass forward_backward(nn::Module& model, const Tensor& x, const Tensor& y) {
  model.zero_grad();
  Variable xv(x, true);
  Variable logits = model(xv);
  Variable loss = cross_entropy(logits, y);
  loss.backward();
  Pass p{logits.data(), loss.data(), xv.grad(), {}};
  // NaN is skipped where both sides have it: a model that overflowed must not pass by comparing NaNs.
  REQUIRE_MESSAGE(std::isfinite(p.loss.cpu().item()), "the loss is ", p.loss.cpu().item(), " on ", x.device().str());
  for (const auto& [name, v] : model.named_parameters()) {
    REQUIRE_MESSAGE(v.grad().defined(), name, " has no gradient");
    p.grads.emplace_back(name, v.grad());
  }
  return p;
}

void add_pass(Comparison& c, const Pass& want, const Pass& got, double tolerance) {
  c.add("logits", want.logits, got.logits, tolerance);
  c.add("loss", want.loss, got.loss, tolerance);
  c.add("input grad", want.input_grad, got.input_grad, tolerance);
  REQUIRE(want.grads.size() == got.grads.size());
  for (size_t i = 0; i < want.grads.size(); ++i)
    c.add("grad " + want.grads[i].first, want.grads[i].second, got.grads[i].second, tolerance);
}

void add_same_bits(Comparison& c, const Pass& first, const Pass& again) {
  c.add_bits("logits", first.logits, again.logits);
  c.add_bits("loss", first.loss, again.loss);
  c.add_bits("input grad", first.input_grad, again.input_grad);
  for (size_t i = 0; i < first.grads.size(); ++i)
    c.add_bits("grad " + first.grads[i].first, first.grads[i].second, again.grads[i].second);
}

// The same model twice: on the CPU, and on the device from the CPU's weights.
struct ModelPair {
  std::shared_ptr<nn::Module> cpu, device;
};

ModelPair model_pair(const ModelShape& s, Device device, uint64_t seed) {
  Generator gen(seed);
  ModelPair m{nn::create_model(s.name, 10, 3, s.size, "cifar10", &gen), nullptr};
  m.device = nn::create_model(s.name, 10, 3, s.size, "cifar10");
  m.device->load_state_dict(m.cpu->state_dict(), true);
  m.device->to(device);
  return m;
}

// Every floating state tensor of an optimizer (momentum buffers, Adam's moments).
Named floating_state(const optim::Optimizer& opt) {
  Named out;
  for (const auto& [name, t] : opt.state_dict())
    if (t.dtype() == DType::f32 || t.dtype() == DType::f64) out.emplace_back(name, t);
  return out;
}

// Adam's update lr m^/(sqrt(v^) + eps) is on a knife edge where the moments are tiny: a gradient entry
// near 0 can take either sign within the gradient's tolerance, and the update then flips (+-lr). So the
// update is compared element by element against the error the moments' tolerance allows there:
// |du| <= lr (E_m / sqrt(v^) + |m^| E_v / (2 v^^1.5)), E_m and E_v the tolerances times max |m^|, max |v^|
// (first order; x2 for the second order and the division's rounding). Where v^ is tiny the bound is
// large: those elements are exempt, and the moments themselves are compared at tolerance.
void add_adam_update(Comparison& c, const std::string& name, const Tensor& want, const Tensor& got,
                     const Tensor& exp_avg, const Tensor& exp_avg_sq, double lr, double bias1, double bias2,
                     double tolerance) {
  auto m = testing::host_values(exp_avg), v = testing::host_values(exp_avg_sq);
  double max_m = 0, max_v = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    m[i] /= bias1, v[i] /= bias2;
    max_m = std::max(max_m, std::fabs(m[i])), max_v = std::max(max_v, v[i]);
  }
  const double e_m = tolerance * max_m, e_v = 2 * tolerance * max_v;
  std::vector<double> bound(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    const double root = std::sqrt(v[i]);
    bound[i] = 2 * lr * (e_m / root + std::fabs(m[i]) * e_v / (2 * v[i] * root)) + tolerance * lr;
    if (!std::isfinite(bound[i])) bound[i] = INFINITY;  // v^ = 0: no gradient ever reached it
  }
  c.add_bounded("update " + name, want, got, bound);
}

Named values(const optim::Optimizer& opt) {
  Named out;
  for (const auto& [name, v] : opt.params()) out.emplace_back(name, v.data().clone());
  return out;
}

std::unique_ptr<optim::Optimizer> make_optimizer(bool adam, nn::Module& model) {
  if (adam) return std::make_unique<optim::AdamW>(model.named_parameters(), optim::AdamOptions{1e-3, 0.9, 0.999, 1e-8, 0.05});
  return std::make_unique<optim::SGD>(model.named_parameters(), optim::SgdOptions{0.1, 0.9, 0.0, 5e-4, false});
}

// One optimizer step on both devices from the gradients the parameters hold: the optimizer states and
// every parameter's update must agree.
void compare_step(const std::string& what, optim::Optimizer& cpu, optim::Optimizer& device, bool adam, int step,
                  double tolerance) {
  const Named before_cpu = values(cpu), before_device = values(device);
  cpu.step();
  device.step();
  const Named after_cpu = values(cpu), after_device = values(device);
  const Named state_cpu = floating_state(cpu), state_device = floating_state(device);
  Comparison c(what);
  REQUIRE(state_cpu.size() == state_device.size());
  std::map<std::string, Tensor> state;
  for (size_t i = 0; i < state_cpu.size(); ++i) {
    const std::string& name = state_cpu[i].first;
    const bool squared = name.size() > 11 && name.compare(name.size() - 11, 11, ".exp_avg_sq") == 0;
    c.add("state " + name, state_cpu[i].second, state_device[i].second, squared ? 2 * tolerance : tolerance);
    state[name] = state_cpu[i].second;
  }
  for (size_t i = 0; i < before_cpu.size(); ++i) {
    const std::string& name = before_cpu[i].first;
    const Tensor want = sub(after_cpu[i].second, before_cpu[i].second);
    const Tensor got = sub(after_device[i].second, before_device[i].second);
    if (adam)
      add_adam_update(c, name, want, got, state.at(name + ".exp_avg"), state.at(name + ".exp_avg_sq"), cpu.lr(),
                      1 - std::pow(0.9, step), 1 - std::pow(0.999, step), tolerance);
    else
      c.add("update " + name, want, got, tolerance);
  }
  c.report();
}

// An untrained network gives every input the same class by a wide margin (ReLU features share a
// positive mean), and no attack moves it. With the head's bias set to -W mean(f(x)) over the batch the
// logits vary from example to example and the attacks fool some examples and not others.
void centre_on(nn::Module& model, const Tensor& x) {
  auto& classifier = dynamic_cast<nn::Classifier&>(model);
  NoGradGuard no_grad;
  const Tensor f = mean(classifier.features(Variable(x)).data(), {0});
  nn::Linear& head = classifier.classifier();
  head.bias.data().copy_(neg(matmul(head.weight.data(), f.reshape({f.numel(), 1})).reshape({head.out_features})));
}

// The budget at which about half the examples fall: the median over the batch of the linear estimate of
// each example's distance to the boundary in l_inf, margin / ||d margin / dx||_1. With it the success
// flags are a mix of 0s and 1s, whatever the model's scale.
double median_linear_eps(const attacks::ModelFn& model, const Tensor& x, const Tensor& y) {
  Variable xv(x, true);
  Variable margins = attacks::margin_loss(model(xv), y);  // z_other - z_y per example, < 0 while correct
  sum(margins).backward();
  const std::vector<double> m = testing::host_values(margins.data()),
                            g = testing::host_values(sum(abs(xv.grad().reshape({x.size(0), -1})), {1}));
  std::vector<double> eps(m.size());
  for (size_t i = 0; i < m.size(); ++i) eps[i] = -m[i] / g[i];
  std::nth_element(eps.begin(), eps.begin() + static_cast<std::ptrdiff_t>(eps.size() / 2), eps.end());
  return eps[eps.size() / 2];
}

// The whole model-level comparison of one model (ResNet-50: SGD; ViT-S: AdamW).
void check_model(const std::string& name, bool adam) {
  const testing::Tier2 t = *testing::tier2();
  const Device d = t.device;
  const ModelShape s = model_shape(name, t.tiny);
  const double tol = testing::float32_tolerance(s.depth, s.k), tol_tf32 = testing::tf32_tolerance(s.depth);
  MESSAGE(name, " at ", s.size, "x", s.size, ", CPU batch ", s.batch, ", device batch ", s.big_batch, " on ",
          d.str(), ": tolerance ", tol, " (float32), ", tol_tf32, " (TF32)");
  ModelPair m = model_pair(s, d, 7);
  Generator data(11);
  const Tensor xb = rand({s.big_batch, 3, s.size, s.size}, DType::f32, Device::cpu(), &data);
  const Tensor yb = randint({s.big_batch}, 0, 10, DType::i64, Device::cpu(), &data);
  const Tensor x = xb.slice_rows(0, s.batch), y = yb.slice_rows(0, s.batch), xd = x.to(d), yd = y.to(d);
  testing::Tf32Scope tf32_off(false);

  SUBCASE("eval mode: the device's real batch against the CPU's small one") {
    m.cpu->eval();
    m.device->eval();
    const Pass want = forward_backward(*m.cpu, x, y), big = forward_backward(*m.device, xb.to(d), yb.to(d));
    Comparison c(name + " eval, device batch " + std::to_string(s.big_batch) + " rows 0.." +
                 std::to_string(s.batch - 1) + " against the CPU");
    c.add("logits", want.logits, big.logits.slice_rows(0, s.batch), tol);
    // The loss is a mean: the big batch's input gradient rows are n / N of the small batch's (N / n is a
    // power of 2, so the scaling is exact).
    c.add("input grad", want.input_grad,
          mul(big.input_grad.slice_rows(0, s.batch), static_cast<double>(s.big_batch) / static_cast<double>(s.batch)),
          tol);
    c.report();
  }

  SUBCASE("train mode: forward, backward, two optimizer steps; TF32 on; cached plans") {
    m.cpu->train();
    m.device->train();
    const Pass want = forward_backward(*m.cpu, x, y), got = forward_backward(*m.device, xd, yd);
    Comparison off(name + " train, TF32 off");
    add_pass(off, want, got, tol);
    const auto buffers_cpu = m.cpu->named_buffers(true), buffers_device = m.device->named_buffers(true);
    for (size_t i = 0; i < buffers_cpu.size(); ++i)
      if (buffers_cpu[i].second.dtype() == DType::f32)  // the running statistics (not the batch counters)
        off.add("buffer " + buffers_cpu[i].first, buffers_cpu[i].second, buffers_device[i].second, tol);
    off.report();

    Pass tf32;
    {
      testing::Tf32Scope on(true);
      tf32 = forward_backward(*m.device, xd, yd);
    }
    Comparison on(name + " train, TF32 on");
    add_pass(on, want, tf32, tol_tf32);
    on.report();

    // Last on the device: the same call again, TF32 off (its gradients feed the optimizer step).
    const Pass again = forward_backward(*m.device, xd, yd);
    Comparison bits(name + " cached plans: the same call twice");
    add_same_bits(bits, got, again);
    bits.report();

    auto opt_cpu = make_optimizer(adam, *m.cpu), opt_device = make_optimizer(adam, *m.device);
    const std::string optimizer = adam ? " AdamW" : " SGD";
    compare_step(name + optimizer + " step 1", *opt_cpu, *opt_device, adam, 1, tol);
    Comparison second(name + " train, after step 1");
    add_pass(second, forward_backward(*m.cpu, x, y), forward_backward(*m.device, xd, yd), tol);
    second.report();
    compare_step(name + optimizer + " step 2", *opt_cpu, *opt_device, adam, 2, tol);
  }
}

// How one attack's results on two devices agree (the rules above the attack case). The CPU model
// judges both adversarial examples (`judge`): margin z_y - max_other z < 0 is a success.
struct AttackAgreement {
  size_t examples = 0, elements = 0, elements_apart = 0, examples_apart = 0, ties = 0, flags_compared = 0,
         flags_differ = 0, wrong_flags = 0, fooled = 0;
  bool ok() const { return flags_differ == 0 && wrong_flags == 0 && elements_apart * 20 <= elements; }
  std::string str() const {
    return std::to_string(elements_apart) + " of " + std::to_string(elements) + " elements apart (" +
           std::to_string(examples_apart) + " examples), " + std::to_string(ties) + " ties, flags compared on " +
           std::to_string(flags_compared) + " of " + std::to_string(examples) + ": " + std::to_string(flags_differ) +
           " differ, " + std::to_string(wrong_flags) + " not their x_adv's verdict; CPU fooled " + std::to_string(fooled);
  }
};

AttackAgreement attack_agreement(const attacks::ModelFn& judge, const Tensor& y, const attacks::AttackResult& want,
                                 const attacks::AttackResult& got, double tie) {
  using testing::host_values;
  const std::vector<double> a = host_values(want.x_adv), b = host_values(got.x_adv);
  const std::vector<double> margin_cpu = host_values(attacks::logit_margin(attacks::logits_no_grad(judge, want.x_adv.cpu()), y));
  const std::vector<double> margin_device = host_values(attacks::logit_margin(attacks::logits_no_grad(judge, got.x_adv.cpu()), y));
  const std::vector<double> fooled_cpu = host_values(want.fooled), fooled_device = host_values(got.fooled);
  AttackAgreement r;
  r.examples = fooled_cpu.size(), r.elements = a.size();
  REQUIRE(a.size() == b.size());
  REQUIRE(fooled_device.size() == r.examples);
  const size_t per = a.size() / r.examples;
  for (size_t i = 0; i < r.examples; ++i) {
    size_t apart = 0;
    for (size_t j = i * per; j < (i + 1) * per; ++j) apart += !(std::fabs(a[j] - b[j]) <= 1e-6);
    r.elements_apart += apart;
    r.examples_apart += apart > 0;
    r.fooled += fooled_cpu[i] != 0;
    if (std::fabs(margin_cpu[i]) <= tie || std::fabs(margin_device[i]) <= tie) {
      ++r.ties;
      continue;
    }
    r.wrong_flags += ((fooled_cpu[i] != 0) != (margin_cpu[i] < 0)) + ((fooled_device[i] != 0) != (margin_device[i] < 0));
    if (apart == 0) {
      ++r.flags_compared;
      r.flags_differ += fooled_cpu[i] != fooled_device[i];
    }
  }
  return r;
}

}  // namespace

#define TG_TIER2_CASE(name) TEST_CASE("cuda: models: " name * doctest::skip(!testing::tier2_runs()))

TEST_CASE("cuda: models: where tier 2 runs") {
  const auto t = testing::tier2();
  if (!t) MESSAGE("model-level tier 2: skipped, no GPU (TG_TIER2_DEVICE=cpu runs it with the CPU in its place)");
  else
    MESSAGE("model-level tier 2: on ", t->device.str(), t->stand_in ? " (the CPU standing in for the GPU)" : "",
            ", ", t->tiny ? "tiny" : "real", " shapes");
}

TG_TIER2_CASE("ResNet-50 (CIFAR stem) on the device against the CPU") { check_model("resnet50_cifar", false); }

TG_TIER2_CASE("ViT-S/16 on the device against the CPU") { check_model("vit_small_patch16_224", true); }

// Each attack of attacks/ (FAB is not there) on a fixed ResNet-20, labels = its clean predictions.
// Where the two devices may legitimately part, and how it is handled:
//  - sign(gradient) steps: a gradient entry within float32 error of 0 can take either sign, moving that
//    pixel by +-step, and the runs then differ slightly (ties of sign). So the adversarial examples must
//    agree (to 1e-6) on at least 95% of the elements, not all of them;
//  - success: each device's flag must be the CPU model's verdict on that device's x_adv (margin < 0),
//    and the two devices' flags must be equal on every example whose x_adv agree, except where the
//    margin is within the logits' tolerance of 0 (a tie in the logits: counted, exempt).
TG_TIER2_CASE("every attack on the device against the CPU") {
  const testing::Tier2 t = *testing::tier2();
  const Device d = t.device;
  const ModelShape s{"resnet20", t.tiny ? 16 : 32, t.tiny ? 8 : 16, 0, 20, 576};
  const double tol = testing::float32_tolerance(s.depth, s.k);
  testing::Tf32Scope tf32_off(false);
  ModelPair m = model_pair(s, d, 5);
  m.cpu->eval();
  m.device->eval();
  Generator data(13);
  const Tensor x = rand({s.batch, 3, s.size, s.size}, DType::f32, Device::cpu(), &data);
  centre_on(*m.cpu, x);
  m.device->load_state_dict(m.cpu->state_dict(), true);
  const attacks::ModelFn on_cpu = attacks::as_model_fn(*m.cpu), on_device = attacks::as_model_fn(*m.device);
  const Tensor y = attacks::predict(on_cpu, x);
  const Tensor logits = attacks::logits_no_grad(on_cpu, x);
  const double eps = median_linear_eps(on_cpu, x, y);
  MESSAGE("attacks at eps ", eps * 255, "/255 (the median linear estimate of the distance to the boundary)");
  const double tie = 2 * tol * max(abs(logits)).item();  // margins within this of 0 are ties
  {
    Comparison c("resnet20 eval logits");
    c.add("logits", logits, attacks::logits_no_grad(on_device, x.to(d)), tol);
    c.report();
  }
  for (const std::string& name : attacks::attack_names()) {
    CAPTURE(name);
    const attacks::NamedAttack attack = attacks::make_attack(name, eps, /*square_queries=*/40, /*apgd_iters=*/10);
    Generator gen_cpu(21), gen_device(21);
    const attacks::AttackResult want = attack.run(on_cpu, x, y, gen_cpu);
    const attacks::AttackResult got = attack.run(on_device, x.to(d), y.to(d), gen_device);
    const AttackAgreement agreement = attack_agreement(on_cpu, y, want, got, tie);
    MESSAGE("tier2 attack ", name, ": ", agreement.str());
    CHECK_MESSAGE(agreement.ok(), name, ": ", agreement.str());
  }
}

// The comparisons above must be able to fail: each is fed a perturbed result here, on the CPU, in every
// build (a CPU-against-CPU tier 2 run alone would pass with any comparison).
TEST_CASE("tier 2 support: a perturbed result fails each comparison") {
  Generator gen(3);
  const Tensor a = randn({64, 9}, DType::f32, Device::cpu(), &gen);
  const double tol = testing::float32_tolerance(50, 4608);
  auto failures = [&](const Tensor& got) {
    Comparison c("perturbed");
    c.add("t", a, got, tol);
    return c.failures();
  };
  CHECK(failures(a.clone()) == 0);
  std::vector<float> v = a.to_vector<float>();
  const float largest = testing::host_values(max(abs(a))).front();
  v[100] += static_cast<float>(0.5 * tol * largest);
  CHECK(failures(Tensor::from_vector(v, a.shape())) == 0);  // within the tolerance
  v[100] += static_cast<float>(2 * tol * largest);
  CHECK(failures(Tensor::from_vector(v, a.shape())) == 1);
  v = a.to_vector<float>();
  v[7] = NAN;
  CHECK(failures(Tensor::from_vector(v, a.shape())) == 1);
  CHECK(failures(a.reshape({9, 64})) == 1);

  Comparison bits("bits");
  v = a.to_vector<float>();
  v[5] = std::nextafter(v[5], INFINITY);
  bits.add_bits("same", a, a.clone());
  bits.add_bits("one ulp", a, Tensor::from_vector(v, a.shape()));
  CHECK(bits.failures() == 1);

  // Adam: the element whose moments are ~0 may flip (a knife edge); the one with large moments may not move.
  const double lr = 1e-3;
  const Tensor m = Tensor::from_vector<float>({1.f, 1e-9f}, {2}), s = Tensor::from_vector<float>({1.f, 1e-18f}, {2});
  const Tensor want = Tensor::from_vector<float>({-1e-3f, -1e-3f}, {2});
  Comparison flip("adam"), moved("adam");
  add_adam_update(flip, "w", want, Tensor::from_vector<float>({-1e-3f, 1e-3f}, {2}), m, s, lr, 1, 1, tol);
  add_adam_update(moved, "w", want, Tensor::from_vector<float>({-1.01e-3f, -1e-3f}, {2}), m, s, lr, 1, 1, tol);
  CHECK(flip.failures() == 0);
  CHECK(moved.failures() == 1);
}

TEST_CASE("tier 2 support: a perturbed model or attack fails the model-level comparisons") {
  const ModelShape s{"resnet20", 8, 2, 2, 20, 576};
  const double tol = testing::float32_tolerance(s.depth, s.k);
  ModelPair m = model_pair(s, Device::cpu(), 5);
  Generator data(13);
  const Tensor x = rand({s.batch, 3, s.size, s.size}, DType::f32, Device::cpu(), &data);
  const Tensor y = randint({s.batch}, 0, 10, DType::i64, Device::cpu(), &data);
  const Pass want = forward_backward(*m.cpu, x, y);
  Comparison same("resnet20"), perturbed("resnet20, one logit + 0.01 on the 'device'");
  add_pass(same, want, forward_backward(*m.device, x, y), tol);
  CHECK(same.failures() == 0);
  auto& head = dynamic_cast<nn::Classifier&>(*m.device).classifier();
  std::vector<float> b = head.bias.data().to_vector<float>();
  b[3] += 0.01f;
  head.bias.data().copy_(Tensor::from_vector(b, {10}));
  add_pass(perturbed, want, forward_backward(*m.device, x, y), tol);
  CHECK(perturbed.failures() >= 3);  // logits, loss, input gradient (and most parameter gradients)

  m.cpu->eval();
  const attacks::ModelFn model = attacks::as_model_fn(*m.cpu);
  Generator g1(1), g2(1);
  const attacks::AttackResult r = attacks::pgd(model, x, y, attacks::pgd20_options(), g1);
  attacks::AttackResult again = attacks::pgd(model, x, y, attacks::pgd20_options(), g2);
  CHECK(attack_agreement(model, y, r, again, 0.0).ok());
  // A flag flipped: it no longer is its x_adv's verdict, and it differs from the other device's.
  std::vector<uint8_t> fooled = again.fooled.to_vector<uint8_t>();
  fooled[0] ^= 1;
  attacks::AttackResult flipped{again.x_adv, Tensor::from_vector(fooled, {s.batch})};
  const AttackAgreement f = attack_agreement(model, y, r, flipped, 0.0);
  CHECK(f.flags_differ == 1);
  CHECK(f.wrong_flags == 1);
  CHECK_FALSE(f.ok());
  // One element in ten moved: more than the 5% that sign ties explain.
  std::vector<float> xa = again.x_adv.to_vector<float>();
  for (size_t i = 0; i < xa.size(); i += 10) xa[i] += 1e-3f;
  const AttackAgreement moved = attack_agreement(model, y, r, {Tensor::from_vector(xa, x.shape()), again.fooled}, 0.0);
  CHECK(moved.examples_apart == static_cast<size_t>(s.batch));
  CHECK(moved.flags_compared == 0);
  CHECK_FALSE(moved.ok());
}
