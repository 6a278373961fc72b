#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "cli_runner.h"
#include "collabzium/error.h"
#include "collabzium/model/cohort.h"
#include "collabzium/config/scenario.h"

using namespace collabzium;
using namespace collabzium::testing;

namespace {


}  // namespace

TEST_CASE("an empty scenario is the seed design with the docs/model.md defaults", "[scenario]") {
  const ScenarioFile f = parse_scenario("", "empty.toml");
  const Scenario& s = f.base;
  CHECK(s.design.patients == 119);
  CHECK(s.design.therapists == 6);
  CHECK(s.design.sessions.distribution == SessionDistribution::Poisson);
  CHECK(s.design.sessions.mean == 16);
  CHECK(s.alliance.mean == 3.6);
  CHECK(s.alliance.growth_shape == GrowthShape::Log);
  CHECK(s.rupture.onset_probability == 0.06);
  CHECK(s.distress.effects.repair == -1.5);
  CHECK(s.raters.patient.offset == 0.25);
  CHECK(s.raters.patient.registration == 0.5);
  CHECK(s.raters.therapist.registration == 0.95);
  CHECK(s.raters.therapist.false_alarm_rate == 0.08);
  CHECK(s.raters.therapist.dyad_sd == 0.10);
  CHECK(s.detection.rule == DetectionRule::AbsoluteDrop);
  CHECK(s.detection.threshold() == 0.5);
  CHECK(s.analysis.models ==
        std::vector<ModelKind>{ModelKind::Lagged, ModelKind::Within, ModelKind::Oracle, ModelKind::Growth});
  REQUIRE(f.conditions.size() == 1);
  CHECK(f.conditions[0].index == 1);
}

TEST_CASE("the detection threshold defaults per rule", "[scenario]") {
  CHECK(parse_scenario("[detection]\nrule = \"rci\"", "s").base.detection.threshold() == 1.96);
  CHECK(parse_scenario("[detection]\nrule = \"sd_drop\"", "s").base.detection.threshold() == 1.5);
  CHECK(parse_scenario("[detection]\nrule = \"percent_drop\"", "s").base.detection.threshold() == 0.12);
  CHECK(parse_scenario("[detection]\nrule = \"sudden_loss\"", "s").base.detection.threshold() == 0.5);
  CHECK(parse_scenario("[detection]\nrule = \"rci\"\nthreshold = 2.5", "s").base.detection.threshold() == 2.5);
}

TEST_CASE("every class of bad input is one line naming file, line, key and what was expected", "[scenario]") {
  CHECK(error_of("[design]\nfoo = 1") == "s.toml:2: design.foo: unknown key");
  CHECK(error_of("[foo]\nx = 1") == "s.toml:1: foo: unknown section");
  CHECK(error_of("\n[design]\npatients = \"many\"") ==
        "s.toml:3: design.patients: must be an integer in [1, 100000000], got \"many\"");
  CHECK(error_of("[design]\npatients = 119.0") ==
        "s.toml:2: design.patients: must be an integer in [1, 100000000], got 119.0");
  CHECK(error_of("[alliance]\nmean = nan") == "s.toml:2: alliance.mean: must be a finite number, got nan");
  CHECK(error_of("[rupture]\nonset_probability = 1.3") ==
        "s.toml:2: rupture.onset_probability: must be a number in [0.0, 1.0], got 1.3");
  CHECK(error_of("[alliance]\npatient_sd = -0.1") ==
        "s.toml:2: alliance.patient_sd: must be a number >= 0.0, got -0.1");
  CHECK(error_of("[design.sessions]\nmin = 10\nmax = 5") ==
        "s.toml:2: design.sessions.min: must be <= design.sessions.max (5), got 10");
  CHECK(error_of("[raters.patient]\nscale_min = 5\nscale_max = 5") ==
        "s.toml:2: raters.patient.scale_min: must be < raters.patient.scale_max (5.0), got 5.0");
  CHECK(error_of("[design]\npatients = 0") == "s.toml:2: design.patients: must be an integer in [1, 100000000], got 0");
  CHECK(error_of("[design]\ntherapists = 0") ==
        "s.toml:2: design.therapists: must be an integer in [1, 1000000], got 0");
  CHECK(error_of("[raters.therapist]\nitems = 0") ==
        "s.toml:2: raters.therapist.items: must be an integer in [1, 1000], got 0");
  CHECK(error_of("[detection]\nrule = \"median\"") ==
        "s.toml:2: detection.rule: must be one of \"absolute_drop\", \"sd_drop\", \"rci\", \"percent_drop\", "
        "\"sudden_loss\", got \"median\"");
  CHECK(error_of("[analysis]\nmodels = [\"lagged\", \"gee\"]") ==
        "s.toml:2: analysis.models: must be one of \"lagged\", \"within\", \"oracle\", \"growth\", \"initial\", "
        "\"dsem\", got \"gee\"");
  CHECK(error_of("[analysis]\nreml = 1") == "s.toml:2: analysis.reml: must be true or false, got 1");
  CHECK(error_of("[design]\npatients = [1").rfind("s.toml:2: invalid TOML", 0) == 0);
}

