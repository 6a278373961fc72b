// Detection (docs/model.md 3): hand-built series with known answers for every rule and repair mode,
// accuracy on a hand-built truth table, kappa, ROC/AUC, and a noiseless simulated scenario.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "collabzium/detection/detection.h"
#include "collabzium/model/simulator.h"

using namespace collabzium;

namespace {

constexpr double NA = std::numeric_limits<double>::quiet_NaN();

struct Series {
  std::vector<int> sessions;
  std::vector<double> y;        // patient ratings (the rater under test)
  std::vector<double> yt = {};  // therapist ratings (default: copy of y)
  std::vector<int> onset = {};  // truth (default: none)
  std::vector<int> repair = {};
};

// Sessions 1..n.
std::vector<int> upto(int n) {
  std::vector<int> s;
  for (int t = 1; t <= n; ++t) s.push_back(t);
  return s;
}

Cohort make_cohort(const std::vector<Series>& patients, bool truth = false) {
  Cohort c;
  c.n_therapists = 1;
  c.offset.push_back(0);
  c.has_truth = truth;
  for (std::size_t i = 0; i < patients.size(); ++i) {
    const Series& p = patients[i];
    REQUIRE(p.sessions.size() == p.y.size());
    c.therapist.push_back(0);
    for (std::size_t k = 0; k < p.y.size(); ++k) {
      c.patient.push_back(static_cast<int>(i));
      c.session.push_back(p.sessions[k]);
      c.distress.push_back(20);
      c.alliance_patient.push_back(p.y[k]);
      c.alliance_therapist.push_back(p.yt.empty() ? p.y[k] : p.yt[k]);
      c.true_alliance.push_back(NA);
      c.true_distress.push_back(NA);
      c.true_ruptured.push_back(0);
      c.true_onset.push_back(p.onset.empty() ? 0 : static_cast<std::uint8_t>(p.onset[k]));
      c.true_repair.push_back(p.repair.empty() ? 0 : static_cast<std::uint8_t>(p.repair[k]));
      c.registered_patient.push_back(0);
      c.registered_therapist.push_back(0);
      c.dropout.push_back(0);
    }
    c.offset.push_back(c.session.size());
  }
  return c;
}

Detection rule(const std::string& name, const std::string& mode = "return", std::int64_t window = 3) {
  Detection d;
  d.rule = *parse<DetectionRule>(name);
  d.repair.mode = *parse<RepairMode>(mode);
  d.repair.window = window;
  return d;
}

std::vector<int> as_int(const std::vector<std::uint8_t>& v) { return std::vector<int>(v.begin(), v.end()); }

// Events of the patient rater for a single-series cohort.
RaterEvents run(const Series& s, const Detection& d, double threshold) {
  const Cohort c = make_cohort({s});
  RaterEvents ev;
  detect_events(c, RaterId::Patient, d, threshold, ev);
  return ev;
}

}  // namespace

TEST_CASE("absolute_drop: first session, threshold, item means", "[detection]") {
  const Detection d = rule("absolute_drop");
  SECTION("a drop of exactly the threshold counts, a smaller one does not") {
    // 12 items: 3.5 -> 3.0 is 0.5 exactly; 49/12 -> 43/12 is 0.49999999999999956 in floating point.
    auto ev = run({.sessions = upto(4), .y = {42.0 / 12, 36.0 / 12, 49.0 / 12, 43.0 / 12}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 1});
    ev = run({.sessions = upto(3), .y = {42.0 / 12, 37.0 / 12, 31.0 / 12}}, d, 0.5);  // 5/12 and 6/12
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 1});
  }
  SECTION("the first session is never a rupture, also when it is not session 1") {
    auto ev = run({.sessions = {3, 4, 5}, .y = {2.0, 4.0, 3.0}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 1});
    ev = run({.sessions = {1}, .y = {4.0}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0});
  }
  SECTION("a missing rating or a skipped session breaks the difference") {
    auto ev = run({.sessions = upto(4), .y = {4.0, NA, 3.0, 2.0}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 1});
    ev = run({.sessions = {1, 3, 4}, .y = {4.0, 3.0, 2.0}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 1});
  }
  SECTION("patients do not chain into each other") {
    const Cohort c = make_cohort({{.sessions = upto(2), .y = {4.0, 4.0}}, {.sessions = upto(2), .y = {2.0, 2.0}}});
    RaterEvents ev;
    detect_events(c, RaterId::Patient, d, 0.5, ev);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 0});
  }
  SECTION("each rater uses its own ratings") {
    const Cohort c = make_cohort({{.sessions = upto(3), .y = {4.0, 4.0, 4.0}, .yt = {4.0, 3.0, 3.0}}});
    RaterEvents ev;
    detect_events(c, RaterId::Patient, d, 0.5, ev);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0});
    detect_events(c, RaterId::Therapist, d, 0.5, ev);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0});
  }
}

