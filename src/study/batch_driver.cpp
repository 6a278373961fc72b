#include "collabzium/study/batch_driver.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "collabzium/error.h"
#include "collabzium/input_file.h"
#include "collabzium/io/output_file.h"
#include "collabzium/io/results_file.h"  // DiskFull
#include "collabzium/study/cluster.h"
#include "collabzium/study/stop_signals.h"
#include "git_sha.h"

namespace collabzium {

RecordTable::RecordTable(const std::vector<std::string>& columns, std::size_t conditions, std::size_t replications)
    : columns_(columns),
      replications_(replications),
      rows_(conditions * replications * columns.size()),
      done_(conditions * replications, 0) {}

std::vector<std::uint8_t> RecordTable::done() const { return done_; }

void RecordTable::write(const std::vector<std::uint64_t>& tasks, const std::vector<double>& rows) {
  const std::size_t w = width();
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    std::copy_n(rows.begin() + static_cast<std::ptrdiff_t>(i * w), w,
                rows_.begin() + static_cast<std::ptrdiff_t>(tasks[i] * w));
    done_[tasks[i]] = 1;
  }
}

std::vector<double> RecordTable::column(const std::string& name, std::size_t condition) const {
  const auto at = std::find(columns_.begin(), columns_.end(), name);
  if (at == columns_.end()) throw std::out_of_range("no record column " + name);
  const std::size_t k = static_cast<std::size_t>(at - columns_.begin()), w = width();
  std::vector<double> v(replications_);
  for (std::size_t r = 0; r < replications_; ++r) v[r] = rows_[(condition * replications_ + r) * w + k];
  return v;
}

namespace {

// Batch sizing: the first batch gives every thread of every rank kFirstBatchTasksPerThread tasks;
// later batches aim at kBatchSeconds of work each (so finished tasks reach the file often), at
// least one task per thread and at most kMaxBatchTasks (bounding the memory of a batch's rows).
constexpr std::size_t kFirstBatchTasksPerThread = 4;
constexpr double kBatchSeconds = 2.0;
constexpr std::size_t kMaxBatchTasks = 20000;
// A floor on the measured time per task, so an instant batch does not divide by zero.
constexpr double kMinSecondsPerTask = 1e-6;

class Progress {
 public:
  Progress(std::size_t total, std::size_t already, bool enabled, const char* unit)
      : total_(total),
        done_(already),
        start_done_(already),
        enabled_(enabled && ::isatty(2)),
        unit_(unit),
        start_(std::chrono::steady_clock::now()) {}
  void advance(std::size_t n) {
    done_ += n;
    if (!enabled_) return;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double rate = secs > 0 ? (done_ - start_done_) / secs : 0;
    const double eta = rate > 0 ? (total_ - done_) / rate : 0;
    std::fprintf(stderr, "\r%zu/%zu %s, %.1f/s, ETA %.0f s   ", done_, total_, unit_, rate, eta);
    std::fflush(stderr);
  }
  ~Progress() {
    if (enabled_) std::fprintf(stderr, "\n");
  }

 private:
  std::size_t total_, done_, start_done_;
  bool enabled_;
  const char* unit_;
  std::chrono::steady_clock::time_point start_;
};

// The number of tasks of the next batch (the same on every rank): 0 once all are done or the
// loop is told to stop.
std::uint64_t batch_tasks(const BatchLoop& loop, std::size_t batch, std::size_t pending, std::size_t next,
                          std::size_t already, std::size_t total) {
  std::uint64_t n = std::min(batch, pending - next);
  if (loop.stop_after > 0) n = std::min<std::uint64_t>(n, loop.stop_after > next ? loop.stop_after - next : 0);
  if (loop.stop_on_signal && stop_requested()) n = 0;
  if (n > 0 && loop.keep_going && !loop.keep_going(already + next, total)) n = 0;
  if (loop.cluster) loop.cluster->broadcast(n);
  return n;
}

}  // namespace

std::vector<std::uint64_t> pending_tasks(const std::vector<std::uint8_t>& done) {
  std::vector<std::uint64_t> pending;
  for (std::size_t t = 0; t < done.size(); ++t)
    if (!done[t]) pending.push_back(t);
  return pending;
}

