// Input files: only regular files are read; directories, FIFOs and devices are refused at once
// (without blocking), and files over the size limit before allocating.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "collabzium/error.h"
#include "collabzium/input_file.h"

using namespace collabzium;
namespace fs = std::filesystem;

TEST_CASE("only regular files are read, each refusal one line", "[input]") {
  const fs::path d = fs::temp_directory_path() / ("collabzium-input-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  const std::string what = "a scenario file (TOML)";
  const fs::path f = d / "a.toml";
  { std::ofstream(f) << "name = \"x\"\n"; }
  CHECK(read_input_file(f.string(), "config", what, 100) == "name = \"x\"\n");
  CHECK_THROWS_WITH(read_input_file(f.string(), "config", what, 5),
                    f.string() + ": config: expected a scenario file (TOML) of at most 5 bytes, got 11 bytes");
  CHECK_THROWS_WITH(read_input_file(d.string(), "config", what, 100),
                    d.string() + ": config: expected a scenario file (TOML), got a directory");
  // A FIFO without a writer: refused at once instead of blocking.
  const fs::path fifo = d / "pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(read_input_file(fifo.string(), "--data", "a CSV file", 100),
                    fifo.string() + ": --data: expected a CSV file, got a FIFO");
  CHECK_THROWS_WITH(check_regular_input("/dev/null", "FILE", "a results file (.h5)"),
                    "/dev/null: FILE: expected a results file (.h5), got a device");
  CHECK_THROWS_WITH(
      check_regular_input((d / "missing").string(), "config", what),
      (d / "missing").string() + ": config: expected a scenario file (TOML), got no such file or directory");
  fs::remove_all(d);
}
