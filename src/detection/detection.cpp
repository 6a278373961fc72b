// Rupture and repair detection (docs/model.md section 3). Definitions: include/collabzium/detection.h
// and docs/detection.md.
#include "collabzium/detection/detection.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <boost/math/distributions/students_t.hpp>

#include "collabzium/numeric.h"

namespace collabzium {

namespace {

constexpr double kEps = kDetectionTolerance;

inline bool rated(double y) { return !std::isnan(y); }
inline bool usable_scale(double s) { return std::isfinite(s) && s > 0; }

// Sample sd of the measurable session-to-session differences of one rater.
double sd_of_differences(const Cohort& c, const std::vector<double>& y) {
  return std::sqrt(sample_variance([&](auto&& f) {
    for (std::size_t i = 0; i < c.patients(); ++i)
      for (std::size_t k = c.offset[i] + 1; k < c.offset[i + 1]; ++k)
        if (c.session[k - 1] == c.session[k] - 1 && rated(y[k]) && rated(y[k - 1])) f(y[k] - y[k - 1]);
  }));
}

// Sample sd across patients of the ratings at session number 1.
double sd_of_baseline(const Cohort& c, const std::vector<double>& y) {
  return std::sqrt(sample_variance([&](auto&& f) {
    for (std::size_t k = 0; k < c.rows(); ++k)
      if (c.session[k] == 1 && rated(y[k])) f(y[k]);
  }));
}

// Sample sd of the ratings in rows [b, e).
double sd_of_rows(const std::vector<double>& y, std::size_t b, std::size_t e) {
  return std::sqrt(sample_variance([&](auto&& f) {
    for (std::size_t k = b; k < e; ++k)
      if (rated(y[k])) f(y[k]);
  }));
}

// Everything one rater's detection needs besides the threshold, resolved once per call.
struct Detector {
  const Cohort& c;
  const std::vector<double>& y;
  DetectionRule rule;
  SdReference ref = SdReference::Differences;
  double global_scale = 1;  // absolute_drop, sudden_loss: 1; sd_drop (differences, baseline), rci
  double tcrit[5] = {kNaN, kNaN, kNaN, kNaN, kNaN};  // sudden_loss, by df 2..4

  Detector(const Cohort& cohort, RaterId rater, const Detection& d)
      : c(cohort), y(cohort.ratings(rater)), rule(d.rule) {
    switch (rule) {
      case DetectionRule::AbsoluteDrop:
      case DetectionRule::PercentDrop: break;
      case DetectionRule::SuddenLoss:
        for (int df = 2; df <= 4; ++df) tcrit[df] = sudden_loss_critical_t(d.critical_t, df);
        break;
      case DetectionRule::SdDrop:
        ref = d.sd_reference;
        if (ref == SdReference::Differences) global_scale = sd_of_differences(c, y);
        if (ref == SdReference::Baseline) global_scale = sd_of_baseline(c, y);
        if (ref == SdReference::Person) global_scale = kNaN;
        break;
      case DetectionRule::Rci: global_scale = sd_of_baseline(c, y) * std::sqrt(2.0 * (1.0 - d.reliability)); break;
    }
  }

  bool per_person() const { return rule == DetectionRule::SdDrop && ref == SdReference::Person; }

  // Scale of the change into row k (row k - 1 is the previous session, rated); person_scale is
  // the patient's own sd when the rule needs it.
  double scale(std::size_t k, double person_scale) const {
    if (rule == DetectionRule::PercentDrop) return y[k - 1];
    if (per_person()) return person_scale;
    return global_scale;
  }

  // Row k (in patient rows [b, e)) follows the previous session number and both are rated.
  bool measurable(std::size_t k, std::size_t b) const {
    return k > b && c.session[k - 1] == c.session[k] - 1 && rated(y[k]) && rated(y[k - 1]);
  }

