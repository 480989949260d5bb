// Attacks differentiate with respect to the input only (issue 12, "Evaluation"): on an eval-mode
// ResNet, every conv and batch-norm node of an attack's graph computes its input gradient and none
// computes a weight, gamma or beta gradient (the engine's needs_input_grad, which conv.cpp and
// batch_norm.cpp consult before running those kernels), and no parameter's .grad is stored. A
// training step on the same model is the contrast: there every such node does compute them.
#include <doctest/doctest.h>

#include <string>
#include <unordered_set>

#include "attacks/apgd.h"
#include "attacks/evaluate.h"
#include "attacks/pgd.h"
#include "autograd/node.h"
#include "nn/models/factory.h"

using namespace tg;

namespace {

// Per node kind: how many nodes, how many computed their input's gradient (slot 0), how many a
// parameter's (slots 1 and up).
struct GradCounts {
  int conv = 0, conv_dx = 0, conv_dw = 0, bn = 0, bn_dx = 0, bn_dparams = 0;
};

// Walks the graph below `out` (each node once).
void count(const Variable& out, GradCounts& c, std::unordered_set<const Node*>& seen) {
  std::vector<const Node*> stack{out.grad_fn().get()};
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (!n || !seen.insert(n).second) continue;
    const std::string name = n->name();
    const bool params = n->needs_input_grad(1) || n->needs_input_grad(2);
    if (name == "conv2d") c.conv++, c.conv_dx += n->needs_input_grad(0), c.conv_dw += params;
    if (name == "batch_norm") c.bn++, c.bn_dx += n->needs_input_grad(0), c.bn_dparams += params;
    for (const auto& child : n->next) stack.push_back(child.get());
  }
}

// The model as the attacks see it, keeping every output that has a graph, so the graphs can be
// inspected after the attack ran backward through them.
struct RecordingModel {
  std::shared_ptr<nn::Module> module;
  std::vector<Variable> outputs;
  attacks::ModelFn fn() {
    return [this](const Variable& x) {
      Variable z = (*module)(x);
      if (z.requires_grad()) outputs.push_back(z);
      return z;
    };
  }
  GradCounts counts() const {
    GradCounts c;
    std::unordered_set<const Node*> seen;
    for (const Variable& z : outputs) count(z, c, seen);
    return c;
  }
};

void check_input_gradients_only(const RecordingModel& m) {
  const GradCounts c = m.counts();
  CHECK(m.outputs.size() >= 2);
  CHECK(c.conv > 0);
  CHECK(c.conv_dx == c.conv);  // every conv ran its backward: dx
  CHECK(c.conv_dw == 0);       // and no weight gradient
  CHECK(c.bn > 0);
  CHECK(c.bn_dx == c.bn);
  CHECK(c.bn_dparams == 0);  // no dgamma, dbeta
  for (const auto& [name, p] : m.module->named_parameters()) {
    INFO(name);
    CHECK_FALSE(p.grad().defined());
  }
}

}  // namespace

TEST_CASE("attacks: PGD and APGD on an eval-mode ResNet compute input gradients only") {
  manual_seed(3);
  RecordingModel m{nn::create_model("resnet20", 10, 1, 8, ""), {}};
  m.module->eval();
  const Tensor x = rand({4, 1, 8, 8}), y = randint({4}, 0, 10);
  Generator gen(5);

  SUBCASE("PGD") {
    attacks::PgdOptions o = attacks::pgd20_options();
    o.steps = 3;
    attacks::pgd(m.fn(), x, y, o, gen);
    check_input_gradients_only(m);
  }
  SUBCASE("APGD-CE") {
    attacks::ApgdOptions o;
    o.n_iter = 3;
    attacks::apgd(m.fn(), x, y, o, gen);
    check_input_gradients_only(m);
  }
  SUBCASE("the contrast: a training step computes every parameter gradient") {
    m.module->train();
    Variable loss = cross_entropy(m.fn()(Variable(x)), y, 1.0);
    loss.backward();
    const GradCounts c = m.counts();
    CHECK(c.conv > 0);
    CHECK(c.conv_dw == c.conv);
    CHECK(c.bn_dparams == c.bn);
  }
}
