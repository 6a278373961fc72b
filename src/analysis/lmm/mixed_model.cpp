// Linear mixed models as lme4 fits them, with lmerTest's Satterthwaite df. See mixed_model.h and
// docs/lmm.md. fit_lmm only orchestrates the pieces:
//   design.h     the model frame: shapes, aliased columns, group numbering, working response
//   criterion.h  the profiled (RE)ML criterion f(θ) and its derivative algebra
//   optimizer.h  grid + Brent + Newton (random intercept alone) or BOBYQA, boundary snapping
//   inference.h  Satterthwaite df, numerical derivatives, convergence check, t / p / CI
#include "collabzium/analysis/lmm/mixed_model.h"

#include <cmath>
#include <limits>

#include "collabzium/analysis/lmm/criterion.h"
#include "collabzium/numeric.h"
#include "design.h"
#include "inference.h"
#include "optimizer.h"

namespace collabzium {
namespace {

using namespace lmm;

LmmFit empty_fit(const LmmProblem& pr, const LmmControl& control) {
  const Eigen::Index pall = pr.X.cols();
  LmmFit fit;
  fit.control = control;
  fit.nobs = static_cast<int>(pr.X.rows());
  fit.coefficients.resize(pall);
  for (Eigen::Index j = 0; j < pall; ++j) fit.coefficients[j] = {pr.names[j], kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  fit.vcov = MatrixXd::Constant(pall, pall, kNaN);
  return fit;
}

// Eigen's allFinite() tests element by element with an early exit, a branch per element; x · 0 is
// NaN exactly when x is infinite or NaN, so four independent sums of x · 0 answer the same question
// without the branches (nothing here reaches a result: it only decides whether to fit).
bool all_finite(const double* x, Eigen::Index n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  Eigen::Index i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += x[i] * 0.0;
    a1 += x[i + 1] * 0.0;
    a2 += x[i + 2] * 0.0;
    a3 += x[i + 3] * 0.0;
  }
  for (; i < n; ++i) a0 += x[i] * 0.0;
  return a0 + a1 + a2 + a3 == 0.0;
}

// Records why a variance is not identifiable; false if one is not.
bool identifiable(const Grouping& gr, Eigen::Index n, bool has_parent, std::string& message) {
  bool ok = true;
  if (gr.G < 2) {
    add_message(message, "fewer than 2 patients: the patient variance is not identifiable");
    ok = false;
  }
  if (gr.G == n) {
    add_message(
        message,
        "every patient has a single row: the patient variance is not identifiable from the residual variance (lme4 "
        "refuses); fitted with tau2 = 0, sigma2 is the total variance, Satterthwaite df replaced by the residual df");
    ok = false;
  }
  if (has_parent && gr.H < 2) {
    add_message(message, "fewer than 2 therapists: the therapist variance is not identifiable");
    ok = false;
  }
  return ok;
}

// β̂, Var(β̂) and the criterion at θ̂; false (with a message) on numerical failure.
bool optimum_at(const ProfiledCriterion& f, const std::vector<double>& theta, Optimum& at, std::string& message) {
  const int p = f.p();
  MatrixXd M;
  double ld;
  if (!f.M_at(theta.data(), M, ld)) {
    add_message(message, "numerical failure at the optimum");
    return false;
  }
  Eigen::LLT<MatrixXd> llt;
  at.crit = criterion_from(M, ld, p, f.n(), f.reml(), llt);
  if (!at.crit.ok) {
    add_message(message, "criterion not finite at the optimum (perfect fit or numerical failure)");
    return false;
  }
  at.theta = theta;
  Eigen::LLT<MatrixXd> lltA(M.topLeftCorner(p, p));
  at.Ainv = lltA.solve(MatrixXd::Identity(p, p));
  at.beta_e = lltA.solve(M.col(p).head(p));
  at.sigma2 = at.crit.r2 / f.m();
  at.sigma = std::sqrt(at.sigma2);
  at.V = at.sigma2 * at.Ainv;
  return true;
}

// Variances from θ̂ (relative standard deviations / Cholesky factors) and σ̂², and lme4's
// isSingular: a diagonal θ below LmmControl::singular_tolerance.
void variance_components(const std::vector<double>& theta, double sigma2, bool has_slope, bool has_parent,
                         bool single_rows, double singular_tolerance, LmmFit& fit) {
  int off = 0;
  if (has_slope) {
    const double a = theta[0], b = theta[1], cc = theta[2];
    fit.tau2 = sigma2 * a * a;
    fit.slope_var = sigma2 * (b * b + cc * cc);
    const double cov = sigma2 * a * b;
    fit.slope_corr = cov / std::sqrt(fit.tau2 * fit.slope_var);
    fit.singular = std::fabs(a) < singular_tolerance || std::fabs(cc) < singular_tolerance;
    off = 3;
  } else {
    fit.tau2 = sigma2 * theta[0] * theta[0];
    fit.singular = std::fabs(theta[0]) < singular_tolerance;
    off = 1;
  }
  if (has_parent) {
    fit.tau2_therapist = sigma2 * theta[off] * theta[off];
    fit.singular = fit.singular || std::fabs(theta[off]) < singular_tolerance;
  }
  if (single_rows) {
    fit.tau2 = kNaN;
    fit.singular = false;
  }
}

}  // namespace

LmmFit fit_lmm(const LmmProblem& pr, const LmmOptions& opt) {
  validate(pr);
  validate(opt.control);
  const LmmControl& control = opt.control;
  LmmFit fit = empty_fit(pr, control);
  const Eigen::Index n = pr.X.rows();
  const bool has_slope = pr.slope.size() != 0, has_parent = !pr.parent.empty();
  if (n == 0) {
    fit.message = "no observations";
    return fit;
  }
  if (!all_finite(pr.X.data(), pr.X.size()) || !all_finite(pr.y.data(), pr.y.size()) ||
      (has_slope && !all_finite(pr.slope.data(), pr.slope.size()))) {
    fit.message = "non-finite values in X, y or slope (drop incomplete rows before fitting)";
    return fit;
  }

  const FixedEffects fe = fixed_effects(pr, control.rank_tolerance);
  fit.dropped = fe.dropped;
  if (!fit.dropped.empty()) {
    std::string d;
    for (auto& s : fit.dropped) d += (d.empty() ? "" : ", ") + s;
    add_message(fit.message, "fixed-effect model matrix is rank deficient so dropping " +
                                 std::to_string(fit.dropped.size()) + " column(s): " + d);
  }
  const int p = static_cast<int>(fe.keep.size());
  fit.rank = p;
  const Grouping gr = grouping(pr);
  fit.groups = gr.G;
  fit.parents = gr.H;
  const double nd = static_cast<double>(n);
  if (!((opt.reml ? nd - p : nd) > 0.0)) {
    add_message(fit.message,
                "not enough observations (n = " + std::to_string(n) + ", rank(X) = " + std::to_string(p) + ")");
    return fit;
  }
  const bool estimable = identifiable(gr, n, has_parent, fit.message);

  VectorXd beta_ols, e;
  working_response(pr, fe, beta_ols, e);
  if (!(e.norm() > control.perfect_fit_tolerance * pr.y.norm())) {
    add_message(fit.message, "y is an exact linear function of X: zero residual variance");
    return fit;
  }
  MatrixXd W(n, p + 1);
  W.leftCols(p) = fe.X;
  W.col(p) = e;

  const bool scalar = !has_slope && !has_parent && !opt.general_path;
  ProfiledCriterion f(W, gr.group, gr.G, has_slope ? &pr.slope : nullptr, has_parent ? &gr.parent : nullptr, gr.H,
                      opt.reml, scalar);
  const OptimizerOutcome o = gr.G == n ? not_estimable(f.ntheta())
                             : scalar  ? minimize_scalar(f, control)
                                       : minimize_bobyqa(f, control);
  for (const auto& m : o.messages) add_message(fit.message, m);
  fit.iterations = f.evaluations();
  fit.theta = o.theta;
  fit.optimizer = o.summary;

  Optimum at;
  if (!optimum_at(f, o.theta, at, fit.message)) return fit;
  fit.criterion = at.crit.f;
  fit.optimizer.fmin = at.crit.f;
  fit.sigma2 = at.sigma2;
  variance_components(o.theta, at.sigma2, has_slope, has_parent, gr.G == n, control.singular_tolerance, fit);

  std::vector<double> df(p, kNaN);
  if (opt.df == DfMethod::Residual || (opt.df == DfMethod::Satterthwaite && gr.G == n)) df.assign(p, nd - p);
  else if (opt.df == DfMethod::Z) df.assign(p, std::numeric_limits<double>::infinity());
  else if (p > 0) df = satterthwaite_df(f, at, estimable, control, fit.message, fit.optimizer);

  fit.converged = o.converged && estimable;
  const VectorXd beta = beta_ols + at.beta_e;
  for (int j = 0; j < p; ++j) {
    Coefficient& co = fit.coefficients[fe.keep[j]];
    co.estimate = beta(j);
    co.se = std::sqrt(at.V(j, j));
    fill_inference(co, df[j], opt.alpha);
    for (int k = 0; k < p; ++k) fit.vcov(fe.keep[j], fe.keep[k]) = at.V(j, k);
  }
  return fit;
}

ModelFit to_model_fit(LmmFit&& fit) {
  ModelFit m;
  m.coefficients = std::move(fit.coefficients);
  m.not_estimable = std::move(fit.dropped);
  m.sigma2 = fit.sigma2;
  m.tau2 = fit.tau2;
  m.criterion = fit.criterion;
  m.converged = fit.converged;
  m.singular = fit.singular;
  m.iterations = fit.iterations;
  m.message = std::move(fit.message);
  if (!std::isnan(fit.tau2_therapist)) m.variances.push_back({"tau2_therapist", fit.tau2_therapist});
  if (!std::isnan(fit.slope_var)) {
    m.variances.push_back({"slope_var", fit.slope_var});
    m.variances.push_back({"slope_corr", fit.slope_corr});
  }
  return m;
}

}  // namespace collabzium
