#include "nn/module.h"

#include <map>
#include <set>
#include <sstream>

#include "util/error.h"

namespace tg::nn {

Variable Module::forward(const Variable&) { TG_FAIL(type_name_, ": this module has no forward (call its children)"); }

// ---- registration ----

void Module::register_parameter(const std::string& name, Variable* param) {
  TG_CHECK(param && param->defined(), type_name_, ": parameter '", name, "' is undefined");
  param->set_requires_grad(true);
  params_.emplace_back(name, param);
}

void Module::register_buffer(const std::string& name, Tensor* buffer, bool persistent) {
  TG_CHECK(buffer && buffer->defined(), type_name_, ": buffer '", name, "' is undefined");
  buffers_.push_back({name, buffer, persistent});
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  TG_CHECK(module != nullptr, type_name_, ": child '", name, "' is null");
  for (const auto& [n, m] : children_) TG_CHECK(n != name, type_name_, ": child '", name, "' registered twice");
  children_.emplace_back(name, std::move(module));
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& [n, m] : children_)
    if (n == name) return m;
  TG_FAIL(type_name_, ": no child named '", name, "'");
}

// ---- traversal ----

void Module::collect_parameters(const std::string& prefix,
                                std::vector<std::pair<std::string, Variable*>>& out) const {
  for (const auto& [n, p] : params_) out.emplace_back(prefix + n, p);
  for (const auto& [n, m] : children_) m->collect_parameters(prefix + n + ".", out);
}

void Module::collect_state(const std::string& prefix, bool with_nonpersistent,
                           std::vector<std::pair<std::string, Tensor*>>& out) const {
  for (const auto& [n, p] : params_) out.emplace_back(prefix + n, &p->data());
  for (const auto& b : buffers_)
    if (b.persistent || with_nonpersistent) out.emplace_back(prefix + b.name, b.tensor);
  for (const auto& [n, m] : children_) m->collect_state(prefix + n + ".", with_nonpersistent, out);
}

std::vector<std::pair<std::string, Variable>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Variable*>> ps;
  collect_parameters("", ps);
  std::vector<std::pair<std::string, Variable>> out;
  for (const auto& [n, p] : ps) out.emplace_back(n, *p);
  return out;
}

std::vector<Variable> Module::parameters() const {
  std::vector<Variable> out;
  for (auto& [n, p] : named_parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool persistent_only) const {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& b : buffers_)
    if (b.persistent || !persistent_only) out.emplace_back(b.name, *b.tensor);
  for (const auto& [n, m] : children_)
    for (auto& [bn, t] : m->named_buffers(persistent_only)) out.emplace_back(n + "." + bn, t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

// ---- state ----

StateDict Module::state_dict() const {
  std::vector<std::pair<std::string, Tensor*>> entries;
  collect_state("", false, entries);
  StateDict out;
  for (const auto& [n, t] : entries) out.emplace_back(n, *t);
  return out;
}

LoadResult Module::load_state_dict(const StateDict& dict, bool strict) {
  std::vector<std::pair<std::string, Tensor*>> entries;
  collect_state("", false, entries);
  std::map<std::string, const Tensor*> given;
  for (const auto& [n, t] : dict) given[n] = &t;

  LoadResult result;
  std::vector<std::string> bad_shapes;
  std::set<std::string> known;
  for (const auto& [n, t] : entries) {
    known.insert(n);
    auto it = given.find(n);
    if (it == given.end()) {
      result.missing.push_back(n);
    } else if (it->second->shape() != t->shape()) {
      bad_shapes.push_back(n + ": checkpoint " + shape_str(it->second->shape()) + ", model " + shape_str(t->shape()));
    }
  }
  for (const auto& [n, t] : dict)
    if (!known.count(n)) result.unexpected.push_back(n);

  if (!bad_shapes.empty() || (strict && (!result.missing.empty() || !result.unexpected.empty()))) {
    std::ostringstream os;
    os << "load_state_dict (" << type_name_ << "): the checkpoint does not fit the model";
    auto list = [&](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      os << "\n  " << what << " (" << names.size() << "):";
      for (const auto& n : names) os << "\n    " << n;
    };
    list("shape mismatches", bad_shapes);
    if (strict) {
      list("missing from the checkpoint", result.missing);
      list("unexpected in the checkpoint", result.unexpected);
    }
    os << "\n  (a different class count or image size? see adapt_state_dict in nn/models/factory.h)";
    throw Error(os.str());
  }
  for (const auto& [n, t] : entries) {
    auto it = given.find(n);
    if (it == given.end()) continue;
    Tensor src = it->second->dtype() == t->dtype() ? *it->second : it->second->to(t->dtype());
    t->copy_(src);
  }
  return result;
}

// ---- modes and placement ----

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::set_precision(Precision p) {
  precision_ = p;
  for (auto& [n, m] : children_) m->set_precision(p);
}

void Module::apply_to_tensors(const std::function<Tensor(const Tensor&)>& f) {
  for (auto& [n, p] : params_) {
    p->data() = f(p->data());
    p->zero_grad();
  }
  for (auto& b : buffers_) *b.tensor = f(*b.tensor);
  for (auto& [n, m] : children_) m->apply_to_tensors(f);
}

Module& Module::to(Device device) {
  apply_to_tensors([&](const Tensor& t) { return t.to(device); });
  return *this;
}

Module& Module::to(DType dtype) {
  TG_CHECK(is_floating(dtype), type_name_, ".to: expected a floating dtype, got ", dtype_name(dtype));
  TG_CHECK(dtype != DType::bf16, type_name_, ".to(bfloat16): parameters stay float32 (the master weights); for ",
           "bf16 GEMMs and convolutions use set_precision(Precision::bf16) (--precision bf16)");
  apply_to_tensors([&](const Tensor& t) { return is_floating(t.dtype()) ? t.to(dtype) : t; });
  return *this;
}

void Module::zero_grad() {
  for (auto& [n, p] : named_parameters()) p.zero_grad();
}

void Module::apply(const std::function<void(Module&)>& f) {
  f(*this);
  for (auto& [n, m] : children_) m->apply(f);
}

// ---- containers ----

Sequential::Sequential(const std::vector<ModulePtr>& modules) : Module("Sequential") {
  for (const auto& m : modules) push_back(m);
}

void Sequential::push_back(ModulePtr m) { add_child(std::to_string(size()), std::move(m)); }

Variable Sequential::forward(const Variable& x) {
  Variable y = x;
  for (const auto& [n, m] : named_children()) y = m->forward(y);
  return y;
}

void ModuleList::push_back(ModulePtr m) { add_child(std::to_string(size()), std::move(m)); }

}  // namespace tg::nn
