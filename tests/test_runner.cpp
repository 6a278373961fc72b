// The Monte Carlo runner: determinism across threads and resume, failures recorded, and the
// statistical validity of the whole chain in a scenario where the oracle model is correctly specified.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <sstream>

#include "cli_runner.h"
#include "collabzium/io/results_file.h"
#include "collabzium/study/runner.h"
#include "collabzium/model/scenario.h"

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
  run_quietly(f, {(dir / "one.h5").string(), 1});
  run_quietly(f, {(dir / "two.h5").string(), 2});
  RunRequest partial{(dir / "resumed.h5").string(), 2};
  partial.stop_after = 10;
  run_quietly(f, partial);
  const ResultsFile interrupted = read_results((dir / "resumed.h5").string());
  CHECK_FALSE(interrupted.complete);
  CHECK(interrupted.n_done() >= 10);
  CHECK(interrupted.n_done() < 48);
  CHECK_FALSE(std::filesystem::exists(dir / "resumed.summary.csv"));
  RunRequest resume{(dir / "resumed.h5").string(), 1};
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
      "[run]\nreplications = 5\n[design]\npatients = 20\n[design.sessions]\ndistribution = \"fixed\"\nmean = 1\nmin = 1\n",
      "one-session.toml");
  run_quietly(f, {(dir / "fail.h5").string(), 2});
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
  run_quietly(f, {(dir / "valid.h5").string(), 2});
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
  run_quietly(f, {(dir / "file.h5").string(), 2});
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
  CHECK(find(a, 1, "oracle", "truth", "rupture", "mean").value != find(b, 1, "oracle", "truth", "rupture", "mean").value);
}
