#pragma once
// Gaussian linear mixed models fitted as lme4 does (Bates, Mächler, Bolker & Walker 2015, JSS 67(1)),
// with lmerTest's Satterthwaite degrees of freedom (Kuznetsova, Brockhoff & Christensen 2017, JSS
// 82(13)). docs/model.md section 4.
//
//   y = X β + Z b + ε,   ε ~ N(0, σ² I),   b = Λ_θ u,   u ~ N(0, σ² I)
//
// with random effects per patient (an intercept, optionally a slope on a covariate, correlated) and
// optionally a therapist intercept (patients nested in therapists). The (RE)ML criterion is
// profiled over β and σ; the optimizer sees only f(θ): Brent (plus a Newton polish on the analytic
// derivative) for the random intercept alone, NLopt's BOBYQA otherwise, diagonal θ ≥ 0.
// docs/lmm.md describes the pieces (criterion, optimizer, inference) and LmmControl.
//
// Cost: a random-intercept criterion evaluation is O(K p²) with K the number of distinct patient
// sizes (per-patient sufficient statistics are pooled by size); the general case is O(G p²) with
// the nested / slope structure handled block by block. No n×n matrix is ever formed.
#include "collabzium/analysis/lmm/control.h"

#include <Eigen/Dense>

#include <limits>
#include <string>
#include <vector>

#include "collabzium/analysis/model_fit.h"
#include "collabzium/config/df_method.h"

namespace collabzium {

struct LmmProblem {
  Eigen::MatrixXd X;               // n x p fixed-effects design, intercept column included by the caller
  std::vector<std::string> names;  // p column names, e.g. "(Intercept)", "rupture"
  Eigen::VectorXd y;               // n responses (no NaN; callers drop incomplete rows)
  std::vector<int> group;          // n patient indices 0..G-1, rows need NOT be sorted
  std::vector<int> parent;         // empty, or G therapist indices 0..H-1 (patients nested in therapists)
  Eigen::VectorXd slope;           // empty, or n values of a covariate with a correlated patient random slope
};

struct LmmOptions {
  bool reml = true;
  DfMethod df = DfMethod::Satterthwaite;
  double alpha = 0.05;
  // Testing / diagnostics: use the general blocked evaluator, BOBYQA and numerical (Richardson)
  // derivatives even for a random intercept alone (normally: pooled statistics, Brent, analytic).
  bool general_path = false;
  LmmControl control;  // tolerances and limits (control.h); the fit records a copy
};

// What the optimizer did, recorded on the fit (MixedModels.jl's OptSummary, lme4's @optinfo).
struct LmmOptSummary {
  // "grid+Brent+Newton" (random intercept alone), "BOBYQA" (NLopt, general case) or "none" (every
  // patient has a single row: θ is not estimable and the fit is reported at θ = 0)
  std::string optimizer = "none";
  std::vector<double> initial;       // start: the best grid point (Brent) or lme4's start (BOBYQA)
  std::vector<double> lower_bounds;  // 0 on diagonal θ, -inf off the diagonal
  std::vector<double> final_theta;   // θ̂, the same as LmmFit::theta
  double fmin = std::numeric_limits<double>::quiet_NaN();  // profiled criterion at θ̂ (LmmFit::criterion)
  int evaluations = 0;                                     // criterion evaluations, the same as LmmFit::iterations
  int runs = 0;                                            // BOBYQA runs made (LmmControl::bobyqa_runs at most)
  int newton_steps = 0;                                    // Newton steps taken after Brent
  int snapped = 0;                                         // θ components set exactly onto the bound 0
  // Why the optimizer stopped: "BRENT_CONVERGED", "BRENT_MAX_ITERATIONS", NLopt's result of the last
  // BOBYQA run ("XTOL_REACHED", "FTOL_REACHED", "SUCCESS", "ROUNDOFF_LIMITED", "MAXEVAL_REACHED",
  // ...; "EXCEPTION" when NLopt threw), or "NOT_ESTIMABLE".
  std::string return_code;
  // Convergence check at θ̂ over the θ components off the boundary: max |∂f/∂θ_i| and the max of
  // |H⁻¹∇f| that is compared with LmmControl::gradient_tolerance. NaN when the check did not run
  // (df method other than Satterthwaite, no fixed effects, a model that is not identifiable, every
  // component on the boundary, or failed derivatives).
  double max_abs_gradient = std::numeric_limits<double>::quiet_NaN();
  double scaled_gradient = std::numeric_limits<double>::quiet_NaN();
};

struct LmmFit {
  std::vector<Coefficient>
      coefficients;  // one per column of X, in order; a dropped (aliased) column keeps its row with NaN values
  std::vector<std::string>
      dropped;  // names of columns dropped as rank-deficient (pivoted QR as lme4, later columns dropped)
  double sigma2 = std::numeric_limits<double>::quiet_NaN();          // residual variance
  double tau2 = std::numeric_limits<double>::quiet_NaN();            // patient intercept variance
  double tau2_therapist = std::numeric_limits<double>::quiet_NaN();  // therapist intercept variance (NaN if no parent)
  double slope_var = std::numeric_limits<double>::quiet_NaN();       // random slope variance (NaN if no slope)
  double slope_corr = std::numeric_limits<double>::quiet_NaN();      // intercept-slope correlation (NaN if no slope)
  double criterion =
      std::numeric_limits<double>::quiet_NaN();  // REML criterion or -2 logLik (ML), as lme4's REMLcrit()/deviance()
  bool converged = false, singular = false;
  int iterations = 0;   // objective evaluations
  std::string message;  // diagnostics, empty when all is well

  // Additions beyond the contract above.
  std::vector<double>
      theta;  // relative covariance parameters in lme4's order: patient block (θ11 [, θ21, θ22]), then therapist
  Eigen::MatrixXd vcov;     // p x p Var(β̂) (NaN rows/columns for dropped columns)
  int nobs = 0;             // n
  int rank = 0;             // rank of X (columns kept)
  int groups = 0;           // patients with at least one row
  int parents = 0;          // therapists (0 if none)
  LmmControl control;       // the tolerances and limits this fit was made with
  LmmOptSummary optimizer;  // what the optimizer did
};

// Never throws on numerical trouble (singular fit, boundary, non-convergence, too few groups,
// non-finite data): it is recorded in converged / singular / message with NaN where there is no
// number. Throws std::invalid_argument on inconsistent shapes or negative indices.
LmmFit fit_lmm(const LmmProblem& problem, const LmmOptions& options = {});

// The analysis's view of a fit (model_fit.h): coefficients, the common diagnostics, and the
// therapist and slope variances (when the model has them) as named variances. Moves from `fit`.
ModelFit to_model_fit(LmmFit&& fit);

}  // namespace collabzium
