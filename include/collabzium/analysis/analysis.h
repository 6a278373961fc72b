#pragma once
// What a real study runs on one cohort (docs/model.md sections 3 and 4): detection for each rater, then
// the analysis models: the lagged, within, initial, growth and oracle mixed models, each fitted by
// fit_lmm (REML or ML), and the Bayesian "dsem" model, fitted by its Gibbs sampler (analysis/dsem.h).
// Every fit is reported as a ModelFit (model_fit.h).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "collabzium/analysis/lmm/mixed_model.h"
#include "collabzium/analysis/model_fit.h"
#include "collabzium/detection/detection.h"
#include "collabzium/model/cohort.h"
#include "collabzium/model/random.h"
#include "collabzium/config/scenario.h"
#include "collabzium/numeric.h"

namespace collabzium {

// Who a model kind is fitted for: each observer (its ratings and detected events), once on the
// latent truth (the true alliance and events: the oracle), or both (a model that is also fitted on
// the oracle's events, recorded with rater "truth" under its own name: "initial.truth.rupture").
enum class FittedFor { EachObserver, Truth, EachObserverAndTruth };

// Builds a mixed model's data from a cohort and one rater's events (nullptr for the truth). Rows
// with a missing value in a model variable are left out; an event indicator is missing where the
// rater's rating of that session is missing.
using ModelBuilder = LmmProblem (*)(const Cohort& cohort, RaterId rater, const RaterEvents* events,
                                    const Scenario& scenario);

// Which replication a cohort is, as the simulator's streams name it (run.seed, 1-based condition
// and replication): sampled models ("dsem") draw from streams derived from it, so their numbers
// depend on nothing else (not on threads, order or the other models fitted).
struct ReplicationId {
  std::uint64_t seed = 0;
  std::uint64_t condition = 1;
  std::uint64_t replication = 1;
};

struct ModelResult;
struct FitRequest;
// Fits one model kind for one rater and fills the result's fit, rows and skipped (model and rater
// are set by the caller). The REML kinds build an LmmProblem and fit it with fit_lmm; "dsem" runs
// its sampler.
using ModelFitter = void (*)(const FitRequest& request, ModelResult& out);
// The terms of one fit (a rater: RaterId::Truth for the oracle's events) under a scenario, in
// column order: those of the kind's table row that the scenario keeps, then any it adds.
using TermsFunction = std::vector<std::string> (*)(RaterId rater, const Scenario& scenario);
// The true value of a term under a scenario: what the summary scores bias and coverage against
// (NaN: none, e.g. the intercept).
using TrueValueFunction = double (*)(const Scenario& scenario, std::string_view term);

// One analysis model kind: everything the analysis, the record, the summary and infer know about
// it. model_kinds() holds one per ModelKind, in the enum's order; its names are the configuration
// and record names (config/choices.h: choice_names(ModelKind), a plain list beside the enum), which the table checks.
// A new kind is a value of ModelKind, its name there and an entry here.
struct ModelKindInfo {
  ModelKind kind;
  std::string_view name;
  std::vector<std::string> terms;  // every term it can have, in column order (therapist dummies follow)
  FittedFor fitted_for;
  ModelFitter fit;
  ModelBuilder build;  // the REML kinds' data, which fit_lmm fits; nullptr for another kind ("dsem")
  TermsFunction terms_of;
  TrueValueFunction true_value;
  // The fit's named diagnostics (ModelFit::diagnostics) that are record columns MODEL.RATER.NAME,
  // after the fit fields every kind has (FitField).
  std::vector<std::string_view> record_diagnostics;
  // The scenario keys whose values change terms_of, hence the record's columns (infer remakes
  // the layout per draw when a prior key is one of them).
  std::vector<std::string_view> layout_keys;
  // A Bayesian sampler's fit (the report prints chains and draws instead of a REML criterion).
  bool sampled = false;
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
// follow): its kind's terms_of.
std::vector<std::string> model_terms(const Fit& fit, const Scenario& scenario);
// The true value of a term of a model kind under a scenario: its kind's true_value.
double true_value(const Scenario& scenario, ModelKind model, std::string_view term);
// Whether a value of `key` can change the record's columns of a scenario with these models.
bool changes_layout(const std::vector<ModelKind>& models, std::string_view key);

struct ModelResult {
  ModelKind model = ModelKind::Lagged;
  RaterId rater = RaterId::Patient;
  ModelFit fit;
  int rows = 0;         // observations used
  std::string skipped;  // non-empty when the model could not be set up (no rows, ...): no fit then
};

// Everything a ModelFitter may use. `earlier` holds the fits of this analysis made before this one
// (the "dsem" fitter starts from the same rater's "lagged" fit when it is among them).
struct FitRequest {
  ModelKind kind;
  const Cohort& cohort;
  RaterId rater;
  const RaterEvents* events;  // nullptr for the truth
  const Scenario& scenario;
  const LmmOptions& lmm;
  const ReplicationId& replication;
  const std::vector<ModelResult>& earlier;
};

struct CohortAnalysis {
  RaterEvents events[2];  // by index_of(observer)
  DetectionScore detection[2];
  double kappa = 0;                 // patient-therapist agreement on session rupture flags
  std::vector<RocCurve> roc;        // per rater when detection.roc_thresholds is not empty
  std::vector<ModelResult> models;  // in the order of fits_of(analysis); truth-fitted models only
                                    // when the cohort has truth
};

// The builder of `model` applied to the cohort (a mixed-model kind: build is not nullptr; throws
// std::logic_error for another kind).
LmmProblem build_model(ModelKind model, const Cohort& cohort, RaterId rater, const RaterEvents* events,
                       const Scenario& scenario);

// The engine of one "dsem" fit: its replication's StreamPurpose::Dsem stream, made distinct per
// rater by hashing the rater's index into it (mix64), so each fit has its own stream.
Engine dsem_engine(const ReplicationId& replication, RaterId rater);

// Detection and every model of scenario.analysis on one cohort, which is replication `replication`.
CohortAnalysis analyze_cohort(const Cohort& cohort, const Scenario& scenario, const ReplicationId& replication);
// One cohort on its own (`analyze` of a data file): replication (run.seed, 1, 1).
CohortAnalysis analyze_cohort(const Cohort& cohort, const Scenario& scenario);

}  // namespace collabzium
