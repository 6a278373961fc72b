#pragma once
// Calibration (the `calibrate` verb): values of free real-valued keys, within bounds, whose simulated
// summary measures match targets such as detection.patient.rupture.prevalence = 0.52.
//
// Algorithm (docs/calibrate_solve.md):
// * every candidate is scored by a small in-memory study (study_summary) of `replications`
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

#include "collabzium/io/results_file.h"
#include "collabzium/model/scenario.h"

namespace collabzium {

// A seed for an independent run derived from `seed` and a tag: mix64(mix64(seed) ^ tag), kept to 62
// bits so that it is a valid run.seed. Different tags give unrelated streams.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t tag);
inline constexpr std::uint64_t kCheckSeedTag = 0x636865636bULL;  // "check"

// The summary of `replications` replications of one scenario (condition 1, seed `seed`), in memory.
std::vector<SummaryRow> scenario_summary(const Scenario& scenario, std::int64_t replications,
                                         std::uint64_t seed, int threads);

// The row of `rows` with these names, or nullptr.
const SummaryRow* find_summary_row(const std::vector<SummaryRow>& rows, const std::string& model,
                                   const std::string& rater, const std::string& term, const std::string& measure);

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
  Scenario scenario;            // the input scenario with the free keys set to `values`
  std::vector<double> start;    // starting values
  std::vector<double> values;   // calibrated values (rounded to 4 significant digits)
  std::vector<double> scales;   // the objective's fixed scales, per target
  std::vector<Achieved> search; // per target, at `values` with the search seed
  std::vector<Achieved> check;  // per target, in the check run
  double objective = 0;         // at the optimum of the search
  int evaluations = 0;
  std::string optimizer_status;
  std::uint64_t check_seed = 0;
};

// Runs the search and the check run; a progress line per evaluation goes to `log`. Throws
// InputError when a target names no summary measure of the scenario (checked on a first small run).
// The analysis models run are those the targets name (the oracle alone when they name none); the
// returned scenario keeps the input's models.
CalibrationResult calibrate(const Scenario& scenario, const std::vector<CalibrationTarget>& targets,
                            const std::vector<FreeKey>& free, const CalibrationSettings& settings, std::ostream& log);

}  // namespace collabzium
