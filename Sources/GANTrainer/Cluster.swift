import CMPI
import Foundation

/// The ranks of an `mpirun` job (Open MPI), for data-parallel training.
/// Outside mpirun there is no cluster and ganc never calls MPI.
public final class Cluster: @unchecked Sendable {
  public let rank: Int
  public let size: Int
  /// Ranks on this machine (their threads share its cores).
  public let localSize: Int
  public var isRoot: Bool { rank == 0 }

  private init(rank: Int, size: Int, localSize: Int) {
    self.rank = rank
    self.size = size
    self.localSize = localSize
  }

  /// Whether this process was started by mpirun (Open MPI and PMIx set these).
  public static var launched: Bool {
    let env = ProcessInfo.processInfo.environment
    return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil
  }

  /// Joins the job mpirun started (MPI_Init_thread, funneled: only the
  /// main thread calls MPI; the kernels' threads never do); nil outside one.
  public static func join() -> Cluster? {
    guard launched else { return nil }
    var provided: Int32 = 0
    MPI_Init_thread(nil, nil, ganc_mpi_thread_funneled(), &provided)
    var rank: Int32 = 0, size: Int32 = 1
    MPI_Comm_rank(ganc_mpi_world(), &rank)
    MPI_Comm_size(ganc_mpi_world(), &size)
    let local = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? "") ?? Int(size)
    return Cluster(rank: Int(rank), size: Int(size), localSize: max(local, 1))
  }

  /// Sums `count` floats at `values` across ranks, in place (MPI_Allreduce),
  /// in pieces below MPI's int count limit.
  public func sum(_ values: UnsafeMutablePointer<Float>, count: Int) {
    var done = 0
    while done < count {
      let n = min(count - done, Int(Int32.max))
      MPI_Allreduce(ganc_mpi_in_place(), values + done, Int32(n), ganc_mpi_float(), ganc_mpi_sum(), ganc_mpi_world())
      done += n
    }
  }

  /// The mean across ranks of each of `values`.
  public func mean(_ values: [Double]) -> [Double] {
    var v = values
    v.withUnsafeMutableBufferPointer { MPI_Allreduce(ganc_mpi_in_place(), $0.baseAddress, Int32($0.count), ganc_mpi_double(), ganc_mpi_sum(), ganc_mpi_world()) }
    return v.map { $0 / Double(size) }
  }

  /// Whether `flag` holds on any rank.
  public func any(_ flag: Bool) -> Bool { mean([flag ? 1 : 0])[0] > 0 }

  /// Rank 0's `count` floats at `values`, on every rank (MPI_Bcast).
  public func broadcast(_ values: UnsafeMutablePointer<Float>, count: Int) {
    var done = 0
    while done < count {
      let n = min(count - done, Int(Int32.max))
      MPI_Bcast(values + done, Int32(n), ganc_mpi_float(), 0, ganc_mpi_world())
      done += n
    }
  }

  /// Waits for every rank.
  public func barrier() { MPI_Barrier(ganc_mpi_world()) }

  /// Ends the whole job now (every rank), with `code`: a rank that fails
  /// must not leave the others waiting in a collective.
  public func abort(_ code: Int32) -> Never {
    MPI_Abort(ganc_mpi_world(), code)
    exit(code)
  }

  /// Leaves the job at a normal end.
  public func finish() { MPI_Finalize() }
}
