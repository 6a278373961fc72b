#include "collabzium/study/calibration.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <nlopt.hpp>
#include <ostream>
#include <set>

#include "collabzium/error.h"
#include "collabzium/model/random.h"
#include "collabzium/numeric.h"
#include "collabzium/study/runner.h"

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

// The scenario a study of these targets runs: only the models the targets name, in canonical order
// (the oracle, one fit per replication, when they name none), so evaluations do not fit models
// nobody looks at.
Scenario restricted_models(Scenario s, const std::vector<CalibrationTarget>& targets) {
  std::vector<ModelKind> keep;
  for (const auto& k : model_kinds())
    for (const auto& t : targets)
      if (parse<ModelKind>(t.model) == k.kind && std::find(keep.begin(), keep.end(), k.kind) == keep.end())
        keep.push_back(k.kind);
  if (keep.empty()) keep.push_back(ModelKind::Oracle);
  s.analysis.models = keep;
  return s;
}

// The in-memory summary of `replications` replications of `s` with `seed`.
std::vector<SummaryRow> summary_at(Scenario s, std::int64_t replications, std::uint64_t seed, int threads) {
  s.run.replications = replications;
  s.run.seed = static_cast<std::int64_t>(seed);
  return study_summary(single_condition(s), threads);
}

[[noreturn]] void fail_at_least(const char* flag, std::int64_t v, std::int64_t min) {
  throw InputError(locate(flag, 0, "", "must be an integer >= " + std::to_string(min) + ", got " + std::to_string(v)));
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
  return "no summary rows for " + t.model + "." + t.rater + " (the summary has " +
         join({pairs.begin(), pairs.end()}) + ")" + hint;
}

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
  if (f.key.rfind("run.", 0) == 0)
    throw InputError(locate("--free", 0, f.key, "run settings cannot be calibrated"));
  const KeyValue current = get_key(scenario, f.key);
  if (std::holds_alternative<std::int64_t>(current))
    throw InputError(locate("--free", 0, f.key,
                            "is an integer key; calibrate frees real-valued keys only (fix it with --set)"));
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
  const std::size_t n = free.size(), m = targets.size();
  const Scenario work = restricted_models(scenario, targets);

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
    const auto rows = summary_at(at(work, res.start), 2, settings.seed, settings.threads);
    for (const auto& t : targets)
      if (!find_summary_row(rows, t.model, t.rater, t.term, t.measure))
        throw InputError(locate("--match", 0, t.name(), missing_target_message(rows, t)));
  }

  // The starting point fixes the scales of the objective.
  const auto start_rows = summary_at(at(work, res.start), settings.replications, settings.seed, settings.threads);
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
    const auto a = achieved(summary_at(at(work, v), settings.replications, settings.seed, settings.threads));
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
  res.check = achieved(summary_at(at(work, res.values), settings.check_replications, res.check_seed,
                                        settings.threads));
  res.scenario = at(scenario, res.values);
  return res;
}

}  // namespace collabzium
