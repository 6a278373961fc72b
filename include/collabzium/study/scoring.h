#pragma once
// Performance measures of a simulation study with their Monte Carlo standard errors (MCSE),
// after Morris, White & Crowther (2019), "Using simulation studies to evaluate statistical
// methods", Stat Med 38:2074, Table 6. docs/model.md section 5 says what is scored; the README
// ("Summary (CSV)") how it is written. src/scoring.cpp documents every formula next to its code.
//
// Conventions:
// * A replication enters the estimate measures when converged != 0 and its estimate is not NaN
//   ("used" replications; `n` counts them). Measures that also need se, a CI bound or p use the
//   used replications where that quantity is not NaN as well (normally the same set).
// * Every mean and variance is taken in replication order with a two-pass algorithm, so the
//   result depends only on the sample, never on threads or call order.
// * Sample variances have the n - 1 denominator. A measure whose formula is undefined for the
//   data (n = 0, or n = 1 for a variance, a zero divisor) is NaN rather than an error.
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace collabzium {

// One performance measure; mcse is NaN where none is defined (true_value, n, counts, Wilson
// bounds) or where the data do not allow one.
struct Measure {
  std::string name;
  double value;
  double mcse;
  // Proportions (coverage, power): k and m of k / m; NaN for every other measure.
  double successes = std::numeric_limits<double>::quiet_NaN();
  double trials = std::numeric_limits<double>::quiet_NaN();
};

// Per-replication results of one coefficient. estimate has one entry per replication; every other
// vector has the same length, or is empty when the quantity is not available at all (then the
// measures that need it are NaN; empty `converged` means all converged, empty `singular` none).
// NaN where the fit failed or gave no number.
struct CoefficientSample {
  std::vector<double> estimate, se, ci_low, ci_high, p;
  std::vector<std::uint8_t> converged, singular;  // per replication, 1/0
};

// Names of score_coefficient's measures, in its order.
inline constexpr std::array<std::string_view, 18> kCoefficientMeasureNames = {"true_value",
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

// 97.5% quantile of the standard normal distribution (two-sided 95% intervals).
inline constexpr double kZ95 = 1.959963984540054;

// Measures in this order and with these names: true_value, n, mean, bias, rel_bias, emp_se,
// model_se, model_se_rel_error, rmse, coverage, power, power_wilson_low, power_wilson_high,
// nonconverged, singular, not_estimable, power_all, coverage_be.
// * rel_bias = bias / true_value (NaN, mcse NaN, when true_value == 0); a fraction, not percent.
// * model_se = sqrt(mean of se^2) (Morris: root of the mean model variance).
// * model_se_rel_error = 100 (model_se / emp_se - 1): a PERCENTAGE, as in Morris et al.
// * coverage = share of ci_low <= true_value <= ci_high; power = share of p < alpha (the type I
//   error rate when true_value == 0); power_wilson_low/high = 95% Wilson score interval of power.
// * nonconverged = count of converged == 0, singular = count of singular != 0, both over all
//   replications (mcse NaN).
// * not_estimable = count of converged fits whose estimate is NaN (the coefficient could not be
//   estimated, e.g. its column was dropped as rank-deficient because a rater detected no repair);
//   power_all = rejections over every converged fit, the not-estimable ones counted as
//   non-rejections (what a study would see; power over the estimable fits alone overstates it);
//   coverage_be = bias-eliminated coverage (Morris Table 6): share of ci_low <= mean <= ci_high,
//   mean the mean estimate, which tells a biased estimate apart from a wrong SE.
// Throws std::invalid_argument when a non-empty vector's length differs from estimate's.
std::vector<Measure> score_coefficient(const CoefficientSample& sample, double true_value, double alpha);

// Mean of a per-replication quantity (detection sensitivity, prevalence, kappa, ...) ignoring NaN,
// with MCSE sd / sqrt(n) (sample sd, n - 1 denominator; NaN for n = 1); n = 0 gives NaN value.
Measure mean_measure(const std::string& name, const std::vector<double>& values);

// Wilson score interval for `successes` out of `trials` at normal quantile z (default: 95%).
// trials == 0 gives NaN bounds.
struct WilsonInterval {
  double low, high;
};
WilsonInterval wilson_interval(std::size_t successes, std::size_t trials, double z = kZ95);

// The measure called `name` in `measures`, or nullptr.
const Measure* find_measure(const std::vector<Measure>& measures, std::string_view name);

}  // namespace collabzium
