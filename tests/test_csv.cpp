// The CSV module (quoting on write, splitting on read) and the writers built on it: every CSV the
// project writes reads back through its own reader with the same fields.
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "collabzium/analysis/analysis.h"
#include "collabzium/analysis/report.h"
#include "collabzium/error.h"
#include "collabzium/io/cohort_csv.h"
#include "collabzium/io/cohort_reader.h"
#include "collabzium/io/csv.h"
#include "collabzium/config/scenario.h"
#include "collabzium/model/simulator.h"

using namespace collabzium;

namespace {

using Fields = std::vector<std::string>;

std::string error_of(std::string_view record) {
  try {
    split_csv_record(record, "t.csv", 7);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// A label that needs every rule: a comma, a double quote, and a leading and a trailing space.
const std::string kTrickyLabel = " Smith, J. \"Jo\" ";

// A small simulated cohort whose first patient and first therapist carry tricky labels.
Cohort cohort_with_tricky_labels() {
  Scenario s;
  s.design.patients = 12;
  s.design.therapists = 3;
  Cohort c;
  simulate_cohort(s, 11, 1, 1, c);
  c.patient_labels.assign(c.patients(), "");
  for (std::size_t i = 0; i < c.patients(); ++i) c.patient_labels[i] = "P" + std::to_string(i + 1);
  c.patient_labels[0] = kTrickyLabel;
  c.therapist_labels.assign(static_cast<std::size_t>(c.n_therapists), "");
  for (int t = 0; t < c.n_therapists; ++t)
    c.therapist_labels[static_cast<std::size_t>(t)] = "T" + std::to_string(t + 1);
  c.therapist_labels[0] = "Dr \"A\", PhD";
  return c;
}

}  // namespace

TEST_CASE("csv: fields are quoted exactly when the reader would not give them back as written", "[csv]") {
  CHECK(csv_field("plain") == "plain");
  CHECK(csv_field("") == "");
  CHECK(csv_field("a,b") == "\"a,b\"");
  CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_field("two\nlines") == "\"two\nlines\"");
  CHECK(csv_field("cr\r") == "\"cr\r\"");
  CHECK(csv_field(" lead") == "\" lead\"");
  CHECK(csv_field("trail\t") == "\"trail\t\"");
  CHECK(csv_field("in side") == "in side");
  CHECK(csv_record({"a", "", "b,c", "\""}) == "a,,\"b,c\",\"\"\"\"");
  CHECK(csv_record({}) == "");
}

TEST_CASE("csv: splitting handles empty and quoted fields, doubled quotes and line ends", "[csv]") {
  CHECK(split_csv_record("") == Fields{""});
  CHECK(split_csv_record("a") == Fields{"a"});
  CHECK(split_csv_record(",") == Fields{"", ""});
  CHECK(split_csv_record("a,,b,") == Fields{"a", "", "b", ""});
  CHECK(split_csv_record("\"\",x") == Fields{"", "x"});
  CHECK(split_csv_record("\"\"\"\"") == Fields{"\""});
  CHECK(split_csv_record("\"a \"\"b\"\", c\",d") == Fields{"a \"b\", c", "d"});
  CHECK(split_csv_record("a,b\r\n") == Fields{"a", "b"});
  CHECK(split_csv_record("a,\"b\"\r\n") == Fields{"a", "b"});
  CHECK(split_csv_record("a,b\n") == Fields{"a", "b"});
  CHECK(split_csv_record("\"x\ny\",z") == Fields{"x\ny", "z"});
  CHECK(split_csv_record("\"x\r\ny\"") == Fields{"x\r\ny"});
  // Unquoted fields lose surrounding blanks; quoted ones keep them; blanks around quotes are ignored.
  CHECK(split_csv_record("  a b ,\t c") == Fields{"a b", "c"});
  CHECK(split_csv_record("  \" a \"  , b") == Fields{" a ", "b"});
  // A quote inside an unquoted field is an ordinary character.
  CHECK(split_csv_record("5\" disk") == Fields{"5\" disk"});
}

TEST_CASE("csv: malformed records are refused with the file, the line and a one-line reason", "[csv]") {
  const std::string open = error_of("a,\"b,c");
  CHECK(open.rfind("t.csv:7: field 2: expected a closing quote", 0) == 0);
  CHECK(open.find('\n') == std::string::npos);
  // The line named is where the quote opened, not where the text ran out.
  CHECK(error_of("a,\"b\nc\nd").rfind("t.csv:7: field 2: expected a closing quote", 0) == 0);
  CHECK(error_of("\"a\"b,c")
            .rfind("t.csv:7: field 1: expected a comma or the end of the line after a closing quote, got 'b'", 0) == 0);
  CHECK(error_of("a\nb").rfind("t.csv:8: record: expected one record", 0) == 0);
}

TEST_CASE("csv: a table has its header, rows with their lines, and named columns in errors", "[csv]") {
  const std::string text = "\xEF\xBB\xBFname,value\r\n\r\n  \nx,1\r\n\"y\nz\",2\nw,3";
  const CsvTable t = parse_csv_table(text, "t.csv");
  CHECK(t.header == Fields{"name", "value"});
  CHECK(t.header_line == 1);
  REQUIRE(t.rows.size() == 3);
  CHECK(t.rows[0] == Fields{"x", "1"});
  CHECK(t.rows[1] == Fields{"y\nz", "2"});
  CHECK(t.rows[2] == Fields{"w", "3"});
  CHECK(t.row_lines == std::vector<long>{4, 5, 7});
  CHECK(t.lines_read == 7);
  CHECK(t.column("value") == 1);
  CHECK(t.column("missing") == -1);

  try {
    parse_csv_table("name,value\nx,\"1\n", "t.csv");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).rfind("t.csv:2: value: expected a closing quote", 0) == 0);
  }
  try {
    parse_csv_table("\n \n", "t.csv");
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).rfind("t.csv:2: header: expected a header line", 0) == 0);
  }
}

