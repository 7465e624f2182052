#pragma once
// A fixed set of threads that run the items of one batch concurrently: connector calls in flight are bounded by
// the pool's size, not by the batch's size, and no thread is made per request.
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace taxdesk::engine {

class WorkerPool {
  public:
    explicit WorkerPool(int threads);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /// Runs work(i) for every i in [0, count) on the pool and the calling thread; returns when all are done.
    /// `work` must not throw (catch inside and record the outcome per item). One caller at a time.
    void parallelFor(std::size_t count, const std::function<void(std::size_t)>& work);

  private:
    void run();
    void drain(std::unique_lock<std::mutex>& lock);

    std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable finished_;
    const std::function<void(std::size_t)>* work_ = nullptr;
    std::size_t count_ = 0;
    std::size_t next_ = 0;
    std::size_t completed_ = 0;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace taxdesk::engine
