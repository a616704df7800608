#include "model/embedding_set.h"

#include <cmath>
#include <ctime>
#include <fstream>
#include <memory>
#include <stdexcept>

#include "common/atomic_file.h"
#include "common/line_reader.h"
#include "common/log.h"
#include "common/progress.h"
#include "model/npy.h"

namespace sembed {

void EmbedFileOptions::validate() const {
  if (input.empty()) throw std::invalid_argument("embed: --input is required");
  if (output_dir.empty()) throw std::invalid_argument("embed: --output is required");
  if (dtype != "float32" && dtype != "int8")
    throw std::invalid_argument("embed: --dtype must be float32 or int8");
  if (chunk_lines <= 0) throw std::invalid_argument("embed: chunk_lines must be > 0");
}

static int64_t count_lines(const std::string& path) {
  if (path == "-") return -1;
  std::ifstream in(path, std::ios::binary);
  if (!in) return -1;
  int64_t n = 0;
  char buf[1 << 16];
  char last = '\n';
  while (in) {
    in.read(buf, sizeof(buf));
    const std::streamsize got = in.gcount();
    for (std::streamsize i = 0; i < got; ++i) n += buf[i] == '\n';
    if (got > 0) last = buf[got - 1];
  }
  return n + (last != '\n');
}

EmbedFileStats embed_file(const Embedder& embedder, const EmbedFileOptions& options) {
  options.validate();
  const bool int8 = options.dtype == "int8";
  if (int8 && !embedder.normalizes())
    throw std::invalid_argument("embed: --dtype int8 needs normalised vectors (scale 1/127)");
  const int64_t dim = embedder.dim();
  const int64_t total = count_lines(options.input);
  LineReader reader(options.input);  // fails early on a missing input, before any output exists

  AtomicDirectory out(options.output_dir);
  NpyRowWriter npy(join_path(out.temp_path(), "embeddings.npy"), int8 ? "|i1" : "<f4", dim);
  std::ofstream texts(join_path(out.temp_path(), "texts.jsonl"), std::ios::binary);
  if (!texts) throw std::runtime_error("cannot write texts.jsonl in " + out.temp_path());

  EmbedFileStats stats;
  std::unique_ptr<Progress> progress;
  if (options.progress) progress = std::make_unique<Progress>("embed", total, "lines");
  std::vector<std::string> chunk;
  std::vector<int8_t> quantized;
  std::string line;
  bool eof = false;
  while (!eof) {
    chunk.clear();
    const int64_t first_row = stats.rows;
    while (static_cast<int64_t>(chunk.size()) < options.chunk_lines) {
      if (!reader.next(line)) {
        eof = true;
        break;
      }
      chunk.push_back(line);
    }
    if (chunk.empty()) break;
    EmbedStats es;
    std::vector<float> vectors;
    try {
      vectors = embedder.embed(chunk, &es);
    } catch (const std::invalid_argument& e) {
      // "text K: ..." -> name the input line.
      std::string msg = e.what();
      if (msg.rfind("text ", 0) == 0) {
        const int64_t k = std::stoll(msg.substr(5));
        msg = options.input + ":" + std::to_string(first_row + k + 1) + msg.substr(msg.find(':'));
      }
      throw std::invalid_argument(msg);
    }
    for (size_t i = 0; i < chunk.size(); ++i) {
      if (chunk[i].empty()) ++stats.empty;
      nlohmann::json row = {{"id", first_row + static_cast<int64_t>(i)}, {"text", chunk[i]}};
      texts << row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    }
    if (int8) {
      quantized.resize(vectors.size());
      for (size_t i = 0; i < vectors.size(); ++i)
        quantized[i] =
            static_cast<int8_t>(std::lround(std::max(-1.0f, std::min(1.0f, vectors[i])) * 127.0f));
      npy.append(quantized.data(), static_cast<int64_t>(chunk.size()));
    } else {
      npy.append(vectors.data(), static_cast<int64_t>(chunk.size()));
    }
    stats.rows += static_cast<int64_t>(chunk.size());
    stats.truncated += es.truncated;
    stats.tokens += es.tokens;
    if (progress) progress->update(stats.rows);
  }
  npy.finish();
  texts.close();
  if (texts.fail()) throw std::runtime_error("write failed for texts.jsonl");
  if (progress) progress->finish(stats.rows);
  stats.seconds = progress ? progress->elapsed_seconds() : 0.0;
  if (stats.truncated > 0)
    log_warning(std::to_string(stats.truncated) + " of " + std::to_string(stats.rows) +
                " lines were longer than " + std::to_string(embedder.max_len()) +
                " tokens and were truncated for embedding (texts.jsonl keeps them whole)");

  const ModelConfig& config = embedder.config();
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  nlohmann::json meta = {
      {"format", "sembed-embeddings"},
      {"format_version", 1},
      {"count", stats.rows},
      {"dim", dim},
      {"dtype", options.dtype},
      {"normalized", embedder.normalizes()},
      {"pooling", config.pooling.inference_mode()},
      {"max_len", embedder.max_len()},
      {"model_hash", embedder.weights_hash()},
      {"model_config", {{"encoder", config.encoder}, {"pooling", config.pooling}}},
      {"source", options.input},
      {"empty_lines", stats.empty},
      {"truncated_lines", stats.truncated},
      {"created", stamp}};
  if (int8) meta["scale"] = 1.0 / 127.0;
  std::ofstream(join_path(out.temp_path(), "meta.json")) << meta.dump(2) << "\n";
  out.commit();
  return stats;
}

EmbeddingSet load_embedding_set(const std::string& dir) {
  if (!is_directory(dir))
    throw std::runtime_error("embedding directory '" + dir + "' does not exist");
  EmbeddingSet set;
  const std::string meta_path = join_path(dir, "meta.json");
  try {
    set.meta = nlohmann::json::parse(read_file(meta_path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("'" + meta_path + "' is not valid JSON: " + e.what());
  }
  const float scale =
      set.meta.value("dtype", "float32") == "int8" ? set.meta.value("scale", 1.0f / 127) : 1.0f;
  NpyMatrix m = read_npy_matrix(join_path(dir, "embeddings.npy"), scale);
  set.rows = m.rows;
  set.dim = m.cols;
  set.vectors = std::move(m.data);
  if (set.meta.contains("dim") && set.meta["dim"].get<int64_t>() != set.dim)
    throw std::runtime_error("'" + meta_path + "' says dim " + set.meta["dim"].dump() +
                             " but embeddings.npy has " + std::to_string(set.dim));
  const std::string texts_path = join_path(dir, "texts.jsonl");
  LineReader reader(texts_path);
  std::string line;
  while (reader.next(line)) {
    try {
      auto j = nlohmann::json::parse(line);
      set.texts.push_back(j.at("text").get<std::string>());
      const auto& id = j.at("id");
      set.ids.push_back(id.is_string() ? id.get<std::string>() : id.dump());
    } catch (const nlohmann::json::exception& e) {
      throw std::runtime_error(reader.where() + ": " + e.what());
    }
  }
  if (static_cast<int64_t>(set.texts.size()) != set.rows)
    throw std::runtime_error("'" + texts_path + "' has " + std::to_string(set.texts.size()) +
                             " rows but embeddings.npy has " + std::to_string(set.rows));
  return set;
}

}  // namespace sembed
