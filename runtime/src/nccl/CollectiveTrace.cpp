//===- CollectiveTrace.cpp - per-collective timing of NCCL runs -----------===//

#include "CollectiveTrace.h"

#include <cstdlib>

namespace moert::nccl {

namespace {

void writeList(std::FILE *file, const std::vector<size_t> &values) {
  std::fputc('[', file);
  for (size_t i = 0; i < values.size(); ++i)
    std::fprintf(file, "%s%zu", i ? ", " : "", values[i]);
  std::fputc(']', file);
}

} // namespace

CollectiveTrace::CollectiveTrace(int worldRank) {
  const char *prefix = std::getenv("MOERT_COMM_TRACE");
  if (!prefix || !*prefix)
    return;
  std::string path =
      std::string(prefix) + ".rank" + std::to_string(worldRank) + ".jsonl";
  file = std::fopen(path.c_str(), "a");
  if (!file)
    std::fprintf(stderr,
                 "moert: MOERT_COMM_TRACE: cannot open %s for appending; "
                 "collectives are not traced\n",
                 path.c_str());
}

CollectiveTrace::~CollectiveTrace() {
  if (file)
    std::fclose(file);
}

void CollectiveTrace::record(const char *kind, int axes,
                             const std::vector<size_t> &sendBytes,
                             const std::vector<size_t> &recvBytes,
                             Clock::time_point start) {
  if (!file)
    return;
  double ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  write(kind, axes, sendBytes, recvBytes, ms, entered.value_or(start), start,
        /*started=*/false);
  entered.reset();
}

void CollectiveTrace::recordStarted(const char *kind, int axes,
                                    const std::vector<size_t> &sendBytes,
                                    const std::vector<size_t> &recvBytes,
                                    double ms, Clock::time_point enqueued,
                                    std::optional<Clock::time_point> at) {
  if (file)
    write(kind, axes, sendBytes, recvBytes, ms, at.value_or(enqueued),
          enqueued, /*started=*/true);
}

void CollectiveTrace::write(const char *kind, int axes,
                            const std::vector<size_t> &sendBytes,
                            const std::vector<size_t> &recvBytes, double ms,
                            Clock::time_point enteredAt,
                            Clock::time_point enqueued, bool started) {
  std::fprintf(file,
               "{\"run\": %ld, \"collective\": \"%s\", \"group_axes\": %d, "
               "\"members\": %zu, \"send_bytes\": ",
               run, kind, axes, sendBytes.size());
  writeList(file, sendBytes);
  std::fputs(", \"recv_bytes\": ", file);
  writeList(file, recvBytes);
  auto since = [&](Clock::time_point at) {
    return std::chrono::duration<double, std::milli>(at - runStart).count();
  };
  Clock::time_point now = Clock::now();
  std::fprintf(file,
               ", \"ms\": %.6f, \"entered_ms\": %.6f, \"enqueued_ms\": %.6f, "
               "\"done_ms\": %.6f%s}\n",
               ms, since(enteredAt), since(enqueued), since(now),
               started ? ", \"started\": true" : "");
  std::fflush(file);
}

} // namespace moert::nccl
