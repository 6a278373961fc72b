#pragma once
// The Monte Carlo study: every condition x replication, in parallel (OpenMP, optionally MPI ranks),
// each replication simulating a cohort from its own streams, analyzing it and writing one record.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "collabzium/io/results_file.h"
#include "collabzium/config/scenario.h"
#include "collabzium/study/record.h"

namespace collabzium {

struct RunRequest {
  std::string out;      // HDF5 path; the summary CSV goes beside it (X.h5 -> X.summary.csv)
  int threads = 0;      // 0: run.threads, and if that is 0 too, all cores
  bool resume = false;  // continue a partial file: run only the missing replications
  // Replace an existing file that is not continued (another study, a complete one, a damaged one):
  // the new run goes to a temporary file beside it, renamed onto `out` only once complete.
  bool force = false;
  bool progress = true;  // a progress line on stderr when it is a terminal
  // Stop as if interrupted once at least this many new replications are written (0: no limit).
  // For tests of --resume and for time-boxed runs.
  std::size_t stop_after = 0;
};

// Runs the study of `file` (with run.replications and run.seed already final) and writes the
// results file, the summary CSV and the summary table on `out`. Throws InputError on bad input;
// an interrupted run (SIGINT/SIGTERM) leaves the file marked incomplete and throws RunInterrupted.
void run_study(const ScenarioFile& file, const RunRequest& request, std::ostream& out);

// Reads a finished or partial results file, recomputes the summary from its records, prints it and
// optionally exports the CSV.
void summarize_results(const std::string& path, const std::string& csv, std::ostream& out);

class RunInterrupted : public std::exception {
 public:
  explicit RunInterrupted(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

// Simulates and analyzes the given (condition, replication) tasks (0-based) in parallel; task m's
// record goes to rows[m * layout.columns.size() ...]. Returns the number of replications that threw
// (their records are NaN). Results do not depend on `threads` or on the order of tasks.
std::size_t compute_records(const std::vector<Scenario>& scenarios, const RecordLayout& layout, std::uint64_t seed,
                            const std::vector<std::pair<std::uint32_t, std::uint32_t>>& tasks, int threads,
                            double* rows);

// The whole study in memory, without files: its summary (for calibrate and solve, which run many
// small studies of one scenario: study_summary(single_condition(s))). Memory grows with
// conditions x replications x record width.
std::vector<SummaryRow> study_summary(const ScenarioFile& file, int threads = 0);

// X.h5 -> X.summary.csv
std::string summary_csv_path(const std::string& h5_path);

}  // namespace collabzium
