#pragma once
// A scenario: every parameter of the data-generating model, detection and analysis, with the
// defaults of docs/model.md 2.6, plus the [sweep] that turns it into numbered conditions. Parsed once,
// then immutable; conditions are copies with the swept keys set.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "collabzium/choice.h"
#include "collabzium/config/choices.h"
#include "collabzium/config/infer_settings.h"
#include "collabzium/config/key_value.h"
#include "collabzium/config/limits.h"

namespace collabzium {

struct SessionPlan {
  SessionDistribution distribution = SessionDistribution::Poisson;
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
  Allocation allocation = Allocation::Balanced;
  SessionPlan sessions;
  Dropout dropout;
};

// g(t) of the alliance growth: ln t (log) or t - 1 (linear).
inline double growth_time(GrowthShape shape, int session) {
  return shape == GrowthShape::Log ? std::log(static_cast<double>(session)) : static_cast<double>(session - 1);
}

struct Alliance {
  double mean = 3.6;
  double therapist_sd = 0.10;
  double patient_sd = 0.30;
  double growth = 0.15;
  double growth_sd = 0.08;
  GrowthShape growth_shape = GrowthShape::Log;
  double ar = 0.4;
  double innovation_sd = 0.20;
};

// docs/model.md 2.7: logit shifts of the repair probability in sessions whose active episode the
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
  // docs/model.md 2.7: β_F, the effect of a patient false alarm on next-session distress, and which
  // onsets and repairs enter β_R and β_P: latent | patient | therapist | either | both.
  double false_alarm = 0;
  EventVia rupture_via = EventVia::Latent;
  EventVia repair_via = EventVia::Latent;
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
  Response response = Response::Items;
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
  Response response = Response::Items;
};

Rater default_patient_rater();
Rater default_therapist_rater();

struct Raters {
  Rater patient = default_patient_rater();
  Rater therapist = default_therapist_rater();
};

struct RepairDetection {
  RepairMode mode = RepairMode::Return;
  std::int64_t window = 3;
};

struct Detection {
  DetectionRule rule = DetectionRule::AbsoluteDrop;
  // NaN means "the rule's default" (docs/model.md 3); threshold() resolves it.
  double threshold_value = std::numeric_limits<double>::quiet_NaN();
  SdReference sd_reference = SdReference::Differences;
  double reliability = 0.9;
  double critical_t = 2.776;
  std::int64_t tolerance = 0;
  std::vector<double> roc_thresholds;
  RepairDetection repair;
  double threshold() const;
};

double default_threshold(DetectionRule rule);

// The "dsem" model's sampler (docs/model.md 4.1): `chains` chains of `iterations` each, the first half
// of each discarded as burn-in (so iterations is even).
struct DsemSampling {
  std::int64_t chains = 2;
  std::int64_t iterations = 2000;
};

struct Analysis {
  std::vector<ModelKind> models = {ModelKind::Lagged, ModelKind::Within, ModelKind::Oracle, ModelKind::Growth};
  bool reml = true;
  TherapistTerm therapist = TherapistTerm::None;
  DfMethod df = DfMethod::Satterthwaite;
  bool growth_random_slope = false;
  // docs/model.md 4.1: whether the "session" term is in the lagged family (lagged, within, initial,
  // oracle); false gives the pure dynamic-panel regressions (Nickell's bias can then be checked).
  bool session = true;
  // Scoring: also leave singular fits (a variance on the boundary) out of the estimate measures.
  // Off by default: a zero variance is a legitimate REML estimate, and dropping those fits biases
  // every condition whose true between-patient variance is small.
  bool exclude_singular = false;
  DsemSampling dsem;
  bool has_model(ModelKind kind) const;
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
  InferSettings infer;  // [infer], when present (ignored by the other verbs)
};

// Parses TOML text (path names it in messages and is where a `base` file is resolved from; see
// docs/model.md and the README), merges its base chain under it, applies --set overrides
// ("KEY=VALUE", TOML value syntax), validates every key and every condition, expands the sweep.
// Throws InputError.
ScenarioFile parse_scenario(const std::string& toml_text, const std::string& path,
                            const std::vector<std::string>& overrides = {});
ScenarioFile load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});

// The fully resolved scenario (every key, defaults filled in) and its sweep, as TOML that
// parse_scenario accepts again and that yields the same scenario.
std::string to_toml(const ScenarioFile& file);

// Every dotted key the scenario knows, in canonical order.
std::vector<std::string> scenario_keys();
// The admissible values of a choice key (or a list of choices), in the order of its enum's
// choice_names (config/choices.h); empty for every other key.
std::vector<std::string> key_choices(const std::string& key);
KeyValue get_key(const Scenario& scenario, const std::string& key);
// Sets a key after checking type and range; throws InputError mentioning `where`.
void set_key(Scenario& scenario, const std::string& key, const KeyValue& value, const std::string& where);

// A key found once, then set many times without the TOML round trip of set_key (the prior draws of
// `infer`): the value must already be valid for the key (of its type, within its range).
struct KeyHandle {
  int index = -1;
};
KeyHandle find_key(const std::string& key);  // index -1 for an unknown key
void set_key_value(Scenario& scenario, KeyHandle key, const KeyValue& value);
// The checks that involve several keys (sessions.min <= max, Gamma shapes, ...) on a scenario made
// in code; throws InputError naming the key, with `context` before the reason.
void check_scenario(const Scenario& scenario, const std::string& context);

// A scenario file of this one scenario as its only condition (no sweep): an in-memory study of it.
ScenarioFile single_condition(const Scenario& scenario);

// For a verb that studies one design (analyze, calibrate, solve, infer, serve): InputError("PATH:
// sweep: VERB takes a scenario without a sweep (it has N conditions)WHY") unless `file` has exactly
// one condition (a sweep of single values is one).
void require_one_condition(const ScenarioFile& file, std::string_view verb, std::string_view why = {});

}  // namespace collabzium
