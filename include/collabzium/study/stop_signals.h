#pragma once
// SIGINT and SIGTERM as a request to stop a study (`run`, `infer`) at the next batch: the batch in
// flight finishes and is written, so the file stays resumable.
#include <signal.h>

namespace collabzium {

// Installs SIGINT/SIGTERM handlers for its lifetime that set stop_requested(), and restores the
// previous ones. The request is cleared when a guard is made, so an earlier run's signal does not
// stop the next one.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

// Whether SIGINT or SIGTERM arrived since the last StopSignals was made.
bool stop_requested();

}  // namespace collabzium
