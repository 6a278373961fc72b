#include "collabzium/cli/commands.h"

#include <algorithm>
#include <cmath>
#include <ostream>

#include "collabzium/analysis/analysis.h"
#include "collabzium/analysis/report.h"
#include "collabzium/io/cohort_csv.h"
#include "collabzium/io/cohort_reader.h"
#include "collabzium/io/inference_file.h"
#include "collabzium/io/output_file.h"
#include "collabzium/study/infer.h"
#include "collabzium/study/runner.h"
#include "collabzium/study/version.h"

#include <filesystem>
#include "collabzium/error.h"
#include "collabzium/config/scenario.h"
#include "collabzium/model/simulator.h"

namespace collabzium {

namespace {

const Condition& pick_condition(const ScenarioFile& file, int condition) {
  const int n = static_cast<int>(file.conditions.size());
  if (condition < 1 || condition > n)
    throw InputError(
        locate("--condition", 0, "", "must be in [1, " + std::to_string(n) + "], got " + std::to_string(condition)));
  return file.conditions[static_cast<std::size_t>(condition - 1)];
}

std::string describe_condition(const ScenarioFile& file, const Condition& c) {
  std::string s;
  for (std::size_t a = 0; a < file.sweep.size(); ++a)
    s += (a ? ", " : "") + file.sweep[a].key + " = " + format_value(c.swept_values[a]);
  return s.empty() ? "(no sweep: the base scenario)" : s;
}

}  // namespace

void command_validate(const CommonOptions& common, std::ostream& out) {
  const ScenarioFile file = load_scenario(common.config, common.overrides);
  out << "# " << common.config << ": valid\n# " << version_line() << "\n" << to_toml(file);
  out << "\n# conditions: " << file.conditions.size() << "\n";
  for (const auto& c : file.conditions) {
    out << "#   " << c.index << ": " << describe_condition(file, c);
    if (std::isnan(file.base.detection.threshold_value))
      out << " [detection threshold " << c.scenario.detection.threshold() << "]";
    out << "\n";
  }
}

void command_simulate(const SimulateOptions& o, std::ostream& out) {
  refuse_same_files({{"config", o.common.config}}, {{"--out", o.out}});
  const ScenarioFile file = load_scenario(o.common.config, o.common.overrides);
  const Condition& cond = pick_condition(file, o.condition);
  const std::uint64_t seed = static_cast<std::uint64_t>(o.seed.value_or(cond.scenario.run.seed));
  if (o.seed && *o.seed < 0)
    throw InputError(locate("--seed", 0, "", "must be an integer >= 0, got " + std::to_string(*o.seed)));
  const Cohort cohort = simulate_cohort(cond.scenario, seed, cond.index, 1);
  write_cohort_csv(cohort, o.out);

  // A short description of what was written.
  std::size_t onsets = 0, repairs = 0, dropouts = 0, with_rupture = 0;
  for (std::size_t i = 0; i < cohort.patients(); ++i) {
    bool any = false;
    for (std::size_t k = cohort.offset[i]; k < cohort.offset[i + 1]; ++k) {
      onsets += cohort.true_onset[k];
      repairs += cohort.true_repair[k];
      dropouts += cohort.dropout[k];
      any = any || cohort.true_onset[k];
    }
    with_rupture += any;
  }
  const double n = static_cast<double>(cohort.patients());
  out << "simulated " << cohort.patients() << " patients of " << cohort.therapists() << " therapists, " << cohort.rows()
      << " sessions (" << cohort.rows() / std::max(1.0, n) << " per patient), condition " << cond.index << ", seed "
      << seed << "\n"
      << "true ruptures: " << onsets << " onsets in " << with_rupture << " patients ("
      << 100.0 * with_rupture / std::max(1.0, n) << "%), " << repairs << " repairs; dropouts: " << dropouts
      << "\nwrote " << o.out << "\n";
}

void command_analyze(const AnalyzeOptions& o, std::ostream& out) {
  refuse_same_files({{"config", o.common.config}, {"--data", o.data}}, {{"--out", o.report}, {"--events", o.events}});
  const ScenarioFile file = load_scenario(o.common.config, o.common.overrides);
  require_one_condition(file, "analyze");
  const Scenario& s = file.base;
  const Cohort cohort = read_cohort_csv(o.data);
  // Open every output before the work, so a bad path fails early; all are committed together.
  std::optional<AtomicFile> report, events;
  if (!o.report.empty()) report.emplace(o.report);
  if (!o.events.empty()) events.emplace(o.events);
  const CohortAnalysis analysis = analyze_cohort(cohort, s);
  if (report) write_report_json(cohort, analysis, report->stream());
  if (events) write_events_csv(cohort, analysis, events->stream());
  if (report) report->commit();
  if (events) events->commit();
  print_report(cohort, analysis, s, out);
}

void command_run(const RunOptions& o, std::ostream& out) {
  // Flags override the config: they are applied as --set overrides, so they are validated alike
  // and recorded in the resolved config of the results file.
  std::vector<std::string> overrides = o.common.overrides;
  if (o.replications) overrides.push_back("run.replications=" + std::to_string(*o.replications));
  if (o.seed) overrides.push_back("run.seed=" + std::to_string(*o.seed));
  const ScenarioFile file = load_scenario(o.common.config, overrides);
  if (o.threads && *o.threads < 0)
    throw InputError(locate("--threads", 0, "", "must be an integer >= 0, got " + std::to_string(*o.threads)));
  RunRequest req;
  req.out = o.out.empty() ? "results/" + file.base.name + ".h5" : o.out;
  // Before anything is written (the default folder included): the results file, its summary CSV
  // and the config must be three different files.
  refuse_same_files({{"config", o.common.config}}, {{"--out", req.out}, {"summary CSV", summary_csv_path(req.out)}});
  if (o.out.empty()) std::filesystem::create_directories("results");
  req.threads = o.threads ? static_cast<int>(*o.threads) : 0;
  req.resume = o.resume;
  req.force = o.force;
  run_study(file, req, out);
}

void command_summarize(const SummarizeOptions& o, std::ostream& out) {
  refuse_same_files({{"FILE", o.results}}, {{"--csv", o.csv}});
  if (is_inference_file(o.results)) {
    summarize_inference(o.results, o.csv, o.tolerances, out);
    return;
  }
  if (!o.tolerances.empty())
    throw InputError(
        locate("--tolerance", 0, "", "applies to inference files (of `infer`); " + o.results + " is not one"));
  summarize_results(o.results, o.csv, out);
}

}  // namespace collabzium
