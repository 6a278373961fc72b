#pragma once
// The `serve` verb as a library function (main.cpp parses flags into ServeOptions).
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace collabzium {

struct ServeOptions {
  std::string config;                  // empty: the calibrated seed scenario built into the binary
  std::vector<std::string> overrides;  // --set KEY=VALUE
  std::string host = "127.0.0.1";
  std::int64_t port = 8080;
  std::optional<std::int64_t> threads;  // 0 or unset: all cores
};

// Serves until SIGINT or SIGTERM, then returns (exit status 0). A host other than loopback is
// allowed with a warning on `err`: the sandbox has no authentication.
void command_serve(const ServeOptions& options, std::ostream& out, std::ostream& err);

bool is_loopback_host(const std::string& host);

}  // namespace collabzium
