// The mechanisms of docs/model.md 2.7: which onsets, repairs and false alarms move distress, and
// responsive repair. Deterministic parts are checked exactly, rates within 4 Monte Carlo SEs.
#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <string>

#include "collabzium/analysis/analysis.h"
#include "collabzium/error.h"
#include "collabzium/io/cohort_csv.h"
#include "collabzium/io/cohort_reader.h"
#include "collabzium/config/scenario.h"
#include "collabzium/model/simulator.h"

using namespace collabzium;

namespace {

// Distress is exactly mean + a: no random effects, no trend, AR 0, no innovation, continuous
// without item noise, β_U = β_A = 0. Ruptures are frequent and each rater registers half of them.
Scenario mechanism_scenario() {
  Scenario s;
  s.design.patients = 400;
  s.design.therapists = 4;
  s.design.sessions = {.distribution = SessionDistribution::Fixed, .mean = 20, .min = 1, .max = 1000};
  s.design.dropout = {.base = 0.0, .unresolved_rupture = 0.0, .distress = 0.0};
  s.rupture.onset_probability = 0.3;
  s.rupture.propensity_sd = 0;
  s.rupture.distress_effect = 0;
  s.rupture.repair_probability = 0.4;
  s.rupture.repair_skill_sd = 0;
  s.distress.mean = 20;
  s.distress.therapist_sd = s.distress.patient_sd = s.distress.trend = s.distress.trend_sd = 0;
  s.distress.ar = 0;
  s.distress.innovation_sd = 0;
  s.distress.response = Response::Continuous;
  s.distress.item_sd = 0;
  // Binary fractions, so every sum of them is exact.
  s.distress.effects.rupture = 1.5;
  s.distress.effects.repair = -2.5;
  s.distress.effects.unresolved = 0;
  s.distress.effects.alliance = 0;
  s.raters.patient.registration = 0.5;
  s.raters.therapist.registration = 0.5;
  s.raters.patient.false_alarm_rate = 0.2;
  return s;
}

bool felt(EventVia via, bool by_patient, bool by_therapist) {
  if (via == EventVia::Patient) return by_patient;
  if (via == EventVia::Therapist) return by_therapist;
  if (via == EventVia::Either) return by_patient || by_therapist;
  if (via == EventVia::Both) return by_patient && by_therapist;
  return true;
}

// Whether rater q registered the episode that begins (onset) or ends (repair) in row k: the
// registered_* columns are 1 on the rows where a registered episode is active, and a repaired
// episode was active on the row before.
bool episode_registered(const Cohort& c, std::size_t k, int q) {
  const auto& reg = q == 0 ? c.registered_patient : c.registered_therapist;
  return c.true_onset[k] ? reg[k] != 0 : reg[k - 1] != 0;
}

double logistic(double eta) { return 1.0 / (1.0 + std::exp(-eta)); }
double logit(double p) { return std::log(p / (1 - p)); }

}  // namespace

TEST_CASE("the next-session jump of latent distress follows the registrations of the _via keys", "[mechanisms]") {
  for (const EventVia via :
       {EventVia::Latent, EventVia::Patient, EventVia::Therapist, EventVia::Either, EventVia::Both}) {
    for (const double beta_f : {0.0, 0.75}) {
      Scenario s = mechanism_scenario();
      s.distress.effects.rupture_via = via;
      s.distress.effects.repair_via = via;
      s.distress.effects.false_alarm = beta_f;
      const Cohort c = simulate_cohort(s, 11, 1, 1);
      REQUIRE(c.has_effective);
      int mismatches = 0, column_mismatches = 0;
      int cases[2][2][2] = {};  // [event: onset, repair][patient registered][therapist registered]
      int false_alarms = 0;
      for (std::size_t i = 0; i < c.patients(); ++i)
        for (std::size_t k = c.offset[i]; k < c.offset[i + 1]; ++k) {
          bool onset = false, repair = false;
          if (c.true_onset[k] || c.true_repair[k]) {
            const bool p = episode_registered(c, k, 0), t = episode_registered(c, k, 1);
            ++cases[c.true_repair[k]][p][t];
            onset = c.true_onset[k] && felt(via, p, t);
            repair = c.true_repair[k] && felt(via, p, t);
          }
          if (onset != (c.effective_onset[k] != 0) || repair != (c.effective_repair[k] != 0)) ++column_mismatches;
          false_alarms += c.false_alarm_patient[k];
          if (k + 1 == c.offset[i + 1]) continue;
          const double jump = 1.5 * onset - 2.5 * repair + beta_f * c.false_alarm_patient[k];
          if (c.true_distress[k + 1] - 20.0 != jump) ++mismatches;
        }
      INFO("via " << name(via) << ", beta_F " << beta_f);
      CHECK(mismatches == 0);
      CHECK(column_mismatches == 0);
      CHECK(false_alarms > 100);
      for (int e = 0; e < 2; ++e)
        for (int p = 0; p < 2; ++p)
          for (int t = 0; t < 2; ++t) CHECK(cases[e][p][t] > 50);  // every row of the truth table occurs
    }
  }
}