TEST_CASE("the dsem sampler's keys: defaults, bounds, even iterations, sweepable", "[scenario][dsem]") {
  const Scenario d = parse_scenario("", "s.toml").base;
  CHECK(d.analysis.dsem.chains == 2);
  CHECK(d.analysis.dsem.iterations == 2000);
  CHECK(error_of("[analysis.dsem]\nchains = 0") ==
        "s.toml:2: analysis.dsem.chains: must be an integer in [1, 64], got 0");
  CHECK(error_of("[analysis.dsem]\nchains = 65") ==
        "s.toml:2: analysis.dsem.chains: must be an integer in [1, 64], got 65");
  CHECK(error_of("[analysis.dsem]\nchains = 2.5") ==
        "s.toml:2: analysis.dsem.chains: must be an integer in [1, 64], got 2.5");
  CHECK(error_of("[analysis.dsem]\niterations = 2") ==
        "s.toml:2: analysis.dsem.iterations: must be an integer in [4, 1000000], got 2");
  CHECK(error_of("[analysis.dsem]\niterations = 2000000") ==
        "s.toml:2: analysis.dsem.iterations: must be an integer in [4, 1000000], got 2000000");
  CHECK(error_of("[analysis.dsem]\niterations = 2001") == "s.toml:2: analysis.dsem.iterations: must be even, got 2001");
  CHECK(error_of("[analysis.dsem]\nthin = 2") == "s.toml:2: analysis.dsem.thin: unknown key");
  CHECK(error_of("", {"analysis.dsem.iterations=5"}) == "--set: analysis.dsem.iterations: must be even, got 5");
  CHECK(error_of("[sweep]\n\"analysis.dsem.iterations\" = [400, 401]\n") ==
        "s.toml:2: analysis.dsem.iterations: in condition 2: must be even, got 401");
  const ScenarioFile f =
      parse_scenario("[analysis.dsem]\nchains = 4\n[sweep]\n\"analysis.dsem.iterations\" = [400, 800]\n", "s.toml");
  REQUIRE(f.conditions.size() == 2);
  CHECK(f.conditions[0].scenario.analysis.dsem.chains == 4);
  CHECK(f.conditions[0].scenario.analysis.dsem.iterations == 400);
  CHECK(f.conditions[1].scenario.analysis.dsem.iterations == 800);
}

TEST_CASE("sweep errors name the sweep key", "[scenario]") {
  CHECK(error_of("[sweep]\n\"design.pateints\" = [1, 2]") ==
        "s.toml:2: sweep.design.pateints: must name a scenario key, got unknown key \"design.pateints\"");
  CHECK(error_of("[sweep]\n\"run.seed\" = [1, 2]") ==
        "s.toml:2: sweep.run.seed: must name a model, design, detection or analysis key; a study has one run.* "
        "setting, got \"run.seed\"");
  CHECK(error_of("[sweep]\n\"design.patients\" = []") ==
        "s.toml:2: sweep.design.patients: must list at least one value, got []");
  CHECK(error_of("[sweep]\n\"design.patients\" = 60") ==
        "s.toml:2: sweep.design.patients: must be a list of values, got 60");
  CHECK(error_of("[sweep]\n\"design.patients\" = [60, 0]") ==
        "s.toml:2: sweep.design.patients: must be an integer in [1, 100000000], got 0");
  CHECK(error_of("[design.sessions]\nmax = 20\n[sweep]\n\"design.sessions.min\" = [3, 25]") ==
        "s.toml:4: design.sessions.min: in condition 2: must be <= design.sessions.max (20), got 25");
}

