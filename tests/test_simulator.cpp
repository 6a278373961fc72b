// Statistical checks of the data-generating model (docs/model.md section 2): each property is compared
// with its closed form within 4 Monte Carlo standard errors, with fixed seeds.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <sstream>

#include "collabzium/io/cohort_csv.h"
#include "collabzium/config/scenario.h"
#include "collabzium/model/simulator.h"

using namespace collabzium;

namespace {

// Every source of variation switched off; each test turns on what it examines.
Scenario quiet(std::int64_t patients, std::int64_t therapists, std::int64_t sessions) {
  Scenario s;
  s.design.patients = patients;
  s.design.therapists = therapists;
  s.design.sessions = {
      .distribution = SessionDistribution::Fixed, .mean = static_cast<double>(sessions), .min = 1, .max = 1000};
  s.design.dropout = {.base = 0.0, .unresolved_rupture = 0.0, .distress = 0.0};
  s.alliance = {.mean = 3.6,
                .therapist_sd = 0,
                .patient_sd = 0,
                .growth = 0,
                .growth_sd = 0,
                .growth_shape = GrowthShape::Log,
                .ar = 0.4,
                .innovation_sd = 0};
  s.rupture = {.onset_probability = 0,
               .propensity_sd = 0,
               .distress_effect = 0,
               .depth_mean = 0.6,
               .depth_sd = 0.25,
               .repair_probability = 0.5,
               .repair_skill_sd = 0,
               .repair_bonus = 0};
  s.distress.therapist_sd = s.distress.patient_sd = s.distress.trend = s.distress.trend_sd = 0;
  s.distress.ar = 0;
  s.distress.innovation_sd = 0;
  s.distress.effects = {.rupture = 0, .repair = 0, .unresolved = 0, .alliance = 0};
  s.distress.response = Response::Continuous;
  s.distress.item_sd = 0;
  for (Rater* r : {&s.raters.patient, &s.raters.therapist}) {
    *r = Rater{};
    r->response = Response::Continuous;
    r->item_sd = 0;
  }
  return s;
}

struct Moments {
  double n = 0, sum = 0, sum2 = 0;
  void add(double x) {
    n += 1;
    sum += x;
    sum2 += x * x;
  }
  double mean() const { return sum / n; }
  double var() const { return (sum2 - sum * sum / n) / (n - 1); }
  double mcse() const { return std::sqrt(var() / n); }
};

// Rows of one patient, by session (fixed-length designs without dropout).
std::size_t row(const Cohort& c, std::size_t patient, int session) { return c.offset[patient] + session - 1; }

void check_within(double estimate, double truth, double mcse) {
  INFO("estimate " << estimate << ", truth " << truth << ", mcse " << mcse);
  CHECK(mcse > 0);
  CHECK(std::abs(estimate - truth) <= 4 * mcse);
}

}  // namespace

TEST_CASE("session-1 latent alliance has the model's mean and variance", "[simulator]") {
  Scenario s = quiet(40000, 4000, 1);
  s.alliance = {.mean = 3.6,
                .therapist_sd = 0.10,
                .patient_sd = 0.30,
                .growth = 0.15,
                .growth_sd = 0.08,
                .growth_shape = GrowthShape::Log,
                .ar = 0.4,
                .innovation_sd = 0.20};
  const Cohort c = simulate_cohort(s, 11, 1, 1);
  Moments m;
  for (std::size_t i = 0; i < c.patients(); ++i) m.add(c.true_alliance[row(c, i, 1)]);
  const double var = 0.01 + 0.09 + 0.04 / (1 - 0.16);
  check_within(m.mean(), 3.6, std::sqrt(0.01 / 4000 + (var - 0.01) / 40000));
  // sd check through the variance; SE of a normal sample variance is var·sqrt(2/n) (therapists add a little)
  check_within(m.var(), var, var * std::sqrt(2.0 / 40000) + 0.01 * std::sqrt(2.0 / 4000));
}

