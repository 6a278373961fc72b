#include "collabzium/study/calibration.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <nlopt.hpp>
#include <ostream>
#include <set>
#include <sstream>

#include "collabzium/error.h"
#include "collabzium/io/output_file.h"
#include "collabzium/model/random.h"
#include "collabzium/study/runner.h"
#include "collabzium/cli/study_commands.h"

namespace collabzium {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// A finite number taking the whole (trimmed) text.
bool parse_number(const std::string& text, double& out) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || errno == ERANGE || !std::isfinite(v)) return false;
  out = v;
  return true;
}

std::string show(double x, int digits = 6) {
  if (std::isnan(x)) return "NA";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

double round_significant(double x, int digits) {
  if (x == 0 || !std::isfinite(x)) return x;
  const double e = std::floor(std::log10(std::fabs(x)));
  const double f = std::pow(10.0, digits - 1 - e);
  return std::round(x * f) / f;
}

const std::vector<std::string>& target_models() {
  static const std::vector<std::string> m = {"lagged", "within", "oracle", "growth", "detection", "roc"};
  return m;
}

std::string join(const std::vector<std::string>& v, const std::string& sep = ", ") {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

bool is_fitted_model(const std::string& m) { return m == "lagged" || m == "within" || m == "oracle" || m == "growth"; }

// The scenario a study of these targets runs: only the models the targets name (the oracle, one fit
// per replication, when they name none), so evaluations do not fit models nobody looks at.
Scenario restricted_models(Scenario s, const std::vector<std::string>& models) {
  std::vector<std::string> keep;
  for (const auto& m : {"lagged", "within", "oracle", "growth"})
    if (std::find(models.begin(), models.end(), m) != models.end()) keep.push_back(m);
  if (keep.empty()) keep.push_back("oracle");
  s.analysis.models = keep;
  return s;
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
  return "no summary rows for " + t.model + "." + t.rater + " (the summary has " +
         join({pairs.begin(), pairs.end()}) + ")" + hint;
}

}  // namespace

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t tag) {
  return mix64(mix64(seed) ^ tag) & ((std::uint64_t{1} << 62) - 1);
}

std::vector<SummaryRow> scenario_summary(const Scenario& scenario, std::int64_t replications, std::uint64_t seed,
                                         int threads) {
  ScenarioFile file;
  file.path = "calibration";
  file.base = scenario;
  file.base.run.replications = replications;
  file.base.run.seed = static_cast<std::int64_t>(seed);
  Condition c;
  c.index = 1;
  c.scenario = file.base;
  file.conditions.push_back(std::move(c));
  return study_summary(file, threads);
}

const SummaryRow* find_summary_row(const std::vector<SummaryRow>& rows, const std::string& model,
                                   const std::string& rater, const std::string& term, const std::string& measure) {
  for (const auto& r : rows)
    if (r.model == model && r.rater == rater && r.term == term && r.measure == measure) return &r;
  return nullptr;
}

std::string CalibrationTarget::name() const { return model + "." + rater + "." + term + "." + measure; }

