// libFuzzer entry: a sandbox request body (see check_request_input).
#include <cstddef>
#include <cstdint>

#include "harness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  collabzium::fuzz::check_request_input({reinterpret_cast<const char*>(data), size});
  return 0;
}
