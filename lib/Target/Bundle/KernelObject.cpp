//===- CPUKernels.cpp - compile a module into a CPU shared object ---------===//

#include "KernelObject.h"

#include "moe/Pipelines/Pipelines.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/AsmParser/Parser.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"
#include "llvm/TargetParser/Triple.h"

#include <cstdlib>

using namespace mlir;

/// An error located at the module, or at its first op when the module has no
/// location of its own (an implicit module of a parsed file).
InFlightDiagnostic moe::moduleError(ModuleOp module) {
  Location loc = module.getLoc();
  auto file = dyn_cast<FileLineColLoc>(loc);
  if ((isa<UnknownLoc>(loc) || (file && file.getLine() == 0)) &&
      !module.getBody()->empty())
    loc = module.getBody()->front().getLoc();
  return mlir::emitError(loc);
}

#ifndef MOE_LLVM_TOOLS_DIR
#define MOE_LLVM_TOOLS_DIR "/usr/lib/llvm-22/bin"
#endif

/// ld.lld: $MOE_LLD when set, else next to the LLVM we build against, else
/// /usr/lib/llvm-22/bin, else ld.lld-22 / ld.lld on PATH.
static FailureOr<std::string> findLinker(ModuleOp module) {
  if (const char *override = std::getenv("MOE_LLD")) {
    if (llvm::sys::fs::can_execute(override))
      return std::string(override);
    return moe::moduleError(module) << "MOE_LLD='" << override
                              << "' is not an executable linker",
           failure();
  }
  for (StringRef name : {"ld.lld", "ld.lld-22"}) {
    llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName(
        name, {MOE_LLVM_TOOLS_DIR, "/usr/lib/llvm-22/bin"});
    if (path)
      return *path;
  }
  for (StringRef name : {"ld.lld-22", "ld.lld"})
    if (llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName(name))
      return *path;
  return moe::moduleError(module)
             << "cannot find ld.lld (looked in " MOE_LLVM_TOOLS_DIR
                ", /usr/lib/llvm-22/bin and PATH); install lld-22 or set "
                "MOE_LLD",
         failure();
}

/// A CUDA chip name the toolchain and the runtime understand: sm_<digits>
/// with an optional `a` (architecture-specific features, e.g. sm_90a).
static LogicalResult checkCUDAChip(ModuleOp module, StringRef chip) {
  StringRef digits = chip;
  bool valid = digits.consume_front("sm_");
  digits.consume_back("a");
  valid = valid && digits.size() >= 2 && digits.size() <= 3 &&
          llvm::all_of(digits, llvm::isDigit);
  if (valid)
    return success();
  return moe::moduleError(module)
         << "'" << chip
         << "' is not a CUDA chip: expected sm_<major><minor>[a], e.g. sm_90a";
}

/// A target machine for the host CPU (PIC, -O3).
static FailureOr<std::unique_ptr<llvm::TargetMachine>>
createHostTargetMachine(ModuleOp module) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return moe::moduleError(module) << "no LLVM target for the host ("
                              << triple.str() << "): " << error,
           failure();
  llvm::SubtargetFeatures features;
  for (const auto &feature : llvm::sys::getHostCPUFeatures())
    features.AddFeature(feature.first(), feature.second);
  // Constructors in .init_array, which the dynamic loader runs at dlopen (the
  // CUDA kernel object loads its device code from one); .ctors would need the
  // C runtime's start files, which the kernels are not linked with.
  llvm::TargetOptions options;
  options.UseInitArray = true;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, llvm::sys::getHostCPUName(), features.getString(), options,
      llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return moe::moduleError(module) << "cannot create an LLVM target machine for "
                              << triple.str(),
           failure();
  return machine;
}

/// Removes a temporary directory and what it holds when it goes out of scope.
namespace {
struct TempDir {
  SmallString<128> path;
  ~TempDir() {
    if (!path.empty())
      (void)llvm::sys::fs::remove_directories(path);
  }
};
} // namespace

/// Links `object` into a shared object with ld.lld in a temporary directory.
static FailureOr<std::string> linkSharedObject(ModuleOp module,
                                               StringRef object) {
  FailureOr<std::string> linker = findLinker(module);
  if (failed(linker))
    return failure();
  TempDir dir;
  if (std::error_code ec =
          llvm::sys::fs::createUniqueDirectory("moe-bundle", dir.path))
    return moe::moduleError(module) << "cannot create a temporary directory: "
                              << ec.message(),
           failure();
  SmallString<128> objectPath(dir.path), libraryPath(dir.path),
      logPath(dir.path);
  llvm::sys::path::append(objectPath, "kernels.o");
  llvm::sys::path::append(libraryPath, "kernels.so");
  llvm::sys::path::append(logPath, "ld.log");
  {
    std::error_code ec;
    llvm::raw_fd_ostream file(objectPath, ec, llvm::sys::fs::OF_None);
    if (ec)
      return moe::moduleError(module) << "cannot write " << objectPath << ": "
                                << ec.message(),
             failure();
    file << object;
    file.close();
    if (file.has_error())
      return moe::moduleError(module) << "cannot write " << objectPath,
             failure();
  }
  SmallVector<StringRef> args = {*linker,          "-shared",
                                 "--eh-frame-hdr", "-z",
                                 "noexecstack",    "-o",
                                 libraryPath,      objectPath};
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(logPath),
                                          StringRef(logPath)};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*linker, args, std::nullopt, redirects,
                                     /*SecondsToWait=*/0, /*MemoryLimit=*/0,
                                     &message);
  if (rc != 0) {
    std::string log;
    if (auto buffer = llvm::MemoryBuffer::getFile(logPath))
      log = (*buffer)->getBuffer().trim().str();
    return moe::moduleError(module)
               << "linking the kernels with " << *linker << " failed"
               << (message.empty() ? "" : ": ") << message
               << (log.empty() ? "" : ":\n") << log,
           failure();
  }
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> library =
      llvm::MemoryBuffer::getFile(libraryPath, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  if (!library)
    return moe::moduleError(module) << "cannot read the linked kernels: "
                              << library.getError().message(),
           failure();
  return (*library)->getBuffer().str();
}

