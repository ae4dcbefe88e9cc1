"""The ``cpu_llvm`` backend: primitives lowered to LLVM IR with llvmlite and JIT-compiled for the host CPU."""
