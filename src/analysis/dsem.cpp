#include "collabzium/analysis/dsem.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>

namespace collabzium {

namespace {

// Prior of every location parameter (γ0, β_R, β_P, φ, β_s, therapist terms): N(0, 10²).
constexpr double kPriorPrecision = 1.0 / 100.0;
// Prior of every variance (σ², σ1², τ²): InvGamma(shape 0.01, scale 0.01).
constexpr double kPriorShape = 0.01, kPriorScale = 0.01;

// The data reorganised for the sampler: one contiguous series per used patient, from its first to
// its last observed distress, with every session in between (imputed where not observed).
struct Series {
  int patients = 0;                          // N used patients
  std::vector<std::size_t> begin;            // N + 1 offsets into the per-session arrays
  std::vector<int> first_session;            // f_i
  std::vector<int> group;                    // dense therapist index of patient i (0 = reference)
  std::vector<double> distress;              // observed values; NaN where missing (imputed in the state)
  std::vector<double> rupture, repair;       // 0/1 (missing counted as 0)
  std::vector<std::size_t> missing;          // positions of missing distress (always inside a series)
  std::vector<std::string> therapist_terms;  // "therapist[label]" for dense therapists 1..H-1
  int observed = 0;                          // observed distress values used
};

std::string therapist_label(const DsemData& d, int j) {
  return d.therapist_labels.empty() ? std::to_string(j + 1) : d.therapist_labels[static_cast<std::size_t>(j)];
}

Series organise(const DsemData& d, bool therapist_fixed) {
  const std::size_t n = d.patient.size();
  if (d.session.size() != n || d.distress.size() != n || d.rupture.size() != n || d.repair.size() != n ||
      d.therapist.size() != n)
    throw std::invalid_argument("fit_dsem: the row vectors of DsemData differ in length");
  // Rows per patient, sorted by session (a map keeps the patients in index order).
  std::map<int, std::vector<std::size_t>> rows_of;
  for (std::size_t r = 0; r < n; ++r) {
    if (d.patient[r] < 0) throw std::invalid_argument("fit_dsem: negative patient index");
    if (d.session[r] < 1) throw std::invalid_argument("fit_dsem: session numbers start at 1");
    if (d.therapist[r] < 0) throw std::invalid_argument("fit_dsem: negative therapist index");
    if (!d.therapist_labels.empty() && static_cast<std::size_t>(d.therapist[r]) >= d.therapist_labels.size())
      throw std::invalid_argument("fit_dsem: therapist index without a label");
    rows_of[d.patient[r]].push_back(r);
  }
  Series s;
  std::map<int, int> therapist_dense;  // therapist index -> used (filled below, renumbered in index order)
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // (first row position, last) per used patient
  std::vector<std::vector<std::size_t>*> used;
  for (auto& [patient, rows] : rows_of) {
    std::sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) { return d.session[a] < d.session[b]; });
    for (std::size_t k = 0; k < rows.size(); ++k) {
      if (k > 0 && d.session[rows[k]] == d.session[rows[k - 1]])
        throw std::invalid_argument("fit_dsem: patient " + std::to_string(patient) + " has session " +
                                    std::to_string(d.session[rows[k]]) + " twice");
      if (d.therapist[rows[k]] != d.therapist[rows[0]])
        throw std::invalid_argument("fit_dsem: patient " + std::to_string(patient) + " changes therapist");
    }
    int observed = 0;
    for (std::size_t r : rows) observed += std::isnan(d.distress[r]) ? 0 : 1;
    if (observed < 2) continue;  // no transition: left out (docs/dsem.md)
    used.push_back(&rows);
    therapist_dense[d.therapist[rows[0]]] = 0;
  }
  int h = 0;
  for (auto& [therapist, dense] : therapist_dense) {
    dense = h++;
    if (therapist_fixed && dense > 0) s.therapist_terms.push_back("therapist[" + therapist_label(d, therapist) + "]");
  }
  if (!therapist_fixed || h < 2) s.therapist_terms.clear();

