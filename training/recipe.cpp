#include "training/recipe.h"

#include <fnmatch.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>
#include <vector>

#include "common/atomic_file.h"
#include "common/line_reader.h"
#include "common/log.h"
#include "model/embedder.h"
#include "model/model_dir.h"
#include "model/model_init.h"
#include "tokenizer/corpus.h"
#include "tokenizer/tokenizer.h"
#include "training/sts.h"
#include "training/trainer.h"

namespace sembed {

namespace fs = std::filesystem;
using nlohmann::json;

void RecipeOptions::validate() const {
  if (recipe_path.empty()) throw std::invalid_argument("recipe: --recipe is required");
  if (output.empty()) throw std::invalid_argument("recipe: --output is required");
  if (!(time_scale > 0)) throw std::invalid_argument("recipe: time scale must be > 0");
}

namespace {

json load_recipe_chain(const fs::path& path, std::vector<std::string>& chain) {
  const std::string abs = fs::weakly_canonical(fs::absolute(path)).string();
  for (const auto& seen : chain)
    if (seen == abs) throw std::invalid_argument("recipe: base cycle through '" + abs + "'");
  if (chain.size() >= 8)
    throw std::invalid_argument("recipe: more than 8 levels of \"base\" at '" + abs + "'");
  if (!path_exists(abs)) throw std::invalid_argument("recipe '" + abs + "' does not exist");
  chain.push_back(abs);
  json r;
  try {
    r = json::parse(read_file(abs));
  } catch (const json::exception& e) {
    throw std::invalid_argument("recipe '" + abs + "' is not valid JSON: " + e.what());
  }
  if (!r.is_object()) throw std::invalid_argument("recipe '" + abs + "' must be a JSON object");
  if (!r.contains("base")) return r;
  if (!r["base"].is_string())
    throw std::invalid_argument("recipe '" + abs + "': \"base\" must be a path string");
  json merged =
      load_recipe_chain(fs::path(abs).parent_path() / r["base"].get<std::string>(), chain);
  r.erase("base");
  if (r.contains("stages") && r["stages"].is_object()) {
    if (!merged.contains("stages") || !merged["stages"].is_array())
      throw std::invalid_argument("recipe '" + abs + "': stage patches need a base with stages");
    json stages = json::array();
    std::set<std::string> patched;
    for (const auto& stage : merged["stages"]) {
      const std::string name = stage.is_object() ? stage.value("name", "") : "";
      if (!r["stages"].contains(name)) {
        stages.push_back(stage);
        continue;
      }
      patched.insert(name);
      const json& patch = r["stages"][name];
      if (patch.is_null()) continue;  // the stage is dropped
      if (!patch.is_object())
        throw std::invalid_argument("recipe '" + abs + "': stages." + name +
                                    " must be an object or null");
      json s = stage;
      s.merge_patch(patch);
      stages.push_back(std::move(s));
    }
    for (auto& [name, patch] : r["stages"].items())
      if (!patched.count(name))
        throw std::invalid_argument("recipe '" + abs + "': stages." + name +
                                    " names no stage of its base");
    r.erase("stages");
    merged["stages"] = std::move(stages);
  }
  merged.merge_patch(r);
  return merged;
}

}  // namespace

json load_recipe_file(const std::string& path) {
  std::vector<std::string> chain;
  json r = load_recipe_chain(path, chain);
  if (chain.size() > 1) r["bases"] = chain;
  return r;
}

std::string expand_recipe_string(const std::string& text, const json& variables) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "${") == 0) {
      const size_t end = text.find('}', i + 2);
      if (end == std::string::npos)
        throw std::invalid_argument("recipe: unterminated ${ in '" + text + "'");
      const std::string name = text.substr(i + 2, end - i - 2);
      if (variables.contains(name) && variables[name].is_string()) {
        out += variables[name].get<std::string>();
      } else if (const char* env = std::getenv(name.c_str())) {
        out += env;
      } else {
        throw std::invalid_argument("recipe: unknown variable ${" + name + "} in '" + text + "'");
      }
      i = end + 1;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Removes POS tags ("word/TAG") and undoes the corpus's tokenisation enough for SentencePiece.
std::string untag_line(const std::string& line) {
  std::string out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) {
      std::string tok = line.substr(i, j - i);
      const size_t slash = tok.rfind('/');
      if (slash != std::string::npos && slash > 0) tok = tok.substr(0, slash);
      if (tok == "``" || tok == "''") tok = "\"";
      const bool attach_left =
          tok.size() == 1 && std::string(".,;:!?)'").find(tok[0]) != std::string::npos;
      if (!out.empty() && !attach_left && out.back() != '(') out.push_back(' ');
      out += tok;
    }
    i = j;
  }
  return out;
}

