#include "collabzium/config/scenario.h"

#include <toml++/toml.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <type_traits>

#include "collabzium/error.h"
#include "collabzium/format.h"
#include "collabzium/input_file.h"
#include "scenario_base.h"

namespace collabzium {

// docs/model.md 2.6: patients rate higher and register half the ruptures; therapists rate lower, are
// more vigilant and raise more false alarms.
Rater default_patient_rater() {
  return Rater{.offset = 0.25,
               .leniency_sd = 0.40,
               .dyad_sd = 0.0,
               .registration = 0.5,
               .sensitivity = 0.8,
               .false_alarm_rate = 0.01,
               .mood_congruence = -0.05,
               .occasion_sd = 0.15};
}

Rater default_therapist_rater() {
  return Rater{.offset = -0.10,
               .leniency_sd = 0.35,
               .dyad_sd = 0.10,
               .registration = 0.95,
               .sensitivity = 1.2,
               .false_alarm_rate = 0.08,
               .mood_congruence = 0.0,
               .occasion_sd = 0.10};
}

double default_threshold(DetectionRule rule) {
  switch (rule) {
    case DetectionRule::SdDrop: return 1.5;
    case DetectionRule::Rci: return 1.96;
    case DetectionRule::PercentDrop: return 0.12;
    case DetectionRule::AbsoluteDrop:
    case DetectionRule::SuddenLoss: break;
  }
  return 0.5;
}

double Detection::threshold() const { return std::isnan(threshold_value) ? default_threshold(rule) : threshold_value; }

bool Analysis::has_model(ModelKind kind) const { return std::find(models.begin(), models.end(), kind) != models.end(); }

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

enum class Kind { Boolean, Integer, Real, Choice, Text, RealList, ChoiceList };

struct Bound {
  double value;
  bool open;
};

// One configuration key: its dotted path, type, admissible values and how to reach it.
struct KeySpec {
  std::string path;
  Kind kind;
  Bound lo{-inf, false}, hi{inf, false};
  std::vector<std::string> choices;
  std::function<KeyValue(const Scenario&)> get;
  std::function<void(Scenario&, const KeyValue&)> set;
};

template <class T>
struct ChoiceListOf : std::false_type {};
template <Choice E>
struct ChoiceListOf<std::vector<E>> : std::true_type {
  using Element = E;
};

template <Choice E>
std::vector<std::string> names_of() {
  const std::span<const std::string_view> names = choice_names(E{});
  return {names.begin(), names.end()};
}

// A key's spec from a reference to its field. A choice field (an enum, or a list of one) holds its
// names as the admissible values: read_value checks a value against them, so set() parses names
// known to be valid and get() gives the name back.
template <class Ref>
KeySpec spec(std::string path, Ref ref) {
  using T = std::remove_cvref_t<decltype(ref(std::declval<Scenario&>()))>;
  KeySpec k;
  k.path = std::move(path);
  if constexpr (Choice<T>) {
    k.kind = Kind::Choice;
    k.choices = names_of<T>();
    k.get = [ref](const Scenario& s) { return KeyValue(std::string(name(ref(const_cast<Scenario&>(s))))); };
    k.set = [ref](Scenario& s, const KeyValue& v) { ref(s) = *parse<T>(std::get<std::string>(v)); };
    return k;
  } else if constexpr (ChoiceListOf<T>::value) {
    using E = typename ChoiceListOf<T>::Element;
    k.kind = Kind::ChoiceList;
    k.choices = names_of<E>();
    k.get = [ref](const Scenario& s) {
      std::vector<std::string> out;
      for (E e : ref(const_cast<Scenario&>(s))) out.emplace_back(name(e));
      return KeyValue(std::move(out));
    };
    k.set = [ref](Scenario& s, const KeyValue& v) {
      T out;
      for (const auto& text : std::get<std::vector<std::string>>(v)) out.push_back(*parse<E>(text));
      ref(s) = std::move(out);
    };
    return k;
  } else {
    if constexpr (std::is_same_v<T, bool>) k.kind = Kind::Boolean;
    else if constexpr (std::is_same_v<T, std::int64_t>) k.kind = Kind::Integer;
    else if constexpr (std::is_same_v<T, double>) k.kind = Kind::Real;
    else if constexpr (std::is_same_v<T, std::string>) k.kind = Kind::Text;
    else k.kind = Kind::RealList;
    k.get = [ref](const Scenario& s) { return KeyValue(ref(const_cast<Scenario&>(s))); };
    k.set = [ref](Scenario& s, const KeyValue& v) { ref(s) = std::get<T>(v); };
    return k;
  }
}

KeySpec range(KeySpec k, double lo, double hi, bool lo_open = false, bool hi_open = false) {
  k.lo = {lo, lo_open};
  k.hi = {hi, hi_open};
  return k;
}

#define REF(expr) \
  [](Scenario & s) -> auto& { return s.expr; }

void add_rater_keys(std::vector<KeySpec>& keys, const std::string& name, Rater Raters::*member) {
  const std::string p = "raters." + name + ".";
  auto field = [&](const std::string& key, auto Rater::*f) {
    return spec(
        p + key, [ member, f ](Scenario & s) -> auto& { return (s.raters.*member).*f; });
  };
  keys.push_back(field("offset", &Rater::offset));
  keys.push_back(range(field("leniency_sd", &Rater::leniency_sd), 0, inf));
  keys.push_back(range(field("dyad_sd", &Rater::dyad_sd), 0, inf));
  keys.push_back(range(field("registration", &Rater::registration), 0, 1));
  keys.push_back(range(field("sensitivity", &Rater::sensitivity), 0, inf));
  keys.push_back(range(field("false_alarm_rate", &Rater::false_alarm_rate), 0, 1));
  keys.push_back(range(field("false_alarm_depth", &Rater::false_alarm_depth), 0, inf, true));
  keys.push_back(range(field("false_alarm_depth_sd", &Rater::false_alarm_depth_sd), 0, inf));
  keys.push_back(field("mood_congruence", &Rater::mood_congruence));
  keys.push_back(range(field("occasion_sd", &Rater::occasion_sd), 0, inf));
  keys.push_back(range(field("items", &Rater::items), 1, 1000));
  keys.push_back(range(field("item_sd", &Rater::item_sd), 0, inf));
  keys.push_back(field("scale_min", &Rater::scale_min));
  keys.push_back(field("scale_max", &Rater::scale_max));
  keys.push_back(field("response", &Rater::response));
}

const std::vector<KeySpec>& key_specs() {
  static const std::vector<KeySpec> keys = [] {
    std::vector<KeySpec> k;
    k.push_back(range(spec("run.replications", REF(run.replications)), 1, 1e12));
    k.push_back(range(spec("run.seed", REF(run.seed)), 0, 9.2e18));
    k.push_back(range(spec("run.alpha", REF(run.alpha)), 0, 1, true, true));
    k.push_back(range(spec("run.threads", REF(run.threads)), 0, static_cast<double>(kMaxThreads)));

    k.push_back(range(spec("design.therapists", REF(design.therapists)), 1, 1e6));
    k.push_back(range(spec("design.patients", REF(design.patients)), 1, 1e8));
    k.push_back(spec("design.allocation", REF(design.allocation)));
    k.push_back(spec("design.sessions.distribution", REF(design.sessions.distribution)));
    k.push_back(range(spec("design.sessions.mean", REF(design.sessions.mean)), 1, 1e4));
    k.push_back(range(spec("design.sessions.min", REF(design.sessions.min)), 1, 1e4));
    k.push_back(range(spec("design.sessions.max", REF(design.sessions.max)), 1, 1e4));
    k.push_back(range(spec("design.dropout.base", REF(design.dropout.base)), 0, 1));
    k.push_back(spec("design.dropout.unresolved_rupture", REF(design.dropout.unresolved_rupture)));
    k.push_back(spec("design.dropout.distress", REF(design.dropout.distress)));

    k.push_back(spec("alliance.mean", REF(alliance.mean)));
    k.push_back(range(spec("alliance.therapist_sd", REF(alliance.therapist_sd)), 0, inf));
    k.push_back(range(spec("alliance.patient_sd", REF(alliance.patient_sd)), 0, inf));
    k.push_back(spec("alliance.growth", REF(alliance.growth)));
    k.push_back(range(spec("alliance.growth_sd", REF(alliance.growth_sd)), 0, inf));
    k.push_back(spec("alliance.growth_shape", REF(alliance.growth_shape)));
    k.push_back(range(spec("alliance.ar", REF(alliance.ar)), -1, 1, true, true));
    k.push_back(range(spec("alliance.innovation_sd", REF(alliance.innovation_sd)), 0, inf));

    k.push_back(range(spec("rupture.onset_probability", REF(rupture.onset_probability)), 0, 1));
    k.push_back(range(spec("rupture.propensity_sd", REF(rupture.propensity_sd)), 0, inf));
    k.push_back(spec("rupture.distress_effect", REF(rupture.distress_effect)));
    k.push_back(range(spec("rupture.depth_mean", REF(rupture.depth_mean)), 0, inf, true));
    k.push_back(range(spec("rupture.depth_sd", REF(rupture.depth_sd)), 0, inf));
    k.push_back(range(spec("rupture.repair_probability", REF(rupture.repair_probability)), 0, 1));
    k.push_back(range(spec("rupture.repair_skill_sd", REF(rupture.repair_skill_sd)), 0, inf));
    k.push_back(spec("rupture.repair_bonus", REF(rupture.repair_bonus)));
    k.push_back(spec("rupture.responsiveness.therapist", REF(rupture.responsiveness.therapist)));
    k.push_back(spec("rupture.responsiveness.patient", REF(rupture.responsiveness.patient)));

    k.push_back(spec("distress.mean", REF(distress.mean)));
    k.push_back(range(spec("distress.therapist_sd", REF(distress.therapist_sd)), 0, inf));
    k.push_back(range(spec("distress.patient_sd", REF(distress.patient_sd)), 0, inf));
    k.push_back(spec("distress.trend", REF(distress.trend)));
    k.push_back(range(spec("distress.trend_sd", REF(distress.trend_sd)), 0, inf));
    k.push_back(range(spec("distress.ar", REF(distress.ar)), -1, 1, true, true));
    k.push_back(range(spec("distress.innovation_sd", REF(distress.innovation_sd)), 0, inf));
    k.push_back(range(spec("distress.items", REF(distress.items)), 1, 1000));
    k.push_back(range(spec("distress.item_sd", REF(distress.item_sd)), 0, inf));
    k.push_back(spec("distress.response", REF(distress.response)));
    k.push_back(spec("distress.effects.rupture", REF(distress.effects.rupture)));
    k.push_back(spec("distress.effects.repair", REF(distress.effects.repair)));
    k.push_back(spec("distress.effects.unresolved", REF(distress.effects.unresolved)));
    k.push_back(spec("distress.effects.alliance", REF(distress.effects.alliance)));
    k.push_back(spec("distress.effects.false_alarm", REF(distress.effects.false_alarm)));
    k.push_back(spec("distress.effects.rupture_via", REF(distress.effects.rupture_via)));
    k.push_back(spec("distress.effects.repair_via", REF(distress.effects.repair_via)));

    add_rater_keys(k, "patient", &Raters::patient);
    add_rater_keys(k, "therapist", &Raters::therapist);

    k.push_back(spec("detection.rule", REF(detection.rule)));
    k.push_back(range(spec("detection.threshold", REF(detection.threshold_value)), 0, inf, true));
    k.push_back(spec("detection.sd_reference", REF(detection.sd_reference)));
    k.push_back(range(spec("detection.reliability", REF(detection.reliability)), 0, 1, false, true));
    k.push_back(range(spec("detection.critical_t", REF(detection.critical_t)), 0, inf, true));
    k.push_back(range(spec("detection.tolerance", REF(detection.tolerance)), 0, 1000));
    k.push_back(range(spec("detection.roc_thresholds", REF(detection.roc_thresholds)), 0, inf, true));
    k.push_back(spec("detection.repair.mode", REF(detection.repair.mode)));
    k.push_back(range(spec("detection.repair.window", REF(detection.repair.window)), 1, 1000));

    k.push_back(spec("analysis.models", REF(analysis.models)));
    k.push_back(spec("analysis.reml", REF(analysis.reml)));
    k.push_back(spec("analysis.therapist", REF(analysis.therapist)));
    k.push_back(spec("analysis.df", REF(analysis.df)));
    k.push_back(spec("analysis.growth_random_slope", REF(analysis.growth_random_slope)));
    k.push_back(spec("analysis.session", REF(analysis.session)));
    k.push_back(spec("analysis.exclude_singular", REF(analysis.exclude_singular)));
    k.push_back(range(spec("analysis.dsem.chains", REF(analysis.dsem.chains)), 1, 64));
    k.push_back(range(spec("analysis.dsem.iterations", REF(analysis.dsem.iterations)), 4, 1e6));
    return k;
  }();
  return keys;
}

#undef REF

const KeySpec* find_spec(const std::string& path) {
  for (const auto& k : key_specs())
    if (k.path == path) return &k;
  return nullptr;
}

bool is_section(const std::string& path) {
  const std::string prefix = path + ".";
  for (const auto& k : key_specs())
    if (k.path.compare(0, prefix.size(), prefix) == 0) return true;
  return false;
}

// A TOML basic string. Control characters are escaped (a description may span lines), so the
// printed scenario parses again whatever text it holds.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(u));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string format_double(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  std::string s = format_shortest(x);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string describe_bound(const KeySpec& k) {
  const bool integer = k.kind == Kind::Integer;
  auto num = [&](double v) { return integer ? std::to_string(static_cast<long long>(v)) : format_double(v); };
  const bool has_lo = std::isfinite(k.lo.value), has_hi = std::isfinite(k.hi.value);
  std::string what = integer ? "an integer" : "a number";
  if (has_lo && has_hi && !integer)
    return what + " in " + (k.lo.open ? "(" : "[") + num(k.lo.value) + ", " + num(k.hi.value) + (k.hi.open ? ")" : "]");
  if (has_lo && has_hi) return what + " in [" + num(k.lo.value) + ", " + num(k.hi.value) + "]";
  if (has_lo) return what + (k.lo.open ? " > " : " >= ") + num(k.lo.value);
  if (has_hi) return what + (k.hi.open ? " < " : " <= ") + num(k.hi.value);
  return what;
}

