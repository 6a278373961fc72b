// libFuzzer entry: the bytes of a results file, summarized (see check_results_input).
#include <cstddef>
#include <cstdint>

#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const collabzium::fuzz::TempFile file(".h5");
  collabzium::fuzz::check_results_input({reinterpret_cast<const char*>(data), size}, file);
  return 0;
}
