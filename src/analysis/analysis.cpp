#include "collabzium/analysis/analysis.h"

#include <cmath>
#include <stdexcept>

#include "collabzium/analysis/dsem.h"
#include "collabzium/numeric.h"

namespace collabzium {

namespace {

// Rows of the lagged models: (row of session t, row of session t+1) of one patient.
struct LagRow {
  std::size_t now, next;
};

// One row of a model: its regressors (at most 6), response, cohort patient and slope covariate.
struct ModelRow {
  double x[6];
  double y;
  int patient;
  double slope = kNaN;
};

// Builds the LmmProblem of `n` rows, where row(r, out) fills model row r, directly into the Eigen
// storage: patients and therapists are renumbered densely, in cohort order, over the rows used.
template <class RowFn>
LmmProblem assemble(const Cohort& cohort, const std::vector<std::string>& names, std::size_t n, RowFn row,
                    TherapistTerm therapist_mode, bool random_slope) {
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

  const bool fixed = therapist_mode == TherapistTerm::Fixed && n_therapists > 1;
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
  if (therapist_mode == TherapistTerm::Random) {
    prob.parent.assign(static_cast<std::size_t>(n_patients), 0);
    for (std::size_t r = 0; r < n; ++r) {
      const auto i = static_cast<std::size_t>(row_patient[r]);
      prob.parent[static_cast<std::size_t>(patient_index[i])] = therapist_index[static_cast<std::size_t>(cohort.therapist[i])];
    }
  }
  return prob;
}

bool present(double x) { return !std::isnan(x); }

// Growth: R_it = b0 + b1 g(t) on every rated session (MODEL.md 4).
LmmProblem build_growth(const Cohort& c, RaterId rater, const RaterEvents*, const Scenario& s) {
  const GrowthShape shape = s.alliance.growth_shape;
  const auto& ratings = c.ratings(rater);
  std::vector<std::size_t> rows;
  rows.reserve(c.rows());
  for (std::size_t k = 0; k < c.rows(); ++k)
    if (present(ratings[k])) rows.push_back(k);
  return assemble(
      c, model_terms(ModelKind::Growth), rows.size(),
      [&](std::size_t r, ModelRow& m) {
        const std::size_t k = rows[r];
        const double g = growth_time(shape, c.session[k]);
        m.x[0] = 1.0;
        m.x[1] = g;
        m.y = ratings[k];
        m.patient = c.patient[k];
        m.slope = g;
      },
      s.analysis.therapist, s.analysis.growth_random_slope);
}

// The lagged family: D_{t+1} on the events at t, D_t (within: split into the patient's mean and
// the deviation from it) and t, on rows where sessions t and t+1 are both observed and every
// variable is present. The truth (the oracle) uses the events that entered the distress equation
// (the effective events; data without those columns fall back to the latent events), plus the
// patient's false alarms when they move distress, and needs no rating.
LmmProblem build_lagged_family(const Cohort& c, RaterId rater, const RaterEvents* events, const Scenario& s,
                               bool within) {
  const bool truth = rater == RaterId::Truth;
  const std::vector<double>* ratings = truth ? nullptr : &c.ratings(rater);
  const auto& true_onset = c.has_effective ? c.effective_onset : c.true_onset;
  const auto& true_repair = c.has_effective ? c.effective_repair : c.true_repair;
  const auto& names = within ? model_terms(ModelKind::Within)
                             : model_terms(truth ? ModelKind::Oracle : ModelKind::Lagged, s);
  const bool false_alarm_term = truth && names.size() > 5;
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
      s.analysis.therapist, false);
}

LmmProblem build_lagged(const Cohort& c, RaterId rater, const RaterEvents* events, const Scenario& s) {
  return build_lagged_family(c, rater, events, s, false);
}

LmmProblem build_within(const Cohort& c, RaterId rater, const RaterEvents* events, const Scenario& s) {
  return build_lagged_family(c, rater, events, s, true);
}

// The REML (or ML) kinds: their builder's problem fitted by fit_lmm.
void fit_mixed_model(const FitRequest& q, ModelResult& m) {
  const LmmProblem prob = build_model(q.kind, q.cohort, q.rater, q.events, q.scenario);
  m.rows = static_cast<int>(prob.y.size());
  if (m.rows == 0) {
    m.skipped = "no usable rows";
    m.fit.message = m.skipped;
    for (const auto& term : prob.names) m.fit.coefficients.push_back({term, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN});
  } else {
    m.fit = fit_lmm(prob, q.lmm);
  }
}

// The DSEM's data: every session row of the cohort (the sampler uses every observed distress
// value, not only the lagged pairs), with the rater's events; an event where the rater gave no
// rating is NaN, which the sampler counts as 0 (MODEL.md 4.1).
DsemData dsem_data(const Cohort& c, RaterId rater, const RaterEvents& events) {
  const auto& ratings = c.ratings(rater);
  DsemData d;
  const std::size_t n = c.rows();
  d.patient.resize(n);
  d.session.resize(n);
  d.distress.resize(n);
  d.rupture.resize(n);
  d.repair.resize(n);
  d.therapist.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    const bool rated = present(ratings[k]);
    d.patient[k] = c.patient[k];
    d.session[k] = c.session[k];
    d.distress[k] = c.distress[k];
    d.rupture[k] = rated ? events.rupture[k] : kNaN;
    d.repair[k] = rated ? events.repair[k] : kNaN;
    d.therapist[k] = c.therapist[static_cast<std::size_t>(c.patient[k])];
  }
  for (int t = 0; t < c.therapists(); ++t) d.therapist_labels.push_back(c.therapist_label(t));
  return d;
}