std::string choices_text(const KeySpec& k) {
  std::string s;
  for (std::size_t i = 0; i < k.choices.size(); ++i) s += (i ? ", " : "") + quote(k.choices[i]);
  return "one of " + s;
}

std::string node_text(const toml::node& n) {
  std::ostringstream os;
  if (auto s = n.as_string()) os << quote(s->get());
  else if (n.is_table()) os << "a table";
  else n.visit([&](const auto& v) { os << v; });
  std::string out = os.str();
  return out.size() > 60 ? out.substr(0, 57) + "..." : out;
}

// Where a value came from, for messages: the file and line, or the --set flag.
struct Origin {
  std::string file;
  long line = 0;
};

Origin origin_of(const toml::node& n, const std::string& file) {
  const auto& src = n.source();
  if (src.path && *src.path != file) return {*src.path, static_cast<long>(src.begin.line)};  // from a base file
  return {file, static_cast<long>(src.begin.line)};
}

[[noreturn]] void fail(const Origin& o, const std::string& key, const std::string& what) {
  throw InputError(locate(o.file, o.line, key, what));
}

// `shown` is the value as the message prints it: an integer as itself (a cast back from double
// would print 2^63 - 1 as a negative number).
void check_number(const KeySpec& k, double v, const Origin& o, const std::string& key, const std::string& shown) {
  const bool below = k.lo.open ? v <= k.lo.value : v < k.lo.value;
  const bool above = k.hi.open ? v >= k.hi.value : v > k.hi.value;
  if (below || above) fail(o, key, "must be " + describe_bound(k) + ", got " + shown);
}

