#include "collabzium/analysis/analysis.h"

#include <algorithm>
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

// One row of a model as its builder fills it: the regressors are appended in term order straight
// into the design matrix, so a builder takes as many as its terms, with no buffer to outgrow and
// nothing allocated per row.
class ModelRow {
 public:
  ModelRow(Eigen::MatrixXd& X) : X_(X) {}
  void regressor(double x) {
    if (filled_ == X_.cols()) throw std::logic_error("ModelRow: more regressors than the model's terms");
    X_(row_, filled_++) = x;
  }
  double y = kNaN;
  int patient = -1;
  double slope = kNaN;

 private:
  template <class RowFn>
  friend LmmProblem assemble(const Cohort&, const std::vector<std::string>&, std::size_t, RowFn, TherapistTerm, bool);
  Eigen::MatrixXd& X_;
  Eigen::Index row_ = 0, filled_ = 0;
};

// Builds the LmmProblem of `n` rows, where row(r, out) fills model row r, directly into the Eigen
// storage: patients and therapists are renumbered densely, in cohort order, over the rows used.
template <class RowFn>
LmmProblem assemble(const Cohort& cohort, const std::vector<std::string>& names, std::size_t n, RowFn row,
                    TherapistTerm therapist_mode, bool random_slope) {
  LmmProblem prob;
  const std::size_t p = names.size();
  std::vector<int> patient_index(cohort.patients(), -1),
      therapist_index(static_cast<std::size_t>(cohort.therapists()), -1);
  std::vector<int> row_patient(n);
  const auto rows = static_cast<Eigen::Index>(n);
  prob.X.resize(rows, static_cast<Eigen::Index>(p));
  prob.y.resize(rows);
  if (random_slope) prob.slope.resize(rows);
  ModelRow m(prob.X);
  for (std::size_t r = 0; r < n; ++r) {
    m.row_ = static_cast<Eigen::Index>(r);
    m.filled_ = 0;
    row(r, m);
    if (m.filled_ != static_cast<Eigen::Index>(p)) throw std::logic_error("assemble: fewer regressors than terms");
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
      if (therapist_index[t] > 0)
        prob.names.push_back("therapist[" + cohort.therapist_label(static_cast<int>(t)) + "]");
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
      prob.parent[static_cast<std::size_t>(patient_index[i])] =
          therapist_index[static_cast<std::size_t>(cohort.therapist[i])];
    }
  }
  return prob;
}

bool present(double x) { return !std::isnan(x); }

// Growth: R_it = b0 + b1 g(t) on every rated session (docs/model.md 4).
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
        m.regressor(1.0);
        m.regressor(g);
        m.y = ratings[k];
        m.patient = c.patient[k];
        m.slope = g;
      },
      s.analysis.therapist, s.analysis.growth_random_slope);
}

// The lagged family's variants: the lagged model, its within-between split and the
// initial-conditions model (docs/model.md 4 and 4.1).
enum class LagVariant { Lagged, Within, Initial };

