#pragma once
// Numbers and text as the program writes them, in one place: the CSV files, the JSON reports, the
// scenario TOML and the printed tables format their numbers, missing values and CSV fields here, so
// one kind of output never drifts from another.
#include <string>
#include <string_view>
#include <vector>

namespace collabzium {

// A missing value (NaN) in CSV files and printed tables; readers take it, or an empty field, as missing.
inline constexpr std::string_view kMissingText = "NA";

// `digits` significant digits, as printf's %.*g (so "inf" for an infinity); NaN as NA.
std::string format_significant(double x, int digits);
// `decimals` digits after the point, as printf's %.*f; NaN as NA.
std::string format_fixed(double x, int decimals);
// The shortest text that reads back as the same double (std::to_chars), e.g. "0.1", "1e+300", "3".
std::string format_shortest(double x);
// Every double exactly, in %.17g form (what the JSON reports write for finite numbers).
std::string format_exact(double x);

// CSV writing. A field is quoted when it holds a comma, a double quote, CR or LF, or starts or ends
// with a space or tab (io/csv.h's reader would trim those); quotes inside are doubled.
std::string csv_field(std::string_view text);
// The fields as one record (no line end): csv_field of each, joined by commas.
std::string csv_record(const std::vector<std::string>& fields);
// A number as a CSV field with `digits` significant digits: NA for NaN, Inf and -Inf (R's spellings)
// for infinities.
std::string csv_number(double x, int digits);

}  // namespace collabzium