  // Tang & DeRubeis' third criterion at row k (session t) of patient rows [b, e): the mean of the
  // rated sessions t-3..t-1 exceeds the mean of the rated sessions t..t+2 (direction +1: a loss;
  // -1: a gain, the means swapped) by more than the critical t times the pooled sd, with at least
  // 2 rated sessions on each side and the critical t of df = n_before + n_after - 2.
  bool third_criterion(std::size_t k, std::size_t b, std::size_t e, double direction) const {
    const int t = c.session[k];
    double pre[3], post[3];
    int n_pre = 0, n_post = 0;
    for (std::size_t j = k; j > b && c.session[j - 1] >= t - 3; --j)
      if (rated(y[j - 1])) pre[n_pre++] = y[j - 1];
    for (std::size_t j = k; j < e && c.session[j] <= t + 2; ++j)
      if (rated(y[j])) post[n_post++] = y[j];
    if (n_pre < 2 || n_post < 2) return false;
    auto mean = [](const double* v, int n) {
      double s = 0;
      for (int i = 0; i < n; ++i) s += v[i];
      return s / n;
    };
    auto ss = [](const double* v, int n, double m) {
      double s = 0;
      for (int i = 0; i < n; ++i) s += (v[i] - m) * (v[i] - m);
      return s;
    };
    const double m_pre = mean(pre, n_pre), m_post = mean(post, n_post);
    const int df = n_pre + n_post - 2;
    const double pooled_sd = std::sqrt((ss(pre, n_pre, m_pre) + ss(post, n_post, m_post)) / df);
    return direction * (m_pre - m_post) >= tcrit[df] * pooled_sd - kEps;
  }

  // The rule's criterion for a change of size `change` into row k: a drop (direction +1, change =
  // y_{t-1} - y_t) or a rise (-1, change = y_t - y_{t-1}). Row k must be measurable.
  bool criterion(std::size_t k, std::size_t b, std::size_t e, double threshold, double person_scale,
                 double direction) const {
    const double s = scale(k, person_scale);
    if (!usable_scale(s)) return false;
    const double change = direction * (y[k - 1] - y[k]);
    if (!(change >= threshold * s - kEps)) return false;
    return rule != DetectionRule::SuddenLoss || third_criterion(k, b, e, direction);
  }

  bool onset(std::size_t k, std::size_t b, std::size_t e, double threshold, double person_scale) const {
    return measurable(k, b) && criterion(k, b, e, threshold, person_scale, +1.0);
  }