  s.begin.push_back(0);
  for (const auto* rows_ptr : used) {
    const auto& rows = *rows_ptr;
    std::size_t lo = 0, hi = rows.size() - 1;
    while (std::isnan(d.distress[rows[lo]])) ++lo;
    while (std::isnan(d.distress[rows[hi]])) --hi;
    const int f = d.session[rows[lo]], l = d.session[rows[hi]];
    const std::size_t base = s.distress.size();
    const auto len = static_cast<std::size_t>(l - f + 1);
    s.distress.resize(base + len, kNaN);
    s.rupture.resize(base + len, 0.0);
    s.repair.resize(base + len, 0.0);
    for (std::size_t k = lo; k <= hi; ++k) {
      const std::size_t pos = base + static_cast<std::size_t>(d.session[rows[k]] - f);
      s.distress[pos] = d.distress[rows[k]];
      if (!std::isnan(d.rupture[rows[k]])) s.rupture[pos] = d.rupture[rows[k]];
      if (!std::isnan(d.repair[rows[k]])) s.repair[pos] = d.repair[rows[k]];
    }
    for (std::size_t pos = base; pos < base + len; ++pos) {
      if (std::isnan(s.distress[pos])) s.missing.push_back(pos);
      else ++s.observed;
    }
    s.first_session.push_back(f);
    s.group.push_back(therapist_fixed ? therapist_dense[d.therapist[rows[0]]] : 0);
    s.begin.push_back(s.distress.size());
    ++s.patients;
  }
  if (s.therapist_terms.empty()) std::fill(s.group.begin(), s.group.end(), 0);
  return s;
}

// Inverse gamma draw with the given shape and scale: scale / Gamma(shape, 1).
double draw_inverse_gamma(Engine& eng, double shape, double scale) {
  return scale / boost::random::gamma_distribution<double>(shape, 1.0)(eng);
}

// In-place Cholesky factor (lower triangle) of the symmetric positive definite q x q matrix `a`
// (row-major); false if it is not positive definite.
bool cholesky(std::vector<double>& a, int q) {
  for (int j = 0; j < q; ++j) {
    double diag = a[static_cast<std::size_t>(j * q + j)];
    for (int k = 0; k < j; ++k) diag -= a[static_cast<std::size_t>(j * q + k)] * a[static_cast<std::size_t>(j * q + k)];
    if (!(diag > 0)) return false;
    const double ljj = std::sqrt(diag);
    a[static_cast<std::size_t>(j * q + j)] = ljj;
    for (int i = j + 1; i < q; ++i) {
      double v = a[static_cast<std::size_t>(i * q + j)];
      for (int k = 0; k < j; ++k) v -= a[static_cast<std::size_t>(i * q + k)] * a[static_cast<std::size_t>(j * q + k)];
      a[static_cast<std::size_t>(i * q + j)] = v / ljj;
    }
  }
  return true;
}

// Autocorrelation-based effective sample size of `chains` chains of `n` draws each, stored chain
// after chain in x (Geyer's initial positive, monotone sequence over the multi-chain
// autocorrelation estimate of BDA3 section 11.5). Lags are computed only as far as needed.
double effective_size(const std::vector<double>& x, int chains, std::size_t n) {
  if (n < 4) return kNaN;
  std::vector<double> mean(static_cast<std::size_t>(chains), 0.0);
  for (int c = 0; c < chains; ++c) {
    const double* v = x.data() + static_cast<std::size_t>(c) * n;
    mean[static_cast<std::size_t>(c)] = std::accumulate(v, v + n, 0.0) / static_cast<double>(n);
  }
  const auto dn = static_cast<double>(n);
  auto acov = [&](std::size_t lag) {  // chains' average autocovariance at `lag` (1/n normalised)
    double total = 0;
    for (int c = 0; c < chains; ++c) {
      const double* v = x.data() + static_cast<std::size_t>(c) * n;
      const double m = mean[static_cast<std::size_t>(c)];
      double s = 0;
      for (std::size_t j = 0; j + lag < n; ++j) s += (v[j] - m) * (v[j + lag] - m);
      total += s / dn;
    }
    return total / chains;
  };
  const double within = acov(0) * dn / (dn - 1);  // W
  double between = 0;                             // B / n
  if (chains > 1) {
    const double grand = std::accumulate(mean.begin(), mean.end(), 0.0) / chains;
    for (double m : mean) between += (m - grand) * (m - grand);
    between /= (chains - 1);
  }
  const double var_plus = within * (dn - 1) / dn + between;
  if (!(var_plus > 0) || !std::isfinite(var_plus)) return kNaN;
  auto rho = [&](std::size_t lag) { return 1.0 - (within - acov(lag)) / var_plus; };
  double tau = -1.0, previous_pair = std::numeric_limits<double>::infinity();
  for (std::size_t lag = 0; lag + 1 < n; lag += 2) {
    double pair = (lag == 0 ? 1.0 : rho(lag)) + rho(lag + 1);
    if (!(pair > 0)) break;
    pair = std::min(pair, previous_pair);
    tau += 2 * pair;
    previous_pair = pair;
  }
  const double total = dn * chains;
  tau = std::max(tau, 1.0 / std::log10(total));
  return total / tau;
}