TEST_CASE("command-line overrides (--set) are applied before validation and blamed on --set", "[scenario]") {
  const ScenarioFile f = parse_scenario("[design]\npatients = 50", "s.toml",
                                        {"design.patients=200", "detection.rule=\"rci\"", "alliance.mean=3"});
  CHECK(f.base.design.patients == 200);
  CHECK(f.base.detection.rule == DetectionRule::Rci);
  CHECK(f.base.alliance.mean == 3.0);
  CHECK(error_of("", {"design.patients=0"}) == "--set: design.patients: must be an integer in [1, 100000000], got 0");
  CHECK(error_of("", {"design.nope=1"}) == "--set: design.nope: unknown key");
  CHECK(error_of("", {"design.patients"}) == "--set: design.patients: expected KEY=VALUE");
  CHECK(error_of("", {"detection.rule=rci"}) ==
        "--set: detection.rule: expected a TOML value (strings in double quotes), got rci");
  const ScenarioFile g = parse_scenario("", "s.toml", {"sweep.design.patients=[10, 20]"});
  CHECK(g.conditions.size() == 2);
}

TEST_CASE("sweeps expand as a Cartesian product, the first key varying slowest", "[scenario]") {
  const ScenarioFile f = parse_scenario(
      "[sweep]\n\"design.patients\" = [60, 119]\n\"detection.rule\" = [\"rci\", \"sd_drop\", \"absolute_drop\"]\n",
      "s.toml");
  REQUIRE(f.conditions.size() == 6);
  const std::vector<std::pair<std::int64_t, std::string>> expected = {
      {60, "rci"}, {60, "sd_drop"}, {60, "absolute_drop"}, {119, "rci"}, {119, "sd_drop"}, {119, "absolute_drop"}};
  for (std::size_t c = 0; c < 6; ++c) {
    CHECK(f.conditions[c].index == static_cast<int>(c) + 1);
    CHECK(f.conditions[c].scenario.design.patients == expected[c].first);
    CHECK(name(f.conditions[c].scenario.detection.rule) == expected[c].second);
    CHECK(std::get<std::int64_t>(f.conditions[c].swept_values[0]) == expected[c].first);
  }
  CHECK(f.conditions[0].scenario.detection.threshold() == 1.96);
  CHECK(f.conditions[1].scenario.detection.threshold() == 1.5);
}

TEST_CASE("sweep axes keep the order they are written in, not alphabetical order", "[scenario]") {
  const ScenarioFile f =
      parse_scenario("[sweep]\n\"rupture.onset_probability\" = [0.05, 0.1]\n\"design.patients\" = [30, 60, 90]\n",
                     "s.toml", {"sweep.alliance.ar=[0.1, 0.2]"});
  REQUIRE(f.sweep.size() == 3);
  CHECK(f.sweep[0].key == "rupture.onset_probability");
  CHECK(f.sweep[1].key == "design.patients");
  CHECK(f.sweep[2].key == "alliance.ar");
  REQUIRE(f.conditions.size() == 12);
  CHECK(f.conditions[0].scenario.rupture.onset_probability == 0.05);
  CHECK(f.conditions[5].scenario.rupture.onset_probability == 0.05);
  CHECK(f.conditions[6].scenario.rupture.onset_probability == 0.1);
  CHECK(f.conditions[1].scenario.design.patients == 30);
  CHECK(f.conditions[1].scenario.alliance.ar == 0.2);
  CHECK(f.conditions[2].scenario.design.patients == 60);
  // the resolved TOML keeps the order too
  const std::string text = to_toml(f);
  CHECK(text.find("\"rupture.onset_probability\"") < text.find("\"design.patients\""));
  CHECK(text.find("\"design.patients\"") < text.find("\"alliance.ar\""));
}

TEST_CASE("the resolved TOML round-trips to the same scenario", "[scenario]") {
  const std::string text =
      "name = \"rt\"\n[alliance]\nmean = 3.25\ngrowth_shape = \"linear\"\n[raters.therapist]\nregistration = 0.7\n"
      "[detection]\nroc_thresholds = [0.25, 0.5, 1.0]\n[analysis]\nmodels = [\"lagged\", \"oracle\"]\n"
      "[sweep]\n\"distress.effects.rupture\" = [0.0, 1.5]\n\"design.patients\" = [30, 60]\n";
  const ScenarioFile a = parse_scenario(text, "a.toml");
  const std::string resolved = to_toml(a);
  const ScenarioFile b = parse_scenario(resolved, "b.toml");
  CHECK(to_toml(b) == resolved);
  for (const auto& key : scenario_keys())
    CHECK(format_value(get_key(a.base, key)) == format_value(get_key(b.base, key)));
  REQUIRE(b.conditions.size() == 4);
  for (std::size_t c = 0; c < 4; ++c)
    for (const auto& key : scenario_keys())
      CHECK(format_value(get_key(a.conditions[c].scenario, key)) ==
            format_value(get_key(b.conditions[c].scenario, key)));
}

