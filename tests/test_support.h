#pragma once

// Helpers shared by every test suite: scratch directories, running the sembed binary, locating
// ../shared/data (tests that need it skip cleanly when it is absent).
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace sembed::test {

// A fresh directory under the build tree, removed when the object dies.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name = "scratch");
  ~ScratchDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the built sembed binary with `args` (a shell-quoted string), optional stdin text.
CommandResult run_sembed(const std::string& args, const std::string& stdin_text = "");
// Runs any shell command line.
CommandResult run_shell(const std::string& command, const std::string& stdin_text = "");
// Starts the built sembed binary with `args` in the background, stdout to /dev/null, stderr to
// the file `log`. Returns its pid; the caller waits for it. Throws std::runtime_error if it
// cannot start.
pid_t spawn_sembed(const std::vector<std::string>& args, const std::string& log);
// Polls `condition` every few milliseconds: true once it holds, false after `seconds`.
bool wait_until(const std::function<bool()>& condition, double seconds);
// `text` as one POSIX shell word (single-quoted), for building run_sembed() arguments.
std::string shell_quote(const std::string& text);

// Directory of the shared data (env SEMBED_DATA_DIR, else <source>/../shared/data), or "" if it
// does not exist.
std::string shared_data_dir();

void write_text(const std::string& path, const std::string& text);
std::string read_text(const std::string& path);
std::vector<std::string> read_lines(const std::string& path);

// A small English corpus of distinct, varied sentences, generated deterministically (enough to
// train a ~300-piece tokenizer and tiny models in tests).
std::vector<std::string> synthetic_corpus(int sentences, unsigned seed = 1);

// Sentences of pseudo-words built from a fixed set of syllables, with capitals, digits and
// punctuation, generated deterministically. Many distinct words share sub-word pieces, so a
// tokenizer of a few hundred pieces fits (synthetic_corpus alone supports only ~150 unigram
// pieces), and every ASCII letter, digit and common punctuation mark occurs.
std::vector<std::string> subword_corpus(int sentences, unsigned seed = 1);

// Writes `lines` to `path`, each followed by "\n".
void write_lines(const std::string& path, const std::vector<std::string>& lines);

}  // namespace sembed::test
