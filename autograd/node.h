// A node of the graph: one differentiable function application with one output. It holds an edge
// to the node of each input that needs a gradient (null where none is needed), the inputs' shapes
// (the engine undoes broadcasting with them, once, for every op), and whatever its backward saved.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "autograd/variable.h"

namespace tg {

struct Node {
  Node() { created_.fetch_add(1, std::memory_order_relaxed); }
  virtual ~Node() = default;
  virtual const char* name() const = 0;
  // Given dL/d(output), returns dL/d(input_i) for every input (an undefined Tensor where
  // needs_input_grad(i) is false). A returned gradient may have the broadcast (output) shape:
  // the engine sums it down to the input's shape.
  virtual std::vector<Tensor> backward(const Tensor& dy) = 0;

  bool needs_input_grad(size_t i) const { return i < needs_.size() && needs_[i]; }

  std::vector<std::shared_ptr<Node>> next;  // per input
  std::vector<Shape> input_shapes;          // per input
  std::vector<bool> needs_;                 // set by the engine before each backward

  // Nodes constructed so far, all threads: how a test sees that a forward recorded nothing.
  static int64_t created() { return created_.load(std::memory_order_relaxed); }

 private:
  inline static std::atomic<int64_t> created_{0};
};

// Whether a function applied to `inputs` must record a node: grad mode is on and some input
// requires grad. Functions ask BEFORE running forward; when it is false they run the plain tensor op,
// build no node and save nothing (inference, and attacks' forwards under NoGradGuard):
//   if (!needs_graph({&a, &b})) return Variable(tg::mul(a.data(), b.data()));
//   auto fn = std::make_shared<Mul>();
//   Tensor y = fn->forward(a, b);  // saves what its backward reads
//   return attach(std::move(fn), {a, b}, std::move(y));
bool needs_graph(std::initializer_list<const Variable*> inputs);
bool needs_graph(const std::vector<Variable>& inputs);

// Wires `fn` into the graph (an edge to each input's gradient node, the inputs' shapes) and returns
// the output Variable; when needs_graph(inputs) is false, returns the plain output and drops `fn`.
Variable attach(std::shared_ptr<Node> fn, const std::vector<Variable>& inputs, Tensor output);

}  // namespace tg
