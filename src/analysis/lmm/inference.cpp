// Inference at θ̂: derivatives, Satterthwaite df, convergence check, t / p / CI. See inference.h.
#include "inference.h"

#include <Eigen/Eigenvalues>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

namespace collabzium::lmm {
namespace {

using BoostPolicy =
    boost::math::policies::policy<boost::math::policies::domain_error<boost::math::policies::ignore_error>,
                                  boost::math::policies::overflow_error<boost::math::policies::ignore_error>,
                                  boost::math::policies::evaluation_error<boost::math::policies::ignore_error>,
                                  boost::math::policies::promote_double<false>>;

// Gradient and Hessian in θ of F = log|L|² [+ log|A|] and of r², and the Jacobian J_i = ∂Var(β̂)/∂θ_i
// (J[q], for σ, is filled by the caller).
struct Derivatives {
  VectorXd Fg, r2g;
  MatrixXd Fh, r2h;
  std::vector<MatrixXd> J;
  explicit Derivatives(int q) : Fg(q), r2g(q), Fh(q, q), r2h(q, q), J(q + 1) {}
};

// Richardson extrapolation of a difference quotient phi(h) whose error is a series in h²
// (`levels` levels, step halved each time, as numDeriv does).
template <class Phi>
bool richardson(Phi phi, int levels, VectorXd& out) {
  std::vector<std::vector<VectorXd>> T(levels, std::vector<VectorXd>(levels));
  double h = 1.0;
  for (int i = 0; i < levels; ++i, h *= 0.5) {
    if (!phi(h, T[i][0])) return false;
    double f = 4.0;
    for (int j = 1; j <= i; ++j, f *= 4.0) T[i][j] = T[i][j - 1] + (T[i][j - 1] - T[i - 1][j - 1]) / (f - 1.0);
  }
  out = T[levels - 1][levels - 1];
  return out.allFinite();
}

// Random intercept alone: everything from the analytic derivatives of M(θ) and log|L|².
void analytic_derivatives(const ProfiledCriterion& f, const Optimum& at, Derivatives& d) {
  MatrixXd M1, M2;
  double ld1, ld2;
  f.intercept().derivs(at.theta[0], M1, M2, ld1, ld2);
  const MatrixXd& Ainv = at.Ainv;
  const ProfileDerivatives pd = profile_derivatives(M1, M2, at.beta_e, [&](const auto& x) { return Ainv * x; });
  d.Fg(0) = ld1 + (f.reml() ? pd.logdetA_1 : 0.0);
  d.Fh(0, 0) = ld2 + (f.reml() ? pd.logdetA_2 : 0.0);
  d.r2g(0) = pd.r2_1;
  d.r2h(0, 0) = pd.r2_2;
  d.J[0] = -at.sigma2 * pd.Ainv_A1 * Ainv;
}

// F(θ), r²(θ) and the p² entries of A⁻¹(θ), stacked, for the numerical derivatives.
bool stacked_pieces(const ProfiledCriterion& f, const VectorXd& th, VectorXd& out) {
  const int p = f.p();
  MatrixXd Mt;
  double ldt;
  if (!f.M_at(th.data(), Mt, ldt)) return false;
  Eigen::LLT<MatrixXd> l(Mt.topLeftCorner(p, p));
  if (l.info() != Eigen::Success) return false;
  const MatrixXd Ai = l.solve(MatrixXd::Identity(p, p));
  const VectorXd bt = Mt.col(p).head(p);
  double lda = 0.0;
  for (int i = 0; i < p; ++i) lda += 2.0 * std::log(l.matrixLLT()(i, i));
  out.resize(2 + p * p);
  out(0) = ldt + (f.reml() ? lda : 0.0);
  out(1) = Mt(p, p) - bt.dot(l.solve(bt));
  out.tail(p * p) = Eigen::Map<const VectorXd>(Ai.data(), p * p);
  return out.allFinite();
}

// General case: Richardson-extrapolated central differences of the stacked pieces.
bool numerical_derivatives(const ProfiledCriterion& f, const Optimum& at, const LmmControl& control, Derivatives& d) {
  const int p = f.p(), q = f.ntheta(), levels = control.richardson_levels;
  auto Fvec = [&](const VectorXd& th, VectorXd& out) { return stacked_pieces(f, th, out); };
  const VectorXd th0 = Eigen::Map<const VectorXd>(at.theta.data(), q);
  VectorXd F0;
  bool ok = Fvec(th0, F0);
  VectorXd s(q);
  for (int i = 0; i < q; ++i)
    s(i) = control.richardson_step_relative * std::max(std::fabs(at.theta[i]), control.richardson_step_floor);
  for (int i = 0; i < q && ok; ++i) {
    VectorXd d1, d2;
    ok = richardson(
             [&](double h, VectorXd& out) {
               VectorXd tp = th0, tm = th0, fp, fm;
               tp(i) += h * s(i);
               tm(i) -= h * s(i);
               if (!Fvec(tp, fp) || !Fvec(tm, fm)) return false;
               out = (fp - fm) / (2.0 * h * s(i));
               return true;
             },
             levels, d1) &&
         richardson(
             [&](double h, VectorXd& out) {
               VectorXd tp = th0, tm = th0, fp, fm;
               tp(i) += h * s(i);
               tm(i) -= h * s(i);
               if (!Fvec(tp, fp) || !Fvec(tm, fm)) return false;
               out = ((fp - F0) + (fm - F0)).head(2) / (h * s(i) * h * s(i));
               return true;
             },
             levels, d2);
    if (!ok) break;
    d.Fg(i) = d1(0);
    d.r2g(i) = d1(1);
    d.J[i] = at.sigma2 * Eigen::Map<const MatrixXd>(d1.data() + 2, p, p);
    d.Fh(i, i) = d2(0);
    d.r2h(i, i) = d2(1);
    for (int j = 0; j < i && ok; ++j) {
      VectorXd d11;
      ok = richardson(
          [&](double h, VectorXd& out) {
            VectorXd a = th0, b = th0, cc = th0, dd = th0, fa, fb, fc, fd;
            a(i) += h * s(i);
            a(j) += h * s(j);
            b(i) += h * s(i);
            b(j) -= h * s(j);
            cc(i) -= h * s(i);
            cc(j) += h * s(j);
            dd(i) -= h * s(i);
            dd(j) -= h * s(j);
            if (!Fvec(a, fa) || !Fvec(b, fb) || !Fvec(cc, fc) || !Fvec(dd, fd)) return false;
            out = ((fa - fb) - (fc - fd)).head(2) / (4.0 * h * s(i) * h * s(j));
            return true;
          },
          levels, d11);
      if (ok) {
        d.Fh(i, j) = d.Fh(j, i) = d11(0);
        d.r2h(i, j) = d.r2h(j, i) = d11(1);
      }
    }
  }
  return ok;
}

// Degrees of freedom for each coefficient, lmerTest's contest1D for unit contrasts:
// df = 2 Var(β̂_j)² / (g' A g), A = 2 H⁺ (H the deviance Hessian in (θ, σ), pseudo-inverse over
// eigenvalues above LmmControl::hessian_eigen_tolerance), g_i = ∂Var(β̂_j)/∂varpar_i.
std::vector<double> satterthwaite(const MatrixXd& H, const std::vector<MatrixXd>& J, const MatrixXd& V, double eig_tol,
                                  std::string& msg) {
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
    if (ev(i) < -eig_tol) ++neg;
    else if (ev(i) < eig_tol) ++zero;
    if (ev(i) > eig_tol)
      Avp.noalias() += (2.0 / ev(i)) * es.eigenvectors().col(i) * es.eigenvectors().col(i).transpose();
  }
  if (neg > 0)
    add_message(msg, "deviance Hessian has " + std::to_string(neg) +
                         " negative eigenvalue(s) (lmerTest: model failed to converge)");
  if (zero > 0) add_message(msg, "deviance Hessian has " + std::to_string(zero) + " eigenvalue(s) close to zero");
  VectorXd g(J.size());
  for (Eigen::Index j = 0; j < V.rows(); ++j) {
    for (size_t i = 0; i < J.size(); ++i) g(i) = J[i](j, j);
    const double denom = g.dot(Avp * g);
    df[j] = 2.0 * V(j, j) * V(j, j) / denom;
    if (!(df[j] > 0.0)) df[j] = kNaN;
  }
  return df;
}

// lme4-style convergence check on the profiled criterion f(θ) = F + m log r² + const: the scaled
// gradient H_f⁻¹ ∇f over the components not on the boundary.
void gradient_check(const ProfiledCriterion& f, const Optimum& at, const Derivatives& d, const LmmControl& control,
                    std::string& message, LmmOptSummary& summary) {
  const int q = f.ntheta();
  const double m = f.m(), r2 = at.crit.r2;
  std::vector<int> free;
  for (int i = 0; i < q; ++i)
    if (!f.bounded(i) || at.theta[i] > 0.0) free.push_back(i);
  if (free.empty()) return;
  const int nf = static_cast<int>(free.size());
  VectorXd gf(nf);
  MatrixXd hf(nf, nf);
  for (int a = 0; a < nf; ++a) {
    const int i = free[a];
    gf(a) = d.Fg(i) + m * d.r2g(i) / r2;
    for (int b = 0; b < nf; ++b) {
      const int j = free[b];
      hf(a, b) = d.Fh(i, j) + m * (d.r2h(i, j) / r2 - d.r2g(i) * d.r2g(j) / (r2 * r2));
    }
  }
  const double sg = hf.ldlt().solve(gf).cwiseAbs().maxCoeff();
  summary.max_abs_gradient = gf.cwiseAbs().maxCoeff();
  summary.scaled_gradient = sg;
  if (!(sg < control.gradient_tolerance)) {
    std::ostringstream os;
    os << "possible non-convergence: scaled gradient " << sg << " at the optimum";
    add_message(message, os.str());
  }
}

}  // namespace