// One object of a recipe ("model", "stages[2]"): reads its optional settings and knows every key
// it may hold, so that a misspelt key is an error instead of a silently ignored setting.
class RecipeSection {
 public:
  RecipeSection(const json& object, std::string where)
      : object_(object), where_(std::move(where)) {}
  // Reads `key` into `field` when the object has it (else the field keeps its value).
  template <typename T>
  void read(const char* key, T& field) {
    known_.insert(key);
    if (object_.contains(key)) field = object_[key].get<T>();
  }
  // Keys the caller handles itself.
  void allow(std::initializer_list<const char*> keys) { known_.insert(keys.begin(), keys.end()); }
  // Throws std::invalid_argument naming a key that is neither read nor allowed.
  void check_keys() const {
    for (auto& [key, value] : object_.items())
      if (!known_.count(key))
        throw std::invalid_argument("recipe: " + where_ + ": unknown key '" + key + "'");
  }

 private:
  const json& object_;
  std::string where_;
  std::set<std::string> known_;
};

class RecipeRunner {
 public:
  explicit RecipeRunner(const RecipeOptions& o) : opts_(o) {}
  RecipeResult run();

 private:
  std::string expand(const std::string& s) const {
    for (const auto& [name, why] : unresolved_)
      if (s.find("${" + name + "}") != std::string::npos) throw std::invalid_argument(why);
    return expand_recipe_string(s, vars_);
  }
  std::string resolve_path(const json& value, const std::string& where) const;
  void load_recipe();
  void build_corpus();
  void prepare();
  void train_tokenizer();
  std::string dataset_path(const std::string& name);
  // dataset_path() of each name in a JSON list (an absent key = an empty list).
  std::vector<std::string> dataset_paths(const json& names);
  double evaluate_dev(const std::string& model_dir) const;
  TrainConfig stage_config(const json& stage, size_t index, const std::string& init,
                           const std::string& out);
  void init_fresh_model();
  // One stage each; they write `out` and return the stage's report record.
  json training_stage(const json& stage, size_t index, const std::string& name,
                      const std::string& init, const std::string& out);
  json lexical_stage(const json& stage, const std::string& name, const std::string& init,
                     const std::string& out);
  void run_stages();
  void finish();
  // A finished step's record (its stamp file, marked cached and added to the report), or
  // nullopt when the step has not run yet.
  std::optional<json> cached(const std::string& step, const std::string& stamp);
  EmbedderOptions embedder_options() const;
  void mark_done(const std::string& stamp, const json& info);

  RecipeOptions opts_;
  json recipe_;
  json vars_ = json::object();
  std::map<std::string, std::string> unresolved_;           // variable -> why it has no value
  std::map<std::string, std::string> evals_;                // evaluation name -> STS file
  std::map<std::string, std::vector<StsPair>> eval_pairs_;  // evaluation name -> its pairs
  std::string work_;
  json report_ = json::object();
  std::string final_model_;
  std::string init_model_;  // work/stages/00-init: the fresh model the first stage starts from
  double init_dev_ = -1;
};

