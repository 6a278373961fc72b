#pragma once
// The one CSV module: every CSV the project writes goes through csv_field / csv_record / csv_number
// (declared in the base layer's format.h, included here), and every CSV it reads through CsvReader
// (or read_csv_table on top of it), so what is written reads back with the same fields, here and in
// R's read.csv.
//
// Reading (RFC 4180 with two leniencies that real exports need):
//   - fields are separated by commas; records end at LF or CRLF; a UTF-8 byte-order mark at the
//     start is skipped; lines holding nothing but spaces and tabs are skipped;
//   - a quoted field ("...") may hold commas, CR, LF and "" for one double quote; spaces and tabs
//     before its opening quote and after its closing quote are ignored, anything else after the
//     closing quote is an error;
//   - an unquoted field is taken up to the next comma with leading and trailing spaces and tabs
//     removed (a double quote inside it is kept as is).
// Errors are InputError("FILE:LINE: KEY: expected ..."), LINE being the line the offending field
// starts on and KEY the column's name from the header when known.
//
// Writing: format.h.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "collabzium/format.h"

namespace collabzium {

// Reads records one by one from CSV text held by the caller (which must outlive the reader).
class CsvReader {
 public:
  // `path` only names the text in messages; `first_line` is the number of its first line.
  CsvReader(std::string_view text, std::string path, long first_line = 1);

  // Reads the next record that is not a blank line into `fields`; false (and `fields` empty) at the
  // end of the text. Throws InputError on an unterminated quote or text after a closing quote.
  bool next(std::vector<std::string>& fields);

  // The line the last record read starts on (1-based; 0 before the first).
  long record_line() const { return record_line_; }
  // The number of lines consumed so far (the last line read, counting blank lines).
  long lines_read() const { return lines_read_; }
  // Column names used as KEY in error messages for the fields of later records (field N beyond).
  void name_columns(std::vector<std::string> names) { names_ = std::move(names); }

 private:
  std::string key_of(std::size_t field) const;

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string path_;
  long record_line_ = 0, lines_read_ = 0;
  std::vector<std::string> names_;
};

// The fields of one record given alone (e.g. a header line); "" gives one empty field. Throws
// InputError naming `path` and `line` when the record is malformed.
std::vector<std::string> split_csv_record(std::string_view record, const std::string& path = "CSV", long line = 1);

// A whole CSV file read generically: the header (first non-blank record) and the rows after it,
// each with the line it starts on. Rows are kept as read: their number of fields is not checked.
struct CsvTable {
  std::vector<std::string> header;
  long header_line = 0;
  std::vector<std::vector<std::string>> rows;
  std::vector<long> row_lines;
  long lines_read = 0;  // lines in the text, blank ones included

  // The index of the column named `name`, or -1 when the header has no such column.
  int column(std::string_view name) const;
};

// InputError on a text without a header, or a malformed record.
CsvTable parse_csv_table(std::string_view text, const std::string& path);
// The same on a file; InputError("FILE: KEY: expected a readable CSV file, got ...") when it cannot be
// read (KEY names what the file is for, e.g. "data").
CsvTable read_csv_table(const std::string& path, const std::string& key = "csv");
// A file's whole content (a regular file of at most 1 GiB, io/input_file.h), for parsers that work
// on text; the same InputError as read_csv_table.
std::string read_csv_text(const std::string& path, const std::string& key = "csv");

}  // namespace collabzium
