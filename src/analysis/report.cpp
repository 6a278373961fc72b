#include "collabzium/analysis/report.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "collabzium/detection/detection_measures.h"
#include "collabzium/format.h"
#include "collabzium/io/csv.h"
#include "collabzium/io/json.h"

namespace collabzium {

namespace {

void json_accuracy(JsonWriter& j, const std::string& name, const Accuracy& a) {
  j.key(name).begin_object();
  j.field("sensitivity", a.sensitivity).field("specificity", a.specificity).field("ppv", a.ppv).field("f1", a.f1);
  j.field("tp", static_cast<long long>(a.tp)).field("fp", static_cast<long long>(a.fp));
  j.field("fn", static_cast<long long>(a.fn)).field("tn", static_cast<long long>(a.tn));
  j.end_object();
}

void json_model(JsonWriter& j, const ModelResult& m) {
  const ModelFit& f = m.fit;
  j.begin_object();
  j.key("terms").begin_object();
  for (const auto& c : f.coefficients) {
    j.key(c.name).begin_object();
    j.field("estimate", c.estimate).field("se", c.se).field("df", c.df).field("t", c.t).field("p", c.p);
    j.field("ci_low", c.ci_low).field("ci_high", c.ci_high);
    j.end_object();
  }
  j.end_object();
  j.field("sigma2", f.sigma2).field("tau2", f.tau2);
  for (const auto& v : f.variances) j.field(v.name, v.value);
  j.field("reml_criterion", f.criterion).field("converged", f.converged).field("singular", f.singular);
  // The kind's own diagnostics, as its records carry them (a sampler's: its criterion is NaN and
  // iterations are the kept draws).
  for (std::string_view d : model_kind(m.model).record_diagnostics) j.field(std::string(d), f.diagnostic(d));
  j.field("observations", m.rows).field("iterations", f.iterations).field("message", f.message);
  j.key("dropped").begin_array();
  for (const auto& d : f.not_estimable) j.value(d);
  j.end_array();
  j.end_object();
}

std::string num(double x, int decimals = 3) { return format_fixed(x, decimals); }

std::string pad(const std::string& s, std::size_t w) { return s.size() >= w ? s : std::string(w - s.size(), ' ') + s; }

}  // namespace

void write_report_json(const Cohort& cohort, const CohortAnalysis& a, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object();
  j.field("patients", static_cast<long long>(cohort.patients()));
  j.field("sessions", static_cast<long long>(cohort.rows()));
  j.field("kappa", a.kappa);
  j.key("raters").begin_object();
  for (RaterId r : kObservers) {
    const DetectionScore& d = a.detection[index_of(r)];
    j.key(rater_name(r)).begin_object();
    j.key("detection").begin_object();
    // Integer counts print as integers (%.17g).
    for (const DetectionMeasure& m : kDetectionMeasures)
      if (m.in_detection_object() && (cohort.has_truth || !m.needs_truth)) j.field(std::string(m.measure), m.value(d));
    if (cohort.has_truth) {
      json_accuracy(j, "rupture", d.rupture);
      json_accuracy(j, "repair", d.repair);
      json_accuracy(j, "patients", d.rupture_patients);
    }
    j.end_object();
    for (const auto& roc : a.roc) {
      if (roc.rater != r) continue;
      j.key("roc").begin_object();
      j.field("rule", std::string(name(roc.rule))).field("auc", roc.auc);
      j.key("points").begin_array();
      for (const auto& p : roc.points) {
        j.begin_object().field("threshold", p.threshold).field("sensitivity", p.sensitivity);
        j.field("specificity", p.specificity).field("ppv", p.ppv).field("f1", p.f1).end_object();
      }
      j.end_array().end_object();
    }
    j.key("models").begin_object();
    for (const auto& m : a.models)
      if (m.rater == r) {
        j.key(std::string(name(m.model)));
        json_model(j, m);
      }
    j.end_object();
    j.end_object();
  }
  j.end_object();
  // The models fitted on the truth only (the oracle) at the top level, by name; models fitted per
  // observer and on the oracle's events too ("initial") under "truth", as the observers' are.
  bool observer_models_on_truth = false;
  for (const auto& m : a.models)
    if (m.rater == RaterId::Truth) {
      if (fitted_for_observers(m.model)) {
        observer_models_on_truth = true;
        continue;
      }
      j.key(std::string(name(m.model)));
      json_model(j, m);
    }
  if (observer_models_on_truth) {
    j.key(rater_name(RaterId::Truth)).begin_object().key("models").begin_object();
    for (const auto& m : a.models)
      if (m.rater == RaterId::Truth && fitted_for_observers(m.model)) {
        j.key(std::string(name(m.model)));
        json_model(j, m);
      }
    j.end_object().end_object();
  }
  j.end_object();
}

void print_report(const Cohort& cohort, const CohortAnalysis& a, const Scenario& s, std::ostream& out) {
  out << "Cohort: " << cohort.patients() << " patients, " << cohort.therapists() << " therapists, " << cohort.rows()
      << " sessions" << (cohort.has_truth ? " (with latent truth)" : "") << "\n";
  out << "Detection: rule " << name(s.detection.rule) << ", threshold " << s.detection.threshold() << ", repair "
      << name(s.detection.repair.mode) << " within " << s.detection.repair.window << " sessions\n\n";
  out << "rater      ruptures repairs prevalence";
  if (cohort.has_truth) out << " true_prev sensitivity specificity   ppv    f1";
  out << "\n";
  for (RaterId r : kObservers) {
    const DetectionScore& d = a.detection[index_of(r)];
    char line[256];
    std::snprintf(line, sizeof line, "%-10s %8lld %7lld %10s", rater_name(r), static_cast<long long>(d.ruptures),
                  static_cast<long long>(d.repairs), num(d.prevalence).c_str());
    out << line;
    if (cohort.has_truth)
      out << pad(num(d.true_prevalence), 10) << pad(num(d.rupture.sensitivity), 12)
          << pad(num(d.rupture.specificity), 12) << pad(num(d.rupture.ppv), 6) << pad(num(d.rupture.f1), 6);
    out << "\n";
  }
  out << "patient-therapist agreement (Cohen's kappa): " << num(a.kappa) << "\n";
  for (const auto& roc : a.roc)
    out << "ROC " << rater_name(roc.rater) << " (" << name(roc.rule) << "): AUC " << num(roc.auc) << "\n";

  for (const auto& m : a.models) {
    const ModelFit& f = m.fit;
    out << "\n" << name(m.model) << " model, rater " << name(m.rater) << ": " << m.rows << " observations";
    if (!m.skipped.empty()) {
      out << ", not fitted: " << m.skipped << "\n";
      continue;
    }
    if (model_kind(m.model).sampled)
      out << ", Gibbs " << s.analysis.dsem.chains << " x " << s.analysis.dsem.iterations << " iterations, R-hat "
          << num(f.diagnostic("rhat")) << ", ESS " << num(f.diagnostic("ess"), 0) << ", sigma2 " << num(f.sigma2)
          << ", tau2 " << num(f.tau2);
    else
      out << ", " << (s.analysis.reml ? "REML" : "ML") << " criterion " << num(f.criterion, 2) << ", sigma2 "
          << num(f.sigma2) << ", tau2 " << num(f.tau2);
    if (const double t = f.variance("tau2_therapist"); !std::isnan(t)) out << ", tau2_therapist " << num(t);
    if (!f.converged) out << ", NOT CONVERGED";
    if (f.singular) out << ", singular";
    if (!f.message.empty()) out << " [" << f.message << "]";
    out << "\n  term              estimate       se       df        t        p   ci_low  ci_high\n";
    for (const auto& c : f.coefficients) {
      char line[256];
      std::snprintf(line, sizeof line, "  %-15s %10s %8s %8s %8s %8s %8s %8s\n", c.name.c_str(),
                    num(c.estimate, 4).c_str(), num(c.se, 4).c_str(), num(c.df, 1).c_str(), num(c.t, 2).c_str(),
                    num(c.p, 4).c_str(), num(c.ci_low, 3).c_str(), num(c.ci_high, 3).c_str());
      out << line;
    }
  }
}

void write_events_csv(const Cohort& c, const CohortAnalysis& a, std::ostream& out) {
  out << "patient,session,rater,rupture,repair\n";
  for (std::size_t i = 0; i < c.patients(); ++i) {
    const std::string label = csv_field(c.patient_label(i));  // free text: quoted when it must be
    for (RaterId r : kObservers) {
      const RaterEvents& e = a.events[index_of(r)];
      for (std::size_t k = c.offset[i]; k < c.offset[i + 1]; ++k)
        out << label << ',' << c.session[k] << ',' << rater_name(r) << ',' << int(e.rupture[k]) << ','
            << int(e.repair[k]) << '\n';
    }
  }
}

}  // namespace collabzium
