#include "collabzium/study/runner.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <unordered_map>

#include "collabzium/analysis/analysis.h"
#include "collabzium/error.h"
#include "collabzium/input_file.h"
#include "collabzium/io/output_file.h"
#include "collabzium/io/results_file.h"
#include "collabzium/model/simulator.h"
#include "collabzium/numeric.h"
#include "collabzium/study/cluster.h"
#include "collabzium/study/record.h"
#include "collabzium/study/stop_signals.h"
#include "collabzium/study/summary.h"
#include "git_sha.h"

namespace collabzium {

namespace {

std::vector<ConditionColumn> condition_columns(const ScenarioFile& file) {
  std::vector<ConditionColumn> out;
  for (std::size_t a = 0; a < file.sweep.size(); ++a) {
    ConditionColumn col{file.sweep[a].key, {}, {}};
    for (const auto& c : file.conditions) {
      const KeyValue& v = c.swept_values[a];
      if (auto i = std::get_if<std::int64_t>(&v)) col.numbers.push_back(static_cast<double>(*i));
      else if (auto d = std::get_if<double>(&v)) col.numbers.push_back(*d);
      else if (auto b = std::get_if<bool>(&v)) col.numbers.push_back(*b ? 1.0 : 0.0);
      else if (auto s = std::get_if<std::string>(&v)) col.texts.push_back(*s);
      else col.texts.push_back(format_value(v));
    }
    out.push_back(std::move(col));
  }
  return out;
}

std::vector<Scenario> scenarios_of(const ScenarioFile& file) {
  std::vector<Scenario> out;
  for (const auto& c : file.conditions) out.push_back(c.scenario);
  return out;
}

class Progress {
 public:
  Progress(std::size_t total, std::size_t already, bool enabled)
      : total_(total),
        done_(already),
        start_done_(already),
        enabled_(enabled && ::isatty(2)),
        start_(std::chrono::steady_clock::now()) {}
  void advance(std::size_t n) {
    done_ += n;
    if (!enabled_) return;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = secs > 0 ? (done_ - start_done_) / secs : 0;
    const double eta = rate > 0 ? (total_ - done_) / rate : 0;
    std::fprintf(stderr, "\r%zu/%zu replications, %.1f/s, ETA %.0f s   ", done_, total_, rate, eta);
    std::fflush(stderr);
  }
  ~Progress() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  std::size_t total_, done_, start_done_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace

std::size_t compute_records(const std::vector<Scenario>& scenarios, const RecordLayout& layout, std::uint64_t seed,
                            const std::vector<std::pair<std::uint32_t, std::uint32_t>>& tasks, int threads,
                            double* rows) {
  const std::size_t width = layout.columns.size();
  std::size_t failures = 0;
  std::optional<GeneratorError> overflow;  // a scenario the model cannot generate: stops the command
  std::size_t first_overflow = 0;          // its task, the first in task order (whatever the threads)
#pragma omp parallel num_threads(threads) reduction(+ : failures)
  {
    Cohort cohort;  // one per thread, reused across its replications
#pragma omp for schedule(dynamic, 1)
    for (std::size_t m = 0; m < tasks.size(); ++m) {
      const auto [c, r] = tasks[m];
      const Scenario& s = scenarios[c];
      double* row = rows + m * width;
      try {
        simulate_cohort(s, seed, static_cast<int>(c) + 1, static_cast<std::int64_t>(r) + 1, cohort);
        const CohortAnalysis analysis = analyze_cohort(cohort, s, ReplicationId{seed, c + 1, r + 1});
        fill_record(layout, static_cast<int>(c), s, cohort, analysis, row);
      } catch (const GeneratorError& e) {
        std::fill(row, row + width, kNaN);
#pragma omp critical(collabzium_generator_error)
        if (!overflow || m < first_overflow) {
          overflow = e;
          first_overflow = m;
        }
      } catch (const std::exception&) {
        // Never lose the run to one replication: its record stays NaN and is counted.
        std::fill(row, row + width, kNaN);
        ++failures;
      }
    }
  }
  if (overflow) throw *overflow;
  return failures;
}

std::vector<SummaryRow> study_summary(const ScenarioFile& file, int threads) {
  const std::size_t C = file.conditions.size();
  const std::size_t R = static_cast<std::size_t>(file.base.run.replications);
  const std::vector<Scenario> scenarios = scenarios_of(file);
  const RecordLayout layout = make_layout(scenarios);
  const std::size_t width = layout.columns.size();
  std::vector<std::pair<std::uint32_t, std::uint32_t>> tasks;
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t r = 0; r < R; ++r) tasks.emplace_back(c, r);
  std::vector<double> rows(tasks.size() * width);
  if (threads <= 0) threads = omp_get_max_threads();
  compute_records(scenarios, layout, static_cast<std::uint64_t>(file.base.run.seed), tasks, threads, rows.data());
  std::unordered_map<std::string, std::size_t> column_index;
  for (std::size_t k = 0; k < width; ++k) column_index[layout.columns[k]] = k;
  const std::vector<std::uint8_t> done(C * R, 1);
  return summarize_study(
      file, layout.columns,
      [&](const std::string& name, std::size_t c) {
        std::vector<double> v(R);
        const std::size_t k = column_index.at(name);
        for (std::size_t r = 0; r < R; ++r) v[r] = rows[(c * R + r) * width + k];
        return v;
      },
      done, R);
}

std::string summary_csv_path(const std::string& h5_path) {
  std::filesystem::path p(h5_path);
  const std::string stem = p.extension() == ".h5" ? p.stem().string() : p.filename().string();
  return (p.parent_path() / (stem + ".summary.csv")).string();
}

namespace {

// Batch sizing: the first batch gives every thread of every rank kFirstBatchTasksPerThread tasks;
// later batches aim at kBatchSeconds of work each (so finished replications reach the file often),
// at least one task per thread and at most kMaxBatchTasks (bounding the memory of a batch's rows).
constexpr std::size_t kFirstBatchTasksPerThread = 4;
constexpr double kBatchSeconds = 2.0;
constexpr std::size_t kMaxBatchTasks = 20000;
// A floor on the measured time per task, so an instant batch does not divide by zero.
constexpr double kMinSecondsPerTask = 1e-6;

using Task = std::pair<std::uint32_t, std::uint32_t>;  // (condition, replication), 0-based

// What every phase of a run needs to know.
struct RunPlan {
  const ScenarioFile& file;
  const RunRequest& req;
  std::size_t C, R;
  std::uint64_t seed;
  std::vector<Scenario> scenarios;
  RecordLayout layout;
  int rank, ranks;
  const Cluster* cluster;  // nullptr: one process
  int threads;
};

RunPlan plan_run(const ScenarioFile& file, const RunRequest& req) {
  const Scenario& base = file.base;
  std::vector<Scenario> scenarios = scenarios_of(file);
  RecordLayout layout = make_layout(scenarios);
  int threads = req.threads > 0 ? req.threads : static_cast<int>(base.run.threads);
  if (threads <= 0) threads = omp_get_max_threads();
  return RunPlan{file,
                 req,
                 file.conditions.size(),
                 static_cast<std::size_t>(base.run.replications),
                 static_cast<std::uint64_t>(base.run.seed),
                 std::move(scenarios),
                 std::move(layout),
                 cluster_rank(),
                 cluster_size(),
                 Cluster::current(),
                 threads};
}

// Phase 1, opening or resuming: rank 0 decides what to do with an existing file at --out, creates
// the file (or resumes it), and every rank learns the outcome and the done mask (C x R).
//
// An existing file of the SAME study (the same resolved config, which holds the seed and the
// replications, and the same seed attribute) is continued with --resume; without it, an
// incomplete one is refused (it may be resumable) and so is a complete one (rerunning would only
// reproduce it). Any other existing file (another study, a foreign or damaged file) is refused
// unless --force; with --force, the new run is written to a temporary file beside --out
// ("OUT.tmp-PID") and renamed onto --out only once complete, so the old file stays until then.
struct OpenedRun {
  std::optional<ResultsWriter> writer;  // rank 0 only
  std::vector<std::uint8_t> done;
  std::string path;  // where the writer writes: --out, or the temporary file of a --force run
};

RunMetadata run_metadata(const RunPlan& plan) {
  RunMetadata meta;
  meta.program_version = COLLABZIUM_VERSION;
  meta.git_sha = COLLABZIUM_GIT_SHA;
  meta.config = to_toml(plan.file);
  meta.seed = plan.file.base.run.seed;
  return meta;
}

// What is at --out before the run, as far as deciding goes.
enum class Existing { None, SameStudy, OtherStudy, Unreadable };

Existing classify_existing(const std::string& out, const RunMetadata& meta, bool& complete, std::string& why) {
  if (path_kind(out) == PathKind::Missing) return Existing::None;
  check_regular_input(out, "--out", "a results file (.h5) or a new path");
  try {
    if (!Cluster::current()) check_results_readable(out);  // no fork() under MPI
    const ResultsFile existing = read_results(out);
    complete = existing.complete;
    if (existing.meta.config == meta.config && existing.meta.seed == meta.seed) return Existing::SameStudy;
    why = existing.meta.seed != meta.seed
              ? "another study (seed " + std::to_string(existing.meta.seed) + ", not " + std::to_string(meta.seed) + ")"
              : "another study (a different configuration)";
    return Existing::OtherStudy;
  } catch (const InputError& e) {
    why = e.what();
    return Existing::Unreadable;
  }
}

OpenedRun open_or_resume(const RunPlan& plan) {
  const RunRequest& req = plan.req;
  const RunMetadata meta = run_metadata(plan);
  OpenedRun opened;
  opened.path = req.out;
  std::string open_error;
  if (plan.rank == 0) {
    try {
      const std::filesystem::path parent = std::filesystem::path(req.out).parent_path();
      if (!parent.empty() && !std::filesystem::is_directory(parent))
        throw InputError(locate(req.out, 0, "--out", "the folder " + parent.string() + " does not exist"));
      if (path_kind(req.out) == PathKind::Directory)
        throw InputError(locate(req.out, 0, "--out", "is a directory; expected a results file (.h5) to write"));
      bool complete = false;
      std::string why;
      const Existing existing = classify_existing(req.out, meta, complete, why);
      bool resume = false;
      switch (existing) {
        case Existing::None: break;
        case Existing::SameStudy:
          if (req.resume) resume = true;
          else if (!req.force)
            throw InputError(locate(req.out, 0, "--out",
                                    complete ? "already holds the complete results of this study; continue it with "
                                               "--resume (nothing to run), or rerun it with --force"
                                             : "holds an incomplete run of this study: continue it with --resume, or "
                                               "start it anew with --force"));
          break;
        case Existing::OtherStudy:
          if (!req.force)
            throw InputError(locate(req.out, 0, "--out",
                                    "holds the results of " + why +
                                        "; use another --out, or --force to replace it once this run is complete"));
          break;
        case Existing::Unreadable:
          if (!req.force)
            throw InputError(why + " (--out: use another path, or --force to replace it once this run is complete)");
          break;
      }
      if (resume) {
        opened.writer.emplace(ResultsWriter::resume(req.out, meta, plan.layout.columns, plan.C, plan.R));
      } else {
        if (existing != Existing::None) opened.path = staging_path(req.out);  // replaced only once complete
        opened.writer.emplace(opened.path, meta, condition_columns(plan.file), plan.layout.columns, plan.C, plan.R);
      }
      opened.done = opened.writer->done();
    } catch (const InputError& e) {
      open_error = e.what();
    }
  }
  if (plan.cluster) {
    plan.cluster->broadcast(open_error);
    plan.cluster->broadcast(opened.done);
  }
  if (!open_error.empty()) throw InputError(open_error);
  return opened;
}

// Phase 2, pending tasks: every replication not yet done, by condition, then replication.
std::vector<Task> pending_tasks(const std::vector<std::uint8_t>& done, std::size_t C, std::size_t R) {
  std::vector<Task> pending;
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t r = 0; r < R; ++r)
      if (!done[c * R + r]) pending.emplace_back(c, r);
  return pending;
}

// The size of the batch after one that took `seconds` for `tasks` tasks.
std::size_t next_batch_size(const RunPlan& plan, double seconds, std::uint64_t tasks) {
  const double per_task = seconds / static_cast<double>(tasks);
  return std::clamp<std::size_t>(static_cast<std::size_t>(kBatchSeconds / std::max(per_task, kMinSecondsPerTask)),
                                 static_cast<std::size_t>(plan.threads * plan.ranks), kMaxBatchTasks);
}

// The number of tasks of the next batch (the same on every rank): 0 once all are done, a stop was
// requested (signal) or --stop-after is reached.
std::uint64_t batch_tasks(const RunPlan& plan, std::size_t batch, std::size_t pending, std::size_t next) {
  std::uint64_t n = std::min(batch, pending - next);
  const std::size_t stop_after = plan.req.stop_after;
  if (stop_after > 0) n = std::min<std::uint64_t>(n, stop_after > next ? stop_after - next : 0);
  if (stop_requested()) n = 0;
  if (plan.cluster) plan.cluster->broadcast(n);
  return n;
}

// Phase 3, batches: runs the pending tasks batch by batch until done or stopped; rank 0 writes each
// batch's records, marks them in `done` and flushes. Task i of a batch belongs to rank i % ranks.
// Returns the number of this rank's replications that failed.
std::size_t run_batches(const RunPlan& plan, const std::vector<Task>& pending, OpenedRun& opened, Progress& progress) {
  const std::size_t width = plan.layout.columns.size();
  const std::size_t ranks = static_cast<std::size_t>(plan.ranks);
  std::size_t batch = static_cast<std::size_t>(plan.threads * plan.ranks) * kFirstBatchTasksPerThread;
  std::vector<double> rows, gathered;
  std::vector<std::size_t> cs, rs;
  std::size_t failures = 0;
  for (std::size_t next = 0;;) {
    const std::uint64_t n = batch_tasks(plan, batch, pending.size(), next);
    if (n == 0) break;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<Task> tasks;
    for (std::size_t i = static_cast<std::size_t>(plan.rank); i < n; i += ranks) tasks.push_back(pending[next + i]);
    rows.assign(tasks.size() * width, 0.0);
    failures += compute_records(plan.scenarios, plan.layout, plan.seed, tasks, plan.threads, rows.data());
    gathered = plan.cluster ? plan.cluster->gather(rows) : rows;
    if (plan.rank == 0) {
      // Gathered rows come rank by rank; put each back at its task.
      cs.clear();
      rs.clear();
      for (std::size_t q = 0; q < ranks; ++q)
        for (std::size_t i = q; i < n; i += ranks) {
          cs.push_back(pending[next + i].first);
          rs.push_back(pending[next + i].second);
          opened.done[cs.back() * plan.R + rs.back()] = 1;
        }
      try {
        opened.writer->write(cs, rs, gathered);
      } catch (const DiskFull&) {
        for (std::size_t i = 0; i < cs.size(); ++i) opened.done[cs[i] * plan.R + rs[i]] = 0;  // not written
        throw;
      }
      opened.writer->flush();
      progress.advance(n);
    }
    next += n;
    batch = next_batch_size(plan, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), n);
  }
  return failures;
}

// Phase 4, finishing (rank 0): the summary of whatever is done goes into the file; an interrupted
// run stops there (RunInterrupted), a finished one is marked complete, moved into place (a --force
// run) and gets its CSV and table.
void finish_run(const RunPlan& plan, OpenedRun& opened, std::uint64_t finished, std::size_t failures,
                std::ostream& out) {
  const RunRequest& req = plan.req;
  const std::size_t total = plan.C * plan.R;
  const bool staged = opened.path != req.out;
  std::vector<SummaryRow> summary;
  {
    const ResultsFile snapshot = read_results(opened.path);
    const ResultsColumnReader columns(snapshot);
    summary = summarize_study(
        plan.file, plan.layout.columns, [&](const std::string& name, std::size_t c) { return columns.column(name, c); },
        opened.done, plan.R);
  }
  ResultsWriter& writer = *opened.writer;
  if (finished < total) {
    if (staged) {
      // The old file stays as it was: the new, unfinished one is dropped.
      opened.writer.reset();
      std::remove(opened.path.c_str());
      throw RunInterrupted("interrupted: " + std::to_string(finished) + " of " + std::to_string(total) +
                           " replications were run; " + req.out +
                           " is unchanged (--force replaces it only with a "
                           "complete run)");
    }
    writer.write_summary(summary);
    writer.flush();
    throw RunInterrupted("interrupted: " + std::to_string(finished) + " of " + std::to_string(total) +
                         " replications are in " + req.out + "; continue with --resume");
  }
  writer.write_summary(summary);
  writer.mark_complete();
  if (staged) {
    opened.writer.reset();  // closed before it is renamed
    if (std::rename(opened.path.c_str(), req.out.c_str()) != 0) {
      const int e = errno;
      std::remove(opened.path.c_str());
      throw std::runtime_error(req.out + ": could not move the finished results file into place: " + std::strerror(e));
    }
  }
  {
    AtomicFile csv(summary_csv_path(req.out));
    write_summary_csv(plan.file, summary, csv.stream());
    csv.commit();
  }
  const Scenario& base = plan.file.base;
  out << "Study " << base.name << ": " << plan.C << " condition(s) x " << plan.R << " replications, seed "
      << base.run.seed << ", " << plan.threads << " thread(s)";
  if (failures) out << ", " << failures << " replication(s) failed (NaN records)";
  out << "\n";
  print_summary(plan.file, summary, out);
  out << "wrote " << req.out << " and " << summary_csv_path(req.out) << "\n";
}

// The one line of a run stopped by a full disk; the file stays consistent and resumable.
[[noreturn]] void stop_on_full_disk(const RunPlan& plan, OpenedRun& opened, const DiskFull& e) {
  const std::size_t finished = static_cast<std::size_t>(std::count(opened.done.begin(), opened.done.end(), 1));
  const std::string total = std::to_string(plan.C * plan.R);
  if (opened.path != plan.req.out) {
    opened.writer.reset();
    std::remove(opened.path.c_str());
    throw RunInterrupted(std::string(e.what()) + "; stopped after " + std::to_string(finished) + " of " + total +
                         " replications; " + plan.req.out + " is unchanged");
  }
  opened.writer->flush();
  throw RunInterrupted(std::string(e.what()) + "; stopped with " + std::to_string(finished) + " of " + total +
                       " replications in the file: free some space and continue with --resume");
}

}  // namespace

