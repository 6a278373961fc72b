// Minimizers of the profiled criterion. See optimizer.h.
#include "optimizer.h"

#include <nlopt.h>
#include <boost/math/tools/minima.hpp>
#include <nlopt.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace collabzium::lmm {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double nlopt_objective(unsigned, const double* x, double*, void* data) {
  return static_cast<ProfiledCriterion*>(data)->objective(x);
}

// Brent's bracket: the neighbours of the best point of f on the grid {0, 2^e}.
struct Bracket {
  double lo = 0.0, hi = 0.0, best = 0.0;
  bool at_top = false;  // the best grid point is the largest one
};

Bracket grid_bracket(ProfiledCriterion& f, const LmmControl& control) {
  std::vector<double> grid{0.0};
  for (int e2 = control.grid_min_exponent; e2 <= control.grid_max_exponent; ++e2) grid.push_back(std::ldexp(1.0, e2));
  std::vector<double> fg(grid.size());
  size_t best = 0;
  for (size_t i = 0; i < grid.size(); ++i) {
    fg[i] = f.objective(&grid[i]);
    if (fg[i] < fg[best]) best = i;
  }
  Bracket b;
  b.best = grid[best];
  b.lo = best == 0 ? 0.0 : grid[best - 1];
  b.at_top = best + 1 == grid.size();
  b.hi = b.at_top ? grid[best] * control.grid_overflow_factor : grid[best + 1];
  return b;
}

// Newton steps on f' from Brent's θ, each kept only inside the bracket and when it lowers |f'|.
double newton_polish(ProfiledCriterion& f, const LmmControl& control, const Bracket& b, double th, int& steps) {
  double d1, d2;
  for (int it = 0; it < control.newton_max_steps && f.newton_derivatives(th, d1, d2); ++it) {
    if (!(d2 > 0.0)) break;
    const double tn = th - d1 / d2;
    double n1, n2;
    if (!(tn > b.lo && tn < b.hi) || !f.newton_derivatives(tn, n1, n2) || !(std::fabs(n1) < std::fabs(d1))) break;
    const bool tiny = std::fabs(tn - th) <= control.newton_step_tolerance * th;
    th = tn;
    ++steps;
    if (tiny) break;
  }
  return th;
}

std::string nlopt_code(nlopt::result r) { return nlopt_result_to_string(static_cast<nlopt_result>(r)); }

}  // namespace

OptimizerOutcome minimize_scalar(ProfiledCriterion& f, const LmmControl& control) {
  OptimizerOutcome out;
  LmmOptSummary& s = out.summary;
  s.optimizer = "grid+Brent+Newton";
  s.lower_bounds = {0.0};
  const Bracket b = grid_bracket(f, control);
  s.initial = {b.best};
  if (b.at_top) out.messages.push_back("patient variance very large relative to the residual variance");
  auto fd = [&](double th) { return f.objective(&th); };
  std::uintmax_t iters = static_cast<std::uintmax_t>(control.brent_max_iterations);
  const auto r = boost::math::tools::brent_find_minima(fd, b.lo, b.hi, control.brent_bits, iters);
  double th = r.first, fth = r.second;
  s.return_code = "BRENT_CONVERGED";
  if (iters >= static_cast<std::uintmax_t>(control.brent_max_iterations)) {
    out.converged = false;
    s.return_code = "BRENT_MAX_ITERATIONS";
    out.messages.push_back("Brent did not converge in " + std::to_string(control.brent_max_iterations) + " iterations");
  }
  if (th > 0.0) {
    th = newton_polish(f, control, b, th, s.newton_steps);
    fth = f.objective(&th);
  }
  // boundary: lme4's bounded optimizer would stop exactly at θ = 0
  const double zero = 0.0;
  const double f0 = f.objective(&zero);
  if (f0 <= fth && th != 0.0) {
    th = 0.0;
    s.snapped = 1;
  }
  out.theta = {th};
  s.final_theta = out.theta;
  s.evaluations = f.evaluations();
  return out;
}

OptimizerOutcome minimize_bobyqa(ProfiledCriterion& f, const LmmControl& control) {
  OptimizerOutcome out;
  LmmOptSummary& s = out.summary;
  s.optimizer = "BOBYQA";
  const int q = f.ntheta();
  // lme4's start: diagonal 1, off-diagonal 0; lower bound 0 on the diagonal
  std::vector<double> lb(q), x(q);
  for (int i = 0; i < q; ++i) {
    lb[i] = f.bounded(i) ? 0.0 : -HUGE_VAL;
    x[i] = f.bounded(i) ? 1.0 : 0.0;
  }
  s.initial = x;
  s.lower_bounds = lb;
  double fx = kInf;
  for (int run = 0; run < control.bobyqa_runs; ++run) {
    nlopt::opt o(nlopt::LN_BOBYQA, static_cast<unsigned>(q));
    o.set_lower_bounds(lb);
    o.set_min_objective(nlopt_objective, &f);
    o.set_xtol_rel(control.bobyqa_xtol_rel);
    o.set_ftol_abs(control.bobyqa_ftol_abs);
    o.set_maxeval(std::max(1, control.max_evaluations - f.evaluations()));
    if (run > 0) {  // the first run takes NLopt's default initial step, as lme4's nloptwrap does
      std::vector<double> step(q);
      for (int i = 0; i < q; ++i)
        step[i] = std::max(control.restart_step_min, control.restart_step_relative * std::fabs(x[i]));
      o.set_initial_step(step);
    }
    std::vector<double> xr = x;
    double fr = kInf;
    nlopt::result res = nlopt::FAILURE;
    ++s.runs;
    try {
      res = o.optimize(xr, fr);
      s.return_code = nlopt_code(res);
    } catch (const nlopt::roundoff_limited&) {
      res = nlopt::SUCCESS;  // best point found is in xr
      s.return_code = nlopt_code(nlopt::ROUNDOFF_LIMITED);
      fr = f.objective(xr.data());
    } catch (const std::exception& ex) {
      s.return_code = "EXCEPTION";
      out.messages.push_back(std::string("NLopt: ") + ex.what());
      out.converged = false;
      break;
    }
    if (res == nlopt::MAXEVAL_REACHED) {
      out.converged = false;
      out.messages.push_back(
          "BOBYQA reached the evaluation limit (max_evaluations = " + std::to_string(control.max_evaluations) + ")");
    }
    if (fr <= fx) {
      fx = fr;
      x = xr;
    }
    if (res == nlopt::MAXEVAL_REACHED) break;
  }
  // snap a diagonal θ near its bound onto it when that does not raise the criterion (beyond the slack)
  for (int i = 0; i < q; ++i) {
    if (!f.bounded(i) || x[i] == 0.0 || x[i] > control.boundary_snap_tolerance) continue;
    std::vector<double> xs = x;
    xs[i] = 0.0;
    const double fs = f.objective(xs.data());
    if (fs <= fx + control.boundary_snap_criterion_slack) {
      x = xs;
      fx = std::min(fx, fs);
      ++s.snapped;
    }
  }
  out.theta = x;
  s.final_theta = x;
  s.evaluations = f.evaluations();
  return out;
}

OptimizerOutcome not_estimable(int ntheta) {
  OptimizerOutcome out;
  out.theta.assign(ntheta, 0.0);
  out.converged = false;
  out.summary.optimizer = "none";
  out.summary.return_code = "NOT_ESTIMABLE";
  out.summary.final_theta = out.theta;
  return out;
}

}  // namespace collabzium::lmm
