#include "cli/runtime_env.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>

namespace sembed::cli {

namespace {

bool cpu_has_avx512() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) return line.find(" avx512f") != std::string::npos;
  }
  return false;
}

// The first argument that is not a flag: the subcommand.
std::string subcommand_of(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (argv[i][0] != '-') return argv[i];
  return "";
}

}  // namespace

void reexec_with_runtime_env(int argc, char** argv) {
  if (std::getenv("SEMBED_NO_REEXEC") != nullptr || std::getenv("SEMBED_REEXECUTED") != nullptr)
    return;
  static const std::set<std::string> heavy = {"train",  "embed", "eval", "serve",
                                              "search", "index", "init", "lexical"};
  const std::string cmd = subcommand_of(argc, argv);
  if (!heavy.count(cmd)) return;
  bool changed = false;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && cpu_has_avx512()) {
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    changed = true;
  }
  // OpenMP threads that spin while waiting for work are a little faster on an idle machine and
  // catastrophic on a busy one (measured: training at 0.1 vs 0.7 steps/s on 2 cores beside two
  // compilers); sembed sleeps instead unless the user chose otherwise.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    changed = true;
  }
  // oneDNN caches compiled primitives per input shape (1024 by default); a server sees a new
  // [batch, length] shape with nearly every batch, and the cache grew its RSS by 30-40% within
  // two minutes of load. 16 entries keep memory flat at the same throughput (bench/load.sh).
  if (cmd == "serve" && std::getenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY") == nullptr) {
    setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16", 1);
    setenv("DNNL_PRIMITIVE_CACHE_CAPACITY", "16", 1);  // the variable's older name
    changed = true;
  }
  if (!changed) return;
  setenv("SEMBED_REEXECUTED", "1", 1);
  execv("/proc/self/exe", argv);
  // exec failed (no /proc?): carry on with the current settings.
}

}  // namespace sembed::cli
