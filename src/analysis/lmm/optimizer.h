#pragma once
// Minimizing the profiled criterion f(θ) (criterion.h) over θ with the diagonal of each relative
// Cholesky factor bounded below by 0. The optimizers see f only through ProfiledCriterion:
// objective(θ), and for the scalar case its analytic first and second derivative. Private to
// src/analysis/lmm/.
#include <string>
#include <vector>

#include "collabzium/analysis/lmm/control.h"
#include "collabzium/analysis/lmm/criterion.h"
#include "collabzium/analysis/lmm/mixed_model.h"

namespace collabzium::lmm {

struct OptimizerOutcome {
  std::vector<double> theta;
  bool converged = true;
  std::vector<std::string> messages;  // diagnostics, in the order they arose
  LmmOptSummary summary;              // everything but fmin and the gradient check (set at θ̂)
};

// Random intercept alone (f.scalar()): f on the geometric grid {0, 2^e}, Brent on the bracket
// around the best grid point, a Newton polish on the analytic derivative, then θ = 0 when the
// boundary is at least as good (lme4's bounded optimizer would stop exactly there).
OptimizerOutcome minimize_scalar(ProfiledCriterion& f, const LmmControl& control);

// General case: BOBYQA from lme4's start, restarted from its best point, then boundary snapping.
OptimizerOutcome minimize_bobyqa(ProfiledCriterion& f, const LmmControl& control);

// θ is not estimable (every patient has a single row: the criterion is flat along θ): θ = 0.
OptimizerOutcome not_estimable(int ntheta);

}  // namespace collabzium::lmm
