#include "collabzium/io/cohort_csv.h"

#include <cmath>
#include <cstdio>

#include "collabzium/io/csv.h"
#include "collabzium/io/output_file.h"

namespace collabzium {

namespace {

void put_number(std::ostream& out, double x) {
  if (std::isnan(x)) {
    out << "NA";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.12g", x);
  out << buf;
}

}  // namespace

void write_cohort_csv(const Cohort& c, std::ostream& out) {
  out << "patient,therapist,session,distress,alliance_patient,alliance_therapist";
  if (c.has_truth)
    out << ",true_alliance,true_distress,true_ruptured,true_onset,true_repair,registered_patient,"
           "registered_therapist,dropout";
  if (c.has_effective) out << ",effective_onset,effective_repair,false_alarm_patient,false_alarm_therapist";
  out << "\n";
  for (std::size_t i = 0; i < c.patients(); ++i) {
    // Labels are free text (a real study's "Smith, J."): quoted when they must be.
    const std::string p = csv_field(c.patient_label(i)), t = csv_field(c.therapist_label(c.therapist[i]));
    for (std::size_t k = c.offset[i]; k < c.offset[i + 1]; ++k) {
      out << p << ',' << t << ',' << c.session[k] << ',';
      put_number(out, c.distress[k]);
      out << ',';
      put_number(out, c.alliance_patient[k]);
      out << ',';
      put_number(out, c.alliance_therapist[k]);
      if (c.has_truth) {
        out << ',';
        put_number(out, c.true_alliance[k]);
        out << ',';
        put_number(out, c.true_distress[k]);
        out << ',' << int(c.true_ruptured[k]) << ',' << int(c.true_onset[k]) << ',' << int(c.true_repair[k]) << ','
            << int(c.registered_patient[k]) << ',' << int(c.registered_therapist[k]) << ',' << int(c.dropout[k]);
      }
      if (c.has_effective)
        out << ',' << int(c.effective_onset[k]) << ',' << int(c.effective_repair[k]) << ','
            << int(c.false_alarm_patient[k]) << ',' << int(c.false_alarm_therapist[k]);
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
