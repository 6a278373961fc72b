// Scoring formulas (Morris, White & Crowther 2019, Table 6) against hand-computed values on a small
// fixed table of replication records.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "collabzium/study/scoring.h"

using namespace collabzium;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Relative agreement to 1e-12 (exact zero only against exact zero).
bool close(double actual, double expected) {
  if (expected == 0.0) return actual == 0.0;
  return std::fabs(actual - expected) <= 1e-12 * std::fabs(expected);
}

double value_of(const std::vector<Measure>& m, const char* name) {
  const Measure* x = find_measure(m, name);
  REQUIRE(x != nullptr);
  return x->value;
}

double mcse_of(const std::vector<Measure>& m, const char* name) {
  const Measure* x = find_measure(m, name);
  REQUIRE(x != nullptr);
  return x->mcse;
}

// Eight replications of one coefficient:
//   rep  est   se    ci            p       conv sing
//   0    0.52  0.10  [0.32, 0.72]  0.01    1    0
//   1    0.31  0.12  [0.07, 0.55]  0.20    1    0
//   2    NaN   0.11  [NaN,  NaN ]  NaN     1    1   <- no estimate: excluded
//   3    0.47  0.09  [0.30, 0.64]  0.03    1    0
//   4    0.60  0.10  [0.40, 0.80]  0.001   0    1   <- not converged: excluded
//   5    0.28  0.13  [0.03, 0.49]  0.06    1    0   <- misses theta = 0.5
//   6    0.55  0.11  [0.33, 0.77]  0.0499  1    0
//   7    0.41  0.10  [0.21, 0.50]  0.05    1    0   <- covers at the bound; p == alpha: no rejection
CoefficientSample table() {
  CoefficientSample s;
  s.estimate = {0.52, 0.31, kNaN, 0.47, 0.60, 0.28, 0.55, 0.41};
  s.se = {0.10, 0.12, 0.11, 0.09, 0.10, 0.13, 0.11, 0.10};
  s.ci_low = {0.32, 0.07, kNaN, 0.30, 0.40, 0.03, 0.33, 0.21};
  s.ci_high = {0.72, 0.55, kNaN, 0.64, 0.80, 0.49, 0.77, 0.50};
  s.p = {0.01, 0.20, kNaN, 0.03, 0.001, 0.06, 0.0499, 0.05};
  s.converged = {1, 1, 1, 1, 0, 1, 1, 1};
  s.singular = {0, 0, 1, 0, 1, 0, 0, 0};
  return s;
}

}  // namespace

TEST_CASE("score_coefficient returns the measures in the documented order", "[scoring]") {
  const auto m = score_coefficient(table(), 0.5, 0.05);
  REQUIRE(m.size() == kCoefficientMeasureNames.size());
  const std::vector<std::string> expected = {"true_value",
                                             "n",
                                             "mean",
                                             "bias",
                                             "rel_bias",
                                             "emp_se",
                                             "model_se",
                                             "model_se_rel_error",
                                             "rmse",
                                             "coverage",
                                             "power",
                                             "power_wilson_low",
                                             "power_wilson_high",
                                             "nonconverged",
                                             "singular",
                                             "not_estimable",
                                             "power_all",
                                             "coverage_be"};
  for (std::size_t i = 0; i < m.size(); ++i) {
    CHECK(m[i].name == expected[i]);
    CHECK(m[i].name == kCoefficientMeasureNames[i]);
  }
}

