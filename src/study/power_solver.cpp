#include "collabzium/study/power_solver.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <ostream>
#include <set>

#include "collabzium/analysis/analysis.h"
#include "collabzium/error.h"
#include "collabzium/format.h"
#include "collabzium/io/json.h"
#include "collabzium/model/random.h"
#include "collabzium/numeric.h"
#include "collabzium/study/runner.h"
#include "collabzium/study/search.h"
#include "collabzium/study/summary.h"

namespace collabzium {

namespace {

constexpr double kZ = 1.959963984540054;  // 95% intervals

// The solver's numbers (docs/calibrate_solve.md, solve).
// Replications of the first run, which only checks that the target has a rejection rate: the fewest
// the settings accept (--replications >= 2), so the check costs almost nothing.
constexpr std::int64_t kProbeReplications = 2;
// Values simulated first across [lo, hi], geometrically spaced: enough for a two-parameter curve with
// a lack-of-fit margin, few enough that most replications go to the refinement near the crossing.
constexpr std::int64_t kInitialValues = 5;
// Bracketing: the power at an end of the range differs from the target by more than this many MCSEs
// before the target is declared out of reach (a one-sided normal tail of about 2%).
constexpr double kOutOfRangeMcse = 2;
// Each refinement round adds points at x* / kFlankFactor and x* * kFlankFactor beside x*, with
// half of the replications (at least kMinFlankReplications): they keep the local slope estimated.
constexpr double kFlankFactor = 1.25;
constexpr std::int64_t kFlankReplicationsDivisor = 2;
constexpr std::int64_t kMinFlankReplications = 2;
// The local fit uses the points within this factor of the crossing, and at least the
// kMinLocalPoints nearest: far from the crossing power flattens at alpha and 1, which a
// two-parameter curve cannot follow.
constexpr double kLocalFactor = 3.0;
constexpr std::size_t kMinLocalPoints = 3;
// Slack on the local distance so a value exactly kLocalFactor away is kept despite rounding of logs.
constexpr double kLocalSlack = 1e-12;
// Local refits after the fit on all points: the second recentres on the first one's crossing.
constexpr int kLocalPasses = 2;
// The answer is ceil(x*); a crossing within this of an integer (rounding in exp/log) is that integer.
constexpr double kCeilSlack = 1e-9;

std::string show(double x, int digits = 4) { return format_significant(x, digits); }

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s;
}

Scenario with_value(Scenario s, const std::string& key, std::int64_t v) {
  if (key == "design.sessions.mean") set_key(s, key, KeyValue(static_cast<double>(v)), "--vary");
  else set_key(s, key, KeyValue(v), "--vary");
  return s;
}

const SummaryRow* power_row(const std::vector<SummaryRow>& rows, const PowerTarget& t) {
  return find_summary_row(rows, std::string(name(t.model)), std::string(name(t.rater)), t.term, "power");
}

// The rejections and trials of the target's power row; nullopt when the row is missing.
std::optional<PowerPoint> point_of(const std::vector<SummaryRow>& rows, const PowerTarget& t, std::int64_t value) {
  const SummaryRow* p = power_row(rows, t);
  if (!p) return std::nullopt;
  PowerPoint pt;
  pt.value = value;
  pt.trials = std::isfinite(p->trials) ? p->trials : 0;
  pt.rejections = std::isfinite(p->successes) ? p->successes : 0;
  return pt;
}

// The points used for a local fit around x: within a factor 3, and at least the 3 nearest values.
std::vector<PowerPoint> local_points(const std::vector<PowerPoint>& points, double x) {
  std::vector<std::pair<double, std::size_t>> by_distance;
  for (std::size_t i = 0; i < points.size(); ++i)
    by_distance.emplace_back(std::fabs(std::log(static_cast<double>(points[i].value)) - std::log(x)), i);
  std::sort(by_distance.begin(), by_distance.end());
  std::vector<PowerPoint> out;
  for (std::size_t k = 0; k < by_distance.size(); ++k)
    if (k < kMinLocalPoints || by_distance[k].first <= std::log(kLocalFactor) + kLocalSlack)
      out.push_back(points[by_distance[k].second]);
  return out;
}

// The fit used for the answer: all points first, then twice a local fit around the crossing.
PowerCurve fit_around_crossing(const std::vector<PowerPoint>& points, double power, std::int64_t lo, std::int64_t hi) {
  PowerCurve curve = fit_power_curve(points);
  for (int pass = 0; pass < kLocalPasses && curve.ok; ++pass) {
    const double x = std::clamp(curve.crossing(power), static_cast<double>(lo), static_cast<double>(hi));
    PowerCurve local = fit_power_curve(local_points(points, x));
    if (!local.ok) break;
    curve = local;
  }
  return curve;
}

void print_points(const std::vector<PowerPoint>& points, const PowerCurve& curve, const std::string& key,
                  std::ostream& log) {
  char line[256];
  std::snprintf(line, sizeof line, "  %14s %12s %8s %8s %8s\n", key.size() <= 14 ? key.c_str() : "value",
                "replications", "power", "mcse", "fitted");
  log << line;
  for (const auto& p : points) {
    std::snprintf(line, sizeof line, "  %14lld %12.0f %8.3f %8.3f %8s\n", static_cast<long long>(p.value), p.trials,
                  p.power(), p.mcse(),
                  curve.ok ? show(curve.predict(static_cast<double>(p.value)), 3).c_str() : kMissingText.data());
    log << line;
  }
}

// One solve, in phases: bracketing (initial points across the range), refinement rounds near the
// crossing, the answer with its interval, and the verification run. Every batch of replications has
// its own seed derive_seed(seed, batch number); batches at the same value pool.
class PowerSearch {
 public:
  PowerSearch(const Scenario& work, const std::string& key, const PowerTarget& target, double power, std::int64_t lo,
              std::int64_t hi, const SolveSettings& settings, std::ostream& log)
      : work_(work), key_(key), target_(target), power_(power), lo_(lo), hi_(hi), settings_(settings), log_(log) {}

