// Cohort CSV reader (the README "Cohort data"); rules in include/collabzium/io/cohort_reader.h. Three
// phases: the header (where the columns are), the rows (each checked), the assembly (sorted cohort).
#include "collabzium/io/cohort_reader.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collabzium/error.h"
#include "collabzium/input_file.h"
#include "collabzium/io/csv.h"
#include "collabzium/model/cohort_columns.h"
#include "collabzium/numeric.h"

namespace collabzium {

namespace {

// Columns are the entries of kCohortColumns (model/cohort_columns.h), by index.
constexpr std::size_t kColumns = kCohortColumns.size();
const std::string_view& column_name(std::size_t c) { return kCohortColumns[c].name; }

std::string shown(std::string_view s) {
  std::string out = "'";
  out.append(s.substr(0, 40));
  if (s.size() > 40) out += "...";
  return out + "'";
}

bool is_missing(std::string_view s) { return s.empty() || s == kMissingText; }

[[noreturn]] void fail(const std::string& path, long line, const std::string& key, const std::string& what) {
  throw InputError(locate(path, line, key, what));
}

// Phase 1, the header: where each known column is (any order, unknown columns ignored).
struct CohortHeader {
  std::vector<std::string> names;   // every field of the header line
  std::array<int, kColumns> where;  // field index of each known column, -1 when absent
  bool has_truth = false;           // every column marking the truth is present
  bool has_effective = false;  // the events that entered distress (mechanisms), with the truth
};

CohortHeader read_header(CsvReader& reader, const std::string& path) {
  CohortHeader h;
  if (!reader.next(h.names))
    fail(path, reader.lines_read() > 0 ? reader.lines_read() : 1, "header",
         "expected a header line naming the columns, got an empty file");
  const long line = reader.record_line();
  h.where.fill(-1);
  for (std::size_t f = 0; f < h.names.size(); ++f)
    for (std::size_t c = 0; c < kColumns; ++c)
      if (h.names[f] == column_name(c)) {
        if (h.where[c] >= 0)
          fail(path, line, std::string(column_name(c)),
               "expected each column once, got it twice (fields " + std::to_string(h.where[c] + 1) + " and " +
                   std::to_string(f + 1) + ")");
        h.where[c] = static_cast<int>(f);
      }
  for (std::size_t c = 0; c < kColumns; ++c)
    if (kCohortColumns[c].group == CohortColumnGroup::Observed && h.where[c] < 0)
      fail(path, line, std::string(column_name(c)), "expected a required column, got a header without it");
  auto marked = [&](CohortColumnGroup g) {
    for (std::size_t c = 0; c < kColumns; ++c)
      if (kCohortColumns[c].group == g && kCohortColumns[c].marks_group && h.where[c] < 0) return false;
    return true;
  };
  h.has_truth = marked(CohortColumnGroup::Truth);
  h.has_effective = h.has_truth && marked(CohortColumnGroup::Effective);
  reader.name_columns(h.names);
  return h;
}

// Phase 2, the rows: each checked and kept as a Record, labels numbered in order of first appearance.
struct Record {
  int patient, therapist, session;
  long line;
  std::array<double, kColumns> value;  // numeric columns (NaN: missing / absent)
};

struct CohortRows {
  std::vector<Record> records;
  std::vector<std::string> patient_labels, therapist_labels;
  std::vector<int> therapist_of;     // per patient
  std::vector<long> therapist_line;  // per patient: the line that fixed its therapist
  std::unordered_map<std::string, int> patient_index, therapist_index;
};

// A row may not be shorter than the header; beyond it only empty fields (trailing commas) may follow.
void check_field_count(const std::vector<std::string>& fields, const CohortHeader& h, const std::string& path,
                       long line) {
  const std::size_t width = h.names.size();
  if (fields.size() < width)
    fail(path, line, h.names[fields.size()],
         "expected " + std::to_string(width) + " fields as in the header, got " + std::to_string(fields.size()));
  for (std::size_t f = width; f < fields.size(); ++f)
    if (!fields[f].empty())
      fail(path, line, "field " + std::to_string(f + 1),
           "expected " + std::to_string(width) + " fields as in the header, got " + std::to_string(fields.size()) +
               " (" + shown(fields[f]) + " beyond the last column)");
}

// The numeric columns of one row: session, measures (number or missing), flags (0/1).
void read_values(const std::vector<std::string>& fields, const CohortHeader& h, const std::string& path, Record& r) {
  r.value.fill(kNaN);
  for (std::size_t c = 0; c < kColumns; ++c) {
    const CohortColumn& column = kCohortColumns[c];
    if (h.where[c] < 0 || column.kind == CohortColumnKind::Label) continue;
    const std::string& s = fields[h.where[c]];
    const std::string key(column.name);
    double v = kNaN;
    switch (column.kind) {
      case CohortColumnKind::Label: break;
      case CohortColumnKind::Session:
        if (!parse_number(s, v) || v != std::floor(v) || v < 1 || v > 1e9)
          fail(path, r.line, key, "expected a whole session number >= 1, got " + shown(s));
        break;
      case CohortColumnKind::Measure:
        if (is_missing(s)) continue;
        if (!parse_number(s, v)) fail(path, r.line, key, "expected a finite number or NA, got " + shown(s));
        break;
      case CohortColumnKind::Flag:
        if (column.may_be_missing && is_missing(s)) continue;
        if (!parse_number(s, v) || (v != 0 && v != 1))
          fail(path, r.line, key,
               std::string("expected 0 or 1") + (column.may_be_missing ? " or NA" : "") + ", got " + shown(s));
        break;
    }
    r.value[c] = v;
  }
  r.session = static_cast<int>(r.value[kSessionColumn]);
}

// Numbers the row's patient and therapist; a patient keeps the therapist of its first row.
void assign_labels(const std::string& plabel, const std::string& tlabel, const std::string& path, CohortRows& rows,
                   Record& r) {
  auto [tit, tnew] = rows.therapist_index.try_emplace(tlabel, static_cast<int>(rows.therapist_index.size()));
  if (tnew) rows.therapist_labels.push_back(tlabel);
  r.therapist = tit->second;
  auto [pit, pnew] = rows.patient_index.try_emplace(plabel, static_cast<int>(rows.patient_index.size()));
  r.patient = pit->second;
  if (pnew) {
    rows.patient_labels.push_back(plabel);
    rows.therapist_of.push_back(r.therapist);
    rows.therapist_line.push_back(r.line);
  } else if (rows.therapist_of[r.patient] != r.therapist) {
    fail(path, r.line, "therapist",
         "expected therapist " + shown(rows.therapist_labels[rows.therapist_of[r.patient]]) + " for patient " +
             shown(plabel) + " (as on line " + std::to_string(rows.therapist_line[r.patient]) + "), got " +
             shown(tlabel));
  }
}

CohortRows read_rows(CsvReader& reader, const CohortHeader& h, const std::string& path) {
  CohortRows rows;
  std::vector<std::string> fields;
  while (reader.next(fields)) {
    Record r;
    r.line = reader.record_line();
    check_field_count(fields, h, path, r.line);
    const std::string& plabel = fields[h.where[kPatientColumn]];
    const std::string& tlabel = fields[h.where[kTherapistColumn]];
    if (is_missing(plabel)) fail(path, r.line, "patient", "expected a patient label, got " + shown(plabel));
    if (is_missing(tlabel)) fail(path, r.line, "therapist", "expected a therapist label, got " + shown(tlabel));
    read_values(fields, h, path, r);
    assign_labels(plabel, tlabel, path, rows, r);
    rows.records.push_back(r);
  }
  if (rows.records.empty())
    fail(path, reader.lines_read() + 1, "rows", "expected at least one data row after the header, got none");
  return rows;
}

// Labels in canonical order: numeric labels by value (numbers before text), other labels as text
// (bytewise). The report then does not depend on the order of the rows in the file.
bool label_before(const std::string& a, const std::string& b) {
  double x = 0, y = 0;
  const bool na = parse_number(a, x), nb = parse_number(b, y);
  if (na != nb) return na;
  if (na && x != y) return x < y;
  return a < b;
}

// Index of each label in canonical order (ranks[old index] = new index), labels reordered.
std::vector<int> canonical_ranks(std::vector<std::string>& labels) {
  std::vector<int> order(labels.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return label_before(labels[a], labels[b]); });
  std::vector<int> rank(labels.size());
  std::vector<std::string> sorted(labels.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    rank[order[k]] = static_cast<int>(k);
    sorted[k] = std::move(labels[order[k]]);
  }
  labels = std::move(sorted);
  return rank;
}

// Renumbers patients and therapists in canonical label order.
void canonical_order(CohortRows& rows) {
  const std::vector<int> patient_rank = canonical_ranks(rows.patient_labels);
  const std::vector<int> therapist_rank = canonical_ranks(rows.therapist_labels);
  std::vector<int> therapist_of(rows.therapist_of.size());
  for (std::size_t i = 0; i < rows.therapist_of.size(); ++i)
    therapist_of[patient_rank[i]] = therapist_rank[rows.therapist_of[i]];
  rows.therapist_of = std::move(therapist_of);
  for (Record& r : rows.records) {
    r.patient = patient_rank[r.patient];
    r.therapist = therapist_rank[r.therapist];
  }
}

// Phase 3, assembly: rows sorted by patient and session (one row each), then the cohort's columns.
void assemble(CohortRows& rows, const CohortHeader& header, const std::string& path, Cohort& out) {
  canonical_order(rows);
  const std::vector<Record>& records = rows.records;
  std::vector<std::size_t> order(records.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const Record &x = records[a], &y = records[b];
    if (x.patient != y.patient) return x.patient < y.patient;
    if (x.session != y.session) return x.session < y.session;
    return x.line < y.line;
  });
  for (std::size_t k = 1; k < order.size(); ++k) {
    const Record &x = records[order[k - 1]], &y = records[order[k]];
    if (x.patient == y.patient && x.session == y.session)
      fail(path, y.line, "session",
           "expected one row per patient and session, got a second row for patient " +
               shown(rows.patient_labels[y.patient]) + " session " + std::to_string(y.session) + " (first on line " +
               std::to_string(x.line) + ")");
  }

