// Where the time of one replication goes (issue 8): the seed scenario, one thread, each component
// timed separately over the same replications. Also scaling with patients and sessions.
//
//   build/collabzium_bench components CONFIG REPLICATIONS
//   build/collabzium_bench scaling CONFIG REPLICATIONS
//   build/collabzium_bench floor CONFIG REPLICATIONS   (issue 17: ns per normal draw, flops per fit)
//   build/collabzium_bench dsem CONFIG REPLICATIONS    (one "dsem" fit per rater at the config's size)
// Prints CSV on stdout.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include <algorithm>
#include <map>

#include "collabzium/analysis/analysis.h"
#include "collabzium/model/random.h"
#include "collabzium/config/scenario.h"
#include "collabzium/model/simulator.h"
#include "collabzium/study/record.h"

using namespace collabzium;
// The thread's CPU time, not wall time: on a shared machine other processes' time slices do not
// count against a component (cache and core sharing still do).
struct Clock {
  using time_point = double;
  static double now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
};

namespace {

double seconds_since(Clock::time_point t0) { return Clock::now() - t0; }

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
      ModelResult m{.model = model,
                    .rater = rater,
                    .fit = to_model_fit(fit_lmm(p, opt)),
                    .rows = static_cast<int>(p.y.size()),
                    .skipped = {}};
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

// Floating-point operations of one random-intercept fit as fit_lmm does it (the floor of a fit: its
// arithmetic at the machine's peak), from the sizes of the problem: n rows, p fixed effects, G
// patients, K distinct patient sizes, E criterion evaluations. QR of X, two QR solves and residual
// updates (OLS with one refinement step), the lower triangle of W'W (p + 1 columns), the per-patient
// sums and their pooled outer products, and per evaluation K scaled subtractions of a (p+1)² matrix
// plus a log1p each (counted as 20 flops) and the (p+1)³/3 Cholesky.
double fit_flops(double n, double p, double G, double K, double E) {
  const double p1 = p + 1;
  const double qr = 2 * n * p * p - 2.0 / 3.0 * p * p * p;
  const double solves = 2 * (4 * n * p + p * p) + 2 * 2 * n * p;
  const double gram = n * p1 * (p1 + 1);
  const double sums = n * p1 + 2 * G * p1 * p1;
  const double evals = E * (K * (2 * p1 * p1 + 20) + p1 * p1 * p1 / 3);
  return qr + solves + gram + sums + evals;
}

// Seconds per call of f over `n` calls (one warm-up pass of n / 10).
template <class F>
double per_call(long n, F&& f) {
  for (long i = 0; i < n / 10; ++i) f();
  const auto t0 = Clock::now();
  for (long i = 0; i < n; ++i) f();
  return seconds_since(t0) / static_cast<double>(n);
}

// ns per normal draw of the simulator's engine and distribution (draw_normal on mt19937_64), ns per
// engine word, and the measured peak of a multiply-add stream (flops per ns), then per fit of a seed
// replication: its flops and the measured time against flops / peak.
void floor_report(const Scenario& s, std::uint64_t seed, int replications) {
  Engine eng = make_stream(seed, 1, 1, StreamPurpose::Latent);
  volatile double sink = 0;
  const long draws = 20'000'000;
  const double ns_draw = 1e9 * per_call(draws, [&] { sink = sink + draw_normal(eng, 0.6); });
  const double ns_word = 1e9 * per_call(draws, [&] { sink = sink + static_cast<double>(eng() >> 11); });
  // Peak without FMA (the build keeps -ffp-contract=off) on SSE2: one 2-wide multiply and one
  // 2-wide add per cycle, 4 flops per cycle at the clock /proc/cpuinfo reports.
  double mhz = 0;
  if (std::FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[512];
    while (mhz == 0 && std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "cpu MHz : %lf", &mhz) != 1) mhz = 0;
    std::fclose(f);
  }
  const double peak = 4.0 * (mhz > 0 ? mhz : 2000.0) / 1000.0;  // flops per ns
  std::printf("measure,value\n");
  std::printf("ns per normal draw (draw_normal: mt19937_64 + Boost ziggurat),%.2f\n", ns_draw);
  std::printf("ns per engine word (mt19937_64),%.2f\n", ns_word);
  std::printf("peak without FMA: 4 flops per cycle at %.0f MHz (flops per ns),%.2f\n", mhz, peak);

