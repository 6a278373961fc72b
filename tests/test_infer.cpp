// `infer`: prior draws, acceptance from the kept values, recovery of a known scenario, bit-identical
// draws for any thread count and after resuming, and the one-line errors of [infer].
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

#include "cli_runner.h"
#include "collabzium/analysis/analysis.h"
#include "collabzium/io/inference_file.h"
#include "collabzium/config/scenario.h"
#include "collabzium/model/simulator.h"
#include "collabzium/study/infer.h"
#include "collabzium/study/runner.h"

using namespace collabzium;
using namespace collabzium::testing;

namespace {

// The Kolmogorov-Smirnov statistic of a sample against a CDF.
double ks_statistic(std::vector<double> x, const std::function<double(double)>& cdf) {
  std::sort(x.begin(), x.end());
  const double n = static_cast<double>(x.size());
  double d = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double f = cdf(x[i]);
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  return d;
}

const Prior& prior_of(const ScenarioFile& f, const std::string& key) {
  for (const auto& p : f.infer.prior)
    if (p.key == key) return p;
  FAIL("no prior for " << key);
  throw;
}

void infer_quietly(const ScenarioFile& f, InferenceRequest req) {
  std::ostringstream sink;
  req.progress = false;
  try {
    run_inference(f, req, sink);
  } catch (const RunInterrupted&) {
  }
}

double row_value(const std::vector<PosteriorRow>& rows, const std::string& parameter, const std::string& measure,
                 const std::string& value = "") {
  for (const auto& r : rows)
    if (r.parameter == parameter && r.measure == measure && r.value == value) return r.value_num;
  FAIL("no posterior row " << parameter << " " << value << " " << measure);
  throw;
}

std::vector<PosteriorRow> summary_of(const std::string& path) {
  const InferenceFile f = read_inference(path);
  const ScenarioFile file = parse_scenario(f.meta.config, path);
  PosteriorInput in;
  in.infer = &file.infer;
  in.alpha = file.base.run.alpha;
  for (const auto& c : f.columns) in.values[c.name] = f.column(c.name);
  in.done = f.done;
  in.invalid = f.invalid;
  return posterior_summary(in);
}

// A small, fast study: 40 patients of 8 sessions, two findings and two numbers.
const char* kSmall =
    "name = \"small\"\n[design]\npatients = 40\ntherapists = 4\n[design.sessions]\ndistribution = \"fixed\"\n"
    "mean = 8\n[infer]\ndraws = 60\nseed = 5\n"
    "[infer.prior]\n\"rupture.onset_probability\" = { uniform = [0.02, 0.3] }\n"
    "\"distress.effects.rupture_via\" = { choice = [\"latent\", \"patient\", \"therapist\"] }\n"
    "\"design.sessions.min\" = { choice = [3, 20], weights = [3, 1] }\n"
    "[infer.observed]\n\"detection.patient.prevalence\" = { value = 0.5, tolerance = 0.2 }\n"
    "\"detection.therapist.prevalence\" = { value = 0.7, tolerance = 0.2 }\n"
    "\"lagged.patient.rupture\" = \"any\"\n\"lagged.therapist.repair\" = \"null\"\n";

}  // namespace

