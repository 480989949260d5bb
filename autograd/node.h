// A node of the graph: one differentiable function application with one output. It holds an edge
// to the node of each input that needs a gradient (null where none is needed), the inputs' shapes
// (the engine undoes broadcasting with them, once, for every op), and whatever its backward saved.
#pragma once

#include <memory>
#include <vector>

#include "autograd/variable.h"

namespace tg {

struct Node {
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
};

// Builds the result of a differentiable function: wires `fn` into the graph when grad mode is on
// and some input requires grad, and returns the output Variable. Functions call it as
//   auto fn = std::make_shared<Mul>(); Tensor y = fn->forward(a.data(), b.data());
//   return attach(fn, {a, b}, y);
Variable attach(std::shared_ptr<Node> fn, const std::vector<Variable>& inputs, Tensor output);

}  // namespace tg
