//===- HostTier.cpp - host-tier buffers of a CUDA session -----------------===//

#include "HostTier.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace moert::cuda {

PinnedPool::~PinnedPool() {
  for (auto &[block, info] : blocks) {
    if (info.second)
      driver->memFreeHost(block);
    else
      std::free(block);
  }
}

CUresult PinnedPool::take(size_t bytes, void *&block) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = free.find(bytes);
  if (it != free.end()) {
    block = it->second;
    free.erase(it);
    return CUDA_SUCCESS;
  }
  block = nullptr;
  bool pinned = driver->memAllocHost && driver->memFreeHost;
  if (pinned) {
    CUresult result = driver->memAllocHost(&block, bytes);
    if (result != CUDA_SUCCESS)
      return result;
  } else {
    // Without the entry point the copies still work, synchronously.
    block = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!block)
      return CUDA_ERROR_OUT_OF_MEMORY;
  }
  blocks[block] = {bytes, pinned};
  return CUDA_SUCCESS;
}

void PinnedPool::give(void *block) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = blocks.find(block);
  if (it != blocks.end())
    free.emplace(it->second.first, block);
}

void PinnedPool::drop(void *block) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = blocks.find(block);
  if (it == blocks.end())
    return;
  for (auto f = free.begin(); f != free.end(); ++f)
    if (f->second == block) {
      free.erase(f);
      break;
    }
  if (it->second.second)
    driver->memFreeHost(block);
  else
    std::free(block);
  blocks.erase(it);
}

void HostMirrors::beginRun() {
  std::lock_guard<std::mutex> lock(mutex);
  inputs.clear();
}

void HostMirrors::noteInput(const void *data, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex);
  inputs.emplace_back(static_cast<const char *>(data), bytes);
}

const std::pair<const char *, size_t> *
HostMirrors::inputOf(const void *source, size_t bytes) const {
  const char *begin = static_cast<const char *>(source);
  for (const auto &input : inputs)
    if (begin >= input.first && bytes <= input.second &&
        size_t(begin - input.first) <= input.second - bytes)
      return &input;
  return nullptr;
}

bool HostMirrors::covers(const void *source, size_t bytes) const {
  std::lock_guard<std::mutex> lock(mutex);
  return inputOf(source, bytes) != nullptr;
}

bool HostMirrors::mirror(const void *source, size_t bytes, const void *&from,
                         std::string &error) {
  std::lock_guard<std::mutex> lock(mutex);
  const std::pair<const char *, size_t> *input = inputOf(source, bytes);
  if (!input) {
    error = "no host-tier input of the run holds the source";
    return false;
  }
  std::pair<const void *, size_t> key{input->first, input->second};
  auto it = blocks.find(key);
  if (it == blocks.end()) {
    void *block = nullptr;
    CUresult result = pool.take(input->second, block);
    if (result != CUDA_SUCCESS) {
      error = "cuMemAllocHost(" + std::to_string(input->second) +
              " bytes) for the page-locked copy of a host-tier input failed";
      return false;
    }
    copyHostParallel(block, input->first, input->second);
    it = blocks.emplace(key, block).first;
  }
  from = static_cast<const char *>(it->second) +
         (static_cast<const char *>(source) - input->first);
  return true;
}

void HostMirrors::clear() {
  std::lock_guard<std::mutex> lock(mutex);
  for (auto &[key, block] : blocks)
    pool.drop(block);
  blocks.clear();
}

size_t HostMirrors::count() const {
  std::lock_guard<std::mutex> lock(mutex);
  return blocks.size();
}

uint64_t HostMirrors::bytes() const {
  std::lock_guard<std::mutex> lock(mutex);
  uint64_t total = 0;
  for (const auto &[key, block] : blocks)
    total += key.second;
  return total;
}

StreamCopier::~StreamCopier() {
  for (CUevent event : events)
    call.driver->eventDestroy(event);
}

bool StreamCopier::check(CUresult result, const char *what,
                         std::string &error) const {
  if (result == CUDA_SUCCESS)
    return true;
  error = std::string(what) + ": " + call.driver->describe(result);
  return false;
}

void StreamCopier::giveBack(const tier::Lease &lease, bool failedCopy) {
  DeviceCacheMemory memory(call, call.stream);
  if (cache && lease.cached) {
    if (failedCopy)
      cache->discard(lease, memory);
    else
      cache->release(lease, memory);
    return;
  }
  memory.free(lease.buffer);
}