TEST_CASE("prior draws follow their distributions, within their bounds", "[infer]") {
  const ScenarioFile f = parse_scenario(
      "[infer.prior]\n"
      "\"rupture.onset_probability\" = { uniform = [0.02, 0.3] }\n"
      "\"rupture.depth_mean\" = { log_uniform = [0.1, 2.0] }\n"
      "\"distress.effects.rupture\" = { normal = [1.0, 1.5], bounds = [0.0, 3.0] }\n"
      "\"raters.patient.registration\" = { normal = [0.9, 0.3] }\n"  // truncated to the key's [0, 1]
      "\"distress.effects.repair_via\" = { choice = [\"latent\", \"patient\", \"therapist\"], weights = [1, 2, 7] }\n"
      "[infer.observed]\n\"detection.patient.prevalence\" = { value = 0.5, tolerance = 0.1 }\n",
      "s.toml");
  const std::size_t n = 4000;
  // Kolmogorov-Smirnov critical value at level 0.001 for n = 4000: 1.949 / sqrt(n) = 0.0308.
  const double critical = 1.949 / std::sqrt(static_cast<double>(n));
  for (const char* key :
       {"rupture.onset_probability", "rupture.depth_mean", "distress.effects.rupture", "raters.patient.registration"}) {
    INFO(key);
    const Prior& p = prior_of(f, key);
    std::vector<double> x;
    for (std::size_t k = 0; k < n; ++k) x.push_back(draw_prior(p, 123, k));
    const double lo = p.kind == PriorKind::Normal ? p.lo : p.a, hi = p.kind == PriorKind::Normal ? p.hi : p.b;
    CHECK(*std::min_element(x.begin(), x.end()) >= lo);
    CHECK(*std::max_element(x.begin(), x.end()) <= hi);
    CHECK(ks_statistic(x, [&](double v) { return prior_cdf(p, v); }) < critical);
  }
  // The registration's normal is truncated at the key's range [0, 1]: a quarter of N(0.9, 0.3) is above 1.
  CHECK(prior_of(f, "raters.patient.registration").hi == 1.0);
  // Choice weights 1:2:7: each count within 4 binomial SEs of n * weight.
  const Prior& c = prior_of(f, "distress.effects.repair_via");
  std::vector<double> count(3, 0);
  for (std::size_t k = 0; k < n; ++k) count[static_cast<std::size_t>(draw_prior(c, 123, k))] += 1;
  for (std::size_t v = 0; v < 3; ++v) {
    const double w = c.weights[v] / 10.0;
    CHECK(std::fabs(count[v] - n * w) < 4 * std::sqrt(n * w * (1 - w)));
  }
  // Draw k of a key does not depend on the other keys: the streams are (seed, k, key).
  const ScenarioFile g = parse_scenario(
      "[infer.prior]\n\"rupture.onset_probability\" = { uniform = [0.02, 0.3] }\n"
      "[infer.observed]\n\"detection.patient.prevalence\" = { value = 0.5, tolerance = 0.1 }\n",
      "s.toml");
  for (std::uint64_t k = 0; k < 20; ++k)
    CHECK(draw_prior(g.infer.prior[0], 123, k) == draw_prior(prior_of(f, "rupture.onset_probability"), 123, k));
}

TEST_CASE("every accepted draw meets every condition and every rejected draw fails one", "[infer]") {
  const auto dir = scratch_dir("infer-accept");
  // sessions.min = 50 exceeds sessions.max (40): an inconsistent scenario, counted as invalid.
  std::string text = kSmall;
  text.replace(text.find("[3, 20]"), 7, "[3, 50]");
  const ScenarioFile f = parse_scenario(text, "small.toml");
  infer_quietly(f, {.out = (dir / "a.h5").string(), .threads = 2});
  const InferenceFile file = read_inference((dir / "a.h5").string());
  REQUIRE(file.complete);
  const auto prev_p = file.column("detection.patient.prevalence");
  const auto prev_t = file.column("detection.therapist.prevalence");
  const auto repair_p = file.column("lagged.therapist.repair.p");
  const auto min_index = file.column("design.sessions.min");
  std::size_t accepted = 0, invalid = 0;
  for (std::size_t k = 0; k < file.draws; ++k) {
    INFO("draw " << k);
    REQUIRE(file.done[k] == 1);
    const bool bad = min_index[k] == 1;  // sessions.min = 50
    CHECK(file.invalid[k] == (bad ? 1 : 0));
    if (bad) {
      CHECK(std::isnan(prev_p[k]));
      CHECK(file.accepted[k] == 0);
      ++invalid;
      continue;
    }
    const bool all = std::fabs(prev_p[k] - 0.5) <= 0.2 && std::fabs(prev_t[k] - 0.7) <= 0.2 && repair_p[k] >= 0.05;
    CHECK(file.accepted[k] == (all ? 1 : 0));
    accepted += file.accepted[k];
  }
  CHECK(invalid > 0);
  CHECK(accepted > 0);
  CHECK(accepted + invalid < file.draws);
  const auto rows = summary_of((dir / "a.h5").string());
  CHECK(row_value(rows, "(all)", "accepted") == static_cast<double>(accepted));
  CHECK(row_value(rows, "(all)", "invalid") == static_cast<double>(invalid));
  CHECK(row_value(rows, "(all)", "draws") == 60.0);
  // The file's summary is the one recomputed from the kept draws.
  REQUIRE(file.summary.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(file.summary[i].measure == rows[i].measure);
    CHECK(std::memcmp(&file.summary[i].value_num, &rows[i].value_num, sizeof(double)) == 0);
  }
}

