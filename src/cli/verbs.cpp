// The verb registry: one entry per verb, with the flags that verb takes and the function it runs.
#include "collabzium/cli/verbs.h"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>
#include <memory>
#include <ostream>

#include "collabzium/cli/commands.h"
#include "collabzium/cli/study_commands.h"
#include "collabzium/config/limits.h"
#include "collabzium/serve/serve_command.h"

namespace collabzium {

namespace {

// An integer flag within [lo, hi], refused at parsing with the scenario files' wording: the flags
// are 64-bit, and a value past `hi` would otherwise be narrowed (--threads 4294967297 is 1 as int).
constexpr std::int64_t kNoMinimum = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();  // flags stored as int downstream
constexpr auto kReplicationsMax = static_cast<std::int64_t>(kMaxStudyReplications);

CLI::Validator in_range(std::int64_t lo, std::int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        std::int64_t v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "must be an integer, got " + text;
        if (v >= lo && v <= hi) return {};
        // Without a lower bound here the library checks it, with the flag's own minimum.
        if (lo == kNoMinimum) return "must be an integer <= " + std::to_string(hi) + ", got " + text;
        return "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + text;
      },
      lo == kNoMinimum ? "INT <= " + std::to_string(hi)
                       : "INT in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

void add_set_flag(CLI::App& verb, std::vector<std::string>& overrides) {
  verb.add_option("--set", overrides, "override a key: KEY=VALUE (TOML value syntax), repeatable")
      ->allow_extra_args(false);
}

void add_common(CLI::App& verb, CommonOptions& common) {
  verb.add_option("CONFIG", common.config, "scenario file (TOML)")->required();
  add_set_flag(verb, common.overrides);
}

void add_threads_flag(CLI::App& verb, std::optional<std::int64_t>& threads, const std::string& help) {
  verb.add_option("--threads", threads, help)->check(in_range(0, kMaxThreads));
}

constexpr const char* kThreadsHelp = "threads (default run.threads, 0 = all cores)";

// run and infer write one resumable file with the same flags; only what the file is differs.
template <class Options>
void add_output_file_flags(CLI::App& verb, Options& o, const char* out_help, const char* resume_help,
                           const char* force_help) {
  verb.add_option("--out", o.out, out_help);
  add_threads_flag(verb, o.threads, kThreadsHelp);
  verb.add_flag("--resume", o.resume, resume_help);
  verb.add_flag("--force", o.force, force_help);
}

void add_simulate_options(CLI::App& verb, SimulateOptions& o) {
  add_common(verb, o.common);
  verb.add_option("--out", o.out, "output CSV")->required();
  verb.add_option("--seed", o.seed, "seed (default: run.seed)");
  verb.add_option("--condition", o.condition, "condition number (default 1)");
}

void add_analyze_options(CLI::App& verb, AnalyzeOptions& o) {
  add_common(verb, o.common);
  verb.add_option("--data", o.data, "cohort CSV (simulated or a real study)")->required();
  verb.add_option("--out", o.report, "report JSON");
  verb.add_option("--events", o.events, "detected events CSV");
}

void add_run_options(CLI::App& verb, RunOptions& o) {
  add_common(verb, o.common);
  verb.add_option("--replications", o.replications, "replications per condition (overrides run.replications)")
      ->check(in_range(kNoMinimum, kReplicationsMax));
  verb.add_option("--seed", o.seed, "seed (overrides run.seed)");
  add_output_file_flags(verb, o, "results file (default results/<name>.h5)",
                        "continue a partial results file of the same study",
                        "replace an existing results file (of another study, or complete) once this run is complete");
}

void add_summarize_options(CLI::App& verb, SummarizeOptions& o) {
  verb.add_option("FILE", o.results, "results file or inference file (.h5)")->required();
  verb.add_option("--csv", o.csv, "write the tidy summary CSV here");
  verb.add_option("--tolerance", o.tolerances, "inference files: NAME=VALUE, a new tolerance of an observed number")
      ->allow_extra_args(false);
}

void add_infer_options(CLI::App& verb, InferOptions& o) {
  add_common(verb, o.common);
  verb.add_option("--draws", o.draws, "prior draws (overrides infer.draws)")
      ->check(in_range(kNoMinimum, kMaxInferDraws));
  add_output_file_flags(verb, o, "inference file (default results/<name>.infer.h5)",
                        "continue a partial inference file of the same inference",
                        "replace an existing file once this inference is complete");
}

// solve and calibrate search with replications per step, then check the answer in a run of its own.
template <class Options, class Count>
void add_search_flags(CLI::App& verb, Options& o, const char* replications_help, const char* check_flag, Count& check,
                      const char* check_help) {
  verb.add_option("--replications", o.replications, replications_help)->check(in_range(kNoMinimum, kReplicationsMax));
  verb.add_option(check_flag, check, check_help)->check(in_range(kNoMinimum, kReplicationsMax));
  verb.add_option("--seed", o.seed, "seed (default run.seed)");
  add_threads_flag(verb, o.threads, kThreadsHelp);
}

void add_solve_options(CLI::App& verb, SolveOptions& o) {
  add_common(verb, o.common);
  verb.add_option("--vary", o.vary, "design.patients, design.therapists or design.sessions.mean")->required();
  verb.add_option("--target", o.target, "MODEL.RATER.TERM, e.g. lagged.patient.rupture")->required();
  verb.add_option("--power", o.power, "target power in (0, 1)")->required();
  verb.add_option("--range", o.range, "LO,HI (default by key: patients 20,2000; therapists 2,200; sessions 3,60)");
  verb.add_option("--out", o.out, "result JSON");
  add_search_flags(verb, o, "replications per point and batch (default 200)", "--verify-replications",
                   o.verify_replications, "replications of the verification run (default 1000)");
  verb.add_option("--max-rounds", o.max_rounds, "refinement rounds at most (default 6)")
      ->check(in_range(kNoMinimum, kIntMax));
  verb.add_option("--precision", o.precision, "relative half-width of the 95% interval to reach (default 0.1)");
}

void add_calibrate_options(CLI::App& verb, CalibrateOptions& o) {
  add_common(verb, o.common);
  verb.add_option("--match", o.match, "MODEL.RATER.TERM.MEASURE=VALUE, repeatable")
      ->required()
      ->allow_extra_args(false);
  verb.add_option("--free", o.free, "KEY=LO:HI, repeatable")->required()->allow_extra_args(false);
  verb.add_option("--out", o.out, "calibrated scenario (TOML)")->required();
  add_search_flags(verb, o, "replications per evaluation (default 200)", "--check-replications", o.check_replications,
                   "replications of the check run (default 1000)");
  verb.add_option("--max-evaluations", o.max_evaluations, "evaluations at most (default 100)")
      ->check(in_range(kNoMinimum, kIntMax));
}

void add_serve_options(CLI::App& verb, ServeOptions& o) {
  verb.add_option("CONFIG", o.config, "scenario file (TOML; default: the calibrated seed scenario)");
  add_set_flag(verb, o.overrides);
  verb.add_option("--host", o.host, "address to listen on (default 127.0.0.1; others with a warning)");
  verb.add_option("--port", o.port, "port (default 8080; 0: any free port)")->check(in_range(0, 65535));
  add_threads_flag(verb, o.threads, "studies at once and the cores they share (default 0 = all cores)");
}

// An entry whose options live in one Options object shared by its two functions.
template <class Options>
Verb verb(std::string name, std::string help, void (*add_options)(CLI::App&, Options&),
          std::function<void(const Options&, std::ostream& out, std::ostream& err)> run) {
  auto options = std::make_shared<Options>();
  return {std::move(name), std::move(help), [options, add_options](CLI::App& sub) { add_options(sub, *options); },
          [options, run = std::move(run)](std::ostream& out, std::ostream& err) { run(*options, out, err); }};
}

// Most verbs report on `out` only.
template <class Options>
std::function<void(const Options&, std::ostream&, std::ostream&)> reporting(void (*command)(const Options&,
                                                                                            std::ostream&)) {
  return [command](const Options& o, std::ostream& out, std::ostream&) { command(o, out); };
}

}  // namespace

std::vector<Verb> make_verbs() {
  std::vector<Verb> verbs;
  verbs.push_back(verb<CommonOptions>("validate", "check a scenario and print it fully resolved", add_common,
                                      reporting(command_validate)));
  verbs.push_back(verb<SimulateOptions>("simulate", "write one simulated cohort as CSV", add_simulate_options,
                                        reporting(command_simulate)));
  verbs.push_back(verb<AnalyzeOptions>("analyze", "detect ruptures and repairs and fit the models on a data set",
                                       add_analyze_options, reporting(command_analyze)));
  verbs.push_back(verb<RunOptions>("run", "the Monte Carlo study: every condition x replication, in parallel",
                                   add_run_options, reporting(command_run)));
  verbs.push_back(verb<SummarizeOptions>("summarize",
                                         "print (and export) the summary of a finished or partial run or inference",
                                         add_summarize_options, reporting(command_summarize)));
  verbs.push_back(verb<InferOptions>("infer",
                                     "approximate Bayesian computation: which prior draws reproduce the findings",
                                     add_infer_options, reporting(command_infer)));
  verbs.push_back(verb<SolveOptions>("solve", "smallest design value at which a coefficient's power reaches a target",
                                     add_solve_options, reporting(command_solve)));
  verbs.push_back(verb<CalibrateOptions>("calibrate", "find values of free keys whose summary measures match targets",
                                         add_calibrate_options, reporting(command_calibrate)));
  verbs.push_back(verb<ServeOptions>("serve", "the sandbox: a local web page that reruns the study as its sliders move",
                                     add_serve_options, command_serve));
  return verbs;
}

}  // namespace collabzium
