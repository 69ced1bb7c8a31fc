# CPU targets and threads.

ISA_NAMES = tuple(fg_isa_name(i).decode() for i in range(FG_ISA_COUNT))


def isa_current():
    """Name of the CPU target the kernels run (one of ``ISA_NAMES``)."""
    return fg_isa_name(fg_isa_current()).decode()


def isa_best():
    """The fastest target this build carries that the CPU supports."""
    return fg_isa_name(fg_isa_best()).decode()


def isa_compiled():
    """Targets compiled into this build."""
    return [n for i, n in enumerate(ISA_NAMES) if fg_isa_compiled(i)]


def isa_cpu_supported():
    """Targets (known to fastgd) that this CPU can execute."""
    return [n for i, n in enumerate(ISA_NAMES) if fg_isa_cpu_supports(i)]


def isa_select(str name):
    """Route every kernel to target `name`; ValueError if it cannot run here."""
    if name not in ISA_NAMES:
        raise ValueError(f"isa must be one of {ISA_NAMES}, got {name!r}")
    cdef int isa = ISA_NAMES.index(name)
    if fg_isa_select(isa) != 0:
        if not fg_isa_compiled(isa):
            raise ValueError(f"isa {name!r} is not compiled into this build (have {isa_compiled()})")
        raise ValueError(f"isa {name!r} is not supported by this CPU (supported: {isa_cpu_supported()})")


def openmp_enabled():
    return bool(fg_openmp_enabled())


def openmp_version():
    return fg_openmp_version()


def set_num_threads(int n):
    fg_set_num_threads(n)


def get_num_threads():
    return fg_get_num_threads()


def set_threads_adapt_to_load(bint on):
    fg_set_threads_adapt_to_load(on)


def get_threads_adapt_to_load():
    return bool(fg_get_threads_adapt_to_load())


def threads_free(int limit):
    """At most `limit` threads, fewer while other processes keep CPUs busy (when adapting)."""
    return fg_threads_free(limit)