  const std::size_t np = rows.patient_labels.size();
  out.patient_labels = std::move(rows.patient_labels);
  out.therapist_labels = std::move(rows.therapist_labels);
  out.n_therapists = static_cast<int>(out.therapist_labels.size());
  out.therapist = std::move(rows.therapist_of);
  out.offset.assign(np + 1, 0);
  out.has_truth = header.has_truth;
  out.has_effective = header.has_effective;
  auto flag = [](double v) -> std::uint8_t { return v == 1 ? 1 : 0; };
  for (std::size_t k = 0; k < records.size(); ++k) {
    const Record& r = records[order[k]];
    ++out.offset[r.patient + 1];
    out.patient.push_back(r.patient);
    out.session.push_back(r.session);
    for (std::size_t c = 0; c < kColumns; ++c) {
      const CohortColumn& column = kCohortColumns[c];
      if (column.numbers) (out.*column.numbers).push_back(r.value[c]);
      if (column.flags) (out.*column.flags).push_back(flag(r.value[c]));
    }
  }
  for (std::size_t i = 0; i < np; ++i) out.offset[i + 1] += out.offset[i];
}

}  // namespace

void parse_cohort_csv(const std::string& text, const std::string& path, Cohort& out) {
  out.clear();
  CsvReader reader(text, path);
  const CohortHeader header = read_header(reader, path);
  CohortRows rows = read_rows(reader, header, path);
  assemble(rows, header, path, out);
}

void read_cohort_csv(const std::string& path, Cohort& out) {
  parse_cohort_csv(read_input_file(path, "data", "a readable CSV file", kMaxCohortBytes), path, out);
}

Cohort read_cohort_csv(const std::string& path) {
  Cohort c;
  read_cohort_csv(path, c);
  return c;
}

}  // namespace collabzium
