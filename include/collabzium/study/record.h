#pragma once
// One flat record per replication (MixedModels.jl style): every estimate, SE, df, p and CI bound of
// every model, rater and term, every fit diagnostic and every detection figure, as doubles (NaN
// where a fit failed or a figure is undefined). Column names are dotted:
//   MODEL.RATER.TERM.{estimate,se,df,p,ci_low,ci_high}
//   MODEL.RATER.{sigma2,tau2,criterion,converged,singular,iterations,observations}
//   detection.RATER.{ruptures,repairs,prevalence,true_prevalence,sensitivity,specificity,ppv,f1,
//                    repair_sensitivity,repair_specificity,repair_ppv,repair_f1}, detection.kappa
//   roc.RATER.auc, roc.RATER.K.{sensitivity,specificity}  (K: index into detection.roc_thresholds)
//   cohort.{patients,sessions,dropouts}
#include <string>
#include <vector>

#include "collabzium/analysis/analysis.h"

namespace collabzium {

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
