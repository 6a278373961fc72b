#include "collabzium/model/cohort.h"

namespace collabzium {

std::string Cohort::patient_label(std::size_t i) const {
  return patient_labels.empty() ? std::to_string(i + 1) : patient_labels[i];
}

std::string Cohort::therapist_label(int j) const {
  return therapist_labels.empty() ? std::to_string(j + 1) : therapist_labels[j];
}

void Cohort::clear() {
  therapist.clear();
  offset.clear();
  planned_sessions.clear();
  patient_labels.clear();
  therapist_labels.clear();
  n_therapists = 0;
  patient.clear();
  session.clear();
  distress.clear();
  alliance_patient.clear();
  alliance_therapist.clear();
  has_truth = false;
  true_alliance.clear();
  true_distress.clear();
  true_ruptured.clear();
  true_onset.clear();
  true_repair.clear();
  registered_patient.clear();
  registered_therapist.clear();
  dropout.clear();
  has_effective = false;
  effective_onset.clear();
  effective_repair.clear();
  false_alarm_patient.clear();
  false_alarm_therapist.clear();
}

}  // namespace collabzium
