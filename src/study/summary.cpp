#include "collabzium/study/summary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

#include "collabzium/analysis/analysis.h"
#include "collabzium/format.h"
#include "collabzium/io/csv.h"
#include "collabzium/study/record.h"
#include "collabzium/study/scoring.h"

namespace collabzium {

namespace {

// Significant digits of the summary CSV's numbers (and of the ROC thresholds in its terms).
constexpr int kSummaryDigits = 10;

std::string plain_value(const KeyValue& v) {
  if (auto s = std::get_if<std::string>(&v)) return *s;
  return format_value(v);
}

// The detection measures with a summary row for `event`, in the summary's order.
std::vector<const DetectionMeasure*> summarised_measures(DetectedEvent event) {
  std::vector<const DetectionMeasure*> out;
  for (const DetectionMeasure& m : kDetectionMeasures)
    if (m.event == event && !m.is_count()) out.push_back(&m);
  std::sort(out.begin(), out.end(),
            [](const DetectionMeasure* a, const DetectionMeasure* b) { return a->summary_rank < b->summary_rank; });
  return out;
}

}  // namespace

std::vector<SummaryRow> summarize_study(const ScenarioFile& file, const std::vector<std::string>& columns,
                                        const ColumnSource& column, const std::vector<std::uint8_t>& done,
                                        std::size_t R) {
  const std::set<std::string> have(columns.begin(), columns.end());
  std::vector<SummaryRow> rows;
  for (std::size_t c = 0; c < file.conditions.size(); ++c) {
    const Scenario& s = file.conditions[c].scenario;
    const int cond = file.conditions[c].index;
    // Values of a column over this condition's finished replications.
    // Compacted in place: a second, growing vector would hold up to three columns' worth of
    // memory at once, which at 10^6 replications made this the peak of a whole run.
    auto finished = [&](const std::string& name) {
      std::vector<double> values = column(name, c);
      std::size_t kept = 0;
      for (std::size_t r = 0; r < R; ++r)
        if (done[c * R + r]) values[kept++] = values[r];
      values.resize(kept);
      return values;
    };
    auto flags = [&](const std::string& name) {
      std::vector<std::uint8_t> out;
      for (double x : finished(name)) out.push_back(x == 1.0);
      return out;
    };
    auto add = [&](std::string_view model, std::string_view rater, const std::string& term, const Measure& m) {
      rows.push_back({.condition = cond,
                      .model = std::string(model),
                      .rater = std::string(rater),
                      .term = term,
                      .measure = m.name,
                      .value = m.value,
                      .mcse = m.mcse,
                      .successes = m.successes,
                      .trials = m.trials});
    };

    for (const Fit& fit : fits_of(s.analysis)) {
      if (!have.count(fit_column(fit, FitField::Converged))) continue;
      const auto converged = flags(fit_column(fit, FitField::Converged));
      const auto singular = flags(fit_column(fit, FitField::Singular));
      // The fits the estimate measures use: converged ones, and non-singular too when asked.
      std::vector<std::uint8_t> used = converged;
      if (s.analysis.exclude_singular)
        for (std::size_t i = 0; i < used.size(); ++i) used[i] = used[i] && !singular[i];
      const double nonconverged = static_cast<double>(std::count(converged.begin(), converged.end(), 0));
      for (const auto& term : model_terms(fit, s)) {
        auto values = [&](CoefficientField field) { return finished(coefficient_column(fit, term, field)); };
        CoefficientSample sample{values(CoefficientField::Estimate),
                                 values(CoefficientField::Se),
                                 values(CoefficientField::CiLow),
                                 values(CoefficientField::CiHigh),
                                 values(CoefficientField::P),
                                 used,
                                 singular};
        const double theta = true_value(s, fit.model, term);  // the kind's (model_kinds())
        for (Measure m : score_coefficient(sample, theta, s.run.alpha)) {
          if (m.name == "nonconverged") m.value = nonconverged;  // a count of fits, whatever is used
          // Without a true value only the descriptive measures and the rejection rate are defined.
          if (std::isnan(theta) &&
              (m.name == "bias" || m.name == "rel_bias" || m.name == "rmse" || m.name == "coverage"))
            m.value = m.mcse = m.successes = m.trials = kNaN;
          add(name(fit.model), name(fit.rater), term, m);
        }
      }
    }

    // Detection measures: means over replications of per-replication figures.
    // Each detection measure is followed by its n, "<measure>_n": the replications where it is
    // defined (sensitivity needs true events, PPV detections, ...), which differ by measure.
    auto add_detection = [&](RaterId r, std::string_view term, std::string_view m, const std::vector<double>& values) {
      add("detection", name(r), std::string(term), mean_measure(std::string(m), values));
      const auto n = std::count_if(values.begin(), values.end(), [](double x) { return !std::isnan(x); });
      add("detection", name(r), std::string(term), Measure{std::string(m) + "_n", static_cast<double>(n), kNaN});
    };
    for (RaterId r : kObservers) {
      for (const DetectedEvent event : {DetectedEvent::Rupture, DetectedEvent::Repair}) {
        for (const DetectionMeasure* m : summarised_measures(event))
          add_detection(r, name(event), m->measure, finished(detection_column(r, m->field)));
        // Agreement between the raters, with each rater's rupture measures.
        if (event == DetectedEvent::Rupture) add_detection(r, name(event), "kappa", finished(kappa_column()));
      }
      if (have.count(roc_auc_column(r))) {
        add("roc", name(r), "rupture", mean_measure("auc", finished(roc_auc_column(r))));
        for (std::size_t k = 0; k < s.detection.roc_thresholds.size(); ++k) {
          const std::string term = "threshold=" + csv_number(s.detection.roc_thresholds[k], kSummaryDigits);
          add("roc", name(r), term, mean_measure("sensitivity", finished(roc_column(r, k, RocField::Sensitivity))));
          add("roc", name(r), term, mean_measure("specificity", finished(roc_column(r, k, RocField::Specificity))));
        }
      }
    }
  }
  return rows;
}

void write_summary_csv(const ScenarioFile& file, const std::vector<SummaryRow>& rows, std::ostream& out) {
  out << "condition";
  for (const auto& a : file.sweep) out << ',' << csv_field(a.key);
  out << ",model,rater,term,measure,value,mcse\n";
  for (const auto& r : rows) {
    out << r.condition;
    const Condition& c = file.conditions[static_cast<std::size_t>(r.condition - 1)];
    for (const auto& v : c.swept_values) out << ',' << csv_field(plain_value(v));
    out << ',' << csv_field(r.model) << ',' << csv_field(r.rater) << ',' << csv_field(r.term) << ','
        << csv_field(r.measure) << ',' << csv_number(r.value, kSummaryDigits) << ','
        << csv_number(r.mcse, kSummaryDigits) << '\n';
  }
}

void print_summary(const ScenarioFile& file, const std::vector<SummaryRow>& rows, std::ostream& out) {
  auto fmt = [](double v, double se, int d) {
    if (std::isnan(v) || std::isnan(se)) return format_fixed(v, d);
    return format_fixed(v, d) + " (" + format_fixed(se, d) + ")";
  };
  for (const auto& cond : file.conditions) {
    out << "\nCondition " << cond.index;
    for (std::size_t a = 0; a < file.sweep.size(); ++a)
      out << (a ? ", " : ": ") << file.sweep[a].key << " = " << plain_value(cond.swept_values[a]);
    out << "\n";
    auto find = [&](const std::string& model, const std::string& rater, const std::string& term,
                    const std::string& measure) -> const SummaryRow* {
      for (const auto& r : rows)
        if (r.condition == cond.index && r.model == model && r.rater == rater && r.term == term && r.measure == measure)
          return &r;
      return nullptr;
    };
    char line[400];
    std::snprintf(line, sizeof line, "  %-8s %-10s %-8s %6s %8s %17s %17s %15s %17s %17s %6s\n", "model", "rater",
                  "term", "true", "n", "mean", "bias", "emp_se", "coverage", "power", "fails");
    out << line;
    std::vector<std::pair<std::string, std::string>> fits;
    for (const auto& r : rows)
      if (r.condition == cond.index && r.measure == "true_value" &&
          std::find(fits.begin(), fits.end(), std::make_pair(r.model, r.rater)) == fits.end())
        fits.emplace_back(r.model, r.rater);
    for (const auto& [model, rater] : fits)
      for (const std::string term : {"rupture", "repair", "growth"}) {
        const SummaryRow* tv = find(model, rater, term, "true_value");
        if (!tv) continue;
        // Named captures: clang 14 (the fuzzing build) cannot capture structured bindings.
        auto v = [&, &model = model, &rater = rater](const char* m) { return find(model, rater, term, m); };
        auto show = [&](const char* m, int d) {
          const SummaryRow* r = v(m);
          return r ? fmt(r->value, r->mcse, d) : std::string(kMissingText);
        };
        // Failures: fits that did not converge and converged fits without this coefficient.
        const SummaryRow* nc = v("nonconverged");
        const SummaryRow* ne = v("not_estimable");
        const double fails = nc ? nc->value + (ne ? ne->value : 0.0) : NAN;
        std::snprintf(line, sizeof line, "  %-8s %-10s %-8s %6.2f %8.0f %17s %17s %15s %17s %17s %6.0f\n",
                      model.c_str(), rater.c_str(), term.c_str(), tv->value, v("n") ? v("n")->value : NAN,
                      show("mean", 3).c_str(), show("bias", 3).c_str(), show("emp_se", 3).c_str(),
                      show("coverage", 3).c_str(), show("power", 3).c_str(), fails);
        out << line;
      }
    std::snprintf(line, sizeof line, "  %-10s %17s %17s %17s %17s %17s %17s\n", "detection", "prevalence",
                  "true_prevalence", "sensitivity", "specificity", "ppv", "kappa");
    out << line;
    for (RaterId observer : kObservers) {
      const char* rater = rater_name(observer);
      auto show = [&](const char* m) {
        const SummaryRow* r = find("detection", rater, "rupture", m);
        return r ? fmt(r->value, r->mcse, 3) : std::string(kMissingText);
      };
      std::snprintf(line, sizeof line, "  %-10s %17s %17s %17s %17s %17s %17s\n", rater, show("prevalence").c_str(),
                    show("true_prevalence").c_str(), show("sensitivity").c_str(), show("specificity").c_str(),
                    show("ppv").c_str(), show("kappa").c_str());
      out << line;
    }
  }
  out << "(Monte Carlo standard errors in parentheses; bias, coverage and power exclude non-converged fits; fails "
         "counts the non-converged fits and the converged ones without the coefficient.)\n";
}

}  // namespace collabzium