TEST_CASE("the command line exits 2 with one stderr line and writes nothing on bad input", "[scenario][cli]") {
  const auto dir = scratch_dir("scenario-cli");
  write_text(dir / "bad.toml", "[rupture]\ndepth_sd = -1\n");
  auto r = run_cli("simulate bad.toml --out cohort.csv", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "bad.toml:2: rupture.depth_sd: must be a number >= 0.0, got -1.0\n");
  CHECK(r.out.empty());
  CHECK_FALSE(std::filesystem::exists(dir / "cohort.csv"));

  r = run_cli("validate missing.toml", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "missing.toml: config: expected a scenario file (TOML), got no such file or directory\n");

  write_text(dir / "ok.toml", "[design]\npatients = 12\n");
  r = run_cli("simulate ok.toml --out cohort.csv --condition 2", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "--condition: must be in [1, 1], got 2\n");
  CHECK_FALSE(std::filesystem::exists(dir / "cohort.csv"));

  r = run_cli("simulate ok.toml --out cohort.csv --bogus", dir);
  CHECK(r.status == 2);
  CHECK_FALSE(std::filesystem::exists(dir / "cohort.csv"));

  r = run_cli("validate ok.toml", dir);
  CHECK(r.status == 0);
  write_text(dir / "resolved.toml", r.out);
  auto again = run_cli("validate resolved.toml", dir);
  CHECK(again.status == 0);
  // The printed scenario is stable under re-validation (apart from the file name on line 1).
  CHECK(again.out.substr(again.out.find('\n')) == r.out.substr(r.out.find('\n')));
}

TEST_CASE("every class of bad scenario exits 2 on the command line with one line and no output", "[scenario][cli]") {
  const auto dir = scratch_dir("scenario-classes");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[design]\nfoo = 1", "bad.toml:2: design.foo: unknown key"},
      {"[foo]\nx = 1", "bad.toml:1: foo: unknown section"},
      {"[design]\npatients = \"many\"",
       "bad.toml:2: design.patients: must be an integer in [1, 100000000], got \"many\""},
      {"[alliance]\nmean = inf", "bad.toml:2: alliance.mean: must be a finite number, got inf"},
      {"[rupture]\nrepair_probability = -0.1",
       "bad.toml:2: rupture.repair_probability: must be a number in [0.0, 1.0], got -0.1"},
      {"[distress]\ntrend_sd = -1", "bad.toml:2: distress.trend_sd: must be a number >= 0.0, got -1.0"},
      {"[design.sessions]\nmin = 9\nmax = 4",
       "bad.toml:2: design.sessions.min: must be <= design.sessions.max (4), got 9"},
      {"[raters.therapist]\nscale_min = 6",
       "bad.toml:2: raters.therapist.scale_min: must be < raters.therapist.scale_max (5.0), got 6.0"},
      {"[design]\ntherapists = 0", "bad.toml:2: design.therapists: must be an integer in [1, 1000000], got 0"},
      {"[distress]\nitems = 0", "bad.toml:2: distress.items: must be an integer in [1, 1000], got 0"},
      {"[design]\nallocation = \"by hand\"",
       "bad.toml:2: design.allocation: must be one of \"balanced\", \"random\", got \"by hand\""},
      {"[sweep]\n\"design.nope\" = [1]",
       "bad.toml:2: sweep.design.nope: must name a scenario key, got unknown key \"design.nope\""},
      {"[sweep]\n\"design.patients\" = []", "bad.toml:2: sweep.design.patients: must list at least one value, got []"},
      {"[sweep]\n\"rupture.onset_probability\" = [0.1, 2.0]",
       "bad.toml:2: sweep.rupture.onset_probability: must be a number in [0.0, 1.0], got 2.0"},
  };
  for (const auto& [toml, message] : cases) {
    INFO(toml);
    write_text(dir / "bad.toml", toml + "\n");
    const auto r = run_cli("simulate bad.toml --out cohort.csv", dir);
    CHECK(r.status == 2);
    CHECK(r.err == message + "\n");
    CHECK(r.out.empty());
    CHECK_FALSE(std::filesystem::exists(dir / "cohort.csv"));
  }
}

