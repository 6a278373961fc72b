// The command line: a CLI11 subcommand per entry of the verb registry (cli/verbs.h); main parses,
// runs the chosen verb and maps exceptions to exit codes.
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "collabzium/cli/suggest.h"
#include "collabzium/cli/verbs.h"
#include "collabzium/error.h"
#include "collabzium/study/cluster.h"
#include "collabzium/study/runner.h"
#include "collabzium/study/version.h"

namespace {

using namespace collabzium;

// `collabzium` alone: a bad command line (exit 2, as for any other), so the usage goes to stderr.
constexpr const char* kUsage =
    "usage: collabzium VERB [ARGS...]   (collabzium --help lists the verbs, collabzium VERB --help their flags)\n"
    "examples:\n"
    "  collabzium validate configs/gidhagen2025.toml\n"
    "  collabzium run configs/gidhagen2025.toml --replications 200 --threads 2\n"
    "  collabzium summarize results/gidhagen2025.h5 --csv summary.csv\n";

// The top level takes only flags without values (--help, --version), so the first argument that is
// not a flag names the verb. Checked before CLI11 parses: it would answer "A subcommand is
// required" for a misspelt verb, and print the help for `frobnicate --help`.
std::optional<std::string> unknown_verb_message(int argc, char** argv, const std::vector<Verb>& verbs) {
  std::vector<std::string> names;
  for (const auto& verb : verbs) names.push_back(verb.name);
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;
    for (const auto& name : names)
      if (word == name) return std::nullopt;
    return "collabzium: unknown command '" + word + "'" + did_you_mean(similar_names(word, names)) +
           "; see collabzium --help";
  }
  return std::nullopt;
}

// After a failed parse: the first argument the chosen verb did not recognize that looks like one of
// its flags, e.g. --replication for --replications. Named before any other error of the same
// command line (a mistyped required flag would otherwise be reported as missing).
std::optional<std::string> mistyped_flag_message(const CLI::App& app) {
  const auto chosen = app.get_subcommands();
  if (chosen.empty()) return std::nullopt;
  const CLI::App& verb = *chosen.front();
  std::vector<std::string> flags;
  for (const CLI::Option* option : verb.get_options())
    for (const auto& name : option->get_lnames()) flags.push_back(name);
  for (const std::string& arg : app.remaining(true)) {
    if (arg.size() <= 2 || arg.compare(0, 2, "--") != 0) continue;
    const std::string typed = arg.substr(2, arg.find('=') - 2);  // --name=value: the name
    std::vector<std::string> similar = similar_names(typed, flags);
    if (similar.empty()) continue;
    for (auto& name : similar) name = "--" + name;
    return "collabzium: " + verb.get_name() + ": unknown flag '--" + typed + "'" + did_you_mean(similar) +
           "; see collabzium " + verb.get_name() + " --help";
  }
  return std::nullopt;
}

// Exit status 2 for anything the user gave (InputError); 1 for the rest, an interrupt included.
int run_verb(const Verb& verb, std::ostream& out, std::ostream& err) {
  try {
    verb.run(out, err);
    return 0;
  } catch (const InputError& e) {
    err << e.what() << "\n";
    return 2;
  } catch (const RunInterrupted& e) {
    err << "collabzium: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    err << "collabzium: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Cluster> launched;
  try {
    launched.emplace(&argc, &argv);  // MPI ranks when built with COLLABZIUM_MPI; one process otherwise
  } catch (const InputError& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  // Only rank 0 speaks: other ranks fail the same way and stay quiet.
  std::ostringstream muted;
  std::ostream& out = launched->rank() == 0 ? std::cout : muted;
  std::ostream& err = launched->rank() == 0 ? std::cerr : muted;

  const std::vector<Verb> verbs = make_verbs();
  CLI::App app{"Collabzium: Monte Carlo studies of alliance ruptures, repairs and distress"};
  app.require_subcommand(1);
  app.add_flag_callback(
      "--version",
      [&out] {
        out << version_line() << "\n";
        throw CLI::Success();
      },
      "print the program version, git sha and random-stream version and exit");
  std::vector<CLI::App*> subcommands;
  for (const Verb& verb : verbs) {
    subcommands.push_back(app.add_subcommand(verb.name, verb.help));
    verb.add_options(*subcommands.back());
  }

  if (argc == 1) {
    err << kUsage;
    return 2;
  }
  if (const auto message = unknown_verb_message(argc, argv, verbs)) {
    err << *message << "\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    const auto mistyped = mistyped_flag_message(app);
    err << (mistyped ? *mistyped : "collabzium: " + std::string(e.what()) + " (see --help)") << "\n";
    return 2;
  }
  for (std::size_t k = 0; k < verbs.size(); ++k)
    if (*subcommands[k]) return run_verb(verbs[k], out, err);
  return 0;  // not reached: require_subcommand(1)
}
