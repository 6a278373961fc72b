#pragma once
// What the searches over a scenario's values share (calibrate, solve, infer): the models they fit,
// the in-memory summary of a small study at one point, and the refusal of a setting below its
// least value.
#include <cstdint>
#include <string>
#include <vector>

#include "collabzium/config/scenario.h"
#include "collabzium/io/summary_row.h"

namespace collabzium {

// `s` fitting only the models that `names` name (dotted names whose first part is a model, such as
// lagged.patient.rupture; others, such as detection.patient.prevalence, need none): those of its
// analysis.models in their order, then the named models it does not list, in the order named.
// Each model costs about as much as simulating the cohort, so a search fits none that nobody reads.
Scenario fitting_only_named_models(Scenario s, const std::vector<std::string>& names);

// The in-memory summary of `replications` replications of `s` with `seed`.
std::vector<SummaryRow> summary_at(Scenario s, std::int64_t replications, std::uint64_t seed, int threads);

// InputError("FLAG: must be an integer >= MIN, got V").
[[noreturn]] void fail_at_least(const char* flag, std::int64_t v, std::int64_t min);

}  // namespace collabzium
