/* CPU feature detection and the kernel table.
 *
 * Every dispatched kernel exists once per compiled target (fg_<name>_generic,
 * fg_<name>_avx2). The tables below are constants; selecting a target swaps
 * one pointer, so a kernel call costs one indirect jump. The generic table is
 * active until the bindings select the best target at import. */
#include "fastgd_kernels.h"

typedef struct fg_kernel_table {
#define FG_KERNEL(name, params, args) void(*name) params;
#define FG_KERNEL_RET(type, name, params, args) type(*name) params;
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET
} fg_kernel_table;

#define FG_KERNEL(name, params, args) void fg_##name##_generic params;
#define FG_KERNEL_RET(type, name, params, args) type fg_##name##_generic params;
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET

static const fg_kernel_table generic_table = {
#define FG_KERNEL(name, params, args) fg_##name##_generic,
#define FG_KERNEL_RET(type, name, params, args) fg_##name##_generic,
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET
};

#if defined(FASTGD_BUILD_AVX2)
#define FG_KERNEL(name, params, args) void fg_##name##_avx2 params;
#define FG_KERNEL_RET(type, name, params, args) type fg_##name##_avx2 params;
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET

static const fg_kernel_table avx2_table = {
#define FG_KERNEL(name, params, args) fg_##name##_avx2,
#define FG_KERNEL_RET(type, name, params, args) fg_##name##_avx2,
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET
};
#endif

static const fg_kernel_table *active_table = &generic_table;
static int active_isa = FG_ISA_GENERIC;

/* ---- CPU features --------------------------------------------------------- */

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#define FG_X86 1
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static void cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4])
{
    int r[4];
    __cpuidex(r, (int)leaf, (int)subleaf);
    for (int i = 0; i < 4; i++) regs[i] = (unsigned)r[i];
}
static uint64_t xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4])
{
    __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
}
static uint64_t xgetbv0(void)
{
    uint32_t eax, edx;
    /* The raw opcode of xgetbv, so no -mxsave is needed to assemble it. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}
#endif

static int cpu_has_avx2_fma(void)
{
    unsigned regs[4];
    cpuid(0, 0, regs);
    if (regs[0] < 7) return 0;
    cpuid(1, 0, regs);
    const unsigned ecx = regs[2];
    const int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    /* The OS must save the XMM and YMM registers on context switches. */
    if ((xgetbv0() & 0x6) != 0x6) return 0;
    cpuid(7, 0, regs);
    return (regs[1] >> 5) & 1; /* EBX bit 5: AVX2 */
}
#endif

const char *fg_isa_name(int isa)
{
    switch (isa) {
    case FG_ISA_GENERIC: return "generic";
    case FG_ISA_AVX2: return "avx2";
    default: return "unknown";
    }
}

int fg_isa_compiled(int isa)
{
    if (isa == FG_ISA_GENERIC) return 1;
#if defined(FASTGD_BUILD_AVX2)
    if (isa == FG_ISA_AVX2) return 1;
#endif
    return 0;
}

int fg_isa_cpu_supports(int isa)
{
    if (isa == FG_ISA_GENERIC) return 1;
#if defined(FG_X86)
    if (isa == FG_ISA_AVX2) {
        static int cached = -1; /* cpuid is slow under some hypervisors */
        if (cached < 0) cached = cpu_has_avx2_fma();
        return cached;
    }
#endif
    return 0;
}

int fg_isa_best(void)
{
    for (int isa = FG_ISA_COUNT - 1; isa > FG_ISA_GENERIC; isa--)
        if (fg_isa_compiled(isa) && fg_isa_cpu_supports(isa)) return isa;
    return FG_ISA_GENERIC;
}

int fg_isa_select(int isa)
{
    if (!fg_isa_compiled(isa) || !fg_isa_cpu_supports(isa)) return -1;
#if defined(FASTGD_BUILD_AVX2)
    if (isa == FG_ISA_AVX2) {
        active_table = &avx2_table;
        active_isa = isa;
        return 0;
    }
#endif
    active_table = &generic_table;
    active_isa = FG_ISA_GENERIC;
    return 0;
}

int fg_isa_current(void) { return active_isa; }

/* ---- public entry points ------------------------------------------------- */

#define FG_KERNEL(name, params, args) \
    void fg_##name params { active_table->name args; }
#define FG_KERNEL_RET(type, name, params, args) \
    type fg_##name params { return active_table->name args; }
#include "kernel_list.h"
#undef FG_KERNEL
#undef FG_KERNEL_RET
