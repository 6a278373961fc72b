#pragma once
// What a real study runs on one cohort (MODEL.md sections 3 and 4): detection for each rater, then
// the lagged, within, growth and oracle mixed models, each fitted by fit_lmm.
#include <string>
#include <vector>

#include "collabzium/model/cohort.h"
#include "collabzium/detection/detection.h"
#include "collabzium/analysis/lmm/mixed_model.h"
#include "collabzium/model/scenario.h"

namespace collabzium {

// Raters a model can be fitted for: the two observers, and "truth" (the oracle's true events).
enum class ModelRater { Patient = 0, Therapist = 1, Truth = 2 };
const char* model_rater_name(ModelRater r);

// The terms of each model, in column order (therapist dummies, when asked for, follow).
const std::vector<std::string>& model_terms(const std::string& model);
// The terms of a model under a scenario: the oracle gains "false_alarm" (the patient's false
// alarms) when distress.effects.false_alarm is not 0 (MODEL.md 2.7).
const std::vector<std::string>& model_terms(const std::string& model, const Scenario& scenario);

struct ModelResult {
  std::string model;  // lagged | within | oracle | growth
  ModelRater rater;
  LmmFit fit;
  int rows = 0;        // observations used
  std::string skipped;  // non-empty when the model could not be set up (no rows, ...): no fit then
};

struct CohortAnalysis {
  RaterEvents events[2];     // by RaterId
  DetectionScore detection[2];
  double kappa = 0;          // patient-therapist agreement on session rupture flags
  std::vector<RocCurve> roc;  // per rater when detection.roc_thresholds is not empty
  std::vector<ModelResult> models;  // in the order: per rater (patient, therapist) each model of
                                    // analysis.models except oracle, then the oracle
};

// Builds a model's data from a cohort and one rater's events (nullptr for the truth).
// Rows with a missing value in a model variable are left out; an event indicator is missing where
// the rater's rating of that session is missing.
LmmProblem build_model(const std::string& model, const Cohort& cohort, ModelRater rater,
                       const RaterEvents* events, const Scenario& scenario);

CohortAnalysis analyze_cohort(const Cohort& cohort, const Scenario& scenario);

}  // namespace collabzium