TEST_CASE("score_coefficient on the fixed table matches hand-computed values", "[scoring]") {
  // Used: reps 0 1 3 5 6 7, estimates 0.52 0.31 0.47 0.28 0.55 0.41 (n = 6), se 0.10 0.12 0.09
  // 0.13 0.11 0.10. The literals below were computed with 40-digit arithmetic:
  //   mean = 2.54 / 6 = 0.42333...,  S^2 = 0.061133... / 5,  MCSE(mean) = sqrt(S^2 / 6)
  //   mean se^2 = 0.0715 / 6,  model_se = sqrt(0.0715 / 6)
  //   MSE = sum (est - 0.5)^2 / 6 = 0.0964 / 6
  const auto m = score_coefficient(table(), 0.5, 0.05);
  CHECK(value_of(m, "true_value") == 0.5);
  CHECK(std::isnan(mcse_of(m, "true_value")));
  CHECK(value_of(m, "n") == 6.0);
  CHECK(std::isnan(mcse_of(m, "n")));

  CHECK(close(value_of(m, "mean"), 0.4233333333333333333));
  CHECK(close(mcse_of(m, "mean"), 0.04514175204594719513));
  CHECK(close(value_of(m, "bias"), -0.07666666666666666667));
  CHECK(close(mcse_of(m, "bias"), 0.04514175204594719513));
  CHECK(close(value_of(m, "rel_bias"), -0.1533333333333333333));
  CHECK(close(mcse_of(m, "rel_bias"), 0.09028350409189439027));
  CHECK(close(value_of(m, "emp_se"), 0.1105742586078091987));
  CHECK(close(mcse_of(m, "emp_se"), 0.03496665077851561503));
  CHECK(close(value_of(m, "model_se"), 0.1091634859587520990));
  CHECK(close(mcse_of(m, "model_se"), 0.006084965614266569280));
  // Percent: model SE is 1.28% below the empirical SE.
  CHECK(close(value_of(m, "model_se_rel_error"), -1.275859921485799836));
  CHECK(close(mcse_of(m, "model_se_rel_error"), 31.70061878062113226));
  CHECK(close(value_of(m, "rmse"), 0.1267543556122102917));
  CHECK(close(mcse_of(m, "rmse"), 0.03354699847230287699));

  // Coverage 5 of 6 (rep 5 misses, rep 7 covers at its upper bound); power 3 of 6 (p = 0.05 is not
  // below alpha = 0.05; rep 4's p = 0.001 is excluded with its non-converged fit).
  CHECK(close(value_of(m, "coverage"), 5.0 / 6.0));
  CHECK(close(mcse_of(m, "coverage"), 0.1521451548625461426));
  CHECK(close(value_of(m, "power"), 0.5));
  CHECK(close(mcse_of(m, "power"), std::sqrt(0.25 / 6.0)));
  CHECK(close(value_of(m, "power_wilson_low"), 0.1876163064826505205));
  CHECK(close(value_of(m, "power_wilson_high"), 0.8123836935173494795));
  CHECK(std::isnan(mcse_of(m, "power_wilson_low")));
  CHECK(std::isnan(mcse_of(m, "power_wilson_high")));

  // Counts over all eight replications.
  CHECK(value_of(m, "nonconverged") == 1.0);
  CHECK(value_of(m, "singular") == 2.0);
  CHECK(std::isnan(mcse_of(m, "nonconverged")));
  CHECK(std::isnan(mcse_of(m, "singular")));

  // Rep 2 converged without an estimate: not estimable. Power over every converged fit counts it
  // as a non-rejection: 3 of 7.
  CHECK(value_of(m, "not_estimable") == 1.0);
  CHECK(std::isnan(mcse_of(m, "not_estimable")));
  CHECK(close(value_of(m, "power_all"), 3.0 / 7.0));
  CHECK(close(mcse_of(m, "power_all"), std::sqrt(3.0 / 7.0 * 4.0 / 7.0 / 7.0)));
  // Bias-eliminated coverage: every interval holds the mean estimate 2.54 / 6 = 0.42333 (rep 5's
  // [0.03, 0.49] misses theta = 0.5 but not the mean).
  CHECK(value_of(m, "coverage_be") == 1.0);
  CHECK(mcse_of(m, "coverage_be") == 0.0);
}