// Classic split-chain R̂ (BDA3 section 11.4): the chains' halves as separate chains.
double split_rhat(const std::vector<double>& draws, int chains, std::size_t n) {
  const std::size_t half = n / 2;
  if (half < 2) return kNaN;
  const int m = 2 * chains;
  double within = 0, grand = 0;
  std::vector<double> means(static_cast<std::size_t>(m));
  for (int c = 0; c < chains; ++c)
    for (int part = 0; part < 2; ++part) {
      const double* v = draws.data() + static_cast<std::size_t>(c) * n + (part == 0 ? 0 : n - half);
      const double mean = std::accumulate(v, v + half, 0.0) / static_cast<double>(half);
      double ss = 0;
      for (std::size_t j = 0; j < half; ++j) ss += (v[j] - mean) * (v[j] - mean);
      within += ss / static_cast<double>(half - 1);
      means[static_cast<std::size_t>(2 * c + part)] = mean;
      grand += mean;
    }
  within /= m;
  grand /= m;
  double between = 0;  // B / n
  for (double mean : means) between += (mean - grand) * (mean - grand);
  between /= (m - 1);
  const auto dh = static_cast<double>(half);
  if (!(within > 0)) return kNaN;
  return std::sqrt(((dh - 1) / dh * within + between) / within);
}

// Bulk ESS (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021, Bayesian Analysis 16:667): the
// ESS of the rank-normalised draws (average ranks for ties, z = Φ⁻¹((r − 3/8)/(S + 1/4))) over
// the split chains.
double bulk_ess(const std::vector<double>& draws, int chains, std::size_t n) {
  const std::size_t half = n / 2, total = draws.size();
  std::vector<std::size_t> order(total);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return draws[a] < draws[b]; });
  std::vector<double> z(total);
  const auto dt = static_cast<double>(total);
  for (std::size_t i = 0; i < total;) {
    std::size_t j = i;
    while (j + 1 < total && draws[order[j + 1]] == draws[order[i]]) ++j;
    const double rank = 0.5 * static_cast<double>(i + j) + 1.0;
    const double value = normal_quantile((rank - 0.375) / (dt + 0.25));
    for (std::size_t k = i; k <= j; ++k) z[order[k]] = value;
    i = j + 1;
  }
  // Halves of each chain, chain after chain.
  std::vector<double> split(2 * half * static_cast<std::size_t>(chains));
  for (int c = 0; c < chains; ++c) {
    const double* v = z.data() + static_cast<std::size_t>(c) * n;
    std::copy(v, v + half, split.begin() + static_cast<std::ptrdiff_t>(2 * half * static_cast<std::size_t>(c)));
    std::copy(v + n - half, v + n, split.begin() + static_cast<std::ptrdiff_t>((2 * c + 1) * half));
  }
  return effective_size(split, 2 * chains, half);
}

