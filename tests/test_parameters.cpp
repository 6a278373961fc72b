// The session-level parameter table (include/collabzium/model/parameters.h): a second entry that
// equals the first changes nothing, and a different one changes only what it should, from its
// start on, with the person-level draws and the other patients untouched.
#include <bit>
#include <catch2/catch.hpp>
#include <sstream>

#include "collabzium/config/scenario.h"
#include "collabzium/io/cohort_csv.h"
#include "collabzium/model/parameters.h"
#include "collabzium/model/simulator.h"

using namespace collabzium;

namespace {

std::string csv(const Cohort& c) {
  std::ostringstream os;
  write_cohort_csv(c, os);
  return os.str();
}

bool same(double x, double y) { return std::bit_cast<std::uint64_t>(x) == std::bit_cast<std::uint64_t>(y); }

// Every simulated column of row ka of a and row kb of b, bit for bit.
bool same_row(const Cohort& a, std::size_t ka, const Cohort& b, std::size_t kb) {
  return a.patient[ka] == b.patient[kb] && a.session[ka] == b.session[kb] && same(a.distress[ka], b.distress[kb]) &&
         same(a.alliance_patient[ka], b.alliance_patient[kb]) &&
         same(a.alliance_therapist[ka], b.alliance_therapist[kb]) && same(a.true_alliance[ka], b.true_alliance[kb]) &&
         same(a.true_distress[ka], b.true_distress[kb]) && a.true_ruptured[ka] == b.true_ruptured[kb] &&
         a.true_onset[ka] == b.true_onset[kb] && a.true_repair[ka] == b.true_repair[kb] &&
         a.registered_patient[ka] == b.registered_patient[kb] &&
         a.registered_therapist[ka] == b.registered_therapist[kb] && a.dropout[ka] == b.dropout[kb] &&
         a.effective_onset[ka] == b.effective_onset[kb] && a.effective_repair[ka] == b.effective_repair[kb] &&
         a.false_alarm_patient[ka] == b.false_alarm_patient[kb] &&
         a.false_alarm_therapist[ka] == b.false_alarm_therapist[kb];
}

// Every other patient in the arm.
std::vector<std::uint8_t> every_other(std::size_t patients) {
  std::vector<std::uint8_t> treated(patients);
  for (std::size_t i = 0; i < patients; i += 2) treated[i] = 1;
  return treated;
}

// The seed design with more ruptures and dropouts, so that a changed entry has events to change.
Scenario eventful() {
  Scenario s;
  s.design.patients = 300;
  s.rupture.onset_probability = 0.15;
  s.design.dropout.base = 0.03;
  return s;
}

}  // namespace

TEST_CASE("a second entry equal to the base entry gives the single table's cohort bit for bit", "[parameters]") {
  const Scenario s = eventful();
  const Cohort single = simulate_cohort(s, 7, 1, 1);
  for (const int start : {1, 2, 6}) {
    INFO("start " << start);
    ParameterTable table(s);
    table.set_arm(s, start);
    table.assign(every_other(static_cast<std::size_t>(s.design.patients)));
    Cohort out, reference;
    simulate_cohort(s, table, 7, 1, 1, out, &reference);
    CHECK(csv(out) == csv(single));
    CHECK(csv(reference) == csv(single));
    table.assign(std::vector<std::uint8_t>(static_cast<std::size_t>(s.design.patients), 1));
    simulate_cohort(s, table, 7, 1, 1, out);
    CHECK(csv(out) == csv(single));
  }
}

