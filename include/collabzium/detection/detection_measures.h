#pragma once
// The detection measures of one rater in one cohort (DetectionScore), in one table: the record's
// detection.RATER.NAME columns (study/record.h), the summary's detection rows, the report JSON
// (analysis/report.h) and the sandbox's cohort answer all take their names, order and values from
// it.
#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include "collabzium/detection/detection.h"

namespace collabzium {

// The fields of a record's detection.RATER group, in column order (the table's order).
enum class DetectionField {
  Ruptures,
  Repairs,
  Prevalence,
  TruePrevalence,
  Sensitivity,
  Specificity,
  Ppv,
  F1,
  RepairSensitivity,
  RepairSpecificity,
  RepairPpv,
  RepairF1
};

enum class DetectedEvent { Rupture, Repair };

struct DetectionMeasure {
  DetectionField field;
  std::string_view name;     // the record column's last part: detection.RATER.NAME
  DetectedEvent event;       // the summary's term ("rupture", "repair") and the report's event
  std::string_view measure;  // the summary's and the report's measure name (the name without "repair_")
  // Its summary row's place among those of its term, first 0 (-1: a count, not summarised). The
  // summary lists the accuracy measures before the prevalences, as it always has.
  int summary_rank;
  bool needs_truth;  // defined only against the latent truth (the report omits it without)
  double (*value)(const DetectionScore&);

  constexpr bool is_count() const { return summary_rank < 0; }
  // In the rater's own detection object of the report JSON and of the sandbox's cohort answer: the
  // counts and the rupture measures (the repair measures are in the "repair" accuracy object).
  constexpr bool in_detection_object() const { return is_count() || event == DetectedEvent::Rupture; }
};

inline constexpr std::array<DetectionMeasure, 12> kDetectionMeasures = {{
    {DetectionField::Ruptures, "ruptures", DetectedEvent::Rupture, "ruptures", -1, false,
     [](const DetectionScore& d) { return static_cast<double>(d.ruptures); }},
    {DetectionField::Repairs, "repairs", DetectedEvent::Repair, "repairs", -1, false,
     [](const DetectionScore& d) { return static_cast<double>(d.repairs); }},
    {DetectionField::Prevalence, "prevalence", DetectedEvent::Rupture, "prevalence", 4, false,
     [](const DetectionScore& d) { return d.prevalence; }},
    {DetectionField::TruePrevalence, "true_prevalence", DetectedEvent::Rupture, "true_prevalence", 5, true,
     [](const DetectionScore& d) { return d.true_prevalence; }},
    {DetectionField::Sensitivity, "sensitivity", DetectedEvent::Rupture, "sensitivity", 0, true,
     [](const DetectionScore& d) { return d.rupture.sensitivity; }},
    {DetectionField::Specificity, "specificity", DetectedEvent::Rupture, "specificity", 1, true,
     [](const DetectionScore& d) { return d.rupture.specificity; }},
    {DetectionField::Ppv, "ppv", DetectedEvent::Rupture, "ppv", 2, true,
     [](const DetectionScore& d) { return d.rupture.ppv; }},
    {DetectionField::F1, "f1", DetectedEvent::Rupture, "f1", 3, true,
     [](const DetectionScore& d) { return d.rupture.f1; }},
    {DetectionField::RepairSensitivity, "repair_sensitivity", DetectedEvent::Repair, "sensitivity", 0, true,
     [](const DetectionScore& d) { return d.repair.sensitivity; }},
    {DetectionField::RepairSpecificity, "repair_specificity", DetectedEvent::Repair, "specificity", 1, true,
     [](const DetectionScore& d) { return d.repair.specificity; }},
    {DetectionField::RepairPpv, "repair_ppv", DetectedEvent::Repair, "ppv", 2, true,
     [](const DetectionScore& d) { return d.repair.ppv; }},
    {DetectionField::RepairF1, "repair_f1", DetectedEvent::Repair, "f1", 3, true,
     [](const DetectionScore& d) { return d.repair.f1; }},
}};

static_assert(
    [] {
      for (std::size_t i = 0; i < kDetectionMeasures.size(); ++i)
        if (static_cast<std::size_t>(kDetectionMeasures[i].field) != i) return false;
      return true;
    }(),
    "kDetectionMeasures is indexed by DetectionField");

inline const DetectionMeasure& detection_measure(DetectionField field) {
  return kDetectionMeasures[static_cast<std::size_t>(field)];
}

inline std::span<const std::string_view> choice_names(DetectionField) {
  static constexpr auto names = [] {
    std::array<std::string_view, kDetectionMeasures.size()> n{};
    for (std::size_t i = 0; i < n.size(); ++i) n[i] = kDetectionMeasures[i].name;
    return n;
  }();
  return names;
}
inline std::span<const std::string_view> choice_names(DetectedEvent) {
  static constexpr std::string_view names[] = {"rupture", "repair"};
  return names;
}

}  // namespace collabzium
