#include "collabzium/study/record.h"

#include <algorithm>
#include <unordered_map>

#include "collabzium/numeric.h"

namespace collabzium {

std::span<const std::string_view> choice_names(CoefficientField) {
  static constexpr std::string_view names[] = {"estimate", "se", "df", "p", "ci_low", "ci_high"};
  return names;
}
std::span<const std::string_view> choice_names(FitField) {
  static constexpr std::string_view names[] = {"sigma2",   "tau2",       "criterion",   "converged",
                                               "singular", "iterations", "observations"};
  return names;
}
std::span<const std::string_view> choice_names(RocField) {
  static constexpr std::string_view names[] = {"sensitivity", "specificity"};
  return names;
}

namespace {

// A column name in parts: a.b[.c][.index][.d]. Filling a record passes values only; the parts are
// joined only when a layout is made (and by the *_column functions).
struct NameParts {
  std::string_view a;
  std::string_view b = {};
  std::string_view c = {};
  std::string_view d = {};
  int index = -1;  // ROC threshold index, placed before d
  std::string join() const {
    std::string s(a);
    for (std::string_view part : {b, c})
      if (!part.empty()) (s += '.') += part;
    if (index >= 0) s += "." + std::to_string(index);
    if (!d.empty()) (s += '.') += d;
    return s;
  }
};

NameParts coefficient_parts(const Fit& f, std::string_view term, CoefficientField field) {
  return {name(f.model), name(f.rater), term, name(field)};
}
NameParts fit_parts(const Fit& f, FitField field) { return {name(f.model), name(f.rater), {}, name(field)}; }
NameParts diagnostic_parts(const Fit& f, std::string_view diagnostic) {
  return {name(f.model), name(f.rater), {}, diagnostic};
}
NameParts detection_parts(RaterId r, DetectionField field) { return {"detection", name(r), {}, name(field)}; }
NameParts roc_parts(RaterId r, int k, RocField field) { return {"roc", name(r), {}, name(field), k}; }
NameParts roc_auc_parts(RaterId r) { return {"roc", name(r), {}, "auc"}; }
NameParts kappa_parts() { return {"detection", "kappa"}; }

// The fits of a condition, in the order of fits_of (the same as analyze_cohort produces them).
template <class Emit>
void emit_models(const Scenario& s, const CohortAnalysis* a, Emit&& emit) {
  for (const Fit& fit : fits_of(s.analysis)) {
    const ModelResult* r = nullptr;  // absent: not fitted (e.g. the oracle on data without truth)
    if (a)
      for (const auto& cur : a->models)
        if (cur.rater == fit.rater && cur.model == fit.model) r = &cur;
    const auto& terms = model_terms(fit, s);
    for (std::size_t t = 0; t < terms.size(); ++t) {
      const Coefficient* co = r && t < r->fit.coefficients.size() ? &r->fit.coefficients[t] : nullptr;
      const double values[6] = {co ? co->estimate : kNaN, co ? co->se : kNaN,     co ? co->df : kNaN,
                                co ? co->p : kNaN,        co ? co->ci_low : kNaN, co ? co->ci_high : kNaN};
      for (int f = 0; f < 6; ++f) emit(coefficient_parts(fit, terms[t], static_cast<CoefficientField>(f)), values[f]);
    }
    const bool fitted = r && r->skipped.empty();
    const double fit_values[7] = {fitted ? r->fit.sigma2 : kNaN,
                                  fitted ? r->fit.tau2 : kNaN,
                                  fitted ? r->fit.criterion : kNaN,
                                  r ? double(fitted && r->fit.converged) : kNaN,
                                  r ? double(fitted && r->fit.singular) : kNaN,
                                  fitted ? double(r->fit.iterations) : kNaN,
                                  r ? double(r->rows) : kNaN};
    for (int f = 0; f < 7; ++f) emit(fit_parts(fit, static_cast<FitField>(f)), fit_values[f]);
    for (std::string_view diagnostic : model_kind(fit.model).record_diagnostics)
      emit(diagnostic_parts(fit, diagnostic), fitted ? r->fit.diagnostic(diagnostic) : kNaN);
  }
}

template <class Emit>
void emit_record(const Scenario& s, const Cohort* c, const CohortAnalysis* a, Emit&& emit) {
  emit_models(s, a, emit);
  for (RaterId r : kObservers) {
    const DetectionScore* d = a ? &a->detection[index_of(r)] : nullptr;
    for (const DetectionMeasure& m : kDetectionMeasures) emit(detection_parts(r, m.field), d ? m.value(*d) : kNaN);
  }
  emit(kappa_parts(), a ? a->kappa : kNaN);
  const std::size_t thresholds = s.detection.roc_thresholds.size();
  if (thresholds > 0) {
    for (RaterId r : kObservers) {
      const RocCurve* roc = nullptr;
      if (a)
        for (const auto& cur : a->roc)
          if (cur.rater == r) roc = &cur;
      emit(roc_auc_parts(r), roc ? roc->auc : kNaN);
      for (std::size_t k = 0; k < thresholds; ++k) {
        const bool has = roc && k < roc->points.size();
        emit(roc_parts(r, int(k), RocField::Sensitivity), has ? roc->points[k].sensitivity : kNaN);
        emit(roc_parts(r, int(k), RocField::Specificity), has ? roc->points[k].specificity : kNaN);
      }
    }
  }
  double dropouts = kNaN;
  if (c && c->has_truth) {
    dropouts = 0;
    for (auto x : c->dropout) dropouts += x;
  }
  emit(NameParts{"cohort", "patients"}, c ? double(c->patients()) : kNaN);
  emit(NameParts{"cohort", "sessions"}, c ? double(c->rows()) : kNaN);
  emit(NameParts{"cohort", "dropouts"}, dropouts);
}

}  // namespace

std::string coefficient_column(const Fit& fit, const std::string& term, CoefficientField field) {
  return coefficient_parts(fit, term, field).join();
}
std::string fit_column(const Fit& fit, FitField field) { return fit_parts(fit, field).join(); }
std::string diagnostic_column(const Fit& fit, std::string_view diagnostic) {
  return diagnostic_parts(fit, diagnostic).join();
}
std::string detection_column(RaterId observer, DetectionField field) { return detection_parts(observer, field).join(); }
std::string kappa_column() { return kappa_parts().join(); }
std::string roc_auc_column(RaterId observer) { return roc_auc_parts(observer).join(); }
std::string roc_column(RaterId observer, std::size_t threshold, RocField field) {
  return roc_parts(observer, static_cast<int>(threshold), field).join();
}

RecordLayout make_layout(const std::vector<Scenario>& conditions) {
  RecordLayout layout;
  std::unordered_map<std::string, int> index;
  for (const Scenario& s : conditions) {
    std::vector<int> slots;
    emit_record(s, nullptr, nullptr, [&](const NameParts& n, double) {
      const std::string name = n.join();
      auto [it, inserted] = index.emplace(name, static_cast<int>(layout.columns.size()));
      if (inserted) layout.columns.push_back(name);
      slots.push_back(it->second);
    });
    layout.slots.push_back(std::move(slots));
  }
  return layout;
}

void fill_record(const RecordLayout& layout, int condition, const Scenario& s, const Cohort& cohort,
                 const CohortAnalysis& analysis, double* row) {
  std::fill(row, row + layout.columns.size(), kNaN);
  const std::vector<int>& slots = layout.slots[static_cast<std::size_t>(condition)];
  std::size_t k = 0;
  emit_record(s, &cohort, &analysis, [&](const NameParts&, double v) { row[slots[k++]] = v; });
}

}  // namespace collabzium