TEST_CASE("an arm's entry from session s on leaves the sessions before s and the person-level draws alone",
          "[parameters]") {
  const Scenario s = eventful();
  const int start = 5;
  Scenario arm = s;  // every session-level group changed, the sds of the person-level draws too
  arm.rupture.onset_probability = 0.3;
  arm.rupture.propensity_sd = 0.3;
  arm.rupture.repair_probability = 0.85;
  arm.rupture.repair_skill_sd = 1.2;
  arm.rupture.depth_mean = 0.9;
  arm.rupture.responsiveness.therapist = 1.0;
  arm.raters.therapist.registration = 0.5;
  arm.raters.therapist.sensitivity = 0.6;
  arm.raters.therapist.false_alarm_rate = 0.2;
  arm.distress.trend = -1.0;
  arm.distress.effects.rupture = 3.0;
  arm.design.dropout.base = 0.1;
  const std::size_t N = static_cast<std::size_t>(s.design.patients);
  ParameterTable table(s);
  table.set_arm(arm, start);
  table.assign(every_other(N));

  const Cohort base = simulate_cohort(s, 7, 1, 1);
  Cohort out, reference;
  simulate_cohort(s, table, 7, 1, 1, out, &reference);
  // The base world comes out unchanged: the same person-level draws, the same streams.
  CHECK(csv(reference) == csv(base));
  REQUIRE(out.patients() == N);
  CHECK(out.therapist == base.therapist);
  CHECK(out.planned_sessions == base.planned_sessions);

  std::size_t untreated_differing = 0, early_differing = 0, late_differing = 0, distress_at_start_differing = 0;
  for (std::size_t i = 0; i < N; ++i) {
    const std::size_t rows_out = out.offset[i + 1] - out.offset[i], rows_base = base.offset[i + 1] - base.offset[i];
    const bool treated = i % 2 == 0;
    if (!treated) {
      untreated_differing += rows_out != rows_base;
      for (std::size_t k = 0; k < std::min(rows_out, rows_base); ++k)
        untreated_differing += !same_row(out, out.offset[i] + k, base, base.offset[i] + k);
      continue;
    }
    // Sessions 1..start-1 reach the arm's entry only by dropout after start - 1 or later.
    const std::size_t before = std::min<std::size_t>(start - 1, rows_base);
    REQUIRE(rows_out >= before);
    for (std::size_t k = 0; k < before; ++k)
      early_differing += !same_row(out, out.offset[i] + k, base, base.offset[i] + k);
    // Distress before session `start` is the outcome of the sessions before it.
    if (rows_out >= static_cast<std::size_t>(start) && rows_base >= static_cast<std::size_t>(start))
      distress_at_start_differing +=
          !same(out.true_distress[out.offset[i] + start - 1], base.true_distress[base.offset[i] + start - 1]);
    late_differing += rows_out != rows_base;
    for (std::size_t k = before; k < std::min(rows_out, rows_base); ++k)
      late_differing += !same_row(out, out.offset[i] + k, base, base.offset[i] + k);
  }
  CHECK(untreated_differing == 0);
  CHECK(early_differing == 0);
  CHECK(distress_at_start_differing == 0);
  CHECK(late_differing > N / 4);
}

TEST_CASE("a trend changed from session 1 on moves latent distress by the change times t - 1", "[parameters]") {
  Scenario s = eventful();
  s.rupture.distress_effect = 0;  // nothing else depends on distress
  s.design.dropout.distress = 0;
  Scenario arm = s;
  arm.distress.trend = s.distress.trend + 0.75;
  for (const int start : {1, 4}) {
    INFO("start " << start);
    ParameterTable table(s);
    table.set_arm(arm, start);
    table.assign(std::vector<std::uint8_t>(static_cast<std::size_t>(s.design.patients), 1));
    Cohort out, reference;
    simulate_cohort(s, table, 11, 1, 1, out, &reference);
    REQUIRE(out.rows() == reference.rows());
    CHECK(out.true_onset == reference.true_onset);
    CHECK(out.dropout == reference.dropout);
    for (std::size_t k = 0; k < out.rows(); ++k) {
      // The slope of sessions start..t-1 changes: the distress of session t by 0.75 for each.
      const int changed_sessions = std::max(0, out.session[k] - start);
      CHECK(out.true_distress[k] - reference.true_distress[k] == Approx(0.75 * changed_sessions).margin(1e-9));
    }
  }
}
