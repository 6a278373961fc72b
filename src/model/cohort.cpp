#include "collabzium/model/cohort.h"

#include "collabzium/model/cohort_columns.h"

namespace collabzium {

std::string Cohort::patient_label(std::size_t i) const {
  return patient_labels.empty() ? std::to_string(i + 1) : patient_labels[i];
}

std::string Cohort::therapist_label(int j) const {
  return therapist_labels.empty() ? std::to_string(j + 1) : therapist_labels[j];
}

void Cohort::clear() {
  // Per patient, and the per-row vectors that are not a column's values.
  therapist.clear();
  offset.clear();
  planned_sessions.clear();
  patient_labels.clear();
  therapist_labels.clear();
  n_therapists = 0;
  patient.clear();
  session.clear();
  has_truth = false;
  has_effective = false;
  // The columns' values.
  for (const CohortColumn& column : kCohortColumns) {
    if (column.numbers) (this->*column.numbers).clear();
    if (column.flags) (this->*column.flags).clear();
  }
}

}  // namespace collabzium