double read_real(const toml::node& n, const KeySpec& k, const Origin& o, const std::string& key) {
  double v;
  if (auto i = n.as_integer()) v = static_cast<double>(i->get());
  else if (auto f = n.as_floating_point()) v = f->get();
  else fail(o, key, "must be " + describe_bound(k) + ", got " + node_text(n));
  if (!std::isfinite(v)) fail(o, key, "must be a finite number, got " + node_text(n));
  check_number(k, v, o, key, format_double(v));
  return v;
}

std::string read_choice(const toml::node& n, const KeySpec& k, const Origin& o, const std::string& key) {
  auto s = n.as_string();
  if (!s)
    fail(o, key,
         "must be " + (k.choices.empty() ? std::string("a string") : choices_text(k)) + ", got " + node_text(n));
  if (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(), s->get()) == k.choices.end())
    fail(o, key, "must be " + choices_text(k) + ", got " + quote(s->get()));
  return s->get();
}

KeyValue read_value(const toml::node& n, const KeySpec& k, const Origin& o, const std::string& key) {
  switch (k.kind) {
    case Kind::Boolean:
      if (auto b = n.as_boolean()) return b->get();
      fail(o, key, "must be true or false, got " + node_text(n));
    case Kind::Integer: {
      auto i = n.as_integer();
      if (!i) fail(o, key, "must be " + describe_bound(k) + ", got " + node_text(n));
      check_number(k, static_cast<double>(i->get()), o, key, std::to_string(i->get()));
      return static_cast<std::int64_t>(i->get());
    }
    case Kind::Real: return read_real(n, k, o, key);
    case Kind::Choice:
    case Kind::Text: return read_choice(n, k, o, key);
    case Kind::RealList: {
      auto a = n.as_array();
      if (!a) fail(o, key, "must be a list of numbers, got " + node_text(n));
      std::vector<double> v;
      for (const auto& e : *a) v.push_back(read_real(e, k, o, key));
      return v;
    }
    case Kind::ChoiceList: {
      auto a = n.as_array();
      if (!a) fail(o, key, "must be a list of " + choices_text(k) + ", got " + node_text(n));
      std::vector<std::string> v;
      for (const auto& e : *a) {
        std::string s = read_choice(e, k, o, key);
        if (std::find(v.begin(), v.end(), s) != v.end()) fail(o, key, "lists " + quote(s) + " twice");
        v.push_back(s);
      }
      if (v.empty()) fail(o, key, "must list at least one of " + choices_text(k).substr(7) + ", got []");
      return v;
    }
  }
  fail(o, key, "has an unsupported type");
}

