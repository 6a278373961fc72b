// CSV quoting and splitting; the rules are in include/collabzium/io/csv.h.
#include "collabzium/io/csv.h"

#include "collabzium/input_file.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "collabzium/error.h"

namespace collabzium {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// A short, visible rendering of a character for messages.
std::string shown_char(char c) {
  if (c == '\r') return "a carriage return";
  if (std::isprint(static_cast<unsigned char>(c))) return std::string("'") + c + "'";
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(c)));
  return buf;
}

}  // namespace

CsvReader::CsvReader(std::string_view text, std::string path, long first_line)
    : text_(text), path_(std::move(path)), lines_read_(first_line - 1) {
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
}

std::string CsvReader::key_of(std::size_t field) const {
  return field < names_.size() ? names_[field] : "field " + std::to_string(field + 1);
}

bool CsvReader::next(std::vector<std::string>& fields) {
  fields.clear();
  const std::size_t n = text_.size();
  // Blank lines are skipped whole; the record starts on the first other line.
  while (true) {
    if (pos_ >= n) return false;
    const std::size_t eol = text_.find('\n', pos_);
    const std::size_t end = eol == std::string_view::npos ? n : eol;
    std::string_view line = text_.substr(pos_, end - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    ++lines_read_;
    if (!trim_blanks(line).empty()) break;
    pos_ = end == n ? n : end + 1;
  }
  record_line_ = lines_read_;

  // At a line end: LF, CRLF, or the end of the text (a lone CR before it counts as a line end too).
  auto at_record_end = [&](std::size_t k) {
    return k >= n || text_[k] == '\n' || (text_[k] == '\r' && (k + 1 >= n || text_[k + 1] == '\n'));
  };
  std::size_t i = pos_;
  while (true) {
    std::size_t k = i;
    while (k < n && is_blank(text_[k])) ++k;
    if (k < n && text_[k] == '"') {
      const long quote_line = lines_read_;
      std::string field;
      bool closed = false;
      for (++k; k < n; ++k) {
        if (text_[k] == '"') {
          if (k + 1 < n && text_[k + 1] == '"') {
            field += '"';
            ++k;
            continue;
          }
          closed = true;
          ++k;
          break;
        }
        if (text_[k] == '\n') ++lines_read_;
        field += text_[k];
      }
      if (!closed)
        throw InputError(locate(path_, quote_line, key_of(fields.size()),
                                "expected a closing quote for the field opened on this line, got the end of the file"));
      while (k < n && is_blank(text_[k])) ++k;
      if (k < n && text_[k] != ',' && !at_record_end(k))
        throw InputError(
            locate(path_, lines_read_, key_of(fields.size()),
                   "expected a comma or the end of the line after a closing quote, got " + shown_char(text_[k])));
      fields.push_back(std::move(field));
    } else {
      k = i;
      while (k < n && text_[k] != ',' && text_[k] != '\n') ++k;
      std::string_view field = text_.substr(i, k - i);
      if (k == n || text_[k] == '\n')
        if (!field.empty() && field.back() == '\r') field.remove_suffix(1);
      fields.emplace_back(trim_blanks(field));
    }
    if (k < n && text_[k] == ',') {
      i = k + 1;
      continue;
    }
    // The record ends here: step past its line end.
    if (k < n && text_[k] == '\r') ++k;
    pos_ = k < n ? k + 1 : n;
    return true;
  }
}

std::vector<std::string> split_csv_record(std::string_view record, const std::string& path, long line) {
  CsvReader reader(record, path, line);
  std::vector<std::string> fields, more;
  if (!reader.next(fields)) return {""};  // a blank record is one empty field
  if (reader.next(more))
    throw InputError(
        locate(path, reader.record_line(), "record", "expected one record, got a line end outside quotes"));
  return fields;
}

int CsvTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

CsvTable parse_csv_table(std::string_view text, const std::string& path) {
  CsvTable table;
  CsvReader reader(text, path);
  if (!reader.next(table.header))
    throw InputError(locate(path, reader.lines_read() > 0 ? reader.lines_read() : 1, "header",
                            "expected a header line naming the columns, got an empty file"));
  table.header_line = reader.record_line();
  reader.name_columns(table.header);
  std::vector<std::string> fields;
  while (reader.next(fields)) {
    table.rows.push_back(std::move(fields));
    table.row_lines.push_back(reader.record_line());
  }
  table.lines_read = reader.lines_read();
  return table;
}

std::string read_csv_text(const std::string& path, const std::string& key) {
  return read_input_file(path, key, "a readable CSV file", kMaxCohortBytes);
}

CsvTable read_csv_table(const std::string& path, const std::string& key) {
  return parse_csv_table(read_csv_text(path, key), path);
}

}  // namespace collabzium