std::string RecipeRunner::resolve_path(const json& value, const std::string& where) const {
  if (!value.is_string())
    throw std::invalid_argument("recipe: " + where + " must be a path string");
  const std::string p = expand(value.get<std::string>());
  if (!path_exists(p))
    throw std::invalid_argument("recipe: " + where + ": '" + p + "' does not exist");
  return p;
}

void RecipeRunner::load_recipe() {
  recipe_ = load_recipe_file(opts_.recipe_path);
  // load_recipe_file guarantees an object.
  if (!recipe_.contains("stages") || !recipe_["stages"].is_array() || recipe_["stages"].empty())
    throw std::invalid_argument("recipe '" + opts_.recipe_path +
                                "' needs a non-empty \"stages\" list");
  const fs::path recipe_dir = fs::absolute(opts_.recipe_path).parent_path();
  vars_["recipe_dir"] = recipe_dir.string();
  // ${repo}: the folder above the recipe at the root of the "base" chain (recipes/ of a checkout),
  // so that a recipe kept elsewhere that builds on recipes/supervised.json still finds scripts/.
  const fs::path root_recipe = recipe_.contains("bases")
                                   ? fs::path(recipe_["bases"].back().get<std::string>())
                                   : fs::absolute(opts_.recipe_path);
  vars_["repo"] = fs::weakly_canonical(root_recipe.parent_path() / "..").string();
  work_ = fs::absolute(fs::path(opts_.output) / "work").string();
  vars_["work"] = work_;
  // Variables: a string, or a list of candidates of which the first existing path wins.
  // (value() returns a temporary: bind it, or items() would iterate a destroyed object.)
  const json variables = recipe_.value("variables", json::object());
  for (auto& [name, value] : variables.items()) {
    if (value.is_string()) {
      vars_[name] = expand(value.get<std::string>());
    } else if (value.is_array()) {
      std::string chosen, tried;
      for (const auto& c : value) {
        std::string p;
        try {
          p = expand(c.get<std::string>());
        } catch (const std::invalid_argument&) {
          continue;  // an unset environment variable: next candidate
        }
        tried += " '" + p + "'";
        if (path_exists(p)) {
          chosen = fs::canonical(p).string();
          break;
        }
      }
      if (chosen.empty()) {
        // Not an error yet: only using it is (optional sources and evals are then skipped).
        unresolved_[name] = "recipe: variable '" + name + "' resolves to none of:" + tried +
                            " (set SEMBED_DATA_DIR or install the data)";
        continue;
      }
      vars_[name] = chosen;
    } else {
      throw std::invalid_argument("recipe: variable '" + name + "' must be a string or a list");
    }
  }
  // Evaluation sets: those whose paths do not resolve are skipped (with a warning), so a machine
  // without the STS data still trains; the dev guard then has nothing to compare and keeps all.
  const json evals = recipe_.value("eval", json::object());
  for (auto& [name, value] : evals.items()) {
    try {
      evals_[name] = resolve_path(value, "eval." + name);
      eval_pairs_[name] = read_sts_file(evals_[name]);
    } catch (const std::invalid_argument& e) {
      log_warning(std::string(e.what()) + "; evaluation '" + name + "' skipped");
    }
  }
  report_["recipe"] = recipe_;
  report_["recipe_path"] = fs::absolute(opts_.recipe_path).string();
  report_["variables"] = vars_;
  report_["steps"] = json::array();
}

std::optional<json> RecipeRunner::cached(const std::string& step, const std::string& stamp) {
  if (!path_exists(stamp)) return std::nullopt;
  json info = json::parse(read_file(stamp));
  info["cached"] = true;
  report_["steps"].push_back(info);
  log_info("recipe: " + step + " done earlier (" + stamp + ")");
  return info;
}

EmbedderOptions RecipeRunner::embedder_options() const {
  EmbedderOptions eo;
  eo.device = opts_.device.empty() ? "auto" : opts_.device;
  eo.threads = opts_.threads;
  return eo;
}

