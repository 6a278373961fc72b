#pragma once
// The verbs of the command line, as library functions: the verb registry (cli/verbs.h) parses
// flags into these option structs; main.cpp maps exceptions to exit codes (InputError -> 2,
// anything else -> 1).
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace collabzium {

struct CommonOptions {
  std::string config;
  std::vector<std::string> overrides;  // --set KEY=VALUE
};

void command_validate(const CommonOptions& common, std::ostream& out);

struct SimulateOptions {
  CommonOptions common;
  std::string out;
  std::optional<std::int64_t> seed;
  int condition = 1;
};
void command_simulate(const SimulateOptions& options, std::ostream& out);

struct AnalyzeOptions {
  CommonOptions common;
  std::string data;
  std::string report;  // --out REPORT.json (optional)
  std::string events;  // --events EVENTS.csv (optional)
};
void command_analyze(const AnalyzeOptions& options, std::ostream& out);

struct RunOptions {
  CommonOptions common;
  std::string out;  // default results/<name>.h5
  std::optional<std::int64_t> replications, threads, seed;
  bool resume = false;
  bool force = false;  // replace an existing results file of another study (once the new run is complete)
};
void command_run(const RunOptions& options, std::ostream& out);

// A results file of `run` or an inference file of `infer` (told apart by the root `format`
// attribute); `tolerances` (NAME=VALUE) apply to inference files only.
struct SummarizeOptions {
  std::string results;                  // FILE.h5
  std::string csv;                      // --csv FILE.csv (optional)
  std::vector<std::string> tolerances;  // --tolerance NAME=VALUE
};
void command_summarize(const SummarizeOptions& options, std::ostream& out);

}  // namespace collabzium
