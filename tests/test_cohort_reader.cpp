// Cohort CSV reader: layout freedom (column order, extra columns, row order, NA, CRLF, quotes),
// truth columns, and every malformed-data case with its FILE:LINE: COLUMN: message.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "collabzium/error.h"
#include "collabzium/io/cohort_csv.h"
#include "collabzium/io/cohort_reader.h"
#include "collabzium/model/cohort_columns.h"
#include "collabzium/model/simulator.h"

using namespace collabzium;

namespace {

const std::string kHeader = "patient,therapist,session,distress,alliance_patient,alliance_therapist\n";

Cohort parse(const std::string& text) {
  Cohort c;
  parse_cohort_csv(text, "data.csv", c);
  return c;
}

// The message of the InputError thrown for `text`, or "" if none.
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::filesystem::path temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / "collabzium_reader_tests";
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("reader: columns by name, rows in any order, labels as strings", "[reader]") {
  const std::string text =
      "session,alliance_therapist,note,patient,distress,therapist,alliance_patient\r\n"
      "2,3.5,x,P-2,18,Dr B,4.25\r\n"
      "1,3.75,y,P-1,20,Dr A,4\r\n"
      "3,NA,,P-1,,Dr A,3.5\r\n"
      "1,3,z,P-2,21,Dr B,NA\r\n"
      "\r\n"
      "2,4,w,\"P-1\",19.5,\"Dr A\",3.75\r\n";
  const Cohort c = parse(text);
  REQUIRE(c.patients() == 2);
  REQUIRE(c.rows() == 5);
  CHECK(c.therapists() == 2);
  // Canonical order, whatever the order of the rows: labels as text (P-1 before P-2, Dr A before Dr B).
  CHECK(c.patient_labels == std::vector<std::string>{"P-1", "P-2"});
  CHECK(c.therapist_labels == std::vector<std::string>{"Dr A", "Dr B"});
  CHECK(c.therapist == std::vector<int>{0, 1});
  CHECK(c.offset == std::vector<std::size_t>{0, 3, 5});
  CHECK(c.patient == std::vector<int>{0, 0, 0, 1, 1});
  CHECK(c.session == std::vector<int>{1, 2, 3, 1, 2});
  CHECK(c.distress[0] == 20);
  CHECK(c.distress[1] == 19.5);
  CHECK(std::isnan(c.distress[2]));
  CHECK(c.distress[3] == 21);
  CHECK(c.distress[4] == 18);
  CHECK(c.alliance_patient[1] == 3.75);
  CHECK(std::isnan(c.alliance_patient[3]));
  CHECK(c.alliance_patient[4] == 4.25);
  CHECK(c.alliance_therapist[0] == 3.75);
  CHECK(std::isnan(c.alliance_therapist[2]));
  CHECK(c.alliance_therapist[3] == 3);
  CHECK(c.patient_label(1) == "P-2");
  CHECK(c.therapist_label(c.therapist[1]) == "Dr B");
  CHECK_FALSE(c.has_truth);
  // Truth vectors still have one entry per row.
  CHECK(c.true_onset.size() == 5);
  CHECK(c.true_alliance.size() == 5);
  CHECK(std::isnan(c.true_alliance[0]));
  CHECK(c.dropout == std::vector<std::uint8_t>{0, 0, 0, 0, 0});
}

TEST_CASE("reader: numeric labels in numeric order, text after them; any row order gives the same cohort", "[reader]") {
  const std::string header = "patient,therapist,session,distress,alliance_patient,alliance_therapist\n";
  const std::vector<std::string> rows = {"10,T2,1,20,4,3\n", "9,T10,1,21,4,3\n", "b,T2,1,22,4,3\n",   "a,T1,2,23,4,3\n",
                                         "9,T10,2,24,4,3\n", "a,T1,1,25,4,3\n",  "1e1x,T2,1,26,4,3\n"};
  const Cohort c = parse(header + rows[0] + rows[1] + rows[2] + rows[3] + rows[4] + rows[5] + rows[6]);
  CHECK(c.patient_labels == std::vector<std::string>{"9", "10", "1e1x", "a", "b"});
  CHECK(c.therapist_labels == std::vector<std::string>{"T1", "T10", "T2"});
  CHECK(c.therapist == std::vector<int>{1, 2, 2, 0, 2});
  CHECK(c.distress == std::vector<double>{21, 24, 20, 26, 25, 23, 22});
  // Reversed rows: the same cohort, field by field.
  std::string reversed = header;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) reversed += *it;
  const Cohort r = parse(reversed);
  CHECK(r.patient_labels == c.patient_labels);
  CHECK(r.therapist_labels == c.therapist_labels);
  CHECK(r.therapist == c.therapist);
  CHECK(r.patient == c.patient);
  CHECK(r.session == c.session);
  CHECK(r.distress == c.distress);
}

