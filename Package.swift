// swift-tools-version: 6.0
import PackageDescription

let package = Package(
  name: "ganc",
  products: [
    .executable(name: "ganc", targets: ["ganc"]),
    .library(name: "GANSpec", targets: ["GANSpec"]),
    .library(name: "GANTrainer", targets: ["GANTrainer"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    // SHA-256 of checkpoints: the identity of a judge in eval.json.
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
  ],
  targets: [
    // C libraries, each wrapped in its own target; only one Swift module touches each.
    .systemLibrary(
      name: "CLibXML2", pkgConfig: "libxml-2.0",
      providers: [.apt(["libxml2-dev"])]),
    .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
    // Open MPI (libopenmpi-dev): allreduce of gradients for data-parallel training under mpirun.
    .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
    // oneDNN (libdnnl-dev) behind a small C API: matmul and convolutions with
    // "any" layouts, reorders and a user-provided scratchpad.
    .target(name: "CDNNL", linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),

    // Our own vectorised elementwise loops, compiled for AVX-512, AVX2+FMA and
    // baseline x86-64 and picked at load time, so the binary stays portable.
    // No unsafe flags anywhere: SwiftPM refuses them in a package that others
    // depend on by version (square roots use an errno-free builtin instead).
    .target(name: "CKernels"),

    // Diagnostics as data, and their renderers (text like clang, JSON).
    .target(name: "GANDiagnostics"),
    // Files ganc reads and writes: regular-file checks, IDX, CSV, NPY, gzip, CRC and SHA-256;
    // the only module that imports zlib.
    .target(name: "GANData", dependencies: ["CZlib", .product(name: "Crypto", package: "swift-crypto")]),
    // The spec front end: safe XML parsing, the schema, the typed AST, all checks.
    .target(
      name: "GANSpec",
      dependencies: ["CLibXML2", "GANData", "GANDiagnostics", "GANIR"]),
    // The graph IR: ops, SSA graphs, autodiff, and a float64 reference evaluator.
    .target(name: "GANIR"),
    // Lowering, training graphs (losses, autodiff, optimizers), passes and the memory plan.
    .target(name: "GANCompiler", dependencies: ["GANIR", "GANSpec"]),
    // The executor: compiled programs as flat kernel lists over one arena, on a thread pool.
    .target(
      name: "GANRuntime", dependencies: ["GANIR", "GANCompiler", "CDNNL", "CKernels"]),
    // The adversarial loop: data, samples and plots, metrics, checkpoints, evaluation.
    .target(name: "GANTrainer", dependencies: ["GANRuntime", "GANCompiler", "GANSpec", "GANIR", "GANData", "CPNG", "CMPI"]),
    .executableTarget(
      name: "ganc",
      dependencies: [
        "GANSpec", "GANDiagnostics", "GANIR", "GANCompiler", "GANRuntime", "GANTrainer",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // An example of ganc as a library: load a trained run and generate samples.
    .executableTarget(
      name: "GenerateSamples", dependencies: ["GANTrainer", "GANSpec", "GANDiagnostics"],
      path: "Examples/GenerateSamples"),
    // The front end under libFuzzer (scripts/fuzz.sh); without -DFUZZING it replays inputs.
    .executableTarget(
      name: "SpecFuzzer", dependencies: ["GANSpec", "GANDiagnostics"], path: "Fuzz/SpecFuzzer"),
    // The package root, temporary folders and the built ganc, for every test target.
    .target(name: "GANTestSupport", path: "Tests/GANTestSupport"),
    .testTarget(name: "GANIRTests", dependencies: ["GANIR"]),
    .testTarget(name: "GANDataTests", dependencies: ["GANData", "GANTestSupport"]),
    .testTarget(name: "GANDiagnosticsTests", dependencies: ["GANDiagnostics", "GANTestSupport"]),
    // The command line as users run it: lint, compile, train, sample, eval, and the library example.
    .testTarget(name: "gancTests", dependencies: ["ganc", "GenerateSamples", "GANTrainer", "GANTestSupport"]),
    .testTarget(name: "GANTrainerTests", dependencies: ["GANTrainer", "GANSpec", "GANDiagnostics", "GANData", "GANTestSupport"]),
    .testTarget(name: "GANRuntimeTests", dependencies: ["GANRuntime", "GANCompiler", "GANIR", "GANSpec", "GANDiagnostics", "GANTestSupport"]),
    .testTarget(
      name: "GANCompilerTests", dependencies: ["GANCompiler", "GANIR", "GANSpec", "GANDiagnostics", "GANTrainer", "GANTestSupport"],
      exclude: ["Snapshots"]),
    .testTarget(
      name: "GANSpecTests",
      dependencies: ["GANSpec", "GANDiagnostics", "GANTestSupport"],
      exclude: ["Snapshots"]),
  ]
)
