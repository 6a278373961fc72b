#pragma once
// Bad input (config, data, flags) is an InputError: the command line maps it to exit status 2 and
// prints its message, which already names the file, line, key and what was expected.
#include <stdexcept>
#include <string>

namespace collabzium {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "FILE:LINE: KEY: what" with the line left out when unknown (line <= 0).
std::string locate(const std::string& file, long line, const std::string& key, const std::string& what);

}  // namespace collabzium
