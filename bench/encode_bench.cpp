// Encoder throughput: sentences/s of sembed's Embedder (length-sorted batches, dynamic padding,
// inference mode, mean pooling, L2 normalisation) in fp32 and in bf16 autocast, on one list of
// sentences. Prints one JSON object on stdout; progress goes to stderr.
//
//   encode_bench --model DIR --input sentences.txt [--threads 2] [--batch-size 64]
//                [--repeat 3] [--min-seconds 30] [--out-dir DIR]
//
// The timed part is Embedder::embed_pieces on ids tokenised beforehand (tokenisation is timed on
// its own): the same work the PyTorch baseline (bench/pytorch_encoder.py) does on the same ids.
// With --out-dir, writes what the baseline needs to run on the same input and to check that it
// computes the same vectors: ids.txt (one line of piece ids per sentence, no special tokens) and
// sembed_fp32.npy / sembed_bf16.npy (row i = sentence i).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/line_reader.h"
#include "common/log.h"
#include "common/parallel.h"
#include "model/embedder.h"
#include "model/npy.h"

namespace sembed {
namespace {

struct Options {
  std::string model;        // model directory
  std::string input;        // one sentence per line
  int threads = 2;          // LibTorch intra-op threads (and tokenisation threads)
  int batch_size = 64;      // sentences per forward pass
  int repeat = 3;           // at most this many timed passes per precision (fastest reported)
  double min_seconds = 30;  // ... stopping once the passes took this long together
  int warmup = 256;         // sentences embedded before timing (first allocations, oneDNN setup)
  std::string out_dir;      // where ids.txt and the vectors go ("" = nowhere)
  bool skip_fp32 = false;   // time bf16 only (for profiling one precision)
  bool skip_bf16 = false;   // time fp32 only
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

struct Timing {
  std::vector<double> seconds;  // one per pass
  EmbedStats stats;             // of the last pass
  std::vector<float> vectors;   // of the last pass
};

Timing time_embedder(const Embedder& embedder, const std::vector<std::vector<int>>& pieces,
                     const Options& o, const std::string& label) {
  const std::vector<std::vector<int>> warm(
      pieces.begin(), pieces.begin() + std::min<size_t>(pieces.size(), o.warmup));
  embedder.embed_pieces(warm, embedder.normalizes());
  Timing t;
  double total = 0;
  for (int r = 0; r < o.repeat && (r == 0 || total < o.min_seconds); ++r) {
    t.stats = EmbedStats{};
    const auto start = std::chrono::steady_clock::now();
    t.vectors = embedder.embed_pieces(pieces, embedder.normalizes(), 0, &t.stats);
    t.seconds.push_back(seconds_since(start));
    total += t.seconds.back();
    log_info(label + ": pass " + std::to_string(r + 1) + " " + std::to_string(t.seconds.back()) +
             " s, " + std::to_string(pieces.size() / t.seconds.back()) + " sentences/s");
  }
  return t;
}

nlohmann::ordered_json describe(const Timing& t, size_t sentences) {
  const double best = *std::min_element(t.seconds.begin(), t.seconds.end());
  return {{"seconds", best},
          {"sentences_per_s", static_cast<double>(sentences) / best},
          {"tokens_per_s", static_cast<double>(t.stats.tokens) / best},
          {"all_pass_seconds", t.seconds},
          {"batches", t.stats.batches}};
}

void write_npy(const std::string& path, const std::vector<float>& vectors, int64_t dim) {
  NpyRowWriter writer(path, "<f4", dim);
  writer.append(vectors.data(), static_cast<int64_t>(vectors.size()) / dim);
  writer.finish();
}

int run(const Options& o) {
  std::vector<std::string> texts;
  {
    LineReader reader(o.input);
    std::string line;
    while (reader.next(line)) texts.push_back(line);
  }
  if (texts.empty()) throw std::invalid_argument("'" + o.input + "' has no lines");
  const std::string load_before = load_average();

  EmbedderOptions eo;
  eo.device = "cpu";
  eo.threads = o.threads;
  eo.batch_size = o.batch_size;
  Embedder fp32(o.model, eo);
  eo.bf16 = true;
  Embedder bf16(o.model, eo);
  const int64_t dim = fp32.dim();

  // Tokenisation (normalise + SentencePiece), on its own clock.
  std::vector<std::vector<int>> pieces(texts.size());
  const auto tok_start = std::chrono::steady_clock::now();
  parallel_for(texts.size(), o.threads, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) pieces[i] = fp32.tokenizer().encode(texts[i]);
  });
  const double tokenize_seconds = seconds_since(tok_start);

