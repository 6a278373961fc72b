#pragma once
// `base = "FILE"` in a scenario file (private to the scenario loader): the file starts from the
// values of another scenario file instead of copying them. Kept apart from scenario.cpp's key
// registry because it works on the TOML tables before any key is read.
#include <toml++/toml.h>
#include <cstddef>
#include <string>
#include <vector>

namespace collabzium {

// Resolves the `base` chain of `root`, the parsed text of the scenario file `path`, and merges each
// base's tables under `root`: a key the file sets wins over its base's, tables are merged key by
// key at every depth (so `[sweep]` axes too), `name` and `description` are never inherited, and
// `base` itself is removed. A base names a file relative to the file that names it; chains are
// followed to the end. Every moved node keeps its source (file and line), so a bad value that came
// from a base is reported with the base's file and line.
// Throws InputError ("FILE:LINE: base: ...") for a `base` that is not a string, a base that cannot
// be read or is not valid TOML, a cycle, and for a `base` among the --set `overrides`.
// Returns the files of the chain, the deepest base first and `path` last.
std::vector<std::string> merge_base_chain(toml::table& root, const std::string& path,
                                          const std::vector<std::string>& overrides);

// The position in `chain` (as returned above) of the file `node` was read from; nodes without a
// source file, such as --set values, come after all of them. Sweep axes are ordered by it, so a
// base's axes vary slower than the ones its child adds.
std::size_t chain_position(const std::vector<std::string>& chain, const toml::node& node);

}  // namespace collabzium
