#include "collabzium/model/parameters.h"

#include <cmath>
#include <utility>

namespace collabzium {

namespace {

double logit(double p) { return std::log(p / (1 - p)); }  // -inf at 0, +inf at 1

RaterSessionParameters rater_session_parameters(const Rater& r) {
  return {.registration = r.registration, .sensitivity = r.sensitivity, .false_alarm_rate = r.false_alarm_rate};
}

}  // namespace

SessionParameters session_parameters(const Scenario& s) {
  const Rupture& ru = s.rupture;
  const Dropout& dr = s.design.dropout;
  return {.onset_logit = logit(ru.onset_probability),
          .propensity_sd = ru.propensity_sd,
          .distress_effect = ru.distress_effect,
          .depth_mean = ru.depth_mean,
          .depth_sd = ru.depth_sd,
          .repair_logit = logit(ru.repair_probability),
          .repair_skill_sd = ru.repair_skill_sd,
          .repair_bonus = ru.repair_bonus,
          .responsiveness = ru.responsiveness,
          .effects = s.distress.effects,
          .trend = s.distress.trend,
          .trend_shift = 0,
          .dropout_logit = logit(dr.base),
          .dropout_unresolved = dr.unresolved_rupture,
          .dropout_distress = dr.distress,
          .raters = {rater_session_parameters(s.raters.patient), rater_session_parameters(s.raters.therapist)}};
}

ParameterTable::ParameterTable(const Scenario& s) : base_(session_parameters(s)) {}

void ParameterTable::set_arm(const Scenario& arm, int start) {
  arm_ = session_parameters(arm);
  arm_start_ = start;
  // The distress of session t takes the slopes of sessions 1..t-1, so from start + 1 on it is
  // base·(start − 1) + arm·(t − start) = arm·(t − 1) + shift.
  arm_.trend_shift = (base_.trend - arm_.trend) * (start - 1);
}

void ParameterTable::assign(std::vector<std::uint8_t> treated) { treated_ = std::move(treated); }

}  // namespace collabzium
