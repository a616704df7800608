#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace sembed {

// How raw text becomes the canonical text that the tokenizer sees. Saved with every tokenizer
// and model, and applied identically at training and inference.
struct NormalizerConfig {
  bool nfkc = true;                   // Unicode NFKC (fullwidth forms, ligatures, compatibility)
  bool lowercase = false;             // full Unicode case folding (NFKC_Casefold when nfkc)
  bool remove_control = true;         // drop control (Cc) and format (Cf) characters
  bool collapse_whitespace = true;    // every run of Unicode whitespace -> one space; trim ends
  bool replace_invalid_utf8 = false;  // replace malformed bytes by U+FFFD instead of failing

  // Throws std::invalid_argument on an inconsistent config.
  void validate() const;
};
void to_json(nlohmann::json& j, const NormalizerConfig& c);
void from_json(const nlohmann::json& j, NormalizerConfig& c);

// Applies a NormalizerConfig. Immutable after construction: normalize() is const and safe to
// call from many threads at once.
class Normalizer {
 public:
  explicit Normalizer(const NormalizerConfig& config = {});
  ~Normalizer();
  Normalizer(Normalizer&&) noexcept;
  Normalizer& operator=(Normalizer&&) noexcept;

  // Returns the normalised form of `text`. Throws InvalidUtf8Error (a std::invalid_argument)
  // on malformed UTF-8 unless config.replace_invalid_utf8, in which case each maximal invalid
  // subpart becomes U+FFFD.
  std::string normalize(std::string_view text) const;
  const NormalizerConfig& config() const { return config_; }

 private:
  NormalizerConfig config_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The ICU version sembed was built with, e.g. "72.1".
std::string icu_version();

}  // namespace sembed
