#include "collabzium/cli/suggest.h"

#include <algorithm>
#include <cstddef>
#include <limits>

namespace collabzium {

namespace {

// Optimal string alignment distance: Levenshtein's, plus a swap of two neighbours as one edit (the
// commonest typo, "simualte").
std::size_t edit_distance(const std::string& a, const std::string& b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i)
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t substitution = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + substitution});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

}  // namespace

std::vector<std::string> similar_names(const std::string& typed, const std::vector<std::string>& known) {
  constexpr std::size_t kFar = std::numeric_limits<std::size_t>::max();
  // A name's score is its edit distance, or 0 when `typed` is its beginning; kFar when not close.
  std::vector<std::size_t> score(known.size(), kFar);
  for (std::size_t k = 0; k < known.size(); ++k) {
    const std::string& name = known[k];
    if (name == typed) continue;  // a known name in the wrong place is not mistyped
    if (typed.size() >= 3 && name.size() > typed.size() && name.compare(0, typed.size(), typed) == 0) {
      score[k] = 0;
      continue;
    }
    const std::size_t distance = edit_distance(typed, name);
    if (distance <= std::max<std::size_t>(1, name.size() / 3)) score[k] = distance;
  }
  std::vector<std::string> names;
  const std::size_t best = score.empty() ? kFar : *std::min_element(score.begin(), score.end());
  if (best == kFar) return names;
  for (std::size_t k = 0; k < known.size(); ++k)
    if (score[k] == best) names.push_back(known[k]);
  return names;
}

std::string did_you_mean(const std::vector<std::string>& names) {
  if (names.empty()) return {};
  std::string text = " (did you mean ";
  for (std::size_t k = 0; k < names.size(); ++k)
    text += (k == 0 ? "" : k + 1 == names.size() ? " or " : ", ") + names[k];
  return text + "?)";
}

}  // namespace collabzium
