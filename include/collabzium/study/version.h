#pragma once
// What a build of the program is: its version, the git commit it was built from and the version of
// its random streams.
#include <string>

namespace collabzium {

// "collabzium 0.1.0 (git 8069f0b0a1b2, random streams v1)": printed by `collabzium --version` and
// in the header of `validate`.
std::string version_line();

}  // namespace collabzium