void RecipeRunner::mark_done(const std::string& stamp, const json& info) {
  write_file_atomic(stamp, info.dump(2) + "\n");
  report_["steps"].push_back(info);
}

void RecipeRunner::build_corpus() {
  const std::string out_path = join_path(work_, "corpus_raw.txt");
  const std::string stamp = out_path + ".done";
  if (cached("corpus", stamp)) return;
  const auto t0 = Clock::now();
  const json corpus = recipe_.value("corpus", json::object());
  if (!corpus.contains("sources") || !corpus["sources"].is_array() || corpus["sources"].empty())
    throw std::invalid_argument("recipe: corpus.sources must be a non-empty list");
  AtomicFile out(out_path);
  json counts = json::object();
  for (size_t i = 0; i < corpus["sources"].size(); ++i) {
    const json& src = corpus["sources"][i];
    const std::string where = "corpus.sources[" + std::to_string(i) + "]";
    const std::string name = src.value("name", "source" + std::to_string(i));
    const std::string format = src.value("format", "lines");
    if (src.value("optional", false)) {
      try {
        if (src.contains("path")) resolve_path(src["path"], where + ".path");
      } catch (const std::invalid_argument& e) {
        log_warning(std::string(e.what()) + "; optional source " + name + " skipped");
        counts[name] = "skipped";
        continue;
      }
    }
    int64_t lines = 0;
    auto copy_lines = [&](const std::string& path, bool untag, bool drop_last) {
      // drop_last: the file is a byte-truncated prefix whose last line is cut mid-sentence.
      LineReader reader(path);
      std::string line, pending;
      bool has_pending = false;
      while (reader.next(line)) {
        if (has_pending) {
          out.stream() << pending << '\n';
          ++lines;
          has_pending = false;
        }
        std::string text = untag ? untag_line(line) : line;
        if (text.empty()) continue;
        if (drop_last) {
          pending = std::move(text);
          has_pending = true;
        } else {
          out.stream() << text << '\n';
          ++lines;
        }
      }
    };
    if (format == "lines") {
      copy_lines(resolve_path(src.value("path", json()), where + ".path"), false,
                 src.value("drop_last_line", false));
    } else if (format == "tagged_words") {
      const std::string path = resolve_path(src.value("path", json()), where + ".path");
      const std::string pattern = src.value("files", "*");
      std::vector<std::string> files;
      if (is_directory(path)) {
        for (const auto& e : fs::directory_iterator(path))
          if (e.is_regular_file() && fnmatch(pattern.c_str(), e.path().filename().c_str(), 0) == 0)
            files.push_back(e.path().string());
        std::sort(files.begin(), files.end());
      } else {
        files.push_back(path);
      }
      if (files.empty())
        throw std::invalid_argument("recipe: " + where + ": no files match '" + pattern + "' in '" +
                                    path + "'");
      for (const auto& f : files) copy_lines(f, true, false);
    } else if (format == "command") {
      // A command that writes a text file (e.g. scripts/corpus.py for Debian's texts).
      const std::string produced = expand(src.value("output", ""));
      if (produced.empty()) throw std::invalid_argument("recipe: " + where + ".output is required");
      if (!path_exists(produced)) {
        const std::string cmd = expand(src.value("command", ""));
        log_info("recipe: running " + cmd);
        if (std::system(cmd.c_str()) != 0 || !path_exists(produced))
          throw std::runtime_error("recipe: " + where + ": command failed: " + cmd);
      }
      copy_lines(produced, false, false);
    } else {
      throw std::invalid_argument("recipe: " + where +
                                  ".format must be lines, tagged_words or command");
    }
    counts[name] = lines;
    log_info("recipe: corpus source " + name + ": " + std::to_string(lines) + " lines");
  }
  out.commit();
  mark_done(stamp, {{"step", "corpus"}, {"seconds", seconds_since(t0)}, {"lines", counts}});
}