  // Draws per replication: count the engine words by replaying the simulation with a counting hook
  // is not possible from outside, so the normal draws are counted from the cohort: items per rating
  // and distress measurement, one occasion draw per rating, and the latent draws per session.
  Cohort cohort;
  LmmOptions opt;
  opt.reml = s.analysis.reml;
  std::map<std::string, std::pair<double, double>> fits;  // model.rater -> (flops, seconds), summed
  double normal_draws = 0, simulate_seconds = 0;
  for (int r = 1; r <= replications; ++r) {
    auto t0s = Clock::now();
    simulate_cohort(s, seed, 1, r, cohort);
    simulate_seconds += seconds_since(t0s);
    const double rows = static_cast<double>(cohort.rows());
    const auto& pr = s.raters.patient;
    const auto& th = s.raters.therapist;
    const double per_rating = [](const Rater& q) {
      return (q.response == Response::Items ? static_cast<double>(q.items) : 1.0) + (q.occasion_sd > 0 ? 1 : 0);
    }(pr) + [](const Rater& q) {
      return (q.response == Response::Items ? static_cast<double>(q.items) : 1.0) + (q.occasion_sd > 0 ? 1 : 0);
    }(th);
    const double distress = s.distress.response == Response::Items ? static_cast<double>(s.distress.items) : 1.0;
    normal_draws += rows * (per_rating + distress + 2);  // + alliance and distress innovations
    CohortAnalysis a;
    for (RaterId q : kObservers) detect_events(cohort, q, s.detection, s.detection.threshold(), a.events[index_of(q)]);
    for (const Fit& f : fits_of(s.analysis)) {
      const LmmProblem p =
          build_model(f.model, cohort, f.rater, f.rater == RaterId::Truth ? nullptr : &a.events[index_of(f.rater)], s);
      const auto t1 = Clock::now();
      const LmmFit fit = fit_lmm(p, opt);
      const double dt = seconds_since(t1);
      std::map<int, int> sizes;
      for (int g : p.group) ++sizes[g];
      std::vector<int> distinct;
      for (const auto& [g, k] : sizes) distinct.push_back(k);
      std::sort(distinct.begin(), distinct.end());
      const double K = static_cast<double>(std::unique(distinct.begin(), distinct.end()) - distinct.begin());
      auto& [flops, secs] = fits[std::string(name(f.model)) + "." + std::string(name(f.rater))];
      flops += fit_flops(static_cast<double>(p.y.size()), fit.rank, fit.groups, K, fit.iterations);
      secs += dt;
    }
  }
  const double R = replications;
  const double sim_floor_ms = normal_draws / R * ns_draw * 1e-6;
  std::printf("normal draws per replication (counted from the cohort),%.0f\n", normal_draws / R);
  std::printf("simulate: floor (draws x ns per draw) ms,%.4f\n", sim_floor_ms);
  std::printf("simulate: measured ms,%.4f\n", 1000 * simulate_seconds / R);
  std::printf("simulate: measured / floor,%.2f\n", 1000 * simulate_seconds / R / sim_floor_ms);
  double total_floor = sim_floor_ms, total_measured = 1000 * simulate_seconds / R;
  for (const auto& [name, v] : fits) {
    const double floor_ms = v.first / R / peak * 1e-6, ms = 1000 * v.second / R;
    std::printf("fit %s: flops,%.0f\n", name.c_str(), v.first / R);
    std::printf("fit %s: floor ms (flops / peak),%.4f\n", name.c_str(), floor_ms);
    std::printf("fit %s: measured ms,%.4f\n", name.c_str(), ms);
    std::printf("fit %s: measured / floor,%.2f\n", name.c_str(), ms / floor_ms);
    total_floor += floor_ms;
    total_measured += ms;
  }
  std::printf("simulate + fits: floor ms,%.4f\n", total_floor);
  std::printf("simulate + fits: measured ms,%.4f\n", total_measured);
}

// One "dsem" fit per rater: the analysis with "lagged" and "dsem" minus the same analysis with
// "lagged" alone (the sampler starts from the lagged fit, which is timed in the second pass).
void dsem_report(Scenario s, std::uint64_t seed, int replications) {
  Scenario lagged_only = s;
  s.analysis.models = {ModelKind::Lagged, ModelKind::Dsem};
  lagged_only.analysis.models = {ModelKind::Lagged};
  Cohort cohort;
  double with_dsem = 0, without = 0, rows = 0;
  int fits = 0;
  for (int r = 1; r <= replications; ++r) {
    simulate_cohort(s, seed, 1, r, cohort);
    const ReplicationId id{seed, 1, static_cast<std::uint64_t>(r)};
    auto t0 = Clock::now();
    const CohortAnalysis a = analyze_cohort(cohort, s, id);
    with_dsem += seconds_since(t0);
    t0 = Clock::now();
    const CohortAnalysis b = analyze_cohort(cohort, lagged_only, id);
    without += seconds_since(t0);
    for (const auto& m : a.models)
      if (m.model == ModelKind::Dsem) {
        ++fits;
        rows += m.rows;
      }
  }
  std::printf("measure,value\n");
  std::printf("dsem fits,%d\n", fits);
  std::printf("observed distress values per fit,%.0f\n", rows / std::max(fits, 1));
  std::printf("chains x iterations,%lld x %lld\n", static_cast<long long>(s.analysis.dsem.chains),
              static_cast<long long>(s.analysis.dsem.iterations));
  std::printf("seconds per dsem fit,%.4f\n", (with_dsem - without) / std::max(fits, 1));
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
  if (mode == "floor") {
    floor_report(s, seed, R);
    return 0;
  }
  if (mode == "dsem") {
    dsem_report(s, seed, R);
    return 0;
  }
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
    std::printf("patients,sessions,rows_per_replication,ms_per_replication,us_per_row\n");
    for (int patients : {30, 100, 300, 1000, 3000, 10000}) {
      Scenario v = s;
      v.design.patients = patients;
      v.design.therapists = std::max<std::int64_t>(6, patients / 20);
      Cohort c;
      simulate_cohort(v, seed, 1, 1, c);
      const int reps = std::max(2, R * 119 / patients);
      const Timings t = time_components(v, seed, reps);
      std::printf("%d,%g,%zu,%.4f,%.3f\n", patients, v.design.sessions.mean, c.rows(), 1000 * t.total / reps,
                  1e6 * t.total / reps / static_cast<double>(c.rows()));
    }
    for (int sessions : {8, 15, 30, 60}) {
      Scenario v = s;
      v.design.sessions = {SessionDistribution::Fixed, static_cast<double>(sessions), 1, 1000};
      Cohort c;
      simulate_cohort(v, seed, 1, 1, c);
      const int reps = std::max(2, R * 16 / sessions);
      const Timings t = time_components(v, seed, reps);
      std::printf("%lld,%d,%zu,%.4f,%.3f\n", static_cast<long long>(v.design.patients), sessions, c.rows(),
                  1000 * t.total / reps, 1e6 * t.total / reps / static_cast<double>(c.rows()));
    }
  }
  return 0;
}
