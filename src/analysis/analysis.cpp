#include "collabzium/analysis/analysis.h"

#include <cmath>
#include <limits>

namespace collabzium {

namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

DfMethod df_method(const std::string& df) {
  if (df == "residual") return DfMethod::Residual;
  if (df == "z") return DfMethod::Z;
  return DfMethod::Satterthwaite;
}

// Rows of the lagged models: (row of session t, row of session t+1) of one patient.
struct LagRow {
  std::size_t now, next;
};

// One row of a model: its regressors (at most 6), response, cohort patient and slope covariate.
struct ModelRow {
  double x[6];
  double y;
  int patient;
  double slope = NaN;
};

// Builds the LmmProblem of `n` rows, where row(r, out) fills model row r, directly into the Eigen
// storage: patients and therapists are renumbered densely, in cohort order, over the rows used.
template <class RowFn>
LmmProblem assemble(const Cohort& cohort, const std::vector<std::string>& names, std::size_t n, RowFn row,
                    const std::string& therapist_mode, bool random_slope) {
  LmmProblem prob;
  const std::size_t p = names.size();
  std::vector<int> patient_index(cohort.patients(), -1), therapist_index(static_cast<std::size_t>(cohort.therapists()), -1);
  std::vector<int> row_patient(n);
  const auto rows = static_cast<Eigen::Index>(n);
  prob.X.resize(rows, static_cast<Eigen::Index>(p));
  prob.y.resize(rows);
  if (random_slope) prob.slope.resize(rows);
  ModelRow m;
  for (std::size_t r = 0; r < n; ++r) {
    row(r, m);
    for (std::size_t j = 0; j < p; ++j) prob.X(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j)) = m.x[j];
    prob.y(static_cast<Eigen::Index>(r)) = m.y;
    if (random_slope) prob.slope(static_cast<Eigen::Index>(r)) = m.slope;
    row_patient[r] = m.patient;
    patient_index[static_cast<std::size_t>(m.patient)] = 0;
    therapist_index[static_cast<std::size_t>(cohort.therapist[static_cast<std::size_t>(m.patient)])] = 0;
  }
  int n_patients = 0, n_therapists = 0;
  for (int& v : patient_index)
    if (v == 0) v = n_patients++;
  for (int& v : therapist_index)
    if (v == 0) v = n_therapists++;

  const bool fixed = therapist_mode == "fixed" && n_therapists > 1;
  prob.names = names;
  if (fixed) {
    for (std::size_t t = 0; t < therapist_index.size(); ++t)
      if (therapist_index[t] > 0) prob.names.push_back("therapist[" + cohort.therapist_label(static_cast<int>(t)) + "]");
    prob.X.conservativeResize(rows, static_cast<Eigen::Index>(p) + n_therapists - 1);
    prob.X.rightCols(n_therapists - 1).setZero();
  }
  prob.group.resize(n);
  for (std::size_t r = 0; r < n; ++r) {
    const auto i = static_cast<std::size_t>(row_patient[r]);
    prob.group[r] = patient_index[i];
    const int tidx = therapist_index[static_cast<std::size_t>(cohort.therapist[i])];
    if (fixed && tidx > 0) prob.X(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(p) + tidx - 1) = 1.0;
  }
  if (therapist_mode == "random") {
    prob.parent.assign(static_cast<std::size_t>(n_patients), 0);
    for (std::size_t r = 0; r < n; ++r) {
      const auto i = static_cast<std::size_t>(row_patient[r]);
      prob.parent[static_cast<std::size_t>(patient_index[i])] = therapist_index[static_cast<std::size_t>(cohort.therapist[i])];
    }
  }
  return prob;
}

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

const std::vector<std::string>& model_terms(const std::string& model, const Scenario& s) {
  static const std::vector<std::string> oracle_false_alarm = {"(Intercept)", "rupture", "repair", "distress",
                                                              "session",     "false_alarm"};
  if (model == "oracle" && s.distress.effects.false_alarm != 0) return oracle_false_alarm;
  return model_terms(model);
}

LmmProblem build_model(const std::string& model, const Cohort& c, ModelRater rater, const RaterEvents* events,
                       const Scenario& s) {
  const std::vector<std::string>& names = model_terms(model, s);
  const std::string& therapist_mode = s.analysis.therapist;

  if (model == "growth") {
    const bool log_shape = s.alliance.growth_shape == "log";
    const auto& ratings = c.ratings(static_cast<RaterId>(rater));
    std::vector<std::size_t> rows;
    rows.reserve(c.rows());
    for (std::size_t k = 0; k < c.rows(); ++k)
      if (present(ratings[k])) rows.push_back(k);
    return assemble(
        c, names, rows.size(),
        [&](std::size_t r, ModelRow& m) {
          const std::size_t k = rows[r];
          const double g = growth_time(log_shape, c.session[k]);
          m.x[0] = 1.0;
          m.x[1] = g;
          m.y = ratings[k];
          m.patient = c.patient[k];
          m.slope = g;
        },
        therapist_mode, s.analysis.growth_random_slope);
  }

  // Lagged family: rows where sessions t and t+1 are both observed and every variable present.
  const bool truth = rater == ModelRater::Truth;
  // The oracle's events are those that entered the distress equation (MODEL.md 2.7); data without
  // the effective columns fall back to the latent events.
  const auto& true_onset = c.has_effective ? c.effective_onset : c.true_onset;
  const auto& true_repair = c.has_effective ? c.effective_repair : c.true_repair;
  const bool false_alarm_term = truth && names.size() > 5;
  const std::vector<double>* ratings = truth ? nullptr : &c.ratings(static_cast<RaterId>(rater));
  const bool within = model == "within";
  std::vector<LagRow> rows;
  std::vector<double> patient_mean;  // within: mean of D_t over the patient's rows in the model
  rows.reserve(c.rows());
  if (within) patient_mean.assign(c.patients(), 0.0);
  for (std::size_t i = 0; i < c.patients(); ++i) {
    const std::size_t first = rows.size();
    for (std::size_t k = c.offset[i]; k + 1 < c.offset[i + 1]; ++k) {
      if (c.session[k + 1] != c.session[k] + 1) continue;
      if (!present(c.distress[k]) || !present(c.distress[k + 1])) continue;
      if (!truth && !present((*ratings)[k])) continue;
      rows.push_back({k, k + 1});
    }
    if (within && rows.size() > first) {
      double sum = 0;
      for (std::size_t r = first; r < rows.size(); ++r) sum += c.distress[rows[r].now];
      patient_mean[i] = sum / static_cast<double>(rows.size() - first);
    }
  }
  return assemble(
      c, names, rows.size(),
      [&](std::size_t r, ModelRow& m) {
        const std::size_t k = rows[r].now;
        const int i = c.patient[k];
        const double d = c.distress[k];
        m.x[0] = 1.0;
        m.x[1] = truth ? true_onset[k] : events->rupture[k];
        m.x[2] = truth ? true_repair[k] : events->repair[k];
        if (within) {
          const double mean = patient_mean[static_cast<std::size_t>(i)];
          m.x[3] = d - mean;
          m.x[4] = mean;
          m.x[5] = c.session[k];
        } else {
          m.x[3] = d;
          m.x[4] = c.session[k];
          if (false_alarm_term) m.x[5] = c.has_effective ? c.false_alarm_patient[k] : 0.0;
        }
        m.y = c.distress[rows[r].next];
        m.patient = i;
      },
      therapist_mode, false);
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
