// Tokenizer throughput, in one run on the same text: sembed's normalise + encode
// (Tokenizer::encode_batch over chunks of lines, all cores) against Debian's spm_encode (package
// `sentencepiece`; one thread, the model's own identity normaliser). Prints one JSON object on
// stdout; progress goes to stderr.
//
//   tokenizer_bench --tokenizer tok.model --input corpus.txt [--repeat 10] [--threads 0]
//
// Feed it a corpus already normalised by `sembed prepare`: then both sides do the same
// segmentation work and must produce the same ids, which the benchmark checks on a sample.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/line_reader.h"
#include "common/log.h"
#include "common/parallel.h"
#include "tokenizer/tokenizer.h"

extern char** environ;

namespace sembed {
namespace {

struct Options {
  std::string tokenizer;      // PATH.model (with PATH.model.json)
  std::string input;          // one text per line
  int repeat = 10;            // copies of the input, so the run lasts seconds
  int threads = 0;            // sembed's threads (0 = all cores)
  size_t chunk_lines = 4096;  // lines per encode_batch call
  int max_len = 512;          // encode_batch's max_len (a typical model limit)
  std::string spm_encode = "/usr/bin/spm_encode";
  size_t check_lines = 2000;  // lines whose ids are compared between the two
  std::string tmp_dir;        // where the repeated text is written ("" = $TMPDIR)
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A temporary file that is removed when it goes out of scope.
class TempFile {
 public:
  explicit TempFile(const std::string& dir) {
    std::string base = dir;
    if (base.empty()) base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    std::string tmpl = base + "/sembed-tokenizer-bench-XXXXXX";
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw std::runtime_error("cannot create a temporary file in '" + base + "'");
    ::close(fd);
    path_ = tmpl;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void write_lines(const std::string& path, const std::vector<std::string>& lines, size_t count) {
  std::ofstream out(path, std::ios::binary);
  for (size_t i = 0; i < count && i < lines.size(); ++i) out << lines[i] << '\n';
  if (!out.flush()) throw std::runtime_error("cannot write '" + path + "' (disk full?)");
}

// Runs `spm_encode --model M --output_format=id INPUT` with stdout sent to `output`; returns
// the wall time. Spawned without a shell, so paths need no quoting.
double run_spm_encode(const Options& o, const std::string& input, const std::string& output) {
  std::vector<std::string> args = {o.spm_encode, "--model", o.tokenizer, "--output_format=id",
                                   input};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid;
  const int rc = ::posix_spawn(&pid, o.spm_encode.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    throw std::runtime_error("cannot run '" + o.spm_encode + "' (apt-get install sentencepiece)");
  int status = 0;
  ::waitpid(pid, &status, 0);
  const double seconds = seconds_since(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("'" + o.spm_encode + "' failed on '" + input + "'");
  return seconds;
}

struct SembedTiming {
  double seconds = 0;
  int64_t tokens = 0;     // specials included, after truncation to max_len
  int64_t truncated = 0;  // texts longer than max_len
};

SembedTiming time_sembed(const Tokenizer& tok, const std::vector<std::vector<std::string>>& chunks,
                         const Options& o, int threads) {
  SembedTiming t;
  const auto start = std::chrono::steady_clock::now();
  for (const auto& chunk : chunks) {
    const TokenBatch batch = tok.encode_batch(chunk, o.max_len, threads);
    t.tokens += batch.num_tokens();
    for (uint8_t cut : batch.truncated) t.truncated += cut;
  }
  t.seconds = seconds_since(start);
  return t;
}

// Lines (among the first `o.check_lines`) where sembed's ids differ from spm_encode's.
int64_t count_id_mismatches(const Tokenizer& tok, const std::vector<std::string>& lines,
                            const Options& o, size_t& checked) {
  checked = std::min(o.check_lines, lines.size());
  TempFile sample(o.tmp_dir), ids(o.tmp_dir);
  write_lines(sample.path(), lines, checked);
  run_spm_encode(o, sample.path(), ids.path());
  std::ifstream in(ids.path());
  std::string line;
  int64_t mismatches = 0;
  for (size_t i = 0; i < checked; ++i) {
    if (!std::getline(in, line)) return mismatches + static_cast<int64_t>(checked - i);
    std::string expected;
    for (int id : tok.encode(lines[i]))
      expected += (expected.empty() ? "" : " ") + std::to_string(id);
    if (line != expected) {
      if (mismatches < 3)
        log_warning("ids differ on line " + std::to_string(i + 1) + ": sembed [" + expected +
                    "] spm_encode [" + line + "]");
      ++mismatches;
    }
  }
  return mismatches;
}

int run(const Options& o) {
  const Tokenizer tok = Tokenizer::load(o.tokenizer);
  std::vector<std::string> base;
  {
    LineReader reader(o.input);
    std::string line;
    while (reader.next(line)) base.push_back(line);
  }
  if (base.empty()) throw std::invalid_argument("'" + o.input + "' has no lines");
  size_t checked = 0;
  const int64_t mismatches = count_id_mismatches(tok, base, o, checked);

  // The repeated text, once in memory (cut into encode_batch chunks) and once on disk for
  // spm_encode. Building both is not timed.
  std::vector<std::vector<std::string>> chunks(1);
  int64_t lines = 0, bytes = 0;
  for (int r = 0; r < o.repeat; ++r) {
    for (const auto& line : base) {
      if (chunks.back().size() == o.chunk_lines) chunks.emplace_back();
      chunks.back().push_back(line);
      ++lines;
      bytes += static_cast<int64_t>(line.size()) + 1;
    }
  }
  TempFile repeated(o.tmp_dir);
  {
    std::ofstream out(repeated.path(), std::ios::binary);
    for (const auto& chunk : chunks)
      for (const auto& line : chunk) out << line << '\n';
    if (!out.flush()) throw std::runtime_error("cannot write '" + repeated.path() + "'");
  }

  const int threads = resolve_threads(o.threads);
  log_info("sembed: " + std::to_string(lines) + " lines on " + std::to_string(threads) +
           " threads");
  tok.encode_batch(chunks.front(), o.max_len, threads);  // warm-up: page in, first allocations
  const SembedTiming all = time_sembed(tok, chunks, o, threads);
  log_info("sembed: 1 thread");
  const SembedTiming one = time_sembed(tok, chunks, o, 1);
  log_info("spm_encode: " + std::to_string(lines) + " lines");
  const double spm_seconds = run_spm_encode(o, repeated.path(), "/dev/null");

  const double mb = static_cast<double>(bytes) / 1e6;
  auto side = [&](double seconds) {
    return nlohmann::ordered_json{{"seconds", seconds},
                                  {"lines_per_s", static_cast<double>(lines) / seconds},
                                  {"mb_per_s", mb / seconds}};
  };
  nlohmann::ordered_json sembed = side(all.seconds);
  sembed["threads"] = threads;
  sembed["tokens"] = all.tokens;
  sembed["truncated_texts"] = all.truncated;
  nlohmann::ordered_json sembed_one = side(one.seconds);
  sembed_one["threads"] = 1;
  nlohmann::ordered_json spm = side(spm_seconds);
  spm["threads"] = 1;                              // spm_encode has no threading
  const double ratio = spm_seconds / all.seconds;  // (lines/s sembed) / (lines/s spm_encode)
  const nlohmann::ordered_json result = {
      {"benchmark", "tokenizer"},
      {"tokenizer", o.tokenizer},
      {"model_type", tok.config().model_type},
      {"vocab_size", tok.vocab_size()},
      {"input", o.input},
      {"input_lines", base.size()},
      {"repeat", o.repeat},
      {"lines", lines},
      {"megabytes", mb},
      {"chunk_lines", o.chunk_lines},
      {"max_len", o.max_len},
      {"hardware_threads", default_threads()},
      {"sembed", sembed},
      {"sembed_single_thread", sembed_one},
      {"spm_encode", spm},
      {"ratio", ratio},
      {"ratio_single_thread", spm_seconds / one.seconds},
      {"goal_ratio", 0.9},
      {"meets_goal", ratio >= 0.9},
      {"ids_checked_lines", checked},
      {"ids_mismatched_lines", mismatches},
  };
  std::printf("%s\n", result.dump(2).c_str());
  return 0;
}

}  // namespace
}  // namespace sembed

int main(int argc, char** argv) {
  sembed::Options o;
  CLI::App app{"Times sembed's normalise+encode against spm_encode on the same text; prints JSON"};
  app.add_option("--tokenizer", o.tokenizer, "Tokenizer model (PATH.model, with PATH.model.json)")
      ->required();
  app.add_option("--input", o.input, "Text, one line per text (ideally `sembed prepare` output)")
      ->required();
  app.add_option("--repeat", o.repeat, "Copies of the input to encode")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", o.threads, "sembed threads (0 = all cores)")->capture_default_str();
  app.add_option("--chunk-lines", o.chunk_lines, "Lines per encode_batch call")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-len", o.max_len, "encode_batch max_len")
      ->check(CLI::Range(3, 1 << 20))
      ->capture_default_str();
  app.add_option("--spm-encode", o.spm_encode, "spm_encode binary")->capture_default_str();
  app.add_option("--check-lines", o.check_lines, "Lines whose ids are compared")
      ->capture_default_str();
  app.add_option("--tmp-dir", o.tmp_dir, "Directory for the repeated text (default $TMPDIR)");
  CLI11_PARSE(app, argc, argv);
  try {
    return sembed::run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tokenizer_bench: error: %s\n", e.what());
    return 1;
  }
}