TEST_CASE("csv: a cohort with tricky labels round-trips exactly through the writer and the reader", "[csv][reader]") {
  const Cohort c = cohort_with_tricky_labels();
  std::ostringstream written;
  write_cohort_csv(c, written);
  const std::string text = written.str();

  // Every record has as many fields as the header.
  const CsvTable table = parse_csv_table(text, "cohort.csv");
  REQUIRE(table.rows.size() == c.rows());
  for (const auto& row : table.rows) CHECK(row.size() == table.header.size());
  CHECK(table.rows[0][static_cast<std::size_t>(table.column("patient"))] == kTrickyLabel);

  // The reader puts patients in canonical label order; each label comes back exactly, with its
  // therapist and its sessions.
  Cohort back;
  parse_cohort_csv(text, "cohort.csv", back);
  REQUIRE(back.patients() == c.patients());
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(back.patient_labels) == sorted(c.patient_labels));
  CHECK(sorted(back.therapist_labels) == sorted(c.therapist_labels));
  for (std::size_t i = 0; i < c.patients(); ++i) {
    const auto j =
        static_cast<std::size_t>(std::find(back.patient_labels.begin(), back.patient_labels.end(), c.patient_label(i)) -
                                 back.patient_labels.begin());
    REQUIRE(j < back.patients());
    CHECK(back.therapist_label(back.therapist[j]) == c.therapist_label(c.therapist[i]));
    CHECK(std::vector<int>(back.session.begin() + back.offset[j], back.session.begin() + back.offset[j + 1]) ==
          std::vector<int>(c.session.begin() + c.offset[i], c.session.begin() + c.offset[i + 1]));
  }
  // Written again, the canonical cohort gives the same text.
  std::ostringstream again, twice;
  write_cohort_csv(back, again);
  Cohort back2;
  parse_cohort_csv(again.str(), "cohort.csv", back2);
  write_cohort_csv(back2, twice);
  CHECK(twice.str() == again.str());
}

TEST_CASE("csv: the events CSV keeps tricky patient labels in one field", "[csv]") {
  Scenario s;
  s.design.patients = 12;
  s.design.therapists = 3;
  const Cohort c = cohort_with_tricky_labels();
  const CohortAnalysis a = analyze_cohort(c, s);
  std::ostringstream written;
  write_events_csv(c, a, written);
  const CsvTable table = parse_csv_table(written.str(), "events.csv");
  CHECK(table.header == Fields{"patient", "session", "rater", "rupture", "repair"});
  REQUIRE(table.rows.size() == 2 * c.rows());
  for (const auto& row : table.rows) CHECK(row.size() == table.header.size());
  // Patient 0's rows come first: its sessions for the patient rater, then for the therapist rater.
  const std::size_t n0 = c.offset[1] - c.offset[0];
  for (std::size_t k = 0; k < 2 * n0; ++k) CHECK(table.rows[k][0] == kTrickyLabel);
  CHECK(table.rows[2 * n0][0] == c.patient_labels[1]);
}