// R's quantile type 7 of sorted values.
double quantile7(const std::vector<double>& sorted, double prob) {
  const double h = (static_cast<double>(sorted.size()) - 1) * prob;
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace

DsemStart dsem_start_from_lagged(const ModelFit& lagged) {
  DsemStart start;
  auto coefficient = [&](const std::string& name) {
    for (const auto& c : lagged.coefficients)
      if (c.name == name) return c.estimate;
    return kNaN;
  };
  const double phi_raw = coefficient("distress");
  const double phi = std::isnan(phi_raw) ? 0.0 : std::clamp(phi_raw, -0.9, 0.9);
  const double one_minus = 1.0 - phi;
  auto value_or = [](double v, double fallback) { return std::isfinite(v) ? v : fallback; };
  start.distress = phi;
  start.rupture = value_or(coefficient("rupture"), 0.0);
  start.repair = value_or(coefficient("repair"), 0.0);
  start.session = value_or(coefficient("session") / one_minus, 0.0);
  start.intercept = value_or((coefficient("(Intercept)") - phi * start.session) / one_minus, 0.0);
  for (const auto& c : lagged.coefficients)
    if (c.name.rfind("therapist[", 0) == 0) start.therapist.push_back(value_or(c.estimate / one_minus, 0.0));
  if (std::isfinite(lagged.sigma2) && lagged.sigma2 > 0) start.sigma2 = start.sigma1_2 = lagged.sigma2;
  const double tau2 = lagged.tau2 / (one_minus * one_minus);
  if (std::isfinite(tau2) && tau2 > 0) start.tau2 = tau2;
  return start;
}

std::vector<std::string> dsem_terms(const DsemData& data, const DsemOptions& options) {
  std::vector<std::string> names = {"(Intercept)", "rupture", "repair", "distress"};
  if (options.session) names.emplace_back("session");
  const Series s = organise(data, options.therapist_fixed);
  names.insert(names.end(), s.therapist_terms.begin(), s.therapist_terms.end());
  return names;
}

namespace {

// One fit's blocked Gibbs sampler: the reorganised data, the state of one chain, the workspaces
// (allocated once, so nothing inside the iteration loop allocates) and the kept draws. The blocks of
// one iteration are the methods impute_missing, draw_regression_block, draw_phi, draw_variances.
class DsemSampler {
 public:
  DsemSampler(const Series& s, const DsemStart& start, const DsemOptions& options, Engine& engine)
      : s_(s),
        start_(start),
        options_(options),
        engine_(engine),
        session_(options.session),
        terms_h_(static_cast<int>(s.therapist_terms.size())),
        q_(3 + (session_ ? 1 : 0) + terms_h_),
        k_s_(session_ ? 3 : -1),
        k_t_(3 + (session_ ? 1 : 0)),
        n_terms_(q_ + 1),
        n_par_(n_terms_ + 3),
        N_(s.patients),
        kept_(static_cast<std::size_t>(options.iterations - options.iterations / 2)),
        burn_(options.iterations / 2),
        D_(s.distress.size()),
        mu_(static_cast<std::size_t>(N_)),
        theta_(static_cast<std::size_t>(q_)),
        Q_(static_cast<std::size_t>(q_ * q_)),
        lin_(static_cast<std::size_t>(q_)),
        work_(static_cast<std::size_t>(q_)),
        x_(static_cast<std::size_t>(q_)),
        s_mm_(static_cast<std::size_t>(N_)),
        s_mz_(static_cast<std::size_t>(N_)),
        s_mx_(static_cast<std::size_t>(N_ * q_)),
        s_xx_(static_cast<std::size_t>(q_ * q_)),
        s_xz_(static_cast<std::size_t>(q_)),
        draws_(static_cast<std::size_t>(n_par_),
               std::vector<double>(kept_ * static_cast<std::size_t>(options.chains))) {}

  // Runs every chain; false on a numerical failure (a block that is not positive definite).
  bool sample() {
    for (int chain = 0; chain < options_.chains; ++chain) {
      dispersed_start();
      for (int iter = 0; iter < options_.iterations; ++iter) {
        impute_missing();
        if (!draw_regression_block()) return false;
        draw_phi();
        draw_variances();
        if (iter >= burn_) store(static_cast<std::size_t>(chain) * kept_ + static_cast<std::size_t>(iter - burn_));
      }
    }
    return true;
  }

  // Posterior summaries into `out` (allocation is fine from here on).
  void summarize(const std::vector<std::string>& names, bool failed, DsemFit& out) const;

 private:
  std::size_t at(int i, int j) const { return static_cast<std::size_t>(i * q_ + j); }
  double& theta(int j) { return theta_[static_cast<std::size_t>(j)]; }
  double beta_s() const { return session_ ? theta_[static_cast<std::size_t>(k_s_)] : 0.0; }
  // The reported parameter of θ's entry j: the terms are θ with φ inserted after β_P.
  static int term_of_theta(int j) { return j < 3 ? j : j + 1; }

  // A chain's start: the given values dispersed (DsemOptions::start_dispersion); missing distress
  // on the line between its observed neighbours; μ_i at the patient's mean observed distress net
  // of the session trend.
  void dispersed_start() {
    const double d = options_.start_dispersion;
    auto u = [&] { return 2.0 * draw_uniform(engine_) - 1.0; };
    const double scale = std::sqrt(start_.sigma2);
    theta(0) = start_.intercept + d * u() * scale;
    theta(1) = start_.rupture + d * u() * scale;
    theta(2) = start_.repair + d * u() * scale;
    phi_ = start_.distress + d * u() * 0.5;
    if (session_) theta(k_s_) = start_.session + d * u() * scale;
    for (int h = 0; h < terms_h_; ++h) {
      const double b =
          static_cast<std::size_t>(h) < start_.therapist.size() ? start_.therapist[static_cast<std::size_t>(h)] : 0.0;
      theta(k_t_ + h) = b + d * u() * scale;
    }
    sigma2_ = start_.sigma2 * std::exp(d * u());
    sigma1_2_ = start_.sigma1_2 * std::exp(d * u());
    tau2_ = start_.tau2 * std::exp(d * u());
    const double beta_s0 = beta_s();
    for (int i = 0; i < N_; ++i) {
      const std::size_t b = s_.begin[static_cast<std::size_t>(i)], e = s_.begin[static_cast<std::size_t>(i) + 1];
      double sum = 0;
      int count = 0;
      std::size_t last = b;
      for (std::size_t pos = b; pos < e; ++pos) {
        D_[pos] = s_.distress[pos];
        if (std::isnan(D_[pos])) continue;
        for (std::size_t gap = last + 1; gap < pos; ++gap)
          D_[gap] = D_[last] + (D_[pos] - D_[last]) * static_cast<double>(gap - last) / static_cast<double>(pos - last);
        last = pos;
        sum += D_[pos] - beta_s0 * (s_.first_session[static_cast<std::size_t>(i)] + static_cast<double>(pos - b) - 1);
        ++count;
      }
      mu_[static_cast<std::size_t>(i)] = sum / count;
    }
  }

  // Block 1. Missing distress: w_t from its full conditional given w_t−1 and w_t+1, stored as D.
  void impute_missing() {
    const double beta_r = theta_[1], beta_p = theta_[2], bs = beta_s();
    for (std::size_t pos : s_.missing) {
      // The patient of pos, by binary search over the offsets.
      const auto i =
          static_cast<std::size_t>(std::upper_bound(s_.begin.begin(), s_.begin.end(), pos) - s_.begin.begin()) - 1;
      const double t_prev = s_.first_session[i] + static_cast<double>(pos - 1 - s_.begin[i]);  // session of pos − 1
      auto w_at = [&](std::size_t p, double t) { return D_[p] - mu_[i] - bs * (t - 1); };
      const double w_prev = w_at(pos - 1, t_prev), w_next = w_at(pos + 1, t_prev + 2);
      const double eta_prev = beta_r * s_.rupture[pos - 1] + beta_p * s_.repair[pos - 1];
      const double eta_here = beta_r * s_.rupture[pos] + beta_p * s_.repair[pos];
      const double denom = 1 + phi_ * phi_;
      const double mean = (phi_ * w_prev + eta_prev + phi_ * (w_next - eta_here)) / denom;
      const double w = mean + draw_normal(engine_, std::sqrt(sigma2_ / denom));
      D_[pos] = mu_[i] + bs * t_prev + w;
    }
  }

  // Patient i's sufficient statistics for (μ_i, θ), added into Q and lin with μ_i integrated out.
  void accumulate_patient(int i) {
    const auto ui = static_cast<std::size_t>(i);
    double mm = 0, mz = 0;
    double* mx = s_mx_.data() + ui * static_cast<std::size_t>(q_);
    std::fill(mx, mx + q_, 0.0);
    std::fill(s_xx_.begin(), s_xx_.end(), 0.0);
    std::fill(s_xz_.begin(), s_xz_.end(), 0.0);
    // Adds residual z − m·μ_i − x'θ with weight wt (x nonzero only in θ's β entries or the prior row).
    auto add = [&](double z, double m, double wt) {
      mm += wt * m * m;
      mz += wt * m * z;
      for (int a = 0; a < q_; ++a) {
        if (x_[static_cast<std::size_t>(a)] == 0) continue;
        const double wxa = wt * x_[static_cast<std::size_t>(a)];
        mx[a] += wxa * m;
        s_xz_[static_cast<std::size_t>(a)] += wxa * z;
        for (int b = 0; b < q_; ++b) s_xx_[at(a, b)] += wxa * x_[static_cast<std::size_t>(b)];
      }
    };
    const std::size_t b = s_.begin[ui], e = s_.begin[ui + 1];
    const double f = s_.first_session[ui];
    std::fill(x_.begin(), x_.end(), 0.0);
    // Initial state: D_f − μ_i − β_s·(f − 1) ~ N(0, σ1²).
    if (session_) x_[static_cast<std::size_t>(k_s_)] = f - 1;
    add(D_[b], 1.0, 1.0 / sigma1_2_);
    // Transitions t → t+1: D_t+1 − φ·D_t = (1 − φ)·μ_i + β_s·(t − φ·(t − 1)) + β_R·r_t + β_P·p_t + ε.
    for (std::size_t pos = b; pos + 1 < e; ++pos) {
      const double t = f + static_cast<double>(pos - b);
      x_[1] = s_.rupture[pos];
      x_[2] = s_.repair[pos];
      if (session_) x_[static_cast<std::size_t>(k_s_)] = t - phi_ * (t - 1);
      add(D_[pos + 1] - phi_ * D_[pos], 1 - phi_, 1.0 / sigma2_);
    }
    // Prior: μ_i − γ0 − therapist term ~ N(0, τ²).
    std::fill(x_.begin(), x_.end(), 0.0);
    x_[0] = 1;
    const int g = s_.group[ui];
    if (g > 0) x_[static_cast<std::size_t>(k_t_ + g - 1)] = 1;
    add(0.0, -1.0, 1.0 / tau2_);
    s_mm_[ui] = mm;
    s_mz_[ui] = mz;
    for (int a = 0; a < q_; ++a) {
      lin_[static_cast<std::size_t>(a)] += s_xz_[static_cast<std::size_t>(a)] - mx[a] * mz / mm;
      for (int c = 0; c < q_; ++c) Q_[at(a, c)] += s_xx_[at(a, c)] - mx[a] * mx[c] / mm;
    }
  }

  // Block 2. (μ, θ) jointly given φ, the variances and D: μ integrated out for θ, then μ | θ.
  bool draw_regression_block() {
    std::fill(Q_.begin(), Q_.end(), 0.0);
    std::fill(lin_.begin(), lin_.end(), 0.0);
    for (int j = 0; j < q_; ++j) Q_[at(j, j)] = kPriorPrecision;
    for (int i = 0; i < N_; ++i) accumulate_patient(i);
    if (!cholesky(Q_, q_)) return false;
    // θ = Q⁻¹·lin + L'⁻¹·z: forward solve L·y = lin, then back solve L'·θ = y + z.
    for (int a = 0; a < q_; ++a) {
      double v = lin_[static_cast<std::size_t>(a)];
      for (int c = 0; c < a; ++c) v -= Q_[at(a, c)] * work_[static_cast<std::size_t>(c)];
      work_[static_cast<std::size_t>(a)] = v / Q_[at(a, a)];
    }
    for (int a = 0; a < q_; ++a) work_[static_cast<std::size_t>(a)] += draw_normal(engine_, 1.0);
    for (int a = q_ - 1; a >= 0; --a) {
      double v = work_[static_cast<std::size_t>(a)];
      for (int c = a + 1; c < q_; ++c) v -= Q_[at(c, a)] * theta_[static_cast<std::size_t>(c)];
      theta(a) = v / Q_[at(a, a)];
    }
    for (int i = 0; i < N_; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      const double* mx = s_mx_.data() + ui * static_cast<std::size_t>(q_);
      double mean = s_mz_[ui];
      for (int a = 0; a < q_; ++a) mean -= mx[a] * theta_[static_cast<std::size_t>(a)];
      mean /= s_mm_[ui];
      mu_[ui] = mean + draw_normal(engine_, 1.0 / std::sqrt(s_mm_[ui]));
    }
    return true;
  }

  // Calls f(i, pos, w_now, w_next) for every transition of every patient, w the dynamic part.
  template <class F>
  void for_each_transition(F&& f, double bs) const {
    for (int i = 0; i < N_; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      const std::size_t b = s_.begin[ui], e = s_.begin[ui + 1];
      const double first = s_.first_session[ui];
      double w_now = D_[b] - mu_[ui] - bs * (first - 1);
      f(ui, b, w_now, kNaN);  // the initial state (w_next NaN)
      for (std::size_t pos = b; pos + 1 < e; ++pos) {
        const double t_next = first + static_cast<double>(pos + 1 - b);
        const double w_next = D_[pos + 1] - mu_[ui] - bs * (t_next - 1);
        f(ui, pos, w_now, w_next);
        w_now = w_next;
      }
    }
  }

  // Block 3. φ given the rest: a regression of w_t+1 − β_R·r_t − β_P·p_t on w_t.
  void draw_phi() {
    const double br = theta_[1], bp = theta_[2];
    double sxx = 0, sxy = 0;
    for_each_transition(
        [&](std::size_t, std::size_t pos, double w_now, double w_next) {
          if (std::isnan(w_next)) return;
          const double y = w_next - br * s_.rupture[pos] - bp * s_.repair[pos];
          sxx += w_now * w_now;
          sxy += w_now * y;
        },
        beta_s());
    const double precision = sxx / sigma2_ + kPriorPrecision;
    phi_ = sxy / sigma2_ / precision + draw_normal(engine_, 1.0 / std::sqrt(precision));
  }

  // Block 4. The variances given the rest.
  void draw_variances() {
    const double br = theta_[1], bp = theta_[2];
    double ss_eps = 0, ss_first = 0, ss_mu = 0;
    std::size_t n_eps = 0;
    for_each_transition(
        [&](std::size_t ui, std::size_t pos, double w_now, double w_next) {
          if (std::isnan(w_next)) {
            ss_first += w_now * w_now;
            return;
          }
          const double r = w_next - phi_ * w_now - br * s_.rupture[pos] - bp * s_.repair[pos];
          ss_eps += r * r;
          ++n_eps;
          (void)ui;
        },
        beta_s());
    for (int i = 0; i < N_; ++i) {
      const auto ui = static_cast<std::size_t>(i);
      const int g = s_.group[ui];
      const double r = mu_[ui] - theta_[0] - (g > 0 ? theta_[static_cast<std::size_t>(k_t_ + g - 1)] : 0.0);
      ss_mu += r * r;
    }
    sigma2_ = draw_inverse_gamma(engine_, kPriorShape + 0.5 * static_cast<double>(n_eps), kPriorScale + 0.5 * ss_eps);
    sigma1_2_ = draw_inverse_gamma(engine_, kPriorShape + 0.5 * N_, kPriorScale + 0.5 * ss_first);
    tau2_ = draw_inverse_gamma(engine_, kPriorShape + 0.5 * N_, kPriorScale + 0.5 * ss_mu);
  }

  void store(std::size_t j) {
    for (int a = 0; a < q_; ++a)
      draws_[static_cast<std::size_t>(term_of_theta(a))][j] = theta_[static_cast<std::size_t>(a)];
    draws_[3][j] = phi_;
    draws_[static_cast<std::size_t>(n_terms_)][j] = sigma2_;
    draws_[static_cast<std::size_t>(n_terms_ + 1)][j] = sigma1_2_;
    draws_[static_cast<std::size_t>(n_terms_ + 2)][j] = tau2_;
  }

  const Series& s_;
  const DsemStart& start_;
  const DsemOptions& options_;
  Engine& engine_;
  const bool session_;
  const int terms_h_;
  const int q_;        // θ = (γ0, β_R, β_P, [β_s], therapist terms): the regression block, drawn with μ
  const int k_s_;      // index of β_s in θ (-1 without the session term)
  const int k_t_;      // index of the first therapist term in θ
  const int n_terms_;  // reported terms: θ with φ
  const int n_par_;    // the terms, then σ², σ1², τ²
  const int N_;
  const std::size_t kept_;
  const int burn_;
  double phi_ = 0, sigma2_ = 0, sigma1_2_ = 0, tau2_ = 0;
  std::vector<double> D_;  // distress, observed or imputed
  std::vector<double> mu_, theta_, Q_, lin_, work_, x_;
  std::vector<double> s_mm_, s_mz_, s_mx_, s_xx_, s_xz_;
  std::vector<std::vector<double>> draws_;  // draws_[p][chain * kept + j]
};

void DsemSampler::summarize(const std::vector<std::string>& names, bool failed, DsemFit& out) const {
  ModelFit& fit = out.fit;
  std::vector<std::string> par_names = names;
  par_names.insert(par_names.end(), {"sigma2", "sigma1_2", "tau2"});
  const std::size_t total = kept_ * static_cast<std::size_t>(options_.chains);
  for (const auto& v : draws_)
    for (double value : v)
      if (!std::isfinite(value)) failed = true;
  fit.iterations = static_cast<int>(total);
  if (failed) {
    fit.message = "dsem: numerical failure in the sampler (non-finite draws or a non-positive-definite block)";
    for (const auto& name : names) fit.coefficients.push_back({name, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN});
    return;
  }
  const double dt = static_cast<double>(total);
  std::vector<double> mean(static_cast<std::size_t>(n_par_));
  bool converged = true;
  double rhat_max = -std::numeric_limits<double>::infinity(), ess_min = std::numeric_limits<double>::infinity();
  for (int p = 0; p < n_par_; ++p) {
    const auto& v = draws_[static_cast<std::size_t>(p)];
    DsemParameter par;
    par.name = par_names[static_cast<std::size_t>(p)];
    par.mean = std::accumulate(v.begin(), v.end(), 0.0) / dt;
    par.sd = std::sqrt(sample_variance([&](auto&& f) {
      for (double value : v) f(value);
    }));
    std::vector<double> sorted = v;
    std::sort(sorted.begin(), sorted.end());
    par.q_low = quantile7(sorted, options_.alpha / 2);
    par.q_high = quantile7(sorted, 1 - options_.alpha / 2);
    par.rhat = split_rhat(v, options_.chains, kept_);
    par.ess = bulk_ess(v, options_.chains, kept_);
    if (!(par.rhat < 1.1)) converged = false;
    rhat_max = std::isnan(par.rhat) || std::isnan(rhat_max) ? kNaN : std::max(rhat_max, par.rhat);
    ess_min = std::isnan(par.ess) || std::isnan(ess_min) ? kNaN : std::min(ess_min, par.ess);
    mean[static_cast<std::size_t>(p)] = par.mean;
    if (p < n_terms_) {
      std::size_t positive = 0, negative = 0;
      for (double value : v) {
        positive += value > 0 ? 1 : 0;
        negative += value < 0 ? 1 : 0;
      }
      const std::size_t fewer = std::min(positive, negative);
      const double pvalue = fewer == 0 ? 2.0 / (dt + 1) : std::min(1.0, 2.0 * static_cast<double>(fewer) / dt);
      fit.coefficients.push_back({par.name, par.mean, par.sd, kNaN, par.mean / par.sd, pvalue, par.q_low, par.q_high});
    }
    out.diagnostics.parameters.push_back(par);
  }
  out.diagnostics.rhat_max = rhat_max;
  out.diagnostics.ess_min = ess_min;
  fit.diagnostics = {{"rhat", rhat_max}, {"ess", ess_min}};
  out.vcov.resize(n_terms_, n_terms_);
  for (int a = 0; a < n_terms_; ++a)
    for (int b = 0; b <= a; ++b) {
      const auto& va = draws_[static_cast<std::size_t>(a)];
      const auto& vb = draws_[static_cast<std::size_t>(b)];
      double c = 0;
      for (std::size_t j = 0; j < total; ++j)
        c += (va[j] - mean[static_cast<std::size_t>(a)]) * (vb[j] - mean[static_cast<std::size_t>(b)]);
      out.vcov(a, b) = out.vcov(b, a) = c / (dt - 1);
    }
  fit.sigma2 = mean[static_cast<std::size_t>(n_terms_)];
  out.sigma1_2 = mean[static_cast<std::size_t>(n_terms_ + 1)];
  fit.tau2 = mean[static_cast<std::size_t>(n_terms_ + 2)];
  fit.converged = converged;
  if (!converged) fit.message = "dsem: split R-hat >= 1.1 (max " + std::to_string(rhat_max) + ")";
}

}  // namespace

DsemFit fit_dsem(const DsemData& data, const DsemStart& start, const DsemOptions& options, Engine& engine) {
  if (options.chains < 1) throw std::invalid_argument("fit_dsem: chains must be at least 1");
  if (options.iterations < 4) throw std::invalid_argument("fit_dsem: iterations must be at least 4");
  const Series s = organise(data, options.therapist_fixed);
  DsemFit out;
  ModelFit& fit = out.fit;
  std::vector<std::string> names = {"(Intercept)", "rupture", "repair", "distress"};
  if (options.session) names.emplace_back("session");
  names.insert(names.end(), s.therapist_terms.begin(), s.therapist_terms.end());
  out.observations = s.observed;
  out.groups = s.patients;
  if (s.patients == 0) {
    fit.message = "no usable rows";
    for (const auto& name : names) fit.coefficients.push_back({name, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN});
    return out;
  }
  DsemSampler sampler(s, start, options, engine);
  const bool ok = sampler.sample();
  sampler.summarize(names, !ok, out);
  return out;
}

}  // namespace collabzium
