// The Monte Carlo runner: determinism across threads and resume, failures recorded, and the
// statistical validity of the whole chain in a scenario where the oracle model is correctly specified.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

#include "cli_runner.h"
#include "collabzium/analysis/analysis.h"
#include "collabzium/io/results_file.h"
#include "collabzium/config/scenario.h"
#include "collabzium/study/record.h"
#include "collabzium/study/runner.h"
#include "collabzium/study/summary.h"

using namespace collabzium;
using namespace collabzium::testing;

namespace {

const SummaryRow& find(const std::vector<SummaryRow>& rows, int c, const std::string& model, const std::string& rater,
                       const std::string& term, const std::string& measure) {
  for (const auto& r : rows)
    if (r.condition == c && r.model == model && r.rater == rater && r.term == term && r.measure == measure) return r;
  FAIL("no summary row " << model << "." << rater << "." << term << "." << measure);
  throw;
}

void run_quietly(const ScenarioFile& f, RunRequest req) {
  std::ostringstream sink;
  req.progress = false;
  try {
    run_study(f, req, sink);
  } catch (const RunInterrupted&) {
  }
}

// Every dataset of two results files is identical, bit for bit (NaN matches NaN).
void check_same_records(const ResultsFile& a, const ResultsFile& b) {
  REQUIRE(a.columns == b.columns);
  REQUIRE(a.done == b.done);
  for (const auto& col : a.columns) {
    const auto x = a.column(col), y = b.column(col);
    REQUIRE(x.size() == y.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO(col << " [" << i << "]");
      CHECK(std::memcmp(&x[i], &y[i], sizeof(double)) == 0);
    }
  }
  REQUIRE(a.summary.size() == b.summary.size());
  for (std::size_t i = 0; i < a.summary.size(); ++i) {
    CHECK(a.summary[i].measure == b.summary[i].measure);
    CHECK(std::memcmp(&a.summary[i].value, &b.summary[i].value, sizeof(double)) == 0);
    CHECK(std::memcmp(&a.summary[i].mcse, &b.summary[i].mcse, sizeof(double)) == 0);
  }
}

const char* kSmallStudy =
    "name = \"small\"\n[run]\nreplications = 24\nseed = 99\n"
    "[design]\npatients = 30\ntherapists = 3\n[design.sessions]\ndistribution = \"fixed\"\nmean = 8\n"
    "[sweep]\n\"distress.effects.rupture\" = [0.0, 1.5]\n";

}  // namespace

TEST_CASE("results are bit-identical for any thread count and after resuming", "[runner]") {
  const auto dir = scratch_dir("runner-determinism");
  const ScenarioFile f = parse_scenario(kSmallStudy, "small.toml");
  run_quietly(f, {.out = (dir / "one.h5").string(), .threads = 1});
  run_quietly(f, {.out = (dir / "two.h5").string(), .threads = 2});
  RunRequest partial{.out = (dir / "resumed.h5").string(), .threads = 2};
  partial.stop_after = 10;
  run_quietly(f, partial);
  const ResultsFile interrupted = read_results((dir / "resumed.h5").string());
  CHECK_FALSE(interrupted.complete);
  CHECK(interrupted.n_done() >= 10);
  CHECK(interrupted.n_done() < 48);
  CHECK_FALSE(std::filesystem::exists(dir / "resumed.summary.csv"));
  RunRequest resume{.out = (dir / "resumed.h5").string(), .threads = 1};
  resume.resume = true;
  run_quietly(f, resume);

  const ResultsFile one = read_results((dir / "one.h5").string());
  const ResultsFile two = read_results((dir / "two.h5").string());
  const ResultsFile resumed = read_results((dir / "resumed.h5").string());
  CHECK(one.complete);
  CHECK(resumed.complete);
  CHECK(one.n_done() == 48);
  check_same_records(one, two);
  check_same_records(one, resumed);
  CHECK(slurp(dir / "one.summary.csv") == slurp(dir / "two.summary.csv"));
  CHECK(slurp(dir / "one.summary.csv") == slurp(dir / "resumed.summary.csv"));
  CHECK(one.meta.seed == 99);
  CHECK(one.meta.config == to_toml(f));
}

