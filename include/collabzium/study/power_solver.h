#pragma once
// Sample-size solving (the `solve` verb): the smallest value of an integer design key at which the
// rejection rate of one coefficient reaches a target power.
//
// Algorithm (docs/calibrate_solve.md):
// 1. simulate `replications` replications at up to 5 geometrically spaced values across [lo, hi];
// 2. fit probit(power) = a + b ln(value) by binomial maximum likelihood (IRLS, Fisher information,
//    dispersion max(1, Pearson X^2 / (k - 2))), locally: points within a factor 3 of the current
//    crossing, at least the 3 nearest distinct values;
// 3. the crossing x* = exp((z_P - a) / b), its 95% interval by the delta method on ln x*;
// 4. while the interval's relative half-width exceeds `precision` (at most `max_rounds` rounds):
//    add `replications` at round(x*) and half as many at round(x*/1.25) and round(1.25 x*), refit;
// 5. the answer is ceil(x*), the interval [floor(low), ceil(high)], both within [lo, hi]; an
//    independent run of `verify_replications` at the answer (seed derive_seed(seed, kVerifySeedTag))
//    reports its power and MCSE.
// Every batch of replications has its own seed derive_seed(seed, batch number), so all points are
// independent binomial samples and batches at the same value pool.
#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "collabzium/model/cohort.h"
#include "collabzium/config/scenario.h"

namespace collabzium {

inline constexpr std::uint64_t kVerifySeedTag = 0x766572696679ULL;  // "verify"

// The design keys solve can vary.
const std::vector<std::string>& solvable_keys();

// --target MODEL.RATER.TERM: MODEL an analysis model kind; RATER truth for a truth-fitted kind (the
// oracle), patient or therapist otherwise.
struct PowerTarget {
  ModelKind model = ModelKind::Lagged;
  RaterId rater = RaterId::Patient;
  std::string term;
  std::string name() const;  // MODEL.RATER.TERM
};
PowerTarget parse_power_target(const std::string& text);  // throws InputError

// One design value with its pooled replications.
struct PowerPoint {
  std::int64_t value = 0;
  double rejections = 0;  // replications with p < alpha
  double trials = 0;      // replications with a p value
  double power() const { return trials > 0 ? rejections / trials : 0.0; }
  double mcse() const;
};

// probit(power) = a + b ln(value).
struct PowerCurve {
  bool ok = false;  // false when the fit failed (too few distinct values, no slope)
  double a = 0, b = 0;
  double var_a = 0, var_b = 0, cov_ab = 0;  // already multiplied by the dispersion
  double dispersion = 1;
  double predict(double value) const;          // fitted power
  double crossing(double power) const;         // x* with predict(x*) = power
  double crossing_log_sd(double power) const;  // delta-method sd of ln x*
};
PowerCurve fit_power_curve(const std::vector<PowerPoint>& points);

struct SolveSettings {
  std::int64_t replications = 200;          // per point and batch
  std::int64_t verify_replications = 1000;  // the verification run
  std::uint64_t seed = 20251126;
  int threads = 0;
  int max_rounds = 6;
  double precision = 0.10;  // stop when the 95% interval is within +-10% of x*
};

struct SolveResult {
  std::string key;
  std::int64_t value = 0, ci_low = 0, ci_high = 0;
  double crossing = 0;               // x*, before rounding up
  double power = 0, power_mcse = 0;  // the verification run
  std::int64_t verify_replications = 0;
  std::uint64_t verify_seed = 0;
  std::vector<PowerPoint> points;
  PowerCurve curve;
  int rounds = 0;
  bool precise = false;  // the interval reached the requested precision
};

// P not reached within [lo, hi] (or already reached at lo): exit status 1, with the points printed.
class PowerNotReached : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every input check is here (the command line only parses): InputError for a bad key, power, range
// or settings (named by their flags) and a target without a power row; PowerNotReached as above.
SolveResult solve_power(const Scenario& scenario, const std::string& key, const PowerTarget& target, double power,
                        std::int64_t lo, std::int64_t hi, const SolveSettings& settings, std::ostream& log);

// The default range of a key: patients [20, 2000], therapists [2, 200], sessions.mean [3, 60]
// (sessions clipped to [design.sessions.min, design.sessions.max]).
std::pair<std::int64_t, std::int64_t> default_solve_range(const Scenario& scenario, const std::string& key);

void write_solve_json(const SolveResult& result, const PowerTarget& target, double power, std::ostream& out);

}  // namespace collabzium
