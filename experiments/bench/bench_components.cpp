// Where the time of one replication goes (issue 8): the seed scenario, one thread, each component
// timed separately over the same replications. Also scaling with patients and sessions.
//
//   build/collabzium_bench components CONFIG REPLICATIONS
//   build/collabzium_bench scaling CONFIG REPLICATIONS
// Prints CSV on stdout.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "collabzium/analysis/analysis.h"
#include "collabzium/model/scenario.h"
#include "collabzium/model/simulator.h"
#include "collabzium/study/record.h"

using namespace collabzium;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Timings {
  double simulate = 0, detect = 0, build = 0, record = 0;
  std::vector<std::pair<std::string, double>> fits;  // model.rater -> seconds
  double total = 0;
};

Timings time_components(const Scenario& s, std::uint64_t seed, int replications) {
  Timings t;
  Cohort cohort;
  const RecordLayout layout = make_layout({s});
  std::vector<double> row(layout.columns.size());
  LmmOptions opt;
  opt.reml = s.analysis.reml;
  const auto start = Clock::now();
  for (int r = 1; r <= replications; ++r) {
    auto t0 = Clock::now();
    simulate_cohort(s, seed, 1, r, cohort);
    t.simulate += seconds_since(t0);

    t0 = Clock::now();
    CohortAnalysis a;
    for (RaterId q : {RaterId::Patient, RaterId::Therapist}) {
      detect_events(cohort, q, s.detection, s.detection.threshold(), a.events[static_cast<int>(q)]);
      a.detection[static_cast<int>(q)] = score_detection(cohort, a.events[static_cast<int>(q)], s.detection);
    }
    a.kappa = cohens_kappa(cohort, a.events[0], a.events[1]);
    t.detect += seconds_since(t0);

    std::size_t k = 0;
    auto fit = [&](ModelKind model, RaterId rater, const RaterEvents* ev) {
      auto t1 = Clock::now();
      LmmProblem p = build_model(model, cohort, rater, ev, s);
      t.build += seconds_since(t1);
      t1 = Clock::now();
      ModelResult m{
          .model = model, .rater = rater, .fit = fit_lmm(p, opt), .rows = static_cast<int>(p.y.size()), .skipped = {}};
      const double dt = seconds_since(t1);
      if (t.fits.size() <= k) t.fits.emplace_back(std::string(name(model)) + "." + std::string(name(rater)), 0.0);
      t.fits[k++].second += dt;
      a.models.push_back(std::move(m));
    };
    for (const Fit& f : fits_of(s.analysis))
      fit(f.model, f.rater, f.rater == RaterId::Truth ? nullptr : &a.events[index_of(f.rater)]);

    t0 = Clock::now();
    fill_record(layout, 0, s, cohort, a, row.data());
    t.record += seconds_since(t0);
  }
  t.total = seconds_since(start);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s components|scaling CONFIG REPLICATIONS\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  const ScenarioFile file = load_scenario(argv[2]);
  const int R = std::atoi(argv[3]);
  const Scenario& s = file.base;
  const auto seed = static_cast<std::uint64_t>(s.run.seed);
  if (mode == "components") {
    const Timings t = time_components(s, seed, R);
    std::printf("component,ms_per_replication,share\n");
    auto line = [&](const std::string& name, double secs) {
      std::printf("%s,%.4f,%.3f\n", name.c_str(), 1000 * secs / R, secs / t.total);
    };
    line("simulate", t.simulate);
    line("detect (both raters; accuracy; kappa)", t.detect);
    line("build model matrices", t.build);
    for (const auto& [name, secs] : t.fits) line("fit " + name, secs);
    line("record", t.record);
    line("total", t.total);
  } else {
    std::printf("patients,sessions,rows_per_replication,ms_per_replication\n");
    for (int patients : {30, 100, 300, 1000, 3000}) {
      Scenario v = s;
      v.design.patients = patients;
      v.design.therapists = std::max<std::int64_t>(6, patients / 20);
      Cohort c;
      simulate_cohort(v, seed, 1, 1, c);
      const int reps = std::max(2, R * 119 / patients);
      const Timings t = time_components(v, seed, reps);
      std::printf("%d,%g,%zu,%.4f\n", patients, v.design.sessions.mean, c.rows(), 1000 * t.total / reps);
    }
    for (int sessions : {8, 15, 30, 60}) {
      Scenario v = s;
      v.design.sessions = {SessionDistribution::Fixed, static_cast<double>(sessions), 1, 1000};
      Cohort c;
      simulate_cohort(v, seed, 1, 1, c);
      const int reps = std::max(2, R * 16 / sessions);
      const Timings t = time_components(v, seed, reps);
      std::printf("%lld,%d,%zu,%.4f\n", static_cast<long long>(v.design.patients), sessions, c.rows(),
                  1000 * t.total / reps);
    }
  }
  return 0;
}
