#pragma once
// The verbs of the command line, one entry each: its name, its one-line help, its options and what
// it runs. main.cpp makes a CLI11 subcommand of every entry, parses, runs the chosen one and maps
// exceptions to exit codes; adding a verb is adding an entry here (src/cli/verbs.cpp).
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace collabzium {

struct Verb {
  std::string name;
  std::string help;  // one line, listed by `collabzium --help`
  // Registers the verb's arguments and flags on its subcommand, bound to option storage the entry
  // owns, so that `run` sees what was parsed.
  std::function<void(CLI::App& subcommand)> add_options;
  // Runs the verb on the parsed options; the report goes to `out`, warnings to `err`.
  std::function<void(std::ostream& out, std::ostream& err)> run;
};

// Every verb, in the order `collabzium --help` lists them; each call has fresh option storage.
std::vector<Verb> make_verbs();

}  // namespace collabzium
