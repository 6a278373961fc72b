#pragma once
// What any analysis model reports, whatever fitted it (the REML mixed-model fitter, the DSEM
// sampler, a test): its coefficients and its diagnostics, by name. The record, the report and the
// summary read fits only through this, so a new model kind brings a fitter, not a fake LmmFit.
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace collabzium {

struct Coefficient {
  std::string name;
  // t: the test statistic (estimate / se; a z for df = "z" and for the sampled models).
  double estimate, se, df, t, p, ci_low, ci_high;
};

// A named number of a fit beyond the ones every model has, e.g. "rhat" or "tau2_therapist".
struct NamedValue {
  std::string name;
  double value;
};

struct ModelFit {
  // In the fit's column order; a term the fit could not estimate keeps its row with NaN values.
  std::vector<Coefficient> coefficients;
  // The terms that could not be estimated (columns dropped as rank-deficient, as lme4 drops them).
  std::vector<std::string> not_estimable;
  double sigma2 = std::numeric_limits<double>::quiet_NaN();     // residual variance
  double tau2 = std::numeric_limits<double>::quiet_NaN();       // patient intercept variance
  double criterion = std::numeric_limits<double>::quiet_NaN();  // REML criterion or -2 logLik; NaN if none
  bool converged = false;
  bool singular = false;  // a variance estimate on its boundary
  int iterations = 0;     // objective evaluations, or the kept draws of a sampler
  std::string message;    // diagnostics, empty when all is well
  // Further variance parameters, present only where the model has them ("tau2_therapist",
  // "slope_var", "slope_corr"), in the order the report prints them.
  std::vector<NamedValue> variances;
  // Convergence diagnostics of the kind (a sampler's "rhat", "ess"); those its model-kind entry
  // names (ModelKindInfo::record_diagnostics) are record columns.
  std::vector<NamedValue> diagnostics;

  // The value of a named variance or diagnostic, NaN when the fit has none of that name.
  double variance(std::string_view name) const { return find(variances, name); }
  double diagnostic(std::string_view name) const { return find(diagnostics, name); }

 private:
  static double find(const std::vector<NamedValue>& values, std::string_view name) {
    for (const auto& v : values)
      if (v.name == name) return v.value;
    return std::numeric_limits<double>::quiet_NaN();
  }
};

}  // namespace collabzium
