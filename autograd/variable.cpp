// Variable, the leaf accumulator, grad mode, and the engine that runs backward over the graph.
#include "autograd/variable.h"

#include <unordered_map>
#include <unordered_set>

#include "autograd/node.h"
#include "tensor/ops.h"

namespace tg {

struct VariableImpl {
  Tensor data;
  Tensor grad;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;          // null for leaves
  std::weak_ptr<Node> accumulator;        // leaves: the node that adds into .grad
  std::function<void()> grad_ready;       // leaves: set_grad_ready_hook's
};

namespace {

thread_local bool g_grad_enabled = true;

// The sink for a leaf's gradient, where parameter gradients are accumulated: the first gradient
// after zero_grad is moved into .grad (no copy), later ones are added. The moved-in tensor may share
// storage with another leaf's .grad (y = a + b hands both the same dy) or be a view of the engine's
// buffers, so .grad is never written in place: a later gradient makes a fresh sum. grad() reads
// this node's input and never runs it. The engine runs it once per backward, with the sum of every
// path's gradient, so the leaf's grad-ready hook runs there.
struct AccumulateGrad : Node {
  std::shared_ptr<VariableImpl> leaf;
  explicit AccumulateGrad(std::shared_ptr<VariableImpl> v) : leaf(std::move(v)) {}
  const char* name() const override { return "accumulate_grad"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    leaf->grad = leaf->grad.defined() ? add(leaf->grad, dy) : dy;
    if (leaf->grad_ready) leaf->grad_ready();
    return {};
  }
};

}  // namespace

// ---- grad mode -------------------------------------------------------------------------------

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }
bool grad_mode_enabled() { return g_grad_enabled; }

// ---- Variable --------------------------------------------------------------------------------

Variable::Variable(Tensor data, bool requires_grad) : impl_(std::make_shared<VariableImpl>()) {
  impl_->data = std::move(data);
  set_requires_grad(requires_grad);
}

Variable Variable::from_node(Tensor data, std::shared_ptr<Node> fn) {
  Variable v(std::move(data));
  v.impl_->requires_grad = true;
  v.impl_->grad_fn = std::move(fn);
  return v;
}

const Tensor& Variable::data() const {
  TG_CHECK(impl_, "use of an undefined Variable");
  return impl_->data;
}
Tensor& Variable::data() {
  TG_CHECK(impl_, "use of an undefined Variable");
  return impl_->data;
}
const Tensor& Variable::grad() const { return impl_->grad; }
void Variable::set_grad(Tensor g) { impl_->grad = std::move(g); }
void Variable::zero_grad() { impl_->grad = Tensor(); }
bool Variable::requires_grad() const { return impl_ && impl_->requires_grad; }
bool Variable::is_leaf() const { return !impl_->grad_fn; }
const std::shared_ptr<Node>& Variable::grad_fn() const { return impl_->grad_fn; }

Variable& Variable::set_requires_grad(bool on) {
  TG_CHECK(is_leaf(), "set_requires_grad: only leaves can change requires_grad (use detach())");
  TG_CHECK(!on || is_floating(impl_->data.dtype()), "set_requires_grad: ", impl_->data.str(),
           " is not floating; only floating tensors have gradients");
  impl_->requires_grad = on;
  return *this;
}

void Variable::set_grad_ready_hook(std::function<void()> hook) {
  TG_CHECK(impl_ && is_leaf(), "set_grad_ready_hook: only leaves (parameters) have a grad-ready hook");
  impl_->grad_ready = std::move(hook);
}

Variable Variable::detach() const { return Variable(impl_->data); }

std::shared_ptr<Node> Variable::gradient_edge() const {
  if (!requires_grad()) return nullptr;
  if (impl_->grad_fn) return impl_->grad_fn;
  std::shared_ptr<Node> acc = impl_->accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(impl_);
    impl_->accumulator = acc;
  }
  return acc;
}

bool needs_graph(std::initializer_list<const Variable*> inputs) {
  if (!grad_mode_enabled()) return false;
  for (const Variable* v : inputs)
    if (v->requires_grad()) return true;
  return false;
}

bool needs_graph(const std::vector<Variable>& inputs) {
  if (!grad_mode_enabled()) return false;
  for (const Variable& v : inputs)
    if (v.requires_grad()) return true;
  return false;
}

Variable attach(std::shared_ptr<Node> fn, const std::vector<Variable>& inputs, Tensor output) {
  if (!needs_graph(inputs)) return Variable(std::move(output));
  fn->next.reserve(inputs.size());
  for (const Variable& v : inputs) {
    fn->next.push_back(v.gradient_edge());
    fn->input_shapes.push_back(v.defined() ? v.shape() : Shape{});
  }
  return Variable::from_node(std::move(output), std::move(fn));
}

// ---- the engine ------------------------------------------------------------------------------

