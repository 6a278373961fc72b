#include "collabzium/io/summary_row.h"

namespace collabzium {

const SummaryRow* find_summary_row(const std::vector<SummaryRow>& rows, const std::string& model,
                                   const std::string& rater, const std::string& term, const std::string& measure) {
  for (const auto& r : rows)
    if (r.model == model && r.rater == rater && r.term == term && r.measure == measure) return &r;
  return nullptr;
}

}  // namespace collabzium
