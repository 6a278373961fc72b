#include "collabzium/study/stop_signals.h"

#include <atomic>

namespace collabzium {
namespace {

// A signal handler may only touch lock-free atomics.
std::atomic<bool> g_stop{false};
extern "C" void request_stop(int) { g_stop.store(true); }

}  // namespace

StopSignals::StopSignals() {
  g_stop.store(false);
  struct sigaction sa {};
  sa.sa_handler = request_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

bool stop_requested() { return g_stop.load(); }

}  // namespace collabzium
