#pragma once
// Runs the collabzium executable for tests that check exit codes, stderr and written files.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "collabzium/error.h"
#include "collabzium/config/scenario.h"

namespace collabzium::testing {

struct CliResult {
  int status;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("collabzium-test-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// `args` is passed to the shell as written: quote accordingly.
inline CliResult run_cli(const std::string& args, const std::filesystem::path& dir) {
  const auto out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd = std::string("cd '") + dir.string() + "' && '" + COLLABZIUM_CLI + "' " + args + " >'" +
                          out.string() + "' 2>'" + err.string() + "'";
  const int raw = std::system(cmd.c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(out), slurp(err)};
}

// Runs `hold` in a child process, which calls its argument while it holds something (a file open
// for writing, under HDF5's lock), and `meanwhile` in this process during that call. Returns the
// child's exit status: 0 when `hold` ran without an exception.
inline int while_child_holds(const std::function<void(const std::function<void()>& until_released)>& hold,
                             const std::function<void()>& meanwhile) {
  int ready[2], release[2];
  if (::pipe(ready) != 0) return -1;
  if (::pipe(release) != 0) return -1;
  const pid_t child = ::fork();
  if (child == 0) {
    int status = 0;
    try {
      hold([&] {
        char x = 1;
        if (::write(ready[1], &x, 1) != 1) status = 5;
        if (::read(release[0], &x, 1) != 1) status = 6;
      });
    } catch (...) {
      status = 3;
    }
    ::_exit(status);
  }
  char x = 0;
  const bool held = child > 0 && ::read(ready[0], &x, 1) == 1;
  if (held) meanwhile();
  int status = -1;
  if (child > 0) {
    if (held && ::write(release[1], &x, 1) != 1) ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
  }
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
  return held && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The one-line message of a scenario (named "s.toml") that parse_scenario refuses, or "no error".
inline std::string error_of(const std::string& toml, const std::vector<std::string>& sets = {}) {
  try {
    parse_scenario(toml, "s.toml", sets);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace collabzium::testing
