// The `calibrate`, `solve` and `infer` verbs: read the scenario, turn flags into the library's
// settings, run, and write the outcome (calibrate's report is printed by the study layer, as run's
// and infer's are). Every check of the inputs themselves lives in calibrate() and solve_power();
// here only what belongs to the command line (a scenario without a sweep, flags that are required,
// seeds and thread counts that cannot be negative).
#include "collabzium/cli/study_commands.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <ostream>

#include <filesystem>
#include "collabzium/error.h"
#include "collabzium/format.h"
#include "collabzium/io/output_file.h"
#include "collabzium/study/calibration.h"
#include "collabzium/study/infer.h"
#include "collabzium/study/power_solver.h"
#include "collabzium/study/runner.h"

namespace collabzium {

namespace {

std::string show(double x, int digits) { return format_significant(x, digits); }

std::int64_t non_negative(const char* flag, std::int64_t v) {
  if (v < 0) throw InputError(locate(flag, 0, "", "must be an integer >= 0, got " + std::to_string(v)));
  return v;
}

bool parse_int(const std::string& text, std::int64_t& out) {
  std::size_t b = text.find_first_not_of(" \t"), e = text.find_last_not_of(" \t");
  if (b == std::string::npos) return false;
  const std::string t = text.substr(b, e - b + 1);
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(t.c_str(), &end, 10);
  if (end != t.c_str() + t.size() || errno == ERANGE) return false;
  out = v;
  return true;
}

}  // namespace

void command_calibrate(const CalibrateOptions& o, std::ostream& out) {
  refuse_same_files({{"config", o.common.config}}, {{"--out", o.out}});
  const ScenarioFile file = load_scenario(o.common.config, o.common.overrides);
  require_one_condition(file, "calibrate");
  // A sweep of single values is one condition: calibrate that condition's scenario.
  const Scenario& base = file.conditions.front().scenario;
  // Settings and lists are checked by calibrate(); here only what is the command line's own.
  CalibrationSettings settings;
  if (o.replications) settings.replications = *o.replications;
  if (o.check_replications) settings.check_replications = *o.check_replications;
  if (o.max_evaluations) settings.max_evaluations = static_cast<int>(*o.max_evaluations);
  settings.seed = static_cast<std::uint64_t>(o.seed ? non_negative("--seed", *o.seed) : base.run.seed);
  settings.threads = static_cast<int>(o.threads ? non_negative("--threads", *o.threads) : base.run.threads);
  if (o.out.empty()) throw InputError(locate("--out", 0, "", "an output file (TOML) is needed"));
  std::vector<CalibrationTarget> targets;
  for (const auto& text : o.match) targets.push_back(parse_calibration_target(text));
  std::vector<FreeKey> free;
  for (const auto& text : o.free) free.push_back(parse_free_key(text, base));

  AtomicFile output(o.out);  // fails early when the folder does not exist
  const CalibrationResult result = calibrate(base, targets, free, settings, out);
  print_calibration(result, targets, free, settings, out);
  std::string origin = o.common.config;
  for (const auto& s : o.common.overrides) origin += " --set " + s;
  output.stream() << calibrated_scenario_toml(result, targets, free, settings, origin, o.out);
  output.commit();
  out << "wrote " << o.out << "\n";
}

void command_solve(const SolveOptions& o, std::ostream& out) {
  refuse_same_files({{"config", o.common.config}}, {{"--out", o.out}});
  const ScenarioFile file = load_scenario(o.common.config, o.common.overrides);
  require_one_condition(file, "solve");
  const Scenario& base = file.conditions.front().scenario;
  const PowerTarget target = parse_power_target(o.target);
  if (!o.power) throw InputError(locate("--power", 0, "", "is required"));
  // The key, power, range and settings are checked by solve_power; here only the command line's own.
  SolveSettings settings;
  if (o.replications) settings.replications = *o.replications;
  if (o.verify_replications) settings.verify_replications = *o.verify_replications;
  if (o.max_rounds) settings.max_rounds = static_cast<int>(*o.max_rounds);
  if (o.precision) settings.precision = *o.precision;
  settings.seed = static_cast<std::uint64_t>(o.seed ? non_negative("--seed", *o.seed) : base.run.seed);
  settings.threads = static_cast<int>(o.threads ? non_negative("--threads", *o.threads) : base.run.threads);
  auto [lo, hi] = default_solve_range(base, o.vary);
  if (!o.range.empty()) {
    const auto comma = o.range.find(',');
    if (comma == std::string::npos || !parse_int(o.range.substr(0, comma), lo) ||
        !parse_int(o.range.substr(comma + 1), hi))
      throw InputError(locate("--range", 0, "", "expected LO,HI (integers), got \"" + o.range + "\""));
  }
  std::optional<AtomicFile> json;
  if (!o.out.empty()) json.emplace(o.out);  // fails early when the folder does not exist

  const SolveResult r = solve_power(base, o.vary, target, *o.power, lo, hi, settings, out);
  out << "\nanswer: " << o.vary << " = " << r.value << " (95% interval " << r.ci_low << " to " << r.ci_high
      << "; fitted crossing " << show(r.crossing, 5) << ")\n";
  if (!r.precise)
    out << "note: the interval is wider than +-" << show(100 * settings.precision, 3) << "% after " << r.rounds
        << " rounds; raise --max-rounds or --replications for a narrower one\n";
  out << "verification: power " << show(r.power, 3) << " (MCSE " << show(r.power_mcse, 2) << ") at " << o.vary << " = "
      << r.value << " in an independent run of " << r.verify_replications << " replications (seed " << r.verify_seed
      << ")\n";
  if (r.power + 2 * r.power_mcse < *o.power)
    out << "warning: the verification run falls short of " << show(*o.power, 3)
        << " by more than 2 MCSE; the answer may be too small\n";
  if (json) {
    write_solve_json(r, target, *o.power, json->stream());
    json->commit();
    out << "wrote " << o.out << "\n";
  }
}

void command_infer(const InferOptions& o, std::ostream& out) {
  // --draws is applied as --set infer.draws, so it is validated like the key and recorded in the
  // resolved config of the inference file.
  std::vector<std::string> overrides = o.common.overrides;
  if (o.draws) overrides.push_back("infer.draws=" + std::to_string(*o.draws));
  const ScenarioFile file = load_scenario(o.common.config, overrides);
  if (!file.infer.present)
    throw InputError(
        locate(o.common.config, 0, "infer", "infer needs an [infer] table with [infer.prior] and [infer.observed]"));
  InferenceRequest req;
  req.out = o.out.empty() ? "results/" + file.base.name + ".infer.h5" : o.out;
  refuse_same_files({{"config", o.common.config}}, {{"--out", req.out}, {"summary CSV", summary_csv_path(req.out)}});
  plan_inference(file);  // observed names checked before anything is created
  if (o.out.empty()) std::filesystem::create_directories("results");
  req.threads = static_cast<int>(o.threads ? non_negative("--threads", *o.threads) : 0);
  req.resume = o.resume;
  req.force = o.force;
  run_inference(file, req, out);
}

}  // namespace collabzium