std::string join_path(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

// `name` names the results file (results/<name>.h5), so it must stay a plain file name there.
void check_name(const std::string& name, const Origin& o) {
  const bool control =
      std::any_of(name.begin(), name.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (name.empty() || name.find('/') != std::string::npos || name.front() == '.' || control)
    fail(
        o, "name",
        "must be a plain file name (not empty, no \"/\", no leading \".\", no control characters), got " + quote(name));
}

// Gamma(mean, sd) as the generator draws it (model/random.h): shape mean²/sd², scale sd²/mean.
// Both must be positive normal numbers and the shape within [kMinGammaShape, kMaxGammaShape]:
// an sd far below the mean makes sd² underflow and the draw NaN (depth_sd = 1e-200), and an
// extreme shape leaves the sampler's range of accuracy.
void check_gamma(const std::function<void(const std::string&, const std::string&)>& bad, const std::string& prefix,
                 const std::string& mean_key, double mean, const std::string& sd_key, double sd) {
  if (sd == 0) return;  // the draw is the mean itself
  const double shape = (mean * mean) / (sd * sd), scale = (sd * sd) / mean;
  if (std::isnormal(shape) && std::isnormal(scale) && shape >= kMinGammaShape && shape <= kMaxGammaShape) return;
  bad(prefix + sd_key, "must be 0 or give a Gamma distribution with shape " + mean_key + "²/" + sd_key + "² in [" +
                           format_double(kMinGammaShape) + ", " + format_double(kMaxGammaShape) + "] and scale " +
                           sd_key + "²/" + mean_key + " a positive normal number, got " + mean_key + " = " +
                           format_double(mean) + ", " + sd_key + " = " + format_double(sd) + " (shape " +
                           format_double(shape) + ", scale " + format_double(scale) + ")");
}

// Checks that involve several keys; `where(key)` says where a key was set.
void check_consistency(const Scenario& s, const std::function<Origin(const std::string&)>& where,
                       const std::string& context) {
  auto bad = [&](const std::string& key, const std::string& what) { fail(where(key), key, context + what); };
  const auto& sp = s.design.sessions;
  if (sp.min > sp.max)
    bad("design.sessions.min",
        "must be <= design.sessions.max (" + std::to_string(sp.max) + "), got " + std::to_string(sp.min));
  for (const auto& [rater, r] : {std::pair<const char*, const Rater&>{"patient", s.raters.patient},
                                 std::pair<const char*, const Rater&>{"therapist", s.raters.therapist}}) {
    const std::string p = std::string("raters.") + rater + ".";
    if (!(r.scale_min < r.scale_max))
      bad(p + "scale_min",
          "must be < " + p + "scale_max (" + format_double(r.scale_max) + "), got " + format_double(r.scale_min));
  }
  if (s.detection.rule == DetectionRule::Rci && s.detection.reliability >= 1)
    bad("detection.reliability", "must be < 1 for the rci rule, got " + format_double(s.detection.reliability));
  // Each chain's first half is burn-in: an even count splits exactly.
  if (s.analysis.dsem.iterations % 2 != 0)
    bad("analysis.dsem.iterations", "must be even, got " + std::to_string(s.analysis.dsem.iterations));
  check_gamma(bad, "rupture.", "depth_mean", s.rupture.depth_mean, "depth_sd", s.rupture.depth_sd);
  for (const auto& [rater, r] : {std::pair<const char*, const Rater&>{"patient", s.raters.patient},
                                 std::pair<const char*, const Rater&>{"therapist", s.raters.therapist}})
    check_gamma(bad, std::string("raters.") + rater + ".", "false_alarm_depth", r.false_alarm_depth,
                "false_alarm_depth_sd", r.false_alarm_depth_sd);
  // A cohort holds at most patients x sessions.max rows; both are bounded, so the product fits.
  if (s.design.patients > kMaxCohortRows / s.design.sessions.max)
    bad("design.patients", "x design.sessions.max (the most rows a cohort can have) must be at most " +
                               std::to_string(kMaxCohortRows) + ", got " + std::to_string(s.design.patients) + " x " +
                               std::to_string(s.design.sessions.max) + " sessions");
}

// Applies one --set and returns the dotted key it set.
std::string apply_override(toml::table& root, const std::string& text) {
  const Origin o{"--set", 0};
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) fail(o, text, "expected KEY=VALUE");
  std::string key = text.substr(0, eq);
  key.erase(key.find_last_not_of(" \t") + 1);
  const std::string value = text.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value, std::string_view("--set " + key));
  } catch (const toml::parse_error& e) {
    fail(o, key, "expected a TOML value (strings in double quotes), got " + value);
  }
  // Split the dotted path; a path beginning "sweep." keeps the rest as one quoted key.
  std::vector<std::string> parts;
  if (key.rfind("sweep.", 0) == 0) {
    parts = {"sweep", key.substr(6)};
  } else {
    std::size_t start = 0, dot;
    while ((dot = key.find('.', start)) != std::string::npos) {
      parts.push_back(key.substr(start, dot - start));
      start = dot + 1;
    }
    parts.push_back(key.substr(start));
  }
  toml::table* t = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    toml::node* child = t->get(parts[i]);
    if (!child) {
      t->insert(parts[i], toml::table{});
      child = t->get(parts[i]);
    }
    if (!child->is_table()) fail(o, key, "names a value, not a table: " + parts[i]);
    t = child->as_table();
  }
  t->insert_or_assign(parts.back(), *parsed.get("v"));
  return key;
}

