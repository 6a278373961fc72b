#pragma once
// The "dsem" analysis model (docs/model.md 4.1): a Bayesian two-level autoregressive model with latent
// person means (dynamic structural equation modelling; Asparouhov, Hamaker & Muthén 2018, SEM
// 25:359), fitted by blocked Gibbs sampling. A standalone fitter: it takes its own DsemData (one
// entry per row: patient, session, distress, the rater's rupture and repair indicators, therapist)
// and returns the analysis's neutral ModelFit (model_fit.h) inside a DsemFit. docs/dsem.md states the model, the
// priors, the sampler, the diagnostics and every choice made at the edges.
//
//   D_it     = μ_i + β_s·(t − 1) + w_it                      (t the session number)
//   w_i,t+1  = φ·w_it + β_R·rupture_it + β_P·repair_it + ε_i,t+1,   ε ~ N(0, σ²)
//   w_i,f_i  ~ N(0, σ1²)                                      (f_i the patient's first observed session)
//   μ_i      ~ N(γ0 [+ therapist term], τ²)
//   φ, β_R, β_P, β_s, γ0, therapist terms ~ N(0, 10²);  σ², σ1², τ² ~ InvGamma(0.01, 0.01)
#include <Eigen/Dense>

#include "collabzium/analysis/model_fit.h"
#include "collabzium/model/random.h"
#include "collabzium/numeric.h"

#include <string>
#include <vector>

namespace collabzium {

// The rows of one analysis, in any order; each row is one session of one patient. All vectors of
// rows have the same length. A session without a row counts as a session with missing distress
// and no events. (patient, session) pairs must be unique.
struct DsemData {
  std::vector<int> patient;      // patient index >= 0 (need not be dense; order of first use is irrelevant)
  std::vector<int> session;      // session number >= 1
  std::vector<double> distress;  // NaN when not observed
  std::vector<double> rupture;   // the rater's rupture indicator at this session; NaN (no rating) counts as 0
  std::vector<double> repair;    // the rater's repair indicator; NaN counts as 0
  std::vector<int> therapist;    // therapist index >= 0; the same on every row of a patient
  // Label of therapist j (term name "therapist[label]", as the REML models name it); empty: j + 1.
  std::vector<std::string> therapist_labels;
};

// Starting values in the DSEM parameterisation; the chains start dispersed around them.
struct DsemStart {
  double intercept = 0;            // γ0
  double rupture = 0, repair = 0;  // β_R, β_P
  double distress = 0;             // φ
  double session = 0;              // β_s (ignored when the session term is off)
  std::vector<double> therapist;   // one per therapist term (therapist = "fixed"); missing entries start at 0
  double sigma2 = 1, sigma1_2 = 1, tau2 = 1;  // σ², σ1², τ² (> 0)
};

// Starting values from the REML "lagged" fit (terms "(Intercept)", "rupture", "repair",
// "distress", "session", therapist terms): D_t+1 = b0 + b_R·r + b_P·p + b_D·D_t + b_s·t + u_i + e
// implies φ = b_D, β_s = b_s/(1 − φ), γ0 = (b0 − φ·β_s)/(1 − φ), τ² = Var(u)/(1 − φ)²,
// σ² = σ1² = residual variance, therapist terms divided by (1 − φ). φ is clamped to [−0.9, 0.9]
// for the conversion (the lagged estimate is biased upwards in short series), and NaN values
// (a failed fit) fall back to the DsemStart defaults.
DsemStart dsem_start_from_lagged(const ModelFit& lagged);

struct DsemOptions {
  int chains = 2;                // analysis.dsem.chains
  int iterations = 2000;         // per chain; the first half (iterations / 2) is discarded as burn-in
  bool session = true;           // analysis.session: the β_s term
  bool therapist_fixed = false;  // analysis.therapist = "fixed": therapist dummies in μ's mean
  double alpha = 0.05;           // credible intervals: equal-tailed 1 − α
  // Chain k starts at: location parameter b + d·u·sqrt(σ²_start) (φ: φ + d·u·0.5), variance
  // v·exp(d·u), with u ~ Uniform(−1, 1) drawn from the engine per parameter and chain.
  double start_dispersion = 0.5;
};

// One sampled parameter's posterior summary and convergence diagnostics (post-burn-in draws of all
// chains pooled).
struct DsemParameter {
  std::string name;                // a term name, or "sigma2", "sigma1_2", "tau2"
  double mean, sd, q_low, q_high;  // q: the α/2 and 1 − α/2 quantiles (R's type 7)
  double rhat;                     // classic split-chain potential scale reduction (BDA3, Gelman et al. 2013, 11.4)
  double ess;                      // bulk effective sample size (rank-normalised split chains; Vehtari et al. 2021)
};

struct DsemDiagnostics {
  std::vector<DsemParameter> parameters;  // the fixed terms in fit order, then sigma2, sigma1_2, tau2
  double rhat_max = kNaN;
  double ess_min = kNaN;
};

struct DsemFit {
  // coefficients: estimate = posterior mean, se = posterior sd, ci = equal-tailed interval,
  // p = 2·min(P(β > 0), P(β < 0)) from the draws (2/(draws + 1) when all draws share a sign),
  // df = NaN, t = estimate/se. sigma2 = σ², tau2 = τ² (posterior means); converged = every
  // parameter's R̂ < 1.1; iterations = post-burn-in draws of all chains; diagnostics "rhat" and
  // "ess" = DsemDiagnostics::rhat_max and ess_min (absent when nothing was sampled).
  ModelFit fit;
  int observations = 0;    // observed distress values used
  int groups = 0;          // patients used
  Eigen::MatrixXd vcov;    // posterior covariance of the terms
  double sigma1_2 = kNaN;  // posterior mean of σ1²
  DsemDiagnostics diagnostics;
};

// Term names of the fit for these data and options, in order: "(Intercept)", "rupture", "repair",
// "distress", ["session"], then "therapist[label]" for every used therapist but the first.
std::vector<std::string> dsem_terms(const DsemData& data, const DsemOptions& options);

// Runs options.chains chains one after the other from `engine` (which the caller seeds from
// (seed, condition, replication, StreamPurpose::Dsem)); deterministic for a given engine state.
// Never throws on numerical trouble (recorded in fit.message, converged false); throws
// std::invalid_argument on inconsistent input (lengths, negative indices, duplicate sessions,
// a therapist changing within a patient, chains < 1, iterations < 4).
DsemFit fit_dsem(const DsemData& data, const DsemStart& start, const DsemOptions& options, Engine& engine);

}  // namespace collabzium
