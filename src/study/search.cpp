#include "collabzium/study/search.h"

#include <algorithm>
#include <string>

#include "collabzium/error.h"
#include "collabzium/study/runner.h"

namespace collabzium {

Scenario fitting_only_named_models(Scenario s, const std::vector<std::string>& names) {
  std::vector<ModelKind> named;
  for (const std::string& n : names)
    if (auto kind = parse<ModelKind>(n.substr(0, n.find('.'))))
      if (std::find(named.begin(), named.end(), *kind) == named.end()) named.push_back(*kind);
  std::vector<ModelKind> models;
  for (ModelKind m : s.analysis.models)
    if (std::find(named.begin(), named.end(), m) != named.end()) models.push_back(m);
  for (ModelKind m : named)
    if (std::find(models.begin(), models.end(), m) == models.end()) models.push_back(m);
  s.analysis.models = models;
  return s;
}

std::vector<SummaryRow> summary_at(Scenario s, std::int64_t replications, std::uint64_t seed, int threads) {
  s.run.replications = replications;
  s.run.seed = static_cast<std::int64_t>(seed);
  return study_summary(single_condition(s), threads);
}

void fail_at_least(const char* flag, std::int64_t v, std::int64_t min) {
  throw InputError(locate(flag, 0, "", "must be an integer >= " + std::to_string(min) + ", got " + std::to_string(v)));
}

}  // namespace collabzium
