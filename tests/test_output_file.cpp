// Output files: atomic replacement of regular files, direct writes to special files, write errors
// as one clean message, and the refusal of one file in two roles.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "collabzium/error.h"
#include "collabzium/io/output_file.h"

using namespace collabzium;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& tag) {
  const fs::path d = fs::temp_directory_path() / ("collabzium-output-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_char_device(const char* p) {
  struct stat st {};
  return ::stat(p, &st) == 0 && S_ISCHR(st.st_mode);
}

}  // namespace

TEST_CASE("a regular file appears only when complete and replaces the old one", "[output]") {
  const fs::path d = fresh_dir("regular");
  const fs::path p = d / "out.txt";
  { std::ofstream(p) << "old"; }
  {
    AtomicFile f(p.string());
    CHECK_FALSE(f.direct());
    f.stream() << "new content";
    CHECK(slurp(p) == "old");
    CHECK(fs::exists(f.temporary_path()));
    f.commit();
  }
  CHECK(slurp(p) == "new content");
  CHECK(std::distance(fs::directory_iterator(d), fs::directory_iterator{}) == 1);
  {
    AtomicFile f((d / "abandoned.txt").string());
    f.stream() << "partial";
  }  // destroyed without commit: nothing left behind
  CHECK_FALSE(fs::exists(d / "abandoned.txt"));
  CHECK(std::distance(fs::directory_iterator(d), fs::directory_iterator{}) == 1);
  fs::remove_all(d);
}

TEST_CASE("a special file is written directly and stays what it is", "[output]") {
  REQUIRE(is_char_device("/dev/null"));
  {
    AtomicFile f("/dev/null");
    CHECK(f.direct());
    f.stream() << "discarded";
    f.commit();
  }
  CHECK(is_char_device("/dev/null"));

  const fs::path d = fresh_dir("fifo");
  const fs::path fifo = d / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string received;
  std::thread reader([&] { received = slurp(fifo); });
  {
    AtomicFile f(fifo.string());
    CHECK(f.direct());
    f.stream() << "through the pipe";
    f.commit();
  }
  reader.join();
  CHECK(received == "through the pipe");
  CHECK(fs::is_fifo(fifo));
  fs::remove_all(d);
}

TEST_CASE("a write error is one line naming the path and the reason", "[output]") {
  REQUIRE(fs::exists("/dev/full"));  // Linux
  AtomicFile f("/dev/full");
  f.stream() << std::string(1 << 16, 'x');
  try {
    f.commit();
    FAIL("commit to /dev/full succeeded");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CHECK(msg == "/dev/full: writing failed: No space left on device");
  }
}

TEST_CASE("a directory is not an output file", "[output]") {
  const fs::path d = fresh_dir("dir");
  CHECK_THROWS_AS(AtomicFile(d.string()), InputError);
  CHECK_THROWS_WITH(AtomicFile(d.string()), d.string() + ": is a directory; expected a file name to write");
  CHECK(fs::is_directory(d));
  fs::remove_all(d);
}

TEST_CASE("one file in two roles of a command is refused before writing", "[output]") {
  const fs::path d = fresh_dir("roles");
  const std::string a = (d / "a.csv").string(), b = (d / "b.json").string();
  { std::ofstream(a) << "x"; }
  // Different files, and special files repeated, pass.
  CHECK_NOTHROW(refuse_same_files({{"--data", a}}, {{"--out", b}, {"--events", (d / "c.csv").string()}}));
  CHECK_NOTHROW(refuse_same_files({}, {{"--out", "/dev/null"}, {"--events", "/dev/null"}}));
  CHECK_NOTHROW(refuse_same_files({{"--data", a}}, {{"--out", ""}}));
  // Two outputs, equal after normalization, even before either exists.
  CHECK_THROWS_WITH(refuse_same_files({}, {{"--out", b}, {"--events", (d / "." / "b.json").string()}}),
                    (d / "." / "b.json").string() + ": --events: is the same file as the output --out (" + b +
                        "); expected a different path");
  // An output that is an input, by another name: a symlink and a hard link.
  fs::create_symlink(a, d / "link.csv");
  fs::create_hard_link(a, d / "hard.csv");
  CHECK_THROWS_AS(refuse_same_files({{"--data", a}}, {{"--out", (d / "link.csv").string()}}), InputError);
  CHECK_THROWS_WITH(refuse_same_files({{"--data", a}}, {{"--csv", (d / "hard.csv").string()}}),
                    (d / "hard.csv").string() + ": --csv: is the same file as the input --data (" + a +
                        "); expected a different path");
  // An existing directory as an output.
  CHECK_THROWS_WITH(refuse_same_files({}, {{"--out", d.string()}}),
                    d.string() + ": --out: is a directory; expected a file name to write");
  CHECK(slurp(a) == "x");
  fs::remove_all(d);
}
