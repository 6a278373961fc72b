// Inputs that are in their documented ranges but would escape results/, allocate without bound,
// narrow a flag, or make the generator overflow: each is refused with an exact message.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "cli_runner.h"
#include "collabzium/error.h"
#include "collabzium/config/scenario.h"
#include "collabzium/model/simulator.h"
#include "collabzium/study/summary.h"

using namespace collabzium;
using namespace collabzium::testing;

namespace {


// "[1, 2, ..., n]"
std::string one_to(int n) {
  std::string s = "[";
  for (int i = 1; i <= n; ++i) s += (i > 1 ? ", " : "") + std::to_string(i);
  return s + "]";
}

const std::string kNameRule =
    "must be a plain file name (not empty, no \"/\", no leading \".\", no control characters), got ";

}  // namespace

TEST_CASE("name is a plain file name, so results/<name>.h5 stays in results/", "[scenario][limits]") {
  CHECK(error_of("name = \"../x\"") == "s.toml:1: name: " + kNameRule + "\"../x\"");
  CHECK(error_of("name = \"\"") == "s.toml:1: name: " + kNameRule + "\"\"");
  CHECK(error_of("name = \".hidden\"") == "s.toml:1: name: " + kNameRule + "\".hidden\"");
  CHECK(error_of("name = \"a\\nb\"") == "s.toml:1: name: " + kNameRule + "\"a\\nb\"");
  CHECK(error_of("", {"name=\"/etc/x\""}) == "--set: name: " + kNameRule + "\"/etc/x\"");
  CHECK(parse_scenario("name = \"power.v2-final\"", "s.toml").base.name == "power.v2-final");
}

TEST_CASE("the number of conditions is bounded on every path, --set sweeps included", "[scenario][limits]") {
  // 65536^4 wraps to 0 in 64 bits; the count saturates instead.
  const std::string axis = one_to(65536);
  const std::vector<std::string> sets = {"sweep.design.sessions.min=" + one_to(3), "sweep.alliance.mean=" + axis,
                                         "sweep.alliance.growth=" + axis, "sweep.distress.mean=" + axis,
                                         "sweep.distress.trend=" + axis};
  CHECK(error_of("", sets) ==
        "s.toml: sweep: must have at most 1000000 conditions, got 3 x 65536 x 65536 x 65536 x 65536");
}

TEST_CASE("replications of a study and rows of a cohort are bounded before allocation", "[scenario][limits]") {
  CHECK(error_of("[run]\nreplications = 1000000000000") ==
        "s.toml:2: run.replications: x the conditions (the replications of the study) must be at most 100000000, got "
        "1000000000000 x 1 condition(s)");
  CHECK(error_of("[run]\nreplications = 1000000\n[sweep]\n\"design.patients\" = " + one_to(101)) ==
        "s.toml:2: run.replications: x the conditions (the replications of the study) must be at most 100000000, got "
        "1000000 x 101 condition(s)");
  CHECK(error_of("[run]\nreplications = 1000000\n[sweep]\n\"design.patients\" = " + one_to(100)) == "no error");
  CHECK(error_of("", {"run.replications=1000000000"}) ==
        "--set: run.replications: x the conditions (the replications of the study) must be at most 100000000, got "
        "1000000000 x 1 condition(s)");
  CHECK(error_of("[design]\npatients = 100000000") ==
        "s.toml:2: design.patients: x design.sessions.max (the most rows a cohort can have) must be at most 10000000, "
        "got "
        "100000000 x 40 sessions");
  CHECK(error_of("[design]\npatients = 250000\n[design.sessions]\nmax = 40") == "no error");
  CHECK(error_of("[design]\npatients = 250001\n[design.sessions]\nmax = 40") ==
        "s.toml:2: design.patients: x design.sessions.max (the most rows a cohort can have) must be at most 10000000, "
        "got "
        "250001 x 40 sessions");
  // In a condition of the sweep: the message says which.
  CHECK(error_of("[design]\npatients = 100000\n[sweep]\n\"design.sessions.max\" = [40, 101]") ==
        "s.toml:2: design.patients: in condition 2: x design.sessions.max (the most rows a cohort can have) must be at "
        "most 10000000, got 100000 x 101 sessions");
}

TEST_CASE("integers in messages are printed as themselves, the largest included", "[scenario][limits]") {
  CHECK(error_of("[run]\nseed = 9223372036854775807") ==
        "s.toml:2: run.seed: must be an integer in [0, 9200000000000000000], got 9223372036854775807");
  CHECK(error_of("[run]\nthreads = -9223372036854775808") ==
        "s.toml:2: run.threads: must be an integer in [0, 4096], got -9223372036854775808");
}

