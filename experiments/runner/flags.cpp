#include "experiments/runner/flags.h"

#include <cstdio>
#include <sstream>

#include "util/error.h"

namespace tg::runner {

namespace {

std::string fmt_number(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

std::string join_numbers(const std::vector<double>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + fmt_number(v[i]);
  return out;
}

Flags::Flags(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

void Flags::add(const std::string& name, std::string* value, const std::string& help) {
  flags_.push_back({name, help, *value, value});
}
void Flags::add(const std::string& name, int64_t* value, const std::string& help) {
  flags_.push_back({name, help, std::to_string(*value), value});
}
void Flags::add(const std::string& name, double* value, const std::string& help) {
  flags_.push_back({name, help, fmt_number(*value), value});
}
void Flags::add(const std::string& name, bool* value, const std::string& help) {
  flags_.push_back({name, help, *value ? "true" : "false", value});
}
void Flags::add(const std::string& name, std::vector<double>* value, const std::string& help) {
  flags_.push_back({name, help, join_numbers(*value), value});
}

Flags::Flag* Flags::find(const std::string& name) {
  for (Flag& f : flags_)
    if (f.name == name) return &f;
  return nullptr;
}

void Flags::assign(Flag& f, const std::string& text) {
  auto bad = [&](const char* what) {
    TG_FAIL(program_, ": --", f.name, " expects ", what, ", got '", text, "' (see --help)");
  };
  auto to_double = [&](const std::string& s) {
    try {
      size_t used = 0;
      double v = std::stod(s, &used);
      if (used != s.size()) bad("a number");
      return v;
    } catch (const std::logic_error&) {
      bad("a number");
    }
    return 0.0;
  };
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, std::string>) {
          *p = text;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          try {
            size_t used = 0;
            *p = std::stoll(text, &used);
            if (used != text.size()) bad("an integer");
          } catch (const std::logic_error&) {
            bad("an integer");
          }
        } else if constexpr (std::is_same_v<T, double>) {
          *p = to_double(text);
        } else if constexpr (std::is_same_v<T, bool>) {
          if (text == "true" || text == "1" || text == "yes") {
            *p = true;
          } else if (text == "false" || text == "0" || text == "no") {
            *p = false;
          } else {
            bad("true or false");
          }
        } else {
          p->clear();
          std::stringstream ss(text);
          std::string item;
          while (std::getline(ss, item, ',')) p->push_back(to_double(item));
          if (p->empty()) bad("a comma-separated list of numbers");
        }
      },
      f.target);
}

bool Flags::parse(int argc, char** argv, std::vector<std::string>* set) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    TG_CHECK(arg.rfind("--", 0) == 0, program_, ": unexpected argument '", arg, "' (flags start with --; see --help)");
    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    Flag* f = find(name);
    if (!f && name.rfind("no-", 0) == 0) {
      Flag* neg = find(name.substr(3));
      if (neg && std::holds_alternative<bool*>(neg->target) && !has_value) {
        *std::get<bool*>(neg->target) = false;
        if (set) set->push_back(neg->name);
        continue;
      }
    }
    TG_CHECK(f, program_, ": unknown flag --", name, " (see --help)");
    if (!has_value) {
      if (std::holds_alternative<bool*>(f->target)) {
        value = "true";
      } else {
        TG_CHECK(i + 1 < argc, program_, ": --", name, " needs a value (see --help)");
        value = argv[++i];
      }
    }
    assign(*f, value);
    if (set) set->push_back(f->name);
  }
  return true;
}

void add_deterministic_flag(Flags& flags, bool* deterministic) {
  flags.add("deterministic", deterministic,
            "deterministic GPU algorithms: cuDNN convolutions chosen by its heuristics among the deterministic "
            "ones, so a run (and a resumed run) gives the same bits on the same GPU; --no-deterministic times "
            "them and takes the fastest. No effect on the CPU");
}

std::string Flags::help() const {
  std::ostringstream os;
  os << "usage: " << program_ << " [flags]\n\n" << summary_ << "\n\nflags:\n";
  for (const Flag& f : flags_) {
    std::string left = "  --" + f.name;
    os << left << std::string(left.size() < 24 ? 24 - left.size() : 1, ' ') << f.help;
    if (!f.default_text.empty()) os << " (default: " << f.default_text << ")";
    os << "\n";
  }
  os << "  --help                show this help\n";
  return os.str();
}

}  // namespace tg::runner
