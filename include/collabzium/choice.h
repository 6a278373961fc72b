#pragma once
// Typed choices. Every enum class whose values have names at the boundary (configuration strings,
// summary and record names) declares `choice_names(E)`: its names, indexed by the enum's value, so
// the value-to-name map exists once. name() and parse() are the only conversions; code inside the
// program compares enum values, never strings.
#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace collabzium {

template <class E>
concept Choice = std::is_enum_v<E> && requires(E e) {
  { choice_names(e) } -> std::convertible_to<std::span<const std::string_view>>;
};

template <Choice E>
std::string_view name(E value) {
  return choice_names(E{})[static_cast<std::size_t>(value)];
}

template <Choice E>
std::optional<E> parse(std::string_view text) {
  const std::span<const std::string_view> names = choice_names(E{});
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == text) return static_cast<E>(i);
  return std::nullopt;
}

// "one of "a", "b", "c"": the admissible names, for messages.
template <Choice E>
std::string choices_text() {
  std::string s = "one of ";
  const std::span<const std::string_view> names = choice_names(E{});
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) s += ", ";
    s += '"';
    s += names[i];
    s += '"';
  }
  return s;
}

}  // namespace collabzium