  // 1. Up to kInitialValues geometrically spaced values; refuses a power the range does not bracket.
  void bracket() {
    log_ << "solve: smallest " << key_ << " in [" << lo_ << ", " << hi_ << "] with power >= " << show(power_, 4)
         << " for " << target_.name() << "; " << settings_.replications << " replications per point, seed "
         << settings_.seed << "\n";
    const int n0 = static_cast<int>(std::min<std::int64_t>(kInitialValues, hi_ - lo_ + 1));
    for (int i = 0; i < n0; ++i) {
      const double x = static_cast<double>(lo_) *
                       std::pow(static_cast<double>(hi_) / static_cast<double>(lo_), static_cast<double>(i) / (n0 - 1));
      const std::int64_t v = std::clamp<std::int64_t>(std::llround(x), lo_, hi_);
      if (!pooled_.count(v)) simulate(v, settings_.replications);
    }
    curve_ = fit_around_crossing(points(), power_, lo_, hi_);
    log_ << "initial points:\n";
    print_points(points(), curve_, key_, log_);

    const PowerPoint& top = pooled_.at(hi_);
    const PowerPoint& bottom = pooled_.at(lo_);
    if (top.power() + kOutOfRangeMcse * top.mcse() < power_)
      not_reached("is not reached within the range: at " + key_ + " = " + std::to_string(hi_) + " it is " +
                  show(top.power(), 3) + " (MCSE " + show(top.mcse(), 2) + "); widen --range");
    if (bottom.power() - kOutOfRangeMcse * bottom.mcse() > power_)
      not_reached("is already reached at the low end of the range: at " + key_ + " = " + std::to_string(lo_) +
                  " it is " + show(bottom.power(), 3) + " (MCSE " + show(bottom.mcse(), 2) + "); lower --range");
    if (!curve_.ok) fail_fit();
  }