TEST_CASE("a model that cannot be fitted gives NaN records and counts, and the run completes", "[runner]") {
  const auto dir = scratch_dir("runner-failures");
  // One session per patient: no lagged rows at all, so the lagged models are never fitted.
  const ScenarioFile f = parse_scenario(
      "[run]\nreplications = 5\n[design]\npatients = 20\n[design.sessions]\ndistribution = \"fixed\"\nmean = 1\nmin = "
      "1\n",
      "one-session.toml");
  run_quietly(f, {.out = (dir / "fail.h5").string(), .threads = 2});
  const ResultsFile res = read_results((dir / "fail.h5").string());
  CHECK(res.complete);
  for (double x : res.column("lagged.patient.rupture.estimate")) CHECK(std::isnan(x));
  for (double x : res.column("lagged.patient.converged")) CHECK(x == 0.0);
  CHECK(find(res.summary, 1, "lagged", "patient", "rupture", "nonconverged").value == 5);
  CHECK(find(res.summary, 1, "lagged", "patient", "rupture", "n").value == 0);
  CHECK(std::isnan(find(res.summary, 1, "lagged", "patient", "rupture", "mean").value));
  // the growth model still fits on the one rating per patient... or is recorded; either way no crash
  CHECK(res.column("cohort.sessions")[0] == 20);
}

TEST_CASE("correctly specified oracle: type I error 0.05, coverage 0.95, no bias", "[runner][statistical]") {
  const auto dir = scratch_dir("runner-validity");
  // No between-patient distress variance, no distress dynamics, onsets independent of distress,
  // no unresolved or alliance effects: the oracle lagged model is the true model.
  const ScenarioFile f = parse_scenario(
      "[run]\nreplications = 1000\nseed = 4242\n"
      "[design]\npatients = 60\ntherapists = 6\n[design.sessions]\ndistribution = \"fixed\"\nmean = 10\n"
      "[design.dropout]\nbase = 0.0\n"
      "[rupture]\nonset_probability = 0.15\ndistress_effect = 0.0\n"
      "[distress]\ntherapist_sd = 0.0\npatient_sd = 0.0\ntrend_sd = 0.0\nar = 0.0\n"
      "[distress.effects]\nrupture = 1.5\nrepair = 0.0\nunresolved = 0.0\nalliance = 0.0\n"
      "[analysis]\nmodels = [\"oracle\"]\n",
      "valid.toml");
  run_quietly(f, {.out = (dir / "valid.h5").string(), .threads = 2});
  const ResultsFile res = read_results((dir / "valid.h5").string());
  REQUIRE(res.complete);
  auto m = [&](const std::string& term, const std::string& measure) {
    return find(res.summary, 1, "oracle", "truth", term, measure);
  };
  const auto type1 = m("repair", "power"), coverage = m("rupture", "coverage"), bias = m("rupture", "bias");
  const auto bias0 = m("repair", "bias"), coverage0 = m("repair", "coverage");
  INFO("type I " << type1.value << " (" << type1.mcse << "), coverage " << coverage.value << " (" << coverage.mcse
                 << "), bias " << bias.value << " (" << bias.mcse << ")");
  CHECK(std::abs(type1.value - 0.05) <= 4 * std::sqrt(0.05 * 0.95 / 1000));
  CHECK(std::abs(coverage.value - 0.95) <= 4 * std::sqrt(0.05 * 0.95 / 1000));
  CHECK(std::abs(coverage0.value - 0.95) <= 4 * std::sqrt(0.05 * 0.95 / 1000));
  CHECK(std::abs(bias.value) <= 4 * bias.mcse);
  CHECK(std::abs(bias0.value) <= 4 * bias0.mcse);
  CHECK(m("rupture", "nonconverged").value == 0);
}

TEST_CASE("run and summarize on the command line", "[runner][cli]") {
  const auto dir = scratch_dir("runner-cli");
  write_text(dir / "s.toml", kSmallStudy);
  auto r = run_cli("run s.toml --out out.h5 --replications 6 --threads 2", dir);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("Condition 2: distress.effects.rupture = 1.5") != std::string::npos);
  const std::string csv = slurp(dir / "out.summary.csv");
  CHECK(csv.rfind("condition,distress.effects.rupture,model,rater,term,measure,value,mcse\n", 0) == 0);
  CHECK(csv.find("\n2,1.5,lagged,patient,rupture,true_value,1.5,NA\n") != std::string::npos);
  auto s = run_cli("summarize out.h5 --csv again.csv", dir);
  CHECK(s.status == 0);
  CHECK(slurp(dir / "again.csv") == csv);
  // A partial file is not overwritten silently; bad flags are input errors.
  auto bad = run_cli("run s.toml --out out.h5 --replications 0", dir);
  CHECK(bad.status == 2);
  CHECK(bad.err == "--set: run.replications: must be an integer in [1, 1000000000000], got 0\n");
  auto missing = run_cli("summarize nothing.h5", dir);
  CHECK(missing.status == 2);
}

