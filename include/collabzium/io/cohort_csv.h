#pragma once
// Writing a cohort in the long CSV format of the README (reading is in cohort_reader.h).
#include <ostream>
#include <string>

#include "collabzium/model/cohort.h"

namespace collabzium {

// Numbers carry 12 significant digits, so item means keep their exact grid (k/items) when read back.
void write_cohort_csv(const Cohort& cohort, std::ostream& out);
// Writes to a temporary file beside `path`, then renames: a failure leaves nothing behind.
void write_cohort_csv(const Cohort& cohort, const std::string& path);

}  // namespace collabzium