CalibrationTarget parse_calibration_target(const std::string& text) {
  const std::string form = "expected MODEL.RATER.TERM.MEASURE=VALUE, e.g. detection.patient.rupture.prevalence=0.52";
  const auto eq = text.rfind('=');
  if (eq == std::string::npos) throw InputError(locate("--match", 0, text, form));
  const std::string name = trim(text.substr(0, eq));
  CalibrationTarget t;
  if (!parse_number(text.substr(eq + 1), t.value))
    throw InputError(locate("--match", 0, name, "VALUE must be a finite number, got \"" + text.substr(eq + 1) + "\""));
  const auto d1 = name.find('.');
  const auto d2 = d1 == std::string::npos ? d1 : name.find('.', d1 + 1);
  const auto d3 = name.rfind('.');
  if (d1 == std::string::npos || d2 == std::string::npos || d3 <= d2 || d1 == 0 || d2 == d1 + 1 ||
      d3 == d2 + 1 || d3 + 1 == name.size())
    throw InputError(locate("--match", 0, name, form));
  t.model = name.substr(0, d1);
  t.rater = name.substr(d1 + 1, d2 - d1 - 1);
  t.term = name.substr(d2 + 1, d3 - d2 - 1);
  t.measure = name.substr(d3 + 1);
  const auto& models = target_models();
  if (std::find(models.begin(), models.end(), t.model) == models.end())
    throw InputError(locate("--match", 0, name, "unknown model \"" + t.model + "\", expected one of " + join(models)));
  if (t.rater != "patient" && t.rater != "therapist" && t.rater != "truth")
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
  if (f.key.rfind("run.", 0) == 0)
    throw InputError(locate("--free", 0, f.key, "run settings cannot be calibrated"));
  const KeyValue current = get_key(scenario, f.key);
  if (std::holds_alternative<std::int64_t>(current))
    throw InputError(locate("--free", 0, f.key,
                            "is an integer key; calibrate frees real-valued keys only (fix it with --set)"));
  if (!std::holds_alternative<double>(current))
    throw InputError(locate("--free", 0, f.key, "is not a numeric key; calibrate frees real-valued keys only"));
  const auto colon = bounds.find(':');
  if (colon == std::string::npos || !parse_number(bounds.substr(0, colon), f.lo) ||
      !parse_number(bounds.substr(colon + 1), f.hi))
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
  if (targets.empty()) throw InputError(locate("--match", 0, "", "at least one target is needed"));
  if (free.empty()) throw InputError(locate("--free", 0, "", "at least one free key is needed"));
  const std::size_t n = free.size(), m = targets.size();
  std::vector<std::string> models;
  for (const auto& t : targets)
    if (is_fitted_model(t.model)) models.push_back(t.model);
  const Scenario work = restricted_models(scenario, models);

  CalibrationResult res;
  res.scenario = scenario;
  for (const auto& f : free) {
    const double v = std::get<double>(get_key(scenario, f.key));
    res.start.push_back(std::isfinite(v) && v >= f.lo && v <= f.hi ? v : 0.5 * (f.lo + f.hi));
  }

  auto at = [&](const Scenario& base, const std::vector<double>& values) {
    Scenario s = base;
    for (std::size_t k = 0; k < n; ++k) set_real(s, free[k].key, values[k], "--free");
    return s;
  };
  auto achieved = [&](const std::vector<SummaryRow>& rows) {
    std::vector<Achieved> a;
    for (const auto& t : targets) {
      const SummaryRow* r = find_summary_row(rows, t.model, t.rater, t.term, t.measure);
      a.push_back(r ? Achieved{r->value, r->mcse} : Achieved{kNaN, kNaN});
    }
    return a;
  };

  // A tiny first run checks that every target names a summary row.
  {
    const auto rows = scenario_summary(at(work, res.start), 2, settings.seed, settings.threads);
    for (const auto& t : targets)
      if (!find_summary_row(rows, t.model, t.rater, t.term, t.measure))
        throw InputError(locate("--match", 0, t.name(), missing_target_message(rows, t)));
  }

  // The starting point fixes the scales of the objective.
  const auto start_rows = scenario_summary(at(work, res.start), settings.replications, settings.seed, settings.threads);
  const auto start = achieved(start_rows);
  for (std::size_t j = 0; j < m; ++j) {
    const double floor = 1e-3 * std::max(1.0, std::fabs(targets[j].value));
    res.scales.push_back(std::isfinite(start[j].mcse) ? std::max(start[j].mcse, floor) : floor);
  }
  auto objective_of = [&](const std::vector<Achieved>& a) {
    double f = 0;
    for (std::size_t j = 0; j < m; ++j) {
      if (!std::isfinite(a[j].value)) return 1e12;  // no number: as bad as it gets, but finite for BOBYQA
      const double z = (a[j].value - targets[j].value) / res.scales[j];
      f += z * z;
    }
    return f;
  };

  log << "calibrate: " << n << " free key(s), " << m << " target(s); " << settings.replications
      << " replications per evaluation, seed " << settings.seed << " (common random numbers); NLopt LN_BOBYQA\n";
  auto describe = [&](const std::vector<double>& values) {
    std::string s;
    for (std::size_t k = 0; k < n; ++k) s += (k ? ", " : "") + free[k].key + " = " + show(values[k], 5);
    return s;
  };
  double best_f = objective_of(start);
  std::vector<double> best_x = res.start;
  std::vector<Achieved> best_a = start;
  res.evaluations = 1;
  auto values_text = [&](const std::vector<Achieved>& a) {
    std::string t;
    for (std::size_t j = 0; j < m; ++j) t += (j ? ", " : "") + show(a[j].value, 4);
    return t;
  };
  log << "  eval   1: " << describe(res.start) << " -> " << values_text(start) << "; objective " << show(best_f, 5)
      << "\n";

  auto to_values = [&](const std::vector<double>& u) {
    std::vector<double> v(n);
    for (std::size_t k = 0; k < n; ++k) {
      const double c = std::clamp(u[k], 0.0, 1.0);
      v[k] = std::clamp(free[k].lo + c * (free[k].hi - free[k].lo), free[k].lo, free[k].hi);
    }
    return v;
  };
  struct Context {
    std::function<double(const std::vector<double>&)> f;
  } ctx;
  // Evaluations by value: BOBYQA may ask for a point again (it starts at the start point).
  std::map<std::vector<double>, std::vector<Achieved>> cache;
  cache[res.start] = start;
  ctx.f = [&](const std::vector<double>& u) {
    const std::vector<double> v = to_values(u);
    if (auto hit = cache.find(v); hit != cache.end()) return objective_of(hit->second);
    const auto a = achieved(scenario_summary(at(work, v), settings.replications, settings.seed, settings.threads));
    cache[v] = a;
    const double f = objective_of(a);
    ++res.evaluations;
    char label[16];
    std::snprintf(label, sizeof label, "%3d", res.evaluations);
    log << "  eval " << label << ": " << describe(v) << " -> " << values_text(a) << "; objective " << show(f, 5)
        << "\n";
    if (f < best_f) {
      best_f = f;
      best_x = v;
      best_a = a;
    }
    return f;
  };

  // BOBYQA only ever shrinks its trust region, and Monte Carlo noise (common random numbers remove
  // most, not all of it: a changed parameter can shift later draws) can make it stop early, far from
  // the targets. So when a run stops with the objective above m (the targets not matched within
  // about one MCSE each), it restarts from the best point, at most 4 times and only while restarts
  // still improve the objective by 1%.
  auto run_bobyqa = [&](double step) {
    nlopt::opt opt(nlopt::LN_BOBYQA, static_cast<unsigned>(n));
    opt.set_lower_bounds(std::vector<double>(n, 0.0));
    opt.set_upper_bounds(std::vector<double>(n, 1.0));
    opt.set_xtol_abs(settings.xtol);
    opt.set_ftol_abs(1e-6);
    opt.set_stopval(1e-8);
    opt.set_maxeval(settings.max_evaluations - res.evaluations);
    opt.set_initial_step(step);
    opt.set_min_objective(
        [](const std::vector<double>& u, std::vector<double>&, void* data) {
          return static_cast<Context*>(data)->f(u);
        },
        &ctx);
    std::vector<double> u(n);
    for (std::size_t k = 0; k < n; ++k) u[k] = (best_x[k] - free[k].lo) / (free[k].hi - free[k].lo);
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
  };
  res.optimizer_status = best_f > 0 ? "evaluation limit reached" : "objective reached 0";
  int restarts = 0;
  for (int run = 0; run <= 4 && res.evaluations < settings.max_evaluations && best_f > 1e-8; ++run) {
    if (run > 0 && best_f <= static_cast<double>(m)) break;
    const double before = best_f;
    if (run > 0) log << "  restart from the best point (objective " << show(best_f, 5) << ")\n";
    res.optimizer_status = run_bobyqa(run == 0 ? 0.25 : 0.15);
    restarts = run;
    if (run > 0 && before - best_f < 0.01 * before) break;
  }
  if (restarts > 0) res.optimizer_status += ", " + std::to_string(restarts) + " restart(s)";
  res.objective = best_f;
  res.search = best_a;

  // Round to 4 significant digits (finer digits are Monte Carlo noise), then check independently.
  for (std::size_t k = 0; k < n; ++k)
    res.values.push_back(std::clamp(round_significant(best_x[k], 4), free[k].lo, free[k].hi));
  res.check_seed = derive_seed(settings.seed, kCheckSeedTag);
  log << "optimum after " << res.evaluations << " evaluations (" << res.optimizer_status
      << "): " << describe(res.values) << "\n";
  log << "check run: " << settings.check_replications << " replications, seed " << res.check_seed << "\n";
  res.check = achieved(scenario_summary(at(work, res.values), settings.check_replications, res.check_seed,
                                        settings.threads));
  res.scenario = at(scenario, res.values);
  return res;
}