TEST_CASE("repair mode return: window, replacement, bookkeeping", "[detection]") {
  const Detection d = rule("absolute_drop", "return", 3);
  SECTION("back to the pre-rupture level repairs") {
    auto ev = run({.sessions = upto(5), .y = {4.0, 3.4, 3.9, 4.0, 4.5}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 0, 0});
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 1, 0});  // closed: only one repair
  }
  SECTION("just inside and just outside the window") {
    auto ev = run({.sessions = upto(5), .y = {4.0, 3.4, 3.4, 3.4, 4.0}}, d, 0.5);  // 5 - 2 = 3 <= 3
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0, 1});
    ev = run({.sessions = upto(6), .y = {4.0, 3.4, 3.4, 3.4, 3.4, 4.0}}, d, 0.5);  // 6 - 2 = 4 > 3
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0, 0, 0});
    ev = run({.sessions = {1, 2, 3, 6}, .y = {4.0, 3.4, 3.4, 4.0}}, d, 0.5);  // window counts session numbers
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0});
    ev = run({.sessions = {1, 2, 5}, .y = {4.0, 3.4, 4.0}}, d, 0.5);  // a gap inside the window is fine
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 1});
  }
  SECTION("consecutive drops: the later rupture replaces the open one") {
    // Ruptures at 2 (from 4.0) and 3 (from 3.4); 3.6 reaches 3.4 but not 4.0.
    auto ev = run({.sessions = upto(5), .y = {4.0, 3.4, 2.8, 2.8, 3.6}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 1, 0, 0});
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0, 1});
  }
  SECTION("a new rupture while one is open; the old one stays unrepaired") {
    auto ev = run({.sessions = upto(7), .y = {4.0, 3.4, 3.5, 2.9, 3.5, 4.0, 4.1}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 1, 0, 0, 0});
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0, 1, 0, 0});
  }
  SECTION("the window restarts with the new rupture") {
    // Rupture at 2, a new one at 4; 4.0 at session 7 is 3 after session 4 (but 5 after 2).
    auto ev = run({.sessions = upto(7), .y = {4.5, 3.9, 4.0, 3.4, 3.4, 3.4, 4.0}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 1, 0, 0, 0});
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0, 0, 0, 1});
  }
  SECTION("a missing rating neither repairs nor closes early") {
    auto ev = run({.sessions = upto(4), .y = {4.0, 3.4, NA, 4.1}}, d, 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 1});
  }
  SECTION("window 0 repairs nothing") {
    auto ev = run({.sessions = upto(4), .y = {4.0, 3.4, 3.9, 5.0}}, rule("absolute_drop", "return", 0), 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0});
  }
  SECTION("reusing the output resizes it") {
    RaterEvents ev;
    const Cohort big = make_cohort({{.sessions = upto(6), .y = {4, 3, 4, 3, 4, 3}}});
    detect_events(big, RaterId::Patient, d, 0.5, ev);
    CHECK(ev.rupture.size() == 6);
    const Cohort small = make_cohort({{.sessions = upto(2), .y = {4, 4}}});
    detect_events(small, RaterId::Patient, d, 0.5, ev);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0});
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0});
  }
}

TEST_CASE("repair mode rise", "[detection]") {
  const Detection d = rule("absolute_drop", "rise", 3);
  SECTION("a rise meeting the criterion repairs even below the old level") {
    auto ev = run({.sessions = upto(4), .y = {4.0, 3.4, 3.3, 3.9}}, d, 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 1});
    ev = run({.sessions = upto(4), .y = {4.0, 3.4, 3.3, 3.9}}, rule("absolute_drop", "return", 3), 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0});
  }
  SECTION("the rise right after the rupture counts; exactly the threshold counts") {
    auto ev = run({.sessions = upto(3), .y = {42.0 / 12, 36.0 / 12, 42.0 / 12}}, d, 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 1});
  }
  SECTION("a rise is not measured across a missing rating or a skipped session") {
    auto ev = run({.sessions = upto(4), .y = {4.0, 3.4, NA, 4.1}}, d, 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0});
    ev = run({.sessions = upto(4), .y = {4.0, 3.4, NA, 4.1}}, rule("absolute_drop", "return", 3), 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 1});
    ev = run({.sessions = {1, 2, 4}, .y = {4.0, 3.4, 4.1}}, d, 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0});
  }
  SECTION("just inside and just outside the window") {
    auto ev = run({.sessions = upto(5), .y = {4.0, 3.4, 3.3, 3.2, 3.8}}, d, 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0, 1});
    ev = run({.sessions = upto(6), .y = {4.0, 3.4, 3.3, 3.2, 3.1, 3.7}}, d, 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0, 0, 0});
  }
}

