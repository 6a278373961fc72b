// The initial-conditions model ("initial", docs/model.md 4.1) and analysis.session: the design columns
// on a cohort small enough to compute by hand. Its agreement with lmerTest is checked with the
// other fixtures (tests/fixtures/lme4, fixtures "initial_*").
#include <catch2/catch.hpp>

#include <cmath>

#include "cli_runner.h"
#include "collabzium/analysis/analysis.h"
#include "collabzium/study/summary.h"

using namespace collabzium;
using namespace collabzium::testing;

namespace {

constexpr double NA = std::numeric_limits<double>::quiet_NaN();

struct Series {
  std::vector<int> sessions;
  std::vector<double> distress;
  std::vector<double> rating;         // the patient's ratings (NA: missing)
  std::vector<std::uint8_t> rupture;  // the patient's detected events
  std::vector<std::uint8_t> repair;
  std::vector<std::uint8_t> true_onset;  // the truth's events
  std::vector<std::uint8_t> true_repair;
};

// Five patients of one therapist:
//  0: sessions 1-4, every value present: rows at t = 1, 2, 3.
//  1: no session 1: in "lagged", left out of "initial".
//  2: session 2's distress missing and session 3 skipped: one row (t = 4); D_i1 = 8 all the same.
//  3: the patient's rating of session 2 is missing: one row for the patient, two for the truth.
//  4: session 1 observed but its distress missing: in "lagged", left out of "initial".
const std::vector<Series> kPatients = {
    {{1, 2, 3, 4}, {10, 12, 11, 13}, {3, 3, 3, 3}, {1, 0, 1, 0}, {0, 1, 0, 0}, {1, 0, 0, 0}, {0, 0, 0, 0}},
    {{2, 3, 4}, {14, 15, 16}, {3, 3, 3}, {0, 1, 0}, {0, 0, 1}, {0, 0, 0}, {0, 0, 0}},
    {{1, 2, 4, 5}, {8, NA, 9, 7}, {3, 3, 3, 3}, {0, 0, 1, 0}, {0, 0, 0, 1}, {0, 0, 1, 0}, {0, 0, 0, 0}},
    {{1, 2, 3}, {5, 6, 7}, {3, NA, 3}, {0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
    {{1, 2, 3}, {NA, 4, 6}, {3, 3, 3}, {1, 1, 0}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0}},
};

Cohort tiny_cohort(RaterEvents& events) {
  Cohort c;
  c.n_therapists = 1;
  c.has_truth = true;
  c.offset.push_back(0);
  for (std::size_t i = 0; i < kPatients.size(); ++i) {
    const Series& p = kPatients[i];
    c.therapist.push_back(0);
    for (std::size_t k = 0; k < p.sessions.size(); ++k) {
      c.patient.push_back(static_cast<int>(i));
      c.session.push_back(p.sessions[k]);
      c.distress.push_back(p.distress[k]);
      c.alliance_patient.push_back(p.rating[k]);
      c.alliance_therapist.push_back(3);
      c.true_alliance.push_back(3);
      c.true_distress.push_back(p.distress[k]);
      c.true_ruptured.push_back(0);
      c.true_onset.push_back(p.true_onset[k]);
      c.true_repair.push_back(p.true_repair[k]);
      c.registered_patient.push_back(0);
      c.registered_therapist.push_back(0);
      c.dropout.push_back(0);
      events.rupture.push_back(p.rupture[k]);
      events.repair.push_back(p.repair[k]);
    }
    c.offset.push_back(c.session.size());
  }
  return c;
}

Eigen::MatrixXd matrix(const std::vector<std::vector<double>>& rows) {
  Eigen::MatrixXd m(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(rows[0].size()));
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t j = 0; j < rows[r].size(); ++j)
      m(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j)) = rows[r][j];
  return m;
}

Eigen::VectorXd column(const std::vector<double>& v) {
  return Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

}  // namespace

