#pragma once
// A sandbox request body: one flat JSON object of dotted scenario keys -> values (plus "seed" and
// "replications"), turned into the command line's --set overrides so that every value goes through
// the one scenario registry and a refusal reads exactly as the command line's.
#include <string>
#include <string_view>
#include <vector>

namespace collabzium {

// The overrides "KEY=VALUE" (VALUE in TOML syntax) of a JSON object, in the order given. "seed" and
// "replications" become run.seed and run.replications, as `run --seed/--replications` do. Numbers
// keep their text (119 stays an integer, 119.0 a float, so an integer key refuses 119.0 as it does
// on the command line); strings are re-escaped for TOML; lists of numbers, strings or booleans are
// allowed. Throws InputError with one line for malformed JSON, nested objects, null, a repeated
// key and [sweep] keys (the sandbox studies one condition).
std::vector<std::string> request_overrides(std::string_view json);

}  // namespace collabzium
