/* The CPU targets, one line each, in order of preference (the last one the CPU
 * supports wins). Each names a directory isa/<name>/ holding the target's
 * config.h (block sizes), simd.h (its SIMD vocabulary) and gemm_ukernel.h (its
 * GEMM micro-kernels and packers).
 *
 * FG_TARGET(name, architectures, gcc_clang_flags, msvc_flags, cpu_check)
 *   name          directory, symbol suffix, FASTGD_ARCH value and enum FG_ISA_<NAME>
 *   architectures CMake regular expression on the lower-cased processor name
 *   *_flags       the compiler flags of the target's sources
 *   cpu_check     int cpu_check(void) in dispatch.c: 1 when CPU and OS can run it
 *
 * CMakeLists.txt reads the lines starting with FG_TARGET( (keep each on one
 * line, the strings without commas); dispatch.c and fastgd_kernels.h expand
 * them into the enum, the kernel tables and the names. Included several times
 * with different definitions of FG_TARGET; deliberately no include guard. */
FG_TARGET(generic, ".*", "", "", fg_cpu_any)
FG_TARGET(avx2, "^(x86_64|amd64|x64)$", "-mavx2 -mfma", "/arch:AVX2", fg_cpu_x86_avx2)
FG_TARGET(avx512, "^(x86_64|amd64|x64)$", "-mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma", "/arch:AVX512", fg_cpu_x86_avx512)
FG_TARGET(neon, "^(aarch64|arm64)$", "", "", fg_cpu_aarch64)