TEST_CASE("sd_drop with each sd_reference", "[detection]") {
  SECTION("differences: sd of all measurable differences of the rater") {
    // Differences -1, +1 (patient 1), 0 (patient 2); the skipped session adds none: sd = 1.
    Detection d = rule("sd_drop");
    d.sd_reference = SdReference::Differences;
    const Cohort c = make_cohort({{.sessions = {1, 2, 3, 5}, .y = {3, 2, 3, 0}}, {.sessions = upto(2), .y = {3, 3}}});
    CHECK(detection_scale(c, RaterId::Patient, d) == Approx(1.0).epsilon(1e-14));
    RaterEvents ev;
    detect_events(c, RaterId::Patient, d, 1.0, ev);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 0, 0, 0});
    detect_events(c, RaterId::Patient, d, 1.5, ev);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 0, 0, 0});
  }
  SECTION("person: sd of the patient's own ratings") {
    Detection d = rule("sd_drop");
    d.sd_reference = SdReference::Person;
    // Patient 1: sd 1, drop 2 >= 1.5. Patient 2: sd sqrt(.04/3) = .1155, drop .2 >= .173.
    // Patient 3: constant ratings, sd 0: nothing. Patient 4: one rating: nothing.
    const Cohort c = make_cohort({{.sessions = upto(4), .y = {4, 2, 4, 4}},
                                  {.sessions = upto(4), .y = {4.0, 3.8, 3.8, 4.0}},
                                  {.sessions = upto(3), .y = {3, 3, 3}},
                                  {.sessions = upto(2), .y = {4, NA}}});
    CHECK(std::isnan(detection_scale(c, RaterId::Patient, d)));
    RaterEvents ev;
    detect_events(c, RaterId::Patient, d, 1.5, ev);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0});
    detect_events(c, RaterId::Patient, d, 1.8, ev);  // .2 < 1.8 * .1155 = .208
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  }
  SECTION("baseline: sd across patients of session-1 ratings") {
    Detection d = rule("sd_drop");
    d.sd_reference = SdReference::Baseline;
    const Cohort c = make_cohort({{.sessions = upto(2), .y = {3, 1.5}},
                                  {.sessions = upto(2), .y = {4, 2.6}},
                                  {.sessions = upto(2), .y = {5, 5}},
                                  {.sessions = {2, 3}, .y = {1, 0}}});
    CHECK(detection_scale(c, RaterId::Patient, d) == Approx(1.0).epsilon(1e-14));
    RaterEvents ev;
    detect_events(c, RaterId::Patient, d, 1.5, ev);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 0, 0, 0, 0, 0});
  }
  SECTION("too few data for the sd: nothing is detected") {
    Detection d = rule("sd_drop");
    d.sd_reference = SdReference::Baseline;
    const Cohort c = make_cohort({{.sessions = upto(3), .y = {5, 1, 1}}});
    RaterEvents ev;
    detect_events(c, RaterId::Patient, d, 0.0, ev);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0});
  }
}

TEST_CASE("rci uses the session-1 sd and the reliability", "[detection]") {
  Detection d = rule("rci");
  d.reliability = 0.9;
  // s_1 = 1 (3, 4, 5); scale = sqrt(2 * 0.1) = .4472; 1.96 * .4472 = .8765.
  const Cohort c = make_cohort({{.sessions = upto(2), .y = {3, 2.1}},
                                {.sessions = upto(2), .y = {4, 3.15}},
                                {.sessions = upto(2), .y = {5, 5}}});
  CHECK(detection_scale(c, RaterId::Patient, d) == Approx(std::sqrt(0.2)).epsilon(1e-14));
  RaterEvents ev;
  detect_events(c, RaterId::Patient, d, 1.96, ev);
  CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 0, 0, 0});
  d.reliability = 0.95;  // scale .3162, 1.96 * .3162 = .62: both drops
  detect_events(c, RaterId::Patient, d, 1.96, ev);
  CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 0, 1, 0, 0});
}