// The lagged family: D_{t+1} on the events at t, D_t (within: split into the patient's mean and
// the deviation from it) and t, on rows where sessions t and t+1 are both observed and every
// variable is present. The truth (the oracle's events) uses the events that entered the distress
// equation (the effective events; data without those columns fall back to the latent events), plus
// the patient's false alarms when they move distress, and needs no rating. "initial" adds the
// patient's session-1 distress and the patient means of the rupture and repair regressors over its
// rows, and leaves out patients whose session-1 distress is missing. The columns are written in
// the order of model_terms: the terms of the kind's table row, "session" only when
// analysis.session, then "false_alarm".
LmmProblem build_lagged_family(const Cohort& c, RaterId rater, const RaterEvents* events, const Scenario& s,
                               LagVariant variant) {
  const bool truth = rater == RaterId::Truth;
  const bool within = variant == LagVariant::Within, initial = variant == LagVariant::Initial;
  const std::vector<double>* ratings = truth ? nullptr : &c.ratings(rater);
  const auto& true_onset = c.has_effective ? c.effective_onset : c.true_onset;
  const auto& true_repair = c.has_effective ? c.effective_repair : c.true_repair;
  const ModelKind kind = within    ? ModelKind::Within
                         : initial ? ModelKind::Initial
                         : truth   ? ModelKind::Oracle
                                   : ModelKind::Lagged;
  const std::vector<std::string> names = model_terms(Fit{kind, rater}, s);
  const bool session_term = s.analysis.session;
  const bool false_alarm_term = truth && !names.empty() && names.back() == "false_alarm";
  auto rupture_at = [&](std::size_t k) { return truth ? double(true_onset[k]) : events->rupture[k]; };
  auto repair_at = [&](std::size_t k) { return truth ? double(true_repair[k]) : events->repair[k]; };

  // Per patient, over the patient's rows in this model: the mean of D_t (within); the session-1
  // distress and the means of the rupture and repair regressors (initial).
  struct PatientCovariates {
    double distress_mean = 0, distress_initial = kNaN, rupture_mean = 0, repair_mean = 0;
  };
  std::vector<LagRow> rows;
  std::vector<PatientCovariates> patient_covariates;
  rows.reserve(c.rows());
  if (within || initial) patient_covariates.assign(c.patients(), {});
  for (std::size_t i = 0; i < c.patients(); ++i) {
    const std::size_t first = rows.size();
    double initial_distress = kNaN;
    if (initial) {
      const std::size_t k1 = c.offset[i];
      if (k1 < c.offset[i + 1] && c.session[k1] == 1) initial_distress = c.distress[k1];
      if (!present(initial_distress)) continue;  // no session-1 distress: the patient is left out
    }
    for (std::size_t k = c.offset[i]; k + 1 < c.offset[i + 1]; ++k) {
      if (c.session[k + 1] != c.session[k] + 1) continue;
      if (!present(c.distress[k]) || !present(c.distress[k + 1])) continue;
      if (!truth && !present((*ratings)[k])) continue;
      rows.push_back({k, k + 1});
    }
    const std::size_t used = rows.size() - first;
    if (used == 0 || patient_covariates.empty()) continue;
    PatientCovariates& pc = patient_covariates[i];
    if (within) {
      double sum = 0;
      for (std::size_t r = first; r < rows.size(); ++r) sum += c.distress[rows[r].now];
      pc.distress_mean = sum / static_cast<double>(used);
    }
    if (initial) {
      double ruptures = 0, repairs = 0;
      for (std::size_t r = first; r < rows.size(); ++r) {
        ruptures += rupture_at(rows[r].now);
        repairs += repair_at(rows[r].now);
      }
      pc.distress_initial = initial_distress;
      pc.rupture_mean = ruptures / static_cast<double>(used);
      pc.repair_mean = repairs / static_cast<double>(used);
    }
  }
  return assemble(
      c, names, rows.size(),
      [&](std::size_t r, ModelRow& m) {
        const std::size_t k = rows[r].now;
        const int i = c.patient[k];
        const double d = c.distress[k];
        m.regressor(1.0);
        m.regressor(rupture_at(k));
        m.regressor(repair_at(k));
        if (within) {
          const double mean = patient_covariates[static_cast<std::size_t>(i)].distress_mean;
          m.regressor(d - mean);
          m.regressor(mean);
        } else {
          m.regressor(d);
        }
        if (session_term) m.regressor(c.session[k]);
        if (initial) {
          const PatientCovariates& pc = patient_covariates[static_cast<std::size_t>(i)];
          m.regressor(pc.distress_initial);
          m.regressor(pc.rupture_mean);
          m.regressor(pc.repair_mean);
        }
        if (false_alarm_term) m.regressor(c.has_effective ? c.false_alarm_patient[k] : 0.0);
        m.y = c.distress[rows[r].next];
        m.patient = i;
      },
      s.analysis.therapist, false);
}

LmmProblem build_lagged(const Cohort& c, RaterId rater, const RaterEvents* events, const Scenario& s) {
  return build_lagged_family(c, rater, events, s, LagVariant::Lagged);
}

