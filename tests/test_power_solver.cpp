// Sample-size solving: the probit power-curve fit, the answer against a dense direct power curve in
// a scenario where the oracle model is correctly specified, and the `solve` verb.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "cli_runner.h"
#include "collabzium/error.h"
#include "collabzium/model/random.h"
#include "collabzium/config/scenario.h"
#include "collabzium/study/power_solver.h"
#include "collabzium/study/runner.h"

using namespace collabzium;
using namespace collabzium::testing;

namespace {

// The oracle model (lagged, on the true events) is correctly specified: no distress random effects,
// trend variation, autocorrelation, feedback of distress on ruptures, unresolved or alliance effects,
// and no dropout. A large rupture effect keeps the answer small, so the test is cheap.
const char* kOracle =
    "name = \"oracle_power\"\n"
    "[design]\ntherapists = 4\npatients = 40\n[design.sessions]\ndistribution = \"fixed\"\nmean = 8\n"
    "[design.dropout]\nbase = 0.0\nunresolved_rupture = 0.0\n"
    "[rupture]\ndistress_effect = 0.0\n"
    "[distress]\ntherapist_sd = 0.0\npatient_sd = 0.0\ntrend_sd = 0.0\nar = 0.0\n"
    "[distress.effects]\nrupture = 2.5\nunresolved = 0.0\nalliance = 0.0\n"
    "[analysis]\nmodels = [\"oracle\"]\n";

double probit(double p) {
  // Newton on the normal cdf, good enough for test inputs.
  double x = 0;
  for (int i = 0; i < 60; ++i) {
    const double f = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
    x -= f / (std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI));
  }
  return x;
}

}  // namespace

TEST_CASE("power targets are parsed and checked", "[solve]") {
  const PowerTarget t = parse_power_target("lagged.patient.rupture");
  CHECK(t.model == ModelKind::Lagged);
  CHECK(t.rater == RaterId::Patient);
  CHECK(t.term == "rupture");
  CHECK(t.name() == "lagged.patient.rupture");
  CHECK(parse_power_target("oracle.truth.repair").rater == RaterId::Truth);
  CHECK(parse_power_target("growth.therapist.growth").term == "growth");
  for (const char* bad : {"lagged.patient", "lagged", "", "detection.patient.rupture", "oracle.patient.rupture",
                          "lagged.truth.rupture", "lagged..rupture", "lagged.patient."})
    CHECK_THROWS_AS(parse_power_target(bad), InputError);
}

TEST_CASE("the probit power curve is recovered from exact binomial counts", "[solve]") {
  // Power = Phi(-4 + 1.2 ln n): expected counts at many trials give back a and b, and the crossing.
  const double a = -4, b = 1.2;
  std::vector<PowerPoint> points;
  for (std::int64_t n : {10, 20, 40, 80, 160}) {
    const double p = 0.5 * std::erfc(-(a + b * std::log(n)) / std::sqrt(2.0));
    points.push_back({.value = n, .rejections = p * 1e6, .trials = 1e6});
  }
  const PowerCurve c = fit_power_curve(points);
  REQUIRE(c.ok);
  CHECK(c.a == Approx(a).margin(1e-6));
  CHECK(c.b == Approx(b).margin(1e-6));
  CHECK(c.dispersion == Approx(1.0));
  CHECK(c.crossing(0.8) == Approx(std::exp((probit(0.8) - a) / b)).epsilon(1e-6));
  CHECK(c.predict(c.crossing(0.8)) == Approx(0.8));
  CHECK(c.crossing_log_sd(0.8) < 1e-2);
  // Fewer trials: a wider interval for the crossing (sd grows like 1 / sqrt(trials)).
  for (auto& p : points) {
    p.rejections /= 1e4;
    p.trials /= 1e4;
  }
  const PowerCurve d = fit_power_curve(points);
  REQUIRE(d.ok);
  CHECK(d.crossing_log_sd(0.8) == Approx(100 * c.crossing_log_sd(0.8)).epsilon(1e-3));
  // Too little to fit: one value, or power falling with n.
  CHECK_FALSE(fit_power_curve({{.value = 10, .rejections = 5, .trials = 10}}).ok);
  CHECK_FALSE(fit_power_curve({{.value = 10, .rejections = 8, .trials = 10},
                               {.value = 20, .rejections = 5, .trials = 10},
                               {.value = 40, .rejections = 2, .trials = 10}})
                  .ok);
  // Points all at 0 or 1 (separation) still give a finite, increasing fit.
  const PowerCurve e = fit_power_curve({{.value = 10, .rejections = 0, .trials = 50},
                                        {.value = 20, .rejections = 0, .trials = 50},
                                        {.value = 40, .rejections = 50, .trials = 50},
                                        {.value = 80, .rejections = 50, .trials = 50}});
  CHECK(std::isfinite(e.crossing(0.8)));
  CHECK(e.crossing(0.8) > 20);
  CHECK(e.crossing(0.8) < 40);
}

