#pragma once
// A scenario: every parameter of the data-generating model, detection and analysis, with the
// defaults of MODEL.md 2.6, plus the [sweep] that turns it into numbered conditions. Parsed once,
// then immutable; conditions are copies with the swept keys set.
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace collabzium {

struct SessionPlan {
  std::string distribution = "poisson";  // fixed | poisson | uniform
  double mean = 16;
  std::int64_t min = 3;
  std::int64_t max = 40;
};

struct Dropout {
  double base = 0.01;
  double unresolved_rupture = 1.0;
  double distress = 0.0;
};

struct Design {
  std::int64_t therapists = 6;
  std::int64_t patients = 119;
  std::string allocation = "balanced";  // balanced | random
  SessionPlan sessions;
  Dropout dropout;
};

// g(t) of the alliance growth: ln t ("log") or t - 1 ("linear"). The shape is passed as a bool so
// per-session loops (simulation, the growth model's rows) compare no strings.
inline double growth_time(bool log_shape, int session) {
  return log_shape ? std::log(static_cast<double>(session)) : static_cast<double>(session - 1);
}

struct Alliance {
  double mean = 3.6;
  double therapist_sd = 0.10;
  double patient_sd = 0.30;
  double growth = 0.15;
  double growth_sd = 0.08;
  std::string growth_shape = "log";  // log | linear
  double ar = 0.4;
  double innovation_sd = 0.20;
};

// MODEL.md 2.7: logit shifts of the repair probability in sessions whose active episode the
// therapist (or the patient) registered.
struct Responsiveness {
  double therapist = 0;
  double patient = 0;
};

struct Rupture {
  double onset_probability = 0.06;
  double propensity_sd = 0.8;
  double distress_effect = 0.2;
  double depth_mean = 0.6;
  double depth_sd = 0.25;
  double repair_probability = 0.5;
  double repair_skill_sd = 0.5;
  double repair_bonus = 0.10;
  Responsiveness responsiveness{};
};

struct DistressEffects {
  double rupture = 1.5;
  double repair = -1.5;
  double unresolved = 0.5;
  double alliance = -1.0;
  // MODEL.md 2.7: β_F, the effect of a patient false alarm on next-session distress, and which
  // onsets and repairs enter β_R and β_P: latent | patient | therapist | either | both.
  double false_alarm = 0;
  std::string rupture_via = "latent";
  std::string repair_via = "latent";
};

struct Distress {
  double mean = 20;
  double therapist_sd = 1;
  double patient_sd = 5;
  double trend = -0.4;
  double trend_sd = 0.2;
  double ar = 0.5;
  double innovation_sd = 3;
  std::int64_t items = 10;
  double item_sd = 0.5;
  std::string response = "items";  // items | continuous
  DistressEffects effects;
};

struct Rater {
  double offset = 0;
  double leniency_sd = 0;
  double dyad_sd = 0;
  double registration = 1;
  double sensitivity = 1;
  double false_alarm_rate = 0;
  double false_alarm_depth = 0.5;
  double false_alarm_depth_sd = 0.15;
  double mood_congruence = 0;
  double occasion_sd = 0;
  std::int64_t items = 12;
  double item_sd = 0.6;
  double scale_min = 1;
  double scale_max = 5;
  std::string response = "items";  // items | continuous
};

Rater default_patient_rater();
Rater default_therapist_rater();

struct Raters {
  Rater patient = default_patient_rater();
  Rater therapist = default_therapist_rater();
};

struct RepairDetection {
  std::string mode = "return";  // return | rise
  std::int64_t window = 3;
};

struct Detection {
  std::string rule = "absolute_drop";  // absolute_drop | sd_drop | rci | percent_drop | sudden_loss
  // NaN means "the rule's default" (MODEL.md 3); threshold() resolves it.
  double threshold_value = std::numeric_limits<double>::quiet_NaN();
  std::string sd_reference = "differences";  // differences | person | baseline
  double reliability = 0.9;
  double critical_t = 2.776;
  std::int64_t tolerance = 0;
  std::vector<double> roc_thresholds;
  RepairDetection repair;
  double threshold() const;
};

double default_threshold(const std::string& rule);

struct Analysis {
  std::vector<std::string> models = {"lagged", "within", "oracle", "growth"};
  bool reml = true;
  std::string therapist = "none";    // none | fixed | random
  std::string df = "satterthwaite";  // satterthwaite | residual | z
  bool growth_random_slope = false;
  // Scoring: also leave singular fits (a variance on the boundary) out of the estimate measures.
  // Off by default: a zero variance is a legitimate REML estimate, and dropping those fits biases
  // every condition whose true between-patient variance is small.
  bool exclude_singular = false;
  bool has_model(const std::string& name) const;
};

struct RunSettings {
  std::int64_t replications = 1000;
  std::int64_t seed = 20251126;
  double alpha = 0.05;
  std::int64_t threads = 0;  // 0: all cores
};

struct Scenario {
  std::string name = "scenario";
  std::string description;
  RunSettings run;
  Design design;
  Alliance alliance;
  Rupture rupture;
  Distress distress;
  Raters raters;
  Detection detection;
  Analysis analysis;
};

// A value a key can hold. Integers stay integers so that design.patients = 119.0 is refused.
using KeyValue = std::variant<bool, std::int64_t, double, std::string, std::vector<double>,
                              std::vector<std::string>>;

struct SweepAxis {
  std::string key;  // dotted path, e.g. "design.patients"
  std::vector<KeyValue> values;
};

struct Condition {
  int index = 1;                       // 1-based, as in the summary CSV
  std::vector<KeyValue> swept_values;  // one per sweep axis, in axis order
  Scenario scenario;
};

struct ScenarioFile {
  std::string path;
  Scenario base;                 // the scenario with every key resolved, before the sweep
  std::vector<SweepAxis> sweep;  // in file order: the first key varies slowest
  std::vector<Condition> conditions;
};

// Parses TOML text (path only names it in messages), applies --set overrides ("KEY=VALUE", TOML
// value syntax), validates every key and every condition, expands the sweep. Throws InputError.
ScenarioFile parse_scenario(const std::string& toml_text, const std::string& path,
                            const std::vector<std::string>& overrides = {});
ScenarioFile load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});

// The fully resolved scenario (every key, defaults filled in) and its sweep, as TOML that
// parse_scenario accepts again and that yields the same scenario.
std::string to_toml(const ScenarioFile& file);

// Every dotted key the scenario knows, in canonical order.
std::vector<std::string> scenario_keys();
KeyValue get_key(const Scenario& scenario, const std::string& key);
// Sets a key after checking type and range; throws InputError mentioning `where`.
void set_key(Scenario& scenario, const std::string& key, const KeyValue& value, const std::string& where);
std::string format_value(const KeyValue& value);  // TOML syntax

}  // namespace collabzium