  // 2. Refine near the crossing until the interval is narrow (at most max_rounds rounds).
  void refine(SolveResult& res) {
    while (res.rounds < settings_.max_rounds && !(half_width() <= settings_.precision)) {
      ++res.rounds;
      const double x = std::clamp(curve_.crossing(power_), static_cast<double>(lo_), static_cast<double>(hi_));
      const std::int64_t centre = std::llround(x);
      simulate(centre, settings_.replications);
      const std::int64_t below = std::llround(x / kFlankFactor), above = std::llround(x * kFlankFactor);
      const std::int64_t flank_replications =
          std::max<std::int64_t>(kMinFlankReplications, settings_.replications / kFlankReplicationsDivisor);
      if (std::clamp(below, lo_, hi_) != centre) simulate(below, flank_replications);
      if (std::clamp(above, lo_, hi_) != centre) simulate(above, flank_replications);
      curve_ = fit_around_crossing(points(), power_, lo_, hi_);
      if (!curve_.ok) fail_fit();
      log_ << "round " << res.rounds << ": crossing " << show(curve_.crossing(power_), 5) << ", 95% interval +-"
           << show(100 * half_width(), 3) << "%\n";
    }
    res.precise = half_width() <= settings_.precision;
  }

  // The fitted curve, the points, and the answer ceil(x*) with its interval, clipped to [lo, hi].
  void answer(SolveResult& res) const {
    res.points = points();
    res.curve = curve_;
    log_ << "power curve (probit(power) = " << show(curve_.a, 5) << " + " << show(curve_.b, 5) << " ln " << key_
         << ", fitted near the crossing):\n";
    print_points(res.points, curve_, key_, log_);

    const double xs = curve_.crossing(power_);
    if (xs > static_cast<double>(hi_))
      not_reached("is not reached within the range (the fitted curve crosses it at " + show(xs, 5) + " > " +
                  std::to_string(hi_) + "); widen --range");
    if (xs < static_cast<double>(lo_))
      not_reached("is already reached at the low end of the range (the fitted curve crosses it at " + show(xs, 5) +
                  " < " + std::to_string(lo_) + "); lower --range");
    const double sd = curve_.crossing_log_sd(power_);
    res.crossing = xs;
    res.value = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(xs - kCeilSlack)), lo_, hi_);
    res.ci_low = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor(xs * std::exp(-kZ * sd))), lo_, hi_);
    res.ci_high = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(xs * std::exp(kZ * sd))), lo_, hi_);
  }

  // 3. An independent run at the answer.
  void verify(SolveResult& res) const {
    res.verify_seed = derive_seed(settings_.seed, kVerifySeedTag);
    res.verify_replications = settings_.verify_replications;
    const auto rows = summary_at(with_value(work_, key_, res.value), settings_.verify_replications, res.verify_seed,
                                 settings_.threads);
    const PowerPoint v = *point_of(rows, target_, res.value);
    res.power = v.power();
    res.power_mcse = v.mcse();
  }

 private:
  // Adds a batch of `reps` replications at `value` (clamped to the range) to its pooled point.
  void simulate(std::int64_t value, std::int64_t reps) {
    value = std::clamp(value, lo_, hi_);
    const auto rows =
        summary_at(with_value(work_, key_, value), reps, derive_seed(settings_.seed, ++batch_), settings_.threads);
    const PowerPoint p = *point_of(rows, target_, value);
    PowerPoint& q = pooled_[value];
    q.value = value;
    q.rejections += p.rejections;
    q.trials += p.trials;
  }

  std::vector<PowerPoint> points() const {
    std::vector<PowerPoint> v;
    for (const auto& [value, p] : pooled_) v.push_back(p);
    return v;
  }

  // The relative half-width of the crossing's 95% interval.
  double half_width() const { return std::expm1(kZ * curve_.crossing_log_sd(power_)); }

  [[noreturn]] void not_reached(const std::string& what) const {
    throw PowerNotReached("solve: power " + show(power_, 4) + " for " + target_.name() + " " + what);
  }

  [[noreturn]] void fail_fit() const {
    throw std::runtime_error("solve: the power curve could not be fitted (does power increase with " + key_ + "?)");
  }

  const Scenario& work_;
  const std::string& key_;
  const PowerTarget& target_;
  const double power_;
  const std::int64_t lo_, hi_;
  const SolveSettings& settings_;
  std::ostream& log_;
  std::uint64_t batch_ = 0;                    // batches simulated so far
  std::map<std::int64_t, PowerPoint> pooled_;  // pooled replications by value
  PowerCurve curve_;                           // the current local fit
};

}  // namespace

