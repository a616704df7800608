#include "tokenizer/corpus.h"

#include <memory>
#include <stdexcept>

#include "common/atomic_file.h"
#include "common/hash.h"
#include "common/line_reader.h"
#include "common/log.h"
#include "common/parallel.h"
#include "common/progress.h"
#include "tokenizer/sentence_splitter.h"
#include "tokenizer/utf8.h"

namespace sembed {

void PrepareConfig::validate() const {
  if (inputs.empty()) throw std::invalid_argument("prepare: at least one --input is required");
  if (output.empty()) throw std::invalid_argument("prepare: --output is required");
  if (min_chars < 0) throw std::invalid_argument("prepare: --min-chars must be >= 0");
  if (max_chars < 0) throw std::invalid_argument("prepare: --max-chars must be >= 0");
  if (max_chars > 0 && max_chars < min_chars)
    throw std::invalid_argument("prepare: --max-chars must be >= --min-chars");
  if (chunk_lines == 0) throw std::invalid_argument("prepare: chunk_lines must be > 0");
  for (const auto& in : inputs)
    if (in == output) throw std::invalid_argument("prepare: --output must differ from inputs");
  normalizer.validate();
}

namespace {

struct LineResult {
  std::vector<std::string> sentences;
  enum { kOk, kInvalid, kReplaced } status = kOk;
  size_t bad_offset = 0;
};

}  // namespace

PrepareStats prepare_corpus(const PrepareConfig& config, bool show_progress) {
  config.validate();
  // ICU's sentence rules read letter case ("noon. he" is no sentence end), so when splitting,
  // case is folded after the split, sentence by sentence.
  const bool fold_after_split = config.split_sentences && config.normalizer.lowercase;
  NormalizerConfig strict = config.normalizer;
  strict.replace_invalid_utf8 = false;
  if (fold_after_split) strict.lowercase = false;
  NormalizerConfig lenient = strict;
  lenient.replace_invalid_utf8 = true;
  const Normalizer normalizer(strict), replacer(lenient), folder(config.normalizer);
  const int threads = resolve_threads(config.threads);
  // One splitter per worker thread (ICU break iterators are not thread-safe).
  std::vector<std::unique_ptr<SentenceSplitter>> splitters(threads);
  if (config.split_sentences)
    for (auto& s : splitters) s = std::make_unique<SentenceSplitter>();

  int64_t total_bytes = 0;
  for (const auto& in : config.inputs) {
    LineReader probe(in);
    if (probe.size_bytes() < 0) {
      total_bytes = -1;
      break;
    }
    total_bytes += probe.size_bytes();
  }

  PrepareStats stats;
  HashSet64 seen;
  AtomicFile out(config.output);
  std::ostream& os = out.stream();
  std::unique_ptr<Progress> progress;
  if (show_progress) progress = std::make_unique<Progress>("prepare", -1, "lines");
  int64_t bytes_before = 0;
  int warned = 0;

  std::vector<std::string> lines;
  std::vector<int64_t> line_numbers;
  std::vector<LineResult> results;
  for (const auto& input : config.inputs) {
    LineReader reader(input);
    bool eof = false;
    while (!eof) {
      lines.clear();
      line_numbers.clear();
      std::string line;
      while (lines.size() < config.chunk_lines) {
        if (!reader.next(line)) {
          eof = true;
          break;
        }
        lines.push_back(line);
        line_numbers.push_back(reader.line_number());
      }
      stats.lines_read += static_cast<int64_t>(lines.size());
      results.assign(lines.size(), LineResult{});
      // Chunks are split by thread index so each thread uses its own splitter.
      const size_t per = (lines.size() + threads - 1) / threads;
      parallel_for(static_cast<size_t>(threads), threads, [&](size_t tb, size_t te) {
        for (size_t t = tb; t < te; ++t) {
          const size_t b = t * per, e = std::min(lines.size(), b + per);
          for (size_t i = b; i < e; ++i) {
            LineResult& r = results[i];
            std::string norm;
            try {
              norm = normalizer.normalize(lines[i]);
            } catch (const InvalidUtf8Error& err) {
              r.bad_offset = err.byte_offset();
              if (config.on_invalid != InvalidLinePolicy::kReplace) {
                r.status = LineResult::kInvalid;
                continue;
              }
              r.status = LineResult::kReplaced;
              norm = replacer.normalize(lines[i]);
            }
            if (config.split_sentences) {
              r.sentences = splitters[t]->split(norm);
              if (fold_after_split)
                for (std::string& s : r.sentences) s = folder.normalize(s);
            } else {
              r.sentences.push_back(std::move(norm));
            }
          }
        }
      });
      for (size_t i = 0; i < results.size(); ++i) {
        LineResult& r = results[i];
        if (r.status == LineResult::kInvalid) {
          const std::string where = (input == "-" ? std::string("<stdin>") : input) + ":" +
                                    std::to_string(line_numbers[i]);
          if (config.on_invalid == InvalidLinePolicy::kError)
            throw std::invalid_argument(where + ": invalid UTF-8 at byte " +
                                        std::to_string(r.bad_offset));
          ++stats.dropped_invalid;
          if (warned < 5) {
            log_warning(where + ": invalid UTF-8 at byte " + std::to_string(r.bad_offset) +
                        "; line skipped");
            if (++warned == 5) log_warning("further invalid lines are counted, not listed");
          }
          continue;
        }
        if (r.status == LineResult::kReplaced) ++stats.replaced_invalid;
        // A line with nothing left after normalisation is one candidate, too short, whether
        // split or not.
        if (r.sentences.empty() || (r.sentences.size() == 1 && r.sentences[0].empty())) {
          ++stats.sentences;
          ++stats.dropped_short;
          continue;
        }
        for (const std::string& s : r.sentences) {
          ++stats.sentences;
          const int64_t n = static_cast<int64_t>(count_code_points(s));
          if (n < config.min_chars || n == 0) {
            ++stats.dropped_short;
            continue;
          }
          if (config.max_chars > 0 && n > config.max_chars) {
            ++stats.dropped_long;
            continue;
          }
          if (config.dedupe && !seen.insert(hash64(s))) {
            ++stats.dropped_duplicate;
            continue;
          }
          os.write(s.data(), static_cast<std::streamsize>(s.size()));
          os.put('\n');
          ++stats.written;
        }
      }
      if (progress) {
        const int64_t done_bytes = bytes_before + reader.bytes_read();
        std::string extra = "written " + std::to_string(stats.written);
        if (total_bytes > 0)
          extra += " (" + std::to_string(100 * done_bytes / std::max<int64_t>(1, total_bytes)) +
                   "% of input)";
        progress->update(stats.lines_read, extra);
      }
      if (!os) throw std::runtime_error("write failed for '" + config.output + "'");
    }
    bytes_before += reader.bytes_read();
  }
  out.commit();
  if (progress) progress->finish(stats.lines_read, "written " + std::to_string(stats.written));
  return stats;
}

}  // namespace sembed