TEST_CASE("solve finds the crossing of a dense direct power curve", "[solve]") {
  const Scenario s = parse_scenario(kOracle, "oracle.toml").base;
  const PowerTarget target = parse_power_target("oracle.truth.rupture");
  SolveSettings settings;
  settings.replications = 150;
  settings.verify_replications = 600;
  settings.seed = 77;
  settings.threads = 2;
  settings.precision = 0.10;
  std::ostringstream log;
  const SolveResult r = solve_power(s, "design.patients", target, 0.8, 10, 400, settings, log);
  INFO(log.str());
  CHECK(r.key == "design.patients");
  CHECK(r.ci_low <= r.value);
  CHECK(r.value <= r.ci_high);
  CHECK(r.value == static_cast<std::int64_t>(std::ceil(r.crossing)));
  CHECK(r.points.size() >= 5);
  CHECK(r.precise);

  // The direct curve: 800 replications at every value on a grid around the answer, an independent
  // seed, and linear interpolation of power between the two grid values bracketing 0.8.
  std::vector<std::int64_t> grid;
  for (std::int64_t n = std::max<std::int64_t>(10, r.value * 6 / 10); n <= r.value * 15 / 10 + 4;
       n += std::max<std::int64_t>(2, r.value / 10))
    grid.push_back(n);
  std::vector<double> power, mcse;
  for (std::int64_t n : grid) {
    Scenario at = s;
    set_key(at, "design.patients", KeyValue(n), "test");
    at.run.replications = 800;
    at.run.seed = 4242;
    const auto rows = study_summary(single_condition(at), 2);
    const SummaryRow* p = find_summary_row(rows, "oracle", "truth", "rupture", "power");
    REQUIRE(p);
    power.push_back(p->value);
    mcse.push_back(p->mcse);
  }
  std::ostringstream curve;
  for (std::size_t i = 0; i < grid.size(); ++i) curve << grid[i] << ": " << power[i] << " (" << mcse[i] << ")\n";
  INFO("direct curve\n" << curve.str());
  // The first grid value at which the direct curve reaches 0.8 (after which it stays there).
  std::size_t k = 0;
  while (k < grid.size() && power[k] < 0.8) ++k;
  REQUIRE(k > 0);
  REQUIRE(k < grid.size());
  const double x0 = grid[k - 1], x1 = grid[k];
  const double direct = x0 + (0.8 - power[k - 1]) * (x1 - x0) / (power[k] - power[k - 1]);
  // Tolerance: the direct crossing's own Monte Carlo error, 3 MCSE of power at the crossing
  // converted to patients by the local slope (at least one grid step's worth of slope), added to the
  // solver's 95% interval.
  const double slope = std::max((power[k] - power[k - 1]) / (x1 - x0), 1e-3);
  const double direct_err = 3 * std::max(mcse[k - 1], mcse[k]) / slope;
  INFO("solve " << r.value << " [" << r.ci_low << ", " << r.ci_high << "], direct crossing " << direct << " +- "
                << direct_err);
  CHECK(direct >= r.ci_low - direct_err);
  CHECK(direct <= r.ci_high + direct_err);
  // The verification run at the answer: power 0.8 within 3 MCSE (plus the rounding up to an integer).
  CHECK(r.power_mcse > 0);
  CHECK(std::fabs(r.power - 0.8) <= 3 * r.power_mcse + 0.02);
  CHECK(r.verify_seed == derive_seed(77, kVerifySeedTag));
}

