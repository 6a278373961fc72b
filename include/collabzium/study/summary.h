#pragma once
// Scoring a study (docs/model.md section 5) from its per-replication records, and the tidy summary:
// the CSV of the README and a readable table.
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "collabzium/config/scenario.h"
#include "collabzium/io/summary_row.h"
#include "collabzium/numeric.h"

namespace collabzium {

// The values of record column `name` in condition `c` (0-based), one per replication.
using ColumnSource = std::function<std::vector<double>(const std::string& name, std::size_t c)>;

// Summary rows of every condition; only replications with done[c * R + r] are used.
std::vector<SummaryRow> summarize_study(const ScenarioFile& file, const std::vector<std::string>& columns,
                                        const ColumnSource& column, const std::vector<std::uint8_t>& done,
                                        std::size_t replications);

void write_summary_csv(const ScenarioFile& file, const std::vector<SummaryRow>& rows, std::ostream& out);
void print_summary(const ScenarioFile& file, const std::vector<SummaryRow>& rows, std::ostream& out);

}  // namespace collabzium