LmmProblem build_within(const Cohort& c, RaterId rater, const RaterEvents* events, const Scenario& s) {
  return build_lagged_family(c, rater, events, s, LagVariant::Within);
}

LmmProblem build_initial(const Cohort& c, RaterId rater, const RaterEvents* events, const Scenario& s) {
  return build_lagged_family(c, rater, events, s, LagVariant::Initial);
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
    m.fit = to_model_fit(fit_lmm(prob, q.lmm));
  }
}

// The DSEM's data: every session row of the cohort (the sampler uses every observed distress
// value, not only the lagged pairs), with the rater's events; an event where the rater gave no
// rating is NaN, which the sampler counts as 0 (docs/model.md 4.1).
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
  const ModelFit* lagged = nullptr;
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
  options.session = a.session;
  options.therapist_fixed = a.therapist == TherapistTerm::Fixed;
  options.alpha = q.scenario.run.alpha;
  const DsemData data = dsem_data(q.cohort, q.rater, *q.events);
  Engine engine = dsem_engine(q.replication, q.rater);
  DsemFit fit = fit_dsem(data, start, options, engine);
  m.rows = fit.observations;
  // No patient with two observed distress values: nothing was sampled (NaN coefficients).
  if (fit.groups == 0) m.skipped = "no usable rows";
  m.fit = std::move(fit.fit);
}

// The terms of a kind's table row, all of them in every scenario (growth).
template <ModelKind Kind>
std::vector<std::string> table_terms(RaterId, const Scenario&) {
  return model_terms(Kind);
}

// The lagged family's terms (and dsem's): the table row's, without "session" when
// analysis.session is false, and, on the truth, "false_alarm" (the patient's false alarms) when
// distress.effects.false_alarm is not 0 (docs/model.md, mechanisms).
template <ModelKind Kind>
std::vector<std::string> lagged_family_terms(RaterId rater, const Scenario& s) {
  std::vector<std::string> terms = model_terms(Kind);
  if (auto session = std::find(terms.begin(), terms.end(), "session"); !s.analysis.session && session != terms.end())
    terms.erase(session);
  if (rater == RaterId::Truth && s.distress.effects.false_alarm != 0) terms.push_back("false_alarm");
  return terms;
}

// The lagged family's estimands: the short-run event effects and φ, the within-person AR of
// distress, as its "distress" term (docs/model.md 4.1).
double lagged_family_true_value(const Scenario& s, std::string_view term) {
  if (term == "rupture") return s.distress.effects.rupture;
  if (term == "repair") return s.distress.effects.repair;
  if (term == "false_alarm") return s.distress.effects.false_alarm;
  if (term == "distress") return s.distress.ar;
  return kNaN;
}

double growth_true_value(const Scenario& s, std::string_view term) {
  return term == "growth" ? s.alliance.growth : kNaN;
}

}  // namespace