const std::vector<std::string>& solvable_keys() {
  static const std::vector<std::string> k = {"design.patients", "design.therapists", "design.sessions.mean"};
  return k;
}

std::string PowerTarget::name() const {
  return std::string(collabzium::name(model)) + "." + std::string(collabzium::name(rater)) + "." + term;
}

PowerTarget parse_power_target(const std::string& text) {
  const std::string form = "expected MODEL.RATER.TERM, e.g. lagged.patient.rupture or oracle.truth.repair";
  const auto d1 = text.find('.');
  const auto d2 = d1 == std::string::npos ? d1 : text.find('.', d1 + 1);
  if (d1 == std::string::npos || d2 == std::string::npos || d1 == 0 || d2 == d1 + 1 || d2 + 1 == text.size())
    throw InputError(locate("--target", 0, text, form));
  const std::string model = text.substr(0, d1), rater = text.substr(d1 + 1, d2 - d1 - 1);
  const std::optional<ModelKind> kind = parse<ModelKind>(model);
  if (!kind) {
    std::vector<std::string> names;
    for (const auto& k : model_kinds()) names.emplace_back(k.name);
    throw InputError(locate("--target", 0, text, "unknown model \"" + model + "\", expected one of " + join(names)));
  }
  const std::optional<RaterId> who = parse<RaterId>(rater);
  if (!fitted_for_observers(*kind)) {
    if (who != RaterId::Truth)
      throw InputError(locate("--target", 0, text, "the " + model + " model's rater is truth, got \"" + rater + "\""));
  } else if (!who || (*who == RaterId::Truth && !fitted_for_truth(*kind))) {
    throw InputError(locate("--target", 0, text, "unknown rater \"" + rater + "\", expected patient or therapist"));
  }
  return {*kind, *who, text.substr(d2 + 1)};
}

double PowerPoint::mcse() const {
  if (trials <= 0) return std::numeric_limits<double>::quiet_NaN();
  const double p = power();
  return std::sqrt(p * (1 - p) / trials);
}

double PowerCurve::predict(double value) const { return normal_cdf(a + b * std::log(value)); }

double PowerCurve::crossing(double power) const { return std::exp((normal_quantile(power) - a) / b); }

double PowerCurve::crossing_log_sd(double power) const {
  // ln x* = (z - a) / b; gradient (-1/b, -(z - a)/b^2) = (-1/b, -ln x*/b).
  const double lx = (normal_quantile(power) - a) / b;
  const double ga = -1.0 / b, gb = -lx / b;
  const double v = ga * ga * var_a + 2 * ga * gb * cov_ab + gb * gb * var_b;
  return std::sqrt(std::max(0.0, v));
}

