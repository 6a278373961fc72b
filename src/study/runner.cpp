#include "collabzium/study/runner.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <unordered_map>

#include "collabzium/analysis/analysis.h"
#include "collabzium/study/cluster.h"
#include "collabzium/error.h"
#include "collabzium/io/output_file.h"
#include "collabzium/study/record.h"
#include "collabzium/io/results_file.h"
#include "collabzium/model/simulator.h"
#include "collabzium/study/summary.h"
#include "git_sha.h"

namespace collabzium {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void request_stop(int) { g_stop.store(true); }

// Installs SIGINT/SIGTERM handlers for the run's lifetime and restores the previous ones.
struct StopSignals {
  struct sigaction old_int{}, old_term{};
  StopSignals() {
    g_stop.store(false);
    struct sigaction sa{};
    sa.sa_handler = request_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

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
      : total_(total), done_(already), start_done_(already), enabled_(enabled && ::isatty(2)),
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
        const CohortAnalysis analysis = analyze_cohort(cohort, s);
        fill_record(layout, static_cast<int>(c), s, cohort, analysis, row);
      } catch (const std::exception&) {
        // Never lose the run to one replication: its record stays NaN and is counted.
        std::fill(row, row + width, std::numeric_limits<double>::quiet_NaN());
        ++failures;
      }
    }
  }
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

