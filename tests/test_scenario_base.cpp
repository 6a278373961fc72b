// `base = "FILE"` in scenario files: a file starts from another scenario file's values (deep-merged
// under its own), chains are followed, cycles and unreadable bases are refused, and messages about
// an inherited value name the file and line it came from. Fixtures: tests/data/base/.
#include <catch2/catch.hpp>
#include <filesystem>

#include "cli_runner.h"
#include "collabzium/error.h"
#include "collabzium/config/scenario.h"

using namespace collabzium;
using namespace collabzium::testing;

namespace {

const std::string kDir = std::string(COLLABZIUM_SOURCE_DIR) + "/tests/data/base/";

std::string load_error(const std::string& path, const std::vector<std::string>& sets = {}) {
  try {
    load_scenario(path, sets);
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

std::vector<std::string> axis_keys(const ScenarioFile& f) {
  std::vector<std::string> keys;
  for (const auto& a : f.sweep) keys.push_back(a.key);
  return keys;
}

}  // namespace

TEST_CASE("a scenario inherits every value its base sets and overrides some", "[scenario][base]") {
  const ScenarioFile f =
      parse_scenario("base = \"root.toml\"\n[rupture]\nonset_probability = 0.3\n", kDir + "child.toml");
  CHECK(f.base.rupture.onset_probability == 0.3);  // its own value wins
  CHECK(f.base.rupture.depth_mean == 0.7);         // inherited
  CHECK(f.base.design.therapists == 4);            // inherited
  CHECK(f.base.alliance.mean == 3.6);              // set by neither: the default
  // A file's name and description are its own, never the base's.
  CHECK(f.base.name == "scenario");
  CHECK(f.base.description.empty());
  // The base's sweep, as written there.
  CHECK(axis_keys(f) == std::vector<std::string>{"design.patients", "design.therapists"});
  CHECK(f.conditions.size() == 4);
}

TEST_CASE("a chain of three files resolves from the deepest base up, relative to each file", "[scenario][base]") {
  const ScenarioFile leaf = load_scenario(kDir + "nested/leaf.toml");
  const Scenario& s = leaf.base;
  CHECK(s.name == "leaf");
  CHECK(s.description.empty());
  CHECK(s.design.therapists == 4);              // root
  CHECK(s.rupture.onset_probability == 0.2);    // root
  CHECK(s.rupture.depth_mean == 0.8);           // middle over root
  CHECK(s.raters.patient.registration == 0.7);  // leaf over middle
  CHECK(s.raters.patient.offset == 0.25);       // default
  // Sweep axes merge by key: middle redefines design.patients, which then follows root's axes;
  // leaf's own axis comes last (varies fastest).
  CHECK(axis_keys(leaf) == std::vector<std::string>{"design.therapists", "design.patients", "distress.ar"});
  REQUIRE(leaf.sweep[1].values.size() == 3);
  CHECK(std::get<std::int64_t>(leaf.sweep[1].values[0]) == 50);
  REQUIRE(leaf.conditions.size() == 12);
  CHECK(leaf.conditions[0].scenario.design.therapists == 3);
  CHECK(leaf.conditions[0].scenario.design.patients == 50);
  CHECK(leaf.conditions[0].scenario.distress.ar == 0.1);
  CHECK(leaf.conditions[11].scenario.design.therapists == 4);
  CHECK(leaf.conditions[11].scenario.design.patients == 70);
  CHECK(leaf.conditions[11].scenario.distress.ar == 0.2);

  // The middle file on its own: root's values, its own overrides, no name of its own.
  const ScenarioFile middle = load_scenario(kDir + "middle.toml");
  CHECK(middle.base.name == "scenario");
  CHECK(middle.base.rupture.depth_mean == 0.8);
  CHECK(middle.base.raters.patient.registration == 0.6);
  CHECK(axis_keys(middle) == std::vector<std::string>{"design.therapists", "design.patients"});
}

TEST_CASE("an override (--set) replaces an inherited value but cannot name a base", "[scenario][base]") {
  const ScenarioFile f = load_scenario(kDir + "nested/leaf.toml", {"rupture.depth_mean=0.9"});
  CHECK(f.base.rupture.depth_mean == 0.9);
  CHECK(load_error(kDir + "nested/leaf.toml", {"base=\"root.toml\""}) ==
        "--set: base: cannot be set with --set; name the base in the scenario file");
}

TEST_CASE("a cycle of bases is refused with the chain in the message", "[scenario][base]") {
  const std::string a = kDir + "cycle_a.toml", b = kDir + "cycle_b.toml";
  CHECK(load_error(a) == b + ":2: base: the chain of bases is a cycle: " + a + " -> " + b + " -> " + a);
  // A file that names itself.
  CHECK_THROWS_WITH(
      parse_scenario("\nbase = \"self.toml\"\n", kDir + "self.toml"),
      kDir + "self.toml:2: base: the chain of bases is a cycle: " + kDir + "self.toml -> " + kDir + "self.toml");
}

TEST_CASE("a missing or malformed base is one line naming the file that names it", "[scenario][base]") {
  CHECK(load_error(kDir + "missing_base.toml") ==
        kDir + "missing_base.toml:3: base: cannot read \"" + kDir + "no_such_file.toml\"");
  CHECK_THROWS_WITH(parse_scenario("base = \"nested\"", kDir + "s.toml"),
                    kDir + "s.toml:1: base: cannot read \"" + kDir + "nested\"");
  CHECK_THROWS_WITH(parse_scenario("name = \"x\"\nbase = 3", "s.toml"),
                    "s.toml:2: base: must be the name of a scenario file, relative to this one");
  CHECK_THROWS_WITH(parse_scenario("base = \"\"", "s.toml"),
                    "s.toml:1: base: must be the name of a scenario file, relative to this one");
}

TEST_CASE("a bad value inside a base is reported with the base's file and line", "[scenario][base]") {
  CHECK(load_error(kDir + "bad_child.toml") ==
        kDir + "bad_base.toml:4: design.patients: must be an integer in [1, 100000000], got 0");
}

TEST_CASE("validate of a child prints the resolved scenario, which parses back to the same one",
          "[scenario][base][cli]") {
  const auto dir = scratch_dir("scenario-base");
  // Run from another directory with a relative path: the base resolves against the file, not the
  // working directory.
  const auto leaf = std::filesystem::relative(kDir + "nested/leaf.toml", dir).string();
  const CliResult r = run_cli("validate '" + leaf + "'", dir);
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("\nbase = \"") == std::string::npos);  // resolved: no base left to follow

  const ScenarioFile direct = load_scenario(kDir + "nested/leaf.toml");
  const ScenarioFile printed = parse_scenario(r.out, "printed.toml");
  CHECK(to_toml(printed) == to_toml(direct));
  CHECK(printed.base.name == "leaf");
  REQUIRE(printed.conditions.size() == direct.conditions.size());
  for (std::size_t c = 0; c < direct.conditions.size(); ++c)
    CHECK(printed.conditions[c].swept_values == direct.conditions[c].swept_values);
}

TEST_CASE("the shipped experiments inherit the calibrated seed scenario", "[scenario][base]") {
  const ScenarioFile seed = load_scenario(std::string(COLLABZIUM_SOURCE_DIR) + "/configs/gidhagen2025.toml");
  const ScenarioFile power = load_scenario(std::string(COLLABZIUM_SOURCE_DIR) + "/configs/power_patients.toml");
  CHECK(power.base.name == "power_patients");
  CHECK(power.base.rupture.onset_probability == seed.base.rupture.onset_probability);
  CHECK(power.base.raters.therapist.false_alarm_rate == seed.base.raters.therapist.false_alarm_rate);
  CHECK(power.base.detection.threshold_value == seed.base.detection.threshold_value);
  CHECK(power.base.run.replications == 2000);
}
