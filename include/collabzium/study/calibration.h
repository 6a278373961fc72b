#pragma once
// Calibration (the `calibrate` verb): values of free real-valued keys, within bounds, whose simulated
// summary measures match targets such as detection.patient.rupture.prevalence = 0.52.
//
// Algorithm (docs/calibrate_solve.md):
// * every candidate is scored by a small in-memory study (study_summary, runner.h) of `replications`
//   replications with the SAME seed: common random numbers make the objective nearly smooth;
// * objective: sum over targets of ((achieved - target) / scale)^2, scale = the target measure's
//   MCSE at the starting point, floored at 1e-3 * max(1, |target|); the scales stay fixed during the
//   search so the objective is a fixed weighted least-squares criterion;
// * optimizer: NLopt LN_BOBYQA (derivative-free, bounded) on the free keys rescaled to [0, 1],
//   starting from the config's values (or the middle of the bounds when a value lies outside them);
// * the optimum is rounded to 4 significant digits and checked by an independent run of
//   `check_replications` with a fresh seed, derive_seed(seed, kCheckSeedTag).
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "collabzium/config/scenario.h"
#include "collabzium/study/summary.h"

namespace collabzium {

// The check run's seed is derive_seed(seed, kCheckSeedTag) (model/random.h).
inline constexpr std::uint64_t kCheckSeedTag = 0x636865636bULL;  // "check"

// --match MODEL.RATER.TERM.MEASURE=VALUE. The term may contain dots and '=' (roc terms such as
// "threshold=0.5"): the value follows the last '=', the measure the last dot before it.
struct CalibrationTarget {
  std::string model, rater, term, measure;
  double value = 0;
  std::string name() const;  // MODEL.RATER.TERM.MEASURE
};
CalibrationTarget parse_calibration_target(const std::string& text);  // throws InputError

// --free KEY=LO:HI, checked against the scenario: a known real-valued key (integer, text and list
// keys and run.* are refused), finite LO < HI, both admissible values of the key.
struct FreeKey {
  std::string key;
  double lo = 0, hi = 0;
};
FreeKey parse_free_key(const std::string& text, const Scenario& scenario);  // throws InputError

struct CalibrationSettings {
  std::int64_t replications = 200;         // per evaluation
  std::int64_t check_replications = 1000;  // the final check run
  std::uint64_t seed = 20251126;
  int threads = 0;
  int max_evaluations = 100;
  double xtol = 1e-3;  // on the [0, 1]-rescaled keys
};

struct Achieved {
  double value = 0, mcse = 0;
};

struct CalibrationResult {
  Scenario scenario;             // the input scenario with the free keys set to `values`
  std::vector<double> start;     // starting values
  std::vector<double> values;    // calibrated values (rounded to 4 significant digits)
  std::vector<double> scales;    // the objective's fixed scales, per target
  std::vector<Achieved> search;  // per target, at `values` with the search seed
  std::vector<Achieved> check;   // per target, in the check run
  double objective = 0;          // at the optimum of the search
  int evaluations = 0;
  std::string optimizer_status;
  std::uint64_t check_seed = 0;
};

// Runs the search and the check run; a progress line per evaluation goes to `log`. Every input
// check is here (the command line only parses): InputError for bad settings (named by their flags),
// no or repeated targets or free keys, bounds whose corners make an invalid scenario, and a target
// that names no summary measure of the scenario (checked on a first small run).
// The analysis models run are those the targets name (the oracle alone when they name none); the
// returned scenario keeps the input's models.
CalibrationResult calibrate(const Scenario& scenario, const std::vector<CalibrationTarget>& targets,
                            const std::vector<FreeKey>& free, const CalibrationSettings& settings, std::ostream& log);

// The report of `calibrate`: per target the value asked for, the value achieved in the check run,
// its MCSE and the standardized difference z (a warning when some |z| > 3), then the calibrated
// values of the free keys.
void print_calibration(const CalibrationResult& result, const std::vector<CalibrationTarget>& targets,
                       const std::vector<FreeKey>& free, const CalibrationSettings& settings, std::ostream& out);

// The calibrated scenario file written to `path`: comment lines on how it was calibrated (from
// `origin`, the input file and its --set flags as typed, on what targets, with what search), then
// the fully resolved TOML. Checked to read back as a scenario.
std::string calibrated_scenario_toml(const CalibrationResult& result, const std::vector<CalibrationTarget>& targets,
                                     const std::vector<FreeKey>& free, const CalibrationSettings& settings,
                                     const std::string& origin, const std::string& path);

}  // namespace collabzium
