#pragma once
// Runs the collabzium executable for tests that check exit codes, stderr and written files.
#include <cstdlib>
#include <filesystem>
#include <fstream>
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
