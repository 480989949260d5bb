// The layer check (tests/scripts/check_layers.py; docs/ARCHITECTURE.md, "Layers") on scratch trees: a
// tree that keeps the rule passes and writes the build step's stamp and depfile; an upward include, a
// sideways one, one through a relative path, one between experiments' sub-layers, one of tensor/'s private
// kernel headers from above and one into a folder outside the layers each fail, naming the file, the line and the rule; this repository passes.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/scratch.h"

namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A scratch source tree, removed at the end.
struct Tree {
  fs::path root = tg::test::scratch_path("taugrad_layers");
  Tree() {
    fs::remove_all(root);
    // A tree that keeps the rule: each include is of its own folder or one below it, relative includes
    // resolve beside the file, and headers that are not in the tree (system, third-party) are not checked.
    write("util/error.h", "#pragma once\n");
    write("tensor/tensor.h", "#pragma once\n#include <vector>\n#include \"util/error.h\"\n");
    write("tensor/kernels.inc", "\n");
    write("tensor/cpu/conv2d.cpp", "#include \"../kernels.inc\"\n#include \"tensor/tensor.h\"\n");
    write("autograd/variable.h", "#include \"tensor/tensor.h\"\n");
    write("nn/module.h", "#include \"autograd/variable.h\"\n#include \"stb_image_write.h\"\n");
    write("optim/optimizer.h", "#include \"autograd/variable.h\"\n");
    write("data/loader.cpp", "  #  include \"tensor/tensor.h\"\n");
    write("attacks/pgd.h", "#include \"nn/module.h\"\n#include \"optim/optimizer.h\"\n#include \"data/loader.cpp\"\n");
    write("experiments/analysis/tsne.h", "#include \"nn/module.h\"\n");
    write("experiments/runner/sweep.h", "#include \"attacks/pgd.h\"\n#include \"experiments/analysis/tsne.h\"\n");
    write("experiments/train.cpp", "#include \"experiments/runner/sweep.h\"\n");
    write("tests/support/gradcheck.h", "#include \"nn/module.h\"\n");  // tests/ may include anything
  }
  ~Tree() { fs::remove_all(root); }
  void write(const std::string& path, const std::string& text) const {
    fs::create_directories((root / path).parent_path());
    std::ofstream(root / path) << text;
  }
};

struct Outcome {
  int status;
  std::string output;
};
Outcome check_layers(const fs::path& root, std::vector<std::string> extra = {}) {
  const fs::path out = tg::test::scratch_path("taugrad_layers_out");
  std::vector<std::string> args{"python3", (tg::test::source_dir() / "tests/scripts/check_layers.py").string(),
                                root.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  const int status = tg::test::wait_exit(tg::test::spawn("/usr/bin/env", args, out.string()));
  Outcome o{status, read_text(out)};
  fs::remove(out);
  return o;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("layers: a tree that keeps the rule passes; the build step writes its stamp and depfile") {
  Tree tree;
  const Outcome o = check_layers(tree.root);
  CHECK_MESSAGE(o.status == 0, o.output);
  CHECK(o.output.empty());

  const fs::path stamp = tree.root / "stamp.h", depfile = tree.root / "stamp.d";
  const Outcome built = check_layers(tree.root, {"--stamp", stamp.string(), "--depfile", depfile.string()});
  CHECK_MESSAGE(built.status == 0, built.output);
  CHECK(fs::exists(stamp));
  const std::string deps = read_text(depfile);
  CHECK(deps.rfind(stamp.string() + ": ", 0) == 0);  // the stamp as given, then what it depends on
  CHECK(contains(deps, (tree.root / "tensor/cpu/conv2d.cpp").string()));
  CHECK(contains(deps, (tree.root / "tensor/cpu").string() + " "));  // a new file there reruns the check
  CHECK(contains(deps, "check_layers.py"));
  CHECK_FALSE(contains(deps, "gradcheck.h"));  // tests/ is not a layer
}

TEST_CASE("layers: an upward include fails, naming the file, the line and the rule") {
  Tree tree;
  tree.write("tensor/tensor.cpp", "#include \"tensor/tensor.h\"\n\n#include \"nn/module.h\"\n");
  const fs::path stamp = tree.root / "stamp.h";
  const Outcome o = check_layers(tree.root, {"--stamp", stamp.string(), "--depfile", (tree.root / "d").string()});
  CHECK(o.status == 1);
  CHECK_MESSAGE(contains(o.output, "tensor/tensor.cpp:3: includes \"nn/module.h\" (nn/), but tensor/ may include "
                                   "only util/ (the layer rule"),
                o.output);
  CHECK(contains(o.output, "1 include(s) break the layer rule"));
  CHECK_FALSE(fs::exists(stamp));  // so the build stops there
}

TEST_CASE("layers: sideways, relative, sub-layer and outside includes fail too") {
  struct Case {
    const char* file;
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           // optim/ reads its state as a StateDict (tensor/), not through nn/
           Case{"optim/scheduler.h", "#include \"nn/module.h\"\n", "optim/scheduler.h:1: includes \"nn/module.h\" (nn/)"},
           Case{"data/npy.cpp", "#include \"autograd/variable.h\"\n", "data/npy.cpp:1: includes \"autograd/variable.h\" (autograd/)"},
           Case{"tensor/cpu/pool.cpp", "#include \"../../nn/module.h\"\n",
                "tensor/cpu/pool.cpp:1: includes \"../../nn/module.h\" (nn/)"},
           Case{"experiments/analysis/cal.cpp", "#include \"experiments/runner/sweep.h\"\n",
                "experiments/analysis/cal.cpp:1: includes \"experiments/runner/sweep.h\" (experiments/runner/), but "
                "experiments/analysis/ may include only util/, tensor/, autograd/, nn/"},
           Case{"util/json.cpp", "#include \"tensor/tensor.h\"\n",
                "util/json.cpp:1: includes \"tensor/tensor.h\" (tensor/), but util/ may include nothing outside itself"},
           // only tensor ops dispatch: the dispatcher and the kernel list are private to tensor/
           Case{"autograd/functions/pool.cpp", "#include \"tensor/kernels.inc\"\n",
                "autograd/functions/pool.cpp:1: includes \"tensor/kernels.inc\", which is private to tensor/"},
           Case{"nn/init.cpp", "#include \"tests/support/gradcheck.h\"\n",
                "nn/init.cpp:1: includes \"tests/support/gradcheck.h\" (a folder outside the library layers)"},
       }) {
    CAPTURE(c.file);
    Tree tree;
    tree.write(c.file, c.text);
    const Outcome o = check_layers(tree.root);
    CHECK(o.status == 1);
    CHECK_MESSAGE(contains(o.output, c.message), o.output);
  }
}

TEST_CASE("layers: this repository keeps the rule") {
  const Outcome o = check_layers(tg::test::source_dir());
  CHECK_MESSAGE(o.status == 0, o.output);
}