TEST_CASE("alliance grows with ln t and its fluctuation is AR(1)", "[simulator]") {
  Scenario s = quiet(20000, 100, 8);
  s.alliance = {.mean = 3.6,
                .therapist_sd = 0,
                .patient_sd = 0,
                .growth = 0.15,
                .growth_sd = 0.08,
                .growth_shape = GrowthShape::Log,
                .ar = 0.4,
                .innovation_sd = 0.20};
  const Cohort c = simulate_cohort(s, 12, 1, 1);
  Moments growth;
  for (std::size_t i = 0; i < c.patients(); ++i)
    growth.add(c.true_alliance[row(c, i, 8)] - c.true_alliance[row(c, i, 1)]);
  check_within(growth.mean(), 0.15 * std::log(8.0), growth.mcse());

  // Fluctuation without growth variance: e_t = A_t - mean - growth·ln t; pooled lag-1 regression.
  s.alliance.growth_sd = 0;
  const Cohort d = simulate_cohort(s, 13, 1, 1);
  double sxy = 0, sxx = 0, n = 0;
  for (std::size_t i = 0; i < d.patients(); ++i)
    for (int t = 2; t <= 8; ++t) {
      const double x = d.true_alliance[row(d, i, t - 1)] - 3.6 - 0.15 * std::log(t - 1.0);
      const double y = d.true_alliance[row(d, i, t)] - 3.6 - 0.15 * std::log(double(t));
      sxy += x * y;
      sxx += x * x;
      n += 1;
    }
  check_within(sxy / sxx, 0.4, std::sqrt((1 - 0.16) / n));

  s.alliance.growth_shape = GrowthShape::Linear;
  s.alliance.innovation_sd = 0;
  const Cohort lin = simulate_cohort(s, 14, 1, 1);
  CHECK(lin.true_alliance[row(lin, 0, 5)] == Approx(3.6 + 0.15 * 4).epsilon(1e-12));
}

TEST_CASE("rupture onsets occur at the onset probability per intact session", "[simulator]") {
  Scenario s = quiet(20000, 100, 10);
  s.rupture.onset_probability = 0.06;
  s.rupture.repair_probability = 0.5;
  const Cohort c = simulate_cohort(s, 21, 1, 1);
  double onsets = 0, at_risk = 0;
  for (std::size_t i = 0; i < c.patients(); ++i) {
    CHECK(c.true_onset[row(c, i, 1)] == 0);
    for (int t = 2; t <= 10; ++t)
      if (!c.true_ruptured[row(c, i, t - 1)]) {
        at_risk += 1;
        onsets += c.true_onset[row(c, i, t)];
      }
  }
  check_within(onsets / at_risk, 0.06, std::sqrt(0.06 * 0.94 / at_risk));
}

TEST_CASE("distress raises the onset probability on the logit scale", "[simulator]") {
  Scenario s = quiet(20000, 100, 10);
  s.rupture.onset_probability = 0.06;
  s.rupture.distress_effect = 0.6;
  s.distress.innovation_sd = 3;
  s.distress.ar = 0.5;
  const double sd_a = 3 / std::sqrt(1 - 0.25);
  const Cohort c = simulate_cohort(s, 22, 1, 1);
  double observed = 0, expected = 0, var = 0, expected_without = 0;
  for (std::size_t i = 0; i < c.patients(); ++i)
    for (int t = 2; t <= 10; ++t)
      if (!c.true_ruptured[row(c, i, t - 1)]) {
        const double z = (c.true_distress[row(c, i, t)] - 20) / sd_a;
        const double p = 1 / (1 + std::exp(-(std::log(0.06 / 0.94) + 0.6 * z)));
        observed += c.true_onset[row(c, i, t)];
        expected += p;
        var += p * (1 - p);
        expected_without += 0.06;
      }
  check_within(observed, expected, std::sqrt(var));
  CHECK(expected > expected_without);  // convexity: a distress effect adds onsets on average
}

TEST_CASE("rupture depths follow the Gamma law with the given mean and sd", "[simulator]") {
  Scenario s = quiet(20000, 100, 10);
  s.rupture.onset_probability = 0.2;
  const Cohort c = simulate_cohort(s, 31, 1, 1);
  Moments depth;
  for (std::size_t k = 0; k < c.rows(); ++k)
    if (c.true_onset[k]) depth.add(3.6 - c.true_alliance[k]);
  REQUIRE(depth.n > 5000);
  check_within(depth.mean(), 0.6, 0.25 / std::sqrt(depth.n));
  const double shape = 0.36 / 0.0625;
  check_within(depth.var(), 0.0625, 0.0625 * std::sqrt((2 + 6 / shape) / depth.n));
}

