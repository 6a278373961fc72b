#pragma once
// "Did you mean ...?" for a mistyped verb or flag.
#include <string>
#include <vector>

namespace collabzium {

// The known names closest to `typed`, in the order of `known`: those at the smallest edit distance
// (insertions, deletions, substitutions and swaps of neighbours count one each) when that is at
// most a third of the name's length (at least 1), or those `typed` begins, when it has 3 or more
// characters. `typed` itself is never suggested. Empty when nothing is that close: an unrelated
// word gets no suggestion.
std::vector<std::string> similar_names(const std::string& typed, const std::vector<std::string>& known);

// " (did you mean a?)", " (did you mean a or b?)", ...; empty for no names.
std::string did_you_mean(const std::vector<std::string>& names);

}  // namespace collabzium
