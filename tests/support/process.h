// Child processes for the tests that run the built binaries (kill -9, shared sweeps) and the scripts: start
// one with its output in a file, wait for its exit status. The binaries sit beside the test binary
// (build/experiments/); the scripts are in the source folder.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "util/json.h"

extern char** environ;

namespace tg::test {

// build/experiments/<name>, beside this test binary.
inline std::filesystem::path experiment_binary(const std::string& name) {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path() / "experiments" / name;
}

// The source folder, as meson recorded it in the build folder of the running test binary.
inline std::filesystem::path source_dir() {
  std::filesystem::path info = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "meson-info/meson-info.json";
  std::ifstream f(info);
  REQUIRE_MESSAGE(f.good(), "cannot read ", info.string(), " (the test binary is run from a meson build folder)");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const Json meson = Json::parse(text, info.string());
  const Json* dirs = meson.get("directories");
  REQUIRE(dirs != nullptr);
  REQUIRE(dirs->get("source") != nullptr);
  return dirs->get("source")->string();
}

// Starts `binary` with `args`, its stdout and stderr going to `output`, `extra_env` ("NAME=value", may be
// empty) added to this process's environment. Returns its pid.
inline pid_t spawn(const std::string& binary, const std::vector<std::string>& args, const std::string& output,
                   const std::string& extra_env = "") {
  std::vector<std::string> argv_s{binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string extra = extra_env;
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  if (!extra.empty()) envp.push_back(extra.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE_MESSAGE(rc == 0, "cannot start ", argv[0], ": ", std::strerror(rc));
  return pid;
}

// The child's exit status, or 128 + the signal that ended it.
inline int wait_exit(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace tg::test
