// Formatting of numbers and CSV fields; the rules are in include/collabzium/format.h.
#include "collabzium/format.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace collabzium {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string printf_number(const char* format, int precision, double x) {
  char buf[400];  // %.*f of the largest doubles needs 309 digits before the point
  std::snprintf(buf, sizeof buf, format, precision, x);
  return buf;
}

}  // namespace

std::string format_significant(double x, int digits) {
  if (std::isnan(x)) return std::string(kMissingText);
  return printf_number("%.*g", digits, x);
}

std::string format_fixed(double x, int decimals) {
  if (std::isnan(x)) return std::string(kMissingText);
  return printf_number("%.*f", decimals, x);
}

std::string format_shortest(double x) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, res.ptr);
}

std::string format_exact(double x) { return printf_number("%.*g", 17, x); }

std::string csv_field(std::string_view text) {
  const bool must_quote = text.find_first_of(",\"\r\n") != std::string_view::npos ||
                          (!text.empty() && (is_blank(text.front()) || is_blank(text.back())));
  if (!must_quote) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

std::string csv_record(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += csv_field(fields[i]);
  }
  return out;
}

std::string csv_number(double x, int digits) {
  if (std::isinf(x)) return x > 0 ? "Inf" : "-Inf";
  return format_significant(x, digits);
}

}  // namespace collabzium
