#pragma once

// Loading and saving model directories and module weights (LibTorch side).
#include <string>
#include <vector>

#include "model/encoder.h"
#include "model/model_dir.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"

namespace sembed {

// A module's parameters and buffers as safetensors entries (fp32, CPU, contiguous), named by
// their registered names with `prefix` prepended.
std::vector<TensorData> module_tensors(const torch::nn::Module& module,
                                       const std::string& prefix = "");

// Copies tensors named `prefix` + registered name from `file` into `module`. Every parameter and
// buffer must be present with the same shape (F32, BF16 or F16 accepted). With `strict`, tensors
// under `prefix` that the module does not have are refused too. Throws std::runtime_error.
void load_module_tensors(torch::nn::Module& module, const SafetensorsFile& file,
                         const std::string& prefix = "", bool strict = true);

struct LoadedModel {
  ModelConfig config;
  Encoder encoder{nullptr};
  std::shared_ptr<const Tokenizer> tokenizer;
  std::string weights_hash;
};

// Loads DIR (config, weights, tokenizer), checks everything, moves the encoder to `device` in
// eval mode. Throws std::runtime_error with a message naming the file for any inconsistency
// (missing or unknown tensors, wrong shapes, truncated or corrupt files, hash mismatch).
LoadedModel load_model(const std::string& dir, const torch::Device& device = torch::kCPU);

enum class SaveMode {
  kReplaceDirectory,  // build DIR in a temporary sibling, then swap it in (DIR's other files go)
  kUpdateFiles,       // replace the three model files inside DIR one by one, each atomically
                      // (a training output directory keeps its checkpoints and logs)
};
// Writes config.json (with a weights record), model.safetensors and tokenizer.model.
void save_model(const std::string& dir, const ModelConfig& config, const Encoder& encoder,
                const std::string& tokenizer_model_bytes,
                SaveMode mode = SaveMode::kReplaceDirectory);

// Writes the three files into an existing (temporary) directory; used by save_model and by
// checkpoints.
void write_model_files(const std::string& dir, const ModelConfig& config, const Encoder& encoder,
                       const std::string& tokenizer_model_bytes);

}  // namespace sembed