PowerCurve fit_power_curve(const std::vector<PowerPoint>& points) {
  PowerCurve c;
  std::vector<double> l, k, m;
  std::set<std::int64_t> distinct;
  for (const auto& p : points)
    if (p.trials > 0 && p.value > 0) {
      l.push_back(std::log(static_cast<double>(p.value)));
      k.push_back(p.rejections);
      m.push_back(p.trials);
      distinct.insert(p.value);
    }
  if (distinct.size() < 2) return c;
  const std::size_t K = l.size();
  // Weighted least squares on (eta, l) with weights w: returns false when singular.
  auto wls = [&](const std::vector<double>& z, const std::vector<double>& w, double& a, double& b, double& i00,
                 double& i01, double& i11) {
    double s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
    for (std::size_t i = 0; i < K; ++i) {
      s0 += w[i];
      s1 += w[i] * l[i];
      s2 += w[i] * l[i] * l[i];
      t0 += w[i] * z[i];
      t1 += w[i] * l[i] * z[i];
    }
    const double det = s0 * s2 - s1 * s1;
    if (!(det > 1e-12 * std::max(1.0, s0 * s2))) return false;
    a = (s2 * t0 - s1 * t1) / det;
    b = (s0 * t1 - s1 * t0) / det;
    i00 = s2 / det;  // inverse of [[s0, s1], [s1, s2]]
    i01 = -s1 / det;
    i11 = s0 / det;
    return true;
  };
  // Start: empirical probits (continuity-corrected) weighted by trials.
  std::vector<double> z(K), w(K);
  for (std::size_t i = 0; i < K; ++i) {
    const double p = std::clamp(k[i] / m[i], 0.5 / m[i], 1 - 0.5 / m[i]);
    z[i] = normal_quantile(p);
    w[i] = m[i];
  }
  double a = 0, b = 0, i00 = 0, i01 = 0, i11 = 0;
  if (!wls(z, w, a, b, i00, i01, i11)) return c;
  const double a0 = a, b0 = b;
  // Fisher scoring (IRLS) for the binomial likelihood with the probit link. Without a finite
  // maximum (every point at power 0 or 1, separated) it diverges: the continuity-corrected start
  // is used instead.
  bool converged = false, failed = false;
  for (int it = 0; it < 100 && !converged && !failed; ++it) {
    for (std::size_t i = 0; i < K; ++i) {
      const double eta = std::clamp(a + b * l[i], -8.0, 8.0);
      const double mu = std::clamp(normal_cdf(eta), 1e-12, 1 - 1e-12);
      const double phi = std::max(normal_pdf(eta), 1e-300);
      w[i] = m[i] * phi * phi / (mu * (1 - mu));
      z[i] = eta + (k[i] / m[i] - mu) / phi;
    }
    double na, nb;
    if (!wls(z, w, na, nb, i00, i01, i11) || !std::isfinite(na) || !std::isfinite(nb) || std::fabs(nb) > 1e3) {
      failed = true;
      break;
    }
    converged = std::fabs(na - a) < 1e-10 * (1 + std::fabs(a)) && std::fabs(nb - b) < 1e-10 * (1 + std::fabs(b));
    a = na;
    b = nb;
  }
  if (!converged) {
    a = a0;
    b = b0;
  }
  // Information at the estimate, and the Pearson dispersion (only ever inflating the variances).
  double x2 = 0;
  for (std::size_t i = 0; i < K; ++i) {
    const double eta = std::clamp(a + b * l[i], -8.0, 8.0);
    // Fitted values are kept off 0 and 1 by half a trial, so a separated fit keeps finite weights.
    const double mu = std::clamp(normal_cdf(eta), 0.5 / (m[i] + 1), 1 - 0.5 / (m[i] + 1));
    const double phi = std::max(normal_pdf(eta), 1e-300);
    w[i] = m[i] * phi * phi / (mu * (1 - mu));
    x2 += (k[i] - m[i] * mu) * (k[i] - m[i] * mu) / (m[i] * mu * (1 - mu));
  }
  double na, nb;
  if (!wls(z, w, na, nb, i00, i01, i11)) return c;
  c.dispersion = K > 2 ? std::max(1.0, x2 / static_cast<double>(K - 2)) : 1.0;
  c.a = a;
  c.b = b;
  c.var_a = i00 * c.dispersion;
  c.cov_ab = i01 * c.dispersion;
  c.var_b = i11 * c.dispersion;
  c.ok = std::isfinite(a) && std::isfinite(b) && b > 0 && std::isfinite(c.var_a) && std::isfinite(c.var_b);
  return c;
}

std::pair<std::int64_t, std::int64_t> default_solve_range(const Scenario& s, const std::string& key) {
  if (key == "design.patients") return {20, 2000};
  if (key == "design.therapists") return {2, 200};
  const std::int64_t lo = std::max<std::int64_t>(3, s.design.sessions.min);
  const std::int64_t hi = std::min<std::int64_t>(60, s.design.sessions.max);
  return {std::min(lo, hi), hi};
}

