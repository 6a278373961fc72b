// Cohort CSV reader (CONTRACT.md "Cohort data"); rules in include/collabzium/cohort_reader.h.
#include "collabzium/io/cohort_reader.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collabzium/error.h"

namespace collabzium {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

enum Col {
  kPatient,
  kTherapist,
  kSession,
  kDistress,
  kAlliancePatient,
  kAllianceTherapist,
  kTrueAlliance,
  kTrueDistress,
  kTrueRuptured,
  kTrueOnset,
  kTrueRepair,
  kRegisteredPatient,
  kRegisteredTherapist,
  kDropout,
  kEffectiveOnset,
  kEffectiveRepair,
  kFalseAlarmPatient,
  kFalseAlarmTherapist,
  kColumns
};
constexpr int kRequired = 6;
constexpr std::array<const char*, kColumns> kNames = {
    "patient",      "therapist",     "session",       "distress",   "alliance_patient",
    "alliance_therapist", "true_alliance", "true_distress", "true_ruptured", "true_onset",
    "true_repair",  "registered_patient", "registered_therapist", "dropout",
    "effective_onset", "effective_repair", "false_alarm_patient", "false_alarm_therapist"};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string shown(std::string_view s) {
  std::string out = "'";
  out.append(s.substr(0, 40));
  if (s.size() > 40) out += "...";
  return out + "'";
}

// Splits one line into fields; quoted fields may hold commas and "" for a quote. Returns false on
// an unterminated quote (field index in `bad_field`).
bool split_fields(std::string_view line, std::vector<std::string>& fields, std::size_t& bad_field) {
  fields.clear();
  std::size_t i = 0;
  const std::size_t n = line.size();
  while (true) {
    std::string field;
    // Skip leading blanks before a possible quote.
    std::size_t j = i;
    while (j < n && (line[j] == ' ' || line[j] == '\t')) ++j;
    if (j < n && line[j] == '"') {
      std::size_t k = j + 1;
      bool closed = false;
      while (k < n) {
        if (line[k] == '"') {
          if (k + 1 < n && line[k + 1] == '"') {
            field += '"';
            k += 2;
            continue;
          }
          closed = true;
          ++k;
          break;
        }
        field += line[k++];
      }
      if (!closed) {
        bad_field = fields.size();
        return false;
      }
      while (k < n && line[k] != ',') ++k;  // ignore anything between the quote and the comma
      fields.push_back(std::move(field));
      if (k >= n) return true;
      i = k + 1;
    } else {
      std::size_t k = line.find(',', i);
      if (k == std::string_view::npos) k = n;
      fields.emplace_back(trim(line.substr(i, k - i)));
      if (k >= n) return true;
      i = k + 1;
    }
  }
}

bool is_missing(std::string_view s) { return s.empty() || s == "NA"; }

// A finite decimal number (an optional sign, no hex). Returns false otherwise.
bool parse_number(std::string_view s, double& v) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty() || s.front() == '+') return false;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  return res.ec == std::errc() && res.ptr == s.data() + s.size() && std::isfinite(v);
}

struct Record {
  int patient, therapist, session;
  long line;
  std::array<double, kColumns> value;  // numeric columns (NaN: missing / absent)
};

}  // namespace