void RecipeRunner::prepare() {
  const std::string out_path = join_path(work_, "corpus.txt");
  const std::string stamp = out_path + ".done";
  if (cached("prepare", stamp)) return;
  const auto t0 = Clock::now();
  const json p = recipe_.value("corpus", json::object()).value("prepare", json::object());
  PrepareConfig cfg;
  cfg.inputs = {join_path(work_, "corpus_raw.txt")};
  cfg.output = out_path;
  cfg.split_sentences = p.value("split_sentences", true);
  cfg.dedupe = p.value("dedupe", true);
  cfg.min_chars = p.value("min_chars", 12);
  cfg.max_chars = p.value("max_chars", 600);
  cfg.normalizer.lowercase = p.value("lowercase", false);
  cfg.threads = opts_.threads;
  const PrepareStats s = prepare_corpus(cfg, opts_.progress);
  mark_done(stamp, {{"step", "prepare"},
                    {"seconds", seconds_since(t0)},
                    {"read", s.lines_read},
                    {"written", s.written},
                    {"dropped_duplicate", s.dropped_duplicate},
                    {"dropped_short", s.dropped_short},
                    {"dropped_long", s.dropped_long},
                    {"dropped_invalid", s.dropped_invalid}});
}

void RecipeRunner::train_tokenizer() {
  const std::string path = join_path(work_, "tokenizer.model");
  const std::string stamp = path + ".done";
  if (cached("tokenizer", stamp)) return;
  const auto t0 = Clock::now();
  const json t = recipe_.value("tokenizer", json::object());
  TokenizerConfig cfg;
  cfg.vocab_size = t.value("vocab_size", cfg.vocab_size);
  cfg.model_type = t.value("model_type", cfg.model_type);
  cfg.character_coverage = t.value("character_coverage", cfg.character_coverage);
  cfg.input_sentence_size = t.value("input_sentence_size", cfg.input_sentence_size);
  cfg.normalizer.lowercase = t.value("lowercase", false);
  cfg.seed = t.value("seed", cfg.seed);
  cfg.threads = opts_.threads;
  Tokenizer::train(join_path(work_, "corpus.txt"), path, cfg);
  mark_done(
      stamp,
      {{"step", "tokenizer"}, {"seconds", seconds_since(t0)}, {"vocab_size", cfg.vocab_size}});
}

std::string RecipeRunner::dataset_path(const std::string& name) {
  if (name == "corpus") return join_path(work_, "corpus.txt");
  const json datasets = recipe_.value("datasets", json::object());
  if (!datasets.contains(name))
    throw std::invalid_argument("recipe: unknown dataset '" + name + "'");
  const json& d = datasets[name];
  const std::string where = "datasets." + name;
  const std::string format = d.value("format", "file");
  if (format == "file") return resolve_path(d.value("path", json()), where + ".path");
  if (format == "snli_senteval") {
    // SentEval's SNLI files (s1.X, s2.X, labels.X) -> premise<TAB>entailment<TAB>contradiction.
    const std::string out_path = join_path(work_, "data/" + name + ".tsv");
    if (path_exists(out_path)) return out_path;
    const std::string dir = resolve_path(d.value("path", json()), where + ".path");
    make_directories(join_path(work_, "data"));
    AtomicFile out(out_path);
    int64_t triplets = 0;
    for (const auto& split : d.value("splits", std::vector<std::string>{"dev", "test"})) {
      LineReader s1(dir + "/s1." + split), s2(dir + "/s2." + split), lab(dir + "/labels." + split);
      std::map<std::string, std::map<std::string, std::string>> by_premise;
      std::vector<std::string> order;
      std::string a, b, l;
      while (s1.next(a) && s2.next(b) && lab.next(l)) {
        if (a.empty() || b.empty()) continue;
        if (!by_premise.count(a)) order.push_back(a);
        by_premise[a][l] = b;
      }
      for (const auto& p : order) {
        const auto& m = by_premise[p];
        if (m.count("entailment") && m.count("contradiction")) {
          out.stream() << p << '\t' << m.at("entailment") << '\t' << m.at("contradiction") << '\n';
          ++triplets;
        }
      }
    }
    out.commit();
    log_info("recipe: " + name + ": " + std::to_string(triplets) + " triplets");
    return out_path;
  }
  if (format == "command") {
    // A command that writes the dataset (e.g. scripts/paraphrase_pairs.py); run once, cached.
    const std::string out_path = expand(d.value("output", ""));
    if (out_path.empty()) throw std::invalid_argument("recipe: " + where + ".output is required");
    if (path_exists(out_path)) return out_path;
    make_directories(fs::path(out_path).parent_path().string());
    const std::string cmd = expand(d.value("command", ""));
    log_info("recipe: " + name + ": running " + cmd);
    if (std::system(cmd.c_str()) != 0 || !path_exists(out_path))
      throw std::runtime_error("recipe: " + where + ": command failed: " + cmd);
    return out_path;
  }
  throw std::invalid_argument("recipe: " + where +
                              ".format must be file, snli_senteval or command");
}

