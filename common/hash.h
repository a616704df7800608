#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sembed {

// A fast, well-mixed, stable 64-bit hash of a byte string (used for corpus de-duplication: at
// 10M distinct sentences the chance of any collision is ~3e-6). Stable across runs and builds.
inline uint64_t hash64(std::string_view s) {
  const uint64_t k1 = 0x9E3779B97F4A7C15ull, k2 = 0xC2B2AE3D27D4EB4Full;
  auto mix = [](uint64_t x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
  };
  uint64_t h = k1 ^ (s.size() * k2);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = mix(h ^ (w * k2)) * k1;
  }
  uint64_t tail = 0;
  for (size_t j = 0; i + j < s.size(); ++j)
    tail |= static_cast<uint64_t>(static_cast<unsigned char>(s[i + j])) << (8 * j);
  h = mix(h ^ (tail * k2) ^ (s.size() - i));
  return mix(h);
}

// `v` as 16 lower-case hex digits (hashes in JSON files: a JSON number loses bits past 2^53).
inline std::string hex64(uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = digits[v & 15];
  return s;
}

// A set of 64-bit hashes with open addressing: 16 bytes per distinct key at most (load <= 0.5),
// no per-key allocation. Not thread-safe.
class HashSet64 {
 public:
  // Inserts `key`; returns false if it was already present.
  bool insert(uint64_t key) {
    if (key == 0) key = 1;  // 0 marks an empty slot
    if ((size_ + 1) * 2 > slots_.size()) grow();
    size_t mask = slots_.size() - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
      if (slots_[i] == key) return false;
      if (slots_[i] == 0) {
        slots_[i] = key;
        ++size_;
        return true;
      }
    }
  }
  size_t size() const { return size_; }

 private:
  void grow() {
    std::vector<uint64_t> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, 0);
    size_ = 0;
    for (uint64_t k : old)
      if (k != 0) insert(k);
  }
  std::vector<uint64_t> slots_;
  size_t size_ = 0;
};

}  // namespace sembed
