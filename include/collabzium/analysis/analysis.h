#pragma once
// What a real study runs on one cohort (MODEL.md sections 3 and 4): detection for each rater, then
// the lagged, within, initial, growth and oracle mixed models, each fitted by fit_lmm.
#include <string>
#include <string_view>
#include <vector>

#include "collabzium/model/cohort.h"
#include "collabzium/detection/detection.h"
#include "collabzium/analysis/lmm/mixed_model.h"
#include "collabzium/model/scenario.h"

namespace collabzium {

// Who a model kind is fitted for: each observer (its ratings and detected events), once on the
// latent truth (the true alliance and events: the oracle), or both (a model that is also fitted on
// the oracle's events, recorded with rater "truth" under its own name: "initial.truth.rupture").
enum class FittedFor { EachObserver, Truth, EachObserverAndTruth };

// Builds a model's data from a cohort and one rater's events (nullptr for the truth). Rows with a
// missing value in a model variable are left out; an event indicator is missing where the rater's
// rating of that session is missing.
using ModelBuilder = LmmProblem (*)(const Cohort& cohort, RaterId rater, const RaterEvents* events,
                                    const Scenario& scenario);

// One analysis model kind. model_kinds() holds one per ModelKind, in the enum's order; the names
// are the configuration and record names (choice_names(ModelKind) reads them from here).
struct ModelKindInfo {
  ModelKind kind;
  std::string_view name;
  std::vector<std::string> terms;  // in column order (therapist dummies, when asked for, follow)
  FittedFor fitted_for;
  ModelBuilder build;
};
const std::vector<ModelKindInfo>& model_kinds();
const ModelKindInfo& model_kind(ModelKind kind);
// The kind's terms in its table row (all of them: "session" included).
const std::vector<std::string>& model_terms(ModelKind kind);
bool fitted_for_observers(ModelKind kind);
bool fitted_for_truth(ModelKind kind);

// One fit of a replication: a model kind for one rater.
struct Fit {
  ModelKind model;
  RaterId rater;
  bool operator==(const Fit&) const = default;
};

// The fits of an analysis, in the one order that the analysis, the record and the summary use:
// per observer (patient, therapist) each observer-fitted model of analysis.models in its order,
// then the truth-fitted ones (the oracle, and "initial" on the oracle's events) in that order.
std::vector<Fit> fits_of(const Analysis& analysis);

// The terms of one fit under a scenario, in column order (therapist dummies, when asked for,
// follow): the kind's terms without "session" when analysis.session is false (every kind but
// growth), and, for a fit on the truth, "false_alarm" (the patient's false alarms) when
// distress.effects.false_alarm is not 0 (docs/model.md, mechanisms).
std::vector<std::string> model_terms(const Fit& fit, const Scenario& scenario);

struct ModelResult {
  ModelKind model = ModelKind::Lagged;
  RaterId rater = RaterId::Patient;
  LmmFit fit;
  int rows = 0;        // observations used
  std::string skipped;  // non-empty when the model could not be set up (no rows, ...): no fit then
};

struct CohortAnalysis {
  RaterEvents events[2];     // by index_of(observer)
  DetectionScore detection[2];
  double kappa = 0;          // patient-therapist agreement on session rupture flags
  std::vector<RocCurve> roc;  // per rater when detection.roc_thresholds is not empty
  std::vector<ModelResult> models;  // in the order of fits_of(analysis); truth-fitted models only
                                    // when the cohort has truth
};

// The builder of `model` applied to the cohort.
LmmProblem build_model(ModelKind model, const Cohort& cohort, RaterId rater, const RaterEvents* events,
                       const Scenario& scenario);

CohortAnalysis analyze_cohort(const Cohort& cohort, const Scenario& scenario);

}  // namespace collabzium