std::vector<std::string> RecipeRunner::dataset_paths(const json& names) {
  std::vector<std::string> paths;
  for (const auto& d : names) paths.push_back(dataset_path(d.get<std::string>()));
  return paths;
}

double RecipeRunner::evaluate_dev(const std::string& model_dir) const {
  if (!eval_pairs_.count("dev")) return -1;
  return evaluate_sts(eval_pairs_.at("dev"), Embedder(model_dir, embedder_options())).spearman;
}

TrainConfig RecipeRunner::stage_config(const json& stage, size_t index, const std::string& init,
                                       const std::string& out) {
  const std::string where = "stages[" + std::to_string(index) + "]";
  RecipeSection section(stage, where);
  section.allow({"name", "data", "aux_data", "pooling", "keep_if_worse"});
  TrainConfig c;
  c.objective = "";
  c.bf16 = recipe_.value("bf16", c.bf16);
  c.log_every = 50;
  c.device = recipe_.value("device", "auto");
  section.read("objective", c.objective);
  section.read("steps", c.steps);
  section.read("epochs", c.epochs);
  section.read("time_limit", c.time_limit);
  section.read("batch_size", c.batch_size);
  section.read("max_len", c.max_len);
  section.read("lr", c.lr);
  section.read("warmup", c.warmup);
  section.read("temperature", c.temperature);
  section.read("dropout", c.dropout);
  section.read("seed", c.seed);
  section.read("bf16", c.bf16);
  section.read("eval_every", c.eval_every);
  section.read("save_every", c.save_every);
  section.read("weight_decay", c.weight_decay);
  section.read("grad_clip", c.grad_clip);
  section.read("hard_negative_weight", c.hard_negative_weight);
  section.read("mlm_probability", c.mlm_probability);
  section.read("cosent_scale", c.cosent_scale);
  section.read("cosent_within_files", c.cosent_within_files);
  section.read("cosent_ibn_weight", c.cosent_ibn_weight);
  section.read("cosent_ibn_min_score", c.cosent_ibn_min_score);
  section.read("token_dropout", c.token_dropout);
  section.read("ema_decay", c.ema_decay);
  section.read("subword_nbest", c.subword_nbest);
  section.read("subword_alpha", c.subword_alpha);
  section.read("aux_objective", c.aux_objective);
  section.read("aux_weight", c.aux_weight);
  section.read("aux_batch_size", c.aux_batch_size);
  section.read("log_every", c.log_every);
  section.read("device", c.device);
  section.check_keys();
  if (!stage.contains("data"))
    throw std::invalid_argument("recipe: " + where + ".data is required");
  c.data = dataset_paths(stage["data"]);
  if (stage.contains("aux_data")) c.aux_data = dataset_paths(stage["aux_data"]);
  c.output = out;
  c.init = init;
  // A stage may change the pooling mode of the model it starts from; its lexical path stays.
  if (stage.contains("pooling")) c.pooling_mode = stage["pooling"].get<std::string>();
  c.time_limit *= opts_.time_scale;
  if (!opts_.device.empty()) c.device = opts_.device;
  c.threads = opts_.threads;
  c.progress = opts_.progress;
  if (evals_.count("dev") && c.objective != "mlm") c.eval_sts = evals_.at("dev");
  try {
    c.validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("recipe: " + where + ": " + e.what());
  }
  return c;
}

