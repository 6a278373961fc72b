#pragma once
// The profiled (RE)ML criterion f(θ) of a linear mixed model: what lme4 calls the deviance function
// and MixedModels.jl `objective!` (public, like lme4's devFunOnly = TRUE: tests and tools may
// evaluate f(θ) directly).
//
// Notation (Bates et al. 2015, section 3): the spherical random effects u have Var(u) = σ² I and
// b = Λ_θ u. For given θ, the penalized least-squares problem
//     min_{β,u} ‖y − Xβ − ZΛu‖² + ‖u‖²
// is solved through the Cholesky factor L of Λ'Z'ZΛ + I and the Schur complement
//     M(θ) = [X y]'[X y] − R'R,   R = L⁻¹ Λ'Z'[X y],
// a (p+1)×(p+1) matrix whose leading p×p block is A = RX'RX (so Var(β̂) = σ² A⁻¹), whose Schur
// complement of A is r²(θ), the minimal penalized residual sum of squares, and whose last column
// gives β̂ = A⁻¹ b. The profiled criteria are
//     ML:   log|L|² + n (1 + log(2π r²/n))
//     REML: log|L|² + log|A| + (n−p) (1 + log(2π r²/(n−p))).
// Nothing of size n×n is formed: for a patient random intercept alone Λ'Z'ZΛ + I is diagonal and
// everything reduces to per-patient sums pooled over patients of the same size; with a nested
// therapist intercept the matrix is block-diagonal over therapists with an "arrow" shape (patient
// blocks plus one border row), and a random slope makes the patient blocks 2×2.
//
// The "y" column of [X y] is the OLS residual of y (see mixed_model.cpp), so β̂ here is the shift
// from the OLS coefficients.
#include <Eigen/Cholesky>
#include <Eigen/Dense>

#include <vector>

#include "collabzium/numeric.h"

namespace collabzium::lmm {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// What the optimizers see where the criterion is undefined (a failed factorization, r² = 0):
// larger than any finite criterion value, yet finite so that Brent and BOBYQA keep going.
inline constexpr double kFailedCriterion = 1e300;

// The profiled criterion and its pieces, from M(θ) and log|L|².
struct Crit {
  bool ok = false;
  double ld = kNaN, logdetA = kNaN, r2 = kNaN, f = kNaN;
};

// `llt` is a workspace: computing into one that already has the size allocates nothing, which
// matters because the optimizer evaluates the criterion dozens of times per fit.
Crit criterion_from(const MatrixXd& M, double ld, int p, double n, bool reml, Eigen::LLT<MatrixXd>& llt);

// Patient random intercept alone: Λ = θ I, L = diag(sqrt(1 + θ² n_g)), and
//   M(θ) = W'W − Σ_g θ²/(1 + θ² n_g) w_g w_g',   w_g = Σ_{rows of g} [x_i; e_i],
// pooled over the distinct patient sizes: M(θ) = W'W − Σ_k θ²/(1 + θ² k) S_k.
struct InterceptModel {
  MatrixXd WtW;
  std::vector<double> size, count;
  std::vector<MatrixXd> S;

  void build(const MatrixXd& W, const std::vector<int>& g, int G);
  void M_at(double th, MatrixXd& M, double& ld) const;
  // First and second derivatives in θ of M(θ) and of log|L|².
  void derivs(double th, MatrixXd& M1, MatrixXd& M2, double& ld1, double& ld2) const;
};

// General case: per patient k = 1 (intercept) or 2 (intercept, slope) random effects with a
// k×k lower-triangular Λ_p, optionally a therapist intercept θ_t shared by the therapist's patients.
// θ = (Λ_p(0,0) [, Λ_p(1,0), Λ_p(1,1)] [, θ_t]), lme4's order (more levels first).
struct BlockedModel {
  int p1 = 0, k = 1;
  bool therapist = false;
  MatrixXd WtW;
  std::vector<Eigen::Matrix2d> ZtZ;       // per patient (top-left k×k used)
  MatrixXd ZtW;                           // k·G × p1, rows k·g .. k·g+k−1
  std::vector<std::vector<int>> members;  // patients per therapist (one pseudo-therapist if none)
  std::vector<double> nh;                 // rows per therapist
  MatrixXd sumW;                          // H × p1

