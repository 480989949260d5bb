// The test runner: doctest, plus the gradient-check report (worst error per function) at the end.
// TAUGRAD_GRADCHECK_REPORT=<file> also writes the report as a Markdown table.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "support/gradcheck.h"

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int rc = context.run();
  const auto& report = tg::testing::gradcheck_report();
  if (!report.empty() && !context.shouldExit()) {
    std::printf("\nGradient check, worst relative error per function (float64):\n");
    for (const auto& [name, err] : report) std::printf("  %-28s %.3e\n", name.c_str(), err);
    if (const char* path = std::getenv("TAUGRAD_GRADCHECK_REPORT")) {
      std::ofstream out(path);
      out << "| function | worst relative error |\n|---|---|\n";
      for (const auto& [name, err] : report) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2e", err);
        out << "| " << name << " | " << buf << " |\n";
      }
    }
  }
  return rc;
}
