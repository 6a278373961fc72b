// Performance measures and Monte Carlo SEs (Morris, White & Crowther 2019, Stat Med 38:2074,
// Table 6). Notation as in the paper: n_sim = n used replications, theta_hat_i the estimates,
// theta the true value, se_i the model SEs, S^2 = sum (theta_hat_i - mean)^2 / (n - 1).
#include "collabzium/study/scoring.h"

#include "collabzium/numeric.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace collabzium {

namespace {

// Arithmetic mean, NaN for an empty sample.
double mean_of(const std::vector<double>& x) {
  if (x.empty()) return kNaN;
  double s = 0.0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

// Sample variance sum (x_i - mean)^2 / (n - 1) by two passes (numeric.h); NaN for n < 2.
double variance_of(const std::vector<double>& x) {
  return sample_variance([&](auto&& f) {
    for (double v : x) f(v);
  });
}

// a / b, NaN unless b is finite and positive (MCSE divisors).
double divide_positive(double a, double b) { return (std::isfinite(b) && b > 0.0) ? a / b : kNaN; }

// Proportion k / m with binomial MCSE sqrt(p (1 - p) / m) (Morris Table 6, coverage and power).
Measure proportion(const std::string& name, std::size_t k, std::size_t m) {
  if (m == 0) return {name, kNaN, kNaN, 0.0, 0.0};
  const double p = static_cast<double>(k) / static_cast<double>(m);
  return {name, p, std::sqrt(p * (1.0 - p) / static_cast<double>(m)), static_cast<double>(k), static_cast<double>(m)};
}

void check_length(const char* what, std::size_t size, std::size_t n) {
  if (size != 0 && size != n)
    throw std::invalid_argument(std::string("score_coefficient: ") + what + " has " + std::to_string(size) +
                                " entries, estimate has " + std::to_string(n));
}

// The replications a coefficient's measures use, gathered in one pass: used ones are converged
// with a (non-NaN) estimate; per-measure subsets additionally need the measure's own inputs.
struct UsedReplications {
  std::vector<double> est, var_model;  // theta_hat_i; se_i^2
  std::size_t covered = 0, with_ci = 0, rejected = 0, with_p = 0, not_estimable = 0;
  std::size_t nonconverged = 0, singular = 0;  // counts over all replications
};

UsedReplications gather(const CoefficientSample& s, double theta, double alpha) {
  UsedReplications u;
  const std::size_t total = s.estimate.size();
  // Reserved up front: growing by doubling would briefly hold three columns' worth per vector.
  u.est.reserve(total);
  u.var_model.reserve(total);
  for (std::size_t i = 0; i < total; ++i) {
    if (!s.converged.empty() && s.converged[i] == 0) ++u.nonconverged;
    if (!s.singular.empty() && s.singular[i] != 0) ++u.singular;
  }
  for (std::size_t i = 0; i < total; ++i) {
    if (!s.converged.empty() && s.converged[i] == 0) continue;
    if (std::isnan(s.estimate[i])) {
      ++u.not_estimable;
      continue;
    }
    u.est.push_back(s.estimate[i]);
    if (!s.se.empty() && !std::isnan(s.se[i])) u.var_model.push_back(s.se[i] * s.se[i]);
    if (!s.ci_low.empty() && !s.ci_high.empty() && !std::isnan(s.ci_low[i]) && !std::isnan(s.ci_high[i])) {
      ++u.with_ci;
      if (s.ci_low[i] <= theta && theta <= s.ci_high[i]) ++u.covered;
    }
    if (!s.p.empty() && !std::isnan(s.p[i])) {
      ++u.with_p;
      if (s.p[i] < alpha) ++u.rejected;
    }
  }
  return u;
}

}  // namespace

WilsonInterval wilson_interval(std::size_t successes, std::size_t trials, double z) {
  if (trials == 0) return {kNaN, kNaN};
  // Wilson score interval: (p + z^2/(2m) -/+ z sqrt(p(1-p)/m + z^2/(4m^2))) / (1 + z^2/m).
  const double m = static_cast<double>(trials);
  const double p = static_cast<double>(successes) / m;
  const double z2 = z * z;
  const double centre = p + z2 / (2.0 * m);
  const double half = z * std::sqrt(p * (1.0 - p) / m + z2 / (4.0 * m * m));
  const double denom = 1.0 + z2 / m;
  return {(centre - half) / denom, (centre + half) / denom};
}

std::vector<Measure> score_coefficient(const CoefficientSample& s, double theta, double alpha) {
  const std::size_t total = s.estimate.size();
  check_length("se", s.se.size(), total);
  check_length("ci_low", s.ci_low.size(), total);
  check_length("ci_high", s.ci_high.size(), total);
  check_length("p", s.p.size(), total);
  check_length("converged", s.converged.size(), total);
  check_length("singular", s.singular.size(), total);

  const UsedReplications u = gather(s, theta, alpha);
  const std::vector<double>& est = u.est;
  const std::vector<double>& var_model = u.var_model;
  const std::size_t covered = u.covered, with_ci = u.with_ci, rejected = u.rejected, with_p = u.with_p,
                    not_estimable = u.not_estimable, nonconverged = u.nonconverged, singular = u.singular;
  const std::size_t n = est.size();
  const double nd = static_cast<double>(n);

  std::vector<Measure> out;
  out.reserve(kCoefficientMeasureNames.size());
  out.push_back({"true_value", theta, kNaN});
  out.push_back({"n", nd, kNaN});

  // Mean: theta_bar = sum theta_hat_i / n; MCSE sqrt(S^2 / n).
  const double mean = mean_of(est);
  const double s2 = variance_of(est);  // S^2, n - 1 denominator (NaN for n < 2)
  const double mean_mcse = std::sqrt(s2 / nd);
  out.push_back({"mean", mean, mean_mcse});

  // Bias: theta_bar - theta; MCSE sqrt(S^2 / n), the same as the mean's.
  const double bias = mean - theta;
  out.push_back({"bias", bias, mean_mcse});

  // Relative bias: bias / theta (a fraction); MCSE = bias MCSE / |theta|. Undefined for theta = 0.
  if (theta != 0.0) out.push_back({"rel_bias", bias / theta, mean_mcse / std::fabs(theta)});
  else out.push_back({"rel_bias", kNaN, kNaN});

  // Empirical SE: sqrt(S^2); MCSE emp_se / sqrt(2 (n - 1)).
  const double emp_se = std::sqrt(s2);
  const double emp_se_mcse = n >= 2 ? emp_se / std::sqrt(2.0 * (nd - 1.0)) : kNaN;
  out.push_back({"emp_se", emp_se, emp_se_mcse});

  // Average model SE: sqrt(mean se_i^2) (root of the mean model variance, Morris Table 6);
  // MCSE sqrt(Var(se^2) / (4 n mean(se^2))), Var(se^2) the sample variance of se_i^2 (n - 1)
  // and n the number of replications with a model SE.
  const double nv = static_cast<double>(var_model.size());
  const double mean_var = mean_of(var_model);
  const double var_var = variance_of(var_model);  // Var(se^2)
  const double model_se = std::sqrt(mean_var);
  out.push_back({"model_se", model_se, std::sqrt(divide_positive(var_var, 4.0 * nv * mean_var))});

  // Relative error in model SE, in PERCENT: 100 (model_se / emp_se - 1);
  // MCSE 100 (model_se / emp_se) sqrt(Var(se^2) / (4 n model_se^4) + 1 / (2 (n - 1))), with n the
  // number of replications with a model SE in the first term and of estimates in the second.
  if (std::isfinite(emp_se) && emp_se > 0.0 && std::isfinite(model_se)) {
    const double ratio = model_se / emp_se;
    const double term1 = divide_positive(var_var, 4.0 * nv * mean_var * mean_var);  // model_se^4 = mean_var^2
    const double mcse = 100.0 * ratio * std::sqrt(term1 + 1.0 / (2.0 * (nd - 1.0)));
    out.push_back({"model_se_rel_error", 100.0 * (ratio - 1.0), mcse});
  } else {
    out.push_back({"model_se_rel_error", kNaN, kNaN});
  }

  // RMSE: sqrt(MSE), MSE = sum (theta_hat_i - theta)^2 / n. Morris give the MSE's MCSE as
  // sqrt(sum ((theta_hat_i - theta)^2 - MSE)^2 / (n (n - 1))) = sqrt(Var(sq) / n), sq_i the squared
  // errors; by the delta method (d sqrt(x) = dx / (2 sqrt(x))) the RMSE's MCSE is
  // sqrt(Var(sq)) / (2 rmse sqrt(n)). NaN when rmse = 0 (delta method undefined) or n < 2.
  std::vector<double> sq;
  sq.reserve(n);
  for (double e : est) sq.push_back((e - theta) * (e - theta));
  const double mse = mean_of(sq);
  const double rmse = std::sqrt(mse);
  const double var_sq = variance_of(sq);
  out.push_back({"rmse", rmse, divide_positive(std::sqrt(var_sq), 2.0 * rmse * std::sqrt(nd))});

  // Coverage: share of ci_low <= theta <= ci_high; MCSE sqrt(p (1 - p) / n).
  out.push_back(proportion("coverage", covered, with_ci));

  // Power (type I error when theta = 0): share with p < alpha; MCSE sqrt(p (1 - p) / n);
  // 95% Wilson score interval (bounds without MCSE).
  out.push_back(proportion("power", rejected, with_p));
  const WilsonInterval w = wilson_interval(rejected, with_p);
  out.push_back({"power_wilson_low", w.low, kNaN});
  out.push_back({"power_wilson_high", w.high, kNaN});

  out.push_back({"nonconverged", static_cast<double>(nonconverged), kNaN});
  out.push_back({"singular", static_cast<double>(singular), kNaN});

  // Not estimable: converged fits without this coefficient (a count, no MCSE). Power over all
  // converged fits counts them as non-rejections; binomial MCSE as for power.
  out.push_back({"not_estimable", static_cast<double>(not_estimable), kNaN});
  out.push_back(proportion("power_all", rejected, with_p + not_estimable));

  // Bias-eliminated coverage: share of ci_low <= theta_bar <= ci_high over the replications with
  // a CI; MCSE sqrt(p (1 - p) / n).
  std::size_t covered_be = 0;
  for (std::size_t i = 0; i < total; ++i) {
    if (!s.converged.empty() && s.converged[i] == 0) continue;
    if (std::isnan(s.estimate[i]) || s.ci_low.empty() || s.ci_high.empty()) continue;
    if (std::isnan(s.ci_low[i]) || std::isnan(s.ci_high[i])) continue;
    if (s.ci_low[i] <= mean && mean <= s.ci_high[i]) ++covered_be;
  }
  out.push_back(proportion("coverage_be", covered_be, with_ci));
  return out;
}

Measure mean_measure(const std::string& name, const std::vector<double>& values) {
  std::vector<double> x;
  x.reserve(values.size());
  for (double v : values)
    if (!std::isnan(v)) x.push_back(v);
  // Mean of the non-NaN values; MCSE sd / sqrt(n), sd the sample sd (n - 1).
  const double m = mean_of(x);
  const double sd = std::sqrt(variance_of(x));
  return {name, m, sd / std::sqrt(static_cast<double>(x.size()))};
}

const Measure* find_measure(const std::vector<Measure>& measures, std::string_view name) {
  for (const Measure& m : measures)
    if (m.name == name) return &m;
  return nullptr;
}

}  // namespace collabzium