void RecipeRunner::init_fresh_model() {
  init_model_ = join_path(work_, "stages/00-init");
  const std::string stamp = init_model_ + ".done";
  if (const auto info = cached("init", stamp)) {
    init_dev_ = info->value("dev", -1.0);
    return;
  }
  const auto t0 = Clock::now();
  const json m = recipe_.value("model", json::object());
  RecipeSection section(m, "model");
  section.allow({"preset", "idf_corpus"});
  InitOptions o;
  o.tokenizer_path = join_path(work_, "tokenizer.model");
  o.output_dir = init_model_;
  o.encoder = EncoderConfig::preset(m.value("preset", "small"));
  section.read("layers", o.encoder.layers);
  section.read("hidden", o.encoder.hidden);
  section.read("heads", o.encoder.heads);
  section.read("ffn", o.encoder.ffn);
  section.read("max_len", o.encoder.max_len);
  section.read("dropout", o.encoder.dropout);
  o.encoder.attention_dropout = o.encoder.dropout;  // unless the recipe sets it apart
  section.read("attention_dropout", o.encoder.attention_dropout);
  section.read("pooling", o.pooling.mode);
  section.read("mlp_at_inference", o.pooling.mlp_at_inference);
  section.read("lexical_weight", o.pooling.lexical_weight);
  section.read("seed", o.seed);
  section.check_keys();
  o.idf_corpus = dataset_paths(m.value("idf_corpus", json::array()));
  try {
    o.validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("recipe: model: ") + e.what());
  }
  if (is_directory(init_model_)) remove_all(init_model_);
  init_model(o);
  init_dev_ = evaluate_dev(init_model_);
  log_info("recipe: fresh model, dev " + std::to_string(init_dev_));
  mark_done(stamp, {{"step", "init"}, {"seconds", seconds_since(t0)}, {"dev", init_dev_}});
}

json RecipeRunner::training_stage(const json& stage, size_t index, const std::string& name,
                                  const std::string& init, const std::string& out) {
  TrainConfig cfg = stage_config(stage, index, init, out);
  cfg.resume = is_directory(join_path(out, "checkpoints"));
  if (!cfg.resume && is_directory(out)) remove_all(out);  // an attempt that never checkpointed
  log_info("recipe: stage " + name + " (" + cfg.objective + ")");
  const TrainResult r = train_model(cfg);
  if (r.interrupted)
    throw std::runtime_error("recipe: interrupted during stage " + name +
                             "; run it again to resume");
  // The stage's own settings (the model's shape and pooling come from the model it starts from).
  json stage_settings = cfg;
  stage_settings.erase("encoder");
  stage_settings.erase("tokenizer");
  stage_settings.erase("idf_corpus");
  stage_settings.erase("pooling");
  if (cfg.pooling_mode.empty()) stage_settings.erase("pooling_mode");
  if (cfg.lexical_weight < 0) stage_settings.erase("lexical_weight");
  return {{"step", "stage"},
          {"objective", cfg.objective},
          {"steps", r.steps},
          {"initial_dev", r.initial_dev},
          {"best_dev_during_training", r.best_dev},
          {"tokens_per_second", r.tokens_per_second},
          {"sentences_per_second", r.sentences_per_second},
          {"config", stage_settings}};
}