std::size_t run_batches(const BatchLoop& loop, const ComputeRows& compute, const std::vector<std::uint64_t>& pending,
                        BatchWriter* writer, std::vector<std::uint8_t>& done) {
  const std::size_t rank = loop.cluster ? static_cast<std::size_t>(loop.cluster->rank()) : 0;
  const std::size_t ranks = loop.cluster ? static_cast<std::size_t>(loop.cluster->size()) : 1;
  const std::size_t workers = static_cast<std::size_t>(loop.threads) * ranks;
  const std::size_t total = done.size(), already = total - pending.size();
  Progress progress(total, already, loop.progress && rank == 0, loop.unit);
  std::size_t batch = loop.fixed_batch > 0 ? loop.fixed_batch : workers * kFirstBatchTasksPerThread;
  std::vector<double> rows, gathered;
  std::vector<std::uint64_t> mine, order;
  std::size_t failures = 0;
  for (std::size_t next = 0;;) {
    const std::uint64_t n = batch_tasks(loop, batch, pending.size(), next, already, total);
    if (n == 0) break;
    const auto t0 = std::chrono::steady_clock::now();
    mine.clear();
    for (std::size_t i = rank; i < n; i += ranks) mine.push_back(pending[next + i]);
    rows.assign(mine.size() * loop.width, 0.0);
    failures += compute(mine, rows.data());
    gathered = loop.cluster ? loop.cluster->gather(rows) : rows;
    if (rank == 0) {
      order.clear();  // gathered rows come rank by rank
      for (std::size_t q = 0; q < ranks; ++q)
        for (std::size_t i = q; i < n; i += ranks) order.push_back(pending[next + i]);
      writer->write(order, gathered);
      for (const std::uint64_t t : order) done[t] = 1;
      writer->flush();
      progress.advance(n);
    }
    next += n;
    if (loop.fixed_batch > 0) continue;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double per_task = seconds / static_cast<double>(n);
    batch = std::clamp<std::size_t>(static_cast<std::size_t>(kBatchSeconds / std::max(per_task, kMinSecondsPerTask)),
                                    workers, kMaxBatchTasks);
  }
  return failures;
}

int study_threads(int requested, std::int64_t configured) {
  int threads = requested > 0 ? requested : static_cast<int>(configured);
  return threads > 0 ? threads : omp_get_max_threads();
}

RunMetadata study_metadata(const ScenarioFile& file, std::int64_t seed) {
  RunMetadata meta;
  meta.program_version = COLLABZIUM_VERSION;
  meta.git_sha = COLLABZIUM_GIT_SHA;
  meta.config = to_toml(file);
  meta.seed = seed;
  return meta;
}

