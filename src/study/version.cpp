#include "collabzium/study/version.h"

#include "collabzium/model/random.h"
#include "git_sha.h"

namespace collabzium {

// Here, with runner.cpp and infer.cpp, because this layer is built with the version and git sha
// that the results files record.
std::string version_line() {
  return std::string("collabzium ") + COLLABZIUM_VERSION + " (git " + COLLABZIUM_GIT_SHA + ", random streams " +
         kRandomStreamVersion + ")";
}

}  // namespace collabzium
