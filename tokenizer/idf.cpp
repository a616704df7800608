#include "tokenizer/idf.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "common/line_reader.h"
#include "common/parallel.h"

namespace sembed {

namespace {

std::vector<float> to_idf(const std::vector<int64_t>& df, int64_t n) {
  std::vector<float> idf(df.size());
  for (size_t i = 0; i < df.size(); ++i)
    idf[i] = static_cast<float>(
        std::log((static_cast<double>(n) + 1.0) / (static_cast<double>(df[i]) + 1.0)));
  for (int i = 0; i < kNumSpecialTokens && i < static_cast<int>(idf.size()); ++i)
    if (i != kUnkId) idf[i] = 0.0f;
  return idf;
}

void count_document(const std::vector<int>& doc, std::vector<int64_t>& df,
                    std::vector<int64_t>& seen_at, int64_t doc_index) {
  for (int id : doc) {
    if (id < 0 || id >= static_cast<int>(df.size())) continue;
    if (seen_at[id] != doc_index) {
      seen_at[id] = doc_index;
      ++df[id];
    }
  }
}

}  // namespace

std::vector<float> compute_idf(const std::vector<const std::vector<int>*>& documents,
                               int vocab_size) {
  std::vector<int64_t> df(vocab_size, 0), seen_at(vocab_size, -1);
  int64_t n = 0;
  for (const auto* d : documents) {
    if (d->empty()) continue;
    count_document(*d, df, seen_at, n++);
  }
  if (n == 0) throw std::invalid_argument("idf: no non-empty documents");
  return to_idf(df, n);
}

std::vector<float> compute_idf(const Tokenizer& tokenizer, const std::vector<std::string>& files,
                               int threads, IdfStats* stats) {
  const int vocab = tokenizer.vocab_size();
  std::vector<int64_t> df(vocab, 0), seen_at(vocab, -1);
  IdfStats st;
  const int workers = resolve_threads(threads);
  std::vector<std::string> chunk;
  std::vector<std::vector<int>> encoded;
  std::vector<uint8_t> bad;
  for (const auto& path : files) {
    LineReader reader(path);
    std::string line;
    bool eof = false;
    while (!eof) {
      chunk.clear();
      while (chunk.size() < 16384) {
        if (!reader.next(line)) {
          eof = true;
          break;
        }
        if (!line.empty()) chunk.push_back(line);
      }
      encoded.assign(chunk.size(), {});
      bad.assign(chunk.size(), 0);
      parallel_for(chunk.size(), workers, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) {
          try {
            encoded[i] = tokenizer.encode(chunk[i]);
          } catch (const std::invalid_argument&) {
            bad[i] = 1;
          }
        }
      });
      for (size_t i = 0; i < chunk.size(); ++i) {
        if (bad[i]) {
          ++st.skipped;
          continue;
        }
        if (encoded[i].empty()) continue;
        count_document(encoded[i], df, seen_at, st.documents++);
      }
    }
  }
  if (st.documents == 0) throw std::invalid_argument("idf: no usable line in the corpus");
  if (stats) *stats = st;
  return to_idf(df, st.documents);
}

}  // namespace sembed
