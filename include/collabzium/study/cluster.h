#pragma once
// The processes of a run: one without MPI, or the ranks of `mpirun -np K` when built with
// COLLABZIUM_MPI=ON. Rank 0 owns the results file; the others compute and send their records.
// Task-to-rank assignment never changes a result: each replication draws from its own streams.
#include <cstdint>
#include <string>
#include <vector>

namespace collabzium {

class Cluster {
 public:
  // Initializes MPI when available and not yet initialized; finalizes in the destructor. Without
  // MPI, throws InputError when launched as one of several ranks (launcher_ranks() > 1).
  Cluster(int* argc, char*** argv);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  static Cluster* current();  // the process's cluster, or nullptr outside main (tests): one process
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Collective operations (no-ops with one process).
  void broadcast(std::string& text) const;  // from rank 0
  void broadcast(std::vector<std::uint8_t>& bytes) const;
  void broadcast(std::uint64_t& value) const;
  // Concatenates every rank's `mine` on rank 0, in rank order; other ranks get an empty vector.
  std::vector<double> gather(const std::vector<double>& mine) const;
  void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false;
};

// The number of ranks an MPI launcher started this process among (1 when not launched so). A
// binary without MPI refuses to run as one of several ranks: the copies would write one file.
int launcher_ranks();

// rank and size of Cluster::current(), or 0 and 1.
int cluster_rank();
int cluster_size();

}  // namespace collabzium
