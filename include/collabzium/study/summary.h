#pragma once
// Scoring a study (docs/model.md section 5) from its per-replication records, and the tidy summary:
// the CSV of the README and a readable table.
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "collabzium/model/scenario.h"
#include "collabzium/numeric.h"

namespace collabzium {

// One row of the tidy summary (the README, "Summary (CSV)").
struct SummaryRow {
  int condition = 0;
  std::string model, rater, term, measure;
  double value = 0, mcse = 0;
  // Proportions (coverage, power): the count of replications that succeeded and the number it is
  // out of, so pooling and fits use them directly rather than recovering them from value and mcse.
  // NaN for other measures, and in rows read back from a results file (which keeps value and mcse).
  double successes = kNaN, trials = kNaN;
};

// The row of `rows` with these names, or nullptr.
const SummaryRow* find_summary_row(const std::vector<SummaryRow>& rows, const std::string& model,
                                   const std::string& rater, const std::string& term, const std::string& measure);

// The values of record column `name` in condition `c` (0-based), one per replication.
using ColumnSource = std::function<std::vector<double>(const std::string& name, std::size_t c)>;

// The true value of a coefficient in a scenario: β_R for "rupture", β_P for "repair" (lagged,
// within, oracle), alliance.growth for the growth model's "growth"; NaN where the model has no
// single true value (intercepts, the lagged distress coefficient, session).
double true_value(const Scenario& s, ModelKind model, const std::string& term);

// Summary rows of every condition; only replications with done[c * R + r] are used.
std::vector<SummaryRow> summarize_study(const ScenarioFile& file, const std::vector<std::string>& columns,
                                        const ColumnSource& column, const std::vector<std::uint8_t>& done,
                                        std::size_t replications);

void write_summary_csv(const ScenarioFile& file, const std::vector<SummaryRow>& rows, std::ostream& out);
void print_summary(const ScenarioFile& file, const std::vector<SummaryRow>& rows, std::ostream& out);

}  // namespace collabzium
