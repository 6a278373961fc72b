#include "collabzium/io/cohort_csv.h"

#include <vector>

#include "collabzium/io/csv.h"
#include "collabzium/io/output_file.h"
#include "collabzium/model/cohort_columns.h"

namespace collabzium {

// Item means keep their exact grid (k/items) when read back (cohort_csv.h).
constexpr int kCohortDigits = 12;

void write_cohort_csv(const Cohort& c, std::ostream& out) {
  // The columns of the groups this cohort holds, in the table's order.
  std::vector<std::size_t> columns;
  for (std::size_t j = 0; j < kCohortColumns.size(); ++j)
    if (has_group(c, kCohortColumns[j].group)) columns.push_back(j);
  for (std::size_t j = 0; j < columns.size(); ++j) out << (j ? "," : "") << kCohortColumns[columns[j]].name;
  out << "\n";
  for (std::size_t i = 0; i < c.patients(); ++i) {
    // Labels are free text (a real study's "Smith, J."): quoted when they must be.
    const std::string p = csv_field(c.patient_label(i)), t = csv_field(c.therapist_label(c.therapist[i]));
    for (std::size_t k = c.offset[i]; k < c.offset[i + 1]; ++k) {
      for (std::size_t j = 0; j < columns.size(); ++j) {
        const CohortColumn& column = kCohortColumns[columns[j]];
        if (j) out << ',';
        switch (column.kind) {
          case CohortColumnKind::Label: out << (columns[j] == kPatientColumn ? p : t); break;
          case CohortColumnKind::Session: out << c.session[k]; break;
          case CohortColumnKind::Measure: out << csv_number((c.*column.numbers)[k], kCohortDigits); break;
          case CohortColumnKind::Flag: out << int((c.*column.flags)[k]); break;
        }
      }
      out << '\n';
    }
  }
}

void write_cohort_csv(const Cohort& cohort, const std::string& path) {
  AtomicFile file(path);
  write_cohort_csv(cohort, file.stream());
  file.commit();
}

}  // namespace collabzium