  double person_scale(std::size_t b, std::size_t e) const { return per_person() ? sd_of_rows(y, b, e) : kNaN; }
};

double ratio(std::int64_t num, std::int64_t den) {
  return den == 0 ? kNaN : static_cast<double>(num) / static_cast<double>(den);
}

void finish(Accuracy& a) {
  a.sensitivity = ratio(a.found, a.true_events);
  a.specificity = ratio(a.tn, a.tn + a.fp);
  a.ppv = ratio(a.tp, a.tp + a.fp);
  const double s = a.sensitivity, p = a.ppv;
  // F1 is 0, not undefined, when one of sensitivity and PPV is (no detections although events
  // exist, or detections without events): nothing was found. Only with neither true nor detected
  // events is there nothing to score.
  if (a.true_events == 0 && a.tp + a.fp == 0) a.f1 = kNaN;
  else if (std::isnan(s) || std::isnan(p)) a.f1 = 0.0;
  else a.f1 = s + p == 0 ? 0.0 : 2 * s * p / (s + p);
}

// Session-level accuracy at K nested cut-offs: row k is flagged at cut-off j (0-based) iff
// level[k] > j. Units are rows with session >= 2; a flagged unit hits when a true event lies within
// `tolerance` sessions of it (same patient); a true event (a unit) is found at j when some unit
// within the tolerance has level > j. level is a 0/1 flag for K = 1.
template <class Level>
std::vector<Accuracy> session_accuracy(const Cohort& c, const std::vector<std::uint8_t>& truth, std::int64_t tolerance,
                                       std::size_t K, Level level) {
  std::vector<std::int64_t> detected(K + 1, 0), hits(K + 1, 0), found(K + 1, 0);
  std::int64_t units = 0, true_events = 0;
  for (std::size_t i = 0; i < c.patients(); ++i) {
    const std::size_t b = c.offset[i], e = c.offset[i + 1];
    for (std::size_t k = b; k < e; ++k) {
      if (c.session[k] < 2) continue;
      ++units;
      const std::size_t lk = level(k);
      const bool is_true = truth[k] != 0;
      // Neighbours within the tolerance: rows of this patient with |session - t| <= tolerance.
      bool hit = false;
      std::size_t best = 0;
      const std::int64_t t = c.session[k];
      std::size_t lo = k;
      while (lo > b && t - c.session[lo - 1] <= tolerance) --lo;
      for (std::size_t j = lo; j < e && c.session[j] - t <= tolerance; ++j) {
        if (c.session[j] < 2) continue;
        if (truth[j]) hit = true;
        if (is_true) best = std::max<std::size_t>(best, level(j));
      }
      ++detected[lk];
      if (hit) ++hits[lk];
      if (is_true) {
        ++true_events;
        ++found[best];
      }
    }
  }
  // Suffix sums: count of units with level > j.
  std::vector<Accuracy> out(K);
  std::int64_t d = 0, h = 0, f = 0;
  for (std::size_t j = K; j-- > 0;) {
    d += detected[j + 1];
    h += hits[j + 1];
    f += found[j + 1];
    Accuracy& a = out[j];
    a.tp = h;
    a.fp = d - h;
    a.true_events = true_events;
    a.found = f;
    a.fn = true_events - f;
    a.tn = units - a.tp - a.fp - a.fn;
    finish(a);
  }
  return out;
}

}  // namespace

double sudden_loss_critical_t(double critical_t, int df) {
  if (df == 4) return critical_t;
  if (df < 2 || df > 4) throw std::invalid_argument("sudden_loss_critical_t: df must be 2, 3 or 4");
  if (std::isnan(critical_t)) return kNaN;
  namespace bm = boost::math;
  const bm::students_t_distribution<double> t4(4.0), tdf(static_cast<double>(df));
  const double half_alpha = bm::cdf(bm::complement(t4, critical_t));  // upper tail
  if (!(half_alpha > 0)) return std::numeric_limits<double>::infinity();
  if (half_alpha >= 1) return -std::numeric_limits<double>::infinity();
  return bm::quantile(bm::complement(tdf, half_alpha));
}

double detection_scale(const Cohort& cohort, RaterId rater, const Detection& detection) {
  Detector det(cohort, rater, detection);
  if (det.rule == DetectionRule::PercentDrop || det.per_person()) return kNaN;
  return det.global_scale;
}

void detect_events(const Cohort& c, RaterId rater, const Detection& detection, double threshold, RaterEvents& out) {
  const Detector det(c, rater, detection);
  const bool mode_return = detection.repair.mode == RepairMode::Return;
  const std::int64_t window = detection.repair.window;
  const std::vector<double>& y = det.y;
  out.rupture.assign(c.rows(), 0);
  out.repair.assign(c.rows(), 0);
  for (std::size_t i = 0; i < c.patients(); ++i) {
    const std::size_t b = c.offset[i], e = c.offset[i + 1];
    const double ps = det.person_scale(b, e);
    bool open = false;
    std::int64_t open_session = 0;
    double level_before = 0;  // y_{t-1} of the open rupture
    for (std::size_t k = b; k < e; ++k) {
      const std::int64_t t = c.session[k];
      if (open && t - open_session > window) open = false;  // past the window: unrepaired
      if (det.onset(k, b, e, threshold, ps)) {
        out.rupture[k] = 1;  // opens a rupture, replacing an open one (left unrepaired)
        open = true;
        open_session = t;
        level_before = y[k - 1];
        continue;
      }
      if (!open || !rated(y[k])) continue;
      const bool repaired = mode_return ? y[k] >= level_before - kEps
                                        : det.measurable(k, b) && det.criterion(k, b, e, threshold, ps, -1.0);
      if (repaired) {
        out.repair[k] = 1;
        open = false;
      }
    }
  }
}

DetectionScore score_detection(const Cohort& c, const RaterEvents& events, const Detection& detection) {
  if (events.rupture.size() != c.rows() || events.repair.size() != c.rows())
    throw std::invalid_argument("score_detection: events do not match the cohort's rows");
  DetectionScore s;
  const std::size_t n = c.patients();
  std::int64_t with_rupture = 0, with_true = 0, tp = 0, fp = 0, fn = 0, tn = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bool det = false, tru = false;
    for (std::size_t k = c.offset[i]; k < c.offset[i + 1]; ++k) {
      s.ruptures += events.rupture[k];
      s.repairs += events.repair[k];
      det = det || events.rupture[k];
      tru = tru || (c.has_truth && c.true_onset[k]);
    }
    with_rupture += det;
    with_true += tru;
    tp += det && tru;
    fp += det && !tru;
    fn += !det && tru;
    tn += !det && !tru;
  }
  s.prevalence = ratio(with_rupture, static_cast<std::int64_t>(n));
  if (!c.has_truth) return s;
  s.true_prevalence = ratio(with_true, static_cast<std::int64_t>(n));
  Accuracy& p = s.rupture_patients;
  p.tp = tp;
  p.fp = fp;
  p.fn = fn;
  p.tn = tn;
  p.true_events = tp + fn;
  p.found = tp;
  finish(p);
  const std::int64_t tol = detection.tolerance;
  s.rupture = session_accuracy(c, c.true_onset, tol, 1,
                               [&](std::size_t k) -> std::size_t { return events.rupture[k] ? 1 : 0; })[0];
  s.repair = session_accuracy(c, c.true_repair, tol, 1,
                              [&](std::size_t k) -> std::size_t { return events.repair[k] ? 1 : 0; })[0];
  return s;
}

