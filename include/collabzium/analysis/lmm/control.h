#pragma once
// Every tolerance and limit of the mixed-model fitter, named in one place (the counterpart of
// lme4's lmerControl and of the settings half of MixedModels.jl's OptSummary). LmmOptions holds
// one and every LmmFit records the one it was fitted with, so a stored fit says how it was made.
// The defaults are the values the fitter has always used; docs/lmm.md tabulates them with their
// lme4 / MixedModels counterparts.

namespace collabzium {

struct LmmControl {
  // ---- fixed effects
  // A column of X is dropped as aliased when its norm after removing the kept columns to its left
  // falls below this fraction of its own norm (lme4's check.rankX via chkRank.drop.cols, tol 1e-7).
  double rank_tolerance = 1e-7;
  // The fit stops with "zero residual variance" when the OLS residual's norm is at most this
  // fraction of ‖y‖: the profiled criterion would take the log of (numerically) zero.
  double perfect_fit_tolerance = 1e-12;

  // ---- random intercept alone: geometric grid, then Brent, then Newton
  // θ is first scanned at 0 and 2^e for e = grid_min_exponent .. grid_max_exponent (θ is a ratio of
  // standard deviations, so 2^-6 .. 2^10 covers every plausible τ/σ); the neighbours of the best
  // grid point bracket Brent. When the best point is the last one, the upper end of the bracket is
  // that point times grid_overflow_factor (and the fit notes that τ² is very large against σ²).
  int grid_min_exponent = -6;
  int grid_max_exponent = 10;
  double grid_overflow_factor = 1024.0;
  // Brent's search stops when θ is known to this many bits or after brent_max_iterations
  // iterations (which leaves the fit marked not converged). boost's brent_find_minima caps the bits
  // at half the mantissa (26): a minimum is located only to about sqrt(ε) from function values, so
  // 53 asks for the most Brent can give and the Newton polish below does the rest.
  int brent_bits = 53;
  int brent_max_iterations = 200;
  // Newton steps on the analytic derivative polish Brent's θ to the last digits (Brent's
  // precision is about sqrt(ε) in θ because f is flat at its minimum). At most newton_max_steps;
  // a step is taken only inside the bracket and when it lowers |f'|; the polish stops once a step
  // is at most newton_step_tolerance · θ (further steps only move rounding).
  int newton_max_steps = 6;
  double newton_step_tolerance = 1e-15;

  // ---- general case (slope and/or therapist): NLopt's BOBYQA
  // Stopping rules of each BOBYQA run: relative change of θ (xtol_rel) and absolute change of the
  // criterion (ftol_abs). lme4's nloptwrap uses xtol_abs 1e-6 / ftol_abs 1e-6; these are tighter
  // so that θ matches lme4's optimum to the digits the fixtures check.
  double bobyqa_xtol_rel = 1e-10;
  double bobyqa_ftol_abs = 1e-12;
  // Criterion evaluations the optimizer may spend in all (lme4: optCtrl maxfeval; MixedModels:
  // maxfeval). Reaching it leaves the fit not converged with a message naming the limit.
  int max_evaluations = 20000;
  // BOBYQA runs: the first from lme4's start (diagonal 1, off-diagonal 0) with NLopt's default
  // initial step; each further run restarts from the best point with a step of
  // max(restart_step_min, restart_step_relative · |θ_i|), which gets BOBYQA out of a
  // prematurely shrunk trust region (lme4 restarts the same way when the optimum is on a boundary).
  int bobyqa_runs = 2;
  double restart_step_min = 1e-3;
  double restart_step_relative = 0.05;
  // A diagonal θ_i within boundary_snap_tolerance of its bound 0 is set to exactly 0 when that
  // raises the criterion by at most boundary_snap_criterion_slack: BOBYQA approaches a boundary
  // optimum only asymptotically, lme4's bounded optimizers stop on it.
  double boundary_snap_tolerance = 1e-6;
  double boundary_snap_criterion_slack = 1e-10;

  // ---- diagnostics at the optimum
  // The fit is singular when a diagonal θ_i (a relative standard deviation) is below this
  // (lme4::isSingular's default tol 1e-4).
  double singular_tolerance = 1e-4;
  // The scaled gradient H⁻¹∇f of the profiled criterion over the components off the boundary must
  // be below this, else "possible non-convergence" (lme4's check.conv.grad, tol 2e-3).
  double gradient_tolerance = 2e-3;

  // ---- Satterthwaite degrees of freedom
  // Eigenvalues of the deviance Hessian in (θ, σ) at or below this count as zero in its
  // pseudo-inverse (lmerTest's as_lmerModLT tol 1e-8).
  double hessian_eigen_tolerance = 1e-8;
  // Numerical derivatives of the general case: central differences with step h·s_i,
  // s_i = richardson_step_relative · max(|θ_i|, richardson_step_floor), h = 1, 1/2, 1/4, ...
  // extrapolated over richardson_levels levels, as numDeriv (lmerTest's derivatives) does with
  // r = 4, v = 2. The first step is far larger than numDeriv's d = 1e-4: the extrapolation removes
  // the h² error terms, and a large step keeps the rounding error of the differences small.
  double richardson_step_relative = 0.1;
  double richardson_step_floor = 0.1;
  int richardson_levels = 4;

  bool operator==(const LmmControl&) const = default;
};

}  // namespace collabzium