bool StreamCopier::start(const void *source, size_t bytes, uint64_t &token,
                         bool &hit, std::string &error) {
  hit = false;
  Fetch fetch;
  fetch.lease.source = source;
  fetch.lease.bytes = bytes;
  if (bytes == 0) {
    fetches.push_back(fetch);
    token = fetches.size() - 1;
    return true;
  }
  // Cached (or mirrored) only when the source is a host-tier input of this
  // run used in place: its address names the weight from run to run.
  bool inPlace = mirrors && mirrors->covers(source, bytes);
  DeviceCacheMemory memory(call, call.stream);
  if (cache && inPlace) {
    if (!cache->acquire(source, bytes, memory, fetch.lease, error))
      return false;
  } else if (!memory.allocate(bytes, fetch.lease.buffer, error)) {
    return false;
  }
  if (fetch.lease.hit) {
    auto copied = copiedThisRun.find(fetch.lease.buffer);
    if (copied != copiedThisRun.end())
      fetch.copied = copied->second;
    fetches.push_back(fetch);
    token = fetches.size() - 1;
    hit = true;
    return true;
  }

  // The destination is a stream-ordered allocation on the run's stream: the
  // copy stream waits for what the run issued so far, then copies.
  const void *from = source;
  CUevent issued = nullptr, copied = nullptr;
  bool ok = (!inPlace || mirrors->mirror(source, bytes, from, error)) &&
            check(call.driver->eventCreate(&issued, CU_EVENT_DISABLE_TIMING),
                  "cuEventCreate", error);
  if (issued)
    events.push_back(issued);
  ok = ok &&
       check(call.driver->eventCreate(&copied, CU_EVENT_DISABLE_TIMING),
             "cuEventCreate", error);
  if (copied)
    events.push_back(copied);
  ok = ok &&
       check(call.driver->eventRecord(issued, call.stream), "cuEventRecord",
             error) &&
       check(call.driver->streamWaitEvent(copyStream, issued, 0),
             "cuStreamWaitEvent", error) &&
       check(call.driver->memcpyHtoDAsync(
                 reinterpret_cast<CUdeviceptr>(fetch.lease.buffer), from,
                 bytes, copyStream),
             "cuMemcpyHtoDAsync", error) &&
       check(call.driver->eventRecord(copied, copyStream), "cuEventRecord",
             error);
  if (!ok) {
    // Nothing reads the buffer: freed (or forgotten by the cache) on the
    // run's stream after a copy that may have been issued.
    if (copied)
      call.driver->streamWaitEvent(call.stream, copied, 0);
    giveBack(fetch.lease, /*failedCopy=*/true);
    return false;
  }
  fetch.copied = copied;
  if (fetch.lease.cached)
    copiedThisRun[fetch.lease.buffer] = copied;
  fetches.push_back(fetch);
  token = fetches.size() - 1;
  return true;
}

bool StreamCopier::wait(uint64_t token, void *&buffer, std::string &error) {
  if (token >= fetches.size()) {
    error = "unknown copy";
    return false;
  }
  const Fetch &fetch = fetches[token];
  if (fetch.copied &&
      !check(call.driver->streamWaitEvent(call.stream, fetch.copied, 0),
             "cuStreamWaitEvent", error))
    return false;
  buffer = fetch.lease.buffer;
  return true;
}

bool StreamCopier::release(uint64_t token, bool waited, std::string &error) {
  if (token >= fetches.size()) {
    error = "unknown copy";
    return false;
  }
  Fetch &fetch = fetches[token];
  // A fetch never waited (a failed run): the run's stream waits for its copy
  // before the buffer is freed or reused.
  if (!waited && fetch.copied &&
      !check(call.driver->streamWaitEvent(call.stream, fetch.copied, 0),
             "cuStreamWaitEvent", error))
    return false;
  if (fetch.lease.buffer)
    giveBack(fetch.lease, /*failedCopy=*/false);
  fetch.lease.buffer = nullptr;
  return true;
}

bool StreamCopier::createEvent(CUevent &event, std::string &error) {
  if (!check(call.driver->eventCreate(&event, CU_EVENT_DISABLE_TIMING),
             "cuEventCreate", error))
    return false;
  events.push_back(event);
  return true;
}

