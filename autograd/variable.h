// Reverse-mode autograd. A Variable is a Tensor plus, when it takes part in differentiation, its
// gradient and the Node that made it. Nodes are the differentiable functions
// (autograd/functions/<family>.cpp), each a struct whose forward() stands directly above backward().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace tg {

struct Node;
struct VariableImpl;

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor data, bool requires_grad = false);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& data() const;
  Tensor& data();  // for in-place updates under NoGradGuard (optimizers, attacks)
  const Tensor& grad() const;  // undefined until a backward reaches this leaf
  void set_grad(Tensor g);
  void zero_grad();            // drops the gradient (the next backward allocates a fresh one)

  bool requires_grad() const;
  Variable& set_requires_grad(bool on);  // leaves only
  bool is_leaf() const;
  const std::shared_ptr<Node>& grad_fn() const;
  Variable detach() const;  // same data, no graph

  // Leaves only: `hook` runs each time a backward() has finished this leaf's gradient for that
  // backward (.grad holds it: all of the graph's paths to the leaf are summed before), once per
  // backward, as soon as it is ready, before the engine goes on. grad() does not run it. What
  // data-parallel training reduces gradients on while backward goes on (distributed/data_parallel.h);
  // an empty hook removes it.
  void set_grad_ready_hook(std::function<void()> hook);

  // Accumulates d(this)/d(leaf), seeded with `dy` (ones for a one-element tensor), into every leaf
  // that requires grad.
  void backward(const Tensor& dy = {}) const;

  const Shape& shape() const { return data().shape(); }
  int64_t dim() const { return data().dim(); }
  int64_t size(int64_t d) const { return data().size(d); }
  int64_t numel() const { return data().numel(); }
  DType dtype() const { return data().dtype(); }
  Device device() const { return data().device(); }
  double item() const { return data().item(); }

  // Internal: the node that receives this variable's gradient (grad_fn, or the leaf's accumulator).
  std::shared_ptr<Node> gradient_edge() const;
  static Variable from_node(Tensor data, std::shared_ptr<Node> fn);

 private:
  std::shared_ptr<VariableImpl> impl_;
};

// Gradients of sum_i <dys[i], outputs[i]> with respect to `inputs` (leaves or not), without touching
// any .grad: what attacks need. Only the part of the graph that leads to `inputs` is run (a conv's
// weight gradient is skipped when only the input's is asked for). An input that no output depends on
// is an error unless allow_unused, when its gradient comes back as zeros.
std::vector<Tensor> grad(const std::vector<Variable>& outputs, const std::vector<Variable>& inputs,
                         const std::vector<Tensor>& dys = {}, bool allow_unused = false);

// While alive on this thread, ops record no graph.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};
bool grad_mode_enabled();

}  // namespace tg