// "dsem": the Gibbs sampler, started around the same rater's REML "lagged" fit (the one of this
// analysis when "lagged" was fitted before it, else an identical fit made here: fit_lmm is
// deterministic, so the start and hence the draws do not depend on analysis.models).
void fit_dsem_model(const FitRequest& q, ModelResult& m) {
  if (q.rater == RaterId::Truth) throw std::logic_error("fit_dsem_model: dsem is fitted per observer");
  const LmmFit* lagged = nullptr;
  for (const auto& r : q.earlier)
    if (r.model == ModelKind::Lagged && r.rater == q.rater) lagged = &r.fit;
  ModelResult own;
  if (!lagged) {
    FitRequest lagged_request = q;
    lagged_request.kind = ModelKind::Lagged;
    fit_mixed_model(lagged_request, own);
    lagged = &own.fit;
  }
  const DsemStart start = dsem_start_from_lagged(*lagged);

  const Analysis& a = q.scenario.analysis;
  DsemOptions options;
  options.chains = static_cast<int>(a.dsem.chains);
  options.iterations = static_cast<int>(a.dsem.iterations);
  options.session = true;  // analysis.session (MODEL.md 4.1) is not a key yet: the term is always in
  options.therapist_fixed = a.therapist == TherapistTerm::Fixed;
  options.alpha = q.scenario.run.alpha;
  const DsemData data = dsem_data(q.cohort, q.rater, *q.events);
  Engine engine = dsem_engine(q.replication, q.rater);
  DsemFit fit = fit_dsem(data, start, options, engine);
  m.rows = fit.fit.nobs;
  // No patient with two observed distress values: nothing was sampled (NaN coefficients).
  if (fit.fit.groups == 0) m.skipped = "no usable rows";
  m.fit = std::move(fit.fit);
  m.rhat_max = fit.diagnostics.rhat_max;
  m.ess_min = fit.diagnostics.ess_min;
}

}  // namespace

// The model kinds, in ModelKind order. A new kind is a value of ModelKind and a row here (its
// builder fills at most 6 regressors per row: ModelRow::x).
const std::vector<ModelKindInfo>& model_kinds() {
  static const std::vector<ModelKindInfo> kinds = [] {
    const std::vector<std::string> lagged_terms = {"(Intercept)", "rupture", "repair", "distress", "session"};
    std::vector<ModelKindInfo> k = {
        {ModelKind::Lagged, "lagged", lagged_terms, FittedFor::EachObserver, &build_lagged, &fit_mixed_model},
        {ModelKind::Within, "within",
         {"(Intercept)", "rupture", "repair", "distress", "distress_mean", "session"}, FittedFor::EachObserver,
         &build_within, &fit_mixed_model},
        {ModelKind::Oracle, "oracle", lagged_terms, FittedFor::Truth, &build_lagged, &fit_mixed_model},
        {ModelKind::Growth, "growth", {"(Intercept)", "growth"}, FittedFor::EachObserver, &build_growth,
         &fit_mixed_model},
        // Per observer only: a truth-fitted DSEM would be a kind of its own (as "oracle" is the
        // lagged model on the truth), with a name MODEL.md does not define.
        {ModelKind::Dsem, "dsem", lagged_terms, FittedFor::EachObserver, nullptr, &fit_dsem_model, true},
    };
    for (std::size_t i = 0; i < k.size(); ++i)
      if (k[i].kind != static_cast<ModelKind>(i)) throw std::logic_error("model_kinds: rows out of ModelKind order");
    return k;
  }();
  return kinds;
}

