import CDNNL
import Foundation

/// The worker threads for data-parallel loops: the OpenMP team that oneDNN
/// uses for its products, so the two never compete for cores (a separate pool
/// lost 40% of its time to OpenMP threads spinning between products).
///
/// `parallel(count:)` splits `0..<count` into one contiguous chunk per thread,
/// the same split for the same thread count every time, so results never
/// depend on timing.
public final class ThreadPool: @unchecked Sendable {
  public let threads: Int

  public init(threads: Int) {
    self.threads = max(1, threads)
  }

  /// A Swift closure reachable from C.
  private final class Job {
    let body: (Int) -> Void
    init(_ body: @escaping (Int) -> Void) { self.body = body }
  }

  /// Runs `body(part)` for part 0..<threads at once and waits for all.
  public func run(_ body: (Int) -> Void) {
    if threads == 1 {
      body(0)
      return
    }
    withoutActuallyEscaping(body) { body in
      let job = Job(body)
      withExtendedLifetime(job) {
        ganc_parallel(
          Int32(threads),
          { context, part in
            Unmanaged<Job>.fromOpaque(context!).takeUnretainedValue().body(Int(part))
          }, Unmanaged.passUnretained(job).toOpaque())
      }
    }
  }

  /// The chunk of `0..<count` that part `part` of `parts` owns.
  @inlinable
  public static func chunk(_ count: Int, part: Int, parts: Int, granularity: Int = 1) -> Range<Int> {
    let units = (count + granularity - 1) / granularity
    let lo = units * part / parts * granularity, hi = units * (part + 1) / parts * granularity
    return min(lo, count)..<min(hi, count)
  }

  /// How many parts `parallel` splits `count` items into.
  public func parts(count: Int, minimumPerThread: Int) -> Int {
    min(threads, max(1, count / max(1, minimumPerThread)))
  }

  /// Splits `0..<count` across the threads (serially when it is small).
  public func parallel(count: Int, minimumPerThread: Int = 16384, granularity: Int = 16, _ body: (Range<Int>) -> Void) {
    parallelParts(count: count, minimumPerThread: minimumPerThread, granularity: granularity) { _, range in body(range) }
  }

  /// `parallel`, telling each call which part (0..<parts) it runs, for
  /// per-part scratch and partial results.
  public func parallelParts(count: Int, minimumPerThread: Int = 16384, granularity: Int = 16, _ body: (_ part: Int, Range<Int>) -> Void) {
    let parts = parts(count: count, minimumPerThread: minimumPerThread)
    if parts == 1 {
      body(0, 0..<count)
      return
    }
    run { part in
      guard part < parts else { return }
      let r = Self.chunk(count, part: part, parts: parts, granularity: granularity)
      if !r.isEmpty { body(part, r) }
    }
  }
}