namespace {

// What is at --out before the run, as far as deciding goes.
enum class Existing { None, SameStudy, OtherStudy, Unreadable };

// `why` says what the other study or the unreadable file is; `complete` whether the same study's
// file is complete.
Existing classify_existing(const FileStudy& study, const std::string& out, const Cluster* cluster, bool& complete,
                           std::string& why) {
  if (path_kind(out) == PathKind::Missing) return Existing::None;
  check_regular_input(out, "--out", std::string(study.words().kind) + " or a new path");
  const RunMetadata& meta = study.metadata();
  try {
    const FileStudy::Stored existing = study.inspect(out, !cluster);  // no fork() under MPI
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

// Whether an existing file is continued (true) or replaced once the new run is complete (false);
// InputError when it is neither resumed nor forced.
bool resumes_existing(Existing existing, const StudyRequest& req, bool complete, const std::string& why) {
  switch (existing) {
    case Existing::None: return false;
    case Existing::SameStudy:
      if (req.resume) return true;
      if (!req.force)
        throw InputError(locate(req.out, 0, "--out",
                                complete ? "already holds the complete results of this study; continue it with "
                                           "--resume (nothing to run), or rerun it with --force"
                                         : "holds an incomplete run of this study: continue it with --resume, or "
                                           "start it anew with --force"));
      return false;
    case Existing::OtherStudy:
      if (!req.force)
        throw InputError(locate(
            req.out, 0, "--out",
            "holds the results of " + why + "; use another --out, or --force to replace it once this run is complete"));
      return false;
    case Existing::Unreadable:
      if (!req.force)
        throw InputError(why + " (--out: use another path, or --force to replace it once this run is complete)");
      return false;
  }
  return false;
}

struct OpenedFile {
  std::unique_ptr<StudyFileWriter> writer;  // rank 0 only
  std::vector<std::uint8_t> done;
  std::string path;  // where the writer writes: --out, or the temporary file of a --force run
};

// Rank 0 decides what to do with an existing file at --out, creates the file (or resumes it), and
// every rank learns the outcome and the done mask.
OpenedFile open_or_resume(const FileStudy& study, const StudyRequest& req, const Cluster* cluster) {
  OpenedFile opened;
  opened.path = req.out;
  std::string open_error;
  if (!cluster || cluster->rank() == 0) {
    try {
      const std::filesystem::path parent = std::filesystem::path(req.out).parent_path();
      if (!parent.empty() && !std::filesystem::is_directory(parent))
        throw InputError(locate(req.out, 0, "--out", "the folder " + parent.string() + " does not exist"));
      if (path_kind(req.out) == PathKind::Directory)
        throw InputError(
            locate(req.out, 0, "--out", "is a directory; expected " + std::string(study.words().kind) + " to write"));
      bool complete = false;
      std::string why;
      const Existing existing = classify_existing(study, req.out, cluster, complete, why);
      if (resumes_existing(existing, req, complete, why)) {
        opened.writer = study.resume(req.out);
      } else {
        if (existing != Existing::None) opened.path = staging_path(req.out);  // replaced only once complete
        opened.writer = study.create(opened.path);
      }
      opened.done = opened.writer->done();
    } catch (const InputError& e) {
      open_error = e.what();
    }
  }
  if (cluster) {
    cluster->broadcast(open_error);
    cluster->broadcast(opened.done);
  }
  if (!open_error.empty()) throw InputError(open_error);
  return opened;
}

std::string count_of(const OpenedFile& opened, const FileStudy& study) {
  return std::to_string(std::count(opened.done.begin(), opened.done.end(), 1)) + " of " +
         std::to_string(study.tasks()) + " " + study.words().unit;
}

// Rank 0, once the batches are over: the summary of whatever is done goes into the file; an
// interrupted run stops there (RunInterrupted), a finished one is marked complete, moved into
// place (a --force run) and reported.
void finish_file(const FileStudy& study, const StudyRequest& req, OpenedFile& opened, std::size_t failures,
                 std::ostream& out) {
  const bool staged = opened.path != req.out;
  const bool finished = std::find(opened.done.begin(), opened.done.end(), 0) == opened.done.end();
  if (!finished && staged) {
    // The old file stays as it was: the new, unfinished one is dropped.
    opened.writer.reset();
    std::remove(opened.path.c_str());
    throw RunInterrupted("interrupted: " + count_of(opened, study) + " were run; " + req.out +
                         " is unchanged (--force replaces it only with a complete run)");
  }
  opened.writer->write_summary(opened.done);
  if (!finished) {
    opened.writer->flush();
    throw RunInterrupted("interrupted: " + count_of(opened, study) + " are in " + req.out + "; continue with --resume");
  }
  opened.writer->mark_complete();
  opened.writer.reset();  // closed before it is renamed or reported
  if (staged && std::rename(opened.path.c_str(), req.out.c_str()) != 0) {
    const int e = errno;
    std::remove(opened.path.c_str());
    throw std::runtime_error(req.out + ": could not move the finished " + study.words().file +
                             " into place: " + std::strerror(e));
  }
  study.report(req.out, failures, out);
}

// The one line of a run stopped by a full disk; the file stays consistent and resumable.
[[noreturn]] void stop_on_full_disk(const FileStudy& study, const StudyRequest& req, OpenedFile& opened,
                                    const DiskFull& e) {
  if (opened.path != req.out) {
    opened.writer.reset();
    std::remove(opened.path.c_str());
    throw RunInterrupted(std::string(e.what()) + "; stopped after " + count_of(opened, study) + "; " + req.out +
                         " is unchanged");
  }
  opened.writer->flush();
  throw RunInterrupted(std::string(e.what()) + "; stopped with " + count_of(opened, study) +
                       " in the file: free some space and continue with --resume");
}

}  // namespace

void drive_study_file(const FileStudy& study, const StudyRequest& req, std::ostream& out) {
  const Cluster* cluster = Cluster::current();
  // In place before the file is created: a Ctrl-C at any moment from here on ends the run through
  // finish_file, with a readable file, instead of killing the process mid-write.
  StopSignals signals;
  OpenedFile opened = open_or_resume(study, req, cluster);
  const std::vector<std::uint64_t> pending = pending_tasks(opened.done);

  BatchLoop loop;
  loop.width = study.width();
  loop.threads = study.threads();
  loop.stop_after = req.stop_after;
  loop.stop_on_signal = true;
  loop.progress = req.progress;
  loop.unit = study.words().unit;
  loop.cluster = cluster;
  std::size_t failures = 0;
  try {
    failures = run_batches(
        loop, [&](const std::vector<std::uint64_t>& tasks, double* rows) { return study.compute(tasks, rows); },
        pending, opened.writer.get(), opened.done);
  } catch (const DiskFull& e) {
    stop_on_full_disk(study, req, opened, e);
  }

  std::uint64_t finished = static_cast<std::uint64_t>(std::count(opened.done.begin(), opened.done.end(), 1));
  if (cluster) cluster->broadcast(finished);
  if (cluster && cluster->rank() != 0) {
    if (finished < study.tasks()) throw RunInterrupted("interrupted");
    return;
  }
  try {
    finish_file(study, req, opened, failures, out);
  } catch (const DiskFull& e) {
    stop_on_full_disk(study, req, opened, e);
  }
}

}  // namespace collabzium