TEST_CASE("percent_drop relative to the previous rating", "[detection]") {
  const Detection d = rule("percent_drop");
  // 4.0 -> 3.52 is 12%; 2.5 -> 2.2 is 12% (0.11999999999999993 in floating point); 5 -> 4.5 is 10%.
  auto ev = run({.sessions = upto(6), .y = {4.0, 3.52, 2.5, 2.2, 5.0, 4.5}}, d, 0.12);
  CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 1, 1, 0, 0});
  ev = run({.sessions = upto(6), .y = {4.0, 3.52, 2.5, 2.2, 5.0, 4.5}}, d, 0.10);
  CHECK(as_int(ev.rupture) == std::vector<int>{0, 1, 1, 1, 0, 1});
  // As a rise (repair "rise"): (3.52 -> 4.0) is +13.6%.
  ev = run({.sessions = upto(3), .y = {4.0, 3.52, 4.0}}, rule("percent_drop", "rise"), 0.12);
  CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 1});
  // A non-positive previous rating gives no percentage.
  ev = run({.sessions = upto(2), .y = {0.0, -1.0}}, d, 0.12);
  CHECK(as_int(ev.rupture) == std::vector<int>{0, 0});
}

TEST_CASE("sudden_loss: Tang & DeRubeis criteria with edge handling", "[detection]") {
  const Detection d = rule("sudden_loss");
  SECTION("matching critical values") {
    CHECK(sudden_loss_critical_t(2.776, 4) == 2.776);
    // 2.776 is qt(.975, 4) = 2.7764 rounded, so the implied alpha is .05003.
    CHECK(sudden_loss_critical_t(2.776, 3) == Approx(3.182).margin(2e-3));
    CHECK(sudden_loss_critical_t(2.776, 2) == Approx(4.303).margin(2e-3));
    // Exact t quantiles at alpha .05: df 2 in closed form .95 / sqrt(2 * .975 * .025); df 3 as in R.
    CHECK(sudden_loss_critical_t(2.7764451051977987, 2) == Approx(0.95 / std::sqrt(2 * 0.975 * 0.025)).margin(1e-9));
    CHECK(sudden_loss_critical_t(2.7764451051977987, 3) == Approx(3.182446305284263).margin(1e-6));
  }
  SECTION("interior: a sudden, lasting drop") {
    auto ev = run({.sessions = upto(7), .y = {4.0, 4.1, 4.0, 3.0, 3.1, 3.0, 3.1}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 1, 0, 0, 0});
  }
  SECTION("a drop that is not sudden relative to the noise") {
    const Series s{.sessions = upto(6), .y = {4.0, 3.0, 4.0, 3.4, 4.0, 3.0}};
    CHECK(as_int(run(s, d, 0.5).rupture) == std::vector<int>{0, 0, 0, 0, 0, 0});
    CHECK(as_int(run(s, rule("absolute_drop"), 0.5).rupture) == std::vector<int>{0, 1, 0, 1, 0, 1});
  }
  SECTION("the drop criterion still applies") {
    auto ev = run({.sessions = upto(7), .y = {4.0, 4.1, 4.0, 3.6, 3.7, 3.6, 3.7}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 0, 0, 0, 0});
  }
  SECTION("start edge: session 2 never (1 session before), session 3 with 2 before") {
    auto ev = run({.sessions = upto(4), .y = {4.0, 3.0, 3.0, 3.0}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 0});
    ev = run({.sessions = upto(6), .y = {4.0, 4.1, 3.0, 3.1, 3.0, 3.1}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 1, 0, 0, 0});
  }
  SECTION("end edge: the last session never, the one before with 2 after") {
    auto ev = run({.sessions = upto(4), .y = {4.0, 4.1, 4.0, 3.0}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 0});
    ev = run({.sessions = upto(6), .y = {4.0, 4.1, 4.0, 4.1, 3.0, 3.1}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 0, 1, 0});
  }
  SECTION("the edge uses the critical t of its df") {
    // At session 3: 2 before, 3 after (df 3); (mean difference) / pooled sd = 3.04, between
    // 2.776 (df 4) and 3.182 (df 3): not a sudden loss.
    const Series s{.sessions = upto(5), .y = {4.0, 3.2, 2.5, 2.5, 2.7}};
    CHECK(as_int(run(s, d, 0.5).rupture) == std::vector<int>{0, 0, 0, 0, 0});
    Detection lenient = d;
    lenient.critical_t = 2.0;  // alpha .116: df 3 gives about 2.35
    CHECK(sudden_loss_critical_t(2.0, 3) < 3.0);
    CHECK(as_int(run(s, lenient, 0.5).rupture) == std::vector<int>{0, 0, 1, 0, 0});
  }
  SECTION("missing ratings in the windows: what is rated counts, at least 2 each side") {
    // Session 2 missing: before session 4 only sessions 1 and 3 (df 3), still clear.
    auto ev = run({.sessions = upto(7), .y = {4.0, NA, 4.0, 3.0, 3.1, 3.0, 3.1}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 1, 0, 0, 0});
    // Sessions 5 and 6 missing: after session 4 only session 4 itself.
    ev = run({.sessions = upto(7), .y = {4.0, 4.1, 4.0, 3.0, NA, NA, 3.1}}, d, 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 0, 0, 0, 0});
  }
  SECTION("repair as a sudden gain") {
    const Series s{.sessions = upto(9), .y = {4.0, 4.1, 4.0, 3.0, 3.1, 3.0, 4.0, 4.1, 4.0}};
    auto ev = run(s, rule("sudden_loss", "rise", 3), 0.5);
    CHECK(as_int(ev.rupture) == std::vector<int>{0, 0, 0, 1, 0, 0, 0, 0, 0});
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0, 0, 0, 1, 0, 0});
    ev = run(s, rule("sudden_loss", "rise", 2), 0.5);
    CHECK(as_int(ev.repair) == std::vector<int>{0, 0, 0, 0, 0, 0, 0, 0, 0});
  }
}