TEST_CASE("recovery: the posterior of a known scenario covers the truth and is narrower than the prior",
          "[infer][statistical]") {
  // Ratings without noise beyond the events, so detected ruptures carry the onsets and the patient's
  // registration; the truth: onset 0.1, patient registration 0.5.
  const std::string world =
      "name = \"recovery\"\n[alliance]\ninnovation_sd = 0.05\n[rupture]\nonset_probability = 0.1\n"
      "[raters.patient]\nregistration = 0.5\nresponse = \"continuous\"\noccasion_sd = 0.0\nfalse_alarm_rate = 0.0\n"
      "item_sd = 0.1\n[raters.therapist]\nresponse = \"continuous\"\noccasion_sd = 0.0\nfalse_alarm_rate = 0.0\n"
      "item_sd = 0.1\n";
  // The "published" study: one cohort of the truth, from a seed the inference never uses.
  const ScenarioFile truth = parse_scenario(world, "recovery.toml");
  Scenario s = truth.base;
  s.analysis.models = {};
  const Cohort cohort = simulate_cohort(s, 424242, 1, 1);
  const CohortAnalysis a = analyze_cohort(cohort, s);
  const double patient = a.detection[0].ruptures, therapist = a.detection[1].ruptures;
  std::ostringstream text;
  text << world << "[infer]\ndraws = 4000\nseed = 11\n[infer.prior]\n"
       << "\"rupture.onset_probability\" = { uniform = [0.02, 0.25] }\n"
       << "\"raters.patient.registration\" = { uniform = [0.05, 1.0] }\n"
       << "[infer.observed]\n\"detection.patient.ruptures\" = { value = " << patient << ", tolerance = 5 }\n"
       << "\"detection.therapist.ruptures\" = { value = " << therapist << ", tolerance = 10 }\n";
  const auto dir = scratch_dir("infer-recovery");
  infer_quietly(parse_scenario(text.str(), "recovery.toml"), {.out = (dir / "r.h5").string(), .threads = 2});
  const auto rows = summary_of((dir / "r.h5").string());
  INFO(text.str());
  CHECK(row_value(rows, "(all)", "accepted") >= 100);
  for (auto [key, value] :
       {std::pair{"rupture.onset_probability", 0.1}, std::pair{"raters.patient.registration", 0.5}}) {
    INFO(key);
    CHECK(row_value(rows, key, "q025") <= value);
    CHECK(row_value(rows, key, "q975") >= value);
    CHECK(row_value(rows, key, "sd_ratio") < 0.6);
  }
}

TEST_CASE("inference is bit-identical for 1 and 2 threads and after an interrupted run is resumed", "[infer]") {
  const auto dir = scratch_dir("infer-determinism");
  const ScenarioFile f = parse_scenario(kSmall, "small.toml");
  infer_quietly(f, {.out = (dir / "one.h5").string(), .threads = 1});
  infer_quietly(f, {.out = (dir / "two.h5").string(), .threads = 2});
  InferenceRequest partial{.out = (dir / "resumed.h5").string(), .threads = 2};
  partial.stop_after = 17;
  infer_quietly(f, partial);
  {
    const InferenceFile cut = read_inference((dir / "resumed.h5").string());
    CHECK_FALSE(cut.complete);
    const auto n = std::count(cut.done.begin(), cut.done.end(), 1);
    CHECK(n >= 17);
    CHECK(n < 60);
    CHECK_FALSE(std::filesystem::exists(dir / "resumed.summary.csv"));
  }
  InferenceRequest resume{.out = (dir / "resumed.h5").string(), .threads = 1};
  resume.resume = true;
  infer_quietly(f, resume);
  const InferenceFile one = read_inference((dir / "one.h5").string());
  for (const char* other : {"two.h5", "resumed.h5"}) {
    INFO(other);
    const InferenceFile b = read_inference((dir / other).string());
    CHECK(b.complete);
    REQUIRE(b.columns.size() == one.columns.size());
    CHECK(b.accepted == one.accepted);
    CHECK(b.invalid == one.invalid);
    for (const auto& c : one.columns) {
      const auto x = one.column(c.name), y = b.column(c.name);
      REQUIRE(x.size() == y.size());
      CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0);
    }
  }
  CHECK(slurp(dir / "one.summary.csv") == slurp(dir / "two.summary.csv"));
  CHECK(slurp(dir / "one.summary.csv") == slurp(dir / "resumed.summary.csv"));
  CHECK(one.meta.config == to_toml(f));
  CHECK(one.meta.seed == 5);
}

