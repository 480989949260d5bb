// The learner's examples (examples/*.cpp) run and pass their own checks: each exits 0 only when its
// result is right (the MLP learns two moons; the tempered CE matches its closed form). Runs the built
// binaries beside the test binary (build/examples/); skips, saying so, when they were not built
// (`ninja -C build examples/example_mlp examples/example_tempered_ce`). `meson test` runs them too.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/process.h"
#include "support/scratch.h"

namespace fs = std::filesystem;

namespace {

fs::path example_binary(const std::string& name) {
  return fs::read_symlink("/proc/self/exe").parent_path() / "examples" / ("example_" + name);
}

// Runs the example; returns its output after checking that it exited 0.
std::string run_example(const std::string& name) {
  const fs::path out = tg::test::scratch_path("taugrad_example_" + name);
  const int status = tg::test::wait_exit(tg::test::spawn(example_binary(name).string(), {}, out.string()));
  std::stringstream text;
  text << std::ifstream(out).rdbuf();
  fs::remove(out);
  CAPTURE(text.str());
  CHECK(status == 0);
  return text.str();
}

}  // namespace

TEST_CASE("examples: mlp learns two moons" * doctest::skip(!fs::exists(example_binary("mlp")))) {
  CHECK(run_example("mlp").find("training accuracy") != std::string::npos);
}

TEST_CASE("examples: tempered_ce agrees with the closed form at tau = 0.1 ... 10000" *
          doctest::skip(!fs::exists(example_binary("tempered_ce")))) {
  const std::string out = run_example("tempered_ce");
  CHECK(out.find("tau = 10000:") != std::string::npos);
  CHECK(out.find("every value agrees with the closed form") != std::string::npos);
}
