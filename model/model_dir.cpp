#include "model/model_dir.h"

#include <stdexcept>

#include "common/atomic_file.h"
#include "common/hash.h"

namespace sembed {

std::string content_hash(const std::string& bytes) {
  return hex64(hash64(bytes));
}

static nlohmann::json read_config_json(const std::string& dir) {
  if (!is_directory(dir)) throw std::runtime_error("model directory '" + dir + "' does not exist");
  const std::string path = join_path(dir, kConfigFile);
  if (!path_exists(path))
    throw std::runtime_error("'" + path + "' is missing: '" + dir +
                             "' is not a sembed model directory");
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("'" + path + "' is not valid JSON: " + e.what());
  }
}

Tokenizer load_model_tokenizer(const std::string& dir, const ModelConfig& config) {
  const std::string path = join_path(dir, kTokenizerFile);
  if (!path_exists(path)) throw std::runtime_error("'" + path + "' is missing");
  return Tokenizer::load(path, config.tokenizer);
}

ModelConfig read_model_config(const std::string& dir) {
  const nlohmann::json j = read_config_json(dir);
  const std::string path = join_path(dir, kConfigFile);
  ModelConfig config;
  try {
    config = j.get<ModelConfig>();
    config.validate();
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("'" + path + "': " + e.what());
  } catch (const std::exception& e) {
    throw std::runtime_error("'" + path + "': " + e.what());
  }
  return config;
}

WeightsRecord read_weights_record(const std::string& dir) {
  const nlohmann::json j = read_config_json(dir);
  WeightsRecord r;
  if (j.contains("weights") && j["weights"].is_object()) {
    r.bytes = j["weights"].value("bytes", int64_t{-1});
    r.hash = j["weights"].value("hash", "");
  }
  return r;
}

}  // namespace sembed