TEST_CASE("the in-memory study gives the same summary as the file-based run", "[runner]") {
  const auto dir = scratch_dir("runner-memory");
  const ScenarioFile f = parse_scenario(kSmallStudy, "small.toml");
  run_quietly(f, {.out = (dir / "file.h5").string(), .threads = 2});
  const ResultsFile res = read_results((dir / "file.h5").string());
  const std::vector<SummaryRow> mem = study_summary(f, 1);
  REQUIRE(mem.size() == res.summary.size());
  for (std::size_t i = 0; i < mem.size(); ++i) {
    CHECK(mem[i].measure == res.summary[i].measure);
    CHECK(std::memcmp(&mem[i].value, &res.summary[i].value, sizeof(double)) == 0);
  }
}

TEST_CASE("SIGINT flushes, marks the file incomplete, and --resume completes it identically", "[runner][cli]") {
  const auto dir = scratch_dir("runner-sigint");
  write_text(dir / "s.toml",
             "name = \"sig\"\n[run]\nreplications = 800\nseed = 5\n[design]\npatients = 400\ntherapists = 20\n"
             "[design.sessions]\ndistribution = \"fixed\"\nmean = 20\n[analysis]\nmodels = [\"lagged\"]\n");
  // Start in the background, wait until the file exists, interrupt.
  const std::string cli = COLLABZIUM_CLI;
  const std::string script = "cd '" + dir.string() + "' && { '" + cli +
                             "' run s.toml --out sig.h5 --threads 1 > out.txt 2> err.txt & pid=$!; "
                             "for i in $(seq 1 200); do [ -f sig.h5 ] && break; sleep 0.05; done; sleep 0.3; "
                             "kill -INT $pid; wait $pid; echo $? > status.txt; }";
  REQUIRE(std::system(script.c_str()) == 0);
  CHECK(slurp(dir / "status.txt") == "1\n");
  CHECK(slurp(dir / "err.txt").find("continue with --resume") != std::string::npos);
  const ResultsFile partial = read_results((dir / "sig.h5").string());
  CHECK_FALSE(partial.complete);
  CHECK(partial.n_done() > 0);
  CHECK(partial.n_done() < 800);
  // A plain rerun refuses to overwrite the partial file.
  CHECK(run_cli("run s.toml --out sig.h5", dir).status == 2);
  auto resumed = run_cli("run s.toml --out sig.h5 --resume --threads 2", dir);
  REQUIRE(resumed.status == 0);
  REQUIRE(run_cli("run s.toml --out whole.h5 --threads 2", dir).status == 0);
  check_same_records(read_results((dir / "sig.h5").string()), read_results((dir / "whole.h5").string()));
}

TEST_CASE("singular fits are counted, and excluded from the estimate measures only when asked", "[runner]") {
  // No between-patient distress variance: many lagged fits put tau2 on the boundary.
  const std::string text =
      "[run]\nreplications = 60\nseed = 8\n[design]\npatients = 40\n[distress]\npatient_sd = 0.0\ntherapist_sd = 0.0\n"
      "trend_sd = 0.0\nar = 0.0\n[analysis]\nmodels = [\"oracle\"]\n";
  const ScenarioFile keep = parse_scenario(text, "keep.toml");
  const ScenarioFile drop = parse_scenario(text, "drop.toml", {"analysis.exclude_singular=true"});
  const auto a = study_summary(keep, 1), b = study_summary(drop, 1);
  const double singular = find(a, 1, "oracle", "truth", "rupture", "singular").value;
  REQUIRE(singular > 0);
  REQUIRE(singular < 60);
  CHECK(find(b, 1, "oracle", "truth", "rupture", "singular").value == singular);
  CHECK(find(a, 1, "oracle", "truth", "rupture", "n").value == 60);
  CHECK(find(b, 1, "oracle", "truth", "rupture", "n").value == 60 - singular);
  CHECK(find(a, 1, "oracle", "truth", "rupture", "nonconverged").value == 0);
  CHECK(find(b, 1, "oracle", "truth", "rupture", "nonconverged").value == 0);
  CHECK(find(a, 1, "oracle", "truth", "rupture", "mean").value !=
        find(b, 1, "oracle", "truth", "rupture", "mean").value);
}