  log_info("encode_bench: " + std::to_string(texts.size()) + " sentences, " +
           std::to_string(o.threads) + " threads, batches of " + std::to_string(o.batch_size));
  if (o.skip_fp32 || o.skip_bf16) {
    const Timing t = o.skip_fp32 ? time_embedder(bf16, pieces, o, "sembed bf16")
                                 : time_embedder(fp32, pieces, o, "sembed fp32");
    std::printf("%s\n", describe(t, texts.size()).dump(2).c_str());
    return 0;
  }
  const Timing t32 = time_embedder(fp32, pieces, o, "sembed fp32");
  const Timing t16 = time_embedder(bf16, pieces, o, "sembed bf16");

  // bf16 against fp32, row by row.
  double cos_sum = 0, cos_min = 1;
  const size_t n = texts.size();
  for (size_t r = 0; r < n; ++r) {
    double dot = 0, na = 0, nb = 0;
    for (int64_t k = 0; k < dim; ++k) {
      const double a = t32.vectors[r * dim + k], b = t16.vectors[r * dim + k];
      dot += a * b, na += a * a, nb += b * b;
    }
    const double c = dot / std::sqrt(na * nb);
    cos_sum += c;
    cos_min = std::min(cos_min, c);
  }

  if (!o.out_dir.empty()) {
    std::ofstream ids(o.out_dir + "/ids.txt", std::ios::binary);
    for (const auto& p : pieces) {
      for (size_t k = 0; k < p.size(); ++k) ids << (k ? " " : "") << p[k];
      ids << '\n';
    }
    if (!ids.flush()) throw std::runtime_error("cannot write " + o.out_dir + "/ids.txt");
    write_npy(o.out_dir + "/sembed_fp32.npy", t32.vectors, dim);
    write_npy(o.out_dir + "/sembed_bf16.npy", t16.vectors, dim);
  }

  const ModelConfig& config = fp32.config();
  const nlohmann::ordered_json result = {
      {"benchmark", "encode"},
      {"model", o.model},
      {"encoder",
       {{"layers", config.encoder.layers},
        {"hidden", config.encoder.hidden},
        {"heads", config.encoder.heads},
        {"ffn", config.encoder.ffn},
        {"vocab_size", config.encoder.vocab_size},
        {"max_len", fp32.max_len()},
        {"parameters", config.encoder.parameter_count()},
        {"pooling", config.pooling.inference_mode()}}},
      {"input", o.input},
      {"sentences", n},
      {"tokens", t32.stats.tokens},
      {"truncated", t32.stats.truncated},
      {"threads", o.threads},
      {"batch_size", o.batch_size},
      {"tokenize_seconds", tokenize_seconds},
      {"sembed_fp32", describe(t32, n)},
      {"sembed_bf16", describe(t16, n)},
      {"cosine_fp32_bf16", {{"mean", cos_sum / static_cast<double>(n)}, {"min", cos_min}}},
      {"load_average_before", load_before},
      {"load_average_after", load_average()}};
  std::printf("%s\n", result.dump(2).c_str());
  return 0;
}

}  // namespace
}  // namespace sembed

int main(int argc, char** argv) {
  sembed::Options o;
  CLI::App app{"Times sembed's encoder (fp32 and bf16) on a list of sentences; prints JSON"};
  app.add_option("--model", o.model, "Model directory")->required();
  app.add_option("--input", o.input, "Sentences, one per line")->required();
  app.add_option("--threads", o.threads, "LibTorch threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "Sentences per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--min-seconds", o.min_seconds,
                 "Stop repeating once the passes took this long together")
      ->capture_default_str();
  app.add_option("--repeat", o.repeat,
                 "At most this many timed passes per precision (fastest reported)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", o.warmup, "Sentences embedded before timing")->capture_default_str();
  app.add_option("--out-dir", o.out_dir, "Write ids.txt, sembed_fp32.npy, sembed_bf16.npy here");
  app.add_flag("--skip-fp32", o.skip_fp32, "Time bf16 only (prints that timing alone)");
  app.add_flag("--skip-bf16", o.skip_bf16, "Time fp32 only (prints that timing alone)");
  CLI11_PARSE(app, argc, argv);
  try {
    return sembed::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "encode_bench: error: %s\n", e.what());
    return 1;
  }
}
