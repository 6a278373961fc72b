// The command line as its users meet it: --version, no arguments, a misspelt verb or flag. The
// messages are asserted exactly: scripts and users match on them.
#include <catch2/catch.hpp>
#include <regex>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "collabzium/cli/suggest.h"
#include "collabzium/cli/verbs.h"
#include "collabzium/study/version.h"

using namespace collabzium;
using namespace collabzium::testing;

TEST_CASE("the verb registry holds every verb of the interface, each with a one-line help", "[cli]") {
  std::vector<std::string> names;
  for (const Verb& verb : make_verbs()) {
    names.push_back(verb.name);
    CHECK_FALSE(verb.help.empty());
    CHECK(verb.help.find('\n') == std::string::npos);
    CHECK(verb.add_options);
    CHECK(verb.run);
  }
  CHECK(names == std::vector<std::string>{"validate", "simulate", "analyze", "run", "summarize", "infer", "solve",
                                          "calibrate", "serve"});
}

TEST_CASE("collabzium --version prints the program, git and random-stream versions, and validate shows the same line",
          "[cli]") {
  const auto dir = scratch_dir("cli-version");
  const CliResult r = run_cli("--version", dir);
  CHECK(r.status == 0);
  CHECK(r.err.empty());
  CHECK(r.out == version_line() + "\n");
  CHECK(
      std::regex_match(r.out, std::regex("collabzium [0-9]+\\.[0-9]+\\.[0-9]+ \\(git ([0-9a-f]{12}(-dirty)?|unknown), "
                                         "random streams v1\\)\n")));

  write_text(dir / "s.toml", "");
  const CliResult v = run_cli("validate s.toml", dir);
  REQUIRE(v.status == 0);
  CHECK(v.out.rfind("# s.toml: valid\n# " + version_line() + "\n", 0) == 0);
}

TEST_CASE("collabzium without arguments prints a short usage with examples and exits 2", "[cli]") {
  const CliResult r = run_cli("", scratch_dir("cli-usage"));
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "usage: collabzium VERB [ARGS...]   (collabzium --help lists the verbs, collabzium VERB --help their flags)\n"
        "examples:\n"
        "  collabzium validate configs/gidhagen2025.toml\n"
        "  collabzium run configs/gidhagen2025.toml --replications 200 --threads 2\n"
        "  collabzium summarize results/gidhagen2025.h5 --csv summary.csv\n");
}

TEST_CASE("an unknown verb exits 2 naming it, with the verbs it is close to", "[cli]") {
  const auto dir = scratch_dir("cli-verb");
  for (const std::string args : {"frobnicate", "frobnicate --help", "--help frobnicate", "frobnicate s.toml"}) {
    INFO(args);
    const CliResult r = run_cli(args, dir);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(r.err == "collabzium: unknown command 'frobnicate'; see collabzium --help\n");
  }
  const std::vector<std::pair<std::string, std::string>> close = {
      {"simualte", "simulate"}, {"summary", "summarize"}, {"calib", "calibrate"}, {"serv", "serve"}, {"Run", "run"}};
  for (const auto& [typed, meant] : close) {
    const CliResult r = run_cli(typed + " s.toml --help", dir);
    CHECK(r.status == 2);
    CHECK(r.err ==
          "collabzium: unknown command '" + typed + "' (did you mean " + meant + "?); see collabzium --help\n");
  }
}

TEST_CASE("a mistyped flag exits 2 with the flag it is close to, other unexpected arguments as before", "[cli]") {
  const auto dir = scratch_dir("cli-flag");
  write_text(dir / "s.toml", "[design]\npatients = 12\n");
  CliResult r = run_cli("run cfg --replication 10", dir);
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "collabzium: run: unknown flag '--replication' (did you mean --replications?); see collabzium run "
        "--help\n");
  // Named before the required --out it was meant to be.
  r = run_cli("simulate s.toml --outt c.csv", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "collabzium: simulate: unknown flag '--outt' (did you mean --out?); see collabzium simulate --help\n");
  r = run_cli("run s.toml --replicatons=5", dir);
  CHECK(r.err ==
        "collabzium: run: unknown flag '--replicatons' (did you mean --replications?); see collabzium run "
        "--help\n");
  r = run_cli("solve s.toml --vary design.patients --target oracle.truth.rupture --power 0.8 --verify 10", dir);
  CHECK(r.err ==
        "collabzium: solve: unknown flag '--verify' (did you mean --verify-replications?); see collabzium "
        "solve --help\n");
  CHECK_FALSE(std::filesystem::exists(dir / "c.csv"));

  // Nothing close: CLI11's message, unchanged.
  r = run_cli("simulate s.toml --out c.csv --bogus", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "collabzium: The following argument was not expected: --bogus (see --help)\n");
  r = run_cli("validate s.toml a b", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "collabzium: The following arguments were not expected: b a (see --help)\n");
  r = run_cli("simulate s.toml", dir);
  CHECK(r.err == "collabzium: --out is required (see --help)\n");
}

TEST_CASE("suggestions: the closest names within a third of their length, or the names a prefix begins", "[cli]") {
  const std::vector<std::string> verbs = {"validate", "simulate", "analyze",   "run",  "summarize",
                                          "infer",    "solve",    "calibrate", "serve"};
  CHECK(similar_names("simualte", verbs) == std::vector<std::string>{"simulate"});
  CHECK(similar_names("anlyze", verbs) == std::vector<std::string>{"analyze"});
  CHECK(similar_names("s", verbs).empty());
  CHECK(similar_names("frobnicate", verbs).empty());
  CHECK(similar_names("run", verbs).empty());  // a known name is not a suggestion for itself
  CHECK(similar_names("anything", {}).empty());
  const std::vector<std::string> flags = {"replications", "verify-replications", "resume", "seed"};
  CHECK(similar_names("replication", flags) == std::vector<std::string>{"replications"});
  CHECK(similar_names("re", flags).empty());  // too short to be taken for a prefix
  CHECK(similar_names("see", flags) == std::vector<std::string>{"seed"});
  CHECK(similar_names("res", {"resume", "reset"}) == std::vector<std::string>{"resume", "reset"});

  CHECK(did_you_mean({}).empty());
  CHECK(did_you_mean({"run"}) == " (did you mean run?)");
  CHECK(did_you_mean({"run", "serve"}) == " (did you mean run or serve?)");
  CHECK(did_you_mean({"a", "b", "c"}) == " (did you mean a, b or c?)");
}
