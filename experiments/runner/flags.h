// Command-line flags for the experiment binaries: `--name value` or `--name=value`, booleans as
// `--name` / `--no-name`, `--help` listing every flag with its default. Unknown flags and bad values
// are errors that name the flag.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace tg::runner {

class Flags {
 public:
  Flags(std::string program, std::string summary);

  void add(const std::string& name, std::string* value, const std::string& help);
  void add(const std::string& name, int64_t* value, const std::string& help);
  void add(const std::string& name, double* value, const std::string& help);
  void add(const std::string& name, bool* value, const std::string& help);
  // A comma-separated list of numbers, e.g. --taus 0.1,1,50.
  void add(const std::string& name, std::vector<double>* value, const std::string& help);

  // Parses argv. Returns false when --help was given (the help has been printed); throws tg::Error on
  // a bad flag. `set` (optional) receives the names of the flags the user gave.
  bool parse(int argc, char** argv, std::vector<std::string>* set = nullptr);
  std::string help() const;

 private:
  using Target = std::variant<std::string*, int64_t*, double*, bool*, std::vector<double>*>;
  struct Flag {
    std::string name, help, default_text;
    Target target;
  };
  Flag* find(const std::string& name);
  void assign(Flag& f, const std::string& text);

  std::string program_, summary_;
  std::vector<Flag> flags_;
};

std::string join_numbers(const std::vector<double>& v);

// --deterministic / --no-deterministic (train, evaluate, the tables and figures): deterministic GPU
// algorithms (tensor/determinism.h), on by default.
void add_deterministic_flag(Flags& flags, bool* deterministic);

}  // namespace tg::runner