TEST_CASE("reader: numbers, signs, byte-order mark, trailing commas, no final newline", "[reader]") {
  const Cohort c = parse("\xEF\xBB\xBF" + kHeader + "1,1,1,+2e1, 4.5 ,-0.5,\n1,1,2,0,5,1e0");
  REQUIRE(c.rows() == 2);
  CHECK(c.distress[0] == 20);
  CHECK(c.alliance_patient[0] == 4.5);
  CHECK(c.alliance_therapist[0] == -0.5);
  CHECK(c.alliance_therapist[1] == 1);
  CHECK(c.session == std::vector<int>{1, 2});
  const Cohort d = parse(kHeader + "1,1,3.0,1,1,1\n");  // a whole number written with a decimal point
  CHECK(d.session == std::vector<int>{3});
}

TEST_CASE("reader: truth columns", "[reader]") {
  const std::string head =
      "patient,therapist,session,distress,alliance_patient,alliance_therapist,true_alliance,true_distress,"
      "true_ruptured,true_onset,true_repair,registered_patient,registered_therapist,dropout\n";
  const Cohort c = parse(head + "1,1,2,20,4,3.5,3.2,19,1,1,0,NA,1,0\n1,1,1,21,4,3.5,3.6,NA,0,0,0,0,0,1\n");
  CHECK(c.has_truth);
  CHECK(c.true_onset == std::vector<std::uint8_t>{0, 1});
  CHECK(c.true_ruptured == std::vector<std::uint8_t>{0, 1});
  CHECK(c.true_repair == std::vector<std::uint8_t>{0, 0});
  CHECK(c.registered_patient == std::vector<std::uint8_t>{0, 0});
  CHECK(c.registered_therapist == std::vector<std::uint8_t>{0, 1});
  CHECK(c.dropout == std::vector<std::uint8_t>{1, 0});
  CHECK(c.true_alliance[0] == 3.6);
  CHECK(std::isnan(c.true_distress[0]));
  CHECK(c.true_distress[1] == 19);
  // Without true_repair the data carry no usable truth.
  const Cohort d =
      parse("patient,therapist,session,distress,alliance_patient,alliance_therapist,true_onset\n1,1,1,20,4,4,0\n");
  CHECK_FALSE(d.has_truth);
}

TEST_CASE("reader: round trip of a simulated cohort", "[reader]") {
  Scenario sc;
  sc.design.patients = 12;
  const Cohort sim = simulate_cohort(sc, 7, 1, 1);
  std::ostringstream out;
  write_cohort_csv(sim, out);
  const Cohort c = parse(out.str());
  REQUIRE(c.rows() == sim.rows());
  CHECK(c.has_truth);
  CHECK(c.offset == sim.offset);
  CHECK(c.therapist == sim.therapist);
  CHECK(c.session == sim.session);
  CHECK(c.true_onset == sim.true_onset);
  CHECK(c.true_repair == sim.true_repair);
  CHECK(c.dropout == sim.dropout);
  for (std::size_t k = 0; k < c.rows(); ++k) {
    // 12 significant digits: item means k/12 come back within 1e-11.
    CHECK(c.alliance_patient[k] == Approx(sim.alliance_patient[k]).margin(1e-11));
    CHECK(c.alliance_therapist[k] == Approx(sim.alliance_therapist[k]).margin(1e-11));
  }
}

