// paper: every table and figure of the study with one command, and one report to send a colleague.
// It runs the table and figure commands one after another (each reuses the runs that are finished and
// resumes a killed one, so a second call redoes nothing), then writes <out>/report.md: the verdict
// per tau, every table, every figure inline, the exact commands with their wall times and exit
// status, the seeds, and the machine. A step that fails is reported and the others still run; the
// exit status is then 1.
//   paper --profile quick    Fashion-MNIST on the CPU (the quickstart runs a part of it)
//   paper --profile paper    the paper's models and data (CIFAR-10 for the figures), on a GPU
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "experiments/runner/flags.h"
#include "experiments/runner/progress.h"
#include "experiments/runner/results.h"
#include "experiments/runner/schema.h"
#include "util/error.h"

using namespace tg;
using namespace tg::runner;
namespace fs = std::filesystem;

namespace {

struct Step {
  std::string name;     // table1 ... fig7, eq10: the binary's name
  std::string caption;  // what it shows, for the report
};

const std::vector<Step>& all_steps() {
  static const std::vector<Step> steps = {
      {"table1", "Table I: trained from scratch at each tau, evaluated at tau = 1"},
      {"table2", "Table II: ViT fine-tuned with Adam at each tau"},
      {"table3", "Table III: adversarial training with the tempered clean term (Eq. 12)"},
      {"fig1", "Fig. 1: the weights Eq. 6 gives the prototypes in dL/df, over test samples"},
      {"fig2", "Fig. 2: t-SNE of the ResNet's penultimate features, per tau"},
      {"fig3", "Fig. 3: t-SNE of the ViT's penultimate features, per tau"},
      {"fig4", "Fig. 4: test error per epoch over 6 seeds, tau 0.5, 1, 50, lr 0.1 and 0.01"},
      {"fig5", "Fig. 5: logits before and after PGD-20"},
      {"fig6", "Fig. 6: distance and cosine similarity of f(x) to every prototype, one sample"},
      {"fig7", "Fig. 7: per-sample variance over the negative prototypes of distance and cosine"},
      {"eq10", "Eq. 10, measured: input-gradient norm and the share pointing at the largest other class"},
  };
  return steps;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  for (const auto& s : v)
    if (s == x) return true;
  return false;
}

// The word as a shell reads it back: as it is when it is plain, else in single quotes.
std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=,+-") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Outcome {
  Step step;
  std::string command;
  int status = 0;
  double seconds = 0;
  std::vector<std::string> written;  // the paths of its "Wrote <path>" lines (the first of each line)
  std::string table;                 // the Markdown table it printed, if any
};

// "DIR/table.md, table.csv and table.png." -> DIR/table.md, DIR/table.csv, DIR/table.png: the first
// is a path, the others are names in its folder; a parenthesis ends the list.
void add_written(std::string text, std::vector<std::string>& paths) {
  text = text.substr(0, text.find('('));
  for (const char* sep : {", and ", " and ", ", "}) {
    for (size_t at; (at = text.find(sep)) != std::string::npos;) text.replace(at, std::string(sep).size(), "\n");
  }
  std::stringstream in(text);
  fs::path folder;
  bool first = true;
  for (std::string item; std::getline(in, item);) {
    while (!item.empty() && (item.back() == '.' || item.back() == ' ' || item.back() == '\r')) item.pop_back();
    if (item.empty()) continue;
    if (first) folder = fs::path(item).parent_path();
    paths.push_back(first ? item : (folder / item).string());
    first = false;
  }
}

