#pragma once
// The page and its scripts, compiled into the binary at build time (cmake/embed_assets.cmake
// generates their table), so `serve` fetches nothing from elsewhere and reads no file at run time.
#include <span>
#include <string_view>

namespace collabzium {

struct Asset {
  std::string_view path;  // URL path, e.g. "/app.js"
  std::string_view content_type;
  std::string_view data;
};

std::span<const Asset> embedded_assets();
const Asset* find_asset(std::string_view path);

// The calibrated seed scenario (configs/gidhagen2025.toml), the scenario `serve` starts from when
// it is given no CONFIG.
std::string_view embedded_seed_scenario();

}  // namespace collabzium
