import Foundation

/// A persistent pool of worker threads for data-parallel loops.
///
/// `parallel(count:)` splits `0..<count` into one contiguous chunk per thread,
/// the same split for the same thread count every time, so results never
/// depend on timing. The caller runs the first chunk itself. Workers sleep on
/// a semaphore between loops, so they take no core while oneDNN's own
/// (OpenMP) threads run a product: the two never run at once.
public final class ThreadPool: @unchecked Sendable {
  /// What the workers share; they own it, so it outlives the pool until they stop.
  final class State: @unchecked Sendable {
    let start: [DispatchSemaphore]
    let done = DispatchSemaphore(value: 0)
    var task: ((Int) -> Void)? = nil
    var stopping = false
    init(threads: Int) { start = (0..<threads).map { _ in DispatchSemaphore(value: 0) } }

    func work(_ index: Int) {
      while true {
        start[index].wait()
        if stopping { return }
        task?(index)
        done.signal()
      }
    }
  }

  public let threads: Int
  private let state: State

  public init(threads: Int) {
    self.threads = max(1, threads)
    state = State(threads: self.threads)
    for index in 1..<self.threads {
      let state = self.state
      let thread = Thread { state.work(index) }
      thread.stackSize = 1 << 20
      thread.start()
    }
  }

  deinit {
    state.stopping = true
    for i in 1..<threads { state.start[i].signal() }
  }

  /// Runs `body(part)` for part 0..<threads at once and waits for all.
  public func run(_ body: (Int) -> Void) {
    if threads == 1 {
      body(0)
      return
    }
    withoutActuallyEscaping(body) { body in
      state.task = body
      for i in 1..<threads { state.start[i].signal() }
      body(0)
      for _ in 1..<threads { state.done.wait() }
      state.task = nil
    }
  }

  /// The chunk of `0..<count` that part `part` of `parts` owns.
  @inlinable
  public static func chunk(_ count: Int, part: Int, parts: Int, granularity: Int = 1) -> Range<Int> {
    let units = (count + granularity - 1) / granularity
    let lo = units * part / parts * granularity, hi = units * (part + 1) / parts * granularity
    return min(lo, count)..<min(hi, count)
  }

  /// Splits `0..<count` across the threads (serially when it is small).
  public func parallel(count: Int, minimumPerThread: Int = 16384, granularity: Int = 16, _ body: (Range<Int>) -> Void) {
    let parts = min(threads, max(1, count / max(1, minimumPerThread)))
    if parts == 1 {
      body(0..<count)
      return
    }
    run { part in
      guard part < parts else { return }
      let r = Self.chunk(count, part: part, parts: parts, granularity: granularity)
      if !r.isEmpty { body(r) }
    }
  }
}
