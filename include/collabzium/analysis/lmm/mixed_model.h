#pragma once
// Gaussian linear mixed models fitted as lme4 does (Bates, Mächler, Bolker & Walker 2015, JSS 67(1)),
// with lmerTest's Satterthwaite degrees of freedom (Kuznetsova, Brockhoff & Christensen 2017, JSS
// 82(13)). MODEL.md section 4.
//
//   y = X β + Z b + ε,   ε ~ N(0, σ² I),   b = Λ_θ u,   u ~ N(0, σ² I)
//
// with random effects per patient (an intercept, optionally a slope on a covariate, correlated) and
// optionally a therapist intercept (patients nested in therapists). The (RE)ML criterion is
// profiled over β and σ; the optimizer sees only f(θ): Brent (plus a Newton polish on the analytic
// derivative) for the random intercept alone, NLopt's BOBYQA otherwise, diagonal θ ≥ 0.
//
// Cost: a random-intercept criterion evaluation is O(K p²) with K the number of distinct patient
// sizes (per-patient sufficient statistics are pooled by size); the general case is O(G p²) with
// the nested / slope structure handled block by block. No n×n matrix is ever formed.
#include <Eigen/Dense>

#include <limits>
#include <string>
#include <vector>

#include "collabzium/analysis/lmm/df_method.h"

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
  int max_evaluations = 20000;  // cap on criterion evaluations of the optimizer
};

struct Coefficient {
  std::string name;
  double estimate, se, df, t, p, ci_low, ci_high;
};

struct LmmFit {
  std::vector<Coefficient> coefficients;  // one per column of X, in order; a dropped (aliased) column keeps its row with NaN values
  std::vector<std::string> dropped;       // names of columns dropped as rank-deficient (pivoted QR as lme4, later columns dropped)
  double sigma2 = std::numeric_limits<double>::quiet_NaN();          // residual variance
  double tau2 = std::numeric_limits<double>::quiet_NaN();            // patient intercept variance
  double tau2_therapist = std::numeric_limits<double>::quiet_NaN();  // therapist intercept variance (NaN if no parent)
  double slope_var = std::numeric_limits<double>::quiet_NaN();       // random slope variance (NaN if no slope)
  double slope_corr = std::numeric_limits<double>::quiet_NaN();      // intercept-slope correlation (NaN if no slope)
  double criterion = std::numeric_limits<double>::quiet_NaN();       // REML criterion or -2 logLik (ML), as lme4's REMLcrit()/deviance()
  bool converged = false, singular = false;
  int iterations = 0;   // objective evaluations
  std::string message;  // diagnostics, empty when all is well

  // Additions beyond the contract above.
  std::vector<double> theta;  // relative covariance parameters in lme4's order: patient block (θ11 [, θ21, θ22]), then therapist
  Eigen::MatrixXd vcov;       // p x p Var(β̂) (NaN rows/columns for dropped columns)
  int nobs = 0;               // n
  int rank = 0;               // rank of X (columns kept)
  int groups = 0;             // patients with at least one row
  int parents = 0;            // therapists (0 if none)
};

// Never throws on numerical trouble (singular fit, boundary, non-convergence, too few groups,
// non-finite data): it is recorded in converged / singular / message with NaN where there is no
// number. Throws std::invalid_argument on inconsistent shapes or negative indices.
LmmFit fit_lmm(const LmmProblem& problem, const LmmOptions& options = {});

}  // namespace collabzium