  int ntheta() const { return (k == 1 ? 1 : 3) + (therapist ? 1 : 0); }
  bool is_diagonal(int i) const { return !(k == 2 && i == 1); }
  void build(const MatrixXd& W, const std::vector<int>& g, int G, const VectorXd* slope, const std::vector<int>* parent,
             int H);
  bool M_at(const double* th, MatrixXd& M, double& ld) const;
};

// The derivative algebra of the profiled criterion in one scalar θ, shared by the Newton polish
// (optimizer) and the Satterthwaite df (inference). With A = M[0:p, 0:p], β̂ = A⁻¹ M[0:p, p] and
// ê = [−β̂; 1], the envelope theorem gives
//   (r²)'  = ê' M' ê,   (r²)'' = ê' M'' ê − 2 v' A⁻¹ v  (v = (M' ê)[0:p]),
//   (log|A|)' = tr(A⁻¹A'),   (log|A|)'' = tr(A⁻¹A'') − tr((A⁻¹A')²).
// `solve_A(x)` returns A⁻¹x as an expression: the Newton step solves with the Cholesky factor, the
// df multiplies by the A⁻¹ it has anyway; either way the operations are exactly those each site
// used when it had its own copy of this algebra.
struct ProfileDerivatives {
  double r2_1 = kNaN, r2_2 = kNaN;            // (r²)', (r²)''
  double logdetA_1 = kNaN, logdetA_2 = kNaN;  // (log|A|)', (log|A|)''
  MatrixXd Ainv_A1;                           // A⁻¹A'
};

template <class SolveA>
ProfileDerivatives profile_derivatives(const MatrixXd& M1, const MatrixXd& M2, const VectorXd& beta, SolveA&& solve_A) {
  const Eigen::Index p = beta.size();
  VectorXd et(p + 1);
  et.head(p) = -beta;
  et(p) = 1.0;
  const VectorXd M1e = M1 * et;
  const VectorXd v = M1e.head(p);
  ProfileDerivatives d;
  d.r2_1 = et.dot(M1e);
  d.r2_2 = et.dot(M2 * et) - 2.0 * v.dot(solve_A(v));
  d.Ainv_A1 = solve_A(M1.topLeftCorner(p, p));
  d.logdetA_1 = d.Ainv_A1.trace();
  d.logdetA_2 = solve_A(M2.topLeftCorner(p, p)).trace() - (d.Ainv_A1 * d.Ainv_A1).trace();
  return d;
}

// f(θ) for one fit: the pooled random-intercept evaluator or the blocked one, with the workspaces
// of the criterion evaluations and a count of them (LmmFit::iterations).
class ProfiledCriterion {
 public:
  // `W` = [X e]; `scalar` selects the pooled random-intercept evaluator (then slope and parent
  // must be null).
  ProfiledCriterion(const MatrixXd& W, const std::vector<int>& g, int G, const VectorXd* slope,
                    const std::vector<int>* parent, int H, bool reml, bool scalar);

  int ntheta() const { return scalar_ ? 1 : blocked_.ntheta(); }
  bool scalar() const { return scalar_; }
  // θ_i is a diagonal element of a relative Cholesky factor, bounded below by 0
  bool bounded(int i) const { return scalar_ || blocked_.is_diagonal(i); }
  int p() const { return p_; }
  double n() const { return n_; }
  bool reml() const { return reml_; }
  double m() const { return reml_ ? n_ - p_ : n_; }  // the "n" of the profiled σ

  bool M_at(const double* th, MatrixXd& M, double& ld) const;
  // f(θ), kFailedCriterion where undefined; counted in evaluations().
  double objective(const double* th);
  int evaluations() const { return evaluations_; }
  // f'(θ) and f''(θ) of the scalar (random-intercept) criterion, for the Newton polish; not counted.
  bool newton_derivatives(double th, double& d1, double& d2);
  const InterceptModel& intercept() const { return intercept_; }

 private:
  bool scalar_;
  bool reml_;
  int p_;
  double n_;
  int evaluations_ = 0;
  InterceptModel intercept_;
  BlockedModel blocked_;
  MatrixXd M_, M1_, M2_;  // workspaces reused by every evaluation
  Eigen::LLT<MatrixXd> llt_, lltA_;
};

}  // namespace collabzium::lmm
