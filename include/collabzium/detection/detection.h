#pragma once
// Rupture and repair detection on observed alliance ratings (docs/model.md section 3), accuracy against
// the latent truth, patient-therapist agreement and ROC curves. docs/detection.md documents every
// definition; the short version:
//
// * Every rule flags an onset at session t when the drop y_{t-1} - y_t >= threshold * scale - 1e-9,
//   measured only between consecutive session numbers that both carry a rating of this rater:
//     absolute_drop  scale = 1
//     sd_drop        scale = sd of all measurable differences of this rater in the cohort
//                    ("differences"), sd of the patient's own ratings ("person") or sd across
//                    patients of the session-1 ratings ("baseline"); sample sds (n - 1)
//     rci            scale = s_1 * sqrt(2 (1 - reliability)), s_1 the "baseline" sd
//     percent_drop   scale = y_{t-1} (no onset when y_{t-1} <= 0)
//     sudden_loss    scale = 1, and Tang & DeRubeis' third criterion (see detection.md)
//   A scale that is not finite and positive (too few data, no variation) detects nothing.
// * Repairs: one open rupture per patient and rater (see detect_events).
// * Accuracy units: rows with session >= 2; a detection at t hits when a true event lies in
//   [t - tolerance, t + tolerance] (session numbers, same patient).
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "collabzium/model/cohort.h"
#include "collabzium/config/scenario.h"

namespace collabzium {

// Comparisons of a change with threshold * scale allow this much, so that a drop of exactly the
// threshold on item-mean data (multiples of 1/items) counts despite rounding.
inline constexpr double kDetectionTolerance = 1e-9;

// Detected events of one rater, one entry per cohort row (0/1).
struct RaterEvents {
  std::vector<std::uint8_t> rupture, repair;
};

// Detection for one rater with the given threshold (the other parameters from `detection`).
// Onset at row k (session t): the rule's criterion holds. It opens a rupture, replacing an open
// one (which stays unrepaired). A later row t' (not itself an onset) with t' - t <= window repairs
// the open rupture when y_{t'} >= y_{t-1} - 1e-9 ("return") or when y_{t'} - y_{t'-1} meets the
// rule's criterion as a rise ("rise": t' - 1 must be observed; for sudden_loss the mirrored
// criterion, a sudden gain). Past the window the rupture closes unrepaired. One linear pass per
// patient; `out` is resized with assign(), so reusing it does not allocate.
void detect_events(const Cohort& cohort, RaterId rater, const Detection& detection, double threshold, RaterEvents& out);

// A 2x2 table. With tolerance 0 it is the usual one. With tolerance > 0:
//   tp = detections with a true event within the tolerance, fp = the other detections,
//   fn = true events without a detection within the tolerance, tn = units - tp - fp - fn;
//   sensitivity = found / true_events (true events with a detection within the tolerance),
//   ppv = tp / (tp + fp), specificity = tn / (tn + fp), f1 = 2 sens ppv / (sens + ppv), which is
//   2 tp / (2 tp + fp + fn) when found = tp (tolerance 0).
// NaN where a ratio is 0/0 (or without truth), except f1: 0 when there are true events but no
// detections or detections but no true events, NaN only with neither.
struct Accuracy {
  std::int64_t tp = 0, fp = 0, fn = 0, tn = 0;
  std::int64_t true_events = 0, found = 0;
  double sensitivity = std::numeric_limits<double>::quiet_NaN();
  double specificity = std::numeric_limits<double>::quiet_NaN();
  double ppv = std::numeric_limits<double>::quiet_NaN();
  double f1 = std::numeric_limits<double>::quiet_NaN();
};

struct DetectionScore {
  std::int64_t ruptures = 0, repairs = 0;  // detected counts
  // Share of patients with >= 1 detected rupture (NaN without patients).
  double prevalence = std::numeric_limits<double>::quiet_NaN();
  // Share of patients with >= 1 true onset (NaN without truth).
  double true_prevalence = std::numeric_limits<double>::quiet_NaN();
  Accuracy rupture, repair;   // session level vs truth with `tolerance`, units = rows with t >= 2
  Accuracy rupture_patients;  // patient level: >= 1 true onset vs >= 1 detected rupture
};

DetectionScore score_detection(const Cohort& cohort, const RaterEvents& events, const Detection& detection);

// Cohen's kappa of two raters' session rupture flags. Units: rows with session >= 2 at which a
// drop is measurable for both raters (patient and therapist ratings both present at t and at t-1,
// consecutive session numbers), so missing ratings do not count as agreement on "no rupture".
// NaN when there are no units or the chance agreement is 1.
double cohens_kappa(const Cohort& cohort, const RaterEvents& a, const RaterEvents& b);

struct RocPoint {
  double threshold, sensitivity, specificity;
  double ppv = std::numeric_limits<double>::quiet_NaN(), f1 = std::numeric_limits<double>::quiet_NaN();
};
struct RocCurve {
  DetectionRule rule = DetectionRule::AbsoluteDrop;
  RaterId rater = RaterId::Patient;
  std::vector<RocPoint> points;  // in the order of detection.roc_thresholds
  // Trapezoidal over (1 - spec, sens) with (0,0) and (1,1); NaN without truth or thresholds.
  double auc = std::numeric_limits<double>::quiet_NaN();
};

// Rupture-onset accuracy at each of detection.roc_thresholds. Onset flags do not depend on the
// repair bookkeeping and each row's flag is monotone in the threshold, so the rows are scanned once
// and each row finds, by binary search over the sorted thresholds with the very predicate of
// detect_events, the thresholds at which it is flagged: O(rows log K), exact agreement with
// detect_events at every threshold.
RocCurve roc_curve(const Cohort& cohort, RaterId rater, const Detection& detection);

// AUC by the trapezoidal rule over (1 - specificity, sensitivity), with (0,0) and (1,1) added,
// points sorted by false-positive rate then sensitivity. NaN if any coordinate is NaN or empty.
double roc_auc(const std::vector<RocPoint>& points);

// The critical t of sudden_loss's third criterion for df = n_before + n_after - 2 (2, 3 or 4):
// `critical_t` is the value for the full window (3 + 3 sessions, df 4); df 2 and 3 use the
// Student t quantile at the same two-sided alpha, alpha = 2 (1 - F_4(critical_t)). With the default
// 2.776 (alpha .05) this gives 4.303 and 3.182, the values of the suddengains R package.
double sudden_loss_critical_t(double critical_t, int df);

// The scale factor of the rule that does not depend on the row ("differences", "baseline", rci);
// NaN when the rule's scale is per row or per patient. Exposed for reports and tests.
double detection_scale(const Cohort& cohort, RaterId rater, const Detection& detection);

}  // namespace collabzium
