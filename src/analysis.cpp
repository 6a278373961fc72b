#include "collabzium/analysis.h"

#include <cmath>
#include <limits>

namespace collabzium {

namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

double growth_time(bool log_shape, int t) {
  return log_shape ? std::log(static_cast<double>(t)) : static_cast<double>(t - 1);
}

DfMethod df_method(const std::string& df) {
  if (df == "residual") return DfMethod::Residual;
  if (df == "z") return DfMethod::Z;
  return DfMethod::Satterthwaite;
}

// Rows of the lagged models: (row of session t, row of session t+1) of one patient.
struct LagRow {
  std::size_t now, next;
};

// Accumulates model rows, then turns them into an LmmProblem with the grouping and therapist terms.
struct ProblemBuilder {
  std::vector<std::string> names;
  std::vector<double> values;  // row-major
  std::vector<double> y;
  std::vector<int> patient, therapist;
  std::vector<double> slope;

  void add(const double* x, double response, int p, int t, double slope_value = NaN) {
    for (std::size_t j = 0; j < names.size(); ++j) values.push_back(x[j]);
    y.push_back(response);
    patient.push_back(p);
    therapist.push_back(t);
    slope.push_back(slope_value);
  }

  LmmProblem finish(const Cohort& cohort, const std::string& therapist_mode, bool random_slope) const {
    LmmProblem prob;
    const std::size_t n = y.size(), p = names.size();
    // Patients and therapists are renumbered densely, in cohort order, over the rows used.
    std::vector<int> patient_index(cohort.patients(), -1), therapist_index(static_cast<std::size_t>(cohort.therapists()), -1);
    for (std::size_t i = 0; i < n; ++i) {
      patient_index[static_cast<std::size_t>(patient[i])] = 0;
      therapist_index[static_cast<std::size_t>(therapist[i])] = 0;
    }
    int n_patients = 0, n_therapists = 0;
    for (int& v : patient_index)
      if (v == 0) v = n_patients++;
    for (int& v : therapist_index)
      if (v == 0) v = n_therapists++;

    const bool fixed = therapist_mode == "fixed" && n_therapists > 1;
    const std::size_t extra = fixed ? static_cast<std::size_t>(n_therapists - 1) : 0;
    prob.names = names;
    if (fixed)
      for (std::size_t t = 0; t < therapist_index.size(); ++t)
        if (therapist_index[t] > 0) prob.names.push_back("therapist[" + cohort.therapist_label(static_cast<int>(t)) + "]");
    const auto rows = static_cast<Eigen::Index>(n);
    prob.X = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                 values.data(), rows, static_cast<Eigen::Index>(p))
                 .leftCols(static_cast<Eigen::Index>(p));
    if (fixed) {
      prob.X.conservativeResize(rows, static_cast<Eigen::Index>(p + extra));
      prob.X.rightCols(static_cast<Eigen::Index>(extra)).setZero();
    }
    prob.y = Eigen::Map<const Eigen::VectorXd>(y.data(), rows);
    prob.group.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      prob.group[i] = patient_index[static_cast<std::size_t>(patient[i])];
      const int tidx = therapist_index[static_cast<std::size_t>(therapist[i])];
      if (fixed && tidx > 0) prob.X(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(p) + tidx - 1) = 1.0;
    }
    if (therapist_mode == "random") {
      prob.parent.assign(static_cast<std::size_t>(n_patients), 0);
      for (std::size_t i = 0; i < n; ++i)
        prob.parent[static_cast<std::size_t>(prob.group[i])] = therapist_index[static_cast<std::size_t>(therapist[i])];
    }
    if (random_slope) prob.slope = Eigen::Map<const Eigen::VectorXd>(slope.data(), rows);
    return prob;
  }
};

bool present(double x) { return !std::isnan(x); }

}  // namespace

const char* model_rater_name(ModelRater r) {
  switch (r) {
    case ModelRater::Patient: return "patient";
    case ModelRater::Therapist: return "therapist";
    default: return "truth";
  }
}

const std::vector<std::string>& model_terms(const std::string& model) {
  static const std::vector<std::string> lagged = {"(Intercept)", "rupture", "repair", "distress", "session"};
  static const std::vector<std::string> within = {"(Intercept)", "rupture", "repair", "distress", "distress_mean",
                                                  "session"};
  static const std::vector<std::string> growth = {"(Intercept)", "growth"};
  if (model == "within") return within;
  if (model == "growth") return growth;
  return lagged;  // lagged and oracle
}

