// A binary without MPI, started by an MPI launcher as several ranks, refuses instead of letting
// each copy write the same files.
#include <catch2/catch.hpp>
#include <cstdlib>

#include "collabzium/error.h"
#include "collabzium/study/cluster.h"

using namespace collabzium;

namespace {
// Sets an environment variable for one scope.
struct ScopedEnv {
  const char* name;
  ScopedEnv(const char* n, const char* value) : name(n) { ::setenv(n, value, 1); }
  ~ScopedEnv() { ::unsetenv(name); }
};
}  // namespace

TEST_CASE("launcher ranks come from the Open MPI and PMI environment", "[cluster]") {
  CHECK(launcher_ranks() == 1);
  {
    ScopedEnv e("OMPI_COMM_WORLD_SIZE", "3");
    CHECK(launcher_ranks() == 3);
    int argc = 0;
    char** argv = nullptr;
    CHECK_THROWS_AS(Cluster(&argc, &argv), InputError);
  }
  {
    ScopedEnv e("PMI_SIZE", "1");
    CHECK(launcher_ranks() == 1);
    int argc = 0;
    char** argv = nullptr;
    Cluster one(&argc, &argv);
    CHECK(one.size() == 1);
  }
  ScopedEnv bad("PMI_SIZE", "2x");
  CHECK(launcher_ranks() == 1);
}