TEST_CASE("the fits come in one order: per observer each model, then the oracle", "[runner][record]") {
  Analysis a;
  a.models = {ModelKind::Growth, ModelKind::Oracle, ModelKind::Lagged};
  const std::vector<Fit> expected = {{ModelKind::Growth, RaterId::Patient},
                                     {ModelKind::Lagged, RaterId::Patient},
                                     {ModelKind::Growth, RaterId::Therapist},
                                     {ModelKind::Lagged, RaterId::Therapist},
                                     {ModelKind::Oracle, RaterId::Truth}};
  CHECK(fits_of(a) == expected);
  // The model-kind table is in ModelKind order and says who each kind is fitted for.
  // One entry per configuration name (a new kind extends both), in ModelKind order.
  REQUIRE(model_kinds().size() == choice_names(ModelKind{}).size());
  for (std::size_t i = 0; i < model_kinds().size(); ++i) {
    CHECK(model_kinds()[i].kind == static_cast<ModelKind>(i));
    CHECK(model_kinds()[i].name == choice_names(ModelKind{})[i]);
    CHECK(model_kinds()[i].fit != nullptr);
    CHECK(model_kinds()[i].terms_of != nullptr);
    CHECK(model_kinds()[i].true_value != nullptr);
  }
  CHECK(model_kind(ModelKind::Oracle).fitted_for == FittedFor::Truth);
  CHECK(model_kind(ModelKind::Within).fitted_for == FittedFor::EachObserver);
  CHECK(model_kind(ModelKind::Initial).fitted_for == FittedFor::EachObserverAndTruth);
  CHECK(model_kind(ModelKind::Dsem).fitted_for == FittedFor::EachObserver);
  CHECK(model_terms(ModelKind::Growth) == std::vector<std::string>{"(Intercept)", "growth"});
}

TEST_CASE("the record columns of the default scenario, exactly", "[runner][record]") {
  // Written out from the README's schema, independently of the code that makes the names.
  const std::vector<std::pair<std::string, std::vector<std::string>>> models = {
      {"lagged", {"(Intercept)", "rupture", "repair", "distress", "session"}},
      {"within", {"(Intercept)", "rupture", "repair", "distress", "distress_mean", "session"}},
      {"growth", {"(Intercept)", "growth"}}};
  const std::vector<std::string> coefficient = {"estimate", "se", "df", "p", "ci_low", "ci_high"};
  const std::vector<std::string> fit = {"sigma2",   "tau2",       "criterion",   "converged",
                                        "singular", "iterations", "observations"};
  std::vector<std::string> expected;
  auto add_fit = [&](const std::string& prefix, const std::vector<std::string>& terms) {
    for (const auto& t : terms)
      for (const auto& f : coefficient) expected.push_back(prefix + t + "." + f);
    for (const auto& f : fit) expected.push_back(prefix + f);
  };
  for (const char* rater : {"patient", "therapist"})
    for (const auto& [model, terms] : models) add_fit(model + "." + rater + ".", terms);
  add_fit("oracle.truth.", models[0].second);
  for (const char* rater : {"patient", "therapist"})
    for (const char* f : {"ruptures", "repairs", "prevalence", "true_prevalence", "sensitivity", "specificity", "ppv",
                          "f1", "repair_sensitivity", "repair_specificity", "repair_ppv", "repair_f1"})
      expected.push_back(std::string("detection.") + rater + "." + f);
  expected.push_back("detection.kappa");
  for (const char* f : {"patients", "sessions", "dropouts"}) expected.push_back(std::string("cohort.") + f);

  const Scenario s = parse_scenario("", "default.toml").base;
  const RecordLayout layout = make_layout({s});
  // 2 observers x (lagged 5, within 6, growth 2 terms: 6 fields each, + 7 fit fields), the oracle
  // (5 terms), 2 x 12 detection fields, kappa, 3 cohort fields.
  CHECK(layout.columns.size() == 2 * ((5 * 6 + 7) + (6 * 6 + 7) + (2 * 6 + 7)) + (5 * 6 + 7) + 2 * 12 + 1 + 3);
  CHECK(layout.columns == expected);
  // The named column functions give the same names.
  CHECK(fit_column({ModelKind::Oracle, RaterId::Truth}, FitField::Converged) == "oracle.truth.converged");
  CHECK(coefficient_column({ModelKind::Within, RaterId::Therapist}, "distress_mean", CoefficientField::CiHigh) ==
        "within.therapist.distress_mean.ci_high");
  CHECK(detection_column(RaterId::Patient, DetectionField::RepairF1) == "detection.patient.repair_f1");
  CHECK(kappa_column() == "detection.kappa");
  CHECK(roc_auc_column(RaterId::Therapist) == "roc.therapist.auc");
  CHECK(roc_column(RaterId::Patient, 2, RocField::Specificity) == "roc.patient.2.specificity");
  // With ROC thresholds, their columns follow detection.kappa.
  Scenario r = s;
  r.analysis.models = {ModelKind::Growth};
  r.detection.roc_thresholds = {0.5, 1.0};
  const RecordLayout roc = make_layout({r});
  const auto kappa = std::find(roc.columns.begin(), roc.columns.end(), "detection.kappa");
  REQUIRE(roc.columns.end() - kappa == 1 + 10 + 3);
  CHECK(std::vector<std::string>(kappa + 1, kappa + 6) ==
        std::vector<std::string>{"roc.patient.auc", "roc.patient.0.sensitivity", "roc.patient.0.specificity",
                                 "roc.patient.1.sensitivity", "roc.patient.1.specificity"});
}

