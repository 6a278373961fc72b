#pragma once
// One flat record per replication (MixedModels.jl style): every estimate, SE, df, p and CI bound of
// every model, rater and term, every fit diagnostic and every detection figure, as doubles (NaN
// where a fit failed or a figure is undefined). Column names are dotted:
//   MODEL.RATER.TERM.{estimate,se,df,p,ci_low,ci_high}
//   MODEL.RATER.{sigma2,tau2,criterion,converged,singular,iterations,observations}
//   MODEL.RATER.DIAGNOSTIC  (the kind's record_diagnostics, e.g. "dsem": rhat, ess, R-hat max and
//                            ESS min over its parameters)
//   detection.RATER.{ruptures,repairs,prevalence,true_prevalence,sensitivity,specificity,ppv,f1,
//                    repair_sensitivity,repair_specificity,repair_ppv,repair_f1}, detection.kappa
//   roc.RATER.auc, roc.RATER.K.{sensitivity,specificity}  (K: index into detection.roc_thresholds)
//   cohort.{patients,sessions,dropouts}
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collabzium/analysis/analysis.h"
#include "collabzium/detection/detection_measures.h"

namespace collabzium {

// The record schema. Every column name is made here, by the functions below, so the record, the
// summary (which reads columns back by name) and readers of the results file agree by
// construction. The fields of each group, in column order:
enum class CoefficientField { Estimate, Se, Df, P, CiLow, CiHigh };
// The fit fields of every kind; a kind's own diagnostics (ModelKindInfo::record_diagnostics) follow
// them.
enum class FitField { Sigma2, Tau2, Criterion, Converged, Singular, Iterations, Observations };
// DetectionField and its names: detection/detection_measures.h.
enum class RocField { Sensitivity, Specificity };
std::span<const std::string_view> choice_names(CoefficientField);
std::span<const std::string_view> choice_names(FitField);
std::span<const std::string_view> choice_names(RocField);

std::string coefficient_column(const Fit& fit, const std::string& term, CoefficientField field);  // MODEL.RATER.TERM.F
std::string fit_column(const Fit& fit, FitField field);                                           // MODEL.RATER.F
std::string diagnostic_column(const Fit& fit, std::string_view diagnostic);                       // MODEL.RATER.D
std::string detection_column(RaterId observer, DetectionField field);                             // detection.RATER.F
std::string kappa_column();                                                                       // detection.kappa
std::string roc_auc_column(RaterId observer);                                                     // roc.RATER.auc
std::string roc_column(RaterId observer, std::size_t threshold, RocField field);                  // roc.RATER.K.F

// The columns of the records of every condition of a study (their union, in first-seen order).
struct RecordLayout {
  std::vector<std::string> columns;
  // slots[c][k]: the column of the k-th value that fill_record emits for condition c.
  std::vector<std::vector<int>> slots;
};

RecordLayout make_layout(const std::vector<Scenario>& conditions);

// Writes the record of one analyzed cohort of condition `condition` (0-based) into `row`
// (layout.columns.size() doubles, every slot not emitted set to NaN). Does not allocate.
void fill_record(const RecordLayout& layout, int condition, const Scenario& scenario, const Cohort& cohort,
                 const CohortAnalysis& analysis, double* row);

}  // namespace collabzium