TEST_CASE("accuracy on a hand-built truth table", "[detection]") {
  // A: sessions 1-6, true onsets 3 and 5, true repair 4; detected ruptures 3 and 6, repair 4.
  // B: sessions 1-4, no truth; detected rupture 2, repair 3. C: sessions 1-3, nothing.
  // Units (t >= 2): 5 + 3 + 2 = 10.
  const Cohort c = make_cohort({{.sessions = upto(6),
                                 .y = {4, 4, 4, 4, 4, 4},
                                 .yt = {},
                                 .onset = {0, 0, 1, 0, 1, 0},
                                 .repair = {0, 0, 0, 1, 0, 0}},
                                {.sessions = upto(4), .y = {4, 4, 4, 4}},
                                {.sessions = upto(3), .y = {4, 4, 4}}},
                               true);
  RaterEvents ev;
  ev.rupture = {0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0};
  ev.repair = {0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0};
  Detection d;
  SECTION("tolerance 0") {
    d.tolerance = 0;
    const DetectionScore s = score_detection(c, ev, d);
    CHECK(s.ruptures == 3);
    CHECK(s.repairs == 2);
    CHECK(s.prevalence == Approx(2.0 / 3));
    CHECK(s.true_prevalence == Approx(1.0 / 3));
    CHECK(s.rupture.tp == 1);
    CHECK(s.rupture.fp == 2);
    CHECK(s.rupture.fn == 1);
    CHECK(s.rupture.tn == 6);
    CHECK(s.rupture.sensitivity == Approx(0.5));
    CHECK(s.rupture.specificity == Approx(0.75));
    CHECK(s.rupture.ppv == Approx(1.0 / 3));
    CHECK(s.rupture.f1 == Approx(0.4));
    CHECK(s.repair.tp == 1);
    CHECK(s.repair.fp == 1);
    CHECK(s.repair.fn == 0);
    CHECK(s.repair.tn == 8);
    CHECK(s.repair.sensitivity == Approx(1.0));
    CHECK(s.repair.specificity == Approx(8.0 / 9));
    CHECK(s.repair.ppv == Approx(0.5));
    CHECK(s.repair.f1 == Approx(2.0 / 3));
    // Patients: A true & detected, B detected only, C neither.
    CHECK(s.rupture_patients.tp == 1);
    CHECK(s.rupture_patients.fp == 1);
    CHECK(s.rupture_patients.fn == 0);
    CHECK(s.rupture_patients.tn == 1);
    CHECK(s.rupture_patients.sensitivity == Approx(1.0));
    CHECK(s.rupture_patients.specificity == Approx(0.5));
    CHECK(s.rupture_patients.ppv == Approx(0.5));
  }
  SECTION("tolerance 1") {
    d.tolerance = 1;
    const DetectionScore s = score_detection(c, ev, d);
    // Detection 6 now hits the onset at 5; B's detection at 2 stays false.
    CHECK(s.rupture.tp == 2);
    CHECK(s.rupture.fp == 1);
    CHECK(s.rupture.fn == 0);
    CHECK(s.rupture.tn == 7);
    CHECK(s.rupture.found == 2);
    CHECK(s.rupture.sensitivity == Approx(1.0));
    CHECK(s.rupture.specificity == Approx(7.0 / 8));
    CHECK(s.rupture.ppv == Approx(2.0 / 3));
    CHECK(s.rupture.f1 == Approx(0.8));
  }
  SECTION("tolerance 1: one detection between two onsets finds both") {
    const Cohort c2 = make_cohort(
        {{.sessions = upto(6), .y = {4, 4, 4, 4, 4, 4}, .yt = {}, .onset = {0, 0, 1, 0, 1, 0}, .repair = {}}}, true);
    RaterEvents e2;
    e2.rupture = {0, 0, 0, 1, 0, 0};
    e2.repair.assign(6, 0);
    d.tolerance = 1;
    const DetectionScore s = score_detection(c2, e2, d);
    CHECK(s.rupture.tp == 1);
    CHECK(s.rupture.true_events == 2);
    CHECK(s.rupture.found == 2);
    CHECK(s.rupture.fn == 0);
    CHECK(s.rupture.tn == 4);
    CHECK(s.rupture.sensitivity == Approx(1.0));
    CHECK(s.repair.true_events == 0);
    CHECK(std::isnan(s.repair.sensitivity));
    CHECK(s.repair.specificity == Approx(1.0));
    CHECK(std::isnan(s.repair.ppv));
    CHECK(std::isnan(s.repair.f1));
  }
  SECTION("without truth only counts and prevalence") {
    Cohort c3 = c;
    c3.has_truth = false;
    const DetectionScore s = score_detection(c3, ev, d);
    CHECK(s.ruptures == 3);
    CHECK(s.prevalence == Approx(2.0 / 3));
    CHECK(std::isnan(s.true_prevalence));
    CHECK(std::isnan(s.rupture.sensitivity));
    CHECK(std::isnan(s.repair.ppv));
    CHECK(std::isnan(s.rupture_patients.specificity));
  }
}

