// Calibration: target and bound parsing, recovery of known parameters from targets simulated at
// those parameters, and the `calibrate` verb (written scenario, refused input).
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "cli_runner.h"
#include "collabzium/error.h"
#include "collabzium/model/random.h"
#include "collabzium/config/scenario.h"
#include "collabzium/study/calibration.h"
#include "collabzium/study/runner.h"

using namespace collabzium;
using namespace collabzium::testing;

namespace {

// Small and cheap: 30 patients of 4 therapists, 8 sessions each.
const char* kSmall =
    "name = \"small\"\n"
    "[design]\npatients = 30\ntherapists = 4\n[design.sessions]\ndistribution = \"fixed\"\nmean = 8\n"
    "[raters.patient]\nsensitivity = 1.5\n"
    "[analysis]\nmodels = [\"growth\"]\n";

Scenario small_scenario() { return parse_scenario(kSmall, "small.toml").base; }

double value_at(const Scenario& s, const CalibrationTarget& t, std::int64_t reps, std::uint64_t seed,
                double* mcse = nullptr) {
  Scenario run = s;
  run.run.replications = reps;
  run.run.seed = static_cast<std::int64_t>(seed);
  const auto rows = study_summary(single_condition(run), 2);
  const SummaryRow* r = find_summary_row(rows, t.model, t.rater, t.term, t.measure);
  REQUIRE(r);
  if (mcse) *mcse = r->mcse;
  return r->value;
}

// Recovery check. Targets are simulated at `truth` with seed 11 and `target_reps` replications; the
// calibration searches with another seed. Its error in the targets' units is then (at most) the
// Monte Carlo error of the targets plus that of the search's evaluations, sd_j =
// sqrt(mcse_target_j^2 + mcse_target_j^2 * target_reps / search_reps). The tolerance for the keys is
// 4 such sds propagated through the slopes: with J the Jacobian d target_j / d key_k (central
// differences with common random numbers, step `h`), cov(keys) = J^-1 diag(sd^2) J^-T, and each key
// must be within 4 sqrt(cov_kk) of its true value.
void check_recovery(const Scenario& base, const std::vector<std::string>& keys, const std::vector<double>& truth,
                    const std::vector<double>& start, const std::vector<std::pair<double, double>>& bounds,
                    const std::vector<std::string>& target_names, const std::vector<double>& h) {
  const std::size_t n = keys.size();
  REQUIRE(target_names.size() == n);
  const std::int64_t target_reps = 1000, search_reps = 400;
  auto at = [&](const std::vector<double>& v) {
    Scenario s = base;
    for (std::size_t k = 0; k < n; ++k) set_key(s, keys[k], KeyValue(v[k]), "test");
    return s;
  };
  std::vector<CalibrationTarget> targets;
  std::vector<double> sd(n);
  for (std::size_t j = 0; j < n; ++j) {
    CalibrationTarget t = parse_calibration_target(target_names[j] + "=0");
    double mcse = 0;
    t.value = value_at(at(truth), t, target_reps, 11, &mcse);
    sd[j] = mcse * std::sqrt(1.0 + static_cast<double>(target_reps) / search_reps);
    targets.push_back(t);
  }
  // Jacobian by central differences (common random numbers: the same seed at both ends).
  std::vector<std::vector<double>> J(n, std::vector<double>(n));
  for (std::size_t k = 0; k < n; ++k) {
    auto up = truth, down = truth;
    up[k] += h[k];
    down[k] -= h[k];
    for (std::size_t j = 0; j < n; ++j)
      J[j][k] = (value_at(at(up), targets[j], target_reps, 11) - value_at(at(down), targets[j], target_reps, 11)) /
                (2 * h[k]);
  }
  // cov(keys) = J^-1 diag(sd^2) J^-T, for n = 1 or 2.
  std::vector<double> tol(n);
  if (n == 1) {
    REQUIRE(std::fabs(J[0][0]) > 0);
    tol[0] = 4 * sd[0] / std::fabs(J[0][0]);
  } else {
    REQUIRE(n == 2);
    const double det = J[0][0] * J[1][1] - J[0][1] * J[1][0];
    REQUIRE(std::fabs(det) > 0);
    const double inv[2][2] = {{J[1][1] / det, -J[0][1] / det}, {-J[1][0] / det, J[0][0] / det}};
    for (std::size_t k = 0; k < 2; ++k)
      tol[k] = 4 * std::sqrt(inv[k][0] * inv[k][0] * sd[0] * sd[0] + inv[k][1] * inv[k][1] * sd[1] * sd[1]);
  }

  std::vector<FreeKey> free;
  for (std::size_t k = 0; k < n; ++k) free.push_back({.key = keys[k], .lo = bounds[k].first, .hi = bounds[k].second});
  CalibrationSettings settings;
  settings.replications = search_reps;
  settings.check_replications = 200;
  settings.seed = 12345;
  settings.threads = 2;
  std::ostringstream log;
  const CalibrationResult res = calibrate(at(start), targets, free, settings, log);
  INFO(log.str());
  for (std::size_t k = 0; k < n; ++k) {
    INFO(keys[k] << ": true " << truth[k] << ", recovered " << res.values[k] << ", tolerance " << tol[k]);
    CHECK(res.start[k] == Approx(start[k]));
    CHECK(std::fabs(res.values[k] - truth[k]) <= tol[k]);
    // The tolerance is informative: tighter than the distance from the start.
    CHECK(tol[k] < std::fabs(start[k] - truth[k]));
    CHECK(std::get<double>(get_key(res.scenario, keys[k])) == res.values[k]);
  }
  // The check run (fresh seed) is close to the targets too.
  for (std::size_t j = 0; j < n; ++j) {
    INFO(targets[j].name() << ": target " << targets[j].value << ", check " << res.check[j].value);
    CHECK(std::fabs(res.check[j].value - targets[j].value) <= 4 * (sd[j] + res.check[j].mcse));
  }
  CHECK(res.check_seed == derive_seed(12345, kCheckSeedTag));
  // The models of the input survive in the calibrated scenario.
  CHECK(res.scenario.analysis.models == base.analysis.models);
}

}  // namespace