TEST_CASE("rupture_via and repair_via act separately", "[mechanisms]") {
  Scenario s = mechanism_scenario();
  s.distress.effects.rupture_via = EventVia::Therapist;
  s.distress.effects.repair_via = EventVia::Patient;
  const Cohort c = simulate_cohort(s, 12, 1, 1);
  int mismatches = 0;
  for (std::size_t i = 0; i < c.patients(); ++i)
    for (std::size_t k = c.offset[i]; k + 1 < c.offset[i + 1]; ++k) {
      const bool onset = c.true_onset[k] && episode_registered(c, k, 1);
      const bool repair = c.true_repair[k] && episode_registered(c, k, 0);
      if (c.true_distress[k + 1] - 20.0 != 1.5 * onset - 2.5 * repair) ++mismatches;
    }
  CHECK(mismatches == 0);
}

TEST_CASE("responsiveness shifts the repair logit of the episodes the rater registered", "[mechanisms]") {
  struct Shifts {
    double patient, therapist;
  };
  for (const Shifts shift : {Shifts{0, 1.5}, Shifts{1.0, 0}, Shifts{1.0, 1.5}}) {
    Scenario s = mechanism_scenario();
    s.design.patients = 3000;
    s.rupture.repair_probability = 0.3;
    s.rupture.responsiveness.patient = shift.patient;
    s.rupture.responsiveness.therapist = shift.therapist;
    const Cohort c = simulate_cohort(s, 13, 1, 1);
    double attempts[2][2] = {}, repairs[2][2] = {};  // [patient registered][therapist registered]
    for (std::size_t i = 0; i < c.patients(); ++i)
      for (std::size_t k = c.offset[i] + 1; k < c.offset[i + 1]; ++k) {
        if (!c.true_ruptured[k - 1]) continue;  // a repair is possible in session t when ruptured after t-1
        const int p = c.registered_patient[k - 1], t = c.registered_therapist[k - 1];
        attempts[p][t] += 1;
        repairs[p][t] += c.true_repair[k];
      }
    for (int p = 0; p < 2; ++p)
      for (int t = 0; t < 2; ++t) {
        const double truth = logistic(logit(0.3) + shift.patient * p + shift.therapist * t);
        const double rate = repairs[p][t] / attempts[p][t];
        const double mcse = std::sqrt(truth * (1 - truth) / attempts[p][t]);
        INFO("shifts " << shift.patient << ", " << shift.therapist << "; registered by patient " << p << ", therapist "
                       << t << ": rate " << rate << ", truth " << truth << ", mcse " << mcse);
        CHECK(attempts[p][t] > 1000);
        CHECK(std::abs(rate - truth) <= 4 * mcse);
      }
  }
}

TEST_CASE("a _via key or beta_F changes distress and nothing else drawn", "[mechanisms]") {
  Scenario base;  // the seed defaults, with nothing else depending on distress
  base.rupture.distress_effect = 0;
  base.design.dropout.distress = 0;
  base.raters.patient.mood_congruence = 0;
  Scenario changed = base;
  changed.distress.effects.rupture_via = EventVia::Patient;
  changed.distress.effects.repair_via = EventVia::Both;
  changed.distress.effects.false_alarm = 1.0;
  const Cohort a = simulate_cohort(base, 14, 1, 2), b = simulate_cohort(changed, 14, 1, 2);
  REQUIRE(a.rows() == b.rows());
  CHECK(a.session == b.session);
  CHECK(a.true_onset == b.true_onset);
  CHECK(a.true_repair == b.true_repair);
  CHECK(a.true_ruptured == b.true_ruptured);
  CHECK(a.registered_patient == b.registered_patient);
  CHECK(a.registered_therapist == b.registered_therapist);
  CHECK(a.false_alarm_patient == b.false_alarm_patient);
  CHECK(a.false_alarm_therapist == b.false_alarm_therapist);
  CHECK(a.true_alliance == b.true_alliance);
  CHECK(a.alliance_patient == b.alliance_patient);
  CHECK(a.alliance_therapist == b.alliance_therapist);
  CHECK(a.dropout == b.dropout);
  CHECK(a.true_distress != b.true_distress);
  // Under the defaults the effective events are the latent ones.
  CHECK(a.effective_onset == a.true_onset);
  CHECK(a.effective_repair == a.true_repair);
  CHECK(b.effective_onset != b.true_onset);
}

