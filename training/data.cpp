#include "training/data.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_set>

#include "common/hash.h"
#include "common/line_reader.h"
#include "common/parallel.h"

namespace sembed {

namespace {

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> cols;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    cols.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return cols;
    start = tab + 1;
  }
}

struct RawRow {
  std::vector<std::string> texts;
  float score = 0;
  int32_t source = 0;
  std::string where;
};

}  // namespace

std::vector<Example> load_examples(const std::vector<std::string>& paths, DataFormat format,
                                   const Tokenizer& tokenizer, DatasetStats* stats_out,
                                   int threads) {
  DatasetStats stats;
  std::vector<RawRow> rows;
  for (size_t source = 0; source < paths.size(); ++source) {
    LineReader reader(paths[source]);
    std::string line;
    // Scored pairs: same format detection as evaluation (STS-B release, SICK header, plain).
    size_t col_a = 0, col_b = 1, col_score = 2, min_cols = 3;
    bool format_known = false;
    while (reader.next(line)) {
      ++stats.lines;
      if (line.find_first_not_of(" \t") == std::string::npos) {
        ++stats.skipped_empty;
        continue;
      }
      RawRow row;
      row.where = reader.where();
      row.source = static_cast<int32_t>(source);
      if (format == DataFormat::kLines) {
        row.texts.push_back(line);
      } else {
        auto cols = split_tabs(line);
        if (format == DataFormat::kTriplets) {
          if (cols.size() < 2 || cols.size() > 3)
            throw std::invalid_argument(
                row.where + ": expected anchor<TAB>positive[<TAB>hard_negative], found " +
                std::to_string(cols.size()) + " column(s)");
          for (auto& c : cols) {
            if (c.find_first_not_of(' ') == std::string::npos)
              throw std::invalid_argument(row.where + ": empty column");
          }
          row.texts = std::move(cols);
        } else {
          if (!format_known) {
            format_known = true;
            size_t a = 0, b = 0, s = 0;
            for (size_t i = 0; i < cols.size(); ++i) {
              if (cols[i] == "sentence_A") a = i;
              if (cols[i] == "sentence_B") b = i;
              if (cols[i] == "relatedness_score") s = i;
            }
            if (a != b && s != 0) {  // SICK header line
              col_a = a, col_b = b, col_score = s, min_cols = std::max({a, b, s}) + 1;
              continue;
            }
            if (cols.size() >= 7) col_score = 4, col_a = 5, col_b = 6, min_cols = 7;
          }
          if (cols.size() < min_cols)
            throw std::invalid_argument(
                row.where + ": expected " + std::to_string(min_cols) +
                " tab-separated columns (sentence1, sentence2, score), found " +
                std::to_string(cols.size()));
          try {
            size_t used = 0;
            row.score = std::stof(cols[col_score], &used);
            if (used != cols[col_score].size() || !std::isfinite(row.score))
              throw std::invalid_argument("");
          } catch (const std::exception&) {
            throw std::invalid_argument(row.where + ": score '" + cols[col_score] +
                                        "' is not a number");
          }
          row.texts = {cols[col_a], cols[col_b]};
        }
      }
      rows.push_back(std::move(row));
    }
  }
  std::vector<Example> examples(rows.size());
  parallel_for(rows.size(), resolve_threads(threads), [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      Example& ex = examples[i];
      for (size_t t = 0; t < rows[i].texts.size(); ++t) {
        std::string norm;
        try {
          norm = tokenizer.normalizer().normalize(rows[i].texts[t]);
        } catch (const std::invalid_argument& err) {
          throw std::invalid_argument(rows[i].where + ": " + err.what());
        }
        if (t == 0) ex.key = hash64(norm);
        if (t == 1) ex.key2 = hash64(norm);
        ex.texts.push_back(tokenizer.encode_normalized(norm));
      }
      ex.score = rows[i].score;
      ex.source = rows[i].source;
    }
  });
  std::vector<Example> kept;
  kept.reserve(examples.size());
  HashSet64 seen;
  for (size_t i = 0; i < examples.size(); ++i) {
    Example& ex = examples[i];
    if (ex.texts[0].empty()) {
      ++stats.skipped_empty;
      continue;
    }
    if (format == DataFormat::kLines && !seen.insert(ex.key)) {
      ++stats.duplicates;
      continue;
    }
    if (ex.texts.size() == 3) ++stats.with_hard_negative;
    kept.push_back(std::move(ex));
  }
  stats.examples = static_cast<int64_t>(kept.size());
  if (kept.empty()) {
    std::string names;
    for (const auto& p : paths) names += (names.empty() ? "'" : ", '") + p + "'";
    throw std::invalid_argument("no training examples in " + names + " (empty file?)");
  }
  if (stats_out) *stats_out = stats;
  return kept;
}

