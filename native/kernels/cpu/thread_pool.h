// A persistent pool of worker threads. Each job runs fn(tid, n_threads) once per thread
// (the caller is thread 0); kernels split their work statically by tid, so results never
// depend on timing.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace lckv {

class ThreadPool {
 public:
  explicit ThreadPool(int32_t n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int32_t size() const { return n_threads_; }

  template <typename Fn>
  void run(Fn&& fn) {
    auto trampoline = [](void* ctx, int32_t tid, int32_t n) { (*static_cast<Fn*>(ctx))(tid, n); };
    dispatch(trampoline, &fn);
  }

  // Runs fn(task) for every task in [0, n_tasks), each handed to whichever thread asks
  // next, so a thread slowed by another process (a shared machine, an Electron app's other
  // work) does not hold the rest up. Tasks must write disjoint outputs; results then do not
  // depend on which thread ran what.
  template <typename Fn>
  void for_each_task(int64_t n_tasks, Fn&& fn) {
    std::atomic<int64_t> next{0};
    run([&](int32_t, int32_t) {
      for (int64_t task = next.fetch_add(1, std::memory_order_relaxed); task < n_tasks;
           task = next.fetch_add(1, std::memory_order_relaxed))
        fn(task);
    });
  }

 private:
  using JobFn = void (*)(void*, int32_t, int32_t);
  void dispatch(JobFn fn, void* ctx);
  void worker_loop(int32_t tid);

  int32_t n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int32_t> pending_{0};
  JobFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  bool stop_ = false;
};

// Splits [0, n) into n_parts nearly equal contiguous ranges; returns part `i`.
inline void split_range(int64_t n, int32_t i, int32_t n_parts, int64_t* begin, int64_t* end) {
  const int64_t base = n / n_parts, extra = n % n_parts;
  *begin = i * base + (i < extra ? i : extra);
  *end = *begin + base + (i < extra ? 1 : 0);
}

}  // namespace lckv
