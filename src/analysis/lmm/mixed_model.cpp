// Linear mixed models as lme4 fits them, with lmerTest's Satterthwaite df. See mixed_model.h.
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
// To keep r² accurate when the mean of y is large relative to its spread, y is first replaced by
// its OLS residual e (y − e lies in the column space of X, so r²(θ) and the β̂ shift are unchanged).
#include "collabzium/analysis/lmm/mixed_model.h"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/tools/minima.hpp>
#include <nlopt.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace collabzium {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();
const double kLog2Pi = std::log(2.0 * 3.14159265358979323846);
constexpr double kSingularTol = 1e-4;   // lme4::isSingular default
constexpr double kRankTol = 1e-7;       // lme4's chkRank.drop.cols default
constexpr double kHessianEigTol = 1e-8; // lmerTest's as_lmerModLT default

using BoostPolicy = boost::math::policies::policy<
    boost::math::policies::domain_error<boost::math::policies::ignore_error>,
    boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
    boost::math::policies::evaluation_error<boost::math::policies::ignore_error>,
    boost::math::policies::promote_double<false>>;

void add_message(std::string& msg, const std::string& what) {
  if (!msg.empty()) msg += "; ";
  msg += what;
}

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

// The profiled criterion and its pieces, from M(θ) and log|L|².
struct Crit {
  bool ok = false;
  double ld = kNaN, logdetA = kNaN, r2 = kNaN, f = kNaN;
};