// ---------------------------------------------------------------------------------------------
// [infer]: the prior over scenario keys and the observed findings.

using OriginOf = std::function<Origin(const toml::node&, const std::string&)>;

bool is_distribution(const toml::table& t) {
  for (std::string_view kind : choice_names(PriorKind{}))
    if (t.contains(kind)) return true;
  return false;
}

// [a, b] of numbers, each checked as a value of `spec` when one is given.
std::pair<double, double> read_pair(const toml::node& n, const KeySpec* spec, const Origin& o, const std::string& label,
                                    const std::string& what) {
  auto a = n.as_array();
  if (!a || a->size() != 2) fail(o, label, "must be " + what + ", got " + node_text(n));
  KeySpec any;
  any.kind = Kind::Real;
  const KeySpec& k = spec ? *spec : any;
  return {read_real(*a->get(0), k, o, label), read_real(*a->get(1), k, o, label)};
}

Prior read_prior(const std::string& key, const toml::table& t, const Origin& o) {
  const std::string label = "infer.prior." + key;
  const KeySpec* k = find_spec(key);
  if (!k) fail(o, label, "must name a scenario key, got unknown key \"" + key + "\"");
  if (key.rfind("run.", 0) == 0 || key.rfind("analysis.", 0) == 0 || key == "detection.roc_thresholds")
    fail(o, label,
         "must name a model, design or detection key (the run and the analysis are the study's own), got \"" + key +
             "\"");
  Prior p;
  p.key = key;
  p.file = o.file;
  p.line = o.line;
  int kinds = 0;
  for (const auto& [name, node] : t) {
    const std::string field(name.str());
    if (auto kind = parse<PriorKind>(field)) {
      p.kind = *kind;
      ++kinds;
    } else if (field != "bounds" && field != "weights") {
      fail(o, label, "unknown field \"" + field + "\" (expected uniform, log_uniform, normal or choice)");
    }
  }
  if (kinds != 1)
    fail(o, label,
         "must give exactly one of uniform = [lo, hi], log_uniform = [lo, hi], normal = [mean, sd], choice = [...]");
  if (t.contains("bounds") && p.kind != PriorKind::Normal) fail(o, label, "bounds belongs to a normal prior");
  if (t.contains("weights") && p.kind != PriorKind::Choice) fail(o, label, "weights belongs to a choice prior");
  const toml::node& spec_node = *t.get(name(p.kind));
  if (p.kind != PriorKind::Choice && k->kind != Kind::Real)
    fail(o, label, std::string(name(p.kind)) + " needs a real-valued key; give " + key + " a choice = [...] prior");
  switch (p.kind) {
    case PriorKind::Uniform:
    case PriorKind::LogUniform: {
      std::tie(p.a, p.b) = read_pair(spec_node, k, o, label, "[lo, hi], two values of the key");
      if (!(p.a < p.b)) fail(o, label, "needs lo < hi, got [" + format_double(p.a) + ", " + format_double(p.b) + "]");
      if (p.kind == PriorKind::LogUniform && !(p.a > 0))
        fail(o, label, "log_uniform needs lo > 0, got " + format_double(p.a));
      break;
    }
    case PriorKind::Normal: {
      std::tie(p.a, p.b) = read_pair(spec_node, nullptr, o, label, "[mean, sd]");
      if (!(p.b > 0)) fail(o, label, "normal needs sd > 0, got " + format_double(p.b));
      if (const toml::node* b = t.get("bounds")) {
        std::tie(p.lo, p.hi) = read_pair(*b, k, o, label, "bounds = [lo, hi], two values of the key");
        if (!(p.lo < p.hi))
          fail(o, label, "needs bounds lo < hi, got [" + format_double(p.lo) + ", " + format_double(p.hi) + "]");
        p.bounds_given = true;
      } else {
        p.lo = k->lo.value;
        p.hi = k->hi.value;
      }
      break;
    }
    case PriorKind::Choice: {
      if (k->kind == Kind::RealList || k->kind == Kind::ChoiceList)
        fail(o, label, "a list-valued key cannot have a prior");
      auto a = spec_node.as_array();
      if (!a || a->empty()) fail(o, label, "choice must be a non-empty list of values, got " + node_text(spec_node));
      for (const auto& e : *a) {
        KeyValue v = read_value(e, *k, o, label);
        for (const auto& seen : p.values)
          if (format_value(seen) == format_value(v)) fail(o, label, "choice lists " + format_value(v) + " twice");
        p.values.push_back(std::move(v));
      }
      if (const toml::node* w = t.get("weights")) {
        auto wa = w->as_array();
        if (!wa || wa->size() != p.values.size())
          fail(o, label,
               "weights must be a list of " + std::to_string(p.values.size()) + " numbers, got " + node_text(*w));
        KeySpec weight;
        weight.kind = Kind::Real;
        weight.lo = {0, false};
        double sum = 0;
        for (const auto& e : *wa) sum += p.weights.emplace_back(read_real(e, weight, o, label + ".weights"));
        if (!(sum > 0) || !std::isfinite(sum)) fail(o, label, "weights must have a positive finite sum");
      } else {
        p.weights.assign(p.values.size(), 1.0);
      }
      break;
    }
  }
  return p;
}