TEST_CASE("summary rows carry successes and trials of their proportions", "[runner][summary]") {
  // Four replications of the oracle, by hand: the fourth did not converge (no estimate, p or CI).
  // The true rupture effect is 1.5: replications 1 and 3 cover it, 1 and 3 reject at alpha 0.05.
  ScenarioFile f = parse_scenario("[analysis]\nmodels = [\"oracle\"]\n", "hand.toml");
  const RecordLayout layout = make_layout({f.conditions[0].scenario});
  const std::map<std::string, std::vector<double>> given = {{"oracle.truth.rupture.estimate", {1.5, 0.2, 1.4, kNaN}},
                                                            {"oracle.truth.rupture.se", {0.3, 0.3, 0.3, kNaN}},
                                                            {"oracle.truth.rupture.p", {0.01, 0.4, 0.03, kNaN}},
                                                            {"oracle.truth.rupture.ci_low", {1.0, -0.4, 1.1, kNaN}},
                                                            {"oracle.truth.rupture.ci_high", {2.0, 0.8, 1.7, kNaN}},
                                                            {"oracle.truth.converged", {1, 1, 1, 0}},
                                                            {"oracle.truth.singular", {0, 0, 0, 0}}};
  const auto column = [&](const std::string& name, std::size_t) {
    const auto it = given.find(name);
    return it == given.end() ? std::vector<double>(4, kNaN) : it->second;
  };
  const auto rows = summarize_study(f, layout.columns, column, std::vector<std::uint8_t>(4, 1), 4);
  const SummaryRow& power = find(rows, 1, "oracle", "truth", "rupture", "power");
  CHECK(power.successes == 2);
  CHECK(power.trials == 3);
  CHECK(power.value == 2.0 / 3.0);
  const SummaryRow& coverage = find(rows, 1, "oracle", "truth", "rupture", "coverage");
  CHECK(coverage.successes == 2);
  CHECK(coverage.trials == 3);
  // Not proportions: no counts.
  CHECK(std::isnan(find(rows, 1, "oracle", "truth", "rupture", "mean").trials));
  CHECK(std::isnan(find(rows, 1, "detection", "patient", "rupture", "sensitivity").successes));
  // Without a true value (the intercept) coverage is undefined, its counts too; power stays.
  CHECK(std::isnan(find(rows, 1, "oracle", "truth", "(Intercept)", "coverage").trials));
}