// `llt` is a workspace: computing into one that already has the size allocates nothing, which
// matters because the optimizer evaluates the criterion dozens of times per fit.
Crit criterion_from(const MatrixXd& M, double ld, int p, double n, bool reml, Eigen::LLT<MatrixXd>& llt) {
  Crit c;
  llt.compute(M);
  if (llt.info() != Eigen::Success) return c;
  const MatrixXd& L = llt.matrixLLT();
  double logdetA = 0.0;
  for (int i = 0; i < p; ++i) {
    if (!(L(i, i) > 0.0)) return c;
    logdetA += 2.0 * std::log(L(i, i));
  }
  const double r2 = L(p, p) * L(p, p);
  if (!(r2 > 0.0) || !std::isfinite(r2) || !std::isfinite(ld)) return c;
  const double m = reml ? n - p : n;
  c.ld = ld;
  c.logdetA = logdetA;
  c.r2 = r2;
  c.f = ld + (reml ? logdetA : 0.0) + m * (1.0 + kLog2Pi + std::log(r2 / m));
  c.ok = std::isfinite(c.f);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Patient random intercept alone: Λ = θ I, L = diag(sqrt(1 + θ² n_g)), and
//   M(θ) = W'W − Σ_g θ²/(1 + θ² n_g) w_g w_g',   w_g = Σ_{rows of g} [x_i; e_i],
// pooled over the distinct patient sizes: M(θ) = W'W − Σ_k θ²/(1 + θ² k) S_k.
struct InterceptModel {
  MatrixXd WtW;
  std::vector<double> size, count;
  std::vector<MatrixXd> S;

  void build(const MatrixXd& W, const std::vector<int>& g, int G) {
    const Eigen::Index p1 = W.cols();
    WtW = MatrixXd::Zero(p1, p1);
    WtW.selfadjointView<Eigen::Lower>().rankUpdate(W.transpose());
    WtW = WtW.selfadjointView<Eigen::Lower>();
    MatrixXd sums = MatrixXd::Zero(p1, G);  // column g: Σ over the rows of patient g of [x; e]
    std::vector<int> n(G, 0);
    for (Eigen::Index i = 0; i < W.rows(); ++i) ++n[g[i]];
    for (Eigen::Index c = 0; c < p1; ++c) {
      const double* w = W.col(c).data();
      for (Eigen::Index i = 0; i < W.rows(); ++i) sums(c, g[i]) += w[i];
    }
    std::vector<int> slot(W.rows() + 1, -1);  // patient size -> index into size/count/S
    for (int j = 0; j < G; ++j) {
      int& k = slot[n[j]];
      if (k < 0) {
        k = static_cast<int>(size.size());
        size.push_back(n[j]);
        count.push_back(0.0);
        S.push_back(MatrixXd::Zero(p1, p1));
      }
      count[k] += 1.0;
      S[k].noalias() += sums.col(j) * sums.col(j).transpose();
    }
  }

  void M_at(double th, MatrixXd& M, double& ld) const {
    M = WtW;
    ld = 0.0;
    const double t2 = th * th;
    for (size_t k = 0; k < size.size(); ++k) {
      M.noalias() -= (t2 / (1.0 + t2 * size[k])) * S[k];
      ld += count[k] * std::log1p(t2 * size[k]);
    }
  }

  // First and second derivatives in θ of M(θ) and of log|L|².
  void derivs(double th, MatrixXd& M1, MatrixXd& M2, double& ld1, double& ld2) const {
    M1 = MatrixXd::Zero(WtW.rows(), WtW.cols());
    M2 = M1;
    ld1 = ld2 = 0.0;
    const double t2 = th * th;
    for (size_t k = 0; k < size.size(); ++k) {
      const double nk = size[k], a = 1.0 + t2 * nk;
      M1.noalias() -= (2.0 * th / (a * a)) * S[k];
      M2.noalias() -= ((2.0 - 6.0 * t2 * nk) / (a * a * a)) * S[k];
      ld1 += count[k] * 2.0 * th * nk / a;
      ld2 += count[k] * 2.0 * nk * (1.0 - t2 * nk) / (a * a);
    }
  }
};

// ---------------------------------------------------------------------------------------------
// General case: per patient k = 1 (intercept) or 2 (intercept, slope) random effects with a
// k×k lower-triangular Λ_p, optionally a therapist intercept θ_t shared by the therapist's patients.
// θ = (Λ_p(0,0) [, Λ_p(1,0), Λ_p(1,1)] [, θ_t]), lme4's order (more levels first).
struct BlockedModel {
  int p1 = 0, k = 1;
  bool therapist = false;
  MatrixXd WtW;
  std::vector<Eigen::Matrix2d> ZtZ;           // per patient (top-left k×k used)
  MatrixXd ZtW;                               // k·G × p1, rows k·g .. k·g+k−1
  std::vector<std::vector<int>> members;      // patients per therapist (one pseudo-therapist if none)
  std::vector<double> nh;                     // rows per therapist
  MatrixXd sumW;                              // H × p1

  int ntheta() const { return (k == 1 ? 1 : 3) + (therapist ? 1 : 0); }
  bool is_diagonal(int i) const {
    if (k == 2 && i == 1) return false;
    return true;
  }

  void build(const MatrixXd& W, const std::vector<int>& g, int G, const VectorXd* slope,
             const std::vector<int>* parent, int H) {
    p1 = static_cast<int>(W.cols());
    k = slope ? 2 : 1;
    therapist = parent != nullptr;
    WtW = W.transpose() * W;
    ZtZ.assign(G, Eigen::Matrix2d::Zero());
    ZtW = MatrixXd::Zero(static_cast<Eigen::Index>(k) * G, p1);
    for (Eigen::Index i = 0; i < W.rows(); ++i) {
      const int j = g[i];
      const double s = slope ? (*slope)(i) : 0.0;
      ZtZ[j](0, 0) += 1.0;
      ZtW.row(static_cast<Eigen::Index>(k) * j) += W.row(i);
      if (k == 2) {
        ZtZ[j](1, 0) += s;
        ZtZ[j](1, 1) += s * s;
        ZtW.row(2 * static_cast<Eigen::Index>(j) + 1) += s * W.row(i);
      }
    }
    for (auto& z : ZtZ) z(0, 1) = z(1, 0);
    const int nther = therapist ? H : 1;
    members.assign(nther, {});
    nh.assign(nther, 0.0);
    sumW = MatrixXd::Zero(nther, p1);
    for (int j = 0; j < G; ++j) {
      const int h = therapist ? (*parent)[j] : 0;
      members[h].push_back(j);
      nh[h] += ZtZ[j](0, 0);
      sumW.row(h) += ZtW.row(static_cast<Eigen::Index>(k) * j);
    }
  }

  bool M_at(const double* th, MatrixXd& M, double& ld) const {
    const double a = th[0], b = k == 2 ? th[1] : 0.0, c = k == 2 ? th[2] : 0.0;
    const double tt = therapist ? th[ntheta() - 1] : 0.0;
    M = WtW;
    ld = 0.0;
    Eigen::RowVectorXd R0(p1), R1(p1), acc(p1);
    for (size_t h = 0; h < members.size(); ++h) {
      double acc_c = 0.0;
      if (therapist) {
        acc_c = tt * tt * nh[h] + 1.0;
        acc = tt * sumW.row(h);
      }
      for (int j : members[h]) {
        const Eigen::Matrix2d& Z = ZtZ[j];
        if (k == 1) {
          const double T = a * a * Z(0, 0) + 1.0, l11 = std::sqrt(T);
          ld += std::log(T);
          R0 = (a / l11) * ZtW.row(j);
          M.noalias() -= R0.transpose() * R0;
          if (therapist) {
            const double l = a * Z(0, 0) * tt / l11;
            acc -= l * R0;
            acc_c -= l * l;
          }
        } else {
          // Λ = [[a, 0], [b, c]];  T = Λ'ZtZΛ + I
          Eigen::Matrix2d Lam;
          Lam << a, 0.0, b, c;
          const Eigen::Matrix2d T = Lam.transpose() * Z * Lam + Eigen::Matrix2d::Identity();
          const double l11 = std::sqrt(T(0, 0)), l21 = T(1, 0) / l11;
          const double l22sq = T(1, 1) - l21 * l21;
          if (!(l22sq > 0.0)) return false;
          const double l22 = std::sqrt(l22sq);
          ld += std::log(T(0, 0)) + std::log(l22sq);
          const Eigen::Index r = 2 * static_cast<Eigen::Index>(j);
          R0 = (a * ZtW.row(r) + b * ZtW.row(r + 1)) / l11;
          R1 = (c * ZtW.row(r + 1) - l21 * R0) / l22;
          M.noalias() -= R0.transpose() * R0;
          M.noalias() -= R1.transpose() * R1;
          if (therapist) {
            const double b0 = (a * Z(0, 0) + b * Z(1, 0)) * tt, b1 = c * Z(1, 0) * tt;
            const double l0 = b0 / l11, l1 = (b1 - l21 * l0) / l22;
            acc -= l0 * R0 + l1 * R1;
            acc_c -= l0 * l0 + l1 * l1;
          }
        }
      }
      if (therapist) {
        if (!(acc_c > 0.0)) return false;
        ld += std::log(acc_c);
        R0 = acc / std::sqrt(acc_c);
        M.noalias() -= R0.transpose() * R0;
      }
    }
    return std::isfinite(ld);
  }
};

// ---------------------------------------------------------------------------------------------
// Richardson extrapolation of a difference quotient phi(h) whose error is a series in h²
// (four levels, step halved each time, as numDeriv does).
template <class Phi>
bool richardson(Phi phi, VectorXd& out) {
  constexpr int R = 4;
  std::array<std::array<VectorXd, R>, R> T;
  double h = 1.0;
  for (int i = 0; i < R; ++i, h *= 0.5) {
    if (!phi(h, T[i][0])) return false;
    double f = 4.0;
    for (int j = 1; j <= i; ++j, f *= 4.0)
      T[i][j] = T[i][j - 1] + (T[i][j - 1] - T[i - 1][j - 1]) / (f - 1.0);
  }
  out = T[R - 1][R - 1];
  return out.allFinite();
}

// Degrees of freedom for each coefficient, lmerTest's contest1D for unit contrasts:
// df = 2 Var(β̂_j)² / (g' A g), A = 2 H⁺ (H the deviance Hessian in (θ, σ), pseudo-inverse over
// eigenvalues > 1e-8), g_i = ∂Var(β̂_j)/∂varpar_i.
std::vector<double> satterthwaite(const MatrixXd& H, const std::vector<MatrixXd>& J,
                                  const MatrixXd& V, std::string& msg) {
  std::vector<double> df(V.rows(), kNaN);
  if (!H.allFinite()) {
    add_message(msg, "Satterthwaite: non-finite deviance Hessian");
    return df;
  }
  Eigen::SelfAdjointEigenSolver<MatrixXd> es(H);
  const VectorXd& ev = es.eigenvalues();
  int neg = 0, zero = 0;
  MatrixXd Avp = MatrixXd::Zero(H.rows(), H.cols());
  for (Eigen::Index i = 0; i < ev.size(); ++i) {
    if (ev(i) < -kHessianEigTol) ++neg;
    else if (ev(i) < kHessianEigTol) ++zero;
    if (ev(i) > kHessianEigTol)
      Avp.noalias() += (2.0 / ev(i)) * es.eigenvectors().col(i) * es.eigenvectors().col(i).transpose();
  }
  if (neg > 0)
    add_message(msg, "deviance Hessian has " + std::to_string(neg) + " negative eigenvalue(s) (lmerTest: model failed to converge)");
  if (zero > 0)
    add_message(msg, "deviance Hessian has " + std::to_string(zero) + " eigenvalue(s) close to zero");
  VectorXd g(J.size());
  for (Eigen::Index j = 0; j < V.rows(); ++j) {
    for (size_t i = 0; i < J.size(); ++i) g(i) = J[i](j, j);
    const double denom = g.dot(Avp * g);
    df[j] = 2.0 * V(j, j) * V(j, j) / denom;
    if (!(df[j] > 0.0)) df[j] = kNaN;
  }
  return df;
}

void fill_inference(Coefficient& c, double df, double alpha) {
  c.df = df;
  c.t = c.estimate / c.se;
  c.p = c.ci_low = c.ci_high = kNaN;
  if (!std::isfinite(c.t) || std::isnan(df) || !(df > 0.0)) return;
  double q;
  if (std::isinf(df)) {
    boost::math::normal_distribution<double, BoostPolicy> N;
    c.p = 2.0 * boost::math::cdf(boost::math::complement(N, std::fabs(c.t)));
    q = boost::math::quantile(boost::math::complement(N, alpha / 2.0));
  } else {
    boost::math::students_t_distribution<double, BoostPolicy> T(df);
    c.p = 2.0 * boost::math::cdf(boost::math::complement(T, std::fabs(c.t)));
    q = boost::math::quantile(boost::math::complement(T, alpha / 2.0));
  }
  if (alpha > 0.0 && alpha < 1.0) {
    c.ci_low = c.estimate - q * c.se;
    c.ci_high = c.estimate + q * c.se;
  }
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

struct NloptCtx {
  const BlockedModel* model;
  int p;
  double n;
  bool reml;
  int* evals;
  MatrixXd M;                 // workspaces reused across evaluations
  Eigen::LLT<MatrixXd> llt;
};

double nlopt_objective(unsigned q, const double* x, double* grad, void* data) {
  (void)q;
  (void)grad;
  auto* ctx = static_cast<NloptCtx*>(data);
  ++*ctx->evals;
  double ld;
  if (!ctx->model->M_at(x, ctx->M, ld)) return 1e300;
  const Crit c = criterion_from(ctx->M, ld, ctx->p, ctx->n, ctx->reml, ctx->llt);
  return c.ok ? c.f : 1e300;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
LmmFit fit_lmm(const LmmProblem& pr, const LmmOptions& opt) {
  const Eigen::Index n = pr.X.rows(), pall = pr.X.cols();
  if (pr.y.size() != n) throw std::invalid_argument("fit_lmm: y has " + std::to_string(pr.y.size()) + " rows, X has " + std::to_string(n));
  if (static_cast<Eigen::Index>(pr.group.size()) != n) throw std::invalid_argument("fit_lmm: group has " + std::to_string(pr.group.size()) + " entries, X has " + std::to_string(n) + " rows");
  if (static_cast<Eigen::Index>(pr.names.size()) != pall) throw std::invalid_argument("fit_lmm: " + std::to_string(pr.names.size()) + " names for " + std::to_string(pall) + " columns of X");
  if (pr.slope.size() != 0 && pr.slope.size() != n) throw std::invalid_argument("fit_lmm: slope has " + std::to_string(pr.slope.size()) + " entries, X has " + std::to_string(n) + " rows");
  int gmax = -1;
  for (int g : pr.group) {
    if (g < 0) throw std::invalid_argument("fit_lmm: negative group index");
    gmax = std::max(gmax, g);
  }
  if (!pr.parent.empty()) {
    if (static_cast<int>(pr.parent.size()) <= gmax) throw std::invalid_argument("fit_lmm: parent has " + std::to_string(pr.parent.size()) + " entries, but group indices go up to " + std::to_string(gmax));
    for (int h : pr.parent)
      if (h < 0) throw std::invalid_argument("fit_lmm: negative parent index");
  }

  LmmFit fit;
  fit.nobs = static_cast<int>(n);
  fit.coefficients.resize(pall);
  for (Eigen::Index j = 0; j < pall; ++j)
    fit.coefficients[j] = {pr.names[j], kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  fit.vcov = MatrixXd::Constant(pall, pall, kNaN);
  const bool has_slope = pr.slope.size() != 0, has_parent = !pr.parent.empty();

  if (n == 0) {
    fit.message = "no observations";
    return fit;
  }
  if (!pr.X.allFinite() || !pr.y.allFinite() || (has_slope && !pr.slope.allFinite())) {
    fit.message = "non-finite values in X, y or slope (drop incomplete rows before fitting)";
    return fit;
  }

  // Fixed effects: drop aliased columns as lme4 does. Fast path: an unpivoted Householder QR whose
  // |R_jj| (the norm of column j after removing columns 0..j−1) all pass the test is full rank.
  std::vector<int> keep;
  Eigen::HouseholderQR<MatrixXd> qr_all(pr.X);
  {
    bool full = pall <= n;
    for (Eigen::Index j = 0; j < pall && full; ++j) {
      const double norm0 = pr.X.col(j).norm();
      full = norm0 > 0.0 && std::fabs(qr_all.matrixQR()(j, j)) >= kRankTol * norm0;
    }
    if (full) {
      keep.resize(pall);
      std::iota(keep.begin(), keep.end(), 0);
    } else {
      keep = kept_columns(pr.X, kRankTol);
    }
  }
  {
    size_t i = 0;
    for (int j = 0; j < pall; ++j) {
      if (i < keep.size() && keep[i] == j) ++i;
      else fit.dropped.push_back(pr.names[j]);
    }
  }
  if (!fit.dropped.empty()) {
    std::string d;
    for (auto& s : fit.dropped) d += (d.empty() ? "" : ", ") + s;
    add_message(fit.message, "fixed-effect model matrix is rank deficient so dropping " + std::to_string(fit.dropped.size()) + " column(s): " + d);
  }
  const int p = static_cast<int>(keep.size());
  fit.rank = p;
  MatrixXd X(n, p);
  for (int j = 0; j < p; ++j) X.col(j) = pr.X.col(keep[j]);

  // Groups (only those with rows), therapists of those patients.
  int G = 0, H = 0;
  const std::vector<int> g = compact(pr.group, G);
  std::vector<int> parent;  // per compacted patient
  if (has_parent) {
    std::vector<int> praw(G);
    for (Eigen::Index i = 0; i < n; ++i) praw[g[i]] = pr.parent[pr.group[i]];
    parent = compact(praw, H);
  }
  fit.groups = G;
  fit.parents = H;

  const double nd = static_cast<double>(n);
  const double m = opt.reml ? nd - p : nd;  // the "n" of the profiled σ
  if (!(m > 0.0)) {
    add_message(fit.message, "not enough observations (n = " + std::to_string(n) + ", rank(X) = " + std::to_string(p) + ")");
    return fit;
  }
  bool identifiable = true;
  if (G < 2) {
    add_message(fit.message, "fewer than 2 patients: the patient variance is not identifiable");
    identifiable = false;
  }
  if (G == n) {
    add_message(fit.message, "every patient has a single row: the patient variance is not identifiable from the residual variance (lme4 refuses); fitted with tau2 = 0, sigma2 is the total variance, Satterthwaite df replaced by the residual df");
    identifiable = false;
  }
  if (has_parent && H < 2) {
    add_message(fit.message, "fewer than 2 therapists: the therapist variance is not identifiable");
    identifiable = false;
  }

  // OLS residual as the working response.
  VectorXd beta_ols = VectorXd::Zero(p);
  VectorXd e = pr.y;
  if (p > 0) {
    const Eigen::HouseholderQR<MatrixXd> qr = p == pall ? qr_all : Eigen::HouseholderQR<MatrixXd>(X);
    beta_ols = qr.solve(pr.y);
    e = pr.y - X * beta_ols;
    // one step of iterative refinement
    const VectorXd d = qr.solve(e);
    beta_ols += d;
    e -= X * d;
  }
  if (!(e.norm() > 1e-12 * pr.y.norm())) {
    add_message(fit.message, "y is an exact linear function of X: zero residual variance");
    return fit;
  }
  MatrixXd W(n, p + 1);
  W.leftCols(p) = X;
  W.col(p) = e;

  const bool intercept_path = !has_slope && !has_parent && !opt.general_path;
  InterceptModel im;
  BlockedModel bm;
  int q;
  if (intercept_path) {
    im.build(W, g, G);
    q = 1;
  } else {
    bm.build(W, g, G, has_slope ? &pr.slope : nullptr, has_parent ? &parent : nullptr, H);
    q = bm.ntheta();
  }
  auto eval_M = [&](const double* th, MatrixXd& M, double& ld) -> bool {
    if (intercept_path) {
      im.M_at(th[0], M, ld);
      return true;
    }
    return bm.M_at(th, M, ld);
  };
  MatrixXd M_ws;  // criterion workspaces, reused by every evaluation of this fit
  Eigen::LLT<MatrixXd> llt_ws;
  auto crit_at = [&](const double* th) -> Crit {
    double ld;
    if (!eval_M(th, M_ws, ld)) return Crit{};
    return criterion_from(M_ws, ld, p, nd, opt.reml, llt_ws);
  };

  // ---------------------------------------------------------------- optimize f(θ)
  std::vector<double> theta(q, 0.0);
  int evals = 0;
  bool converged = true;
  if (G == n) {
    theta.assign(q, 0.0);  // flat criterion along θ (see message); report the θ = 0 fit
    converged = false;
  } else if (intercept_path) {
    auto f = [&](double th) {
      ++evals;
      const Crit c = crit_at(&th);
      return c.ok ? c.f : 1e300;
    };
    // bracket on a geometric grid, then Brent, then Newton on the analytic derivative
    std::vector<double> grid{0.0};
    for (int e2 = -6; e2 <= 10; ++e2) grid.push_back(std::ldexp(1.0, e2));
    std::vector<double> fg(grid.size());
    size_t best = 0;
    for (size_t i = 0; i < grid.size(); ++i) {
      fg[i] = f(grid[i]);
      if (fg[i] < fg[best]) best = i;
    }
    double lo = best == 0 ? 0.0 : grid[best - 1];
    double hi = best + 1 < grid.size() ? grid[best + 1] : grid[best] * 1024.0;
    if (best + 1 == grid.size())
      add_message(fit.message, "patient variance very large relative to the residual variance");
    std::uintmax_t iters = 200;
    auto r = boost::math::tools::brent_find_minima(f, lo, hi, std::numeric_limits<double>::digits, iters);
    double th = r.first, fth = r.second;
    if (iters >= 200) {
      converged = false;
      add_message(fit.message, "Brent did not converge in 200 iterations");
    }
    // Newton polish: f'(θ) = ld' + [reml] tr(A⁻¹A') + m (r²)'/r²
    MatrixXd M, M1, M2;  // workspaces of the Newton steps
    Eigen::LLT<MatrixXd> llt;
    auto fprime = [&](double t, double& d1, double& d2) -> bool {
      double ld, ld1, ld2;
      im.M_at(t, M, ld);
      im.derivs(t, M1, M2, ld1, ld2);
      llt.compute(M.topLeftCorner(p, p));
      if (llt.info() != Eigen::Success) return false;
      const VectorXd beta = llt.solve(M.col(p).head(p));
      const double r2 = M(p, p) - M.col(p).head(p).dot(beta);
      VectorXd et(p + 1);
      et.head(p) = -beta;
      et(p) = 1.0;
      const double r2_1 = et.dot(M1 * et);
      const VectorXd v = (M1 * et).head(p);
      const double r2_2 = et.dot(M2 * et) - 2.0 * v.dot(llt.solve(v));
      const MatrixXd P = llt.solve(M1.topLeftCorner(p, p));
      const double la1 = P.trace();
      const double la2 = llt.solve(M2.topLeftCorner(p, p)).trace() - (P * P).trace();
      d1 = ld1 + (opt.reml ? la1 : 0.0) + m * r2_1 / r2;
      d2 = ld2 + (opt.reml ? la2 : 0.0) + m * (r2_2 / r2 - (r2_1 / r2) * (r2_1 / r2));
      return std::isfinite(d1) && std::isfinite(d2);
    };
    if (th > 0.0) {
      double d1, d2;
      for (int it = 0; it < 6 && fprime(th, d1, d2); ++it) {
        if (!(d2 > 0.0)) break;
        const double tn = th - d1 / d2;
        double n1, n2;
        if (!(tn > lo && tn < hi) || !fprime(tn, n1, n2) || !(std::fabs(n1) < std::fabs(d1))) break;
        const bool tiny = std::fabs(tn - th) <= 1e-15 * th;
        th = tn;
        if (tiny) break;
      }
      fth = f(th);
    }
    // boundary: lme4's bounded optimizer would stop exactly at θ = 0
    const double f0 = f(0.0);
    if (f0 <= fth) th = 0.0;
    theta[0] = th;
  } else {
    // BOBYQA from lme4's start (diagonal 1, off-diagonal 0), lower bound 0 on the diagonal
    std::vector<double> lb(q), x(q);
    for (int i = 0; i < q; ++i) {
      lb[i] = bm.is_diagonal(i) ? 0.0 : -HUGE_VAL;
      x[i] = bm.is_diagonal(i) ? 1.0 : 0.0;
    }
    NloptCtx ctx{&bm, p, nd, opt.reml, &evals};
    double fx = kInf;
    for (int run = 0; run < 2; ++run) {
      nlopt::opt o(nlopt::LN_BOBYQA, static_cast<unsigned>(q));
      o.set_lower_bounds(lb);
      o.set_min_objective(nlopt_objective, &ctx);
      o.set_xtol_rel(1e-10);
      o.set_ftol_abs(1e-12);
      o.set_maxeval(std::max(1, opt.max_evaluations - evals));
      if (run > 0) {  // the first run takes NLopt's default initial step, as lme4's nloptwrap does
        std::vector<double> step(q);
        for (int i = 0; i < q; ++i) step[i] = std::max(1e-3, 0.05 * std::fabs(x[i]));
        o.set_initial_step(step);
      }
      std::vector<double> xr = x;
      double fr = kInf;
      nlopt::result res = nlopt::FAILURE;
      try {
        res = o.optimize(xr, fr);
      } catch (const nlopt::roundoff_limited&) {
        res = nlopt::SUCCESS;  // best point found is in xr
        fr = nlopt_objective(q, xr.data(), nullptr, &ctx);
      } catch (const std::exception& ex) {
        add_message(fit.message, std::string("NLopt: ") + ex.what());
        converged = false;
        break;
      }
      if (res == nlopt::MAXEVAL_REACHED) {
        converged = false;
        add_message(fit.message, "BOBYQA reached the evaluation limit (" + std::to_string(opt.max_evaluations) + ")");
      }
      if (fr <= fx) {
        fx = fr;
        x = xr;
      }
      if (res == nlopt::MAXEVAL_REACHED) break;
    }
    // snap diagonal θ within 1e-6 of the bound onto it when that does not raise the criterion
    for (int i = 0; i < q; ++i) {
      if (!bm.is_diagonal(i) || x[i] == 0.0 || x[i] > 1e-6) continue;
      std::vector<double> xs = x;
      xs[i] = 0.0;
      const double fs = nlopt_objective(q, xs.data(), nullptr, &ctx);
      if (fs <= fx + 1e-10) {
        x = xs;
        fx = std::min(fx, fs);
      }
    }
    theta = x;
  }
  fit.iterations = evals;
  fit.theta = theta;

  // ---------------------------------------------------------------- the fit at θ̂
  MatrixXd M;
  double ld;
  if (!eval_M(theta.data(), M, ld)) {
    add_message(fit.message, "numerical failure at the optimum");
    return fit;
  }
  const Crit c = criterion_from(M, ld, p, nd, opt.reml, llt_ws);
  if (!c.ok) {
    add_message(fit.message, "criterion not finite at the optimum (perfect fit or numerical failure)");
    return fit;
  }
  Eigen::LLT<MatrixXd> lltA(M.topLeftCorner(p, p));
  const MatrixXd Ainv = lltA.solve(MatrixXd::Identity(p, p));
  const VectorXd beta_e = lltA.solve(M.col(p).head(p));
  const VectorXd beta = beta_ols + beta_e;
  fit.criterion = c.f;
  const double sigma2 = c.r2 / m, sigma = std::sqrt(sigma2);
  fit.sigma2 = sigma2;
  const MatrixXd V = sigma2 * Ainv;

  // variance components
  int off = 0;
  if (has_slope) {
    const double a = theta[0], b = theta[1], cc = theta[2];
    fit.tau2 = sigma2 * a * a;
    fit.slope_var = sigma2 * (b * b + cc * cc);
    const double cov = sigma2 * a * b;
    fit.slope_corr = cov / std::sqrt(fit.tau2 * fit.slope_var);
    fit.singular = std::fabs(a) < kSingularTol || std::fabs(cc) < kSingularTol;
    off = 3;
  } else {
    fit.tau2 = sigma2 * theta[0] * theta[0];
    fit.singular = std::fabs(theta[0]) < kSingularTol;
    off = 1;
  }
  if (has_parent) {
    fit.tau2_therapist = sigma2 * theta[off] * theta[off];
    fit.singular = fit.singular || std::fabs(theta[off]) < kSingularTol;
  }
  if (G == n) {
    fit.tau2 = kNaN;
    fit.singular = false;
  }

  // ---------------------------------------------------------------- df
  std::vector<double> df(p, kNaN);
  const double df_resid = nd - p;
  if (opt.df == DfMethod::Residual || (opt.df == DfMethod::Satterthwaite && G == n)) {
    df.assign(p, df_resid);
  } else if (opt.df == DfMethod::Z) {
    df.assign(p, kInf);
  } else if (p > 0) {
    // lmerTest's deviance in (θ, σ) with β profiled has Hessian F'' + (r²)''/σ², −2 (r²)'/σ³,
    // 6 r²/σ⁴ − 2m/σ², and Var(β̂) = σ² A⁻¹(θ).
    // F = log|L|² [+ log|A|]: gradient Fg, Hessian Fh; the same for r²; Jacobian of A⁻¹
    VectorXd Fg(q), r2g(q);
    MatrixXd Fh(q, q), r2h(q, q);
    std::vector<MatrixXd> J(q + 1);
    bool ok = true;
    if (intercept_path) {
      MatrixXd M1, M2;
      double ld1, ld2;
      im.derivs(theta[0], M1, M2, ld1, ld2);
      VectorXd et(p + 1);
      et.head(p) = -beta_e;
      et(p) = 1.0;
      const VectorXd M1e = M1 * et;
      const VectorXd v = M1e.head(p);
      const MatrixXd P = Ainv * M1.topLeftCorner(p, p);
      Fg(0) = ld1 + (opt.reml ? P.trace() : 0.0);
      Fh(0, 0) = ld2 + (opt.reml ? (Ainv * M2.topLeftCorner(p, p)).trace() - (P * P).trace() : 0.0);
      r2g(0) = et.dot(M1e);
      r2h(0, 0) = et.dot(M2 * et) - 2.0 * v.dot(Ainv * v);
      J[0] = -sigma2 * P * Ainv;
    } else {
      // numerical derivatives (Richardson) of F(θ), r²(θ) and A⁻¹(θ)
      auto Fvec = [&](const VectorXd& th, VectorXd& out) -> bool {
        MatrixXd Mt;
        double ldt;
        if (!bm.M_at(th.data(), Mt, ldt)) return false;
        Eigen::LLT<MatrixXd> l(Mt.topLeftCorner(p, p));
        if (l.info() != Eigen::Success) return false;
        const MatrixXd Ai = l.solve(MatrixXd::Identity(p, p));
        const VectorXd bt = Mt.col(p).head(p);
        double lda = 0.0;
        for (int i = 0; i < p; ++i) lda += 2.0 * std::log(l.matrixLLT()(i, i));
        out.resize(2 + p * p);
        out(0) = ldt + (opt.reml ? lda : 0.0);
        out(1) = Mt(p, p) - bt.dot(l.solve(bt));
        out.tail(p * p) = Eigen::Map<const VectorXd>(Ai.data(), p * p);
        return out.allFinite();
      };
      const VectorXd th0 = Eigen::Map<const VectorXd>(theta.data(), q);
      VectorXd F0;
      ok = Fvec(th0, F0);
      VectorXd s(q);
      for (int i = 0; i < q; ++i) s(i) = 0.1 * std::max(std::fabs(theta[i]), 0.1);
      for (int i = 0; i < q && ok; ++i) {
        VectorXd d1, d2;
        ok = richardson([&](double h, VectorXd& out) {
               VectorXd tp = th0, tm = th0, fp, fm;
               tp(i) += h * s(i);
               tm(i) -= h * s(i);
               if (!Fvec(tp, fp) || !Fvec(tm, fm)) return false;
               out = (fp - fm) / (2.0 * h * s(i));
               return true;
             }, d1) &&
             richardson([&](double h, VectorXd& out) {
               VectorXd tp = th0, tm = th0, fp, fm;
               tp(i) += h * s(i);
               tm(i) -= h * s(i);
               if (!Fvec(tp, fp) || !Fvec(tm, fm)) return false;
               out = ((fp - F0) + (fm - F0)).head(2) / (h * s(i) * h * s(i));
               return true;
             }, d2);
        if (!ok) break;
        Fg(i) = d1(0);
        r2g(i) = d1(1);
        J[i] = sigma2 * Eigen::Map<const MatrixXd>(d1.data() + 2, p, p);
        Fh(i, i) = d2(0);
        r2h(i, i) = d2(1);
        for (int j = 0; j < i && ok; ++j) {
          VectorXd d11;
          ok = richardson([&](double h, VectorXd& out) {
            VectorXd a = th0, b = th0, cc = th0, d = th0, fa, fb, fc, fd;
            a(i) += h * s(i); a(j) += h * s(j);
            b(i) += h * s(i); b(j) -= h * s(j);
            cc(i) -= h * s(i); cc(j) += h * s(j);
            d(i) -= h * s(i); d(j) -= h * s(j);
            if (!Fvec(a, fa) || !Fvec(b, fb) || !Fvec(cc, fc) || !Fvec(d, fd)) return false;
            out = ((fa - fb) - (fc - fd)).head(2) / (4.0 * h * s(i) * h * s(j));
            return true;
          }, d11);
          if (ok) {
            Fh(i, j) = Fh(j, i) = d11(0);
            r2h(i, j) = r2h(j, i) = d11(1);
          }
        }
      }
      if (!ok) add_message(fit.message, "Satterthwaite: numerical derivatives failed");
    }
    if (ok) {
      // deviance in (θ, σ) with β profiled, lmerTest's devfun_vp:
      //   dev = F(θ) + r²(θ)/σ² + m log(2πσ²),   m = n [− p]
      MatrixXd Hs(q + 1, q + 1);
      Hs.topLeftCorner(q, q) = Fh + r2h / sigma2;
      Hs.col(q).head(q) = -2.0 * r2g / (sigma2 * sigma);
      Hs.row(q).head(q) = Hs.col(q).head(q).transpose();
      Hs(q, q) = 6.0 * c.r2 / (sigma2 * sigma2) - 2.0 * m / sigma2;
      J[q] = 2.0 * sigma * Ainv;
      df = satterthwaite(Hs, J, V, fit.message);
      // lme4-style convergence check on the profiled criterion f(θ) = F + m log r² + const:
      // scaled gradient H_f⁻¹ ∇f over the components not on the boundary
      std::vector<int> free;
      for (int i = 0; i < q; ++i)
        if ((!intercept_path && !bm.is_diagonal(i)) || theta[i] > 0.0) free.push_back(i);
      if (!free.empty() && identifiable) {
        const int nf = static_cast<int>(free.size());
        VectorXd gf(nf);
        MatrixXd hf(nf, nf);
        for (int a = 0; a < nf; ++a) {
          const int i = free[a];
          gf(a) = Fg(i) + m * r2g(i) / c.r2;
          for (int b = 0; b < nf; ++b) {
            const int j = free[b];
            hf(a, b) = Fh(i, j) + m * (r2h(i, j) / c.r2 - r2g(i) * r2g(j) / (c.r2 * c.r2));
          }
        }
        const double sg = hf.ldlt().solve(gf).cwiseAbs().maxCoeff();
        if (!(sg < 2e-3)) {
          std::ostringstream os;
          os << "possible non-convergence: scaled gradient " << sg << " at the optimum";
          add_message(fit.message, os.str());
        }
      }
    }
  }

  fit.converged = converged && identifiable;

  for (int j = 0; j < p; ++j) {
    Coefficient& co = fit.coefficients[keep[j]];
    co.estimate = beta(j);
    co.se = std::sqrt(V(j, j));
    fill_inference(co, df[j], opt.alpha);
    for (int k2 = 0; k2 < p; ++k2) fit.vcov(keep[j], keep[k2]) = V(j, k2);
  }
  return fit;
}

}  // namespace collabzium