void parse_cohort_csv(const std::string& text, const std::string& path, Cohort& out) {
  out.clear();
  auto fail = [&](long line, const std::string& key, const std::string& what) {
    throw InputError(locate(path, line, key, what));
  };

  std::string_view rest(text);
  if (rest.substr(0, 3) == "\xEF\xBB\xBF") rest.remove_prefix(3);
  long line_no = 0;
  auto next_line = [&](std::string_view& line) {
    if (rest.empty()) return false;
    std::size_t nl = rest.find('\n');
    line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++line_no;
    return true;
  };

  // Header: the first non-blank line.
  std::string_view line;
  bool have_header = false;
  while (next_line(line))
    if (!trim(line).empty()) {
      have_header = true;
      break;
    }
  if (!have_header) fail(line_no > 0 ? line_no : 1, "header", "expected a header line naming the columns, got an empty file");

  std::vector<std::string> fields;
  std::size_t bad = 0;
  if (!split_fields(line, fields, bad)) fail(line_no, "header", "expected a closing quote, got the end of the line");
  const long header_line = line_no;
  const std::vector<std::string> header = fields;
  std::array<int, kColumns> where;
  where.fill(-1);
  for (std::size_t f = 0; f < header.size(); ++f)
    for (int c = 0; c < kColumns; ++c)
      if (header[f] == kNames[c]) {
        if (where[c] >= 0)
          fail(header_line, kNames[c], "expected each column once, got it twice (fields " +
                                           std::to_string(where[c] + 1) + " and " + std::to_string(f + 1) + ")");
        where[c] = static_cast<int>(f);
      }
  for (int c = 0; c < kRequired; ++c)
    if (where[c] < 0)
      fail(header_line, kNames[c], "expected a required column, got a header without it");
  const bool has_truth = where[kTrueOnset] >= 0 && where[kTrueRepair] >= 0;
  const bool has_effective = has_truth && where[kEffectiveOnset] >= 0 && where[kEffectiveRepair] >= 0;

  std::unordered_map<std::string, int> patient_index, therapist_index;
  std::vector<int> therapist_of;     // per patient
  std::vector<long> therapist_line;  // line that fixed it
  std::vector<Record> records;

  while (next_line(line)) {
    if (trim(line).empty()) continue;
    if (!split_fields(line, fields, bad))
      fail(line_no, bad < header.size() ? header[bad] : "row", "expected a closing quote, got the end of the line");
    if (fields.size() < header.size())
      fail(line_no, header[fields.size()],
           "expected " + std::to_string(header.size()) + " fields as in the header, got " +
               std::to_string(fields.size()));
    for (std::size_t f = header.size(); f < fields.size(); ++f)
      if (!fields[f].empty())
        fail(line_no, "field " + std::to_string(f + 1),
             "expected " + std::to_string(header.size()) + " fields as in the header, got " +
                 std::to_string(fields.size()) + " (" + shown(fields[f]) + " beyond the last column)");

    Record r;
    r.line = line_no;
    r.value.fill(kNaN);
    const std::string& plabel = fields[where[kPatient]];
    const std::string& tlabel = fields[where[kTherapist]];
    if (plabel.empty() || plabel == "NA") fail(line_no, "patient", "expected a patient label, got " + shown(plabel));
    if (tlabel.empty() || tlabel == "NA") fail(line_no, "therapist", "expected a therapist label, got " + shown(tlabel));

    for (int c = kSession; c < kColumns; ++c) {
      if (where[c] < 0) continue;
      const std::string& s = fields[where[c]];
      double v;
      if (c == kSession) {
        if (!parse_number(s, v) || v != std::floor(v) || v < 1 || v > 1e9)
          fail(line_no, kNames[c], "expected a whole session number >= 1, got " + shown(s));
      } else if (c <= kTrueDistress) {
        if (is_missing(s)) continue;
        if (!parse_number(s, v)) fail(line_no, kNames[c], "expected a finite number or NA, got " + shown(s));
      } else {
        const bool may_miss = c >= kRegisteredPatient;
        if (may_miss && is_missing(s)) continue;
        if (!parse_number(s, v) || (v != 0 && v != 1))
          fail(line_no, kNames[c], std::string("expected 0 or 1") + (may_miss ? " or NA" : "") + ", got " + shown(s));
      }
      r.value[c] = v;
    }
    r.session = static_cast<int>(r.value[kSession]);

    auto [tit, tnew] = therapist_index.try_emplace(tlabel, static_cast<int>(therapist_index.size()));
    if (tnew) out.therapist_labels.push_back(tlabel);
    r.therapist = tit->second;
    auto [pit, pnew] = patient_index.try_emplace(plabel, static_cast<int>(patient_index.size()));
    r.patient = pit->second;
    if (pnew) {
      out.patient_labels.push_back(plabel);
      therapist_of.push_back(r.therapist);
      therapist_line.push_back(line_no);
    } else if (therapist_of[r.patient] != r.therapist) {
      fail(line_no, "therapist",
           "expected therapist " + shown(out.therapist_labels[therapist_of[r.patient]]) + " for patient " +
               shown(plabel) + " (as on line " + std::to_string(therapist_line[r.patient]) + "), got " +
               shown(tlabel));
    }
    records.push_back(r);
  }
  if (records.empty())
    fail(line_no + 1, "rows", "expected at least one data row after the header, got none");

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
      fail(y.line, "session",
           "expected one row per patient and session, got a second row for patient " +
               shown(out.patient_labels[y.patient]) + " session " + std::to_string(y.session) +
               " (first on line " + std::to_string(x.line) + ")");
  }

  const std::size_t n = records.size();
  const std::size_t np = out.patient_labels.size();
  out.n_therapists = static_cast<int>(out.therapist_labels.size());
  out.therapist = therapist_of;
  out.offset.assign(np + 1, 0);
  out.has_truth = has_truth;
  out.has_effective = has_effective;
  auto flag = [](double v) -> std::uint8_t { return v == 1 ? 1 : 0; };
  for (std::size_t k = 0; k < n; ++k) {
    const Record& r = records[order[k]];
    ++out.offset[r.patient + 1];
    out.patient.push_back(r.patient);
    out.session.push_back(r.session);
    out.distress.push_back(r.value[kDistress]);
    out.alliance_patient.push_back(r.value[kAlliancePatient]);
    out.alliance_therapist.push_back(r.value[kAllianceTherapist]);
    out.true_alliance.push_back(r.value[kTrueAlliance]);
    out.true_distress.push_back(r.value[kTrueDistress]);
    out.true_ruptured.push_back(flag(r.value[kTrueRuptured]));
    out.true_onset.push_back(flag(r.value[kTrueOnset]));
    out.true_repair.push_back(flag(r.value[kTrueRepair]));
    out.registered_patient.push_back(flag(r.value[kRegisteredPatient]));
    out.registered_therapist.push_back(flag(r.value[kRegisteredTherapist]));
    out.dropout.push_back(flag(r.value[kDropout]));
    out.effective_onset.push_back(flag(r.value[kEffectiveOnset]));
    out.effective_repair.push_back(flag(r.value[kEffectiveRepair]));
    out.false_alarm_patient.push_back(flag(r.value[kFalseAlarmPatient]));
    out.false_alarm_therapist.push_back(flag(r.value[kFalseAlarmTherapist]));
  }
  for (std::size_t i = 0; i < np; ++i) out.offset[i + 1] += out.offset[i];
}

void read_cohort_csv(const std::string& path, Cohort& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    std::string why = err ? std::strerror(err) : "a file that cannot be opened";
    if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
    throw InputError(locate(path, 0, "data", "expected a readable CSV file, got " + why));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw InputError(locate(path, 0, "data", "expected a readable CSV file, got a read error"));
  parse_cohort_csv(buffer.str(), path, out);
}

Cohort read_cohort_csv(const std::string& path) {
  Cohort c;
  read_cohort_csv(path, c);
  return c;
}

}  // namespace collabzium
