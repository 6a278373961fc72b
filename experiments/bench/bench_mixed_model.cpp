// Benchmark of fit_lmm on a seed-sized random-intercept model (issue 4, "Speed"):
// about 1,700 rows, 5 fixed effects ((Intercept), rupture, repair, distress, session), REML with
// Satterthwaite df. Built as the CMake target collabzium_bench_lmm (experiments/bench/run_bench
// builds and runs it):
//
//   cmake --build build --target collabzium_bench_lmm && build/collabzium_bench_lmm /tmp/bench_lmm.csv
//
// It also times the same rows with a nested therapist intercept (BOBYQA, numerical derivatives).
// The optional argument writes the simulated data so lmerTest can be timed on the same rows:
//
//   Rscript -e 'suppressMessages(library(lmerTest)); d <- read.csv("/tmp/bench_lmm.csv");
//     f <- function() summary(lmer(y ~ rupture + repair + distress + session + (1 | patient), d));
//     print(system.time(for (i in 1:20) f())[["elapsed"]] / 20)'
#include "collabzium/analysis/lmm/mixed_model.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

int main(int argc, char** argv) {
  using namespace collabzium;
  std::mt19937_64 rng(20250);
  std::normal_distribution<double> N01;
  std::bernoulli_distribution rupt(0.25), rep(0.6), obs(0.85);
  LmmProblem pr;
  pr.names = {"(Intercept)", "rupture", "repair", "distress", "session"};
  std::vector<std::array<double, 6>> rows;  // patient, rupture, repair, distress, session, y
  const int patients = 185, sessions = 12;
  for (int i = 0; i < patients; ++i) {
    const double b = 0.6 * N01(rng);
    double D = 2.5 + b + 0.5 * N01(rng);
    for (int t = 1; t < sessions; ++t) {
      const double r = rupt(rng), rp = r * rep(rng);
      const double Dn = 1.0 + b + 0.5 * D + 0.4 * r - 0.5 * rp - 0.04 * t + 0.5 * N01(rng);
      if (obs(rng)) rows.push_back({double(i), r, rp, D, double(t), Dn});
      D = Dn;
    }
  }
  const Eigen::Index n = static_cast<Eigen::Index>(rows.size());
  pr.X.resize(n, 5);
  pr.y.resize(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    const auto& r = rows[k];
    pr.X.row(k) << 1.0, r[1], r[2], r[3], r[4];
    pr.y(k) = r[5];
    pr.group.push_back(static_cast<int>(r[0]));
  }
  if (argc > 1) {
    std::ofstream out(argv[1]);
    out << "patient,rupture,repair,distress,session,y\n";
    out.precision(17);
    for (const auto& r : rows)
      out << r[0] << ',' << r[1] << ',' << r[2] << ',' << r[3] << ',' << r[4] << ',' << r[5] << '\n';
  }
  LmmOptions opt;
  LmmFit fit = fit_lmm(pr, opt);
  const int reps = 2000;
  auto t0 = std::chrono::steady_clock::now();
  double sink = 0.0;
  for (int k = 0; k < reps; ++k) sink += fit_lmm(pr, opt).criterion;
  auto t1 = std::chrono::steady_clock::now();
  const double us = std::chrono::duration<double, std::micro>(t1 - t0).count() / reps;
  std::printf("n = %ld rows, %d patients, p = 5, REML + Satterthwaite: %.1f us per fit (%d evaluations)\n",
              static_cast<long>(n), patients, us, fit.iterations);
  std::printf("REMLcrit %.10f sigma2 %.8g tau2 %.8g\n", fit.criterion, fit.sigma2, fit.tau2);
  for (const auto& c : fit.coefficients)
    std::printf("  %-12s %12.8f %11.8f %9.3f %8.3f %.3g\n", c.name.c_str(), c.estimate, c.se, c.df, c.t, c.p);
  // the same rows with a nested therapist intercept (10 patients per therapist): BOBYQA path
  LmmProblem nested = pr;
  for (int i = 0; i < patients; ++i) nested.parent.push_back(i / 10);
  const LmmFit fn = fit_lmm(nested, opt);
  const int reps2 = 100;
  t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < reps2; ++k) sink += fit_lmm(nested, opt).criterion;
  t1 = std::chrono::steady_clock::now();
  std::printf("with a therapist intercept: %.1f us per fit (%d evaluations)\n",
              std::chrono::duration<double, std::micro>(t1 - t0).count() / reps2, fn.iterations);
  return sink == 0.123 ? 1 : 0;
}
