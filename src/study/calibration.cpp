#include "collabzium/study/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlopt.hpp>
#include <ostream>
#include <set>
#include <sstream>

#include "collabzium/error.h"
#include "collabzium/format.h"
#include "collabzium/io/run_metadata.h"
#include "collabzium/model/random.h"
#include "collabzium/numeric.h"
#include "collabzium/study/runner.h"
#include "collabzium/study/search.h"

namespace collabzium {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// A finite number taking the whole text, spaces around it allowed.
bool parse_trimmed_number(const std::string& text, double& out) { return parse_number(trim(text), out); }

std::string show(double x, int digits = 6) { return format_significant(x, digits); }

double round_significant(double x, int digits) {
  if (x == 0 || !std::isfinite(x)) return x;
  const double e = std::floor(std::log10(std::fabs(x)));
  const double f = std::pow(10.0, digits - 1 - e);
  return std::round(x * f) / f;
}

// The model names a target can have: the analysis models, and the detection and roc rows.
std::vector<std::string> target_models() {
  std::vector<std::string> m;
  for (const auto& k : model_kinds()) m.emplace_back(k.name);
  m.push_back("detection");
  m.push_back("roc");
  return m;
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// The scenario a study of these targets runs: only the models the targets name (the oracle, one
// fit per replication, when they name none), so evaluations do not fit models nobody looks at.
Scenario restricted_models(const Scenario& scenario, const std::vector<CalibrationTarget>& targets) {
  std::vector<std::string> names;
  for (const auto& t : targets) names.push_back(t.model);
  Scenario s = fitting_only_named_models(scenario, names);
  if (s.analysis.models.empty()) s.analysis.models = {ModelKind::Oracle};
  return s;
}

// Every check of calibrate's input, in one place: the command line only parses.
void check_input(const Scenario& scenario, const std::vector<CalibrationTarget>& targets,
                 const std::vector<FreeKey>& free, const CalibrationSettings& settings) {
  if (settings.replications < 2) fail_at_least("--replications", settings.replications, 2);
  if (settings.check_replications < 2) fail_at_least("--check-replications", settings.check_replications, 2);
  if (settings.max_evaluations < 1) fail_at_least("--max-evaluations", settings.max_evaluations, 1);
  if (targets.empty()) throw InputError(locate("--match", 0, "", "at least one target is needed"));
  if (free.empty()) throw InputError(locate("--free", 0, "", "at least one free key is needed"));
  std::set<std::string> seen;
  for (const auto& t : targets)
    if (!seen.insert(t.name()).second) throw InputError(locate("--match", 0, t.name(), "is given twice"));
  seen.clear();
  for (const auto& f : free)
    if (!seen.insert(f.key).second) throw InputError(locate("--free", 0, f.key, "is given twice"));
  // Keys that depend on each other (scale_min < scale_max, ...): the corners of the box must be valid.
  for (int corner = 0; corner < 2; ++corner) {
    ScenarioFile probe;
    probe.base = scenario;
    for (const auto& f : free) set_key(probe.base, f.key, KeyValue(corner ? f.hi : f.lo), "--free");
    parse_scenario(to_toml(probe), "--free (bounds)");
  }
}

void set_real(Scenario& s, const std::string& key, double v, const std::string& where) {
  set_key(s, key, KeyValue(v), where);
}

// Explains why a target has no row: which terms / measures the summary does have.
std::string missing_target_message(const std::vector<SummaryRow>& rows, const CalibrationTarget& t) {
  std::set<std::string> terms, measures, pairs;
  for (const auto& r : rows) {
    if (r.model == t.model && r.rater == t.rater) terms.insert(r.term);
    if (r.model == t.model && r.rater == t.rater && r.term == t.term) measures.insert(r.measure);
    pairs.insert(r.model + "." + r.rater);
  }
  if (!measures.empty())
    return "no summary measure " + t.measure + " for " + t.model + "." + t.rater + "." + t.term + " (it has " +
           join({measures.begin(), measures.end()}) + ")";
  if (!terms.empty())
    return "no term " + t.term + " for " + t.model + "." + t.rater + " (it has " + join({terms.begin(), terms.end()}) +
           ")";
  std::string hint;
  if (t.model == "roc") hint = "; roc rows need detection.roc_thresholds";
  return "no summary rows for " + t.model + "." + t.rater + " (the summary has " + join({pairs.begin(), pairs.end()}) +
         ")" + hint;
}

// The search's numbers (docs/calibrate_solve.md, calibrate, steps 2-4).
// Replications of the first run, which only checks that every target names a summary row: the
// fewest the settings accept (--replications >= 2), so the check costs almost nothing.
constexpr std::int64_t kProbeReplications = 2;
// Scale floor, relative to max(1, |target|): a target whose MCSE at the start is 0 (a measure that
// does not vary between replications) still gets a finite, positive weight.
constexpr double kScaleFloor = 1e-3;
// The objective of a candidate whose measure is not a number (every fit failed): as bad as it gets,
// but finite, because BOBYQA needs finite values to build its quadratic model.
constexpr double kNoNumberObjective = 1e12;
// BOBYQA's initial step on the [0, 1]-rescaled keys: a quarter of the range explores widely from a
// start that may be far off; restarts begin nearer the best point, which is already closer.
constexpr double kFirstStep = 0.25;
constexpr double kRestartStep = 0.15;
// An objective this small is a match (it is in squared MCSE units): stop, do not restart.
constexpr double kStopObjective = 1e-8;
// BOBYQA stops when an iteration changes the objective by less than this (squared MCSE units: far
// below the Monte Carlo resolution of one).
constexpr double kObjectiveTolerance = 1e-6;
// Restarts after the first run, at most: each costs evaluations, and noise limits what they find.
constexpr int kMaxRestarts = 4;
// A restart that improves the objective by less than this fraction is the last one: the search has
// reached the Monte Carlo resolution.
constexpr double kMinRestartGain = 0.01;
// The result's significant digits: finer digits are Monte Carlo noise.
constexpr int kSignificantDigits = 4;

// One calibration, in phases: the start point and the objective's scales, one evaluation, one
// BOBYQA run, the restart loop and the check run. The best point so far is kept across BOBYQA runs.
class CalibrationSearch {
 public:
  CalibrationSearch(const Scenario& scenario, const std::vector<CalibrationTarget>& targets,
                    const std::vector<FreeKey>& free, const CalibrationSettings& settings, std::ostream& log)
      : scenario_(scenario),
        targets_(targets),
        free_(free),
        settings_(settings),
        log_(log),
        n_(free.size()),
        m_(targets.size()),
        work_(restricted_models(scenario, targets)) {}

  // The config's values, or the middle of the bounds when a value lies outside them.
  void choose_start() {
    res_.scenario = scenario_;
    for (const auto& f : free_) {
      const double v = std::get<double>(get_key(scenario_, f.key));
      res_.start.push_back(std::isfinite(v) && v >= f.lo && v <= f.hi ? v : 0.5 * (f.lo + f.hi));
    }
  }

  // A tiny first run checks that every target names a summary row.
  void check_targets_exist() const {
    const auto rows = summary_at(at(work_, res_.start), kProbeReplications, settings_.seed, settings_.threads);
    for (const auto& t : targets_)
      if (!find_summary_row(rows, t.model, t.rater, t.term, t.measure))
        throw InputError(locate("--match", 0, t.name(), missing_target_message(rows, t)));
  }

  // The first evaluation, at the starting point, which fixes the scales of the objective.
  void evaluate_start() {
    const auto start_rows =
        summary_at(at(work_, res_.start), settings_.replications, settings_.seed, settings_.threads);
    const auto start = achieved(start_rows);
    for (std::size_t j = 0; j < m_; ++j) {
      const double floor = kScaleFloor * std::max(1.0, std::fabs(targets_[j].value));
      res_.scales.push_back(std::isfinite(start[j].mcse) ? std::max(start[j].mcse, floor) : floor);
    }
    log_ << "calibrate: " << n_ << " free key(s), " << m_ << " target(s); " << settings_.replications
         << " replications per evaluation, seed " << settings_.seed << " (common random numbers); NLopt LN_BOBYQA\n";
    best_f_ = objective_of(start);
    best_x_ = res_.start;
    best_a_ = start;
    res_.evaluations = 1;
    log_ << "  eval   1: " << describe(res_.start) << " -> " << values_text(start) << "; objective " << show(best_f_, 5)
         << "\n";
    cache_[res_.start] = start;
  }

  // BOBYQA only ever shrinks its trust region, and Monte Carlo noise (common random numbers remove
  // most, not all of it: a changed parameter can shift later draws) can make it stop early, far from
  // the targets. So when a run stops with the objective above m (the targets not matched within
  // about one MCSE each), it restarts from the best point, at most kMaxRestarts times and only while
  // restarts still improve the objective by kMinRestartGain.
  void search() {
    res_.optimizer_status = best_f_ > 0 ? "evaluation limit reached" : "objective reached 0";
    int restarts = 0;
    for (int run = 0; run <= kMaxRestarts && res_.evaluations < settings_.max_evaluations && best_f_ > kStopObjective;
         ++run) {
      if (run > 0 && best_f_ <= static_cast<double>(m_)) break;
      const double before = best_f_;
      if (run > 0) log_ << "  restart from the best point (objective " << show(best_f_, 5) << ")\n";
      res_.optimizer_status = run_bobyqa(run == 0 ? kFirstStep : kRestartStep);
      restarts = run;
      if (run > 0 && before - best_f_ < kMinRestartGain * before) break;
    }
    if (restarts > 0) res_.optimizer_status += ", " + std::to_string(restarts) + " restart(s)";
    res_.objective = best_f_;
    res_.search = best_a_;
  }

  // Rounds the best point to kSignificantDigits, then checks it by an independent run.
  CalibrationResult check_run() {
    for (std::size_t k = 0; k < n_; ++k)
      res_.values.push_back(std::clamp(round_significant(best_x_[k], kSignificantDigits), free_[k].lo, free_[k].hi));
    res_.check_seed = derive_seed(settings_.seed, kCheckSeedTag);
    log_ << "optimum after " << res_.evaluations << " evaluations (" << res_.optimizer_status
         << "): " << describe(res_.values) << "\n";
    log_ << "check run: " << settings_.check_replications << " replications, seed " << res_.check_seed << "\n";
    res_.check =
        achieved(summary_at(at(work_, res_.values), settings_.check_replications, res_.check_seed, settings_.threads));
    res_.scenario = at(scenario_, res_.values);
    return res_;
  }

 private:
  Scenario at(const Scenario& base, const std::vector<double>& values) const {
    Scenario s = base;
    for (std::size_t k = 0; k < n_; ++k) set_real(s, free_[k].key, values[k], "--free");
    return s;
  }

  std::vector<Achieved> achieved(const std::vector<SummaryRow>& rows) const {
    std::vector<Achieved> a;
    for (const auto& t : targets_) {
      const SummaryRow* r = find_summary_row(rows, t.model, t.rater, t.term, t.measure);
      a.push_back(r ? Achieved{r->value, r->mcse} : Achieved{kNaN, kNaN});
    }
    return a;
  }

  double objective_of(const std::vector<Achieved>& a) const {
    double f = 0;
    for (std::size_t j = 0; j < m_; ++j) {
      if (!std::isfinite(a[j].value)) return kNoNumberObjective;
      const double z = (a[j].value - targets_[j].value) / res_.scales[j];
      f += z * z;
    }
    return f;
  }

  std::string describe(const std::vector<double>& values) const {
    std::string s;
    for (std::size_t k = 0; k < n_; ++k) s += (k ? ", " : "") + free_[k].key + " = " + show(values[k], 5);
    return s;
  }

  std::string values_text(const std::vector<Achieved>& a) const {
    std::string t;
    for (std::size_t j = 0; j < m_; ++j) t += (j ? ", " : "") + show(a[j].value, 4);
    return t;
  }

  // The key values of a point of the [0, 1]-rescaled box.
  std::vector<double> to_values(const std::vector<double>& u) const {
    std::vector<double> v(n_);
    for (std::size_t k = 0; k < n_; ++k) {
      const double c = std::clamp(u[k], 0.0, 1.0);
      v[k] = std::clamp(free_[k].lo + c * (free_[k].hi - free_[k].lo), free_[k].lo, free_[k].hi);
    }
    return v;
  }

  // One evaluation of the objective at a rescaled point. Evaluations are cached by value: BOBYQA
  // may ask for a point again (it starts at the start point).
  double evaluate(const std::vector<double>& u) {
    const std::vector<double> v = to_values(u);
    if (auto hit = cache_.find(v); hit != cache_.end()) return objective_of(hit->second);
    const auto a = achieved(summary_at(at(work_, v), settings_.replications, settings_.seed, settings_.threads));
    cache_[v] = a;
    const double f = objective_of(a);
    ++res_.evaluations;
    char label[16];
    std::snprintf(label, sizeof label, "%3d", res_.evaluations);
    log_ << "  eval " << label << ": " << describe(v) << " -> " << values_text(a) << "; objective " << show(f, 5)
         << "\n";
    if (f < best_f_) {
      best_f_ = f;
      best_x_ = v;
      best_a_ = a;
    }
    return f;
  }

  // One BOBYQA run from the best point with initial step `step`; returns why it stopped.
  std::string run_bobyqa(double step) {
    nlopt::opt opt(nlopt::LN_BOBYQA, static_cast<unsigned>(n_));
    opt.set_lower_bounds(std::vector<double>(n_, 0.0));
    opt.set_upper_bounds(std::vector<double>(n_, 1.0));
    opt.set_xtol_abs(settings_.xtol);
    opt.set_ftol_abs(kObjectiveTolerance);
    opt.set_stopval(kStopObjective);
    opt.set_maxeval(settings_.max_evaluations - res_.evaluations);
    opt.set_initial_step(step);
    opt.set_min_objective([](const std::vector<double>& u, std::vector<double>&,
                             void* data) { return static_cast<CalibrationSearch*>(data)->evaluate(u); },
                          this);
    std::vector<double> u(n_);
    for (std::size_t k = 0; k < n_; ++k) u[k] = (best_x_[k] - free_[k].lo) / (free_[k].hi - free_[k].lo);
    double fmin = 0;
    try {
      switch (opt.optimize(u, fmin)) {
        case nlopt::STOPVAL_REACHED: return std::string("objective reached 0");
        case nlopt::FTOL_REACHED: return std::string("objective converged");
        case nlopt::XTOL_REACHED: return std::string("values converged");
        case nlopt::MAXEVAL_REACHED: return std::string("evaluation limit reached");
        default: return std::string("trust region converged");
      }
    } catch (const nlopt::roundoff_limited&) {
      return std::string("stopped by roundoff (the objective is flat at the Monte Carlo resolution)");
    } catch (const std::runtime_error& e) {
      return std::string("stopped: ") + e.what();
    }
  }

  const Scenario& scenario_;
  const std::vector<CalibrationTarget>& targets_;
  const std::vector<FreeKey>& free_;
  const CalibrationSettings& settings_;
  std::ostream& log_;
  const std::size_t n_, m_;  // free keys, targets
  const Scenario work_;      // the scenario evaluations run: only the models the targets name
  CalibrationResult res_;
  double best_f_ = 0;  // the best point so far: objective, key values, achieved measures
  std::vector<double> best_x_;
  std::vector<Achieved> best_a_;
  std::map<std::vector<double>, std::vector<Achieved>> cache_;  // achieved measures by key values
};

}  // namespace

std::string CalibrationTarget::name() const { return model + "." + rater + "." + term + "." + measure; }

CalibrationTarget parse_calibration_target(const std::string& text) {
  const std::string form = "expected MODEL.RATER.TERM.MEASURE=VALUE, e.g. detection.patient.rupture.prevalence=0.52";
  const auto eq = text.rfind('=');
  if (eq == std::string::npos) throw InputError(locate("--match", 0, text, form));
  const std::string name = trim(text.substr(0, eq));
  CalibrationTarget t;
  if (!parse_trimmed_number(text.substr(eq + 1), t.value))
    throw InputError(locate("--match", 0, name, "VALUE must be a finite number, got \"" + text.substr(eq + 1) + "\""));
  const auto d1 = name.find('.');
  const auto d2 = d1 == std::string::npos ? d1 : name.find('.', d1 + 1);
  const auto d3 = name.rfind('.');
  if (d1 == std::string::npos || d2 == std::string::npos || d3 <= d2 || d1 == 0 || d2 == d1 + 1 || d3 == d2 + 1 ||
      d3 + 1 == name.size())
    throw InputError(locate("--match", 0, name, form));
  t.model = name.substr(0, d1);
  t.rater = name.substr(d1 + 1, d2 - d1 - 1);
  t.term = name.substr(d2 + 1, d3 - d2 - 1);
  t.measure = name.substr(d3 + 1);
  const auto& models = target_models();
  if (std::find(models.begin(), models.end(), t.model) == models.end())
    throw InputError(locate("--match", 0, name, "unknown model \"" + t.model + "\", expected one of " + join(models)));
  if (!parse<RaterId>(t.rater))
    throw InputError(
        locate("--match", 0, name, "unknown rater \"" + t.rater + "\", expected patient, therapist or truth"));
  return t;
}

FreeKey parse_free_key(const std::string& text, const Scenario& scenario) {
  const std::string form = "expected KEY=LO:HI, e.g. raters.patient.registration=0.2:0.9";
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError(locate("--free", 0, text, form));
  FreeKey f;
  f.key = trim(text.substr(0, eq));
  const std::string bounds = text.substr(eq + 1);
  const auto keys = scenario_keys();
  if (std::find(keys.begin(), keys.end(), f.key) == keys.end())
    throw InputError(locate("--free", 0, f.key, "unknown key"));
  if (f.key.rfind("run.", 0) == 0) throw InputError(locate("--free", 0, f.key, "run settings cannot be calibrated"));
  const KeyValue current = get_key(scenario, f.key);
  if (std::holds_alternative<std::int64_t>(current))
    throw InputError(
        locate("--free", 0, f.key, "is an integer key; calibrate frees real-valued keys only (fix it with --set)"));
  if (!std::holds_alternative<double>(current))
    throw InputError(locate("--free", 0, f.key, "is not a numeric key; calibrate frees real-valued keys only"));
  const auto colon = bounds.find(':');
  if (colon == std::string::npos || !parse_trimmed_number(bounds.substr(0, colon), f.lo) ||
      !parse_trimmed_number(bounds.substr(colon + 1), f.hi))
    throw InputError(locate("--free", 0, f.key, form + ", got \"" + bounds + "\""));
  if (!(f.lo < f.hi))
    throw InputError(locate("--free", 0, f.key, "LO must be < HI, got " + show(f.lo) + ":" + show(f.hi)));
  Scenario probe = scenario;
  set_real(probe, f.key, f.lo, "--free");  // throws "--free: KEY: must be ..., got LO"
  set_real(probe, f.key, f.hi, "--free");
  return f;
}

CalibrationResult calibrate(const Scenario& scenario, const std::vector<CalibrationTarget>& targets,
                            const std::vector<FreeKey>& free, const CalibrationSettings& settings, std::ostream& log) {
  check_input(scenario, targets, free, settings);
  CalibrationSearch search(scenario, targets, free, settings, log);
  search.choose_start();
  search.check_targets_exist();
  search.evaluate_start();
  search.search();
  return search.check_run();
}

namespace {

// "KEY = VALUE  (bounds [LO, HI], start S)", as printed and as commented in the calibrated file.
std::string calibrated_key_line(const CalibrationResult& result, const std::vector<FreeKey>& free, std::size_t k) {
  return free[k].key + " = " + format_value(KeyValue(result.values[k])) + "  (bounds [" + show(free[k].lo) + ", " +
         show(free[k].hi) + "], start " + show(result.start[k]) + ")";
}

}  // namespace

void print_calibration(const CalibrationResult& res, const std::vector<CalibrationTarget>& targets,
                       const std::vector<FreeKey>& free, const CalibrationSettings& settings, std::ostream& out) {
  // The table: target, achieved (check run), MCSE, standardized difference.
  std::size_t width = 6;
  for (const auto& t : targets) width = std::max(width, t.name().size());
  char line[512];
  std::snprintf(line, sizeof line, "\n%-*s %12s %12s %10s %8s\n", static_cast<int>(width), "target", "value",
                "achieved", "mcse", "z");
  out << line;
  bool all_close = true;
  for (std::size_t j = 0; j < targets.size(); ++j) {
    const Achieved& a = res.check[j];
    // The check run's error and the search's: the search matched the targets on its own replications.
    const double se = std::sqrt(a.mcse * a.mcse + res.search[j].mcse * res.search[j].mcse);
    const double z = se > 0 ? (a.value - targets[j].value) / se : kNaN;
    if (!(std::fabs(z) <= 3)) all_close = false;
    std::snprintf(line, sizeof line, "%-*s %12s %12s %10s %8s\n", static_cast<int>(width), targets[j].name().c_str(),
                  show(targets[j].value).c_str(), show(a.value).c_str(), show(a.mcse, 3).c_str(), show(z, 3).c_str());
    out << line;
  }
  out << "(achieved: check run of " << settings.check_replications << " replications with fresh seed " << res.check_seed
      << "; z = (achieved - value) / sqrt(mcse^2 + the search's mcse^2))\n";
  if (!all_close)
    out << "warning: not every target is matched within 3 Monte Carlo SEs; the bounds may exclude a solution, the "
           "targets may conflict, or the search may need more replications\n";
  out << "calibrated values:\n";
  for (std::size_t k = 0; k < free.size(); ++k) out << "  " << calibrated_key_line(res, free, k) << "\n";
}

std::string calibrated_scenario_toml(const CalibrationResult& res, const std::vector<CalibrationTarget>& targets,
                                     const std::vector<FreeKey>& free, const CalibrationSettings& settings,
                                     const std::string& origin, const std::string& path) {
  std::ostringstream text;
  text << "# Calibrated by `collabzium calibrate` on " << iso8601_utc_now() << " from " << origin << "\n";
  text << "# Free keys, calibrated within their bounds:\n";
  for (std::size_t k = 0; k < free.size(); ++k) text << "#   " << calibrated_key_line(res, free, k) << "\n";
  text << "# Targets (summary measures) and the values achieved in a check run of " << settings.check_replications
       << " replications with seed " << res.check_seed << ":\n";
  for (std::size_t j = 0; j < targets.size(); ++j)
    text << "#   " << targets[j].name() << " = " << show(targets[j].value) << "  achieved " << show(res.check[j].value)
         << " (MCSE " << show(res.check[j].mcse, 3) << ")\n";
  text << "# Search: NLopt LN_BOBYQA, " << res.evaluations << " evaluations of " << settings.replications
       << " replications with seed " << settings.seed << " (common random numbers); " << res.optimizer_status
       << ".\n# All other values are those of the input scenario.\n\n";
  ScenarioFile calibrated;
  calibrated.path = path;
  calibrated.base = res.scenario;
  text << to_toml(calibrated);
  parse_scenario(text.str(), path);  // what we write must read back
  return text.str();
}

}  // namespace collabzium