// Runs `command`, passing its output through, and keeps what the report needs from it: the lines
// "Wrote <path>..." and the Markdown table (lines starting with '|').
Outcome run_step(const Step& step, const std::string& command) {
  Outcome o;
  o.step = step;
  o.command = command;
  std::fprintf(stderr, "\npaper: %s: %s\n", step.name.c_str(), command.c_str());
  const auto t0 = std::chrono::steady_clock::now();
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  TG_CHECK(pipe, "paper: could not start ", command);
  char buffer[4096];
  std::string line;
  while (fgets(buffer, sizeof buffer, pipe)) {
    std::fputs(buffer, stderr);
    line += buffer;
    if (line.empty() || line.back() != '\n') continue;
    if (line.rfind("Wrote ", 0) == 0) {
      add_written(line.substr(6), o.written);
    } else if (line[0] == '|') {
      o.table += line;
    }
    line.clear();
  }
  const int raw = pclose(pipe);
  o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + (WIFSIGNALED(raw) ? WTERMSIG(raw) : 0);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

std::string first_line_of(const std::string& command) {
  FILE* p = popen(("{ " + command + "; } 2>/dev/null").c_str(), "r");
  if (!p) return "";
  char buffer[512] = {0};
  std::string s = fgets(buffer, sizeof buffer, p) ? buffer : "";
  pclose(p);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  s.erase(0, s.find_first_not_of(' '));
  return s;
}

std::string machine_text() {
  std::ostringstream os;
  std::string cpu = first_line_of("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-");
  struct utsname u {};
  uname(&u);
  os << "- CPU: " << (cpu.empty() ? "unknown" : cpu) << ", " << std::thread::hardware_concurrency()
     << " hardware threads; OMP_NUM_THREADS=" << (std::getenv("OMP_NUM_THREADS") ? std::getenv("OMP_NUM_THREADS") : "unset")
     << "\n";
  const std::string gpu = first_line_of("nvidia-smi --query-gpu=name,driver_version --format=csv,noheader");
  os << "- GPU: " << (gpu.empty() ? "none found (nvidia-smi)" : gpu) << "\n";
  os << "- System: " << u.sysname << " " << u.release << " " << u.machine << "\n";
  const std::string commit = first_line_of("git rev-parse --short HEAD");
  const std::string dirty = first_line_of("git status --porcelain --untracked-files=no | head -1");
  os << "- taugrad: commit " << (commit.empty() ? "unknown (not a git checkout)" : commit)
     << (dirty.empty() ? "" : " with uncommitted changes") << "\n";
  return os.str();
}

// The verdict per tau from Table I's table.csv (its "verdict" column), as a short Markdown table.
std::string verdict_text(const std::string& table_dir) {
  std::ifstream in(table_dir + "/" + schema::kTableFile);
  if (!in) return "";
  std::string header_line;
  std::getline(in, header_line);
  const std::vector<std::string> header = split_list(header_line);
  auto column = [&](const char* name) {
    const auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<int>(it - header.begin());
  };
  const int tau = column(schema::kTauColumn), verdict = column(schema::kVerdictColumn),
            clean = column(schema::kCleanColumn), pgd = column(schema::kPgd20Column), worst = column(schema::kWorstColumn);
  if (tau < 0 || verdict < 0) return "";
  std::ostringstream os;
  os << "| tau | clean % | PGD-20 % | worst case % | verdict |\n|---|---|---|---|---|\n";
  for (std::string row; std::getline(in, row);) {
    const std::vector<std::string> cells = split_list(row);
    auto cell = [&](int i) { return i >= 0 && i < static_cast<int>(cells.size()) ? cells[i] : std::string("n/a"); };
    os << "| " << cell(tau) << " | " << cell(clean) << " | " << cell(pgd) << " | " << cell(worst) << " | **"
       << cell(verdict) << "** |\n";
  }
  return os.str();
}

std::string relative_to(const std::string& path, const std::string& dir) {
  std::error_code ec;
  fs::path r = fs::relative(fs::absolute(path), fs::absolute(dir), ec);
  return ec ? path : r.string();
}

std::string now_text() {
  std::time_t t = std::time(nullptr);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M UTC", std::gmtime(&t));
  return buffer;
}

std::string report(const std::string& profile, const std::string& out, const std::string& invocation,
                   const std::vector<Outcome>& outcomes, double seconds) {
  std::ostringstream md;
  md << "# Temperature scaling in softmax: tables, figures and the verdict on gradient masking\n\n";
  md << "Profile `" << profile << "`, made " << now_text() << " by `" << invocation << "` in "
     << format_duration(seconds) << ".\n\n";
  md << "Every model is trained with the tempered cross-entropy CE(z/tau, y) and evaluated at tau = 1. "
        "PGD-20 and C&W are the paper's attacks; APGD-DLR, APGD-T and Square do not depend on the softmax's "
        "saturation, and the worst case counts a test image as robust only if every attack fails on it. "
        "The verdict rule is in `table1 --help` and docs/EXPERIMENTS.md.\n\n";
  for (const Outcome& o : outcomes) {
    if (o.step.name != "table1" || o.written.empty()) continue;
    const std::string dir = fs::path(o.written.front()).parent_path().string();
    const std::string verdicts = verdict_text(dir);
    if (!verdicts.empty()) md << "## The verdict per tau (Table I)\n\n" << verdicts << "\n";
  }
  for (const Outcome& o : outcomes) {
    md << "## " << o.step.caption << "\n\n";
    if (o.status != 0) md << "**Failed** (exit status " << o.status << "); see its output above in the log.\n\n";
    if (!o.table.empty()) md << o.table << "\n";
    for (const std::string& path : o.written) {
      const std::string ext = fs::path(path).extension().string();
      const std::string rel = relative_to(path, out);
      if (ext == ".png") md << "![" << o.step.name << "](" << rel << ")\n\n";
      else if (ext == ".md") md << "Table: [" << rel << "](" << rel << ") ";
      else md << "[" << fs::path(path).filename().string() << "](" << rel << ") ";
    }
    md << "\n`" << o.command << "`: " << format_duration(o.seconds) << "\n\n";
  }
  md << "## Commands\n\n| command | exit | wall time |\n|---|---|---|\n";
  for (const Outcome& o : outcomes)
    md << "| `" << o.command << "` | " << o.status << " | " << format_duration(o.seconds) << " |\n";
  md << "\nSeeds: each command's `--seed` (default 0) or `--seeds`; the runs' config.json files hold every "
        "setting.\n\n## Machine\n\n"
     << machine_text();
  return md.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string profile = "quick", only, skip, out;
  Flags flags("paper",
              "Runs every table and figure command (table1-3, fig1-7, eq10) with one profile and writes report.md:\n"
              "the verdict per tau, every table and figure, the commands, their wall times and the machine.\n"
              "Finished runs are reused. Flags after \"--\" go to every step.\n"
              "Example: paper --profile quick --only table1,fig1,fig5 -- --device cpu");
  flags.add("profile", &profile, "quick (Fashion-MNIST, CPU) | paper (the paper's models and data)");
  std::string names;
  for (const Step& s : all_steps()) names += (names.empty() ? "" : ",") + s.name;
  flags.add("only", &only, "run only these steps, comma-separated (of " + names + ")");
  flags.add("skip", &skip, "skip these steps, comma-separated");
  flags.add("out", &out, "the report's folder (\"\" = results/paper/<profile>)");
  // Everything after "--" goes to every step, e.g. `paper --only table1 -- --device cuda:1`.
  int own = argc;
  std::string passed;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      own = i;
      for (int j = i + 1; j < argc; ++j) passed += " " + shell_quote(argv[j]);
      break;
    }
  try {
    if (!flags.parse(own, argv)) return 0;
    TG_CHECK(profile == "quick" || profile == "paper", "--profile must be quick or paper, got '", profile, "'");
    const std::vector<std::string> only_list = split_list(only), skip_list = split_list(skip);
    for (const auto* list : {&only_list, &skip_list})
      for (const std::string& name : *list) {
        bool known = false;
        for (const Step& s : all_steps()) known = known || s.name == name;
        TG_CHECK(known, list == &only_list ? "--only" : "--skip", ": unknown step '", name, "' (steps: ", names, ")");
      }
    if (out.empty()) out = "results/paper/" + profile;
    make_dirs(out);
    // The step binaries sit beside this one (build/experiments/).
    const fs::path self = fs::read_symlink("/proc/self/exe").parent_path();
    std::string invocation = "paper";
    for (int i = 1; i < argc; ++i) invocation += " " + std::string(argv[i]);

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Outcome> outcomes;
    int status = 0;
    for (const Step& step : all_steps()) {
      if (!only_list.empty() && !contains(only_list, step.name)) continue;
      if (contains(skip_list, step.name)) continue;
      const fs::path binary = self / step.name;
      if (!fs::exists(binary)) std::fprintf(stderr, "paper: %s is missing: build it (scripts/build)\n", binary.string().c_str());
      Outcome o = run_step(step, shell_quote(binary.string()) + " --profile " + profile + passed);
      o.command = step.name + " --profile " + profile + passed;
      if (o.status != 0) status = 1;
      outcomes.push_back(o);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      write_file_atomic(out + "/report.md", report(profile, out, invocation, outcomes, seconds));
    }
    std::printf("Wrote %s/report.md (%zu steps%s).\n", out.c_str(), outcomes.size(),
                status ? ", some failed: see the report" : "");
    return status;
  } catch (const Error& e) {
    std::fprintf(stderr, "paper: error: %s\n", e.what());
    return 2;
  }
}
