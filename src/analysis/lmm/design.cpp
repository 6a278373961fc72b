// The model frame of a mixed-model fit. See design.h.
#include "design.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <stdexcept>

namespace collabzium::lmm {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// Columns kept by R's LINPACK QR (dqrdc2, as lme4 calls it): left to right, a column whose norm
// after removing the kept columns falls below tol times its original norm is dropped (a zero column
// always is).
std::vector<int> kept_columns(const MatrixXd& X, double tol) {
  const Eigen::Index n = X.rows();
  std::vector<int> keep;
  MatrixXd Q(n, X.cols());
  int r = 0;
  for (int j = 0; j < X.cols(); ++j) {
    VectorXd v = X.col(j);
    const double norm0 = v.norm();
    if (!(norm0 > 0.0)) continue;
    for (int pass = 0; pass < 2; ++pass)
      for (int i = 0; i < r; ++i) v -= Q.col(i).dot(v) * Q.col(i);
    const double nr = v.norm();
    if (!(nr >= tol * norm0)) continue;
    Q.col(r++) = v / nr;
    keep.push_back(j);
  }
  return keep;
}

// Relabels the used values of idx to 0..count−1 in order of first appearance of the value.
std::vector<int> compact(const std::vector<int>& idx, int& count) {
  int mx = -1;
  for (int v : idx) mx = std::max(mx, v);
  std::vector<int> map(static_cast<size_t>(mx + 1), -1);
  count = 0;
  std::vector<int> out(idx.size());
  for (size_t i = 0; i < idx.size(); ++i) {
    int& m = map[idx[i]];
    if (m < 0) m = count++;
    out[i] = m;
  }
  return out;
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("fit_lmm: LmmControl: " + what);
}

}  // namespace

void validate(const LmmProblem& pr) {
  const Eigen::Index n = pr.X.rows(), pall = pr.X.cols();
  if (pr.y.size() != n)
    throw std::invalid_argument("fit_lmm: y has " + std::to_string(pr.y.size()) + " rows, X has " + std::to_string(n));
  if (static_cast<Eigen::Index>(pr.group.size()) != n)
    throw std::invalid_argument("fit_lmm: group has " + std::to_string(pr.group.size()) + " entries, X has " +
                                std::to_string(n) + " rows");
  if (static_cast<Eigen::Index>(pr.names.size()) != pall)
    throw std::invalid_argument("fit_lmm: " + std::to_string(pr.names.size()) + " names for " + std::to_string(pall) +
                                " columns of X");
  if (pr.slope.size() != 0 && pr.slope.size() != n)
    throw std::invalid_argument("fit_lmm: slope has " + std::to_string(pr.slope.size()) + " entries, X has " +
                                std::to_string(n) + " rows");
  int gmax = -1;
  for (int g : pr.group) {
    if (g < 0) throw std::invalid_argument("fit_lmm: negative group index");
    gmax = std::max(gmax, g);
  }
  if (!pr.parent.empty()) {
    if (static_cast<int>(pr.parent.size()) <= gmax)
      throw std::invalid_argument("fit_lmm: parent has " + std::to_string(pr.parent.size()) +
                                  " entries, but group indices go up to " + std::to_string(gmax));
    for (int h : pr.parent)
      if (h < 0) throw std::invalid_argument("fit_lmm: negative parent index");
  }
}

void validate(const LmmControl& c) {
  require(c.rank_tolerance >= 0.0 && c.perfect_fit_tolerance >= 0.0, "negative rank or perfect-fit tolerance");
  require(c.grid_min_exponent <= c.grid_max_exponent, "grid_min_exponent above grid_max_exponent");
  require(c.grid_overflow_factor > 1.0, "grid_overflow_factor must exceed 1");
  require(c.brent_bits >= 1 && c.brent_max_iterations >= 1, "brent_bits and brent_max_iterations must be at least 1");
  require(c.newton_max_steps >= 0 && c.newton_step_tolerance >= 0.0, "negative Newton limit");
  require(c.bobyqa_xtol_rel >= 0.0 && c.bobyqa_ftol_abs >= 0.0, "negative BOBYQA tolerance");
  require(c.max_evaluations >= 1 && c.bobyqa_runs >= 1, "max_evaluations and bobyqa_runs must be at least 1");
  require(c.restart_step_min > 0.0 && c.restart_step_relative >= 0.0, "restart_step_min must be positive");
  require(c.boundary_snap_tolerance >= 0.0 && c.boundary_snap_criterion_slack >= 0.0,
          "negative boundary snapping tolerance");
  require(c.singular_tolerance >= 0.0 && c.gradient_tolerance >= 0.0, "negative singular or gradient tolerance");
  require(c.hessian_eigen_tolerance >= 0.0, "negative hessian_eigen_tolerance");
  require(c.richardson_step_relative > 0.0 && c.richardson_step_floor > 0.0 && c.richardson_levels >= 1,
          "Richardson steps must be positive and levels at least 1");
}

// Fast path: an unpivoted Householder QR whose |R_jj| (the norm of column j after removing columns
// 0..j−1) all pass the test is full rank; otherwise the LINPACK-style scan decides.
FixedEffects fixed_effects(const LmmProblem& pr, double rank_tolerance) {
  const Eigen::Index n = pr.X.rows(), pall = pr.X.cols();
  FixedEffects fe;
  fe.qr_all.compute(pr.X);
  bool full = pall <= n;
  for (Eigen::Index j = 0; j < pall && full; ++j) {
    const double norm0 = pr.X.col(j).norm();
    full = norm0 > 0.0 && std::fabs(fe.qr_all.matrixQR()(j, j)) >= rank_tolerance * norm0;
  }
  if (full) {
    fe.keep.resize(pall);
    std::iota(fe.keep.begin(), fe.keep.end(), 0);
  } else {
    fe.keep = kept_columns(pr.X, rank_tolerance);
  }
  size_t i = 0;
  for (int j = 0; j < pall; ++j) {
    if (i < fe.keep.size() && fe.keep[i] == j) ++i;
    else fe.dropped.push_back(pr.names[j]);
  }
  const int p = static_cast<int>(fe.keep.size());
  fe.X.resize(n, p);
  for (int j = 0; j < p; ++j) fe.X.col(j) = pr.X.col(fe.keep[j]);
  return fe;
}

// Groups (only those with rows), therapists of those patients.
Grouping grouping(const LmmProblem& pr) {
  Grouping gr;
  gr.group = compact(pr.group, gr.G);
  if (!pr.parent.empty()) {
    std::vector<int> praw(gr.G);
    for (size_t i = 0; i < pr.group.size(); ++i) praw[gr.group[i]] = pr.parent[pr.group[i]];
    gr.parent = compact(praw, gr.H);
  }
  return gr;
}

void working_response(const LmmProblem& pr, const FixedEffects& fe, VectorXd& beta_ols, VectorXd& e) {
  const int p = static_cast<int>(fe.keep.size());
  beta_ols = VectorXd::Zero(p);
  e = pr.y;
  if (p == 0) return;
  // A reference to the full-rank QR, not a copy of its n × p factor (the same solve either way).
  std::optional<Eigen::HouseholderQR<MatrixXd>> reduced;
  if (p != pr.X.cols()) reduced.emplace(fe.X);
  const Eigen::HouseholderQR<MatrixXd>& qr = reduced ? *reduced : fe.qr_all;
  beta_ols = qr.solve(pr.y);
  e = pr.y - fe.X * beta_ols;
  // one step of iterative refinement
  const VectorXd d = qr.solve(e);
  beta_ols += d;
  e -= fe.X * d;
}

}  // namespace collabzium::lmm