namespace {

// Every choice key with its names (the README), in the order of its enum.
const std::vector<std::pair<std::string, std::vector<std::string>>> kChoiceKeys = {
    {"design.allocation", {"balanced", "random"}},
    {"design.sessions.distribution", {"fixed", "poisson", "uniform"}},
    {"alliance.growth_shape", {"log", "linear"}},
    {"distress.response", {"items", "continuous"}},
    {"raters.patient.response", {"items", "continuous"}},
    {"raters.therapist.response", {"items", "continuous"}},
    {"detection.rule", {"absolute_drop", "sd_drop", "rci", "percent_drop", "sudden_loss"}},
    {"detection.sd_reference", {"differences", "person", "baseline"}},
    {"detection.repair.mode", {"return", "rise"}},
    {"analysis.therapist", {"none", "fixed", "random"}},
    {"distress.effects.rupture_via", {"latent", "patient", "therapist", "either", "both"}},
    {"distress.effects.repair_via", {"latent", "patient", "therapist", "either", "both"}},
    {"analysis.df", {"satterthwaite", "residual", "z"}},
};

template <class E>
void check_round_trip(const std::vector<std::string>& expected) {
  const auto names = choice_names(E{});
  REQUIRE(names.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO(expected[i]);
    CHECK(names[i] == expected[i]);
    CHECK(parse<E>(expected[i]) == static_cast<E>(i));
    CHECK(name(static_cast<E>(i)) == expected[i]);
  }
  CHECK_FALSE(parse<E>("bogus").has_value());
  CHECK_FALSE(parse<E>("").has_value());
  CHECK_FALSE(parse<E>(expected[0] + " ").has_value());  // exact names only
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) s += (i ? ", \"" : "\"") + names[i] + "\"";
  return s;
}

}  // namespace

TEST_CASE("every choice enum's name() and parse() round-trip exactly", "[scenario][choice]") {
  check_round_trip<SessionDistribution>({"fixed", "poisson", "uniform"});
  check_round_trip<Allocation>({"balanced", "random"});
  check_round_trip<GrowthShape>({"log", "linear"});
  check_round_trip<Response>({"items", "continuous"});
  check_round_trip<DetectionRule>({"absolute_drop", "sd_drop", "rci", "percent_drop", "sudden_loss"});
  check_round_trip<SdReference>({"differences", "person", "baseline"});
  check_round_trip<RepairMode>({"return", "rise"});
  check_round_trip<TherapistTerm>({"none", "fixed", "random"});
  check_round_trip<DfMethod>({"satterthwaite", "residual", "z"});
  check_round_trip<ModelKind>({"lagged", "within", "oracle", "growth", "initial", "dsem"});
  check_round_trip<RaterId>({"patient", "therapist", "truth"});
}

TEST_CASE("every choice key reads each name into its enum and gives the same name back", "[scenario][choice]") {
  std::vector<std::string> choice_keys;
  for (const auto& key : scenario_keys())
    if (std::holds_alternative<std::string>(get_key(Scenario{}, key))) choice_keys.push_back(key);
  std::vector<std::string> listed;
  for (const auto& [key, names] : kChoiceKeys) listed.push_back(key);
  std::sort(choice_keys.begin(), choice_keys.end());
  std::sort(listed.begin(), listed.end());
  CHECK(choice_keys == listed);  // the list above is every choice key
  for (const auto& [key, names] : kChoiceKeys)
    for (const auto& n : names) {
      INFO(key << " = " << n);
      const std::string leaf = key.substr(key.rfind('.') + 1), section = key.substr(0, key.rfind('.'));
      const ScenarioFile f = parse_scenario("[" + section + "]\n" + leaf + " = \"" + n + "\"\n", "s.toml");
      CHECK(std::get<std::string>(get_key(f.base, key)) == n);
      CHECK(std::get<std::string>(get_key(parse_scenario(to_toml(f), "again.toml").base, key)) == n);
    }
  const ScenarioFile m = parse_scenario("[analysis]\nmodels = [\"growth\", \"lagged\"]\n", "s.toml");
  CHECK(m.base.analysis.models == std::vector<ModelKind>{ModelKind::Growth, ModelKind::Lagged});
  CHECK(std::get<std::vector<std::string>>(get_key(m.base, "analysis.models")) ==
        std::vector<std::string>{"growth", "lagged"});
}

TEST_CASE("a bad value of any choice key is one uniform line", "[scenario][choice]") {
  for (const auto& [key, names] : kChoiceKeys) {
    const std::string leaf = key.substr(key.rfind('.') + 1), section = key.substr(0, key.rfind('.'));
    CHECK(error_of("[" + section + "]\n" + leaf + " = \"bogus\"\n") ==
          "s.toml:2: " + key + ": must be one of " + quoted_list(names) + ", got \"bogus\"");
    CHECK(error_of("", {key + "=\"bogus\""}) ==
          "--set: " + key + ": must be one of " + quoted_list(names) + ", got \"bogus\"");
  }
  CHECK(error_of("[analysis]\nmodels = [\"lagged\", \"gmm\"]\n") ==
        "s.toml:2: analysis.models: must be one of \"lagged\", \"within\", \"oracle\", \"growth\", \"initial\", "
        "\"dsem\", got \"gmm\"");
}