TEST_CASE("summarize recomputes the posterior with other tolerances, without simulating", "[infer][cli]") {
  const auto dir = scratch_dir("infer-summarize");
  write_text(dir / "small.toml", kSmall);
  auto r = run_cli("infer small.toml --out s.h5 --threads 2", dir);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("acceptance rate") != std::string::npos);
  CHECK(r.out.find("warning: only") != std::string::npos);  // 60 draws cannot give 200 accepted
  CHECK(std::filesystem::exists(dir / "s.summary.csv"));
  CHECK(slurp(dir / "s.summary.csv").rfind("parameter,value,measure,value_num,mcse\n", 0) == 0);
  r = run_cli("summarize s.h5 --csv same.csv", dir);
  REQUIRE(r.status == 0);
  CHECK(slurp(dir / "same.csv") == slurp(dir / "s.summary.csv"));
  r = run_cli("summarize s.h5 --tolerance detection.patient.prevalence=0.05 --csv tight.csv", dir);
  REQUIRE(r.status == 0);
  const auto wide = summary_of((dir / "s.h5").string());
  // Tightening one tolerance keeps a subset: fewer (or as many) accepted draws.
  const std::string tight = slurp(dir / "tight.csv");
  const auto at = tight.find("(all),,accepted,");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(tight.substr(at + 16)) <= row_value(wide, "(all)", "accepted"));
  r = run_cli("summarize s.h5 --tolerance lagged.patient.rupture=0.1", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "--tolerance: lagged.patient.rupture: is a finding (\"any\"), which has no tolerance\n");
  r = run_cli("summarize s.h5 --tolerance detection.patient.prevalence=-1", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "--tolerance: detection.patient.prevalence: must be a finite number >= 0, got -1\n");
  // An existing inference is continued only with --resume.
  r = run_cli("infer small.toml --out s.h5", dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("already holds the complete results of this study; continue it with --resume") != std::string::npos);
}