LmmProblem build_model(const std::string& model, const Cohort& c, ModelRater rater, const RaterEvents* events,
                       const Scenario& s) {
  ProblemBuilder b;
  b.names = model_terms(model);
  const std::string& therapist_mode = s.analysis.therapist;

  const std::size_t rows_max = c.rows();
  b.values.reserve(rows_max * b.names.size());
  b.y.reserve(rows_max);
  b.patient.reserve(rows_max);
  b.therapist.reserve(rows_max);
  b.slope.reserve(rows_max);
  if (model == "growth") {
    const bool log_shape = s.alliance.growth_shape == "log";
    const auto& ratings = c.ratings(static_cast<RaterId>(rater));
    for (std::size_t i = 0; i < c.patients(); ++i)
      for (std::size_t k = c.offset[i]; k < c.offset[i + 1]; ++k) {
        if (!present(ratings[k])) continue;
        const double g = growth_time(log_shape, c.session[k]);
        const double x[2] = {1.0, g};
        b.add(x, ratings[k], static_cast<int>(i), c.therapist[i], g);
      }
    return b.finish(c, therapist_mode, s.analysis.growth_random_slope);
  }

  // Lagged family: rows where sessions t and t+1 are both observed and every variable present.
  const bool truth = rater == ModelRater::Truth;
  const std::vector<double>* ratings = truth ? nullptr : &c.ratings(static_cast<RaterId>(rater));
  const bool within = model == "within";
  std::vector<LagRow> rows;
  rows.reserve(rows_max);
  for (std::size_t i = 0; i < c.patients(); ++i) {
    const std::size_t first = rows.size();
    for (std::size_t k = c.offset[i]; k + 1 < c.offset[i + 1]; ++k) {
      if (c.session[k + 1] != c.session[k] + 1) continue;
      if (!present(c.distress[k]) || !present(c.distress[k + 1])) continue;
      if (!truth && !present((*ratings)[k])) continue;
      rows.push_back({k, k + 1});
    }
    double mean = 0;
    if (within && rows.size() > first) {
      for (std::size_t r = first; r < rows.size(); ++r) mean += c.distress[rows[r].now];
      mean /= static_cast<double>(rows.size() - first);
    }
    for (std::size_t r = first; r < rows.size(); ++r) {
      const std::size_t k = rows[r].now;
      const double rupture = truth ? c.true_onset[k] : events->rupture[k];
      const double repair = truth ? c.true_repair[k] : events->repair[k];
      const double d = c.distress[k], t = c.session[k];
      if (within) {
        const double x[6] = {1.0, rupture, repair, d - mean, mean, t};
        b.add(x, c.distress[rows[r].next], static_cast<int>(i), c.therapist[i]);
      } else {
        const double x[5] = {1.0, rupture, repair, d, t};
        b.add(x, c.distress[rows[r].next], static_cast<int>(i), c.therapist[i]);
      }
    }
  }
  return b.finish(c, therapist_mode, false);
}

CohortAnalysis analyze_cohort(const Cohort& c, const Scenario& s) {
  CohortAnalysis out;
  const Detection& det = s.detection;
  for (RaterId r : {RaterId::Patient, RaterId::Therapist}) {
    const int q = static_cast<int>(r);
    detect_events(c, r, det, det.threshold(), out.events[q]);
    out.detection[q] = score_detection(c, out.events[q], det);
    if (!det.roc_thresholds.empty() && c.has_truth) out.roc.push_back(roc_curve(c, r, det));
  }
  out.kappa = cohens_kappa(c, out.events[0], out.events[1]);

  LmmOptions options;
  options.reml = s.analysis.reml;
  options.df = df_method(s.analysis.df);
  options.alpha = s.run.alpha;
  auto fit = [&](const std::string& model, ModelRater rater, const RaterEvents* events) {
    ModelResult m;
    m.model = model;
    m.rater = rater;
    LmmProblem prob = build_model(model, c, rater, events, s);
    m.rows = static_cast<int>(prob.y.size());
    if (m.rows == 0) {
      m.skipped = "no usable rows";
      m.fit.message = m.skipped;
      for (const auto& name : prob.names) m.fit.coefficients.push_back({name, NaN, NaN, NaN, NaN, NaN, NaN, NaN});
    } else {
      m.fit = fit_lmm(prob, options);
    }
    out.models.push_back(std::move(m));
  };
  for (RaterId r : {RaterId::Patient, RaterId::Therapist})
    for (const auto& model : s.analysis.models)
      if (model != "oracle") fit(model, static_cast<ModelRater>(r), &out.events[static_cast<int>(r)]);
  if (s.analysis.has_model("oracle") && c.has_truth) fit("oracle", ModelRater::Truth, nullptr);
  return out;
}

}  // namespace collabzium