TEST_CASE("bias-eliminated coverage counts intervals around the mean estimate", "[scoring]") {
  CoefficientSample s = table();
  s.ci_high[1] = 0.40;  // rep 1 now ends below the mean 0.42333 (and below theta)
  const auto m = score_coefficient(s, 0.5, 0.05);
  CHECK(close(value_of(m, "coverage_be"), 5.0 / 6.0));
  CHECK(close(value_of(m, "coverage"), 4.0 / 6.0));
  // With every fit estimable, power_all equals power.
  CoefficientSample all = table();
  all.converged[2] = 0;
  const auto a = score_coefficient(all, 0.5, 0.05);
  CHECK(value_of(a, "not_estimable") == 0.0);
  CHECK(value_of(a, "power_all") == value_of(a, "power"));
}

TEST_CASE("score_coefficient agrees with an independent one-pass calculation", "[scoring]") {
  // Same table, recomputed here from raw power sums (sum x, sum x^2), a different algorithm
  // from the implementation's two-pass one.
  const double theta = 0.5;
  const std::vector<double> est = {0.52, 0.31, 0.47, 0.28, 0.55, 0.41};
  const std::vector<double> se = {0.10, 0.12, 0.09, 0.13, 0.11, 0.10};
  const double n = 6.0;
  double s1 = 0, s2 = 0, v1 = 0, v2 = 0, q1 = 0, q2 = 0;
  for (std::size_t i = 0; i < est.size(); ++i) {
    s1 += est[i];
    s2 += est[i] * est[i];
    const double v = se[i] * se[i];
    v1 += v;
    v2 += v * v;
    const double q = (est[i] - theta) * (est[i] - theta);
    q1 += q;
    q2 += q * q;
  }
  const double mean = s1 / n;
  const double S2 = (s2 - n * mean * mean) / (n - 1);
  const double mv = v1 / n;
  const double var_v = (v2 - n * mv * mv) / (n - 1);
  const double mse = q1 / n;
  const double var_q = (q2 - n * mse * mse) / (n - 1);

  const auto m = score_coefficient(table(), theta, 0.05);
  // Loose to 1e-10 here: the power-sum variances lose a few digits to cancellation.
  auto near = [](double a, double b) { return std::fabs(a - b) <= 1e-10 * std::fabs(b); };
  CHECK(near(value_of(m, "mean"), mean));
  CHECK(near(mcse_of(m, "mean"), std::sqrt(S2 / n)));
  CHECK(near(value_of(m, "emp_se"), std::sqrt(S2)));
  CHECK(near(mcse_of(m, "emp_se"), std::sqrt(S2) / std::sqrt(2 * (n - 1))));
  CHECK(near(value_of(m, "model_se"), std::sqrt(mv)));
  CHECK(near(mcse_of(m, "model_se"), std::sqrt(var_v / (4 * n * mv))));
  const double ratio = std::sqrt(mv) / std::sqrt(S2);
  CHECK(near(value_of(m, "model_se_rel_error"), 100 * (ratio - 1)));
  CHECK(near(mcse_of(m, "model_se_rel_error"), 100 * ratio * std::sqrt(var_v / (4 * n * mv * mv) + 1 / (2 * (n - 1)))));
  // RMSE MCSE via the MSE's MCSE (Morris) and the delta method.
  const double mse_mcse = std::sqrt(var_q / n);
  CHECK(near(value_of(m, "rmse"), std::sqrt(mse)));
  CHECK(near(mcse_of(m, "rmse"), mse_mcse / (2 * std::sqrt(mse))));
}

TEST_CASE("score_coefficient with true value 0: relative bias undefined, power is the type I error", "[scoring]") {
  const auto m = score_coefficient(table(), 0.0, 0.05);
  CHECK(value_of(m, "true_value") == 0.0);
  CHECK(std::isnan(value_of(m, "rel_bias")));
  CHECK(std::isnan(mcse_of(m, "rel_bias")));
  CHECK(close(value_of(m, "bias"), 0.4233333333333333333));
  CHECK(close(mcse_of(m, "bias"), 0.04514175204594719513));
  // No interval contains 0: coverage 0 with MCSE 0.
  CHECK(value_of(m, "coverage") == 0.0);
  CHECK(mcse_of(m, "coverage") == 0.0);
  CHECK(close(value_of(m, "power"), 0.5));
  // RMSE = sqrt(sum est^2 / 6) = sqrt(1.1364 / 6).
  CHECK(close(value_of(m, "rmse"), std::sqrt(1.1364 / 6.0)));
}