json RecipeRunner::lexical_stage(const json& stage, const std::string& name,
                                 const std::string& init, const std::string& out) {
  RecipeSection section(stage, "stage " + name);
  section.allow({"name", "keep_if_worse", "idf_corpus"});
  LexicalOptions o;
  o.model_dir = init;
  o.output_dir = out;
  o.idf_corpus = dataset_paths(stage.value("idf_corpus", json::array()));
  section.read("lexical_weight", o.weight);
  section.read("table", o.table);
  section.read("seed", o.seed);
  section.check_keys();
  log_info("recipe: stage " + name + " (lexical path, weight " + std::to_string(o.weight) + ")");
  try {
    set_lexical_path(o);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("recipe: stage " + name + ": " + e.what());
  }
  return {{"step", "stage"},
          {"objective", "lexical"},
          {"config", {{"lexical_weight", o.weight}, {"idf_corpus", o.idf_corpus}}}};
}

void RecipeRunner::run_stages() {
  std::string current = init_model_;  // model directory the next stage starts from
  double current_dev = init_dev_;
  const json& stages = recipe_["stages"];
  for (size_t i = 0; i < stages.size(); ++i) {
    const json& stage = stages[i];
    char num[24];
    std::snprintf(num, sizeof(num), "%02zu", i + 1);
    const std::string name =
        std::string(num) + "-" +
        stage.value("name", stage.contains("lexical_weight") ? std::string("lexical")
                                                             : stage.value("objective", "stage"));
    const std::string out = join_path(work_, "stages/" + name);
    const std::string stamp = out + ".done";
    if (const auto info = cached("stage " + name, stamp)) {
      if (info->value("kept", true)) {
        current = out;
        current_dev = info->value("dev", current_dev);
      }
      continue;
    }
    const auto t0 = Clock::now();
    json info = stage.contains("lexical_weight") ? lexical_stage(stage, name, current, out)
                                                 : training_stage(stage, i, name, current, out);
    // The stage's model (best by dev when evaluated) must not be worse than its start.
    const double dev = evaluate_dev(out);
    bool kept = true;
    if (current_dev >= 0 && dev >= 0 && dev < current_dev && !stage.value("keep_if_worse", false)) {
      kept = false;
      log_warning("recipe: stage " + name + " ended at dev " + std::to_string(dev) +
                  " below its start " + std::to_string(current_dev) +
                  "; keeping the previous model");
    }
    info["name"] = name;
    info["seconds"] = seconds_since(t0);
    info["dev"] = dev;
    info["kept"] = kept;
    mark_done(stamp, info);
    if (kept) {
      current = out;
      current_dev = dev;
    }
  }
  final_model_ = current;
}

void RecipeRunner::finish() {
  // The chosen model's three files into DIR, with the whole recipe run in its provenance.
  json config = json::parse(read_file(join_path(final_model_, kConfigFile)));
  config["provenance"]["recipe"] = report_;
  copy_file_atomic(join_path(final_model_, kTokenizerFile),
                   join_path(opts_.output, kTokenizerFile));
  copy_file_atomic(join_path(final_model_, kWeightsFile), join_path(opts_.output, kWeightsFile));
  write_file_atomic(join_path(opts_.output, kConfigFile), config.dump(2) + "\n");
  json scores = json::object();
  const Embedder e(opts_.output, embedder_options());
  for (const auto& [name, pairs] : eval_pairs_) {
    const StsResult r = evaluate_sts(pairs, e);
    scores[name] = r;
    log_info("recipe: final " + name + " spearman " + std::to_string(r.spearman));
  }
  report_["final"] = scores;
}

RecipeResult RecipeRunner::run() {
  opts_.validate();
  const auto t0 = Clock::now();
  load_recipe();
  make_directories(work_);
  build_corpus();
  prepare();
  train_tokenizer();
  init_fresh_model();
  run_stages();
  finish();
  report_["seconds"] = seconds_since(t0);
  write_file_atomic(join_path(opts_.output, "recipe_report.json"), report_.dump(2) + "\n");
  return {report_};
}

}  // namespace

RecipeResult run_recipe(const RecipeOptions& options) {
  return RecipeRunner(options).run();
}

}  // namespace sembed
