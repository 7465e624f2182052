#include "engine/runtime/worker_pool.hpp"

namespace taxdesk::engine {

WorkerPool::WorkerPool(int threads) {
    // The calling thread works too, so a pool of N runs N items at once with N-1 threads.
    for (int i = 1; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
}

void WorkerPool::drain(std::unique_lock<std::mutex>& lock) {
    while (work_ != nullptr && next_ < count_) {
        const std::size_t index = next_++;
        const auto* work = work_;
        lock.unlock();
        (*work)(index);
        lock.lock();
        if (++completed_ == count_) finished_.notify_all();
    }
}

void WorkerPool::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || (work_ != nullptr && next_ < count_); });
        if (stopping_) return;
        drain(lock);
    }
}

void WorkerPool::parallelFor(std::size_t count, const std::function<void(std::size_t)>& work) {
    if (count == 0) return;
    if (count == 1 || threads_.empty()) {
        // Nothing to share: run on this thread, with no lock and no wake-up.
        for (std::size_t i = 0; i < count; ++i) work(i);
        return;
    }
    std::unique_lock lock(mutex_);
    work_ = &work;
    count_ = count;
    next_ = 0;
    completed_ = 0;
    if (count > 1) wake_.notify_all();
    drain(lock);
    finished_.wait(lock, [&] { return completed_ == count_; });
    work_ = nullptr;
    count_ = 0;
}

}  // namespace taxdesk::engine
