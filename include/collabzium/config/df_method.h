#pragma once
// The denominator degrees of freedom of the fixed-effect tests: its own light header because the
// scenario (analysis.df) names it as well as the fitter.
#include <span>
#include <string_view>

namespace collabzium {

enum class DfMethod { Satterthwaite, Residual, Z };

inline std::span<const std::string_view> choice_names(DfMethod) {
  static constexpr std::string_view names[] = {"satterthwaite", "residual", "z"};
  return names;
}

}  // namespace collabzium