// The writer, the reader and Cohort::clear walk one table (model/cohort_columns.h): every column
// of it is written under its name, in its order, and read back into the same vector.
TEST_CASE("reader and writer agree on every column of the cohort table", "[reader]") {
  Scenario sc;
  sc.design.patients = 9;
  const Cohort sim = simulate_cohort(sc, 11, 1, 1);
  REQUIRE(sim.has_truth);
  REQUIRE(sim.has_effective);
  std::ostringstream out;
  write_cohort_csv(sim, out);
  const std::string text = out.str();
  std::string header;
  for (const CohortColumn& column : kCohortColumns) header += (header.empty() ? "" : ",") + std::string(column.name);
  CHECK(text.substr(0, text.find('\n')) == header);
  const Cohort c = parse(text);
  CHECK(c.has_truth);
  CHECK(c.has_effective);
  CHECK(c.session == sim.session);
  CHECK(c.patient == sim.patient);
  for (const CohortColumn& column : kCohortColumns) {
    INFO(column.name);
    if (column.flags) CHECK(c.*column.flags == sim.*column.flags);
    if (column.numbers) {
      REQUIRE((c.*column.numbers).size() == (sim.*column.numbers).size());
      for (std::size_t k = 0; k < c.rows(); ++k) {
        const double a = (c.*column.numbers)[k], b = (sim.*column.numbers)[k];
        CHECK((std::isnan(a) ? std::isnan(b) : a == Approx(b).margin(1e-9)));
      }
    }
  }
  // A column the table marks as required is refused when absent, under its name.
  for (const CohortColumn& column : kCohortColumns) {
    if (column.group != CohortColumnGroup::Observed) continue;
    std::string without;
    for (const CohortColumn& other : kCohortColumns)
      if (other.group == CohortColumnGroup::Observed && &other != &column)
        without += (without.empty() ? "" : ",") + std::string(other.name);
    CHECK(error_of(without + "\n") ==
          "data.csv:1: " + std::string(column.name) + ": expected a required column, got a header without it");
  }
  // clear() empties every column's vector.
  Cohort cleared = c;
  cleared.clear();
  for (const CohortColumn& column : kCohortColumns) {
    if (column.flags) CHECK((cleared.*column.flags).empty());
    if (column.numbers) CHECK((cleared.*column.numbers).empty());
  }
  CHECK(cleared.rows() == 0);
  CHECK(!cleared.has_truth);
}

TEST_CASE("reader: files", "[reader]") {
  const auto dir = temp_dir();
  SECTION("a file is read") {
    const auto path = (dir / "ok.csv").string();
    std::ofstream(path) << kHeader << "a,t,1,20,4,4\n";
    const Cohort c = read_cohort_csv(path);
    CHECK(c.rows() == 1);
    CHECK(c.patient_labels == std::vector<std::string>{"a"});
  }
  SECTION("the data file in tests/data") {
    const Cohort c = read_cohort_csv(std::string(COLLABZIUM_SOURCE_DIR) + "/tests/data/cohort_small.csv");
    CHECK(c.patients() == 3);
    CHECK(c.therapists() == 2);
    CHECK(c.rows() == 12);
    CHECK(c.has_truth);
  }
  SECTION("a missing file") {
    const auto path = (dir / "does_not_exist.csv").string();
    try {
      read_cohort_csv(path);
      FAIL("no error");
    } catch (const InputError& e) {
      CHECK(starts_with(e.what(), path + ": data: expected a readable CSV file, got "));
    }
  }
}

