// Module: the unit models are built from (torch.nn.Module's model). A module owns named parameters
// (Variables that require grad), named buffers (Tensors: running statistics, counters) and named
// children; everything is addressed by dotted names ("layer1.0.conv1.weight") in registration order,
// own entries before children's, as torch orders them — so state_dict names are torchvision's/timm's.
//
// Layers keep their parameters and buffers as members and register their addresses, so moving a
// module to another device or dtype updates the members in place (parameter Variables keep their
// identity: an optimizer built before to() still holds the same parameters). Modules are neither
// copied nor moved; they live in shared_ptr.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "nn/precision.h"
#include "tensor/state_dict.h"

namespace tg::nn {

// What load_state_dict(strict = false) skipped.
struct LoadResult {
  std::vector<std::string> missing;     // in the module, not in the dict
  std::vector<std::string> unexpected;  // in the dict, not in the module
};

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The computation. Containers that hold modules without a forward (ModuleList) throw.
  virtual Variable forward(const Variable& x);
  Variable operator()(const Variable& x) { return forward(x); }

  const std::string& type_name() const { return type_name_; }

  // ---- traversal (dotted names, registration order, own entries first) ----
  std::vector<std::pair<std::string, Variable>> named_parameters() const;
  std::vector<Variable> parameters() const;
  // persistent_only: skip buffers that are not part of state_dict (Normalize's mean/std).
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool persistent_only = false) const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  std::shared_ptr<Module> child(const std::string& name) const;  // throws when absent
  int64_t num_parameters() const;

  // ---- state ----
  // Parameters then persistent buffers of each module, depth first: torch's state_dict order.
  StateDict state_dict() const;
  // Copies every entry into the module's tensors in place (converting dtype and device). Shape
  // mismatches always fail; with strict, missing and unexpected names fail too. The error lists
  // every bad name and shape at once.
  LoadResult load_state_dict(const StateDict& dict, bool strict = true);

  // ---- modes and placement ----
  void train(bool on = true);  // recursive
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // The precision policy of this module's GEMMs and convolutions (nn/precision.h); recursive. fp32
  // until set. Parameters stay float32 whatever it is.
  void set_precision(Precision p);
  Precision precision() const { return precision_; }
  Module& to(Device device);  // parameters and buffers
  Module& to(DType dtype);    // floating parameters and buffers only (counters stay int64)
  void zero_grad();           // drops every parameter's gradient
  // Calls f on this module and every descendant, depth first in registration order (torch's apply).
  void apply(const std::function<void(Module&)>& f);

 protected:
  // Registration, from a layer's constructor: `weight` is a member of the layer.
  void register_parameter(const std::string& name, Variable* param);
  void register_buffer(const std::string& name, Tensor* buffer, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  void add_child(const std::string& name, std::shared_ptr<Module> module);

 private:
  struct BufferEntry {
    std::string name;
    Tensor* tensor;
    bool persistent;
  };
  void collect_parameters(const std::string& prefix, std::vector<std::pair<std::string, Variable*>>& out) const;
  void collect_state(const std::string& prefix, bool with_nonpersistent,
                     std::vector<std::pair<std::string, Tensor*>>& out) const;
  void apply_to_tensors(const std::function<Tensor(const Tensor&)>& f);

  std::string type_name_;
  bool training_ = true;
  Precision precision_ = Precision::fp32;
  std::vector<std::pair<std::string, Variable*>> params_;
  std::vector<BufferEntry> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

using ModulePtr = std::shared_ptr<Module>;

// Runs a scope under precision p: sets the module's policy and the GPU's TF32 switch (apply_tf32), and
// restores both when it ends. Evaluation and attacks run in fp32 this way whatever the training ran in.
class PrecisionScope {
 public:
  PrecisionScope(Module& m, Precision p) : module_(m), saved_(m.precision()), saved_tf32_(allow_tf32()) {
    m.set_precision(p);
    apply_tf32(p);
  }
  ~PrecisionScope() {
    module_.set_precision(saved_);
    set_allow_tf32(saved_tf32_);
  }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Module& module_;
  Precision saved_;
  bool saved_tf32_;
};

// Runs its children in order; they are named "0", "1", ... as torch.nn.Sequential names them.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  explicit Sequential(const std::vector<ModulePtr>& modules);
  void push_back(ModulePtr m);
  size_t size() const { return named_children().size(); }
  ModulePtr operator[](size_t i) const { return named_children().at(i).second; }
  Variable forward(const Variable& x) override;
};

// Holds children named "0", "1", ... with no forward of its own (torch.nn.ModuleList).
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  void push_back(ModulePtr m);
  size_t size() const { return named_children().size(); }
  ModulePtr operator[](size_t i) const { return named_children().at(i).second; }
};

}  // namespace tg::nn