TEST_CASE("a Gamma depth whose shape or scale is not representable is refused at validation", "[scenario][limits]") {
  CHECK(
      error_of("[rupture]\ndepth_sd = 1e-200") ==
      "s.toml:2: rupture.depth_sd: must be 0 or give a Gamma distribution with shape depth_mean²/depth_sd² in [1e-12, "
      "1e+12] and scale depth_sd²/depth_mean a positive normal number, got depth_mean = 0.6, depth_sd = 1e-200 (shape "
      "inf, scale 0.0)");
  CHECK(
      error_of("[raters.therapist]\nfalse_alarm_depth_sd = 1e-7") ==
      "s.toml:2: raters.therapist.false_alarm_depth_sd: must be 0 or give a Gamma distribution with shape "
      "false_alarm_depth²/false_alarm_depth_sd² in [1e-12, 1e+12] and scale false_alarm_depth_sd²/false_alarm_depth a "
      "positive normal number, got false_alarm_depth = 0.5, false_alarm_depth_sd = 1e-07 (shape 25000000000000.004, "
      "scale 1.9999999999999997e-14)");
  CHECK(error_of("[rupture]\ndepth_sd = 0") == "no error");       // the depth is the mean
  CHECK(error_of("[rupture]\ndepth_sd = 0.0006") == "no error");  // shape 1e6
  // A swept value is checked in its condition.
  CHECK(error_of("[sweep]\n\"rupture.depth_mean\" = [0.6, 1e-300]") ==
        "s.toml: rupture.depth_sd: in condition 2: must be 0 or give a Gamma distribution with shape "
        "depth_mean²/depth_sd² in [1e-12, 1e+12] and scale depth_sd²/depth_mean a positive normal number, got "
        "depth_mean = 1e-300, depth_sd = 0.25 (shape 0.0, scale 6.249999999999999e+298)");
}

TEST_CASE("a generated value that is not finite stops the command with exit status 2, naming the keys",
          "[simulator][limits]") {
  // Each key in range; ln(3) * 1e308 + 1e308 overflows the alliance of session 3.
  const std::string toml = "[alliance]\nmean = 1e308\ngrowth = 1e308\n";
  const Scenario s = parse_scenario(toml, "s.toml").base;
  const std::string expected =
      "simulation: true_alliance: generated a value that is not finite (inf) in condition 1, replication 1, patient 1, "
      "session 3: each key is in range but together they overflow; reduce the magnitude of alliance.mean, "
      "alliance.therapist_sd, alliance.patient_sd, alliance.growth, alliance.growth_sd, alliance.ar, "
      "alliance.innovation_sd, rupture.depth_mean, rupture.depth_sd, rupture.repair_bonus";
  try {
    simulate_cohort(s, 7, 1, 1);
    FAIL("no error");
  } catch (const GeneratorError& e) {
    CHECK(std::string(e.what()) == expected);
  }
  const auto dir = scratch_dir("limits-overflow");
  write_text(dir / "s.toml", toml + "[run]\nreplications = 3\n");
  const auto sim = run_cli("simulate s.toml --out c.csv --seed 7", dir);
  CHECK(sim.status == 2);
  CHECK(sim.err == expected + "\n");
  CHECK(!std::filesystem::exists(dir / "c.csv"));
  // A run stops too (the replication is not counted as a failed fit), whatever thread meets it.
  const auto run = run_cli("run s.toml --out r.h5 --threads 2", dir);
  CHECK(run.status == 2);
  CHECK_THAT(run.err, Catch::Contains("simulation: true_alliance: generated a value that is not finite (inf) in "
                                      "condition 1, replication 1,"));
}

TEST_CASE("the flags --threads and --replications are checked as 64-bit integers before any narrowing", "[cli][limits]") {
  const auto dir = scratch_dir("limits-flags");
  write_text(dir / "s.toml", "[run]\nreplications = 2\n");
  const auto r = run_cli("run s.toml --out r.h5 --threads 4294967297", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "collabzium: --threads: must be an integer in [0, 4096], got 4294967297 (see --help)\n");
  CHECK(!std::filesystem::exists(dir / "r.h5"));
  const auto s = run_cli(
      "solve s.toml --vary design.patients --target oracle.truth.rupture --power 0.8 "
      "--replications 100000001",
      dir);
  CHECK(s.status == 2);
  CHECK(s.err == "collabzium: --replications: must be an integer <= 100000000, got 100000001 (see --help)\n");
  const auto c = run_cli(
      "calibrate s.toml --match detection.patient.rupture.prevalence=0.5 "
      "--free rupture.onset_probability=0.01:0.2 --out o.toml --max-evaluations 4294967297",
      dir);
  CHECK(c.status == 2);
  CHECK(c.err == "collabzium: --max-evaluations: must be an integer <= 2147483647, got 4294967297 (see --help)\n");
}

