#pragma once

// Recipes: a whole training pipeline in one JSON file (recipes/*.json), from raw data to a
// finished model directory: corpus assembly, `prepare`, tokenizer training, then training stages
// in order (each starting from the previous stage's model), with a dev check after each stage so
// the pipeline never ends below where it started. Every step is cached in DIR/work/ and resumable.
#include <string>

#include <nlohmann/json.hpp>

namespace sembed {

struct RecipeOptions {
  std::string recipe_path;  // recipes/default.json
  std::string output;       // the final model directory (DIR/work/ holds intermediate steps)
  std::string device;       // overrides the recipe's device ("" = recipe's, else auto)
  int threads = 0;          // CPU threads (0 = all cores)
  double time_scale = 1.0;  // multiplies every stage's time_limit (e.g. short test runs)
  bool progress = true;
  void validate() const;
};

struct RecipeResult {
  nlohmann::json report;  // per-step timings, data counts, stage dev scores, final scores
};

// Runs (or resumes) the recipe. Throws std::invalid_argument for a malformed recipe or a data
// path that does not resolve (the message names the recipe key and the path), std::runtime_error
// for I/O failures.
RecipeResult run_recipe(const RecipeOptions& options);

// Reads a recipe file. A recipe may name another as its "base" (a path relative to its own
// folder): the base is read first (recursively, at most 8 deep), then this file's keys are
// applied to it as a JSON merge patch (RFC 7386: objects merge key by key, null removes a key,
// anything else replaces). "stages" may be a list, which replaces the base's stages, or an
// object keyed by stage name, whose values patch the base stage of that name (null drops the
// stage). The result has no "base" key; "bases" lists the files read, outermost first. Throws
// std::invalid_argument for unreadable or invalid JSON, a missing base, a cycle, or an unknown
// stage name.
nlohmann::json load_recipe_file(const std::string& path);

// Substitutes ${name} variables in `text`: recipe variables first, then ${recipe_dir}, ${work},
// ${repo} (the folder above the recipe at the root of its "base" chain, e.g. the checkout of
// recipes/supervised.json) and environment variables. Throws std::invalid_argument for an
// unknown variable.
std::string expand_recipe_string(const std::string& text, const nlohmann::json& variables);

}  // namespace sembed