TEST_CASE("calibration targets and free keys are parsed and checked", "[calibrate]") {
  const CalibrationTarget t = parse_calibration_target("detection.patient.rupture.prevalence=0.52");
  CHECK(t.model == "detection");
  CHECK(t.rater == "patient");
  CHECK(t.term == "rupture");
  CHECK(t.measure == "prevalence");
  CHECK(t.value == 0.52);
  CHECK(t.name() == "detection.patient.rupture.prevalence");
  // roc terms hold '=' and dots; an intercept holds parentheses.
  const CalibrationTarget r = parse_calibration_target("roc.therapist.threshold=0.5.sensitivity=0.7");
  CHECK(r.term == "threshold=0.5");
  CHECK(r.measure == "sensitivity");
  CHECK(r.value == 0.7);
  CHECK(parse_calibration_target("growth.patient.(Intercept).mean = 3.8").term == "(Intercept)");
  for (const char* bad : {"detection.patient.rupture.prevalence", "detection.patient.prevalence=0.5",
                          "detection.patient.rupture.prevalence=abc", "detection.patient.rupture.prevalence=nan",
                          "nosuch.patient.rupture.mean=1", "lagged.nobody.rupture.mean=1", "=3"})
    CHECK_THROWS_AS(parse_calibration_target(bad), InputError);

  const Scenario s = small_scenario();
  const FreeKey f = parse_free_key("raters.patient.registration=0.2:0.9", s);
  CHECK(f.key == "raters.patient.registration");
  CHECK(f.lo == 0.2);
  CHECK(f.hi == 0.9);
  CHECK(parse_free_key("alliance.mean = 2 : 4", s).hi == 4);
  CHECK_THROWS_WITH(parse_free_key("no.such.key=0:1", s), Catch::Contains("unknown key"));
  CHECK_THROWS_WITH(parse_free_key("design.patients=10:20", s), Catch::Contains("integer key"));
  CHECK_THROWS_WITH(parse_free_key("detection.rule=0:1", s), Catch::Contains("not a numeric key"));
  CHECK_THROWS_WITH(parse_free_key("run.alpha=0.01:0.1", s), Catch::Contains("run settings"));
  CHECK_THROWS_WITH(parse_free_key("raters.patient.registration=0.9:0.2", s), Catch::Contains("LO must be < HI"));
  CHECK_THROWS_WITH(parse_free_key("raters.patient.registration=0.5:0.5", s), Catch::Contains("LO must be < HI"));
  CHECK_THROWS_WITH(parse_free_key("raters.patient.registration=0.2:1.5", s), Catch::Contains("[0.0, 1.0]"));
  CHECK_THROWS_WITH(parse_free_key("rupture.depth_mean=0:1", s), Catch::Contains("> 0.0"));
  CHECK_THROWS_AS(parse_free_key("raters.patient.registration=0.2", s), InputError);
  CHECK_THROWS_AS(parse_free_key("raters.patient.registration=0.2:x", s), InputError);
  CHECK_THROWS_AS(parse_free_key("raters.patient.registration", s), InputError);
}

