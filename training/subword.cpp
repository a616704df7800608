#include "training/subword.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/parallel.h"

namespace sembed {

namespace {
constexpr char kWordMark[] = "\xE2\x96\x81";  // U+2581, SentencePiece's word-start mark
}  // namespace

SubwordSampler::SubwordSampler(const Tokenizer& tokenizer, int nbest, double alpha)
    : tokenizer_(tokenizer), nbest_(nbest), alpha_(alpha) {
  if (nbest < kMinNbest || nbest > kMaxNbest)
    throw std::invalid_argument("subword sampling needs nbest in [" + std::to_string(kMinNbest) +
                                ", " + std::to_string(kMaxNbest) + "]");
  if (!(alpha >= 0) || !std::isfinite(alpha))
    throw std::invalid_argument("subword sampling needs alpha >= 0");
  const int n = tokenizer.vocab_size();
  starts_word_.resize(n);
  for (int id = 0; id < n; ++id)
    starts_word_[id] =
        id >= kNumSpecialTokens && tokenizer.id_to_piece(id).rfind(kWordMark, 0) == 0;
}

std::string SubwordSampler::key(const int* begin, const int* end) {
  return std::string(reinterpret_cast<const char*>(begin), reinterpret_cast<const char*>(end));
}

template <typename Fn>
void SubwordSampler::for_each_word(const std::vector<int>& ids, Fn&& fn) const {
  size_t begin = 0;
  for (size_t i = 1; i <= ids.size(); ++i) {
    const bool boundary =
        i == ids.size() ||
        (ids[i] >= 0 && ids[i] < static_cast<int>(starts_word_.size()) && starts_word_[ids[i]]);
    if (boundary) {
      if (i > begin) fn(begin, i);
      begin = i;
    }
  }
}

SubwordSampler::Candidates SubwordSampler::candidates_for(const std::vector<int>& word) const {
  Candidates c;
  c.segmentations.push_back(word);
  const bool plain = std::all_of(word.begin(), word.end(), [](int id) {
    return id >= kNumSpecialTokens;  // no [UNK]: decoding would lose the word's text
  });
  if (plain) {
    // decode() drops the leading word mark; encoding adds it back as SentencePiece's dummy
    // prefix, so the candidates start with a word mark exactly when `word` does.
    const std::string text = tokenizer_.decode(word);
    const bool marked = starts_word_[word[0]];
    if (!text.empty() && marked) {
      for (auto& seg : tokenizer_.nbest_encode_normalized(text, nbest_)) {
        if (seg.empty() || seg == word) continue;
        if (std::find(seg.begin(), seg.end(), kUnkId) != seg.end()) continue;
        c.segmentations.push_back(std::move(seg));
      }
    }
  }
  std::vector<double> logits;
  for (const auto& seg : c.segmentations) {
    double score = 0;
    for (int id : seg) score += tokenizer_.piece_score(id);
    logits.push_back(alpha_ * score);
  }
  const double top = *std::max_element(logits.begin(), logits.end());
  double total = 0;
  for (double l : logits) {
    total += std::exp(l - top);
    c.cumulative.push_back(total);
  }
  for (double& x : c.cumulative) x /= total;
  c.cumulative.back() = 1.0;
  return c;
}

void SubwordSampler::add(const std::vector<Example>& examples, int threads) {
  std::vector<std::vector<int>> fresh;
  std::unordered_map<std::string, size_t> index;
  for (const Example& ex : examples)
    for (const auto& text : ex.texts)
      for_each_word(text, [&](size_t b, size_t e) {
        std::string k = key(text.data() + b, text.data() + e);
        if (words_.count(k) || index.count(k)) return;
        index.emplace(std::move(k), fresh.size());
        fresh.emplace_back(text.begin() + static_cast<std::ptrdiff_t>(b),
                           text.begin() + static_cast<std::ptrdiff_t>(e));
      });
  std::vector<Candidates> computed(fresh.size());
  parallel_for(fresh.size(), resolve_threads(threads), [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) computed[i] = candidates_for(fresh[i]);
  });
  for (auto& [k, i] : index) words_.emplace(k, std::move(computed[i]));
}

std::vector<int> SubwordSampler::sample(const std::vector<int>& ids, std::mt19937_64& rng) const {
  std::vector<int> out;
  out.reserve(ids.size() + ids.size() / 2);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  for_each_word(ids, [&](size_t b, size_t e) {
    auto it = words_.find(key(ids.data() + b, ids.data() + e));
    if (it == words_.end() || it->second.segmentations.size() == 1) {
      out.insert(out.end(), ids.begin() + static_cast<std::ptrdiff_t>(b),
                 ids.begin() + static_cast<std::ptrdiff_t>(e));
      return;
    }
    const Candidates& c = it->second;
    const double u = uniform(rng);
    const size_t k = static_cast<size_t>(
        std::upper_bound(c.cumulative.begin(), c.cumulative.end(), u) - c.cumulative.begin());
    const auto& seg = c.segmentations[std::min(k, c.segmentations.size() - 1)];
    out.insert(out.end(), seg.begin(), seg.end());
  });
  return out;
}

size_t SubwordSampler::words_with_alternatives() const {
  size_t n = 0;
  for (const auto& [k, c] : words_) n += c.segmentations.size() > 1;
  return n;
}

}  // namespace sembed