TEST_CASE("validate prints valid TOML for any accepted text, multi-line strings included", "[scenario][limits]") {
  // In TOML: a multi-line string with a tab, quotes, a backslash and U+0001 (as the escape \u0001).
  const std::string toml = "description = \"\"\"\nfirst line\n\tsecond \"quoted\" \\\\ line\\u0001\"\"\"\n";
  const ScenarioFile f = parse_scenario(toml, "s.toml");
  REQUIRE(f.base.description == "first line\n\tsecond \"quoted\" \\ line\x01");
  const std::string printed = to_toml(f);
  CHECK(printed.find("description = \"first line\\n\\tsecond \\\"quoted\\\" \\\\ line\\u0001\"\n") !=
        std::string::npos);
  CHECK(parse_scenario(printed, "printed.toml").base.description == f.base.description);
}

TEST_CASE("the printed table counts not-estimable fits among the failures", "[summary][limits]") {
  const ScenarioFile file = single_condition(Scenario{});
  std::vector<SummaryRow> rows;
  auto row = [&](const char* measure, double value) {
    rows.push_back({.condition = 1,
                    .model = "lagged",
                    .rater = "patient",
                    .term = "rupture",
                    .measure = measure,
                    .value = value,
                    .mcse = kNaN});
  };
  row("true_value", 1.5);
  row("n", 7);
  row("nonconverged", 1);
  row("not_estimable", 2);
  std::ostringstream out;
  print_summary(file, rows, out);
  const std::string text = out.str();
  const auto line = text.substr(text.find("  lagged"), text.find('\n', text.find("  lagged")) - text.find("  lagged"));
  CHECK(line.substr(line.size() - 7) == "      3");
}

TEST_CASE("analyze gives byte-identical outputs for any row order of the same data", "[analyze][cli][limits]") {
  const auto a = scratch_dir("limits-order-a"), b = scratch_dir("limits-order-b");
  write_text(a / "s.toml", "[design]\npatients = 30\n");
  write_text(b / "s.toml", "[design]\npatients = 30\n");
  REQUIRE(run_cli("simulate s.toml --out cohort.csv", a).status == 0);
  // The same rows, shuffled (the header stays first).
  const std::string csv = slurp(a / "cohort.csv");
  std::vector<std::string> lines;
  std::istringstream in(csv);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::mt19937 rng(5);
  std::shuffle(lines.begin() + 1, lines.end(), rng);
  std::string shuffled;
  for (const auto& l : lines) shuffled += l + "\n";
  REQUIRE(shuffled != csv);
  write_text(b / "cohort.csv", shuffled);
  const auto ra = run_cli("analyze s.toml --data cohort.csv --out report.json --events events.csv", a);
  const auto rb = run_cli("analyze s.toml --data cohort.csv --out report.json --events events.csv", b);
  REQUIRE(ra.status == 0);
  REQUIRE(rb.status == 0);
  CHECK(slurp(a / "report.json") == slurp(b / "report.json"));
  CHECK(slurp(a / "events.csv") == slurp(b / "events.csv"));
  CHECK(ra.out == rb.out);
}

TEST_CASE("every detection measure carries its n: the replications where it is defined", "[summary][limits]") {
  const ScenarioFile file = single_condition(Scenario{});
  // Three replications; each detection column is defined in the first and last only.
  const auto column = [](const std::string&, std::size_t) { return std::vector<double>{0.5, kNaN, 1.0}; };
  const std::vector<SummaryRow> rows = summarize_study(file, {}, column, {1, 1, 1}, 3);
  for (const char* rater : {"patient", "therapist"}) {
    for (const char* m : {"sensitivity", "specificity", "ppv", "f1", "prevalence", "true_prevalence", "kappa"}) {
      INFO(rater << " rupture " << m);
      const SummaryRow* value = find_summary_row(rows, "detection", rater, "rupture", m);
      const SummaryRow* n = find_summary_row(rows, "detection", rater, "rupture", std::string(m) + "_n");
      REQUIRE(value);
      REQUIRE(n);
      CHECK(value->value == 0.75);
      CHECK(n->value == 2);
      CHECK(std::isnan(n->mcse));
    }
    for (const char* m : {"sensitivity", "specificity", "ppv", "f1"}) {
      const SummaryRow* n = find_summary_row(rows, "detection", rater, "repair", std::string(m) + "_n");
      REQUIRE(n);
      CHECK(n->value == 2);
    }
  }
}
