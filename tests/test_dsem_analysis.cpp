// The "dsem" model kind inside the analysis: its place among the fits, its own random stream per
// replication and rater, its start from the "lagged" fit, and its record columns.
#include <algorithm>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "collabzium/analysis/analysis.h"
#include "collabzium/model/simulator.h"
#include "collabzium/study/record.h"

using namespace collabzium;

namespace {

// The seed design (the scenario defaults), one simulated cohort.
Scenario seed_scenario(std::vector<ModelKind> models) {
  Scenario s = parse_scenario("", "seed.toml").base;
  s.analysis.models = std::move(models);
  return s;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void check_same_fit(const ModelResult& a, const ModelResult& b) {
  REQUIRE(a.fit.coefficients.size() == b.fit.coefficients.size());
  for (std::size_t t = 0; t < a.fit.coefficients.size(); ++t) {
    INFO(a.fit.coefficients[t].name);
    CHECK(same_bits(a.fit.coefficients[t].estimate, b.fit.coefficients[t].estimate));
    CHECK(same_bits(a.fit.coefficients[t].se, b.fit.coefficients[t].se));
    CHECK(same_bits(a.fit.coefficients[t].ci_low, b.fit.coefficients[t].ci_low));
  }
  CHECK(same_bits(a.fit.sigma2, b.fit.sigma2));
  CHECK(same_bits(a.fit.diagnostic("rhat"), b.fit.diagnostic("rhat")));
  CHECK(same_bits(a.fit.diagnostic("ess"), b.fit.diagnostic("ess")));
}

const ModelResult& result_of(const CohortAnalysis& a, ModelKind model, RaterId rater) {
  for (const auto& m : a.models)
    if (m.model == model && m.rater == rater) return m;
  FAIL("no fit " << name(model) << "." << name(rater));
  throw;
}

}  // namespace

TEST_CASE("dsem is an observer-fitted model kind with the lagged terms", "[dsem][analysis]") {
  const ModelKindInfo& k = model_kind(ModelKind::Dsem);
  CHECK(k.name == "dsem");
  CHECK(k.fitted_for == FittedFor::EachObserver);
  CHECK(k.sampled);
  CHECK(k.build == nullptr);
  CHECK(k.terms == std::vector<std::string>{"(Intercept)", "rupture", "repair", "distress", "session"});
  CHECK_FALSE(model_kind(ModelKind::Lagged).sampled);
  CHECK(parse<ModelKind>("dsem") == ModelKind::Dsem);
}

TEST_CASE("analyze_cohort fits dsem per observer in the order of fits_of, with finite estimates", "[dsem][analysis]") {
  const Scenario s = seed_scenario({ModelKind::Lagged, ModelKind::Dsem, ModelKind::Oracle});
  const Cohort c = simulate_cohort(s, 20251126, 1, 1);
  const CohortAnalysis a = analyze_cohort(c, s, ReplicationId{20251126, 1, 1});
  const std::vector<Fit> expected = {{ModelKind::Lagged, RaterId::Patient},
                                     {ModelKind::Dsem, RaterId::Patient},
                                     {ModelKind::Lagged, RaterId::Therapist},
                                     {ModelKind::Dsem, RaterId::Therapist},
                                     {ModelKind::Oracle, RaterId::Truth}};
  REQUIRE(a.models.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(a.models[i].model == expected[i].model);
    CHECK(a.models[i].rater == expected[i].rater);
  }
  for (RaterId rater : kObservers) {
    const ModelResult& m = result_of(a, ModelKind::Dsem, rater);
    INFO(name(rater));
    CHECK(m.skipped.empty());
    REQUIRE(m.fit.coefficients.size() == 5);
    for (std::size_t t = 0; t < 5; ++t) {
      const Coefficient& co = m.fit.coefficients[t];
      CHECK(co.name == model_terms(ModelKind::Dsem)[t]);
      CHECK(std::isfinite(co.estimate));
      CHECK(co.se > 0);
      CHECK(co.ci_low < co.estimate);
      CHECK(co.estimate < co.ci_high);
      CHECK(std::isnan(co.df));  // a posterior has no degrees of freedom
    }
    CHECK(std::isfinite(m.fit.diagnostic("rhat")));
    CHECK(m.fit.diagnostic("ess") > 0);
    CHECK(m.fit.converged == (m.fit.diagnostic("rhat") < 1.1));
    CHECK(m.fit.iterations == 2 * 1000);  // 2 chains, the second half of 2000 each
    CHECK(std::isnan(m.fit.criterion));
    // It uses every observed distress value of a patient with two of them, so more than the
    // lagged model's pairs.
    CHECK(m.rows > result_of(a, ModelKind::Lagged, rater).rows);
  }
  // The REML models carry no sampler diagnostics.
  CHECK(std::isnan(result_of(a, ModelKind::Lagged, RaterId::Patient).fit.diagnostic("rhat")));
}

TEST_CASE("dsem draws from its replication's and rater's own stream and starts the same without lagged",
          "[dsem][analysis]") {
  const Scenario with_lagged = seed_scenario({ModelKind::Lagged, ModelKind::Dsem});
  const Scenario dsem_first = seed_scenario({ModelKind::Dsem, ModelKind::Lagged});
  const Scenario alone = seed_scenario({ModelKind::Dsem});
  const Cohort c = simulate_cohort(with_lagged, 7, 2, 3);
  const ReplicationId id{7, 2, 3};
  const CohortAnalysis a = analyze_cohort(c, with_lagged, id);
  const CohortAnalysis b = analyze_cohort(c, dsem_first, id);
  const CohortAnalysis d = analyze_cohort(c, alone, id);
  for (RaterId rater : kObservers) {
    // The start from the analysis's lagged fit equals the one the fitter makes itself.
    check_same_fit(result_of(a, ModelKind::Dsem, rater), result_of(b, ModelKind::Dsem, rater));
    check_same_fit(result_of(a, ModelKind::Dsem, rater), result_of(d, ModelKind::Dsem, rater));
  }
  // Another replication of the same cohort draws other numbers.
  const CohortAnalysis other = analyze_cohort(c, alone, ReplicationId{7, 2, 4});
  CHECK(result_of(other, ModelKind::Dsem, RaterId::Patient).fit.coefficients[3].estimate !=
        result_of(d, ModelKind::Dsem, RaterId::Patient).fit.coefficients[3].estimate);
  // The two raters' engines differ, and neither is the replication's plain Dsem stream.
  Engine patient = dsem_engine(id, RaterId::Patient), therapist = dsem_engine(id, RaterId::Therapist);
  Engine plain = make_stream(7, 2, 3, StreamPurpose::Dsem);
  const auto p = patient(), t = therapist(), q = plain();
  CHECK(p != t);
  CHECK(p != q);
  CHECK(t != q);
  // analyze of one cohort is replication (run.seed, 1, 1).
  const CohortAnalysis one = analyze_cohort(c, alone);
  const CohortAnalysis explicit_one =
      analyze_cohort(c, alone, ReplicationId{static_cast<std::uint64_t>(alone.run.seed), 1, 1});
  check_same_fit(result_of(one, ModelKind::Dsem, RaterId::Therapist),
                 result_of(explicit_one, ModelKind::Dsem, RaterId::Therapist));
}

TEST_CASE("the record of a dsem fit carries its R-hat and ESS columns, the REML fits none", "[dsem][record]") {
  const Scenario s = seed_scenario({ModelKind::Lagged, ModelKind::Dsem});
  const RecordLayout layout = make_layout({s});
  const auto& cols = layout.columns;
  auto at = [&](const std::string& column) {
    return static_cast<std::size_t>(std::find(cols.begin(), cols.end(), column) - cols.begin());
  };
  // The dsem block of a rater: its coefficients, the seven fit fields, then rhat and ess.
  const std::size_t observations = at("dsem.patient.observations");
  REQUIRE(observations + 2 < cols.size());
  CHECK(cols[observations + 1] == "dsem.patient.rhat");
  CHECK(cols[observations + 2] == "dsem.patient.ess");
  CHECK(cols[observations + 3] == "lagged.therapist.(Intercept).estimate");
  CHECK(diagnostic_column({ModelKind::Dsem, RaterId::Therapist}, "rhat") == "dsem.therapist.rhat");
  CHECK(diagnostic_column({ModelKind::Dsem, RaterId::Therapist}, "ess") == "dsem.therapist.ess");
  CHECK(at("lagged.patient.rhat") == cols.size());
  CHECK(at("dsem.patient.distress.df") < cols.size());
  // 2 raters x (lagged: 5 x 6 + 7; dsem: 5 x 6 + 9) + detection 25 + cohort 3.
  CHECK(cols.size() == 2 * (37 + 39) + 25 + 3);

  const Cohort c = simulate_cohort(s, 11, 1, 1);
  const CohortAnalysis a = analyze_cohort(c, s, ReplicationId{11, 1, 1});
  std::vector<double> row(cols.size());
  fill_record(layout, 0, s, c, a, row.data());
  for (RaterId rater : kObservers) {
    const std::string p = "dsem." + std::string(name(rater)) + ".";
    const ModelResult& m = result_of(a, ModelKind::Dsem, rater);
    CHECK(same_bits(row[at(p + "rhat")], m.fit.diagnostic("rhat")));
    CHECK(same_bits(row[at(p + "ess")], m.fit.diagnostic("ess")));
    CHECK(row[at(p + "converged")] == double(m.fit.converged));
    CHECK(std::isnan(row[at(p + "rupture.df")]));
    CHECK(same_bits(row[at(p + "distress.estimate")], m.fit.coefficients[3].estimate));
  }
}
