#include "collabzium/study/record.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace collabzium {

namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

const char* const kCoefficientFields[] = {"estimate", "se", "df", "p", "ci_low", "ci_high"};
const char* const kFitFields[] = {"sigma2", "tau2", "criterion", "converged", "singular", "iterations",
                                  "observations"};
const char* const kDetectionFields[] = {"ruptures",           "repairs",          "prevalence",         "true_prevalence",
                                        "sensitivity",        "specificity",      "ppv",                "f1",
                                        "repair_sensitivity", "repair_specificity", "repair_ppv",        "repair_f1"};

// The fields of a record in emission order. The name parts are only joined when `Emit` asks for
// them (layout building); filling a record passes values only.
struct NameParts {
  const char* a;
  const char* b = nullptr;
  const std::string* c = nullptr;
  const char* d = nullptr;
  int index = -1;  // ROC threshold index, placed before d
  std::string join() const {
    std::string s = a;
    if (b) s += std::string(".") + b;
    if (c) s += "." + *c;
    if (index >= 0) s += "." + std::to_string(index);
    if (d) s += std::string(".") + d;
    return s;
  }
};

// Models emitted per condition: the same order as analyze_cohort produces them.
template <class Emit>
void emit_models(const Scenario& s, const CohortAnalysis* a, Emit&& emit) {
  auto one = [&](const std::string& model, ModelRater rater) {
    const ModelResult* r = nullptr;  // absent: not fitted (e.g. the oracle on data without truth)
    if (a)
      for (const auto& cur : a->models)
        if (cur.rater == rater && cur.model == model) r = &cur;
    const auto& terms = model_terms(model, s);
    for (std::size_t t = 0; t < terms.size(); ++t) {
      const Coefficient* co = r && t < r->fit.coefficients.size() ? &r->fit.coefficients[t] : nullptr;
      const double values[6] = {co ? co->estimate : NaN, co ? co->se : NaN,     co ? co->df : NaN,
                                co ? co->p : NaN,        co ? co->ci_low : NaN, co ? co->ci_high : NaN};
      for (int f = 0; f < 6; ++f)
        emit(NameParts{model.c_str(), model_rater_name(rater), &terms[t], kCoefficientFields[f]}, values[f]);
    }
    const bool fitted = r && r->skipped.empty();
    const double fit_values[7] = {fitted ? r->fit.sigma2 : NaN,
                                  fitted ? r->fit.tau2 : NaN,
                                  fitted ? r->fit.criterion : NaN,
                                  r ? double(fitted && r->fit.converged) : NaN,
                                  r ? double(fitted && r->fit.singular) : NaN,
                                  fitted ? double(r->fit.iterations) : NaN,
                                  r ? double(r->rows) : NaN};
    for (int f = 0; f < 7; ++f) emit(NameParts{model.c_str(), model_rater_name(rater), nullptr, kFitFields[f]}, fit_values[f]);
  };
  for (ModelRater rater : {ModelRater::Patient, ModelRater::Therapist})
    for (const auto& model : s.analysis.models)
      if (model != "oracle") one(model, rater);
  if (s.analysis.has_model("oracle")) one("oracle", ModelRater::Truth);
}

template <class Emit>
void emit_record(const Scenario& s, const Cohort* c, const CohortAnalysis* a, Emit&& emit) {
  emit_models(s, a, emit);
  for (RaterId r : {RaterId::Patient, RaterId::Therapist}) {
    const DetectionScore* d = a ? &a->detection[static_cast<int>(r)] : nullptr;
    const double values[12] = {d ? double(d->ruptures) : NaN,  d ? double(d->repairs) : NaN,
                               d ? d->prevalence : NaN,         d ? d->true_prevalence : NaN,
                               d ? d->rupture.sensitivity : NaN, d ? d->rupture.specificity : NaN,
                               d ? d->rupture.ppv : NaN,        d ? d->rupture.f1 : NaN,
                               d ? d->repair.sensitivity : NaN, d ? d->repair.specificity : NaN,
                               d ? d->repair.ppv : NaN,         d ? d->repair.f1 : NaN};
    for (int f = 0; f < 12; ++f) emit(NameParts{"detection", rater_name(r), nullptr, kDetectionFields[f]}, values[f]);
  }
  emit(NameParts{"detection", "kappa"}, a ? a->kappa : NaN);
  const std::size_t thresholds = s.detection.roc_thresholds.size();
  if (thresholds > 0) {
    for (RaterId r : {RaterId::Patient, RaterId::Therapist}) {
      const RocCurve* roc = nullptr;
      if (a)
        for (const auto& cur : a->roc)
          if (cur.rater == r) roc = &cur;
      emit(NameParts{"roc", rater_name(r), nullptr, "auc"}, roc ? roc->auc : NaN);
      for (std::size_t k = 0; k < thresholds; ++k) {
        const bool has = roc && k < roc->points.size();
        emit(NameParts{"roc", rater_name(r), nullptr, "sensitivity", int(k)}, has ? roc->points[k].sensitivity : NaN);
        emit(NameParts{"roc", rater_name(r), nullptr, "specificity", int(k)}, has ? roc->points[k].specificity : NaN);
      }
    }
  }
  double dropouts = NaN;
  if (c && c->has_truth) {
    dropouts = 0;
    for (auto x : c->dropout) dropouts += x;
  }
  emit(NameParts{"cohort", "patients"}, c ? double(c->patients()) : NaN);
  emit(NameParts{"cohort", "sessions"}, c ? double(c->rows()) : NaN);
  emit(NameParts{"cohort", "dropouts"}, dropouts);
}

}  // namespace

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
  std::fill(row, row + layout.columns.size(), NaN);
  const std::vector<int>& slots = layout.slots[static_cast<std::size_t>(condition)];
  std::size_t k = 0;
  emit_record(s, &cohort, &analysis, [&](const NameParts&, double v) { row[slots[k++]] = v; });
}

}  // namespace collabzium
