#include "collabzium/study/runner.h"

#include <omp.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>

#include "collabzium/analysis/analysis.h"
#include "collabzium/error.h"
#include "collabzium/io/output_file.h"
#include "collabzium/io/results_file.h"
#include "collabzium/model/simulator.h"
#include "collabzium/numeric.h"
#include "collabzium/study/batch_driver.h"
#include "collabzium/study/record.h"
#include "collabzium/study/summary.h"

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
  std::vector<std::pair<std::uint32_t, std::uint32_t>> tasks;
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t r = 0; r < R; ++r) tasks.emplace_back(c, r);
  // Computed into the table at once: task m is row m.
  RecordTable records(layout.columns, C, R);
  if (threads <= 0) threads = omp_get_max_threads();
  compute_records(scenarios, layout, static_cast<std::uint64_t>(file.base.run.seed), tasks, threads, records.rows());
  return summarize_study(
      file, layout.columns, [&](const std::string& name, std::size_t c) { return records.column(name, c); },
      std::vector<std::uint8_t>(C * R, 1), R);
}

std::string summary_csv_path(const std::string& h5_path) {
  std::filesystem::path p(h5_path);
  const std::string stem = p.extension() == ".h5" ? p.stem().string() : p.filename().string();
  return (p.parent_path() / (stem + ".summary.csv")).string();
}

namespace {

// `run` for the batch driver: task t is replication t % R of condition t / R.
class RunStudy final : public FileStudy {
 public:
  RunStudy(const ScenarioFile& file, const RunRequest& req)
      : file_(file),
        C_(file.conditions.size()),
        R_(static_cast<std::size_t>(file.base.run.replications)),
        seed_(static_cast<std::uint64_t>(file.base.run.seed)),
        scenarios_(scenarios_of(file)),
        layout_(make_layout(scenarios_)),
        threads_(study_threads(req.threads, file.base.run.threads)),
        meta_(study_metadata(file, file.base.run.seed)) {}

  Words words() const override { return {"replications", "results file", "a results file (.h5)"}; }
  std::size_t tasks() const override { return C_ * R_; }
  std::size_t width() const override { return layout_.columns.size(); }
  int threads() const override { return threads_; }
  const RunMetadata& metadata() const override { return meta_; }

  std::size_t compute(const std::vector<std::uint64_t>& tasks, double* rows) const override {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;
    pairs.reserve(tasks.size());
    for (const std::uint64_t t : tasks) pairs.emplace_back(t / R_, t % R_);
    return compute_records(scenarios_, layout_, seed_, pairs, threads_, rows);
  }

  Stored inspect(const std::string& path, bool in_child) const override {
    if (in_child) check_results_readable(path);
    const ResultsFile existing = read_results(path);
    return {existing.meta, existing.complete};
  }

  std::unique_ptr<StudyFileWriter> create(const std::string& path) const override {
    return std::make_unique<Writer>(*this,
                                    ResultsWriter(path, meta_, condition_columns(file_), layout_.columns, C_, R_));
  }
  std::unique_ptr<StudyFileWriter> resume(const std::string& path) const override {
    return std::make_unique<Writer>(*this, ResultsWriter::resume(path, meta_, layout_.columns, C_, R_));
  }

  void report(const std::string& out_path, std::size_t failures, std::ostream& out) const override {
    {
      AtomicFile csv(summary_csv_path(out_path));
      write_summary_csv(file_, summary_, csv.stream());
      csv.commit();
    }
    const Scenario& base = file_.base;
    out << "Study " << base.name << ": " << C_ << " condition(s) x " << R_ << " replications, seed " << base.run.seed
        << ", " << threads_ << " thread(s)";
    if (failures) out << ", " << failures << " replication(s) failed (NaN records)";
    out << "\n";
    print_summary(file_, summary_, out);
    out << "wrote " << out_path << " and " << summary_csv_path(out_path) << "\n";
  }

 private:
  class Writer final : public StudyFileWriter {
   public:
    Writer(const RunStudy& study, ResultsWriter writer) : study_(study), writer_(std::move(writer)) {}
    std::vector<std::uint8_t> done() const override { return writer_.done(); }
    void write(const std::vector<std::uint64_t>& tasks, const std::vector<double>& rows) override {
      std::vector<std::size_t> cs, rs;
      for (const std::uint64_t t : tasks) {
        cs.push_back(t / study_.R_);
        rs.push_back(t % study_.R_);
      }
      writer_.write(cs, rs, rows);
    }
    void flush() override { writer_.flush(); }
    // The summary is scored from the file as written (what summarize will see).
    void write_summary(const std::vector<std::uint8_t>& done) override {
      {
        const ResultsFile snapshot = read_results(writer_.path());
        const ResultsColumnReader columns(snapshot);
        study_.summary_ = summarize_study(
            study_.file_, study_.layout_.columns,
            [&](const std::string& name, std::size_t c) { return columns.column(name, c); }, done, study_.R_);
      }
      writer_.write_summary(study_.summary_);
    }
    void mark_complete() override { writer_.mark_complete(); }

   private:
    const RunStudy& study_;
    ResultsWriter writer_;
  };

  const ScenarioFile& file_;
  std::size_t C_, R_;
  std::uint64_t seed_;
  std::vector<Scenario> scenarios_;
  RecordLayout layout_;
  int threads_;
  RunMetadata meta_;
  // Scored when the file gets its summary, printed by report.
  mutable std::vector<SummaryRow> summary_;
};

}  // namespace

void run_study(const ScenarioFile& file, const RunRequest& req, std::ostream& out) {
  drive_study_file(RunStudy(file, req), req, out);
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