uint64_t examples_fingerprint(const std::vector<Example>& examples) {
  // Chained per-example hashes: no buffer the size of a corpus.
  uint64_t h = hash64("sembed examples v1");
  std::string bytes;
  auto put = [&bytes](const void* p, size_t n) { bytes.append(static_cast<const char*>(p), n); };
  for (const Example& ex : examples) {
    bytes.clear();
    put(&h, sizeof h);
    const uint32_t n_texts = static_cast<uint32_t>(ex.texts.size());
    put(&n_texts, sizeof n_texts);
    for (const auto& t : ex.texts) {
      const uint32_t n = static_cast<uint32_t>(t.size());
      put(&n, sizeof n);
      put(t.data(), t.size() * sizeof(int));
    }
    put(&ex.score, sizeof ex.score);
    put(&ex.source, sizeof ex.source);
    h = hash64(bytes);
  }
  return h;
}

BatchSampler::BatchSampler(const std::vector<Example>* examples, int batch_size, uint64_t seed)
    : examples_(examples), batch_size_(batch_size), seed_(seed) {
  if (batch_size <= 0) throw std::invalid_argument("batch_size must be > 0");
  if (examples->empty()) throw std::invalid_argument("no examples to sample");
  start_epoch(0);
}

void BatchSampler::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  cursor_ = 0;
  order_.resize(examples_->size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = i;
  std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(epoch) + 1);
  std::shuffle(order_.begin(), order_.end(), rng);
}

int64_t BatchSampler::batches_per_epoch() const {
  return (static_cast<int64_t>(examples_->size()) + batch_size_ - 1) / batch_size_;
}

std::vector<size_t> BatchSampler::next() {
  const int target = static_cast<int>(std::min<size_t>(batch_size_, examples_->size()));
  std::vector<size_t> batch;
  std::unordered_set<uint64_t> keys;
  auto fits = [&](size_t idx) {
    const Example& ex = (*examples_)[idx];
    return !keys.count(ex.key) && (ex.key2 == 0 || !keys.count(ex.key2));
  };
  auto take = [&](size_t idx) {
    const Example& ex = (*examples_)[idx];
    keys.insert(ex.key);
    if (ex.key2 != 0) keys.insert(ex.key2);
    batch.push_back(idx);
  };
  // Deferred examples first (they clashed with an earlier batch).
  std::vector<size_t> still_deferred;
  for (size_t idx : deferred_) {
    if (static_cast<int>(batch.size()) < target && fits(idx)) {
      take(idx);
    } else {
      still_deferred.push_back(idx);
    }
  }
  deferred_.swap(still_deferred);
  int epochs_crossed = 0;
  while (static_cast<int>(batch.size()) < target) {
    if (cursor_ >= order_.size()) {
      // Avoid spinning when every remaining example clashes (tiny datasets of duplicates).
      if (++epochs_crossed > 2) break;
      start_epoch(epoch_ + 1);
    }
    const size_t idx = order_[cursor_++];
    if (fits(idx)) {
      take(idx);
    } else if (deferred_.size() < examples_->size()) {
      deferred_.push_back(idx);
    }
  }
  ++drawn_;
  return batch;
}

void BatchSampler::seek(int64_t batches) {
  deferred_.clear();
  drawn_ = 0;
  start_epoch(0);
  for (int64_t i = 0; i < batches; ++i) next();
}

}  // namespace sembed
