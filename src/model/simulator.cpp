#include "collabzium/model/simulator.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "collabzium/model/random.h"

namespace collabzium {

namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();

// Round to the nearest integer by the 2^52 + 2^51 trick (ties to even; an item value P + ε is
// continuous, so ties have probability zero). Much cheaper than a libm call in the item loop.
inline double round_item(double x) {
  constexpr double magic = 6755399441055744.0;
  if (std::abs(x) > 1e15) return std::round(x);
  return (x + magic) - magic;
}

double logit(double p) { return std::log(p / (1 - p)); }  // -inf at 0, +inf at 1

// logistic(eta), exact 0 and 1 at eta = -inf and +inf.
double logistic(double eta) { return 1.0 / (1.0 + std::exp(-eta)); }

std::int64_t planned_sessions(const SessionPlan& plan, Engine& eng) {
  std::int64_t t;
  if (plan.distribution == SessionDistribution::Fixed) t = std::llround(plan.mean);
  else if (plan.distribution == SessionDistribution::Poisson) t = draw_poisson(eng, plan.mean);
  else t = draw_uniform_int(eng, plan.min, plan.max);
  return std::clamp(t, plan.min, plan.max);
}

// A rater's per-replication state: leniency of each rating person, the episode being perceived.
struct RaterState {
  const Rater* params;
  Engine eng;
  Engine registration;
  bool therapist_rates;  // leniency belongs to the therapist, dyad effect to the patient
  std::vector<double> therapist_leniency;
  double patient_leniency = 0;
  bool registered = false;  // registers the current rupture episode
};

double observe_alliance(const Rater& r, bool continuous, double perceived, Engine& eng) {
  const double k = static_cast<double>(r.items);
  if (continuous) return perceived + draw_normal(eng, r.item_sd / std::sqrt(k));
  double sum = 0;
  for (std::int64_t i = 0; i < r.items; ++i) {
    const double y = round_item(perceived + draw_normal(eng, r.item_sd));
    sum += std::clamp(y, r.scale_min, r.scale_max);
  }
  return sum / k;
}

double observe_distress(const Distress& d, bool continuous, double latent, Engine& eng) {
  const double k = static_cast<double>(d.items);
  if (continuous) return latent + draw_normal(eng, d.item_sd * std::sqrt(k));
  double sum = 0;
  for (std::int64_t i = 0; i < d.items; ++i)
    sum += std::clamp(round_item(latent / k + draw_normal(eng, d.item_sd)), 0.0, 4.0);
  return sum;
}

}  // namespace