namespace {

// Every check of solve's input except the target's, which needs a run (check_target_has_power).
void check_solve_input(const Scenario& scenario, const std::string& key, double power, std::int64_t lo, std::int64_t hi,
                       const SolveSettings& settings) {
  const auto& keys = solvable_keys();
  if (std::find(keys.begin(), keys.end(), key) == keys.end())
    throw InputError(locate("--vary", 0, key, "cannot be solved for; expected one of " + join(keys)));
  if (!(power > 0 && power < 1))
    throw InputError(locate("--power", 0, "", "must be a number in (0, 1), got " + show(power, 6)));
  if (!(power > scenario.run.alpha))
    throw InputError(locate("--power", 0, "",
                            "must exceed run.alpha (" + show(scenario.run.alpha, 6) +
                                "), the rejection rate without an effect, got " + show(power, 6)));
  const std::string range = std::to_string(lo) + "," + std::to_string(hi);
  if (!(lo < hi)) throw InputError(locate("--range", 0, "", "LO must be < HI, got " + range));
  if (lo < 1) throw InputError(locate("--range", 0, "", "LO must be >= 1, got " + range));
  if (key == "design.sessions.mean") {
    const auto& sp = scenario.design.sessions;
    if (lo < sp.min || hi > sp.max)
      throw InputError(locate("--range", 0, "",
                              "must lie within [design.sessions.min, design.sessions.max] = [" +
                                  std::to_string(sp.min) + ", " + std::to_string(sp.max) +
                                  "] (raise them with --set), got " + range));
  }
  with_value(scenario, key, lo);  // validates both ends as values of the key
  with_value(scenario, key, hi);
  if (settings.replications < 2) fail_at_least("--replications", settings.replications, 2);
  if (settings.verify_replications < 2) fail_at_least("--verify-replications", settings.verify_replications, 2);
  if (settings.max_rounds < 0) fail_at_least("--max-rounds", settings.max_rounds, 0);
  if (!(settings.precision > 0 && settings.precision < 10))
    throw InputError(locate("--precision", 0, "", "must be a number in (0, 10), got " + show(settings.precision, 6)));
}

// A tiny first run checks that the target has a rejection rate.
void check_target_has_power(const Scenario& work, const std::string& key, const PowerTarget& target, std::int64_t lo,
                            const SolveSettings& settings) {
  const auto rows = summary_at(with_value(work, key, lo), kProbeReplications, settings.seed, settings.threads);
  if (point_of(rows, target, lo)) return;
  std::set<std::string> terms;
  for (const auto& r : rows)
    if (r.model == name(target.model) && r.rater == name(target.rater) && r.measure == "power") terms.insert(r.term);
  throw InputError(locate("--target", 0, target.name(),
                          "no such coefficient (" + std::string(name(target.model)) + "." +
                              std::string(name(target.rater)) + " has " + join({terms.begin(), terms.end()}) + ")"));
}

}  // namespace

SolveResult solve_power(const Scenario& scenario, const std::string& key, const PowerTarget& target, double power,
                        std::int64_t lo, std::int64_t hi, const SolveSettings& settings, std::ostream& log) {
  check_solve_input(scenario, key, power, lo, hi, settings);
  // Only the model whose power is solved for.
  const Scenario work = fitting_only_named_models(scenario, {std::string(name(target.model))});
  check_target_has_power(work, key, target, lo, settings);

  SolveResult res;
  res.key = key;
  PowerSearch search(work, key, target, power, lo, hi, settings, log);
  search.bracket();
  search.refine(res);
  search.answer(res);
  search.verify(res);
  return res;
}

void write_solve_json(const SolveResult& r, const PowerTarget& target, double power, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object();
  j.field("key", r.key).field("value", static_cast<long long>(r.value));
  j.field("ci_low", static_cast<long long>(r.ci_low)).field("ci_high", static_cast<long long>(r.ci_high));
  j.field("power", r.power).field("power_mcse", r.power_mcse);
  j.field("target", target.name()).field("power_target", power).field("crossing", r.crossing);
  j.field("precise", r.precise).field("rounds", r.rounds);
  j.field("verify_replications", static_cast<long long>(r.verify_replications));
  j.field("verify_seed", std::to_string(r.verify_seed));
  j.key("curve").begin_object().field("a", r.curve.a).field("b", r.curve.b).field("dispersion", r.curve.dispersion);
  j.end_object();
  j.key("points").begin_array();
  for (const auto& p : r.points) {
    j.begin_object().field("value", static_cast<long long>(p.value)).field("replications", p.trials);
    j.field("power", p.power()).field("mcse", p.mcse()).end_object();
  }
  j.end_array();
  j.end_object();
  out << "\n";
}

}  // namespace collabzium