TEST_CASE("repairs occur at the repair probability, spread by therapist skill", "[simulator]") {
  Scenario s = quiet(12000, 400, 20);
  s.rupture.onset_probability = 0.25;
  s.rupture.repair_probability = 0.5;
  for (double skill_sd : {0.0, 1.0}) {
    s.rupture.repair_skill_sd = skill_sd;
    const Cohort c = simulate_cohort(s, 41, 1, 1);
    std::vector<double> repairs(400, 0), at_risk(400, 0);
    double all_repairs = 0, all_at_risk = 0;
    for (std::size_t i = 0; i < c.patients(); ++i)
      for (int t = 2; t <= 20; ++t)
        if (c.true_ruptured[row(c, i, t - 1)]) {
          at_risk[c.therapist[i]] += 1;
          repairs[c.therapist[i]] += c.true_repair[row(c, i, t)];
        }
    for (int j = 0; j < 400; ++j) {
      all_repairs += repairs[j];
      all_at_risk += at_risk[j];
    }
    // Between-therapist variance of repair rates beyond binomial noise.
    const double pbar = all_repairs / all_at_risk;
    Moments excess;
    for (int j = 0; j < 400; ++j) {
      const double p = repairs[j] / at_risk[j];
      excess.add((p - pbar) * (p - pbar) - p * (1 - p) / (at_risk[j] - 1));
    }
    // Var(logistic(k)), k ~ N(0, sd²), by quadrature.
    double spread = 0;
    if (skill_sd > 0) {
      double w = 0, m1 = 0, m2 = 0;
      for (double x = -8; x <= 8; x += 0.001) {
        const double phi = std::exp(-x * x / 2), p = 1 / (1 + std::exp(-skill_sd * x));
        w += phi;
        m1 += phi * p;
        m2 += phi * p * p;
      }
      spread = m2 / w - (m1 / w) * (m1 / w);
    } else {
      check_within(pbar, 0.5, std::sqrt(0.25 / all_at_risk));
    }
    INFO("skill sd " << skill_sd);
    check_within(excess.mean(), spread, excess.mcse());
  }
}

TEST_CASE("dropout hazard rises during an unresolved rupture", "[simulator]") {
  Scenario s = quiet(20000, 100, 15);
  s.rupture.onset_probability = 0.15;
  s.rupture.repair_probability = 0.3;
  s.design.dropout = {.base = 0.05, .unresolved_rupture = 1.0, .distress = 0.0};
  const Cohort c = simulate_cohort(s, 51, 1, 1);
  double n[2] = {0, 0}, d[2] = {0, 0};
  for (std::size_t i = 0; i < c.patients(); ++i)
    for (std::size_t k = c.offset[i]; k < c.offset[i + 1]; ++k) {
      if (c.session[k] == 15) {
        CHECK(c.dropout[k] == 0);  // completers are not dropouts
        continue;
      }
      n[c.true_ruptured[k]] += 1;
      d[c.true_ruptured[k]] += c.dropout[k];
    }
  const double p1 = 1 / (1 + std::exp(-(std::log(0.05 / 0.95) + 1.0)));
  check_within(d[0] / n[0], 0.05, std::sqrt(0.05 * 0.95 / n[0]));
  check_within(d[1] / n[1], p1, std::sqrt(p1 * (1 - p1) / n[1]));
  // after a dropout the patient has no more rows
  for (std::size_t i = 0; i < c.patients(); ++i)
    for (std::size_t k = c.offset[i]; k + 1 < c.offset[i + 1]; ++k) CHECK(c.dropout[k] == 0);
}

