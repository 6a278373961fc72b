#pragma once
// The HDF5 results file of `collabzium run` (the README, "Results (HDF5, run)"), written from one
// thread and read back by `summarize` and `run --resume`. This is the format; the generic HDF5 layer
// under it (handles, errors, typed I/O) is src/io/h5.h.
//
// Layout
//   /                root attributes: format = "collabzium-results", format_version = [1, 0] (int32[2]),
//                    program_version, git_sha, created, config (strings), seed (int64), complete (int32 0/1)
//   /conditions      one dataset of length C per swept key, named by the dotted key (double or
//                    variable-length UTF-8 string), plus `index` (int32, 1..C)
//   /replications    one double dataset [C x R] per record column, named by the column, NaN fill; and
//                    `done` (uint8 [C x R], fill 0), 1 where a replication is finished
//   /summary         the tidy summary table: condition (int32), model, rater, term, measure
//                    (variable-length strings), value, mcse (double); rewritten whole
// Groups track creation order, so conditions and columns read back in the order they were given.
//
// Crash safety: a chunk of /replications (1 x min(R, 4096)) is allocated when a write first reaches
// it, and that allocation is flushed before any value goes into it, so between two flushes only raw
// data changes, never the file's structure. Record values bypass HDF5's chunk cache, so a
// replication's values are in the file before its `done` mark is; flush() puts the marks there too.
// A kill -9 thus loses at most the replications written since the last flush(), and the file stays
// readable and resumable. Before allocating, the free space of the disk is checked: a write that
// would not fit throws DiskFull with nothing written, and the file stays resumable.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "collabzium/io/run_metadata.h"
#include "collabzium/io/summary_row.h"

namespace collabzium {

inline constexpr const char* kResultsFormat = "collabzium-results";
inline constexpr int kResultsFormatMajor = 1;
inline constexpr int kResultsFormatMinor = 0;

// Not enough free space on the disk for the next write; nothing of that write reached the file.
// The environment variable COLLABZIUM_TEST_FREE_BYTES, when set, replaces the free space the
// system reports (a test hook for a full disk).
class DiskFull : public std::runtime_error {
 public:
  DiskFull(const std::string& path, std::uintmax_t free, std::uintmax_t needed);
  std::uintmax_t free_bytes, needed_bytes;
};

// Exactly one of numbers/texts is filled, with one entry per condition.
struct ConditionColumn {
  std::string key;
  std::vector<double> numbers;
  std::vector<std::string> texts;
};

// Errors: bad input files are InputError (exit status 2) with a one-line message naming the file;
// misuse (wrong sizes, indices out of range, invalid names) is std::invalid_argument / std::out_of_range;
// HDF5 failures are std::runtime_error with the file and HDF5's own description.
class ResultsWriter {
 public:
  // Creates (truncates) `path`; complete = 0 until mark_complete(). An empty meta.created is filled
  // with iso8601_utc_now(). Column names and condition keys must be non-empty, unique, without '/',
  // and not "done" (columns) / "index" (condition keys); every condition column has n_conditions entries.
  ResultsWriter(const std::string& path, const RunMetadata& meta, const std::vector<ConditionColumn>& conditions,
                const std::vector<std::string>& columns, std::size_t n_conditions, std::size_t n_replications);
  // Opens an existing partial file for --resume; throws InputError(locate(path, 0, "", "...")) if it is
  // not a collabzium results file, has another format major version, or its config, seed, columns
  // (names and order) or shape differ from these. The file keeps its original metadata (created,
  // program_version, git_sha). It is marked incomplete again by the first write() or write_summary().
  static ResultsWriter resume(const std::string& path, const RunMetadata& meta, const std::vector<std::string>& columns,
                              std::size_t n_conditions, std::size_t n_replications);

  ResultsWriter(ResultsWriter&&) noexcept;
  ResultsWriter& operator=(ResultsWriter&&) noexcept;
  ResultsWriter(const ResultsWriter&) = delete;
  ResultsWriter& operator=(const ResultsWriter&) = delete;
  ~ResultsWriter();  // closes (complete stays 0 unless marked); never throws