double cohens_kappa(const Cohort& c, const RaterEvents& a, const RaterEvents& b) {
  if (a.rupture.size() != c.rows() || b.rupture.size() != c.rows())
    throw std::invalid_argument("cohens_kappa: events do not match the cohort's rows");
  const std::vector<double>& yp = c.alliance_patient;
  const std::vector<double>& yt = c.alliance_therapist;
  std::int64_t n = 0, n11 = 0, n10 = 0, n01 = 0, n00 = 0;
  for (std::size_t i = 0; i < c.patients(); ++i)
    for (std::size_t k = c.offset[i] + 1; k < c.offset[i + 1]; ++k) {
      if (c.session[k - 1] != c.session[k] - 1) continue;
      if (!rated(yp[k]) || !rated(yp[k - 1]) || !rated(yt[k]) || !rated(yt[k - 1])) continue;
      ++n;
      const bool x = a.rupture[k] != 0, z = b.rupture[k] != 0;
      n11 += x && z;
      n10 += x && !z;
      n01 += !x && z;
      n00 += !x && !z;
    }
  if (n == 0) return kNaN;
  const double N = static_cast<double>(n);
  const double po = static_cast<double>(n11 + n00) / N;
  const double pa = static_cast<double>(n11 + n10) / N, pb = static_cast<double>(n11 + n01) / N;
  const double pe = pa * pb + (1 - pa) * (1 - pb);
  if (pe >= 1) return kNaN;
  return (po - pe) / (1 - pe);
}

double roc_auc(const std::vector<RocPoint>& points) {
  if (points.empty()) return kNaN;
  std::vector<std::pair<double, double>> xy;  // (false-positive rate, sensitivity)
  xy.reserve(points.size() + 2);
  xy.emplace_back(0.0, 0.0);
  for (const RocPoint& p : points) {
    if (std::isnan(p.sensitivity) || std::isnan(p.specificity)) return kNaN;
    xy.emplace_back(1.0 - p.specificity, p.sensitivity);
  }
  xy.emplace_back(1.0, 1.0);
  std::sort(xy.begin(), xy.end());
  double auc = 0;
  for (std::size_t i = 1; i < xy.size(); ++i)
    auc += (xy[i].first - xy[i - 1].first) * (xy[i].second + xy[i - 1].second) / 2;
  return auc;
}

RocCurve roc_curve(const Cohort& c, RaterId rater, const Detection& detection) {
  RocCurve curve;
  curve.rule = detection.rule;
  curve.rater = rater;
  const std::vector<double>& thr = detection.roc_thresholds;
  const std::size_t K = thr.size();
  if (K == 0) return curve;
  // Sorted thresholds (ascending) and, for each row, how many of them flag it: the flag is
  // non-increasing in the threshold, so the flagged ones are a prefix, found by binary search with
  // the predicate of detect_events.
  std::vector<std::size_t> order(K);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return thr[a] < thr[b]; });
  std::vector<double> sorted(K);
  for (std::size_t j = 0; j < K; ++j) sorted[j] = thr[order[j]];

  const Detector det(c, rater, detection);
  std::vector<std::uint32_t> level(c.rows(), 0);
  for (std::size_t i = 0; i < c.patients(); ++i) {
    const std::size_t b = c.offset[i], e = c.offset[i + 1];
    const double ps = det.person_scale(b, e);
    for (std::size_t k = b; k < e; ++k) {
      if (!det.measurable(k, b)) continue;
      auto it = std::partition_point(sorted.begin(), sorted.end(),
                                     [&](double th) { return det.criterion(k, b, e, th, ps, +1.0); });
      level[k] = static_cast<std::uint32_t>(it - sorted.begin());
    }
  }
  curve.points.resize(K);
  if (!c.has_truth) {
    for (std::size_t j = 0; j < K; ++j) curve.points[j] = RocPoint{thr[j], kNaN, kNaN};
    return curve;
  }
  const std::vector<Accuracy> acc =
      session_accuracy(c, c.true_onset, detection.tolerance, K, [&](std::size_t k) -> std::size_t { return level[k]; });
  for (std::size_t j = 0; j < K; ++j) {
    const Accuracy& a = acc[j];
    curve.points[order[j]] = RocPoint{sorted[j], a.sensitivity, a.specificity, a.ppv, a.f1};
  }
  curve.auc = roc_auc(curve.points);
  return curve;
}

}  // namespace collabzium
