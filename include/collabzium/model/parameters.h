#pragma once
// The parameters that apply to a patient in a session (docs/model.md 2), as the simulator's session
// loop reads them. Today one set applies to everyone; a trial (MODEL.md 8) gives the patients of its
// intervention arm a second set from session `start` on. The simulator asks the table, never the
// Scenario, for these, so another arm is another entry here and not a change to the session loop.
//
// What is session-level and what is not. An entry holds the constants that the events of one
// session use: onset and repair (2.3), their effects on the next session's distress and its trend
// (2.4, 2.7), the raters' registration, sensitivity and false alarms (2.5), dropout (2.1). The
// structural parts (alliance and distress means, AR coefficients and innovation sds, the raters'
// scales) and the person-level sds that only person-level draws use stay in the Scenario: they
// are the same for everyone.
//
// Why person-level draws may not depend on the entry. A trial compares each patient with itself
// under both arms (potential outcomes from common random numbers): the random effects, the
// propensity, the therapist's skill and the raters' leniency must be the same numbers in both
// worlds, or the effect would mix the intervention with a different patient. So the simulator
// draws them before it asks the table anything, with a consumption that depends on no entry:
// propensity and repair skill are drawn standardized (when any entry's sd is not 0) and each entry
// scales them by its own sd. Session draws do depend on the entry (a repair that happens in one
// world and not the other consumes differently), so the simulator runs the sessions of a patient
// whose entry differs from the base entry from a copy of the streams and leaves the streams where
// the base entry's sessions leave them: the next patient's person-level draws are the same
// whichever entry applied to this one.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "collabzium/config/scenario.h"

namespace collabzium {

// A rater's session-level parameters (docs/model.md 2.5).
struct RaterSessionParameters {
  double registration = 1;  // probability of registering an episode, drawn at its onset
  double sensitivity = 1;   // share of a registered episode's depth the rater perceives
  double false_alarm_rate = 0;
};

// The constants of one session's events, precomputed as the session loop uses them (logits taken
// once, not per session).
struct SessionParameters {
  // 2.3: onset logit(onset_probability) + propensity + distress_effect·zD while intact; repair
  // logit(repair_probability) + skill (+ responsiveness shifts, 2.7) while ruptured.
  double onset_logit = 0;
  double propensity_sd = 0;  // scales the patient's standardized propensity
  double distress_effect = 0;
  double depth_mean = 0, depth_sd = 0;
  double repair_logit = 0;
  double repair_skill_sd = 0;  // scales the therapist's standardized skill
  double repair_bonus = 0;
  Responsiveness responsiveness;
  // 2.4 and 2.7: the step of distress from this session to the next: the effects of this
  // session's events and the trend's slope. trend_shift keeps the trend continuous where the
  // slope changes: (slope before − this slope)·(sessions before the change).
  DistressEffects effects;
  double trend = 0;
  double trend_shift = 0;
  // 2.1: the dropout hazard after this session.
  double dropout_logit = 0, dropout_unresolved = 0, dropout_distress = 0;
  RaterSessionParameters raters[2];  // patient, therapist (index_of(RaterId))
};

// The session-level parameters of `s`.
SessionParameters session_parameters(const Scenario& s);

// Which entry applies to patient i in session t: the base entry, or an arm's from its start on for
// the patients assigned to it.
class ParameterTable {
 public:
  explicit ParameterTable(const Scenario& s);

  // From session `start` (>= 1) on, the patients marked in assign() follow `arm`'s session-level
  // parameters; its other keys are ignored. One arm; a second call replaces it.
  void set_arm(const Scenario& arm, int start);
  // treated[i] != 0: patient i is in the arm (patients beyond the vector are not).
  void assign(std::vector<std::uint8_t> treated);

  const SessionParameters& at(std::size_t patient, int session) const {
    return session >= arm_start_ && in_arm(patient) ? arm_ : base_;
  }
  const SessionParameters& base() const { return base_; }
  // Whether patient i follows the base entry in every session.
  bool base_throughout(std::size_t patient) const { return arm_start_ == INT_MAX || !in_arm(patient); }
  // Whether the person-level standardized propensity and skill are drawn: when any entry uses them.
  bool draws_propensity() const { return base_.propensity_sd != 0 || arm_.propensity_sd != 0; }
  bool draws_repair_skill() const { return base_.repair_skill_sd != 0 || arm_.repair_skill_sd != 0; }

 private:
  bool in_arm(std::size_t patient) const { return patient < treated_.size() && treated_[patient] != 0; }

  SessionParameters base_, arm_;
  int arm_start_ = INT_MAX;  // no arm: no session reaches it
  std::vector<std::uint8_t> treated_;
};

}  // namespace collabzium
