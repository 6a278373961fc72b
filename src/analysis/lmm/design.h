#pragma once
// The model frame of a mixed-model fit: the problem's shapes checked, aliased fixed-effect columns
// dropped as lme4 does, patients / therapists numbered densely, and the working response (the OLS
// residual of y). Private to src/analysis/lmm/.
#include <Eigen/Dense>
#include <Eigen/QR>

#include <string>
#include <vector>

#include "collabzium/analysis/lmm/mixed_model.h"

namespace collabzium::lmm {

// Throws std::invalid_argument on inconsistent shapes or negative indices.
void validate(const LmmProblem& problem);

// Controls are programmer input: throws std::invalid_argument when one makes no sense (a limit
// below 1, a negative tolerance, an empty grid).
void validate(const LmmControl& control);

struct FixedEffects {
  std::vector<int> keep;                         // columns of the problem's X kept, in order
  std::vector<std::string> dropped;              // names of the aliased columns dropped
  Eigen::MatrixXd X;                             // the kept columns
  Eigen::HouseholderQR<Eigen::MatrixXd> qr_all;  // unpivoted QR of the problem's whole X
};

// Drops aliased columns as lme4 does (R's LINPACK QR: later columns go).
FixedEffects fixed_effects(const LmmProblem& problem, double rank_tolerance);

struct Grouping {
  std::vector<int> group;   // per row, patients numbered 0..G−1 in order of first appearance
  std::vector<int> parent;  // per numbered patient, its therapist 0..H−1 (empty if none)
  int G = 0, H = 0;
};

Grouping grouping(const LmmProblem& problem);

// The OLS residual e of y on the kept columns (one step of iterative refinement) and the OLS
// coefficients: y − e lies in the column space of X, so r²(θ) and the β̂ shift are unchanged when
// y is replaced by e, and r² stays accurate when the mean of y is large relative to its spread.
void working_response(const LmmProblem& problem, const FixedEffects& fe, Eigen::VectorXd& beta_ols, Eigen::VectorXd& e);

}  // namespace collabzium::lmm
