// libFuzzer entry: scenario TOML plus --set overrides (see check_scenario_input).
#include <cstddef>
#include <cstdint>

#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  collabzium::fuzz::check_scenario_input({reinterpret_cast<const char*>(data), size});
  return 0;
}
