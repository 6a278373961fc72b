#pragma once
// The columns of the cohort CSV (the README's "Cohort data"), in the order `simulate` writes them:
// each column's name, what its values are, which Cohort vector holds them and when it is written.
// The writer (io/cohort_csv.h), the reader (io/cohort_reader.h) and Cohort::clear walk this one
// table, so a column added here is written, read back and cleared alike.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "collabzium/model/cohort.h"

namespace collabzium {

enum class CohortColumnKind {
  Label,    // free text naming a patient or therapist (per patient: Cohort::patient_labels, ...)
  Session,  // a whole session number >= 1
  Measure,  // a number, or missing (NaN)
  Flag,     // 0 or 1
};

// When a column is written, and which Cohort flag says its values are known.
enum class CohortColumnGroup {
  Observed,   // every cohort; required when reading
  Truth,      // Cohort::has_truth: the latent truth of a simulated cohort
  Effective,  // Cohort::has_effective: the events that entered distress (docs/model.md 2.7)
};

struct CohortColumn {
  std::string_view name;
  CohortColumnKind kind;
  CohortColumnGroup group;
  // The row vector holding the values: `numbers` for Measure columns, `flags` for Flag columns,
  // neither for Label and Session columns (whose vectors are Cohort::patient, ::session, ...).
  std::vector<double> Cohort::*numbers = nullptr;
  std::vector<std::uint8_t> Cohort::*flags = nullptr;
  // A Flag column that may be missing (empty or NA) when read, taken as 0.
  bool may_be_missing = false;
  // Reading sets the group's Cohort flag only when every column marking it is present.
  bool marks_group = false;
};

inline constexpr std::array<CohortColumn, 18> kCohortColumns = {{
    {"patient", CohortColumnKind::Label, CohortColumnGroup::Observed},
    {"therapist", CohortColumnKind::Label, CohortColumnGroup::Observed},
    {"session", CohortColumnKind::Session, CohortColumnGroup::Observed},
    {"distress", CohortColumnKind::Measure, CohortColumnGroup::Observed, &Cohort::distress},
    {"alliance_patient", CohortColumnKind::Measure, CohortColumnGroup::Observed, &Cohort::alliance_patient},
    {"alliance_therapist", CohortColumnKind::Measure, CohortColumnGroup::Observed, &Cohort::alliance_therapist},
    {"true_alliance", CohortColumnKind::Measure, CohortColumnGroup::Truth, &Cohort::true_alliance},
    {"true_distress", CohortColumnKind::Measure, CohortColumnGroup::Truth, &Cohort::true_distress},
    {"true_ruptured", CohortColumnKind::Flag, CohortColumnGroup::Truth, nullptr, &Cohort::true_ruptured},
    {"true_onset", CohortColumnKind::Flag, CohortColumnGroup::Truth, nullptr, &Cohort::true_onset, false, true},
    {"true_repair", CohortColumnKind::Flag, CohortColumnGroup::Truth, nullptr, &Cohort::true_repair, false, true},
    {"registered_patient", CohortColumnKind::Flag, CohortColumnGroup::Truth, nullptr, &Cohort::registered_patient,
     true},
    {"registered_therapist", CohortColumnKind::Flag, CohortColumnGroup::Truth, nullptr, &Cohort::registered_therapist,
     true},
    {"dropout", CohortColumnKind::Flag, CohortColumnGroup::Truth, nullptr, &Cohort::dropout, true},
    {"effective_onset", CohortColumnKind::Flag, CohortColumnGroup::Effective, nullptr, &Cohort::effective_onset, true,
     true},
    {"effective_repair", CohortColumnKind::Flag, CohortColumnGroup::Effective, nullptr, &Cohort::effective_repair, true,
     true},
    {"false_alarm_patient", CohortColumnKind::Flag, CohortColumnGroup::Effective, nullptr, &Cohort::false_alarm_patient,
     true},
    {"false_alarm_therapist", CohortColumnKind::Flag, CohortColumnGroup::Effective, nullptr,
     &Cohort::false_alarm_therapist, true},
}};

// The index of the column named `name` in kCohortColumns (a compile error when there is none, in a
// constant expression).
constexpr std::size_t cohort_column(std::string_view name) {
  for (std::size_t c = 0; c < kCohortColumns.size(); ++c)
    if (kCohortColumns[c].name == name) return c;
  throw "no such cohort column";
}
// The columns that identify a row.
inline constexpr std::size_t kPatientColumn = cohort_column("patient");
inline constexpr std::size_t kTherapistColumn = cohort_column("therapist");
inline constexpr std::size_t kSessionColumn = cohort_column("session");

// Whether a cohort holds the values of a group's columns.
inline bool has_group(const Cohort& c, CohortColumnGroup g) {
  switch (g) {
    case CohortColumnGroup::Observed: return true;
    case CohortColumnGroup::Truth: return c.has_truth;
    case CohortColumnGroup::Effective: return c.has_effective;
  }
  return false;
}

}  // namespace collabzium
