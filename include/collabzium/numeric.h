#pragma once
// Numeric helpers that every module shares, so that each exists once: the missing-value constant,
// the two-pass sample variance, the strict number parser and the standard normal functions.
#include <cstdint>
#include <limits>
#include <numbers>
#include <string_view>

namespace collabzium {

// Missing values (no rating, a failed fit, an undefined measure) are quiet NaNs throughout.
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Sample variance: sum (x - mean)^2 / (n - 1), NaN for fewer than two values. Two passes (not a
// running formula) keep the digits when the mean is large against the spread. `visit(f)` must
// call f(x) once per value, in the same order both times, so callers filter rows in place instead
// of copying the values into a vector.
template <class Visit>
double sample_variance(Visit&& visit) {
  std::int64_t n = 0;
  double sum = 0;
  visit([&](double x) {
    sum += x;
    ++n;
  });
  if (n < 2) return kNaN;
  const double mean = sum / static_cast<double>(n);
  double ss = 0;
  visit([&](double x) {
    const double d = x - mean;
    ss += d * d;
  });
  return ss / static_cast<double>(n - 1);
}

// A finite decimal number taking the whole text: an optional leading '+' or '-', no spaces, no
// hexadecimal, no "inf"/"nan". Returns false (and leaves `out`) otherwise.
bool parse_number(std::string_view text, double& out);

// Standard normal distribution.
double normal_cdf(double x);
double normal_pdf(double x);
double normal_quantile(double p);  // p in (0, 1)

}  // namespace collabzium