TEST_CASE("score_coefficient with every fit failed gives NaN measures and the counts", "[scoring]") {
  CoefficientSample s = table();
  s.converged.assign(8, 0);
  const auto m = score_coefficient(s, 0.5, 0.05);
  REQUIRE(m.size() == kCoefficientMeasureNames.size());
  CHECK(value_of(m, "true_value") == 0.5);
  CHECK(value_of(m, "n") == 0.0);
  for (const char* name : {"mean", "bias", "rel_bias", "emp_se", "model_se", "model_se_rel_error", "rmse", "coverage",
                           "power", "power_wilson_low", "power_wilson_high"}) {
    INFO(name);
    CHECK(std::isnan(value_of(m, name)));
    CHECK(std::isnan(mcse_of(m, name)));
  }
  CHECK(value_of(m, "nonconverged") == 8.0);
  CHECK(value_of(m, "singular") == 2.0);

  // No replications at all.
  const auto e = score_coefficient(CoefficientSample{}, 0.0, 0.05);
  REQUIRE(e.size() == kCoefficientMeasureNames.size());
  CHECK(value_of(e, "n") == 0.0);
  CHECK(std::isnan(value_of(e, "mean")));
  CHECK(std::isnan(value_of(e, "power")));
  CHECK(value_of(e, "nonconverged") == 0.0);
  CHECK(value_of(e, "singular") == 0.0);

  // All estimates NaN although "converged".
  CoefficientSample nan;
  nan.estimate.assign(3, kNaN);
  nan.converged.assign(3, 1);
  const auto z = score_coefficient(nan, 0.5, 0.05);
  CHECK(value_of(z, "n") == 0.0);
  CHECK(std::isnan(value_of(z, "rmse")));
  CHECK(value_of(z, "nonconverged") == 0.0);
}

TEST_CASE("score_coefficient with a single usable replication", "[scoring]") {
  CoefficientSample s;
  s.estimate = {0.7};
  s.se = {0.2};
  s.ci_low = {0.3};
  s.ci_high = {1.1};
  s.p = {0.001};
  s.converged = {1};
  s.singular = {0};
  const auto m = score_coefficient(s, 0.5, 0.05);
  CHECK(value_of(m, "n") == 1.0);
  CHECK(close(value_of(m, "mean"), 0.7));
  CHECK(std::isnan(mcse_of(m, "mean")));  // S^2 needs n >= 2
  CHECK(std::isnan(value_of(m, "emp_se")));
  CHECK(close(value_of(m, "model_se"), 0.2));
  CHECK(std::isnan(mcse_of(m, "model_se")));
  CHECK(std::isnan(value_of(m, "model_se_rel_error")));
  CHECK(close(value_of(m, "rmse"), 0.2));
  CHECK(std::isnan(mcse_of(m, "rmse")));
  CHECK(value_of(m, "coverage") == 1.0);
  CHECK(value_of(m, "power") == 1.0);
  CHECK(mcse_of(m, "power") == 0.0);
}

TEST_CASE("measures needing se, CI or p skip used replications where those are NaN", "[scoring]") {
  CoefficientSample s;
  s.estimate = {1.0, 2.0, 3.0};
  s.se = {0.5, kNaN, 0.5};
  s.ci_low = {0.0, 1.0, kNaN};
  s.ci_high = {3.0, 3.0, 4.0};
  s.p = {0.01, kNaN, 0.5};
  s.converged = {1, 1, 1};
  s.singular = {0, 0, 0};
  const auto m = score_coefficient(s, 2.5, 0.05);
  CHECK(value_of(m, "n") == 3.0);
  CHECK(close(value_of(m, "mean"), 2.0));
  CHECK(close(value_of(m, "model_se"), 0.5));  // from reps 0 and 2
  CHECK(mcse_of(m, "model_se") == 0.0);        // identical se: Var(se^2) = 0
  CHECK(close(value_of(m, "coverage"), 1.0));  // reps 0 and 1: both cover 2.5
  CHECK(close(value_of(m, "power"), 0.5));     // reps 0 and 2
  CHECK(close(mcse_of(m, "power"), std::sqrt(0.25 / 2.0)));
  // Relative error: model SE 0.5 against emp SE 1; the Var(se^2) term is 0, so the MCSE is
  // 100 * 0.5 * sqrt(1 / (2 * 2)) = 25 (percent).
  CHECK(close(value_of(m, "model_se_rel_error"), -50.0));
  CHECK(close(mcse_of(m, "model_se_rel_error"), 25.0));
}