bool StreamCopier::allocate(const void *source, size_t bytes,
                            uint64_t &token, std::string &error) {
  Fetch fetch;
  fetch.lease.source = source;
  fetch.lease.bytes = bytes;
  fetch.from = source;
  if (bytes) {
    // With the cache on, a host-tier input is the caller's (pageable)
    // memory: copy from its page-locked mirror as a whole fetch's miss does.
    if (mirrors && mirrors->covers(source, bytes) &&
        !mirrors->mirror(source, bytes, fetch.from, error))
      return false;
    DeviceCacheMemory memory(call, call.stream);
    if (!memory.allocate(bytes, fetch.lease.buffer, error))
      return false;
  }
  fetches.push_back(fetch);
  token = fetches.size() - 1;
  return true;
}

bool StreamCopier::copyRanges(uint64_t token,
                              const std::vector<Range> &ranges,
                              std::string &error) {
  if (token >= fetches.size() || !fetches[token].lease.buffer) {
    error = "unknown copy";
    return false;
  }
  Fetch &fetch = fetches[token];
  if (ranges.empty())
    return true;
  // The copy stream waits for what the run issued so far (the destination's
  // stream-ordered allocation among it), then copies.
  if ((!fetch.issued && !createEvent(fetch.issued, error)) ||
      (!fetch.copied && !createEvent(fetch.copied, error)))
    return false;
  bool ok = check(call.driver->eventRecord(fetch.issued, call.stream),
                  "cuEventRecord", error) &&
            check(call.driver->streamWaitEvent(copyStream, fetch.issued, 0),
                  "cuStreamWaitEvent", error);
  bool started = false;
  for (size_t r = 0; ok && r < ranges.size(); ++r) {
    const Range &range = ranges[r];
    ok = check(call.driver->memcpyHtoDAsync(
                   reinterpret_cast<CUdeviceptr>(fetch.lease.buffer) +
                       range.offset,
                   static_cast<const char *>(fetch.from) + range.offset,
                   range.length, copyStream),
               "cuMemcpyHtoDAsync", error);
    started = started || ok;
  }
  // Recorded after whatever was issued, even when a later copy failed: a
  // release of the fetch waits for it before the buffer is freed. A wait on
  // the event orders behind its latest record, so behind every copy of the
  // fetch so far.
  if (started) {
    std::string recordError;
    if (!check(call.driver->eventRecord(fetch.copied, copyStream),
               "cuEventRecord", recordError) &&
        ok) {
      error = recordError;
      ok = false;
    }
  }
  return ok;
}

bool StreamCopier::readIndices(const int32_t *values, size_t count,
                               std::vector<int32_t> &out,
                               std::string &error) {
  if (call.capturing(call.stream)) {
    error = "expert fetches read the routing on the host and cannot run "
            "while the run's stream is being captured into a CUDA graph";
    return false;
  }
  out.assign(count, 0);
  if (count == 0)
    return true;
  // The indices' producers were issued on the run's stream before this
  // call: the copy down goes behind them, and the host waits for it.
  return check(call.driver->memcpyDtoHAsync(
                   out.data(), reinterpret_cast<CUdeviceptr>(values),
                   count * sizeof(int32_t), call.stream),
               "cuMemcpyDtoHAsync", error) &&
         check(call.driver->streamSynchronize(call.stream),
               "cuStreamSynchronize", error);
}

void copyHostParallel(void *destination, const void *source, size_t bytes) {
  constexpr size_t kSlice = size_t(64) << 20;
  size_t threads = std::min<size_t>(
      std::max(1u, std::thread::hardware_concurrency()), bytes / kSlice);
  if (threads <= 1) {
    if (bytes)
      std::memcpy(destination, source, bytes);
    return;
  }
  threads = std::min<size_t>(threads, 16);
  size_t share = (bytes + threads - 1) / threads;
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t) {
    size_t begin = t * share, end = std::min(bytes, begin + share);
    if (begin >= end)
      break;
    workers.emplace_back([=] {
      std::memcpy(static_cast<char *>(destination) + begin,
                  static_cast<const char *>(source) + begin, end - begin);
    });
  }
  for (std::thread &worker : workers)
    worker.join();
}

} // namespace moert::cuda
