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
#include "collabzium/study/batch_driver.h"  // StudyRequest, RunInterrupted
#include "collabzium/study/record.h"

namespace collabzium {

// What `run` is asked (the fields are documented in batch_driver.h).
using RunRequest = StudyRequest;

// Runs the study of `file` (with run.replications and run.seed already final) and writes the
// results file, the summary CSV and the summary table on `out`. Throws InputError on bad input;
// an interrupted run (SIGINT/SIGTERM, a full disk) leaves the file marked incomplete and throws
// RunInterrupted.
void run_study(const ScenarioFile& file, const RunRequest& request, std::ostream& out);

// Reads a finished or partial results file, recomputes the summary from its records, prints it and
// optionally exports the CSV.
void summarize_results(const std::string& path, const std::string& csv, std::ostream& out);

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