TEST_CASE("derived seeds are valid run seeds and unrelated to the seed", "[calibrate]") {
  for (std::uint64_t seed : {0ULL, 1ULL, 20251126ULL}) {
    const std::uint64_t a = derive_seed(seed, kCheckSeedTag), b = derive_seed(seed, 1);
    CHECK(a < (std::uint64_t{1} << 62));
    CHECK(a != seed);
    CHECK(a != seed + 1);
    CHECK(a != b);
    CHECK(derive_seed(seed, kCheckSeedTag) == a);
  }
}

TEST_CASE("calibration recovers a known onset probability from the therapists' rupture prevalence", "[calibrate]") {
  // Truth 0.08; the scenario starts at 0.04 and the search runs on another seed than the targets.
  Scenario base = small_scenario();
  check_recovery(base, {"rupture.onset_probability"}, {0.08}, {0.04}, {{0.01, 0.25}},
                 {"detection.therapist.rupture.prevalence"}, {0.02});
}

TEST_CASE("calibration recovers two keys from two targets", "[calibrate]") {
  // Truth: onset 0.08 and patient registration 0.6, from the true rupture prevalence and the
  // patients' detection sensitivity; started at 0.12 and 0.3.
  Scenario base = small_scenario();
  check_recovery(base, {"rupture.onset_probability", "raters.patient.registration"}, {0.08, 0.6}, {0.12, 0.3},
                 {{0.01, 0.25}, {0.05, 0.95}},
                 {"detection.therapist.rupture.true_prevalence", "detection.patient.rupture.sensitivity"},
                 {0.02, 0.15});
}

TEST_CASE("calibrate refuses a target that names no summary measure", "[calibrate]") {
  const Scenario s = small_scenario();
  CalibrationSettings settings;
  settings.replications = 4;
  settings.check_replications = 4;
  settings.threads = 1;
  std::ostringstream log;
  const std::vector<FreeKey> free = {{"raters.patient.registration", 0.2, 0.9}};
  CHECK_THROWS_WITH(
      calibrate(s, {parse_calibration_target("detection.patient.rupture.prevalance=0.5")}, free, settings, log),
      Catch::Contains("no summary measure prevalance") && Catch::Contains("prevalence"));
  CHECK_THROWS_WITH(calibrate(s, {parse_calibration_target("lagged.patient.ruptures.mean=0.5")}, free, settings, log),
                    Catch::Contains("no term ruptures"));
  CHECK_THROWS_WITH(calibrate(s, {parse_calibration_target("roc.patient.rupture.auc=0.7")}, free, settings, log),
                    Catch::Contains("roc_thresholds"));
}