void simulate_cohort(const Scenario& s, std::uint64_t seed, int condition, std::int64_t replication,
                     Cohort& out) {
  out.clear();
  const auto& des = s.design;
  const auto& al = s.alliance;
  const auto& ru = s.rupture;
  const auto& di = s.distress;
  const auto& fx = di.effects;
  const int J = static_cast<int>(des.therapists);
  const std::size_t N = static_cast<std::size_t>(des.patients);
  const auto c = static_cast<std::uint64_t>(condition);
  const auto r = static_cast<std::uint64_t>(replication);

  Engine design = make_stream(seed, c, r, StreamPurpose::Design);
  Engine latent = make_stream(seed, c, r, StreamPurpose::Latent);
  Engine measure = make_stream(seed, c, r, StreamPurpose::DistressMeasurement);
  RaterState raters[2] = {
      {&s.raters.patient, make_stream(seed, c, r, StreamPurpose::PatientRater),
       make_stream(seed, c, r, StreamPurpose::PatientRegistration), false, {}},
      {&s.raters.therapist, make_stream(seed, c, r, StreamPurpose::TherapistRater),
       make_stream(seed, c, r, StreamPurpose::TherapistRegistration), true, {}}};

  // Design: allocation and planned lengths, in patient order.
  out.n_therapists = J;
  out.therapist.resize(N);
  out.offset.assign(1, 0);
  std::vector<std::int64_t>& planned = out.planned_sessions;
  planned.resize(N);
  for (std::size_t i = 0; i < N; ++i) {
    out.therapist[i] = des.allocation == Allocation::Balanced ? static_cast<int>(i % J)
                                                    : static_cast<int>(draw_uniform_int(design, 0, J - 1));
    planned[i] = planned_sessions(des.sessions, design);
  }

  // Therapist effects: alliance level, distress level, repair skill; rater leniency.
  std::vector<double> therapist_effects(3 * static_cast<std::size_t>(J));
  for (int j = 0; j < J; ++j) {
    therapist_effects[3 * j + 0] = draw_normal(latent, al.therapist_sd);
    therapist_effects[3 * j + 1] = draw_normal(latent, di.therapist_sd);
    therapist_effects[3 * j + 2] = draw_normal(latent, ru.repair_skill_sd);
  }
  for (auto& rs : raters) {
    rs.therapist_leniency.assign(static_cast<std::size_t>(J), 0.0);
    if (rs.therapist_rates)
      for (int j = 0; j < J; ++j) rs.therapist_leniency[j] = draw_normal(rs.eng, rs.params->leniency_sd);
  }

  // Per-replication constants, so the session loop compares no strings and takes no extra logs.
  const GrowthShape growth_shape = al.growth_shape;
  const bool continuous[2] = {s.raters.patient.response == Response::Continuous,
                              s.raters.therapist.response == Response::Continuous};
  const bool distress_continuous = di.response == Response::Continuous;
  const double onset_logit = logit(ru.onset_probability), dropout_logit = logit(des.dropout.base);
  const double sd_e = al.innovation_sd / std::sqrt(1 - al.ar * al.ar);
  const double sd_a = di.innovation_sd / std::sqrt(1 - di.ar * di.ar);
  const std::size_t expected_rows = N * static_cast<std::size_t>(std::max(1.0, des.sessions.mean));
  out.has_truth = true;
  for (auto* v : {&out.distress, &out.alliance_patient, &out.alliance_therapist, &out.true_alliance,
                  &out.true_distress})
    v->reserve(expected_rows);

  for (std::size_t i = 0; i < N; ++i) {
    const int j = out.therapist[i];
    const double u_j = therapist_effects[3 * j], c_j = therapist_effects[3 * j + 1];
    const double k_j = therapist_effects[3 * j + 2];
    const double v_i = draw_normal(latent, al.patient_sd);
    const double w_i = draw_normal(latent, al.growth_sd);
    const double rho_i = draw_normal(latent, ru.propensity_sd);
    const double z_i = draw_normal(latent, di.patient_sd);
    const double s_i = draw_normal(latent, di.trend_sd);
    double e = draw_normal(latent, sd_e);  // stationary start
    double a = draw_normal(latent, sd_a);
    for (auto& rs : raters) {
      rs.patient_leniency = draw_normal(rs.eng, rs.therapist_rates ? rs.params->dyad_sd : rs.params->leniency_sd);
      if (!rs.therapist_rates) rs.patient_leniency += draw_normal(rs.eng, rs.params->dyad_sd);
      rs.registered = false;
    }
    const double repair_p = logistic(logit(ru.repair_probability) + k_j);

    bool ruptured = false;
    double depth = 0, bonus = 0;
    bool prev_onset = false, prev_repair = false, prev_unresolved = false;
    double prev_e = 0;
    const int T = static_cast<int>(planned[i]);
    for (int t = 1; t <= T; ++t) {
      if (t > 1) {
        e = al.ar * prev_e + draw_normal(latent, al.innovation_sd);
        a = di.ar * a + fx.rupture * prev_onset + fx.repair * prev_repair + fx.unresolved * prev_unresolved +
            fx.alliance * prev_e + draw_normal(latent, di.innovation_sd);
      }
      const double zD = sd_a > 0 ? a / sd_a : 0.0;
      const double D = di.mean + c_j + z_i + (di.trend + s_i) * (t - 1) + a;

      // Events in session t: a repair of an open rupture, or (while intact from before) an onset.
      bool onset = false, repair = false;
      if (ruptured) {
        if (draw_bernoulli(latent, repair_p)) {
          repair = true;
          ruptured = false;
          bonus += ru.repair_bonus;
        }
      } else if (t >= 2) {
        const double p = logistic(onset_logit + rho_i + ru.distress_effect * zD);
        if (draw_bernoulli(latent, p)) {
          onset = true;
          ruptured = true;
          depth = draw_gamma_mean_sd(latent, ru.depth_mean, ru.depth_sd);
        }
      }
      const double M = al.mean + u_j + v_i + (al.growth + w_i) * growth_time(growth_shape, t) + e + bonus;
      const double A = M - (ruptured ? depth : 0.0);

      double rating[2];
      std::uint8_t registered[2];
      for (int q = 0; q < 2; ++q) {
        RaterState& rs = raters[q];
        const Rater& rp = *rs.params;
        if (onset) rs.registered = draw_bernoulli(rs.registration, rp.registration);
        const double kappa = ruptured && rs.registered ? rp.sensitivity : 0.0;
        const double false_alarm =
            draw_bernoulli(rs.eng, rp.false_alarm_rate)
                ? draw_gamma_mean_sd(rs.eng, rp.false_alarm_depth, rp.false_alarm_depth_sd)
                : 0.0;
        const double leniency = rs.patient_leniency + (rs.therapist_rates ? rs.therapist_leniency[j] : 0.0);
        const double perceived = M - kappa * depth + rp.offset + leniency +
                                 rp.mood_congruence * zD - false_alarm + draw_normal(rs.eng, rp.occasion_sd);
        rating[q] = observe_alliance(rp, continuous[q], perceived, rs.eng);
        registered[q] = ruptured && rs.registered;
      }

      out.patient.push_back(static_cast<int>(i));
      out.session.push_back(t);
      out.distress.push_back(observe_distress(di, distress_continuous, D, measure));
      out.alliance_patient.push_back(rating[0]);
      out.alliance_therapist.push_back(rating[1]);
      out.true_alliance.push_back(A);
      out.true_distress.push_back(D);
      out.true_ruptured.push_back(ruptured);
      out.true_onset.push_back(onset);
      out.true_repair.push_back(repair);
      out.registered_patient.push_back(registered[0]);
      out.registered_therapist.push_back(registered[1]);

      bool leaves = false;
      if (t < T) {
        const double p = logistic(dropout_logit + des.dropout.unresolved_rupture * ruptured + des.dropout.distress * zD);
        leaves = draw_bernoulli(latent, p);
      }
      out.dropout.push_back(leaves);
      if (leaves) break;

      prev_onset = onset;
      prev_repair = repair;
      prev_unresolved = ruptured && !onset;
      prev_e = e;
    }
    out.offset.push_back(out.session.size());
  }
}

}  // namespace collabzium
