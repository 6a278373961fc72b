#pragma once
// One cohort in long format: a row per observed session, rows grouped by patient and ordered by
// session. Simulated cohorts carry the latent truth; a user's study may not. Vectors keep their
// capacity across clear(), so a replication loop reuses one Cohort without allocating.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "collabzium/choice.h"

namespace collabzium {

// Whose view of the alliance: the two observers, and the truth (the latent alliance and the true
// events, which the oracle model uses). Observers index per-rater arrays by their value.
enum class RaterId { Patient = 0, Therapist = 1, Truth = 2 };
inline std::span<const std::string_view> choice_names(RaterId) {
  static constexpr std::string_view names[] = {"patient", "therapist", "truth"};
  return names;
}
// The name as a C string (the names are literals, so null-terminated), for printf-style output.
inline const char* rater_name(RaterId r) { return name(r).data(); }
inline constexpr RaterId kObservers[] = {RaterId::Patient, RaterId::Therapist};
inline constexpr std::size_t index_of(RaterId observer) { return static_cast<std::size_t>(observer); }

struct Cohort {
  // Per patient (index 0..patients()-1).
  std::vector<int> therapist;                  // therapist index 0..therapists()-1
  std::vector<std::size_t> offset;             // rows of patient i: [offset[i], offset[i+1]); size patients()+1
  std::vector<std::string> patient_labels;     // empty: the label of patient i is i+1
  std::vector<std::string> therapist_labels;   // empty: the label of therapist j is j+1
  std::vector<std::int64_t> planned_sessions;  // simulated cohorts only: T_i before dropout
  int n_therapists = 0;

  // Per row.
  std::vector<int> patient;  // patient index
  std::vector<int> session;  // session number, 1-based; gaps are allowed in user data
  std::vector<double> distress, alliance_patient, alliance_therapist;  // NaN: missing

  // Truth (simulated cohorts, or user data with true_onset and true_repair columns).
  bool has_truth = false;
  std::vector<double> true_alliance, true_distress;  // NaN where unknown
  std::vector<std::uint8_t> true_ruptured, true_onset, true_repair;
  std::vector<std::uint8_t> registered_patient, registered_therapist;
  std::vector<std::uint8_t> dropout;  // 1 on a dropout's last row
  // docs/model.md 2.7: the onsets and repairs that entered the distress equation, and the sessions with
  // a false alarm of each rater. Simulated cohorts, or user data with the effective_* columns.
  bool has_effective = false;
  std::vector<std::uint8_t> effective_onset, effective_repair;
  std::vector<std::uint8_t> false_alarm_patient, false_alarm_therapist;

  std::size_t patients() const { return therapist.size(); }
  std::size_t rows() const { return session.size(); }
  int therapists() const { return n_therapists; }
  // An observer's ratings; the truth's are the latent alliance.
  const std::vector<double>& ratings(RaterId r) const {
    switch (r) {
      case RaterId::Patient: return alliance_patient;
      case RaterId::Therapist: return alliance_therapist;
      case RaterId::Truth: break;
    }
    return true_alliance;
  }
  std::string patient_label(std::size_t i) const;
  std::string therapist_label(int j) const;
  void clear();  // empties every vector, keeping capacity
};

}  // namespace collabzium