void add_message(std::string& message, const std::string& what) {
  if (!message.empty()) message += "; ";
  message += what;
}

std::vector<double> satterthwaite_df(const ProfiledCriterion& f, const Optimum& at, bool identifiable,
                                     const LmmControl& control, std::string& message, LmmOptSummary& summary) {
  const int q = f.ntheta();
  Derivatives d(q);
  if (f.scalar()) {
    analytic_derivatives(f, at, d);
  } else if (!numerical_derivatives(f, at, control, d)) {
    add_message(message, "Satterthwaite: numerical derivatives failed");
    return std::vector<double>(at.V.rows(), kNaN);
  }
  // lmerTest's deviance in (θ, σ) with β profiled (devfun_vp),
  //   dev = F(θ) + r²(θ)/σ² + m log(2πσ²),   m = n [− p],
  // has Hessian F'' + (r²)''/σ², −2 (r²)'/σ³, 6 r²/σ⁴ − 2m/σ², and Var(β̂) = σ² A⁻¹(θ).
  const double sigma2 = at.sigma2, sigma = at.sigma, m = f.m();
  MatrixXd Hs(q + 1, q + 1);
  Hs.topLeftCorner(q, q) = d.Fh + d.r2h / sigma2;
  Hs.col(q).head(q) = -2.0 * d.r2g / (sigma2 * sigma);
  Hs.row(q).head(q) = Hs.col(q).head(q).transpose();
  Hs(q, q) = 6.0 * at.crit.r2 / (sigma2 * sigma2) - 2.0 * m / sigma2;
  d.J[q] = 2.0 * sigma * at.Ainv;
  const std::vector<double> df = satterthwaite(Hs, d.J, at.V, control.hessian_eigen_tolerance, message);
  if (identifiable) gradient_check(f, at, d, control, message, summary);
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

}  // namespace collabzium::lmm
