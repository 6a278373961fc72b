#pragma once
// Inference at the optimum θ̂: derivatives of the profiled criterion (analytic for the random
// intercept alone, Richardson-extrapolated central differences otherwise), lmerTest's
// Satterthwaite degrees of freedom, lme4's scaled-gradient convergence check, and t / p / CI of
// each coefficient. Private to src/analysis/lmm/.
#include <string>
#include <vector>

#include "collabzium/analysis/lmm/control.h"
#include "collabzium/analysis/lmm/criterion.h"
#include "collabzium/analysis/lmm/mixed_model.h"

namespace collabzium::lmm {

// Appends a diagnostic to a fit's message, "; "-separated.
void add_message(std::string& message, const std::string& what);

// The fit at θ̂ that inference starts from.
struct Optimum {
  std::vector<double> theta;
  Crit crit;        // the profiled criterion and its pieces at θ̂
  MatrixXd Ainv;    // A⁻¹(θ̂)
  VectorXd beta_e;  // β̂ of the working response (shift from OLS)
  double sigma2 = kNaN, sigma = kNaN;
  MatrixXd V;  // σ² A⁻¹ = Var(β̂)
};

// Satterthwaite df for each of the p coefficients (NaN where undefined), with diagnostics added to
// `message`; records the convergence check in summary.max_abs_gradient / scaled_gradient (which
// runs only when `identifiable`).
std::vector<double> satterthwaite_df(const ProfiledCriterion& f, const Optimum& at, bool identifiable,
                                     const LmmControl& control, std::string& message, LmmOptSummary& summary);

// t, p and the (1 − alpha) confidence interval from estimate, se and df (df = inf: normal).
void fill_inference(Coefficient& c, double df, double alpha);

}  // namespace collabzium::lmm