FailureOr<moe::KernelObject>
moe::compileKernelObject(ModuleOp module, const BundleTarget &target) {
  bool cuda = target.kind == BundleTarget::Kind::CUDA;
  if (cuda && failed(checkCUDAChip(module, target.chip)))
    return failure();
  MLIRContext *context = module.getContext();
  OwningOpRef<ModuleOp> lowered = cast<ModuleOp>(module->clone());

  // The moe.* discardable attributes (argument bindings, splits, parallel
  // plans) are for the manifest and the planner; LLVM translation would warn
  // on them.
  auto isMoEAttr = [](NamedAttribute attr) {
    return attr.getName().getValue().starts_with("moe.");
  };
  lowered->walk([&](func::FuncOp func) {
    for (unsigned i = 0, e = func.getNumArguments(); i < e; ++i)
      if (DictionaryAttr attrs = func.getArgAttrDict(i))
        for (NamedAttribute attr : attrs)
          if (isMoEAttr(attr))
            func.removeArgAttr(i, attr.getName());
    for (unsigned i = 0, e = func.getNumResults(); i < e; ++i)
      if (DictionaryAttr attrs = func.getResultAttrDict(i))
        for (NamedAttribute attr : attrs)
          if (isMoEAttr(attr))
            func.removeResultAttr(i, attr.getName());
  });
  for (NamedAttribute attr : llvm::to_vector((*lowered)->getDiscardableAttrs()))
    if (isMoEAttr(attr))
      (*lowered)->removeDiscardableAttr(attr.getName());

  if (cuda) {
    // The kernels are serialized through LLVM IR (gpu-module-to-binary), and
    // gpu.binary / gpu.launch_func translate to an embedded fatbin and mgpu*
    // calls.
    DialectRegistry gpuTranslations;
    registerAllGPUToLLVMIRTranslations(gpuTranslations);
    context->appendDialectRegistry(gpuTranslations);
  }
  PassManager pm(context, ModuleOp::getOperationName());
  if (cuda) {
    CUDAPipelineOptions options;
    options.chip = target.chip;
    options.tensorCores = target.tensorCores;
    options.multiprocessors = target.multiprocessors;
    options.warpRouter = target.warpRouter;
    options.fusedRouter = target.fusedRouter;
    buildCUDAPipeline(pm, options);
  } else {
    buildCPUPipeline(pm);
  }
  if (failed(pm.run(*lowered)))
    return moe::moduleError(module)
               << "the " << (cuda ? "CUDA pipeline (moe-cuda-pipeline)"
                                  : "CPU pipeline (moe-cpu-pipeline)")
               << " failed on this module",
           failure();

  registerBuiltinDialectTranslation(*context);
  registerLLVMDialectTranslation(*context);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*lowered, llvmContext, "moe_kernels");
  if (!llvmModule)
    return moe::moduleError(module)
               << "cannot translate the lowered module to LLVM IR",
           failure();

  FailureOr<std::unique_ptr<llvm::TargetMachine>> machine =
      createHostTargetMachine(module);
  if (failed(machine))
    return failure();
  llvmModule->setDataLayout((*machine)->createDataLayout());
  llvmModule->setTargetTriple((*machine)->getTargetTriple());

  auto optimize = makeOptimizingTransformer(/*optLevel=*/3, /*sizeLevel=*/0,
                                            machine->get());
  if (llvm::Error error = optimize(llvmModule.get()))
    return moe::moduleError(module) << "optimizing the kernels failed: "
                              << llvm::toString(std::move(error)),
           failure();

  SmallString<0> object;
  {
    llvm::raw_svector_ostream stream(object);
    llvm::legacy::PassManager codegen;
    if ((*machine)->addPassesToEmitFile(codegen, stream, nullptr,
                                        llvm::CodeGenFileType::ObjectFile))
      return moe::moduleError(module)
                 << "the host target cannot emit object files",
             failure();
    codegen.run(*llvmModule);
  }

  FailureOr<std::string> library = linkSharedObject(module, object);
  if (failed(library))
    return failure();
  KernelObject kernels;
  kernels.target =
      cuda ? "cuda-" + target.chip
           : "cpu-" + (*machine)->getTargetTriple().getArchName().str();
  kernels.sharedObject = std::move(*library);
  return kernels;
}
