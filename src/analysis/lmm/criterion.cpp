// The profiled criterion: evaluators of M(θ) and log|L|², f(θ) from them. See criterion.h.
#include "collabzium/analysis/lmm/criterion.h"

#include <cmath>
#include <numbers>

namespace collabzium::lmm {
namespace {

const double kLog2Pi = std::log(2.0 * std::numbers::pi);

}  // namespace

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

void InterceptModel::build(const MatrixXd& W, const std::vector<int>& g, int G) {
  const Eigen::Index p1 = W.cols();
  WtW = MatrixXd::Zero(p1, p1);
  WtW.selfadjointView<Eigen::Lower>().rankUpdate(W.transpose());
  WtW = WtW.selfadjointView<Eigen::Lower>();
  MatrixXd sums = MatrixXd::Zero(p1, G);  // column g: Σ over the rows of patient g of [x; e]
  std::vector<int> n(G, 0);
  // A patient's rows usually come together. Over such a run the running sums stay in registers,
  // four columns at a time, instead of each row adding into memory (a store-to-load chain per
  // addition): the same additions in the same order, several times faster.
  const Eigen::Index rows = W.rows();
  for (Eigen::Index i = 0; i < rows;) {
    const int gi = g[i];
    Eigen::Index end = i + 1;
    while (end < rows && g[end] == gi) ++end;
    n[gi] += static_cast<int>(end - i);
    double* out = sums.col(gi).data();
    Eigen::Index c = 0;
    for (; c + 4 <= p1; c += 4) {
      const double *w0 = W.col(c).data(), *w1 = W.col(c + 1).data(), *w2 = W.col(c + 2).data(),
                   *w3 = W.col(c + 3).data();
      double a0 = out[c], a1 = out[c + 1], a2 = out[c + 2], a3 = out[c + 3];
      for (Eigen::Index r = i; r < end; ++r) {
        a0 += w0[r];
        a1 += w1[r];
        a2 += w2[r];
        a3 += w3[r];
      }
      out[c] = a0;
      out[c + 1] = a1;
      out[c + 2] = a2;
      out[c + 3] = a3;
    }
    for (; c < p1; ++c) {
      const double* w = W.col(c).data();
      double a = out[c];
      for (Eigen::Index r = i; r < end; ++r) a += w[r];
      out[c] = a;
    }
    i = end;
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

void InterceptModel::M_at(double th, MatrixXd& M, double& ld) const {
  M = WtW;
  ld = 0.0;
  const double t2 = th * th;
  for (size_t k = 0; k < size.size(); ++k) {
    M.noalias() -= (t2 / (1.0 + t2 * size[k])) * S[k];
    ld += count[k] * std::log1p(t2 * size[k]);
  }
}

void InterceptModel::derivs(double th, MatrixXd& M1, MatrixXd& M2, double& ld1, double& ld2) const {
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

void BlockedModel::build(const MatrixXd& W, const std::vector<int>& g, int G, const VectorXd* slope,
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

bool BlockedModel::M_at(const double* th, MatrixXd& M, double& ld) const {
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

ProfiledCriterion::ProfiledCriterion(const MatrixXd& W, const std::vector<int>& g, int G, const VectorXd* slope,
                                     const std::vector<int>* parent, int H, bool reml, bool scalar)
    : scalar_(scalar), reml_(reml), p_(static_cast<int>(W.cols()) - 1), n_(static_cast<double>(W.rows())) {
  if (scalar_) intercept_.build(W, g, G);
  else blocked_.build(W, g, G, slope, parent, H);
}

bool ProfiledCriterion::M_at(const double* th, MatrixXd& M, double& ld) const {
  if (scalar_) {
    intercept_.M_at(th[0], M, ld);
    return true;
  }
  return blocked_.M_at(th, M, ld);
}

double ProfiledCriterion::objective(const double* th) {
  ++evaluations_;
  double ld;
  if (!M_at(th, M_, ld)) return kFailedCriterion;
  const Crit c = criterion_from(M_, ld, p_, n_, reml_, llt_);
  return c.ok ? c.f : kFailedCriterion;
}

// f'(θ) = ld' + [reml] tr(A⁻¹A') + m (r²)'/r², and f'' likewise from the second derivatives.
bool ProfiledCriterion::newton_derivatives(double th, double& d1, double& d2) {
  const int p = p_;
  double ld, ld1, ld2;
  intercept_.M_at(th, M_, ld);
  intercept_.derivs(th, M1_, M2_, ld1, ld2);
  lltA_.compute(M_.topLeftCorner(p, p));
  if (lltA_.info() != Eigen::Success) return false;
  const VectorXd beta = lltA_.solve(M_.col(p).head(p));
  const double r2 = M_(p, p) - M_.col(p).head(p).dot(beta);
  const ProfileDerivatives d = profile_derivatives(M1_, M2_, beta, [&](const auto& x) { return lltA_.solve(x); });
  const double m = this->m();
  d1 = ld1 + (reml_ ? d.logdetA_1 : 0.0) + m * d.r2_1 / r2;
  d2 = ld2 + (reml_ ? d.logdetA_2 : 0.0) + m * (d.r2_2 / r2 - (d.r2_1 / r2) * (d.r2_1 / r2));
  return std::isfinite(d1) && std::isfinite(d2);
}

}  // namespace collabzium::lmm