Observed read_observed(const std::string& name, const toml::node& n, const Origin& o) {
  const std::string label = "infer.observed." + name;
  Observed ob;
  ob.name = name;
  ob.file = o.file;
  ob.line = o.line;
  if (auto s = n.as_string()) {
    const auto f = parse<Finding>(s->get());
    if (!f || *f == Finding::Number)
      fail(o, label,
           "must be \"positive\", \"negative\", \"null\", \"any\" or { value = X, tolerance = T }, got " +
               quote(s->get()));
    ob.finding = *f;
    return ob;
  }
  const toml::table* t = n.as_table();
  if (!t || !t->contains("value") || !t->contains("tolerance"))
    fail(o, label, "must be { value = X, tolerance = T } or a finding (\"positive\", ...), got " + node_text(n));
  for (const auto& [field, node] : *t)
    if (field.str() != "value" && field.str() != "tolerance")
      fail(o, label, "unknown field \"" + std::string(field.str()) + "\" (expected value and tolerance)");
  KeySpec number;
  number.kind = Kind::Real;
  ob.value = read_real(*t->get("value"), number, o, label + ".value");
  number.lo = {0, false};
  ob.tolerance = read_real(*t->get("tolerance"), number, o, label + ".tolerance");
  return ob;
}

InferSettings read_infer(const toml::node& node, const std::string& file, const OriginOf& origin) {
  InferSettings out;
  out.present = true;
  const Origin top = origin(node, "infer");
  const toml::table* t = node.as_table();
  if (!t) fail(top, "infer", "must be a table, got " + node_text(node));
  for (const auto& [name, n] : *t) {
    const std::string field(name.str());
    const std::string label = "infer." + field;
    const Origin o = origin(n, label);
    if (field == "draws") {
      auto i = n.as_integer();
      if (!i || i->get() < 1 || i->get() > kMaxInferDraws)
        fail(o, label, "must be an integer in [1, " + std::to_string(kMaxInferDraws) + "], got " + node_text(n));
      out.draws = i->get();
    } else if (field == "seed") {
      auto i = n.as_integer();
      if (!i || i->get() < 0) fail(o, label, "must be an integer >= 0, got " + node_text(n));
      out.seed = i->get();
    } else if (field == "prior" || field == "observed") {
      if (!n.is_table()) fail(o, label, "must be a table, got " + node_text(n));
      // Dotted names may be quoted ("rupture.onset_probability" = ...) or written as nested tables.
      std::function<void(const toml::table&, const std::string&)> walk = [&](const toml::table& tt,
                                                                             const std::string& prefix) {
        for (const auto& [leaf, v] : tt) {
          const std::string key = join_path(prefix, std::string(leaf.str()));
          const Origin vo = origin(v, label + "." + key);
          if (field == "prior") {
            const toml::table* vt = v.as_table();
            if (!vt)
              fail(vo, label + "." + key, "must be a distribution such as { uniform = [lo, hi] }, got " + node_text(v));
            if (is_distribution(*vt)) out.prior.push_back(read_prior(key, *vt, vo));
            else walk(*vt, key);
          } else {
            const toml::table* vt = v.as_table();
            if (vt && !vt->contains("value") && !vt->contains("tolerance")) walk(*vt, key);
            else out.observed.push_back(read_observed(key, v, vo));
          }
        }
      };
      walk(*n.as_table(), "");
    } else {
      fail(o, label, "unknown key (expected draws, seed, prior, observed)");
    }
  }
  (void)file;
  std::sort(out.prior.begin(), out.prior.end(), [](const Prior& x, const Prior& y) { return x.key < y.key; });
  std::sort(out.observed.begin(), out.observed.end(),
            [](const Observed& x, const Observed& y) { return x.name < y.name; });
  if (out.prior.empty()) fail(top, "infer.prior", "must give a prior for at least one scenario key");
  if (out.observed.empty()) fail(top, "infer.observed", "must give at least one observed finding");
  return out;
}

std::string infer_toml(const InferSettings& in) {
  std::ostringstream os;
  os << "\n[infer]\ndraws = " << in.draws << "\nseed = " << in.seed << "\n\n[infer.prior]\n";
  auto pair = [](double a, double b) { return "[" + format_double(a) + ", " + format_double(b) + "]"; };
  for (const Prior& p : in.prior) {
    os << quote(p.key) << " = { ";
    switch (p.kind) {
      case PriorKind::Uniform:
      case PriorKind::LogUniform: os << name(p.kind) << " = " << pair(p.a, p.b); break;
      case PriorKind::Normal:
        os << "normal = " << pair(p.a, p.b);
        if (p.bounds_given) os << ", bounds = " << pair(p.lo, p.hi);
        break;
      case PriorKind::Choice: {
        os << "choice = [";
        for (std::size_t i = 0; i < p.values.size(); ++i) os << (i ? ", " : "") << format_value(p.values[i]);
        os << "], weights = " << format_value(KeyValue(p.weights));
        break;
      }
    }
    os << " }\n";
  }
  os << "\n[infer.observed]\n";
  for (const Observed& ob : in.observed) {
    os << quote(ob.name) << " = ";
    if (ob.finding == Finding::Number)
      os << "{ value = " << format_double(ob.value) << ", tolerance = " << format_double(ob.tolerance) << " }\n";
    else os << quote(std::string(name(ob.finding))) << "\n";
  }
  return os.str();
}

}  // namespace