TEST_CASE("raters differ in offset, registration, false alarms and mood congruence", "[simulator]") {
  Scenario s = quiet(20000, 1000, 10);
  s.raters.patient = default_patient_rater();
  s.raters.therapist = default_therapist_rater();
  for (Rater* r : {&s.raters.patient, &s.raters.therapist}) {
    r->response = Response::Continuous;
    r->false_alarm_rate = 0;
    r->mood_congruence = 0;
  }
  const Cohort c = simulate_cohort(s, 61, 1, 1);
  // Offsets: mean of rating minus true alliance, clustered by therapist for the MCSE.
  for (RaterId rater : {RaterId::Patient, RaterId::Therapist}) {
    std::vector<double> sum(1000, 0), n(1000, 0);
    for (std::size_t i = 0; i < c.patients(); ++i)
      for (std::size_t k = c.offset[i]; k < c.offset[i + 1]; ++k) {
        sum[c.therapist[i]] += c.ratings(rater)[k] - c.true_alliance[k];
        n[c.therapist[i]] += 1;
      }
    Moments m;
    for (int j = 0; j < 1000; ++j) m.add(sum[j] / n[j]);
    INFO(rater_name(rater));
    check_within(m.mean(), rater == RaterId::Patient ? 0.25 : -0.10, m.mcse());
  }

  // Registration per episode.
  s.rupture.onset_probability = 0.2;
  const Cohort e = simulate_cohort(s, 62, 1, 1);
  double episodes = 0, reg_p = 0, reg_t = 0;
  for (std::size_t k = 0; k < e.rows(); ++k) {
    if (e.true_onset[k]) {
      episodes += 1;
      reg_p += e.registered_patient[k];
      reg_t += e.registered_therapist[k];
    }
    if (!e.true_ruptured[k]) CHECK((e.registered_patient[k] | e.registered_therapist[k]) == 0);
    if (k > 0 && e.true_ruptured[k] && !e.true_onset[k] && e.patient[k] == e.patient[k - 1])
      CHECK(e.registered_patient[k] == e.registered_patient[k - 1]);  // once per episode
  }
  check_within(reg_p / episodes, 0.5, std::sqrt(0.25 / episodes));
  check_within(reg_t / episodes, 0.95, std::sqrt(0.95 * 0.05 / episodes));
}

TEST_CASE("false alarms are one-session dips at the false-alarm rate", "[simulator]") {
  Scenario s = quiet(20000, 100, 10);
  s.raters.therapist.false_alarm_rate = 0.08;
  const Cohort c = simulate_cohort(s, 71, 1, 1);
  double alarms = 0;
  Moments depth;
  for (std::size_t k = 0; k < c.rows(); ++k) {
    const double dip = c.true_alliance[k] - c.alliance_therapist[k];
    CHECK(c.alliance_patient[k] == c.true_alliance[k]);
    if (dip > 1e-12) {
      alarms += 1;
      depth.add(dip);
    }
  }
  const double n = static_cast<double>(c.rows());
  check_within(alarms / n, 0.08, std::sqrt(0.08 * 0.92 / n));
  check_within(depth.mean(), 0.5, 0.15 / std::sqrt(depth.n));
}

TEST_CASE("mood-congruent patients rate the alliance lower when distressed", "[simulator]") {
  Scenario s = quiet(20000, 100, 10);
  s.distress.innovation_sd = 3;
  s.distress.ar = 0.5;
  s.raters.patient.mood_congruence = -0.3;
  s.raters.patient.occasion_sd = 0.15;
  const double sd_a = 3 / std::sqrt(0.75);
  const Cohort c = simulate_cohort(s, 81, 1, 1);
  double sxy = 0, sxx = 0, n = 0;
  for (std::size_t k = 0; k < c.rows(); ++k) {
    const double z = (c.true_distress[k] - 20) / sd_a;
    sxy += z * (c.alliance_patient[k] - c.true_alliance[k]);
    sxx += z * z;
    n += 1;
  }
  check_within(sxy / sxx, -0.3, 0.15 / std::sqrt(sxx));
}

TEST_CASE("distress trends and responds to onsets and repairs one session later", "[simulator]") {
  Scenario s = quiet(20000, 100, 10);
  s.distress.trend = -0.4;
  s.distress.innovation_sd = 3;
  s.rupture.onset_probability = 0.15;
  s.rupture.repair_probability = 0.5;
  s.distress.effects = {.rupture = 1.5, .repair = -1.5, .unresolved = 0, .alliance = 0};
  const Cohort c = simulate_cohort(s, 91, 1, 1);
  Moments after_onset, after_repair, after_none;
  for (std::size_t i = 0; i < c.patients(); ++i)
    for (int t = 1; t < 10; ++t) {
      const std::size_t k = row(c, i, t);
      const double residual = c.true_distress[k + 1] - 20 + 0.4 * t;
      if (c.true_onset[k]) after_onset.add(residual);
      else if (c.true_repair[k]) after_repair.add(residual);
      else if (!c.true_ruptured[k]) after_none.add(residual);
    }
  check_within(after_onset.mean(), 1.5, 3 / std::sqrt(after_onset.n));
  check_within(after_repair.mean(), -1.5, 3 / std::sqrt(after_repair.n));
  check_within(after_none.mean(), 0.0, 3 / std::sqrt(after_none.n));

  Moments trend;
  for (std::size_t i = 0; i < c.patients(); ++i)
    trend.add(c.true_distress[row(c, i, 10)] - c.true_distress[row(c, i, 1)]);
  // with effects present the 9-session change also carries event effects; check on a clean cohort
  s.rupture.onset_probability = 0;
  const Cohort d = simulate_cohort(s, 92, 1, 1);
  Moments clean;
  for (std::size_t i = 0; i < d.patients(); ++i)
    clean.add(d.true_distress[row(d, i, 10)] - d.true_distress[row(d, i, 1)]);
  check_within(clean.mean(), -0.4 * 9, clean.mcse());
}

