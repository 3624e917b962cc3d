//===- Started.h - started collectives and the run's progress thread -*- C++ -*-===//
//
// The state behind RunContext::allToAllVStart/allToAllVWait (Started.cpp,
// docs/streaming.md §2): one entry per started collective, and the queue
// that the run's progress thread executes in issue order.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_COMM_STARTED_H
#define MOERT_COMM_STARTED_H

#include "Comm.h"

#include <condition_variable>
#include <deque>
#include <system_error>
#include <thread>

namespace moert::comm {

/// One started all_to_all_v.
struct RunContext::StartedCollective {
  int64_t handle = 0;
  int32_t axes = 0;
  std::vector<char> send;
  std::vector<int64_t> sendCounts; // G entries; empty when the group is bad
  int64_t sendRows = 0, recvRows = 0, rowBytes = 0;
  /// What the start named; the wait must name the same buffers.
  void *recvTarget = nullptr;
  int64_t *recvCountsTarget = nullptr;
  std::vector<char> recv;
  std::vector<int64_t> recvCounts;
  /// A local problem found at the start (staging could not be allocated).
  std::string invalid;
  /// Ran synchronously into the caller's buffers (device collectives that
  /// do not overlap).
  bool direct = false;
  /// Started on device collectives that overlap (DeviceCollectives::
  /// startAllToAllV): the wait finishes it on the run's stream when `issued`
  /// (recvCounts then holds the counts received), else it zeroes the outputs
  /// (`recvBytes` and `countBytes` of them) because the start failed.
  bool overlapped = false;
  bool issued = false;
  size_t recvBytes = 0, countBytes = 0;
  /// "collective all_to_all_v #3 of the run (...) on rank 0".
  std::string where;
  bool executed = false;
};

using Started = RunContext::StartedCollective;

class RunContext::StartedQueue {
public:
  explicit StartedQueue(RunContext &run) : run(run) {}
  ~StartedQueue() { stop(); }

  /// Registers `entry` and queues it for the progress thread unless it ran
  /// already. Without a thread (none could be started) it runs here.
  void add(std::unique_ptr<Started> entry) {
    std::unique_lock<std::mutex> lock(mutex);
    Started *raw = entry.get();
    entries.emplace(raw->handle, std::move(entry));
    if (raw->executed)
      return;
    if (!thread.joinable()) {
      try {
        thread = std::thread([this] { loop(); });
        worker = thread.get_id();
      } catch (const std::system_error &) {
        // The queue is empty (no thread ever ran it): running it now keeps
        // the issue order.
        lock.unlock();
        run.execute(*raw);
        lock.lock();
        raw->executed = true;
        return;
      }
    }
    queue.push_back(raw);
    changed.notify_all();
  }

  /// Takes the entry of `handle` out once it has executed; null when no
  /// entry has that handle (never started, or waited already).
  std::unique_ptr<Started> take(int64_t handle) {
    std::unique_lock<std::mutex> lock(mutex);
    auto it = entries.find(handle);
    if (it == entries.end())
      return nullptr;
    Started *entry = it->second.get();
    changed.wait(lock, [&] { return entry->executed; });
    std::unique_ptr<Started> taken = std::move(it->second);
    entries.erase(it);
    return taken;
  }

  /// Returns once the queue is empty. The progress thread itself never
  /// waits for its own queue (it would wait forever).
  void drain() {
    std::unique_lock<std::mutex> lock(mutex);
    if (std::this_thread::get_id() == worker)
      return;
    changed.wait(lock, [&] { return queue.empty(); });
  }

  /// Drains, ends the thread and returns the entries never waited.
  std::vector<std::unique_ptr<Started>> stop() {
    drain();
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    changed.notify_all();
    if (thread.joinable())
      thread.join();
    std::lock_guard<std::mutex> lock(mutex);
    std::vector<std::unique_ptr<Started>> left;
    for (auto &entry : entries)
      left.push_back(std::move(entry.second));
    entries.clear();
    return left;
  }

private:
  void loop() {
    while (true) {
      Started *entry;
      {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return !queue.empty() || stopping; });
        if (queue.empty())
          return;
        entry = queue.front();
      }
      run.execute(*entry);
      {
        std::lock_guard<std::mutex> lock(mutex);
        queue.pop_front();
        entry->executed = true;
      }
      changed.notify_all();
    }
  }

  RunContext &run;
  std::mutex mutex;
  std::condition_variable changed;
  /// Started and not yet waited, by handle.
  std::map<int64_t, std::unique_ptr<Started>> entries;
  /// Not yet executed, in issue order (the front one is executing).
  std::deque<Started *> queue;
  std::thread thread;
  std::thread::id worker;
  bool stopping = false;
};

} // namespace moert::comm

#endif // MOERT_COMM_STARTED_H