TEST_CASE("reader: malformed data is refused with file, line and column", "[reader]") {
  SECTION("empty input") {
    CHECK(starts_with(error_of(""), "data.csv:1: header: expected a header line"));
    CHECK(starts_with(error_of("\n\r\n"), "data.csv:2: header: expected a header line"));
    CHECK(starts_with(error_of(kHeader), "data.csv:2: rows: expected at least one data row"));
    CHECK(starts_with(error_of(kHeader + "\n\n"), "data.csv:4: rows: expected at least one data row"));
  }
  SECTION("every required column") {
    for (const std::string col :
         {"patient", "therapist", "session", "distress", "alliance_patient", "alliance_therapist"}) {
      std::string head = kHeader;
      head.replace(head.find(col), col.size(), "other");
      INFO(col);
      CHECK(starts_with(error_of(head + "1,1,1,1,1,1\n"), "data.csv:1: " + col + ": expected a required column"));
    }
  }
  SECTION("a column named twice") {
    CHECK(starts_with(error_of("patient,therapist,session,distress,alliance_patient,alliance_therapist,session\n"
                               "1,1,1,1,1,1,1\n"),
                      "data.csv:1: session: expected each column once"));
  }
  SECTION("non-numeric and non-finite values") {
    CHECK(starts_with(error_of(kHeader + "1,1,1,20,4,4\n1,1,2,abc,4,4\n"),
                      "data.csv:3: distress: expected a finite number or NA, got 'abc'"));
    CHECK(
        starts_with(error_of(kHeader + "1,1,1,20,inf,4\n"), "data.csv:2: alliance_patient: expected a finite number"));
    CHECK(starts_with(error_of(kHeader + "1,1,1,20,4,nan\n"),
                      "data.csv:2: alliance_therapist: expected a finite number"));
    CHECK(starts_with(error_of(kHeader + "1,1,1,20,4,NaN\n"),
                      "data.csv:2: alliance_therapist: expected a finite number"));
    CHECK(starts_with(error_of(kHeader + "1,1,1,1e999,4,4\n"), "data.csv:2: distress: expected a finite number"));
    CHECK(starts_with(error_of(kHeader + "1,1,1,20,4.5.1,4\n"),
                      "data.csv:2: alliance_patient: expected a finite number"));
    CHECK(
        starts_with(error_of(kHeader + "1,1,1,20,0x10,4\n"), "data.csv:2: alliance_patient: expected a finite number"));
    CHECK(
        starts_with(error_of(kHeader + "1,1,1,20,4 4,4\n"), "data.csv:2: alliance_patient: expected a finite number"));
  }
  SECTION("bad session numbers") {
    for (const std::string s : {"0", "-1", "2.5", "x", "NA", "", "inf"}) {
      INFO(s);
      CHECK(starts_with(error_of(kHeader + "1,1," + s + ",20,4,4\n"),
                        "data.csv:2: session: expected a whole session number >= 1, got '" + s + "'"));
    }
  }
  SECTION("duplicate (patient, session)") {
    CHECK(error_of(kHeader + "a,t,1,20,4,4\nb,t,1,20,4,4\na,t,2,20,4,4\na,t,1,19,4,4\n") ==
          "data.csv:5: session: expected one row per patient and session, got a second row for patient 'a' "
          "session 1 (first on line 2)");
  }
  SECTION("a patient under two therapists") {
    CHECK(error_of(kHeader + "a,t1,1,20,4,4\na,t2,2,20,4,4\n") ==
          "data.csv:3: therapist: expected therapist 't1' for patient 'a' (as on line 2), got 't2'");
  }
  SECTION("short and long rows") {
    CHECK(error_of(kHeader + "a,t,1,20,4,4\na,t,2,20,4\n") ==
          "data.csv:3: alliance_therapist: expected 6 fields as in the header, got 5");
    CHECK(starts_with(error_of(kHeader + "a,t\n"), "data.csv:2: session: expected 6 fields as in the header, got 2"));
    CHECK(starts_with(error_of(kHeader + "a,t,1,20,4,4,5\n"),
                      "data.csv:2: field 7: expected 6 fields as in the header, got 7"));
  }
  SECTION("empty labels") {
    CHECK(starts_with(error_of(kHeader + ",t,1,20,4,4\n"), "data.csv:2: patient: expected a patient label"));
    CHECK(starts_with(error_of(kHeader + "a,NA,1,20,4,4\n"), "data.csv:2: therapist: expected a therapist label"));
  }
  SECTION("an unterminated quote") {
    CHECK(starts_with(error_of(kHeader + "\"a,t,1,20,4,4\n"), "data.csv:2: patient: expected a closing quote"));
  }
  SECTION("truth columns hold 0 or 1") {
    const std::string head =
        "patient,therapist,session,distress,alliance_patient,alliance_therapist,true_onset,"
        "true_repair,dropout\n";
    CHECK(starts_with(error_of(head + "a,t,1,20,4,4,2,0,0\n"), "data.csv:2: true_onset: expected 0 or 1, got '2'"));
    CHECK(starts_with(error_of(head + "a,t,1,20,4,4,0,NA,0\n"), "data.csv:2: true_repair: expected 0 or 1, got 'NA'"));
    CHECK(starts_with(error_of(head + "a,t,1,20,4,4,0,0,yes\n"), "data.csv:2: dropout: expected 0 or 1 or NA"));
    CHECK(error_of(head + "a,t,1,20,4,4,0,0,NA\n").empty());
  }
}