TEST_CASE("solve reports a power that the range does not reach", "[solve]") {
  const Scenario s = parse_scenario(kOracle, "oracle.toml").base;
  SolveSettings settings;
  settings.replications = 60;
  settings.threads = 2;
  std::ostringstream log;
  CHECK_THROWS_AS(
      solve_power(s, "design.patients", parse_power_target("oracle.truth.rupture"), 0.8, 5, 12, settings, log),
      PowerNotReached);
  CHECK_THROWS_WITH(
      solve_power(s, "design.patients", parse_power_target("oracle.truth.rupture"), 0.8, 500, 1000, settings, log),
      Catch::Contains("already reached"));
  // Bad input is an InputError.
  const PowerTarget t = parse_power_target("oracle.truth.rupture");
  CHECK_THROWS_AS(solve_power(s, "design.allocation", t, 0.8, 10, 20, settings, log), InputError);
  CHECK_THROWS_AS(solve_power(s, "design.patients", t, 0.0, 10, 20, settings, log), InputError);
  CHECK_THROWS_AS(solve_power(s, "design.patients", t, 0.04, 10, 20, settings, log), InputError);  // <= alpha
  CHECK_THROWS_AS(solve_power(s, "design.patients", t, 0.8, 20, 20, settings, log), InputError);
  CHECK_THROWS_AS(solve_power(s, "design.patients", t, 0.8, 0, 20, settings, log), InputError);
  CHECK_THROWS_AS(solve_power(s, "design.sessions.mean", t, 0.8, 3, 41, settings, log), InputError);
  CHECK_THROWS_WITH(
      solve_power(s, "design.patients", parse_power_target("oracle.truth.ruptures"), 0.8, 10, 20, settings, log),
      Catch::Contains("no such coefficient") && Catch::Contains("rupture"));
}

TEST_CASE("solve ranges default by key", "[solve]") {
  Scenario s = parse_scenario("", "empty.toml").base;
  CHECK(default_solve_range(s, "design.patients") == std::pair<std::int64_t, std::int64_t>{20, 2000});
  CHECK(default_solve_range(s, "design.therapists") == std::pair<std::int64_t, std::int64_t>{2, 200});
  // Sessions: [3, 60] within [design.sessions.min, design.sessions.max] (default 3 and 40).
  CHECK(default_solve_range(s, "design.sessions.mean") == std::pair<std::int64_t, std::int64_t>{3, 40});
}

TEST_CASE("solve writes the JSON of the contract", "[solve]") {
  const auto dir = scratch_dir("solve-cli");
  write_text(dir / "oracle.toml", kOracle);
  const auto r = run_cli(
      "solve oracle.toml --vary design.patients --target oracle.truth.rupture --power 0.7 --range 10,300 "
      "--replications 60 --verify-replications 100 --max-rounds 2 --threads 2 --seed 3 --out answer.json",
      dir);
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("answer: design.patients = ") && Catch::Contains("verification: power ") &&
                        Catch::Contains("wrote answer.json"));
  const std::string json = slurp(dir / "answer.json");
  for (const char* key : {"\"key\": \"design.patients\"", "\"value\": ", "\"ci_low\": ", "\"ci_high\": ", "\"power\": ",
                          "\"power_mcse\": ", "\"points\": "})
    CHECK_THAT(json, Catch::Contains(key));
}