void run_study(const ScenarioFile& file, const RunRequest& req, std::ostream& out) {
  const Scenario& base = file.base;
  const std::size_t C = file.conditions.size();
  const std::size_t R = static_cast<std::size_t>(base.run.replications);
  const std::uint64_t seed = static_cast<std::uint64_t>(base.run.seed);
  const std::vector<Scenario> scenarios = scenarios_of(file);
  const RecordLayout layout = make_layout(scenarios);
  const std::size_t width = layout.columns.size();

  RunMetadata meta;
  meta.program_version = COLLABZIUM_VERSION;
  meta.git_sha = COLLABZIUM_GIT_SHA;
  meta.config = to_toml(file);
  meta.seed = base.run.seed;
  // Rank 0 owns the file; every rank learns the outcome of opening it and the done mask.
  const int rank = cluster_rank(), ranks = cluster_size();
  const Cluster* cluster = Cluster::current();
  std::optional<ResultsWriter> writer;
  std::vector<std::uint8_t> done;
  std::string open_error;
  if (rank == 0) {
    try {
      const std::filesystem::path parent = std::filesystem::path(req.out).parent_path();
      if (!parent.empty() && !std::filesystem::is_directory(parent))
        throw InputError(locate(req.out, 0, "--out", "the folder " + parent.string() + " does not exist"));
      if (!req.resume && std::filesystem::exists(req.out)) {
        // Refuse to overwrite a partial run silently: it may be resumable.
        const ResultsFile existing = read_results(req.out);
        if (!existing.complete)
          throw InputError(
              locate(req.out, 0, "--resume", "holds an incomplete run: continue it with --resume, or delete it"));
      }
      if (req.resume && std::filesystem::exists(req.out))
        writer.emplace(ResultsWriter::resume(req.out, meta, layout.columns, C, R));
      else
        writer.emplace(req.out, meta, condition_columns(file), layout.columns, C, R);
      done = writer->done();
    } catch (const InputError& e) {
      open_error = e.what();
    }
  }
  if (cluster) {
    cluster->broadcast(open_error);
    cluster->broadcast(done);
  }
  if (!open_error.empty()) throw InputError(open_error);

  std::vector<std::pair<std::uint32_t, std::uint32_t>> pending;
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t r = 0; r < R; ++r)
      if (!done[c * R + r]) pending.emplace_back(c, r);

  int threads = req.threads > 0 ? req.threads : static_cast<int>(base.run.threads);
  if (threads <= 0) threads = omp_get_max_threads();
  StopSignals signals;
  Progress progress(C * R, C * R - pending.size(), req.progress && rank == 0);

  // Batches sized (by rank 0) for about two seconds of work, so finished replications reach the
  // file often. Task i of a batch belongs to rank i % ranks.
  std::size_t batch = static_cast<std::size_t>(threads * ranks) * 4;
  std::vector<double> rows, gathered;
  std::vector<std::size_t> cs, rs;
  std::size_t failures = 0;
  for (std::size_t next = 0;;) {
    std::uint64_t n = std::min(batch, pending.size() - next);
    if (req.stop_after > 0) n = std::min<std::uint64_t>(n, req.stop_after > next ? req.stop_after - next : 0);
    if (g_stop.load()) n = 0;
    if (cluster) cluster->broadcast(n);
    if (n == 0) break;
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::size_t> mine;
    for (std::size_t i = static_cast<std::size_t>(rank); i < n; i += static_cast<std::size_t>(ranks)) mine.push_back(i);
    rows.assign(mine.size() * width, 0.0);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> tasks;
    for (std::size_t i : mine) tasks.push_back(pending[next + i]);
    const std::size_t batch_failures = compute_records(scenarios, layout, seed, tasks, threads, rows.data());
    failures += batch_failures;
    gathered = cluster ? cluster->gather(rows) : rows;
    if (rank == 0) {
      // Gathered rows come rank by rank; put each back at its task.
      cs.clear();
      rs.clear();
      for (int q = 0; q < ranks; ++q)
        for (std::size_t i = static_cast<std::size_t>(q); i < n; i += static_cast<std::size_t>(ranks)) {
          cs.push_back(pending[next + i].first);
          rs.push_back(pending[next + i].second);
          done[cs.back() * R + rs.back()] = 1;
        }
      writer->write(cs, rs, gathered);
      writer->flush();
      progress.advance(n);
    }
    next += n;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double per_task = secs / static_cast<double>(n);
    batch = std::clamp<std::size_t>(static_cast<std::size_t>(2.0 / std::max(per_task, 1e-6)),
                                    static_cast<std::size_t>(threads * ranks), 20000);
  }
  std::uint64_t finished = static_cast<std::uint64_t>(std::count(done.begin(), done.end(), 1));
  if (cluster) cluster->broadcast(finished);
  if (rank != 0) {
    if (finished < C * R) throw RunInterrupted("interrupted");
    return;
  }

  // The summary of whatever is done (all of it, unless interrupted).
  const ResultsFile snapshot = read_results(req.out);
  const std::vector<SummaryRow> summary = summarize_study(
      file, layout.columns, [&](const std::string& name, std::size_t c) { return snapshot.column(name, c); }, done, R);
  writer->write_summary(summary);
  if (finished < C * R) {
    writer->flush();
    throw RunInterrupted("interrupted: " + std::to_string(finished) + " of " + std::to_string(C * R) +
                         " replications are in " + req.out + "; continue with --resume");
  }
  writer->mark_complete();
  {
    AtomicFile csv(summary_csv_path(req.out));
    write_summary_csv(file, summary, csv.stream());
    csv.commit();
  }
  out << "Study " << base.name << ": " << C << " condition(s) x " << R << " replications, seed " << base.run.seed
      << ", " << threads << " thread(s)";
  if (failures) out << ", " << failures << " replication(s) failed (NaN records)";
  out << "\n";
  print_summary(file, summary, out);
  out << "wrote " << req.out << " and " << summary_csv_path(req.out) << "\n";
}

void summarize_results(const std::string& path, const std::string& csv, std::ostream& out) {
  const ResultsFile results = read_results(path);
  const ScenarioFile file = parse_scenario(results.meta.config, path + " (config attribute)");
  if (file.conditions.size() != results.n_conditions)
    throw InputError(locate(path, 0, "", "damaged results file: its config has " + std::to_string(file.conditions.size()) +
                                             " conditions, /replications holds " +
                                             std::to_string(results.n_conditions)));
  const std::vector<SummaryRow> summary = summarize_study(
      file, results.columns, [&](const std::string& name, std::size_t c) { return results.column(name, c); },
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