TEST_CASE("Cohen's kappa on session rupture flags", "[detection]") {
  // Sessions 1..12; 10 units (2..11) with both ratings; session 12 lacks the therapist rating.
  std::vector<double> yp(12, 4.0), yt(12, 4.0);
  yt[11] = NA;
  const Cohort c = make_cohort({{.sessions = upto(12), .y = yp, .yt = yt}});
  RaterEvents a, b;
  //           1  2  3  4  5  6  7  8  9 10 11 12
  a.rupture = {0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1};
  b.rupture = {0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  a.repair.assign(12, 0);
  b.repair.assign(12, 0);
  // n11 = 2, n10 = 2, n01 = 1, n00 = 5: po = .7, pe = .4 * .3 + .6 * .7 = .54.
  CHECK(cohens_kappa(c, a, b) == Approx((0.7 - 0.54) / 0.46));
  CHECK(cohens_kappa(c, a, a) == Approx(1.0));
  RaterEvents none;
  none.rupture.assign(12, 0);
  CHECK(std::isnan(cohens_kappa(c, none, none)));  // chance agreement 1
  const Cohort single = make_cohort({{.sessions = upto(1), .y = {4.0}}});
  RaterEvents one;
  one.rupture = {0};
  CHECK(std::isnan(cohens_kappa(single, one, one)));  // no units
}

TEST_CASE("ROC curve and AUC", "[detection]") {
  SECTION("trapezoidal AUC with (0,0) and (1,1)") {
    // (fpr, tpr) = (.2, .6), (.5, .9): .06 + .225 + .475 = .76.
    CHECK(roc_auc({{.threshold = 1.0, .sensitivity = 0.6, .specificity = 0.8},
                   {.threshold = 0.5, .sensitivity = 0.9, .specificity = 0.5}}) == Approx(0.76));
    CHECK(roc_auc({{.threshold = 0.5, .sensitivity = 0.9, .specificity = 0.5},
                   {.threshold = 1.0, .sensitivity = 0.6, .specificity = 0.8}}) == Approx(0.76));
    CHECK(roc_auc({{.threshold = 1.0, .sensitivity = 1.0, .specificity = 1.0}}) == Approx(1.0));
    CHECK(std::isnan(roc_auc({})));
    CHECK(std::isnan(roc_auc({{.threshold = 1.0, .sensitivity = NA, .specificity = 0.5}})));
  }
  SECTION("hand-computed curve, thresholds in the given order") {
    // Drops at sessions 2..6: 1.0, 0, .4, 0, .7; true onsets 2 and 4; 5 units.
    const Cohort c = make_cohort({{.sessions = upto(6),
                                   .y = {4.0, 3.0, 3.0, 2.6, 2.6, 1.9},
                                   .yt = {},
                                   .onset = {0, 1, 0, 1, 0, 0},
                                   .repair = {}}},
                                 true);
    Detection d = rule("absolute_drop");
    d.roc_thresholds = {0.9, 0.3, 0.6};
    const RocCurve roc = roc_curve(c, RaterId::Patient, d);
    CHECK(roc.rule == DetectionRule::AbsoluteDrop);
    REQUIRE(roc.points.size() == 3);
    CHECK(roc.points[0].threshold == 0.9);
    CHECK(roc.points[0].sensitivity == Approx(0.5));
    CHECK(roc.points[0].specificity == Approx(1.0));
    CHECK(roc.points[1].threshold == 0.3);
    CHECK(roc.points[1].sensitivity == Approx(1.0));
    CHECK(roc.points[1].specificity == Approx(2.0 / 3));
    CHECK(roc.points[1].ppv == Approx(2.0 / 3));
    CHECK(roc.points[2].threshold == 0.6);
    CHECK(roc.points[2].sensitivity == Approx(0.5));
    CHECK(roc.points[2].specificity == Approx(2.0 / 3));
    // (0,0) (0,.5) (1/3,.5) (1/3,1) (1,1): 1/6 + 2/3.
    CHECK(roc.auc == Approx(5.0 / 6));
    Cohort blind = c;
    blind.has_truth = false;
    const RocCurve r2 = roc_curve(blind, RaterId::Patient, d);
    REQUIRE(r2.points.size() == 3);
    CHECK(std::isnan(r2.points[0].sensitivity));
    CHECK(std::isnan(r2.auc));
  }
  SECTION("agrees with detect_events + score_detection at every threshold, every rule") {
    Scenario sc;
    sc.design.patients = 60;
    const Cohort c = simulate_cohort(sc, 11, 1, 1);
    REQUIRE(c.has_truth);
    for (const std::string name : {"absolute_drop", "sd_drop", "rci", "percent_drop", "sudden_loss"}) {
      for (const std::string ref : {"differences", "person", "baseline"}) {
        if (name != "sd_drop" && ref != "differences") continue;
        for (std::int64_t tol : {0, 1}) {
          Detection d = rule(name);
          d.sd_reference = *parse<SdReference>(ref);
          d.tolerance = tol;
          d.roc_thresholds = name == "percent_drop" ? std::vector<double>{0.2, 0.05, 0.1, 0.15, 0.0}
                             : name == "sd_drop"    ? std::vector<double>{2.5, 0.5, 1.0, 1.5, 2.0}
                             : name == "rci"        ? std::vector<double>{1.0, 1.96, 1.5, 3.0}
                                                    : std::vector<double>{0.75, 0.25, 0.5, 1.0, 1.0 / 3};
          for (RaterId r : {RaterId::Patient, RaterId::Therapist}) {
            const RocCurve roc = roc_curve(c, r, d);
            REQUIRE(roc.points.size() == d.roc_thresholds.size());
            for (std::size_t j = 0; j < d.roc_thresholds.size(); ++j) {
              INFO(name << " " << ref << " tol " << tol << " rater " << rater_name(r) << " threshold "
                        << d.roc_thresholds[j]);
              RaterEvents ev;
              detect_events(c, r, d, d.roc_thresholds[j], ev);
              const DetectionScore s = score_detection(c, ev, d);
              CHECK(roc.points[j].threshold == d.roc_thresholds[j]);
              if (std::isnan(s.rupture.sensitivity)) CHECK(std::isnan(roc.points[j].sensitivity));
              else CHECK(roc.points[j].sensitivity == s.rupture.sensitivity);
              CHECK(roc.points[j].specificity == s.rupture.specificity);
            }
            CHECK(roc.auc >= 0.0);
            CHECK(roc.auc <= 1.0);
          }
        }
      }
    }
  }
}

TEST_CASE("noiseless scenario: every true onset and repair is found, nothing else", "[detection]") {
  Scenario sc;
  sc.design.patients = 200;
  sc.alliance.innovation_sd = 0;
  sc.alliance.growth = 0;
  sc.alliance.growth_sd = 0;
  sc.rupture.onset_probability = 0.15;
  sc.rupture.depth_mean = 0.6;
  sc.rupture.depth_sd = 0.05;  // every depth well above 0.3
  for (Rater* r : {&sc.raters.patient, &sc.raters.therapist}) {
    r->response = Response::Continuous;
    r->item_sd = 0;
    r->occasion_sd = 0;
    r->false_alarm_rate = 0;
    r->registration = 1;
    r->leniency_sd = 0;
    r->dyad_sd = 0;
    r->mood_congruence = 0;
  }
  // Smallest perceived drop: sensitivity (>= 0.8) x depth (> 0.3); threshold 0.2 is below it.
  const Cohort c = simulate_cohort(sc, 20251126, 1, 1);
  REQUIRE(c.has_truth);
  std::int64_t onsets = 0, repairs = 0;
  for (std::size_t k = 0; k < c.rows(); ++k) {
    onsets += c.true_onset[k];
    repairs += c.true_repair[k];
  }
  REQUIRE(onsets > 50);
  REQUIRE(repairs > 20);
  for (const std::string mode : {"return", "rise"}) {
    Detection d = rule("absolute_drop", mode, 1000);
    for (RaterId r : {RaterId::Patient, RaterId::Therapist}) {
      INFO(mode << " " << rater_name(r));
      RaterEvents ev;
      detect_events(c, r, d, 0.2, ev);
      CHECK(ev.rupture == c.true_onset);
      CHECK(ev.repair == c.true_repair);
      const DetectionScore s = score_detection(c, ev, d);
      CHECK(s.rupture.sensitivity == 1.0);
      CHECK(s.rupture.specificity == 1.0);
      CHECK(s.rupture.ppv == 1.0);
      CHECK(s.repair.sensitivity == 1.0);
      CHECK(s.repair.ppv == 1.0);
      CHECK(s.prevalence == s.true_prevalence);
      CHECK(s.rupture_patients.f1 == 1.0);
    }
  }
  // With the default window of 3, repairs that come later are missed, but none is invented.
  RaterEvents ev;
  detect_events(c, RaterId::Patient, rule("absolute_drop", "return", 3), 0.2, ev);
  const DetectionScore s = score_detection(c, ev, rule("absolute_drop", "return", 3));
  CHECK(s.repair.ppv == 1.0);
  CHECK(s.repair.sensitivity <= 1.0);
  // The patient and therapist flags agree perfectly.
  RaterEvents et;
  detect_events(c, RaterId::Therapist, rule("absolute_drop"), 0.2, et);
  CHECK(cohens_kappa(c, ev, et) == Approx(1.0));
}

TEST_CASE("F1 is 0 when a rater detects nothing although events exist, NaN only without either", "[detection]") {
  Detection d;
  RaterEvents none, two;
  none.rupture.assign(5, 0);
  none.repair.assign(5, 0);
  two = none;
  two.rupture = {0, 1, 0, 1, 0};
  const Cohort with_events = make_cohort(
      {{.sessions = upto(5), .y = {4, 4, 4, 4, 4}, .yt = {}, .onset = {0, 0, 1, 0, 0}, .repair = {}}}, true);
  const Cohort without = make_cohort({{.sessions = upto(5), .y = {4, 4, 4, 4, 4}}}, true);

  const DetectionScore missed = score_detection(with_events, none, d);  // events, no detections
  CHECK(missed.rupture.true_events == 1);
  CHECK(std::isnan(missed.rupture.ppv));
  CHECK(missed.rupture.f1 == 0.0);
  CHECK(missed.rupture_patients.f1 == 0.0);

  const DetectionScore spurious = score_detection(without, two, d);  // detections, no events
  CHECK(std::isnan(spurious.rupture.sensitivity));
  CHECK(spurious.rupture.f1 == 0.0);

  const DetectionScore nothing = score_detection(without, none, d);  // neither
  CHECK(std::isnan(nothing.rupture.f1));
  CHECK(std::isnan(nothing.rupture_patients.f1));
}