TEST_CASE("the mechanism keys are validated and sweepable", "[mechanisms][scenario]") {
  const ScenarioFile defaults = parse_scenario("", "s.toml");
  CHECK(defaults.base.distress.effects.rupture_via == EventVia::Latent);
  CHECK(defaults.base.distress.effects.repair_via == EventVia::Latent);
  CHECK(defaults.base.distress.effects.false_alarm == 0);
  CHECK(defaults.base.rupture.responsiveness.therapist == 0);
  CHECK(defaults.base.rupture.responsiveness.patient == 0);

  auto message = [](const std::string& toml) {
    try {
      parse_scenario(toml, "s.toml");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(message("[distress.effects]\nrupture_via = \"sometimes\"") ==
        "s.toml:2: distress.effects.rupture_via: must be one of \"latent\", \"patient\", \"therapist\", "
        "\"either\", \"both\", got \"sometimes\"");
  CHECK(message("[rupture.responsiveness]\ntherapist = \"high\"")
            .find("rupture.responsiveness.therapist: must be a number") != std::string::npos);

  const ScenarioFile f = parse_scenario(
      "[sweep]\n\"distress.effects.repair_via\" = [\"latent\", \"therapist\"]\n"
      "\"rupture.responsiveness.therapist\" = [0, 1.5]\n\"distress.effects.false_alarm\" = [0.5]\n",
      "s.toml");
  REQUIRE(f.conditions.size() == 4);
  CHECK(f.conditions[3].scenario.distress.effects.repair_via == EventVia::Therapist);
  CHECK(f.conditions[3].scenario.rupture.responsiveness.therapist == 1.5);
  CHECK(f.conditions[0].scenario.distress.effects.false_alarm == 0.5);
  const ScenarioFile again = parse_scenario(to_toml(f), "again.toml");
  CHECK(to_toml(again) == to_toml(f));
}

TEST_CASE("the effective and false-alarm columns survive the cohort CSV", "[mechanisms]") {
  Scenario s = mechanism_scenario();
  s.design.patients = 20;
  s.distress.effects.rupture_via = EventVia::Either;
  const Cohort c = simulate_cohort(s, 15, 1, 1);
  std::ostringstream csv;
  write_cohort_csv(c, csv);
  CHECK(csv.str()
            .substr(0, csv.str().find('\n'))
            .find(",dropout,effective_onset,effective_repair,false_alarm_patient,false_alarm_therapist") !=
        std::string::npos);
  Cohort back;
  parse_cohort_csv(csv.str(), "c.csv", back);
  CHECK(back.has_effective);
  CHECK(back.effective_onset == c.effective_onset);
  CHECK(back.effective_repair == c.effective_repair);
  CHECK(back.false_alarm_patient == c.false_alarm_patient);
  CHECK(back.false_alarm_therapist == c.false_alarm_therapist);

  Cohort latent_only;
  parse_cohort_csv(
      "patient,therapist,session,distress,alliance_patient,alliance_therapist,true_onset,true_repair\n"
      "1,1,1,20,4,4,0,0\n1,1,2,21,3,4,1,0\n",
      "d.csv", latent_only);
  CHECK(latent_only.has_truth);
  CHECK_FALSE(latent_only.has_effective);
}

TEST_CASE("the oracle fits the effective events and, when beta_F is not 0, the patient's false alarms",
          "[mechanisms]") {
  Scenario s = mechanism_scenario();
  s.design.patients = 30;
  s.distress.effects.rupture_via = EventVia::Patient;
  s.distress.effects.repair_via = EventVia::Therapist;
  Cohort c = simulate_cohort(s, 16, 1, 1);
  auto column_matches = [&](const LmmProblem& prob, int col, const std::vector<std::uint8_t>& expected) {
    std::size_t r = 0;
    for (std::size_t i = 0; i < c.patients(); ++i)
      for (std::size_t k = c.offset[i]; k + 1 < c.offset[i + 1]; ++k, ++r)
        if (prob.X(static_cast<Eigen::Index>(r), col) != expected[k]) return false;
    return r == static_cast<std::size_t>(prob.X.rows());
  };
  const LmmProblem effective = build_model(ModelKind::Oracle, c, RaterId::Truth, nullptr, s);
  CHECK(effective.names == std::vector<std::string>{"(Intercept)", "rupture", "repair", "distress", "session"});
  CHECK(column_matches(effective, 1, c.effective_onset));
  CHECK(column_matches(effective, 2, c.effective_repair));

  s.distress.effects.false_alarm = 0.75;
  const LmmProblem with_false_alarm = build_model(ModelKind::Oracle, c, RaterId::Truth, nullptr, s);
  REQUIRE(with_false_alarm.names.size() == 6);
  CHECK(with_false_alarm.names[5] == "false_alarm");
  CHECK(column_matches(with_false_alarm, 5, c.false_alarm_patient));
  CHECK(model_terms(Fit{ModelKind::Lagged, RaterId::Patient}, s).size() == 5);  // only fits on the truth gain it

  c.has_effective = false;  // data without the effective columns: the latent events
  const LmmProblem latent = build_model(ModelKind::Oracle, c, RaterId::Truth, nullptr, s);
  CHECK(column_matches(latent, 1, c.true_onset));
  CHECK(column_matches(latent, 2, c.true_repair));
}