void command_calibrate(const CalibrateOptions& o, std::ostream& out) {
  const ScenarioFile file = load_scenario(o.common.config, o.common.overrides);
  if (file.conditions.size() != 1)
    throw InputError(locate(o.common.config, 0, "sweep",
                            "calibrate takes a scenario without a sweep (it has " +
                                std::to_string(file.conditions.size()) + " conditions)"));
  // A sweep of single values is one condition: calibrate that condition's scenario.
  const Scenario& base = file.conditions.front().scenario;
  CalibrationSettings settings;
  auto positive = [](const char* flag, std::int64_t v, std::int64_t min) {
    if (v < min)
      throw InputError(locate(flag, 0, "", "must be an integer >= " + std::to_string(min) + ", got " +
                                               std::to_string(v)));
    return v;
  };
  if (o.replications) settings.replications = positive("--replications", *o.replications, 2);
  if (o.check_replications) settings.check_replications = positive("--check-replications", *o.check_replications, 2);
  if (o.max_evaluations)
    settings.max_evaluations = static_cast<int>(positive("--max-evaluations", *o.max_evaluations, 1));
  settings.seed = static_cast<std::uint64_t>(o.seed ? positive("--seed", *o.seed, 0) : base.run.seed);
  settings.threads = static_cast<int>(o.threads ? positive("--threads", *o.threads, 0) : base.run.threads);
  if (o.match.empty()) throw InputError(locate("--match", 0, "", "at least one target is needed"));
  if (o.free.empty()) throw InputError(locate("--free", 0, "", "at least one free key is needed"));
  if (o.out.empty()) throw InputError(locate("--out", 0, "", "an output file (TOML) is needed"));

  std::vector<CalibrationTarget> targets;
  std::set<std::string> seen;
  for (const auto& text : o.match) {
    targets.push_back(parse_calibration_target(text));
    if (!seen.insert(targets.back().name()).second)
      throw InputError(locate("--match", 0, targets.back().name(), "is given twice"));
  }
  std::vector<FreeKey> free;
  seen.clear();
  for (const auto& text : o.free) {
    free.push_back(parse_free_key(text, base));
    if (!seen.insert(free.back().key).second) throw InputError(locate("--free", 0, free.back().key, "is given twice"));
  }
  // Keys that depend on each other (scale_min < scale_max, ...): the corners of the box must be valid.
  for (int corner = 0; corner < 2; ++corner) {
    ScenarioFile probe;
    probe.base = base;
    for (const auto& f : free) set_key(probe.base, f.key, KeyValue(corner ? f.hi : f.lo), "--free");
    parse_scenario(to_toml(probe), "--free (bounds)");
  }

  AtomicFile output(o.out);  // fails early when the folder does not exist
  const CalibrationResult res = calibrate(base, targets, free, settings, out);

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
                  show(targets[j].value).c_str(), show(a.value).c_str(), show(a.mcse, 3).c_str(),
                  show(z, 3).c_str());
    out << line;
  }
  out << "(achieved: check run of " << settings.check_replications << " replications with fresh seed "
      << res.check_seed << "; z = (achieved - value) / sqrt(mcse^2 + the search's mcse^2))\n";
  if (!all_close)
    out << "warning: not every target is matched within 3 Monte Carlo SEs; the bounds may exclude a solution, the targets may "
           "conflict, or the search may need more replications\n";
  out << "calibrated values:\n";
  for (std::size_t k = 0; k < free.size(); ++k)
    out << "  " << free[k].key << " = " << format_value(KeyValue(res.values[k])) << "  (bounds [" << show(free[k].lo)
        << ", " << show(free[k].hi) << "], start " << show(res.start[k]) << ")\n";

  // The calibrated scenario: comment lines, then the fully resolved TOML.
  std::ostringstream text;
  text << "# Calibrated by `collabzium calibrate` on " << iso8601_utc_now() << " from " << o.common.config;
  for (const auto& s : o.common.overrides) text << " --set " << s;
  text << "\n# Free keys, calibrated within their bounds:\n";
  for (std::size_t k = 0; k < free.size(); ++k)
    text << "#   " << free[k].key << " = " << format_value(KeyValue(res.values[k])) << "  (bounds [" << show(free[k].lo)
         << ", " << show(free[k].hi) << "], start " << show(res.start[k]) << ")\n";
  text << "# Targets (summary measures) and the values achieved in a check run of "
       << settings.check_replications << " replications with seed " << res.check_seed << ":\n";
  for (std::size_t j = 0; j < targets.size(); ++j)
    text << "#   " << targets[j].name() << " = " << show(targets[j].value) << "  achieved " << show(res.check[j].value)
         << " (MCSE " << show(res.check[j].mcse, 3) << ")\n";
  text << "# Search: NLopt LN_BOBYQA, " << res.evaluations << " evaluations of " << settings.replications
       << " replications with seed " << settings.seed << " (common random numbers); " << res.optimizer_status
       << ".\n# All other values are those of the input scenario.\n\n";
  ScenarioFile calibrated;
  calibrated.path = o.out;
  calibrated.base = res.scenario;
  text << to_toml(calibrated);
  parse_scenario(text.str(), o.out);  // what we write must read back
  output.stream() << text.str();
  output.commit();
  out << "wrote " << o.out << "\n";
}

}  // namespace collabzium