TEST_CASE("solve refuses bad input with exit status 2 and one line", "[solve]") {
  const auto dir = scratch_dir("solve-errors");
  write_text(dir / "oracle.toml", kOracle);
  write_text(dir / "swept.toml", std::string(kOracle) + "[sweep]\n\"design.patients\" = [20, 30]\n");
  const std::string ok = " --target oracle.truth.rupture --power 0.8";
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"oracle.toml --vary design.allocation" + ok, "--vary: design.allocation: cannot be solved for"},
      {"oracle.toml --vary alliance.mean" + ok, "cannot be solved for"},
      {"oracle.toml --vary design.patients --target oracle.patient.rupture --power 0.8", "rater is truth"},
      {"oracle.toml --vary design.patients --target lagged.patient --power 0.8", "expected MODEL.RATER.TERM"},
      {"oracle.toml --vary design.patients --target oracle.truth.ruptures --power 0.8", "no such coefficient"},
      {"oracle.toml --vary design.patients --target oracle.truth.rupture --power 1",
       "--power: must be a number in (0, 1)"},
      {"oracle.toml --vary design.patients --target oracle.truth.rupture --power -0.3", "--power"},
      {"oracle.toml --vary design.patients" + ok + " --range 50,20", "--range: LO must be < HI"},
      {"oracle.toml --vary design.patients" + ok + " --range 20-50", "--range: expected LO,HI"},
      {"oracle.toml --vary design.patients" + ok + " --range 20.5,50", "--range: expected LO,HI"},
      {"oracle.toml --vary design.sessions.mean" + ok + " --range 3,100", "design.sessions.max"},
      {"oracle.toml --vary design.patients" + ok + " --replications 1", "--replications"},
      {"swept.toml --vary design.patients" + ok, "solve takes a scenario without a sweep"},
  };
  for (const auto& c : cases) {
    const auto r = run_cli("solve " + c.args + " --out out.json", dir);
    INFO(c.args << "\n" << r.err);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains(c.message));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(!std::filesystem::exists(dir / "out.json"));
  }
  // A power the range cannot reach: exit status 1, a clear message, no JSON.
  const auto r = run_cli(
      "solve oracle.toml --vary design.patients" + ok + " --range 5,12 --replications 40 --threads 2 --out out.json",
      dir);
  INFO(r.out << r.err);
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("is not reached within the range") && Catch::Contains("widen --range"));
  CHECK_THAT(r.out, Catch::Contains("initial points"));
  CHECK(!std::filesystem::exists(dir / "out.json"));
}

TEST_CASE("solve pools the successes and trials of the summary's power rows", "[solve]") {
  // Without refinement rounds the points are the five initial values, batch i (1-based) at the i-th
  // value with seed derive_seed(seed, i): each point is exactly that run's power row.
  const Scenario s = parse_scenario(kOracle, "oracle.toml").base;
  SolveSettings settings;
  settings.replications = 30;
  settings.verify_replications = 2;
  settings.max_rounds = 0;
  settings.threads = 2;
  settings.seed = 9;
  std::ostringstream log;
  const SolveResult r =
      solve_power(s, "design.patients", parse_power_target("oracle.truth.rupture"), 0.7, 10, 300, settings, log);
  REQUIRE(r.points.size() == 5);
  for (std::size_t i = 0; i < r.points.size(); ++i) {
    Scenario at = s;
    at.analysis.models = {ModelKind::Oracle};
    at.design.patients = r.points[i].value;
    at.run.replications = settings.replications;
    at.run.seed = static_cast<std::int64_t>(derive_seed(settings.seed, i + 1));
    const auto rows = study_summary(single_condition(at), 2);
    const SummaryRow* p = find_summary_row(rows, "oracle", "truth", "rupture", "power");
    REQUIRE(p);
    INFO("value " << r.points[i].value);
    CHECK(r.points[i].rejections == p->successes);
    CHECK(r.points[i].trials == p->trials);
    CHECK(p->trials <= settings.replications);  // fits without a p value are no trials
    CHECK(p->successes == std::round(p->value * p->trials));
  }
}
