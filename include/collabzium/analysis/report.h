#pragma once
// The `analyze` outputs: the report JSON of the README, a readable table, and the events CSV.
#include <ostream>

#include "collabzium/analysis/analysis.h"

namespace collabzium {

void write_report_json(const Cohort& cohort, const CohortAnalysis& analysis, std::ostream& out);
void print_report(const Cohort& cohort, const CohortAnalysis& analysis, const Scenario& scenario, std::ostream& out);
// One row per observed session per rater: patient, session, rater, rupture, repair.
void write_events_csv(const Cohort& cohort, const CohortAnalysis& analysis, std::ostream& out);

}  // namespace collabzium
