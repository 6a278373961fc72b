#pragma once
// The one batch driver of `run`, `infer` and the sandbox: tasks (a study's replications, an
// inference's draws) computed batch by batch over threads and MPI ranks, each batch handed to a
// writer. For the two verbs that write a file, also what happens around the batches: an existing
// file at --out is continued, refused or replaced; SIGINT/SIGTERM end the run at a batch
// boundary; a full disk stops it with a resumable file; a finished run gets its summary, is
// marked complete and moved into place. Each verb keeps only what is its own: what a task
// computes, its file format, its summary.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "collabzium/config/scenario.h"
#include "collabzium/io/run_metadata.h"

namespace collabzium {

class Cluster;

// A run that stopped before every task was done (a signal, --stop-after, a full disk): its one
// line says how many are in the file and how to go on. Exit status 1.
class RunInterrupted : public std::exception {
 public:
  explicit RunInterrupted(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

// Where finished tasks go. A task is its index in the done mask: condition * R + replication for
// a study, the draw for an inference.
class BatchWriter {
 public:
  virtual ~BatchWriter() = default;
  // One byte per task, 1 where it is already finished (a resumed file).
  virtual std::vector<std::uint8_t> done() const = 0;
  // Rows of `width` doubles, row i for tasks[i]. Throws DiskFull with nothing of it written.
  virtual void write(const std::vector<std::uint64_t>& tasks, const std::vector<double>& rows) = 0;
  // What is written survives a kill -9 from here on.
  virtual void flush() = 0;
};

// The records of a study held in memory (the sandbox, calibrate and solve): conditions x
// replications rows of the record, with the column source the scoring reads.
class RecordTable : public BatchWriter {
 public:
  RecordTable(const std::vector<std::string>& columns, std::size_t conditions, std::size_t replications);
  std::vector<std::uint8_t> done() const override;  // the tasks written so far
  void write(const std::vector<std::uint64_t>& tasks, const std::vector<double>& rows) override;
  void flush() override {}

  // The values of one column in one condition (0-based), one per replication.
  std::vector<double> column(const std::string& name, std::size_t condition) const;
  // Row of task t at rows() + t * width(): for computing into the table directly.
  double* rows() { return rows_.data(); }
  const double* rows() const { return rows_.data(); }
  std::size_t width() const { return columns_.size(); }

 private:
  std::vector<std::string> columns_;
  std::size_t replications_;
  std::vector<double> rows_;
  std::vector<std::uint8_t> done_;
};

// Computes the rows of `tasks` (rows[i * width ...] for tasks[i]) and returns how many failed.
using ComputeRows = std::function<std::size_t(const std::vector<std::uint64_t>& tasks, double* rows)>;

struct BatchLoop {
  std::size_t width = 0;  // doubles per row
  int threads = 1;
  // 0: the first batch gives every thread 4 tasks, later ones aim at about 2 s of work each.
  std::size_t fixed_batch = 0;
  std::size_t stop_after = 0;   // stop once at least this many tasks are done (0: no limit)
  bool stop_on_signal = false;  // stop when stop_requested() (the caller holds StopSignals)
  // Asked before every batch with the tasks done and the total; false stops the loop.
  std::function<bool(std::size_t done, std::size_t total)> keep_going;
  // A progress line on stderr ("N/M UNIT, X/s, ETA") when stderr is a terminal.
  bool progress = false;
  const char* unit = "replications";
  const Cluster* cluster = nullptr;  // MPI ranks share the tasks; rank 0 alone writes
};

// Runs `pending` (ascending tasks not yet done) batch by batch until all are done or the loop is
// stopped. Task i of a batch is computed by rank i % ranks; rank 0 writes each batch (`writer` may
// be null on the other ranks), flushes it and marks it in `done`. Returns the failures counted on
// this rank. DiskFull from the writer propagates, with `done` marking only what was written.
std::size_t run_batches(const BatchLoop& loop, const ComputeRows& compute, const std::vector<std::uint64_t>& pending,
                        BatchWriter* writer, std::vector<std::uint8_t>& done);

// The tasks not yet done, ascending.
std::vector<std::uint64_t> pending_tasks(const std::vector<std::uint8_t>& done);

// What `run` and `infer` are asked.
struct StudyRequest {
  std::string out;      // HDF5 path; the summary CSV goes beside it (X.h5 -> X.summary.csv)
  int threads = 0;      // 0: run.threads, and if that is 0 too, all cores
  bool resume = false;  // continue a partial file: run only the missing tasks
  // Replace an existing file that is not continued (another study, a complete one, a damaged one):
  // the new run goes to a temporary file beside it, renamed onto `out` only once complete.
  bool force = false;
  bool progress = true;  // a progress line on stderr when it is a terminal
  // Stop as if interrupted once at least this many new tasks are written (0: no limit). For tests
  // of --resume and for time-boxed runs.
  std::size_t stop_after = 0;
};

// The threads of a run: requested, else run.threads, else all cores.
int study_threads(int requested, std::int64_t configured);

// The metadata of a new file of `file`'s study (version, git sha, resolved config, seed).
RunMetadata study_metadata(const ScenarioFile& file, std::int64_t seed);

// A file of finished tasks with a summary (the results file of `run`, the inference file of `infer`).
class StudyFileWriter : public BatchWriter {
 public:
  // The summary of the tasks marked in `done`, into the file.
  virtual void write_summary(const std::vector<std::uint8_t>& done) = 0;
  virtual void mark_complete() = 0;
};

// What the driver needs of a verb that writes a file.
class FileStudy {
 public:
  virtual ~FileStudy() = default;
  struct Words {
    const char* unit;  // what a task is called in messages: "replications", "draws"
    const char* file;  // "results file", "inference file"
    const char* kind;  // what --out should be: "a results file (.h5)"
  };
  virtual Words words() const = 0;
  virtual std::size_t tasks() const = 0;
  virtual std::size_t width() const = 0;  // doubles per row
  virtual int threads() const = 0;
  virtual const RunMetadata& metadata() const = 0;
  virtual std::size_t compute(const std::vector<std::uint64_t>& tasks, double* rows) const = 0;

  // The metadata and completeness of an existing file at `path`; InputError when it is not a
  // readable file of this kind. `in_child` reads it all in a child process first (not under MPI).
  struct Stored {
    RunMetadata meta;
    bool complete = false;
  };
  virtual Stored inspect(const std::string& path, bool in_child) const = 0;
  virtual std::unique_ptr<StudyFileWriter> create(const std::string& path) const = 0;
  // Opens a file of this study (inspect said so) to continue it.
  virtual std::unique_ptr<StudyFileWriter> resume(const std::string& path) const = 0;
  // A complete file is in place at `out`: the CSV beside it and the printed table.
  virtual void report(const std::string& out, std::size_t failures, std::ostream& os) const = 0;
};

// Opens or resumes req.out, runs the missing tasks in batches, then finishes the file: complete
// (report) or interrupted (RunInterrupted with the one line; the file keeps what is done). An
// existing file of the same study is continued only with --resume; any other is replaced only with
// --force, once the new run is complete. Throws InputError on a refusal, before anything is run.
void drive_study_file(const FileStudy& study, const StudyRequest& req, std::ostream& out);

}  // namespace collabzium
