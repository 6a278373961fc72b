// The analyze verb end to end: a simulated cohort with truth, and a user's CSV without truth.
#include <catch2/catch.hpp>

#include "cli_runner.h"
#include "collabzium/analysis/analysis.h"
#include "collabzium/io/cohort_reader.h"
#include "collabzium/model/simulator.h"

using namespace collabzium;
using namespace collabzium::testing;

namespace {

std::string strip_truth(const std::string& csv) {
  // keep the first six columns of every line
  std::string out;
  std::istringstream in(csv);
  for (std::string line; std::getline(in, line);) {
    std::size_t pos = 0;
    for (int k = 0; k < 6; ++k) pos = line.find(',', pos) + 1;
    out += line.substr(0, pos - 1) + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("analyze reports detection accuracy and every model for both raters plus the oracle", "[analyze][cli]") {
  const auto dir = scratch_dir("analyze");
  write_text(dir / "s.toml", "[design]\npatients = 60\n[detection]\nroc_thresholds = [0.25, 0.5, 1.0]\n");
  REQUIRE(run_cli("simulate s.toml --out cohort.csv", dir).status == 0);
  auto r = run_cli("analyze s.toml --data cohort.csv --out report.json --events events.csv", dir);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::string json = slurp(dir / "report.json");
  for (const char* field : {"\"patients\": 60", "\"raters\"", "\"patient\"", "\"therapist\"", "\"detection\"",
                            "\"sensitivity\"", "\"true_prevalence\"", "\"lagged\"", "\"within\"", "\"growth\"",
                            "\"oracle\"", "\"reml_criterion\"", "\"ci_high\"", "\"roc\"", "\"auc\""})
    CHECK(json.find(field) != std::string::npos);
  CHECK(r.out.find("oracle model, rater truth") != std::string::npos);
  CHECK(r.out.find("lagged model, rater therapist") != std::string::npos);

  // events: one row per observed session per rater
  const Cohort c = read_cohort_csv((dir / "cohort.csv").string());
  const std::string events = slurp(dir / "events.csv");
  CHECK(events.rfind("patient,session,rater,rupture,repair\n", 0) == 0);
  CHECK(static_cast<std::size_t>(std::count(events.begin(), events.end(), '\n')) == 1 + 2 * c.rows());

  // the same analysis in the library agrees with the file written
  Scenario s;
  s.design.patients = 60;
  s.detection.roc_thresholds = {0.25, 0.5, 1.0};
  const CohortAnalysis a = analyze_cohort(c, s);
  CHECK(json.find("\"ruptures\": " + std::to_string(a.detection[0].ruptures)) != std::string::npos);
}

TEST_CASE("analyze works on a study without truth columns", "[analyze][cli]") {
  const auto dir = scratch_dir("analyze-notruth");
  write_text(dir / "s.toml", "[design]\npatients = 40\n");
  REQUIRE(run_cli("simulate s.toml --out full.csv", dir).status == 0);
  write_text(dir / "study.csv", strip_truth(slurp(dir / "full.csv")));
  auto r = run_cli("analyze s.toml --data study.csv --out report.json", dir);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::string json = slurp(dir / "report.json");
  CHECK(json.find("\"prevalence\"") != std::string::npos);
  CHECK(json.find("\"sensitivity\"") == std::string::npos);  // accuracy only with truth
  CHECK(json.find("\"oracle\"") == std::string::npos);
  CHECK(json.find("\"lagged\"") != std::string::npos);

  // malformed data: exit 2, one line, nothing written
  write_text(dir / "bad.csv", "patient,therapist,session,distress,alliance_patient,alliance_therapist\n1,1,0,20,3,3\n");
  auto bad = run_cli("analyze s.toml --data bad.csv --out bad.json --events bad_events.csv", dir);
  CHECK(bad.status == 2);
  CHECK(std::count(bad.err.begin(), bad.err.end(), '\n') == 1);
  CHECK(bad.err.rfind("bad.csv:2: session:", 0) == 0);
  CHECK_FALSE(std::filesystem::exists(dir / "bad.json"));
  CHECK_FALSE(std::filesystem::exists(dir / "bad_events.csv"));
}
