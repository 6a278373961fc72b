#pragma once
// A row of the tidy summary: what scoring (study) computes and the results file (io) stores.
#include <string>
#include <vector>

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

}  // namespace collabzium
