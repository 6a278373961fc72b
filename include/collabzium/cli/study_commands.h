#pragma once
// The `calibrate`, `solve` and `infer` verbs, as library functions (the verb registry, cli/verbs.h,
// parses flags into these).
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "collabzium/cli/commands.h"

namespace collabzium {

struct CalibrateOptions {
  CommonOptions common;
  std::vector<std::string> match;  // MODEL.RATER.TERM.MEASURE=VALUE
  std::vector<std::string> free;   // KEY=LO:HI
  std::string out;                 // calibrated scenario (TOML)
  std::optional<std::int64_t> replications, check_replications, seed, threads, max_evaluations;
};
void command_calibrate(const CalibrateOptions& options, std::ostream& out);

struct SolveOptions {
  CommonOptions common;
  std::string vary;    // design.patients | design.therapists | design.sessions.mean
  std::string target;  // MODEL.RATER.TERM
  std::optional<double> power;
  std::string range;  // "LO,HI" (optional)
  std::string out;    // JSON (optional)
  std::optional<std::int64_t> replications, verify_replications, seed, threads, max_rounds;
  std::optional<double> precision;
};
void command_solve(const SolveOptions& options, std::ostream& out);

struct InferOptions {
  CommonOptions common;
  std::string out;  // default results/<name>.infer.h5
  std::optional<std::int64_t> draws, threads;
  bool resume = false;
  bool force = false;
};
void command_infer(const InferOptions& options, std::ostream& out);

}  // namespace collabzium