std::vector<std::string> scenario_keys() {
  std::vector<std::string> out;
  for (const auto& k : key_specs()) out.push_back(k.path);
  return out;
}

std::vector<std::string> key_choices(const std::string& key) {
  const KeySpec* k = find_spec(key);
  return k ? k->choices : std::vector<std::string>{};
}

KeyValue get_key(const Scenario& scenario, const std::string& key) {
  const KeySpec* k = find_spec(key);
  if (!k) throw InputError(locate("scenario", 0, key, "unknown key"));
  return k->get(scenario);
}

std::string format_value(const KeyValue& value) {
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::int64_t>) return std::to_string(v);
        else if constexpr (std::is_same_v<T, double>) return format_double(v);
        else if constexpr (std::is_same_v<T, std::string>) return quote(v);
        else {
          std::string s = "[";
          for (std::size_t i = 0; i < v.size(); ++i) {
            if (i) s += ", ";
            if constexpr (std::is_same_v<T, std::vector<double>>) s += format_double(v[i]);
            else s += quote(v[i]);
          }
          return s + "]";
        }
      },
      value);
}

void set_key(Scenario& scenario, const std::string& key, const KeyValue& value, const std::string& where) {
  const KeySpec* k = find_spec(key);
  if (!k) throw InputError(locate(where, 0, key, "unknown key"));
  // Round-trip through TOML so the one set of type and range checks applies.
  toml::table t = toml::parse("v = " + format_value(value));
  k->set(scenario, read_value(*t.get("v"), *k, Origin{where, 0}, key));
}

// The conditions of a parsed file: the Cartesian product of its sweep axes, the first varying
// slowest, each checked for consistency. Sizes are bounded before anything is allocated.
static void expand_conditions(ScenarioFile& out, const std::string& path,
                              const std::function<Origin(const std::string&)>& where) {
  // The count saturates just above the limit: a plain product of large axes wraps around (256^8 to 0).
  // Each factor is at most kMaxConditions + 1 before the multiplication, so no product wraps.
  std::size_t total = 1;
  for (const auto& a : out.sweep)
    total = std::min(total * std::min(a.values.size(), kMaxConditions + 1), kMaxConditions + 1);
  if (total > kMaxConditions) {
    std::string sizes;
    for (const auto& a : out.sweep) sizes += (sizes.empty() ? "" : " x ") + std::to_string(a.values.size());
    fail(Origin{path, 0}, "sweep", "must have at most " + std::to_string(kMaxConditions) + " conditions, got " + sizes);
  }
  // A run keeps a flag per replication of every condition (and solve and calibrate a record each):
  // the total is bounded before any is allocated. total <= 1e6 and replications <= 1e12 fit.
  const auto replications = static_cast<std::size_t>(out.base.run.replications);
  if (replications > kMaxStudyReplications / total)
    fail(where("run.replications"), "run.replications",
         "x the conditions (the replications of the study) must be at most " + std::to_string(kMaxStudyReplications) +
             ", got " + std::to_string(replications) + " x " + std::to_string(total) + " condition(s)");
  for (std::size_t c = 0; c < total; ++c) {
    Condition cond;
    cond.index = static_cast<int>(c) + 1;
    cond.scenario = out.base;
    std::size_t rest = c, stride = total;
    for (const auto& a : out.sweep) {
      stride /= a.values.size();
      const KeyValue& v = a.values[rest / stride];
      rest %= stride;
      find_spec(a.key)->set(cond.scenario, v);
      cond.swept_values.push_back(v);
    }
    if (!out.sweep.empty())
      check_consistency(cond.scenario, where, "in condition " + std::to_string(cond.index) + ": ");
    out.conditions.push_back(std::move(cond));
  }
}

