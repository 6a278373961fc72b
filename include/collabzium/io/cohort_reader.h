#pragma once
// Reading a cohort from the CSV format of the README ("Cohort data"): a header line, then one row
// per observed session. Columns are found by name, in any order; unknown columns are ignored.
// Required: patient, therapist, session, distress, alliance_patient, alliance_therapist.
// Optional truth: true_alliance, true_distress (numbers or missing), true_ruptured, true_onset,
// true_repair (0/1), registered_patient, registered_therapist, dropout (0/1, missing = 0).
// has_truth is set when true_onset and true_repair are present. Every truth vector has one entry
// per row (NaN / 0 where its column is absent).
//
// Optional mechanisms truth: effective_onset, effective_repair, false_alarm_patient,
// false_alarm_therapist (0/1); has_effective is set when the truth and both effective columns are
// present (the oracle then fits the effective events).
//
// Patient and therapist labels are strings, kept in patient_labels / therapist_labels in canonical
// order (labels that are numbers by value, before the others; the others as text, bytewise), so the
// same data in any row order give the same cohort and the same report; indices follow that order. The cohort is sorted
// by patient, then session. A missing value is an empty field or NA. Records are split by the CSV
// module (io/csv.h): lines may end in CRLF, a UTF-8 byte-order mark is skipped, quoted fields may
// hold commas, line ends and "" for a quote, unquoted fields lose surrounding spaces, blank lines
// are skipped. Trailing empty fields beyond the header are tolerated.
//
// Refused with InputError("FILE:LINE: COLUMN: expected ..., got ..."): a missing or unreadable
// file, no header or no data rows, an unterminated quote or text after a closing quote, a missing
// required column or a column named twice, a row with too few (or extra non-empty) fields, an
// empty label, a value that is not a finite number, a session that is not a whole number >= 1, a
// 0/1 column holding anything else, two rows for the same (patient, session), a patient listed
// under two therapists.
#include <string>

#include "collabzium/model/cohort.h"

namespace collabzium {

Cohort read_cohort_csv(const std::string& path);
void read_cohort_csv(const std::string& path, Cohort& out);

// The same on CSV text already in memory; `path` only names it in messages.
void parse_cohort_csv(const std::string& text, const std::string& path, Cohort& out);

}  // namespace collabzium
