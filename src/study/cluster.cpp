#include "collabzium/study/cluster.h"

#include <cstdlib>
#include <string>

#include "collabzium/error.h"

#ifdef COLLABZIUM_HAVE_MPI
#include <mpi.h>
#endif

namespace collabzium {

namespace {
Cluster* g_current = nullptr;
}

int launcher_ranks() {
  // Open MPI's mpirun and PMI launchers (MPICH's hydra, Slurm's PMI) announce the job size.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end == '\0' && n > 1) return n > 1000000 ? 1000000 : static_cast<int>(n);
  }
  return 1;
}

Cluster::Cluster(int* argc, char*** argv) {
#ifdef COLLABZIUM_HAVE_MPI
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    // Only the main thread calls MPI; OpenMP threads compute.
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    owns_mpi_ = true;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
#else
  (void)argc;
  (void)argv;
  const int launched = launcher_ranks();
  if (launched > 1)
    throw InputError("collabzium: started as " + std::to_string(launched) +
                     " ranks by an MPI launcher, but this binary has no MPI (each copy would write the same "
                     "files); run collabzium-mpi under mpirun instead");
#endif
  g_current = this;
}

Cluster::~Cluster() {
  if (g_current == this) g_current = nullptr;
#ifdef COLLABZIUM_HAVE_MPI
  if (owns_mpi_) MPI_Finalize();
#endif
}

Cluster* Cluster::current() { return g_current; }

namespace {

// Broadcasts a resizable byte container from rank 0: its size first, then its bytes.
template <class Bytes>
void broadcast_bytes(const Cluster& cluster, Bytes& bytes) {
  if (cluster.size() == 1) return;
  std::uint64_t n = bytes.size();
  cluster.broadcast(n);
  bytes.resize(n);
#ifdef COLLABZIUM_HAVE_MPI
  MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0, MPI_COMM_WORLD);
#endif
}

}  // namespace

void Cluster::broadcast(std::string& text) const { broadcast_bytes(*this, text); }

void Cluster::broadcast(std::vector<std::uint8_t>& bytes) const { broadcast_bytes(*this, bytes); }

void Cluster::broadcast(std::uint64_t& value) const {
  if (size_ == 1) return;
#ifdef COLLABZIUM_HAVE_MPI
  MPI_Bcast(&value, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
#else
  (void)value;
#endif
}

std::vector<double> Cluster::gather(const std::vector<double>& mine) const {
  if (size_ == 1) return mine;
  std::vector<double> all;
#ifdef COLLABZIUM_HAVE_MPI
  int n = static_cast<int>(mine.size());
  std::vector<int> counts(rank_ == 0 ? size_ : 0), displs(rank_ == 0 ? size_ : 0);
  MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank_ == 0) {
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[r] = total;
      total += counts[r];
    }
    all.resize(static_cast<std::size_t>(total));
  }
  MPI_Gatherv(mine.data(), n, MPI_DOUBLE, all.data(), counts.data(), displs.data(), MPI_DOUBLE, 0, MPI_COMM_WORLD);
#endif
  return all;
}

void Cluster::abort(int code) const {
#ifdef COLLABZIUM_HAVE_MPI
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

int cluster_rank() { return Cluster::current() ? Cluster::current()->rank() : 0; }
int cluster_size() { return Cluster::current() ? Cluster::current()->size() : 1; }

}  // namespace collabzium