ScenarioFile parse_scenario(const std::string& toml_text, const std::string& path,
                            const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(toml_text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    throw InputError(
        locate(path, static_cast<long>(e.source().begin.line), "", "invalid TOML: " + std::string(e.description())));
  }
  const std::vector<std::string> chain = merge_base_chain(root, path, overrides);
  std::vector<std::string> overridden;
  for (const auto& o : overrides) overridden.push_back(apply_override(root, o));
  // Values set on the command line are reported as coming from --set, not from a line of the file.
  auto origin = [&](const toml::node& n, const std::string& key) {
    for (const auto& k : overridden)
      if (key == k || key.rfind(k + ".", 0) == 0) return Origin{"--set", 0};
    return origin_of(n, path);
  };

  ScenarioFile out;
  out.path = path;
  std::map<std::string, Origin> origins;  // key -> where it was set
  auto where = [&](const std::string& key) {
    auto it = origins.find(key);
    return it == origins.end() ? Origin{path, 0} : it->second;
  };

  // Walk every value; tables must be known sections, leaves known keys.
  std::function<void(const toml::table&, const std::string&)> walk = [&](const toml::table& t,
                                                                         const std::string& prefix) {
    for (const auto& [name, node] : t) {
      const std::string key = join_path(prefix, std::string(name.str()));
      const Origin o = origin(node, key);
      if (key == "sweep" || key == "infer") continue;  // read after the scenario's keys
      if (key == "name" || key == "description") {
        auto s = node.as_string();
        if (!s) fail(o, key, "must be a string, got " + node_text(node));
        if (key == "name") check_name(s->get(), o);
        (key == "name" ? out.base.name : out.base.description) = s->get();
        continue;
      }
      if (const KeySpec* k = find_spec(key)) {
        k->set(out.base, read_value(node, *k, o, key));
        origins[key] = o;
        continue;
      }
      if (is_section(key)) {
        if (!node.is_table()) fail(o, key, "must be a table, got " + node_text(node));
        walk(*node.as_table(), key);
        continue;
      }
      fail(o, key, node.is_table() ? "unknown section" : "unknown key");
    }
  };
  walk(root, "");
  check_consistency(out.base, where, "");

  if (const toml::node* sweep = root.get("sweep")) {
    if (!sweep->is_table()) fail(origin_of(*sweep, path), "sweep", "must be a table of KEY = [values]");
    // toml++ keeps a table's keys sorted; the contract orders axes as written (the first varies
    // slowest). File entries come in source order, then --set axes in the order given.
    std::vector<std::pair<std::string, const toml::node*>> entries;
    for (const auto& [name, node] : *sweep->as_table()) entries.emplace_back(std::string(name.str()), &node);
    auto rank = [&](const std::pair<std::string, const toml::node*>& e) {
      const auto it = std::find(overridden.begin(), overridden.end(), "sweep." + e.first);
      if (it != overridden.end()) return std::make_tuple(1L, 0L, static_cast<long>(it - overridden.begin()), 0L);
      const auto& b = e.second->source().begin;  // a base's axes before its child's
      return std::make_tuple(0L, static_cast<long>(chain_position(chain, *e.second)), static_cast<long>(b.line),
                             static_cast<long>(b.column));
    };
    std::stable_sort(entries.begin(), entries.end(), [&](const auto& x, const auto& y) { return rank(x) < rank(y); });
    for (const auto& [key, node_ptr] : entries) {
      const toml::node& node = *node_ptr;
      const std::string label = "sweep." + key;
      const Origin o = origin(node, label);
      const KeySpec* k = find_spec(key);
      if (!k) fail(o, label, "must name a scenario key, got unknown key \"" + key + "\"");
      if (key.rfind("run.", 0) == 0)
        fail(
            o, label,
            "must name a model, design, detection or analysis key; a study has one run.* setting, got \"" + key + "\"");
      auto a = node.as_array();
      if (!a) fail(o, label, "must be a list of values, got " + node_text(node));
      if (a->empty()) fail(o, label, "must list at least one value, got []");
      SweepAxis axis{key, {}};
      for (const auto& e : *a) axis.values.push_back(read_value(e, *k, o, label));
      out.sweep.push_back(std::move(axis));
      origins[key] = o;
    }
  }

  expand_conditions(out, path, where);
  if (const toml::node* infer = root.get("infer")) {
    out.infer = read_infer(*infer, path, origin);
    if (out.infer.seed < 0) out.infer.seed = out.base.run.seed;
  }
  return out;
}

void require_one_condition(const ScenarioFile& file, std::string_view verb, std::string_view why) {
  if (file.conditions.size() == 1) return;
  throw InputError(locate(file.path, 0, "sweep",
                          std::string(verb) + " takes a scenario without a sweep (it has " +
                              std::to_string(file.conditions.size()) + " conditions)" + std::string(why)));
}

ScenarioFile single_condition(const Scenario& scenario) {
  ScenarioFile file;
  file.path = scenario.name;
  file.base = scenario;
  Condition c;
  c.index = 1;
  c.scenario = scenario;
  file.conditions.push_back(std::move(c));
  return file;
}

ScenarioFile load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  // Only a regular file of bounded size: a directory would read as an empty (valid) scenario and
  // opening a FIFO can block forever.
  return parse_scenario(read_input_file(path, "config", "a scenario file (TOML)", kMaxScenarioBytes), path, overrides);
}

std::string to_toml(const ScenarioFile& file) {
  const Scenario& s = file.base;
  std::ostringstream os;
  os << "name = " << quote(s.name) << "\n";
  os << "description = " << quote(s.description) << "\n";
  std::string table;
  for (const auto& k : key_specs()) {
    const std::string parent = k.path.substr(0, k.path.rfind('.'));
    if (parent != table) {
      os << "\n[" << parent << "]\n";
      table = parent;
    }
    const std::string leaf = k.path.substr(k.path.rfind('.') + 1);
    if (k.path == "detection.threshold" && std::isnan(s.detection.threshold_value)) {
      os << "# threshold: the rule's default (" << format_double(s.detection.threshold()) << " for "
         << quote(std::string(name(s.detection.rule))) << ")\n";
      continue;
    }
    os << leaf << " = " << format_value(k.get(s)) << "\n";
  }
  if (!file.sweep.empty()) {
    os << "\n[sweep]\n";
    for (const auto& a : file.sweep) {
      os << quote(a.key) << " = [";
      for (std::size_t i = 0; i < a.values.size(); ++i) os << (i ? ", " : "") << format_value(a.values[i]);
      os << "]\n";
    }
  }
  if (file.infer.present) os << infer_toml(file.infer);
  return os.str();
}

KeyHandle find_key(const std::string& key) {
  const auto& keys = key_specs();
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (keys[i].path == key) return KeyHandle{static_cast<int>(i)};
  return KeyHandle{};
}

void set_key_value(Scenario& scenario, KeyHandle key, const KeyValue& value) {
  key_specs().at(static_cast<std::size_t>(key.index)).set(scenario, value);
}

void check_scenario(const Scenario& scenario, const std::string& context) {
  check_consistency(
      scenario,
      [](const std::string&) {
        return Origin{"scenario", 0};
      },
      context);
}

}  // namespace collabzium