TEST_CASE("initial: D_i1 and the patient means over the model's rows, patients without session-1 distress left out",
          "[analysis][initial]") {
  RaterEvents events;
  const Cohort c = tiny_cohort(events);
  Scenario s;

  const LmmProblem initial = build_model(ModelKind::Initial, c, RaterId::Patient, &events, s);
  CHECK(initial.names == std::vector<std::string>{"(Intercept)", "rupture", "repair", "distress", "session",
                                                  "distress_initial", "rupture_mean", "repair_mean"});
  // Patient 0's regressors at t = 1, 2, 3: ruptures 1, 0, 1 (mean 2/3), repairs 0, 1, 0 (1/3).
  // Patient 2's one row (t = 4): rupture 1, repair 0. Patient 3's one row (t = 1): repair 1.
  const double r0 = 2.0 / 3.0, p0 = 1.0 / 3.0;
  CHECK(initial.X == matrix({{1, 1, 0, 10, 1, 10, r0, p0},
                             {1, 0, 1, 12, 2, 10, r0, p0},
                             {1, 1, 0, 11, 3, 10, r0, p0},
                             {1, 1, 0, 9, 4, 8, 1, 0},
                             {1, 0, 1, 5, 1, 5, 0, 1}}));
  CHECK(initial.y == column({12, 11, 13, 7, 6}));
  CHECK(initial.group == std::vector<int>{0, 0, 0, 1, 2});  // patients renumbered over the rows used

  // The lagged model on the same cohort keeps patients 1 and 4 (its rows are initial's plus theirs).
  const LmmProblem lagged = build_model(ModelKind::Lagged, c, RaterId::Patient, &events, s);
  CHECK(lagged.X == matrix({{1, 1, 0, 10, 1},
                            {1, 0, 1, 12, 2},
                            {1, 1, 0, 11, 3},
                            {1, 0, 0, 14, 2},
                            {1, 1, 0, 15, 3},
                            {1, 1, 0, 9, 4},
                            {1, 0, 1, 5, 1},
                            {1, 1, 0, 4, 2}}));

  // On the oracle's events (no rating needed) patient 3 has two rows, t = 1 and 2, with true onsets
  // 0 and 1 (mean 1/2); its true repair at t = 3 is in no row, so its repair mean is 0.
  const LmmProblem truth = build_model(ModelKind::Initial, c, RaterId::Truth, nullptr, s);
  CHECK(truth.names == initial.names);
  CHECK(truth.X == matrix({{1, 1, 0, 10, 1, 10, 1.0 / 3.0, 0},
                           {1, 0, 0, 12, 2, 10, 1.0 / 3.0, 0},
                           {1, 0, 0, 11, 3, 10, 1.0 / 3.0, 0},
                           {1, 1, 0, 9, 4, 8, 1, 0},
                           {1, 0, 0, 5, 1, 5, 0.5, 0},
                           {1, 1, 0, 6, 2, 5, 0.5, 0}}));
  CHECK(truth.y == column({12, 11, 13, 7, 6, 7}));
}

TEST_CASE("analysis.session = false removes the session column of the lagged family, not growth's",
          "[analysis][initial]") {
  RaterEvents events;
  const Cohort c = tiny_cohort(events);
  Scenario with;
  Scenario without;
  without.analysis.session = false;
  for (ModelKind kind : {ModelKind::Lagged, ModelKind::Within, ModelKind::Initial, ModelKind::Oracle}) {
    INFO(name(kind));
    const RaterId rater = kind == ModelKind::Oracle ? RaterId::Truth : RaterId::Patient;
    const RaterEvents* ev = rater == RaterId::Truth ? nullptr : &events;
    const LmmProblem full = build_model(kind, c, rater, ev, with);
    const LmmProblem dropped = build_model(kind, c, rater, ev, without);
    const auto session = std::find(full.names.begin(), full.names.end(), "session");
    REQUIRE(session != full.names.end());
    const auto col = static_cast<Eigen::Index>(session - full.names.begin());
    std::vector<std::string> names = full.names;
    names.erase(names.begin() + col);
    CHECK(dropped.names == names);
    CHECK(model_terms(Fit{kind, rater}, without) == names);
    // The other columns, the response and the grouping are unchanged.
    REQUIRE(dropped.X.cols() == full.X.cols() - 1);
    CHECK(dropped.X.leftCols(col) == full.X.leftCols(col));
    CHECK(dropped.X.rightCols(full.X.cols() - col - 1) == full.X.rightCols(full.X.cols() - col - 1));
    CHECK(dropped.y == full.y);
    CHECK(dropped.group == full.group);
  }
  CHECK(build_model(ModelKind::Growth, c, RaterId::Patient, &events, without).names ==
        std::vector<std::string>{"(Intercept)", "growth"});
}

