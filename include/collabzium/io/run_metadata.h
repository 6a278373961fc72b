#pragma once
// What every collabzium HDF5 file records about the run that wrote it (its root attributes).
#include <cstdint>
#include <string>

namespace collabzium {

struct RunMetadata {
  std::string program_version, git_sha, created, config;
  std::int64_t seed = 0;
};

// The current time as ISO 8601 UTC, e.g. "2025-03-01T12:34:56Z".
std::string iso8601_utc_now();

}  // namespace collabzium
