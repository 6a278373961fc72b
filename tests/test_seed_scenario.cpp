// The shipped seed scenario reproduces the published figures it was calibrated to (issue 6):
// 52% of patients and 73% of therapists report at least one rupture (each within 3 points), and
// alliance growth is clearly positive for both raters.
#include <catch2/catch.hpp>

#include "collabzium/config/scenario.h"
#include "collabzium/study/runner.h"

using namespace collabzium;

namespace {

const SummaryRow& row(const std::vector<SummaryRow>& rows, const std::string& model, const std::string& rater,
                      const std::string& term, const std::string& measure) {
  for (const auto& r : rows)
    if (r.model == model && r.rater == rater && r.term == term && r.measure == measure) return r;
  FAIL("no summary row " << model << "." << rater << "." << term << "." << measure);
  throw;
}

}  // namespace

TEST_CASE("the calibrated seed scenario gives 52% and 73% rupture prevalence and positive growth", "[seed]") {
  // A fresh seed, not the one the calibration searched with.
  const ScenarioFile f = load_scenario(std::string(COLLABZIUM_SOURCE_DIR) + "/configs/gidhagen2025.toml",
                                       {"run.replications=300", "run.seed=777", "analysis.models=[\"growth\"]"});
  const auto rows = study_summary(f, 0);
  const SummaryRow& p = row(rows, "detection", "patient", "rupture", "prevalence");
  const SummaryRow& t = row(rows, "detection", "therapist", "rupture", "prevalence");
  INFO("patient " << p.value << " (" << p.mcse << "), therapist " << t.value << " (" << t.mcse << ")");
  CHECK(std::abs(p.value - 0.52) <= 0.03);
  CHECK(std::abs(t.value - 0.73) <= 0.03);
  for (const char* rater : {"patient", "therapist"}) {
    const SummaryRow& g = row(rows, "growth", rater, "growth", "mean");
    INFO(rater << " growth " << g.value << " (" << g.mcse << ")");
    CHECK(g.value > 0.05);
    CHECK(g.value > 10 * g.mcse);
  }
}