TEST_CASE("observed scores lie on the item grid within the scale, or off it when continuous", "[simulator]") {
  Scenario s;  // defaults: 12 alliance items on 1-5, 10 distress items on 0-4
  const Cohort c = simulate_cohort(s, 101, 1, 1);
  for (std::size_t k = 0; k < c.rows(); ++k) {
    for (RaterId r : {RaterId::Patient, RaterId::Therapist}) {
      const double y = c.ratings(r)[k];
      CHECK(y >= 1.0);
      CHECK(y <= 5.0);
      CHECK(std::abs(y * 12 - std::round(y * 12)) < 1e-9);
    }
    CHECK(c.distress[k] >= 0);
    CHECK(c.distress[k] <= 40);
    CHECK(c.distress[k] == std::round(c.distress[k]));
  }
  s.raters.patient.response = Response::Continuous;
  const Cohort d = simulate_cohort(s, 101, 1, 1);
  std::size_t off_grid = 0;
  for (std::size_t k = 0; k < d.rows(); ++k)
    off_grid += std::abs(d.alliance_patient[k] * 12 - std::round(d.alliance_patient[k] * 12)) > 1e-6;
  CHECK(off_grid > d.rows() * 9 / 10);
}

TEST_CASE("cohorts are reproducible per (seed, condition, replication) and streams are separate", "[simulator]") {
  const Scenario s;
  auto csv = [](const Cohort& c) {
    std::ostringstream os;
    write_cohort_csv(c, os);
    return os.str();
  };
  const std::string a = csv(simulate_cohort(s, 7, 1, 1));
  CHECK(a == csv(simulate_cohort(s, 7, 1, 1)));
  CHECK(a != csv(simulate_cohort(s, 8, 1, 1)));
  CHECK(a != csv(simulate_cohort(s, 7, 2, 1)));
  CHECK(a != csv(simulate_cohort(s, 7, 1, 2)));
  CHECK(csv(simulate_cohort(s, 7, 1, 2)) != csv(simulate_cohort(s, 7, 2, 1)));

  // Changing raters or the distress questionnaire leaves the latent truth untouched.
  Scenario t = s;
  t.raters.patient.registration = 0.9;
  t.raters.patient.occasion_sd = 0.4;
  t.raters.therapist.false_alarm_rate = 0.3;
  t.raters.therapist.items = 4;
  t.distress.item_sd = 1.0;
  const Cohort x = simulate_cohort(s, 7, 1, 1), y = simulate_cohort(t, 7, 1, 1);
  REQUIRE(x.rows() == y.rows());
  CHECK(x.session == y.session);
  CHECK(x.true_alliance == y.true_alliance);
  CHECK(x.true_distress == y.true_distress);
  CHECK(x.true_onset == y.true_onset);
  CHECK(x.true_repair == y.true_repair);
  CHECK(x.true_ruptured == y.true_ruptured);
  CHECK(x.dropout == y.dropout);
  CHECK(x.alliance_patient != y.alliance_patient);
  CHECK(x.registered_therapist == y.registered_therapist);  // registration has its own stream

  // Raising registration registers a superset of the same episodes.
  for (std::size_t k = 0; k < x.rows(); ++k) CHECK(y.registered_patient[k] >= x.registered_patient[k]);
}

TEST_CASE("the seed design has about 119 patients and 16 sessions each before dropout", "[simulator]") {
  const Scenario s;
  const Cohort c = simulate_cohort(s, 20251126, 1, 1);
  CHECK(c.patients() == 119);
  CHECK(c.therapists() == 6);
  for (std::size_t i = 0; i < c.patients(); ++i) {
    CHECK(c.therapist[i] == static_cast<int>(i % 6));  // balanced: round robin
    CHECK(c.planned_sessions[i] >= 3);
    CHECK(c.planned_sessions[i] <= 40);
    CHECK(c.offset[i + 1] - c.offset[i] <= static_cast<std::size_t>(c.planned_sessions[i]));
  }
  CHECK(c.rows() > 1200);
  CHECK(c.rows() < 2200);
}