TEST_CASE("calibrate writes the complete calibrated scenario with its provenance", "[calibrate]") {
  const auto dir = scratch_dir("calibrate-cli");
  write_text(dir / "small.toml", kSmall);
  const auto r = run_cli(
      "calibrate small.toml --match detection.therapist.rupture.prevalence=0.7 "
      "--free rupture.onset_probability=0.02:0.2 --out cal.toml --replications 40 --check-replications 60 "
      "--max-evaluations 8 --threads 2 --seed 5 --set alliance.mean=3.5",
      dir);
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("detection.therapist.rupture.prevalence") && Catch::Contains("achieved") &&
                        Catch::Contains("mcse") && Catch::Contains("wrote cal.toml"));
  const std::string text = slurp(dir / "cal.toml");
  CHECK(text.rfind("# Calibrated by `collabzium calibrate` on ", 0) == 0);
  CHECK_THAT(text, Catch::Contains("#   rupture.onset_probability = ") &&
                       Catch::Contains("#   detection.therapist.rupture.prevalence = 0.7  achieved ") &&
                       Catch::Contains("--set alliance.mean=3.5") && Catch::Contains("LN_BOBYQA"));
  const ScenarioFile cal = parse_scenario(text, "cal.toml");
  const Scenario input = parse_scenario(kSmall, "small.toml", {"alliance.mean=3.5"}).base;
  // Everything but the free key is the input scenario (the --set included).
  for (const auto& key : scenario_keys()) {
    if (key == "rupture.onset_probability") continue;
    INFO(key);
    CHECK(format_value(get_key(cal.base, key)) == format_value(get_key(input, key)));
  }
  const double v = std::get<double>(get_key(cal.base, "rupture.onset_probability"));
  CHECK(v >= 0.02);
  CHECK(v <= 0.2);
  CHECK_THAT(text, Catch::Contains("onset_probability = " + format_value(KeyValue(v))));
  // A second run with the same seed writes the same values (dates aside).
  const auto again = run_cli(
      "calibrate small.toml --match detection.therapist.rupture.prevalence=0.7 "
      "--free rupture.onset_probability=0.02:0.2 --out cal2.toml --replications 40 --check-replications 60 "
      "--max-evaluations 8 --threads 1 --seed 5 --set alliance.mean=3.5",
      dir);
  REQUIRE(again.status == 0);
  auto strip_date = [](std::string s) { return s.substr(s.find('\n')); };
  CHECK(strip_date(slurp(dir / "cal2.toml")) == strip_date(text));
}

TEST_CASE("calibrate refuses bad input with exit status 2 and one line", "[calibrate]") {
  const auto dir = scratch_dir("calibrate-errors");
  write_text(dir / "small.toml", kSmall);
  write_text(dir / "swept.toml", std::string(kSmall) + "[sweep]\n\"design.patients\" = [20, 30]\n");
  const std::string ok_match = "--match detection.patient.rupture.prevalence=0.6";
  const std::string ok_free = "--free raters.patient.registration=0.2:0.9";
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"small.toml " + ok_match + " --free no.such.key=0:1", "--free: no.such.key: unknown key"},
      {"small.toml " + ok_match + " --free design.patients=10:20", "--free: design.patients: is an integer key"},
      {"small.toml " + ok_match + " --free analysis.reml=0:1", "--free: analysis.reml: is not a numeric key"},
      {"small.toml " + ok_match + " --free raters.patient.registration=0.9:0.2", "LO must be < HI"},
      {"small.toml " + ok_match + " --free raters.patient.registration=-0.5:0.5", "must be a number in [0.0, 1.0]"},
      {"small.toml " + ok_match + " --free raters.patient.registration=0.2-0.9", "expected KEY=LO:HI"},
      {"small.toml " + ok_match +
           " --free raters.patient.registration=0.2:0.9 --free raters.patient.registration=0.3:0.4",
       "is given twice"},
      {"small.toml --match detection.patient.rupture.prevalance=0.6 " + ok_free,
       "--match: detection.patient.rupture.prevalance: no summary measure prevalance"},
      {"small.toml --match detection.patient.rupture=0.6 " + ok_free, "expected MODEL.RATER.TERM.MEASURE=VALUE"},
      {"small.toml --match detection.patient.rupture.prevalence=high " + ok_free, "VALUE must be a finite number"},
      {"small.toml --match tree.patient.rupture.mean=1 " + ok_free, "unknown model"},
      {"small.toml --match lagged.patient.session.mean=1 --match lagged.patient.session.mean=2 " + ok_free,
       "is given twice"},
      {"small.toml " + ok_match + " " + ok_free + " --replications 1", "--replications: must be an integer >= 2"},
      {"swept.toml " + ok_match + " " + ok_free, "swept.toml: sweep: calibrate takes a scenario without a sweep"},
      {"small.toml " + ok_match + " " + ok_free + " --set raters.patient.registration=2", "registration"},
  };
  for (const auto& c : cases) {
    const auto r = run_cli("calibrate " + c.args + " --out out.toml", dir);
    INFO(c.args << "\n" << r.err);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains(c.message));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(!std::filesystem::exists(dir / "out.toml"));
  }
  const auto r = run_cli("calibrate small.toml " + ok_match + " " + ok_free + " --out no/such/dir/out.toml", dir);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("no/such/dir/out.toml"));
}
