#pragma once
// Input files are read whole, after checking what they are: a directory, FIFO, socket or device
// is refused at once (exit 2) instead of being read as empty or blocking on a FIFO without a
// writer, and a file over its size limit is refused before memory is allocated for it.
#include <cstddef>
#include <string>

namespace collabzium {

// Size limits of the inputs read whole (bytes), stated in the refusal message.
inline constexpr std::size_t kMaxScenarioBytes = std::size_t{16} << 20;  // 16 MiB of TOML
inline constexpr std::size_t kMaxCohortBytes = std::size_t{1} << 30;     // 1 GiB of CSV

// Throws InputError "PATH: KEY: expected EXPECTED, got ..." unless `path` is an existing regular
// file. `key` names the role ("config", "--data"); `expected` is e.g. "a scenario file (TOML)".
void check_regular_input(const std::string& path, const std::string& key, const std::string& expected);

// The whole content of a regular file of at most max_bytes, checked as above.
std::string read_input_file(const std::string& path, const std::string& key, const std::string& expected,
                            std::size_t max_bytes);

}  // namespace collabzium