std::span<const std::string_view> choice_names(ModelKind) {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> n;
    for (const auto& k : model_kinds()) n.push_back(k.name);
    return n;
  }();
  return names;
}

const ModelKindInfo& model_kind(ModelKind kind) { return model_kinds().at(static_cast<std::size_t>(kind)); }

const std::vector<std::string>& model_terms(ModelKind kind) { return model_kind(kind).terms; }

const std::vector<std::string>& model_terms(ModelKind kind, const Scenario& s) {
  static const std::vector<std::string> oracle_false_alarm = [] {
    std::vector<std::string> t = model_terms(ModelKind::Oracle);
    t.push_back("false_alarm");
    return t;
  }();
  if (kind == ModelKind::Oracle && s.distress.effects.false_alarm != 0) return oracle_false_alarm;
  return model_terms(kind);
}

std::vector<Fit> fits_of(const Analysis& analysis) {
  std::vector<Fit> fits;
  for (RaterId rater : kObservers)
    for (ModelKind model : analysis.models)
      if (model_kind(model).fitted_for == FittedFor::EachObserver) fits.push_back({model, rater});
  for (ModelKind model : analysis.models)
    if (model_kind(model).fitted_for == FittedFor::Truth) fits.push_back({model, RaterId::Truth});
  return fits;
}

LmmProblem build_model(ModelKind model, const Cohort& c, RaterId rater, const RaterEvents* events,
                       const Scenario& s) {
  const ModelBuilder build = model_kind(model).build;
  if (!build) throw std::logic_error("build_model: \"" + std::string(name(model)) + "\" is not a linear mixed model");
  return build(c, rater, events, s);
}

Engine dsem_engine(const ReplicationId& id, RaterId rater) {
  const std::uint64_t replication_stream = stream_seed(id.seed, id.condition, id.replication, StreamPurpose::Dsem);
  return Engine(mix64(replication_stream ^ mix64(static_cast<std::uint64_t>(rater))));
}

CohortAnalysis analyze_cohort(const Cohort& c, const Scenario& s) {
  return analyze_cohort(c, s, ReplicationId{static_cast<std::uint64_t>(s.run.seed), 1, 1});
}

CohortAnalysis analyze_cohort(const Cohort& c, const Scenario& s, const ReplicationId& replication) {
  CohortAnalysis out;
  const Detection& det = s.detection;
  for (RaterId r : kObservers) {
    const std::size_t q = index_of(r);
    detect_events(c, r, det, det.threshold(), out.events[q]);
    out.detection[q] = score_detection(c, out.events[q], det);
    if (!det.roc_thresholds.empty() && c.has_truth) out.roc.push_back(roc_curve(c, r, det));
  }
  out.kappa = cohens_kappa(c, out.events[0], out.events[1]);

  LmmOptions options;
  options.reml = s.analysis.reml;
  options.df = s.analysis.df;
  options.alpha = s.run.alpha;
  for (const Fit& f : fits_of(s.analysis)) {
    const bool truth = f.rater == RaterId::Truth;
    if (truth && !c.has_truth) continue;
    ModelResult m;
    m.model = f.model;
    m.rater = f.rater;
    const FitRequest request{f.model, c, f.rater, truth ? nullptr : &out.events[index_of(f.rater)], s, options,
                             replication, out.models};
    model_kind(f.model).fit(request, m);
    out.models.push_back(std::move(m));
  }
  return out;
}

}  // namespace collabzium
