#include "collabzium/error.h"

namespace collabzium {

std::string locate(const std::string& file, long line, const std::string& key, const std::string& what) {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  if (!key.empty()) out += ": " + key;
  return out + ": " + what;
}

}  // namespace collabzium
