#include "collabzium/io/json.h"

#include <cmath>
#include <cstdio>

#include "collabzium/format.h"

namespace collabzium {

void JsonWriter::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ << ',';
    first_.back() = false;
    out_ << '\n' << std::string(2 * first_.size(), ' ');
  }
}

JsonWriter& JsonWriter::open(char bracket) {
  separate();
  out_ << bracket;
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::close(char bracket) {
  const bool empty = first_.back();
  first_.pop_back();
  if (!empty) out_ << '\n' << std::string(2 * first_.size(), ' ');
  out_ << bracket;
  if (first_.empty()) out_ << '\n';
  return *this;
}

JsonWriter& JsonWriter::key(const std::string& k) {
  value(k);
  out_ << ": ";
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(double x) {
  separate();
  if (!std::isfinite(x)) {
    out_ << "null";
  } else {
    out_ << format_exact(x);
  }
  return *this;
}

JsonWriter& JsonWriter::value(long long x) {
  separate();
  out_ << x;
  return *this;
}

JsonWriter& JsonWriter::value(bool b) {
  separate();
  out_ << (b ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::value(const std::string& s) {
  separate();
  out_ << '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out_ << '\\' << c;
    else if (c == '\n') out_ << "\\n";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out_ << buf;
    } else out_ << c;
  }
  out_ << '"';
  return *this;
}

}  // namespace collabzium