void run_study(const ScenarioFile& file, const RunRequest& req, std::ostream& out) {
  const RunPlan plan = plan_run(file, req);
  // In place before the file is created: a Ctrl-C at any moment from here on ends the run through
  // finish_run, with a readable file, instead of killing the process mid-write.
  StopSignals signals;
  OpenedRun opened = open_or_resume(plan);
  const std::vector<Task> pending = pending_tasks(opened.done, plan.C, plan.R);

  const std::size_t total = plan.C * plan.R;
  std::size_t failures = 0;
  try {
    Progress progress(total, total - pending.size(), req.progress && plan.rank == 0);
    failures = run_batches(plan, pending, opened, progress);
  } catch (const DiskFull& e) {
    stop_on_full_disk(plan, opened, e);
  }

  std::uint64_t finished = static_cast<std::uint64_t>(std::count(opened.done.begin(), opened.done.end(), 1));
  if (plan.cluster) plan.cluster->broadcast(finished);
  if (plan.rank != 0) {
    if (finished < total) throw RunInterrupted("interrupted");
    return;
  }
  try {
    finish_run(plan, opened, finished, failures, out);
  } catch (const DiskFull& e) {
    stop_on_full_disk(plan, opened, e);
  }
}

void summarize_results(const std::string& path, const std::string& csv, std::ostream& out) {
  check_results_readable(path);
  const ResultsFile results = read_results(path);
  const ScenarioFile file = parse_scenario(results.meta.config, path + " (config attribute)");
  if (file.conditions.size() != results.n_conditions)
    throw InputError(locate(path, 0, "",
                            "damaged results file: its config has " + std::to_string(file.conditions.size()) +
                                " conditions, /replications holds " + std::to_string(results.n_conditions)));
  const ResultsColumnReader columns(results);  // one opening of the file for every column read
  const std::vector<SummaryRow> summary = summarize_study(
      file, results.columns, [&](const std::string& name, std::size_t c) { return columns.column(name, c); },
      results.done, results.n_replications);
  if (!csv.empty()) {
    AtomicFile f(csv);
    write_summary_csv(file, summary, f.stream());
    f.commit();
  }
  out << "Results " << path << ": " << (results.complete ? "complete" : "INCOMPLETE") << ", " << results.n_done()
      << " of " << results.n_conditions * results.n_replications << " replications, seed " << results.meta.seed
      << ", git " << results.meta.git_sha << "\n";
  print_summary(file, summary, out);
}

}  // namespace collabzium