TEST_CASE("score_coefficient: optional vectors may be empty, mismatched lengths throw", "[scoring]") {
  CoefficientSample s;
  s.estimate = {1.0, 2.0, 3.0, 4.0};
  const auto m = score_coefficient(s, 2.0, 0.05);
  CHECK(value_of(m, "n") == 4.0);  // empty converged: all converged
  CHECK(close(value_of(m, "mean"), 2.5));
  CHECK(close(value_of(m, "bias"), 0.5));
  CHECK(close(value_of(m, "rel_bias"), 0.25));
  CHECK(std::isnan(value_of(m, "model_se")));
  CHECK(std::isnan(value_of(m, "coverage")));
  CHECK(std::isnan(value_of(m, "power")));
  CHECK(value_of(m, "nonconverged") == 0.0);
  CHECK(value_of(m, "singular") == 0.0);

  s.se = {0.1, 0.2};
  CHECK_THROWS_AS(score_coefficient(s, 2.0, 0.05), std::invalid_argument);
  s.se.clear();
  s.converged = {1, 1, 1};
  CHECK_THROWS_AS(score_coefficient(s, 2.0, 0.05), std::invalid_argument);
}

TEST_CASE("wilson_interval matches known values", "[scoring]") {
  // 8 of 10 at 95%: [0.4902, 0.9433] (e.g. Newcombe 1998; 40-digit values below).
  const WilsonInterval w = wilson_interval(8, 10);
  CHECK(close(w.low, 0.4901624715366417400));
  CHECK(close(w.high, 0.9433178485456247372));
  CHECK(std::fabs(w.low - 0.4902) < 5e-5);
  CHECK(std::fabs(w.high - 0.9433) < 5e-5);
  // 0 of 10: lower bound 0, upper z^2 / (10 + z^2).
  const WilsonInterval z = wilson_interval(0, 10);
  CHECK(std::fabs(z.low) < 1e-15);
  CHECK(close(z.high, kZ95 * kZ95 / (10 + kZ95 * kZ95)));
  const WilsonInterval none = wilson_interval(0, 0);
  CHECK(std::isnan(none.low));
  CHECK(std::isnan(none.high));
}

TEST_CASE("mean_measure ignores NaN and gives sd / sqrt(n)", "[scoring]") {
  // Non-NaN values 0.8 0.6 0.9 0.7: mean 0.75, deviations +-0.05, +-0.15, sum of squares 0.05,
  // sd = sqrt(0.05 / 3), MCSE = sd / 2.
  const Measure m = mean_measure("sensitivity", {0.8, kNaN, 0.6, 0.9, kNaN, 0.7});
  CHECK(m.name == "sensitivity");
  CHECK(close(m.value, 0.75));
  CHECK(close(m.mcse, std::sqrt(0.05 / 3.0) / 2.0));

  const Measure none = mean_measure("kappa", {kNaN, kNaN});
  CHECK(none.name == "kappa");
  CHECK(std::isnan(none.value));
  CHECK(std::isnan(none.mcse));
  const Measure empty = mean_measure("ppv", {});
  CHECK(std::isnan(empty.value));
  CHECK(std::isnan(empty.mcse));
  const Measure one = mean_measure("f1", {kNaN, 0.4});
  CHECK(close(one.value, 0.4));
  CHECK(std::isnan(one.mcse));
}