  const std::string& path() const;
  const std::vector<std::string>& columns() const;
  std::size_t n_conditions() const;
  std::size_t n_replications() const;

  std::vector<std::uint8_t> done() const;  // C x R row-major, 1 where finished

  // Writes finished replications: for each i, condition index c[i] (0-based), replication r[i]
  // (0-based), and values[i*columns.size() ... (i+1)*columns.size()); marks them done. Any order;
  // rewriting a finished replication overwrites it (within one batch the last entry wins). Per column,
  // each cluster of nearby replications of a condition is one hyperslab write (a cluster with gaps is
  // read, patched and written back); isolated replications go into one element selection. Memory: a
  // few columns of the batch, independent of n_replications.
  void write(const std::vector<std::size_t>& c, const std::vector<std::size_t>& r, const std::vector<double>& values);
  void flush();  // H5Fflush: a kill -9 after this loses nothing written before
  void write_summary(const std::vector<SummaryRow>& rows);
  void mark_complete();  // sets complete = 1 and flushes

 private:
  struct Impl;
  explicit ResultsWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Everything read back.
struct ResultsFile {
  std::string path;
  RunMetadata meta;
  std::array<int, 2> format_version{0, 0};
  bool complete = false;
  std::vector<ConditionColumn> conditions;  // in the order written
  std::vector<std::string> columns;         // in the order written
  std::size_t n_conditions = 0, n_replications = 0;
  std::vector<std::uint8_t> done;  // C x R row-major
  std::vector<SummaryRow> summary;

  // One-off reads of record values, each opening `path` anew (ResultsColumnReader for many reads).
  std::vector<double> column(const std::string& name, std::size_t condition) const;
  std::vector<double> column(const std::string& name) const;
  std::size_t n_done() const;                       // number of finished replications
  std::size_t n_done(std::size_t condition) const;  // ... in one condition
};

// InputError with a clear one-line message on a missing, non-regular, non-HDF5, foreign or
// wrong-version file, and on any failure while reading a damaged one (HDF5's included).
ResultsFile read_results(const std::string& path);

// Reads all of a results file (read_results and every column) in a child process first, and throws
// InputError if that crashed: libhdf5 (1.10) can crash on some damaged files, e.g. a changed byte
// in a global heap of variable-length strings (SIGSEGV in H5HG_read), which no check before the
// read can see. Call it before reading a file this program did not just write (summarize, run over
// an existing file); other failures are left to the reads that follow, which report them.
void check_results_readable(const std::string& path);
// The same guard for any HDF5 file of this program: `read_all` (every read a reader makes) runs in
// a child process first; a crash or a hang there is an InputError naming the file.
void check_readable_in_child(const std::string& path, const std::function<void()>& read_all);

// Reads the record columns of a ResultsFile through one read-only opening of its file, held while
// the reader lives: `summarize` reads every column of every condition through a single one. Keep it
// scoped: while it lives this process cannot open the file for writing (HDF5 refuses to reopen
// read-write a file the process has open read-only), e.g. for ResultsWriter::resume.
class ResultsColumnReader {
 public:
  explicit ResultsColumnReader(const ResultsFile& results);  // `results` must outlive the reader
  ResultsColumnReader(ResultsColumnReader&&) noexcept;
  ResultsColumnReader& operator=(ResultsColumnReader&&) noexcept;
  ~ResultsColumnReader();

  // The values of one column in one condition (0-based): n_replications doubles, NaN where not
  // written. InputError if there is no such column, std::out_of_range if the condition is out of range.
  std::vector<double> column(const std::string& name, std::size_t condition) const;
  // All conditions of one column, C x R row-major.
  std::vector<double> column(const std::string& name) const;

 private:
  std::vector<double> rows(const std::string& name, std::size_t first, std::size_t count) const;
  std::vector<double> rows_unchecked(const std::string& name, std::size_t first, std::size_t count) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace collabzium