TEST_CASE("[infer] is validated like every key, with one-line errors", "[infer][scenario]") {
  const std::string observed =
      "[infer.observed]\n\"detection.patient.prevalence\" = { value = 0.5, tolerance = 0.1 }\n";
  auto prior = [&](const std::string& line) { return error_of("[infer.prior]\n" + line + "\n" + observed); };
  CHECK(prior("\"rupture.onset_probability\" = { uniform = [0.1, 1.3] }") ==
        "s.toml:2: infer.prior.rupture.onset_probability: must be a number in [0.0, 1.0], got 1.3");
  CHECK(prior("\"rupture.onset_probability\" = { uniform = [0.3, 0.1] }") ==
        "s.toml:2: infer.prior.rupture.onset_probability: needs lo < hi, got [0.3, 0.1]");
  CHECK(prior("\"rupture.depth_mean\" = { log_uniform = [-1.0, 1.0] }") ==
        "s.toml:2: infer.prior.rupture.depth_mean: must be a number > 0.0, got -1.0");
  CHECK(prior("\"distress.effects.rupture\" = { log_uniform = [0.0, 1.0] }") ==
        "s.toml:2: infer.prior.distress.effects.rupture: log_uniform needs lo > 0, got 0.0");
  CHECK(prior("\"rupture.nonsense\" = { uniform = [0.1, 0.3] }") ==
        "s.toml:2: infer.prior.rupture.nonsense: must name a scenario key, got unknown key \"rupture.nonsense\"");
  CHECK(prior("\"run.alpha\" = { uniform = [0.01, 0.1] }")
            .find("infer.prior.run.alpha: must name a model, design or "
                  "detection key") != std::string::npos);
  CHECK(prior("\"design.patients\" = { uniform = [60, 119] }") ==
        "s.toml:2: infer.prior.design.patients: uniform needs a real-valued key; give design.patients a choice = "
        "[...] prior");
  CHECK(prior("\"distress.effects.rupture_via\" = { choice = [\"latent\", \"nobody\"] }") ==
        "s.toml:2: infer.prior.distress.effects.rupture_via: must be one of \"latent\", \"patient\", \"therapist\", "
        "\"either\", \"both\", got \"nobody\"");
  CHECK(prior("\"distress.effects.rupture_via\" = { choice = [\"latent\"], weights = [1, 2] }") ==
        "s.toml:2: infer.prior.distress.effects.rupture_via: weights must be a list of 1 numbers, got [ 1, 2 ]");
  CHECK(prior("\"distress.effects.rupture\" = { normal = [1.0, 0.0] }") ==
        "s.toml:2: infer.prior.distress.effects.rupture: normal needs sd > 0, got 0.0");
  CHECK(prior("\"distress.effects.rupture\" = { uniform = [0.0, 1.0], bounds = [0.0, 1.0] }") ==
        "s.toml:2: infer.prior.distress.effects.rupture: bounds belongs to a normal prior");
  CHECK(error_of("[infer]\ndraws = 0\n") == "s.toml:2: infer.draws: must be an integer in [1, 100000000], got 0");
  CHECK(error_of("[infer.prior]\n\"rupture.onset_probability\" = { uniform = [0.1, 0.2] }\n[infer.observed]\n"
                 "\"lagged.patient.rupture\" = \"significant\"\n") ==
        "s.toml:4: infer.observed.lagged.patient.rupture: must be \"positive\", \"negative\", \"null\", \"any\" or { "
        "value = X, tolerance = T }, got \"significant\"");
  CHECK(error_of("[infer.prior]\n\"rupture.onset_probability\" = { uniform = [0.1, 0.2] }\n[infer.observed]\n"
                 "\"detection.patient.prevalence\" = { value = 0.5, tolerance = -0.1 }\n") ==
        "s.toml:4: infer.observed.detection.patient.prevalence.tolerance: must be a number >= 0.0, got -0.1");
  // --set reaches [infer] like any key.
  CHECK(error_of("[infer.prior]\n\"rupture.onset_probability\" = { uniform = [0.1, 0.2] }\n" + observed,
                 {"infer.draws=-5"}) == "--set: infer.draws: must be an integer in [1, 100000000], got -5");

  // Observed names are checked against the record when the inference is planned.
  auto plan_error = [](const std::string& name, const std::string& finding) {
    try {
      plan_inference(parse_scenario(
          "[infer.prior]\n\"rupture.onset_probability\" = { uniform = [0.1, 0.2] }\n[infer.observed]\n\"" + name +
              "\" = " + finding + "\n",
          "s.toml"));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(plan_error("lagged.patient.rupture", "\"positive\"") == "no error");
  CHECK(plan_error("detection.kappa", "{ value = 0.2, tolerance = 0.1 }") == "no error");
  CHECK(plan_error("lagged.patient.nonsense", "\"positive\"") ==
        "s.toml:4: infer.observed.lagged.patient.nonsense: a finding (\"positive\") needs a coefficient "
        "MODEL.RATER.TERM of the analysis, e.g. lagged.patient.rupture");
  CHECK(plan_error("detection.patient.nonsense", "{ value = 0.2, tolerance = 0.1 }")
            .rfind("s.toml:4: infer.observed.detection.patient.nonsense: unknown name", 0) == 0);

  // The resolved scenario prints [infer] so that it reads back to the same text.
  const ScenarioFile f = parse_scenario(kSmall, "small.toml");
  CHECK(to_toml(parse_scenario(to_toml(f), "again.toml")) == to_toml(f));
  CHECK(f.infer.seed == 5);
  CHECK(parse_scenario(
            "[run]\nseed = 77\n[infer.prior]\n\"rupture.onset_probability\" = { uniform = [0.1, 0.2] }\n" + observed,
            "s.toml")
            .infer.seed == 77);

  // On the command line: exit 2, one line, nothing written.
  const auto dir = scratch_dir("infer-errors");
  write_text(dir / "bad.toml", "[infer.prior]\n\"rupture.onset_probability\" = { uniform = [0.1, 1.3] }\n" + observed);
  auto r = run_cli("infer bad.toml --out x.h5", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "bad.toml:2: infer.prior.rupture.onset_probability: must be a number in [0.0, 1.0], got 1.3\n");
  CHECK_FALSE(std::filesystem::exists(dir / "x.h5"));
  write_text(dir / "plain.toml", "name = \"plain\"\n");
  r = run_cli("infer plain.toml --out x.h5", dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("[infer]") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "x.h5"));
}

TEST_CASE("the shipped seed inference is valid and fits only the lagged and growth models", "[infer][scenario]") {
  const ScenarioFile f = load_scenario(std::string(COLLABZIUM_SOURCE_DIR) + "/configs/gidhagen2025_infer.toml");
  REQUIRE(f.infer.present);
  CHECK(f.infer.draws == 1000000);
  CHECK(f.infer.prior.size() == 12);
  CHECK(f.infer.observed.size() == 8);
  const InferencePlan plan = plan_inference(f);
  CHECK(plan.scenario.analysis.models == std::vector<ModelKind>{ModelKind::Lagged, ModelKind::Growth});
  CHECK(plan.scenario.design.patients == 119);
  CHECK(plan.quantities.size() == 14);  // 2 numbers + 6 findings x (estimate, p)
  CHECK_FALSE(plan.layout_varies);
}