TEST_CASE("a run with dsem is bit-identical for 1 and 2 threads, and adding dsem moves no other column",
          "[runner][dsem]") {
  const auto dir = scratch_dir("runner-dsem");
  const std::string study = "name = \"dsem\"\n[run]\nreplications = 2\nseed = 31\n[analysis]\nmodels = ";
  const ScenarioFile with = parse_scenario(study + "[\"lagged\", \"dsem\"]\n", "dsem.toml");
  const ScenarioFile without = parse_scenario(study + "[\"lagged\"]\n", "lagged.toml");
  run_quietly(with, {.out = (dir / "one.h5").string(), .threads = 1});
  run_quietly(with, {.out = (dir / "two.h5").string(), .threads = 2});
  run_quietly(without, {.out = (dir / "lagged.h5").string(), .threads = 2});
  const ResultsFile one = read_results((dir / "one.h5").string());
  const ResultsFile two = read_results((dir / "two.h5").string());
  const ResultsFile lagged = read_results((dir / "lagged.h5").string());
  REQUIRE(one.complete);
  check_same_records(one, two);
  // The dsem fits ran and were recorded.
  for (double x : one.column("dsem.therapist.distress.estimate")) CHECK(std::isfinite(x));
  for (double x : one.column("dsem.patient.rhat")) CHECK(std::isfinite(x));
  // Every column of the run without dsem is in the run with it, with the same bits.
  std::size_t dsem_columns = 0;
  for (const auto& col : one.columns) dsem_columns += col.rfind("dsem.", 0) == 0;
  CHECK(dsem_columns == 2 * (5 * 6 + 9));
  CHECK(one.columns.size() == lagged.columns.size() + dsem_columns);
  for (const auto& col : lagged.columns) {
    INFO(col);
    REQUIRE(std::find(one.columns.begin(), one.columns.end(), col) != one.columns.end());
    const auto x = lagged.column(col), y = one.column(col);
    REQUIRE(x.size() == y.size());
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::memcmp(&x[i], &y[i], sizeof(double)) == 0);
  }
}

TEST_CASE("every model kind's record block is its terms, the common fit fields and its own diagnostics",
          "[runner][record]") {
  // Derived from the kind table, so a new kind is covered without editing this test; the block of
  // each fit is checked name by name, in order.
  const std::vector<std::string> coefficient = {"estimate", "se", "df", "p", "ci_low", "ci_high"};
  const std::vector<std::string> fit_fields = {"sigma2",   "tau2",       "criterion",   "converged",
                                               "singular", "iterations", "observations"};
  for (const ModelKindInfo& kind : model_kinds()) {
    INFO(kind.name);
    Scenario s = parse_scenario("", "default.toml").base;
    s.analysis.models = {kind.kind};
    std::vector<std::string> expected;
    for (const Fit& fit : fits_of(s.analysis)) {
      const std::string prefix = std::string(kind.name) + "." + std::string(name(fit.rater)) + ".";
      const std::vector<std::string> terms = model_terms(fit, s);
      REQUIRE(!terms.empty());
      for (const auto& t : terms) {
        // A fit's terms are terms of the kind's table row, or added by the scenario on the truth.
        CHECK((std::find(kind.terms.begin(), kind.terms.end(), t) != kind.terms.end() || t == "false_alarm"));
        for (const auto& f : coefficient) expected.push_back(prefix + t + "." + f);
      }
      for (const auto& f : fit_fields) expected.push_back(prefix + f);
      for (std::string_view d : kind.record_diagnostics) expected.push_back(prefix + std::string(d));
    }
    const RecordLayout layout = make_layout({s});
    REQUIRE(layout.columns.size() >= expected.size());
    CHECK(std::vector<std::string>(layout.columns.begin(), layout.columns.begin() + expected.size()) == expected);
    CHECK(layout.columns[expected.size()] == "detection.patient.ruptures");
    // The keys that change the terms are the entry's layout keys.
    Scenario no_session = s;
    no_session.analysis.session = false;
    const bool session_matters = make_layout({no_session}).columns != layout.columns;
    CHECK(session_matters == changes_layout({kind.kind}, "analysis.session"));
  }
  CHECK(changes_layout({ModelKind::Oracle}, "distress.effects.false_alarm"));
  CHECK_FALSE(changes_layout({ModelKind::Lagged, ModelKind::Growth}, "distress.effects.false_alarm"));
  CHECK_FALSE(changes_layout({ModelKind::Lagged}, "design.therapists"));
}

TEST_CASE("true values come from each kind's entry", "[runner][summary]") {
  Scenario s = parse_scenario("", "default.toml").base;
  s.distress.effects.rupture = 1.25;
  s.distress.effects.repair = -0.75;
  s.distress.ar = 0.4;
  s.alliance.growth = 0.3;
  for (ModelKind k : {ModelKind::Lagged, ModelKind::Within, ModelKind::Oracle, ModelKind::Initial, ModelKind::Dsem}) {
    CHECK(true_value(s, k, "rupture") == 1.25);
    CHECK(true_value(s, k, "repair") == -0.75);
    CHECK(true_value(s, k, "distress") == 0.4);
    CHECK(std::isnan(true_value(s, k, "(Intercept)")));
    CHECK(std::isnan(true_value(s, k, "session")));
  }
  CHECK(true_value(s, ModelKind::Growth, "growth") == 0.3);
  CHECK(std::isnan(true_value(s, ModelKind::Growth, "rupture")));
}
