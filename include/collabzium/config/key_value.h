#pragma once
// A value a scenario key can hold, as parsed from TOML or --set.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace collabzium {

// A value a key can hold. Integers stay integers so that design.patients = 119.0 is refused.
using KeyValue = std::variant<bool, std::int64_t, double, std::string, std::vector<double>, std::vector<std::string>>;

std::string format_value(const KeyValue& value);  // TOML syntax

}  // namespace collabzium
