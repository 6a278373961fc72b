// The command line: parses flags into option structs and maps exceptions to exit codes.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>

#include "collabzium/cli/commands.h"
#include "collabzium/cli/study_commands.h"
#include "collabzium/error.h"
#include "collabzium/config/scenario.h"
#include "collabzium/serve/serve_command.h"
#include "collabzium/study/cluster.h"
#include "collabzium/study/runner.h"

namespace {

// An integer flag within [lo, hi], refused at parsing with the scenario files' wording: the flags
// are 64-bit, and a value past `hi` would otherwise be narrowed (--threads 4294967297 is 1 as int).
constexpr std::int64_t kNoMinimum = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();  // flags stored as int downstream

CLI::Validator in_range(std::int64_t lo, std::int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        std::int64_t v = 0;
        if (!CLI::detail::lexical_cast(text, v)) return "must be an integer, got " + text;
        if (v >= lo && v <= hi) return {};
        // Without a lower bound here the library checks it, with the flag's own minimum.
        if (lo == std::numeric_limits<std::int64_t>::min())
          return "must be an integer <= " + std::to_string(hi) + ", got " + text;
        return "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + text;
      },
      lo == std::numeric_limits<std::int64_t>::min()
          ? "INT <= " + std::to_string(hi)
          : "INT in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

void add_common(CLI::App* verb, collabzium::CommonOptions& common) {
  verb->add_option("CONFIG", common.config, "scenario file (TOML)")->required();
  verb->add_option("--set", common.overrides, "override a key: KEY=VALUE (TOML value syntax), repeatable")
      ->allow_extra_args(false);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace collabzium;
  std::optional<Cluster> launched;
  try {
    launched.emplace(&argc, &argv);  // MPI ranks when built with COLLABZIUM_MPI; one process otherwise
  } catch (const InputError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  Cluster& cluster = *launched;
  // Only rank 0 speaks: other ranks fail the same way and stay quiet.
  std::ostringstream muted;
  std::ostream& out = cluster.rank() == 0 ? std::cout : muted;
  std::ostream& err = cluster.rank() == 0 ? std::cerr : muted;
  CLI::App app{"Collabzium: Monte Carlo studies of alliance ruptures, repairs and distress"};
  app.require_subcommand(1);

  CommonOptions validate;
  auto* v = app.add_subcommand("validate", "check a scenario and print it fully resolved");
  add_common(v, validate);

  SimulateOptions simulate;
  auto* s = app.add_subcommand("simulate", "write one simulated cohort as CSV");
  add_common(s, simulate.common);
  s->add_option("--out", simulate.out, "output CSV")->required();
  s->add_option("--seed", simulate.seed, "seed (default: run.seed)");
  s->add_option("--condition", simulate.condition, "condition number (default 1)");

  AnalyzeOptions analyze;
  auto* a = app.add_subcommand("analyze", "detect ruptures and repairs and fit the models on a data set");
  add_common(a, analyze.common);
  a->add_option("--data", analyze.data, "cohort CSV (simulated or a real study)")->required();
  a->add_option("--out", analyze.report, "report JSON");
  a->add_option("--events", analyze.events, "detected events CSV");

  RunOptions run;
  auto* r = app.add_subcommand("run", "the Monte Carlo study: every condition x replication, in parallel");
  add_common(r, run.common);
  r->add_option("--out", run.out, "results file (default results/<name>.h5)");
  r->add_option("--replications", run.replications, "replications per condition (overrides run.replications)")
      ->check(in_range(kNoMinimum, static_cast<std::int64_t>(kMaxStudyReplications)));
  r->add_option("--threads", run.threads, "threads (default run.threads, 0 = all cores)")
      ->check(in_range(0, kMaxThreads));
  r->add_option("--seed", run.seed, "seed (overrides run.seed)");
  r->add_flag("--resume", run.resume, "continue a partial results file of the same study");
  r->add_flag("--force", run.force,
              "replace an existing results file (of another study, or complete) once this run is complete");

  std::string results_path, summary_csv;
  std::vector<std::string> tolerances;
  auto* m = app.add_subcommand("summarize", "print (and export) the summary of a finished or partial run or inference");
  m->add_option("FILE", results_path, "results file or inference file (.h5)")->required();
  m->add_option("--csv", summary_csv, "write the tidy summary CSV here");
  m->add_option("--tolerance", tolerances, "inference files: NAME=VALUE, a new tolerance of an observed number")
      ->allow_extra_args(false);

  InferOptions infer;
  auto* inf = app.add_subcommand("infer", "approximate Bayesian computation: which prior draws reproduce the findings");
  add_common(inf, infer.common);
  inf->add_option("--out", infer.out, "inference file (default results/<name>.infer.h5)");
  inf->add_option("--draws", infer.draws, "prior draws (overrides infer.draws)")
      ->check(in_range(kNoMinimum, kMaxInferDraws));
  inf->add_option("--threads", infer.threads, "threads (default run.threads, 0 = all cores)")
      ->check(in_range(0, kMaxThreads));
  inf->add_flag("--resume", infer.resume, "continue a partial inference file of the same inference");
  inf->add_flag("--force", infer.force, "replace an existing file once this inference is complete");

  SolveOptions solve;
  auto* sv = app.add_subcommand("solve", "smallest design value at which a coefficient's power reaches a target");
  add_common(sv, solve.common);
  sv->add_option("--vary", solve.vary, "design.patients, design.therapists or design.sessions.mean")->required();
  sv->add_option("--target", solve.target, "MODEL.RATER.TERM, e.g. lagged.patient.rupture")->required();
  sv->add_option("--power", solve.power, "target power in (0, 1)")->required();
  sv->add_option("--range", solve.range, "LO,HI (default by key: patients 20,2000; therapists 2,200; sessions 3,60)");
  sv->add_option("--out", solve.out, "result JSON");
  sv->add_option("--replications", solve.replications, "replications per point and batch (default 200)")
      ->check(in_range(kNoMinimum, static_cast<std::int64_t>(kMaxStudyReplications)));
  sv->add_option("--verify-replications", solve.verify_replications,
                 "replications of the verification run (default 1000)")
      ->check(in_range(kNoMinimum, static_cast<std::int64_t>(kMaxStudyReplications)));
  sv->add_option("--seed", solve.seed, "seed (default run.seed)");
  sv->add_option("--threads", solve.threads, "threads (default run.threads, 0 = all cores)")
      ->check(in_range(0, kMaxThreads));
  sv->add_option("--max-rounds", solve.max_rounds, "refinement rounds at most (default 6)")
      ->check(in_range(kNoMinimum, kIntMax));
  sv->add_option("--precision", solve.precision, "relative half-width of the 95% interval to reach (default 0.1)");

  CalibrateOptions calibrate;
  auto* cb = app.add_subcommand("calibrate", "find values of free keys whose summary measures match targets");
  add_common(cb, calibrate.common);
  cb->add_option("--match", calibrate.match, "MODEL.RATER.TERM.MEASURE=VALUE, repeatable")
      ->required()
      ->allow_extra_args(false);
  cb->add_option("--free", calibrate.free, "KEY=LO:HI, repeatable")->required()->allow_extra_args(false);
  cb->add_option("--out", calibrate.out, "calibrated scenario (TOML)")->required();
  cb->add_option("--replications", calibrate.replications, "replications per evaluation (default 200)")
      ->check(in_range(kNoMinimum, static_cast<std::int64_t>(kMaxStudyReplications)));
  cb->add_option("--check-replications", calibrate.check_replications, "replications of the check run (default 1000)")
      ->check(in_range(kNoMinimum, static_cast<std::int64_t>(kMaxStudyReplications)));
  cb->add_option("--seed", calibrate.seed, "seed (default run.seed)");
  cb->add_option("--threads", calibrate.threads, "threads (default run.threads, 0 = all cores)")
      ->check(in_range(0, kMaxThreads));
  cb->add_option("--max-evaluations", calibrate.max_evaluations, "evaluations at most (default 100)")
      ->check(in_range(kNoMinimum, kIntMax));

  ServeOptions serve;
  auto* sr = app.add_subcommand("serve", "the sandbox: a local web page that reruns the study as its sliders move");
  sr->add_option("CONFIG", serve.config, "scenario file (TOML; default: the calibrated seed scenario)");
  sr->add_option("--set", serve.overrides, "override a key: KEY=VALUE (TOML value syntax), repeatable")
      ->allow_extra_args(false);
  sr->add_option("--host", serve.host, "address to listen on (default 127.0.0.1; others with a warning)");
  sr->add_option("--port", serve.port, "port (default 8080; 0: any free port)")->check(in_range(0, 65535));
  sr->add_option("--threads", serve.threads, "studies at once and the cores they share (default 0 = all cores)")
      ->check(in_range(0, kMaxThreads));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    err << "collabzium: " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    if (*v) command_validate(validate, out);
    else if (*s) command_simulate(simulate, out);
    else if (*a) command_analyze(analyze, out);
    else if (*r) command_run(run, out);
    else if (*m) command_summarize(results_path, summary_csv, out, tolerances);
    else if (*inf) command_infer(infer, out);
    else if (*sv) command_solve(solve, out);
    else if (*cb) command_calibrate(calibrate, out);
    else if (*sr) command_serve(serve, out, err);
    return 0;
  } catch (const InputError& e) {
    err << e.what() << "\n";
    return 2;
  } catch (const RunInterrupted& e) {
    err << "collabzium: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "collabzium: error: " << e.what() << "\n";
    return 1;
  }
}