namespace {

// Runs the graph below `roots` in reverse topological order. `wanted` marks the nodes whose
// incoming gradient the caller wants (grad()); when `accumulate`, leaves' accumulators run
// (backward()). Only nodes from which a wanted node is reachable are executed.
std::unordered_map<Node*, Tensor> run_backward(const std::vector<std::shared_ptr<Node>>& roots,
                                               const std::vector<Tensor>& root_grads,
                                               const std::unordered_set<Node*>& wanted, bool accumulate) {
  // 1. Collect the graph: post-order DFS, so reversed it is a topological order.
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack;
  for (const auto& r : roots) {
    if (!r || !seen.insert(r.get()).second) continue;
    stack.push_back({r.get(), 0});
    while (!stack.empty()) {
      auto& [node, i] = stack.back();
      if (i < node->next.size()) {
        Node* child = node->next[i++].get();
        if (child && seen.insert(child).second) stack.push_back({child, 0});
      } else {
        order.push_back(node);
        stack.pop_back();
      }
    }
  }
  // 2. A node is useful when it is wanted, or (accumulating) a leaf sink, or leads to a useful one.
  std::unordered_set<Node*> useful;
  for (Node* n : order) {  // children come before parents in `order`
    bool u = wanted.count(n) || (accumulate && dynamic_cast<AccumulateGrad*>(n));
    for (const auto& c : n->next) u = u || (c && useful.count(c.get()));
    if (u) useful.insert(n);
  }
  // 3. Propagate in reverse topological order.
  std::unordered_map<Node*, Tensor> grads;
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!roots[i]) continue;
    Tensor& g = grads[roots[i].get()];
    g = g.defined() ? add(g, root_grads[i]) : root_grads[i];
  }
  std::unordered_map<Node*, Tensor> result;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    auto found = grads.find(n);
    if (found == grads.end() || !useful.count(n)) continue;
    Tensor dy = std::move(found->second);
    grads.erase(found);
    if (wanted.count(n)) result[n] = dy;
    bool is_sink = dynamic_cast<AccumulateGrad*>(n) != nullptr;
    if (is_sink && !accumulate) continue;
    n->needs_.assign(n->next.size(), false);
    for (size_t i = 0; i < n->next.size(); ++i) n->needs_[i] = n->next[i] && useful.count(n->next[i].get());
    std::vector<Tensor> dxs = n->backward(dy);
    for (size_t i = 0; i < n->next.size() && i < dxs.size(); ++i) {
      if (!n->needs_[i] || !dxs[i].defined()) continue;
      Tensor dx = dxs[i].shape() == n->input_shapes[i] ? dxs[i] : sum_to(dxs[i], n->input_shapes[i]);
      Tensor& acc = grads[n->next[i].get()];
      acc = acc.defined() ? add(acc, dx) : dx;
    }
  }
  return result;
}

Tensor seed_grad(const Variable& out, const Tensor& dy, const char* who) {
  if (dy.defined()) {
    TG_CHECK(dy.shape() == out.shape(), who, ": gradient ", shape_str(dy.shape()),
             " does not match output ", shape_str(out.shape()));
    return dy;
  }
  TG_CHECK(out.numel() == 1, who, ": output ", out.data().str(),
           " is not a scalar; pass its gradient explicitly");
  return Tensor::ones(out.shape(), out.dtype(), out.device());
}

}  // namespace

void Variable::backward(const Tensor& dy) const {
  TG_CHECK(requires_grad(), "backward: the output does not require grad (no input requires grad, ",
           "or it was computed under NoGradGuard)");
  NoGradGuard no_grad;  // backward formulas use plain tensor ops; nothing to record
  run_backward({gradient_edge()}, {seed_grad(*this, dy, "backward")}, {}, /*accumulate=*/true);
}

std::vector<Tensor> grad(const std::vector<Variable>& outputs, const std::vector<Variable>& inputs,
                         const std::vector<Tensor>& dys, bool allow_unused) {
  TG_CHECK(dys.empty() || dys.size() == outputs.size(), "grad: ", dys.size(), " gradients for ",
           outputs.size(), " outputs");
  NoGradGuard no_grad;
  std::vector<std::shared_ptr<Node>> roots;
  std::vector<Tensor> seeds;
  for (size_t i = 0; i < outputs.size(); ++i) {
    TG_CHECK(outputs[i].requires_grad(), "grad: output ", i, " does not require grad");
    roots.push_back(outputs[i].gradient_edge());
    seeds.push_back(seed_grad(outputs[i], dys.empty() ? Tensor() : dys[i], "grad"));
  }
  std::vector<std::shared_ptr<Node>> targets;
  std::unordered_set<Node*> wanted;
  for (size_t i = 0; i < inputs.size(); ++i) {
    TG_CHECK(inputs[i].requires_grad(), "grad: input ", i, " does not require grad");
    targets.push_back(inputs[i].gradient_edge());
    wanted.insert(targets.back().get());
  }
  auto found = run_backward(roots, seeds, wanted, /*accumulate=*/false);
  std::vector<Tensor> out;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto it = found.find(targets[i].get());
    if (it != found.end()) {
      out.push_back(it->second);
    } else {
      TG_CHECK(allow_unused, "grad: input ", i, " (", inputs[i].data().str(),
               ") is not used in the graph of the outputs; pass allow_unused to get zeros");
      out.push_back(Tensor::zeros_like(inputs[i].data()));
    }
  }
  return out;
}

}  // namespace tg