TEST_CASE("initial on the truth gains the false-alarm term as the oracle does; the observers' fits do not",
          "[analysis][initial]") {
  Scenario s;
  s.distress.effects.false_alarm = 0.5;
  s.analysis.session = false;
  CHECK(model_terms(Fit{ModelKind::Initial, RaterId::Truth}, s) ==
        std::vector<std::string>{"(Intercept)", "rupture", "repair", "distress", "distress_initial", "rupture_mean",
                                 "repair_mean", "false_alarm"});
  CHECK(model_terms(Fit{ModelKind::Oracle, RaterId::Truth}, s) ==
        std::vector<std::string>{"(Intercept)", "rupture", "repair", "distress", "false_alarm"});
  CHECK(model_terms(Fit{ModelKind::Initial, RaterId::Therapist}, s).back() == "repair_mean");
}

TEST_CASE("initial is fitted per observer and on the oracle's events, named initial.RATER", "[analysis][initial]") {
  Analysis a;
  a.models = {ModelKind::Initial, ModelKind::Oracle, ModelKind::Lagged};
  const std::vector<Fit> expected = {{ModelKind::Initial, RaterId::Patient},   {ModelKind::Lagged, RaterId::Patient},
                                     {ModelKind::Initial, RaterId::Therapist}, {ModelKind::Lagged, RaterId::Therapist},
                                     {ModelKind::Initial, RaterId::Truth},     {ModelKind::Oracle, RaterId::Truth}};
  CHECK(fits_of(a) == expected);
  CHECK(model_kind(ModelKind::Initial).fitted_for == FittedFor::EachObserverAndTruth);
  CHECK(fitted_for_observers(ModelKind::Initial));
  CHECK(fitted_for_truth(ModelKind::Initial));
  CHECK_FALSE(fitted_for_truth(ModelKind::Lagged));
  CHECK_FALSE(fitted_for_observers(ModelKind::Oracle));
}

TEST_CASE("the true value of the distress term is distress.ar in the lagged family", "[summary][initial]") {
  Scenario s;
  s.distress.ar = 0.35;
  for (ModelKind kind : {ModelKind::Lagged, ModelKind::Within, ModelKind::Initial, ModelKind::Oracle})
    CHECK(true_value(s, kind, "distress") == 0.35);
  CHECK(std::isnan(true_value(s, ModelKind::Initial, "distress_initial")));
  CHECK(std::isnan(true_value(s, ModelKind::Within, "distress_mean")));
  CHECK(std::isnan(true_value(s, ModelKind::Lagged, "session")));
  CHECK(true_value(s, ModelKind::Initial, "rupture") == s.distress.effects.rupture);
}

TEST_CASE("analyze and run carry initial per observer and on the truth", "[initial][cli]") {
  const auto dir = scratch_dir("initial");
  write_text(dir / "s.toml",
             "[run]\nreplications = 3\nseed = 4\n[design]\npatients = 60\n"
             "[analysis]\nmodels = [\"initial\", \"oracle\"]\nsession = false\n");
  REQUIRE(run_cli("simulate s.toml --out cohort.csv", dir).status == 0);
  const auto r = run_cli("analyze s.toml --data cohort.csv --out report.json", dir);
  INFO(r.err);
  REQUIRE(r.status == 0);
  for (const char* rater : {"patient", "therapist", "truth"})
    CHECK(r.out.find(std::string("initial model, rater ") + rater) != std::string::npos);
  const std::string json = slurp(dir / "report.json");
  CHECK(json.find("\"truth\": {") != std::string::npos);
  CHECK(json.find("\"oracle\": {") != std::string::npos);
  CHECK(json.find("\"distress_initial\"") != std::string::npos);
  CHECK(json.find("\"session\"") == std::string::npos);  // analysis.session = false

  REQUIRE(run_cli("run s.toml --out r.h5", dir).status == 0);
  const std::string summary = slurp(dir / "r.summary.csv");
  CHECK(summary.find("initial,truth,rupture_mean,mean,") != std::string::npos);
  CHECK(summary.find("initial,patient,distress,true_value,0.5,") != std::string::npos);  // distress.ar
  CHECK(summary.find(",session,") == std::string::npos);
}
