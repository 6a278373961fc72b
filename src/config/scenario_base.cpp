#include "scenario_base.h"

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <system_error>

#include "collabzium/error.h"

namespace collabzium {

namespace {

namespace fs = std::filesystem;

// A `base = "..."` entry: the file that names it, its line there, and the file it names, resolved
// against the naming file's directory.
struct BaseRef {
  std::string named_in;
  long line;
  std::string file;
};

[[noreturn]] void fail(const std::string& file, long line, const std::string& what) {
  throw InputError(locate(file, line, "base", what));
}

std::optional<BaseRef> base_of(const toml::table& table, const std::string& file) {
  const toml::node* node = table.get("base");
  if (!node) return std::nullopt;
  const long line = static_cast<long>(node->source().begin.line);
  const auto* name = node->as_string();
  if (!name || name->get().empty()) fail(file, line, "must be the name of a scenario file, relative to this one");
  const fs::path resolved = (fs::path(file).parent_path() / name->get()).lexically_normal();
  return BaseRef{file, line, resolved.generic_string()};
}

// Two spellings of one file must be recognized as the same file in a cycle.
fs::path identity(const std::string& file) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::path(file), ec);
  return ec ? fs::absolute(fs::path(file)).lexically_normal() : p;
}

toml::table read_base(const BaseRef& ref) {
  std::error_code ec;
  std::ifstream in(ref.file, std::ios::binary);
  if (!in || fs::is_directory(ref.file, ec)) fail(ref.named_in, ref.line, "cannot read \"" + ref.file + "\"");
  std::ostringstream text;
  text << in.rdbuf();
  try {
    // The source path makes every node of the base name the base file in messages.
    return toml::parse(text.str(), std::string_view(ref.file));
  } catch (const toml::parse_error& e) {
    throw InputError(locate(ref.file, static_cast<long>(e.source().begin.line), "",
                            "invalid TOML: " + std::string(e.description())));
  }
}

// Moves every entry of `lower` that `upper` does not set into `upper`; tables both have are merged
// the same way. Moving (not copying) keeps each node's source region.
void merge_under(toml::table& upper, toml::table& lower) {
  for (auto&& [key, node] : lower) {
    toml::node* own = upper.get(key.str());
    if (!own) upper.insert(key, std::move(node));
    else if (own->is_table() && node.is_table()) merge_under(*own->as_table(), *node.as_table());
  }
}

}  // namespace

std::vector<std::string> merge_base_chain(toml::table& root, const std::string& path,
                                          const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    std::string key = o.substr(0, o.find('='));
    key.erase(key.find_last_not_of(" \t") + 1);
    if (key == "base" || key.rfind("base.", 0) == 0)
      fail("--set", 0, "cannot be set with --set; name the base in the scenario file");
  }
  std::vector<std::string> chain{path};
  std::vector<fs::path> seen{identity(path)};
  std::optional<BaseRef> ref = base_of(root, path);
  root.erase("base");
  while (ref) {
    const fs::path id = identity(ref->file);
    for (const auto& s : seen)
      if (s == id) {
        std::string cycle;
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) cycle += *it + " -> ";
        fail(ref->named_in, ref->line, "the chain of bases is a cycle: " + cycle + ref->file);
      }
    toml::table base = read_base(*ref);
    std::optional<BaseRef> next = base_of(base, ref->file);
    for (const char* own : {"base", "name", "description"}) base.erase(own);
    merge_under(root, base);
    chain.insert(chain.begin(), ref->file);
    seen.push_back(id);
    ref = std::move(next);
  }
  return chain;
}

std::size_t chain_position(const std::vector<std::string>& chain, const toml::node& node) {
  const auto& source = node.source().path;
  if (source)
    for (std::size_t i = 0; i < chain.size(); ++i)
      if (chain[i] == *source) return i;
  return chain.size();
}

}  // namespace collabzium