// The model kinds, in ModelKind order, named as the configuration names them.
const std::vector<ModelKindInfo>& model_kinds() {
  static const std::vector<ModelKindInfo> kinds = [] {
    using K = ModelKind;
    const std::vector<std::string> lagged_terms = {"(Intercept)", "rupture", "repair", "distress", "session"};
    const std::vector<std::string_view> session_key = {"analysis.session"};
    const std::vector<std::string_view> truth_keys = {"analysis.session", "distress.effects.false_alarm"};
    // A REML kind of the lagged family: its estimands are the lagged model's; fitted on the truth,
    // the false-alarm term comes and goes with its effect.
    auto lagged_family = [&](K kind, std::string_view name, std::vector<std::string> terms, FittedFor fitted_for,
                             ModelBuilder build, TermsFunction terms_of) {
      return ModelKindInfo{.kind = kind,
                           .name = name,
                           .terms = std::move(terms),
                           .fitted_for = fitted_for,
                           .fit = &fit_mixed_model,
                           .build = build,
                           .terms_of = terms_of,
                           .true_value = &lagged_family_true_value,
                           .record_diagnostics = {},
                           .layout_keys = fitted_for == FittedFor::EachObserver ? session_key : truth_keys};
    };
    std::vector<ModelKindInfo> k = {
        lagged_family(K::Lagged, "lagged", lagged_terms, FittedFor::EachObserver, &build_lagged,
                      &lagged_family_terms<K::Lagged>),
        lagged_family(K::Within, "within", {"(Intercept)", "rupture", "repair", "distress", "distress_mean", "session"},
                      FittedFor::EachObserver, &build_within, &lagged_family_terms<K::Within>),
        lagged_family(K::Oracle, "oracle", lagged_terms, FittedFor::Truth, &build_lagged,
                      &lagged_family_terms<K::Oracle>),
        {.kind = K::Growth,
         .name = "growth",
         .terms = {"(Intercept)", "growth"},
         .fitted_for = FittedFor::EachObserver,
         .fit = &fit_mixed_model,
         .build = &build_growth,
         .terms_of = &table_terms<K::Growth>,
         .true_value = &growth_true_value,
         .record_diagnostics = {},
         .layout_keys = {}},
        lagged_family(K::Initial, "initial",
                      {"(Intercept)", "rupture", "repair", "distress", "session", "distress_initial", "rupture_mean",
                       "repair_mean"},
                      FittedFor::EachObserverAndTruth, &build_initial, &lagged_family_terms<K::Initial>),
        // Per observer only: a truth-fitted DSEM would be a kind of its own (as "oracle" is the
        // lagged model on the truth), with a name the model does not define.
        {.kind = K::Dsem,
         .name = "dsem",
         .terms = lagged_terms,
         .fitted_for = FittedFor::EachObserver,
         .fit = &fit_dsem_model,
         .build = nullptr,
         .terms_of = &lagged_family_terms<K::Dsem>,
         .true_value = &lagged_family_true_value,
         .record_diagnostics = {"rhat", "ess"},
         .layout_keys = session_key,
         .sampled = true},
    };
    const auto names = choice_names(ModelKind{});
    if (k.size() != names.size()) throw std::logic_error("model_kinds: not one entry per ModelKind");
    for (std::size_t i = 0; i < k.size(); ++i)
      if (k[i].kind != static_cast<ModelKind>(i) || k[i].name != names[i])
        throw std::logic_error("model_kinds: rows out of ModelKind order, or names other than the configuration's");
    return k;
  }();
  return kinds;
}

const ModelKindInfo& model_kind(ModelKind kind) { return model_kinds().at(static_cast<std::size_t>(kind)); }

const std::vector<std::string>& model_terms(ModelKind kind) { return model_kind(kind).terms; }

bool fitted_for_observers(ModelKind kind) { return model_kind(kind).fitted_for != FittedFor::Truth; }

bool fitted_for_truth(ModelKind kind) { return model_kind(kind).fitted_for != FittedFor::EachObserver; }

std::vector<std::string> model_terms(const Fit& fit, const Scenario& s) {
  return model_kind(fit.model).terms_of(fit.rater, s);
}

double true_value(const Scenario& s, ModelKind model, std::string_view term) {
  return model_kind(model).true_value(s, term);
}

bool changes_layout(const std::vector<ModelKind>& models, std::string_view key) {
  for (ModelKind m : models) {
    const auto& keys = model_kind(m).layout_keys;
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) return true;
  }
  return false;
}

std::vector<Fit> fits_of(const Analysis& analysis) {
  std::vector<Fit> fits;
  for (RaterId rater : kObservers)
    for (ModelKind model : analysis.models)
      if (fitted_for_observers(model)) fits.push_back({model, rater});
  for (ModelKind model : analysis.models)
    if (fitted_for_truth(model)) fits.push_back({model, RaterId::Truth});
  return fits;
}

LmmProblem build_model(ModelKind model, const Cohort& c, RaterId rater, const RaterEvents* events, const Scenario& s) {
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
    const FitRequest request{f.model, c,       f.rater,     truth ? nullptr : &out.events[index_of(f.rater)],
                             s,       options, replication, out.models};
    model_kind(f.model).fit(request, m);
    out.models.push_back(std::move(m));
  }
  return out;
}

}  // namespace collabzium
