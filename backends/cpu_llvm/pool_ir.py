"""The worker pool's native code (LLVM IR text): split calls are handed to the workers without Python.

``portax_parallel_for(task, n, argv)`` runs ``task(start, end, argv)`` over [0, n), cut into chunks that the
caller and the workers claim one at a time. A worker is a thread that entered ``portax_pool_worker(pool)`` and
stays there until the pool stops (at exit): it spins on the pool's state word for ``spin_ns`` after its last
chunk, then sleeps on a
condition variable that a caller signals only when some worker sleeps. So back-to-back split calls cost a few
atomic operations, and idle workers cost nothing. Spinning threads (workers, and a caller waiting for a worker's
last chunk) yield the core every 64 pauses: on a machine busy with other processes a spinner would otherwise
take the time slices the threads doing the work need.

The state word holds ``generation << 32 | OPEN | active``: a caller publishes a job by writing its fields, then
a new generation with OPEN set; a worker joins by incrementing ``active`` with a compare-and-swap that requires
the same generation and OPEN (so it can never join a job that has closed or a later one by mistake); the caller
claims chunks itself, clears OPEN when all are claimed, and waits until ``active`` is 0 before releasing the
pool. It never waits for a worker to wake up, only for chunks a worker already claimed. A caller that finds the
pool busy (another thread's call, or a task that splits again) runs its task alone.

``pthread_getspecific(key)`` gives the calling thread's thread limit (0: none; see ``threads.limit_threads``).
"""
from __future__ import annotations

# i64 slots of the pool's memory (``SLOTS`` of them, 64-byte aligned); fields a caller and the workers both
# write sit on cache lines of their own
STATE, NEXT, BUSY, SIZE, SPLITS = 0, 8, 16, 17, 18
TASK, ARGV, N, STEP, NCHUNKS, MAX_WORKERS = 24, 25, 26, 27, 28, 29
SLEEPERS, STOP, SPIN_NS = 32, 33, 34
MUTEX, COND = 40, 56  # 128 bytes each for pthread_mutex_t / pthread_cond_t
SLOTS = 72
OPEN = 1 << 16
CHUNKS_PER_THREAD = 4  # so that a core slowed down by other processes simply takes fewer chunks
ALIGN = 64  # big chunks start on whole cache lines / vector blocks (elements)
MAX_TRAMPOLINE_PTRS = 8

LIBC_SYMBOLS = ("pthread_getspecific", "pthread_mutex_lock", "pthread_mutex_unlock", "pthread_cond_wait",
                "pthread_cond_broadcast", "sched_yield", "clock_gettime")
EXPORTED = ("portax_parallel_for", "portax_pool_worker", "portax_pool_init",
            *(f"portax_call_{k}" for k in range(MAX_TRAMPOLINE_PTRS + 1)))

_PAUSE = {"x86_64": "call void @llvm.x86.sse2.pause()\n", "aarch64": "call void @llvm.aarch64.hint(i32 1)\n",
          "arm64": "call void @llvm.aarch64.hint(i32 1)\n"}
_PAUSE_DECL = {"x86_64": "declare void @llvm.x86.sse2.pause()\n", "aarch64": "declare void @llvm.aarch64.hint(i32)\n",
               "arm64": "declare void @llvm.aarch64.hint(i32)\n"}

_COMMON = """
@pool = internal global ptr null
@key = internal global {KEY} 0
@clock = internal global i32 1

declare ptr @pthread_getspecific({KEY})
declare i32 @pthread_mutex_lock(ptr)
declare i32 @pthread_mutex_unlock(ptr)
declare i32 @pthread_cond_wait(ptr, ptr)
declare i32 @pthread_cond_broadcast(ptr)
declare i32 @sched_yield()
declare i32 @clock_gettime(i32, ptr)
{PAUSE_DECL}
define void @portax_pool_init(ptr %p, i64 %key, i32 %clock) {{
  store ptr %p, ptr @pool
  %k = trunc i64 %key to {KEY}
  store {KEY} %k, ptr @key
  store i32 %clock, ptr @clock
  ret void
}}

; pause; every 64th call (counted in %count) also yield the core, and return true
define internal i1 @backoff(ptr %count) {{
  {PAUSE}%c = load i64, ptr %count
  %c1 = add i64 %c, 1
  store i64 %c1, ptr %count
  %c64 = and i64 %c1, 63
  %yield = icmp eq i64 %c64, 0
  br i1 %yield, label %yielding, label %done
yielding:
  call i32 @sched_yield()
  br label %done
done:
  ret i1 %yield
}}

define internal i64 @now() {{
  %ts = alloca [2 x i64]
  %c = load i32, ptr @clock
  call i32 @clock_gettime(i32 %c, ptr %ts)
  %s = load i64, ptr %ts
  %nsp = getelementptr i64, ptr %ts, i64 1
  %ns = load i64, ptr %nsp
  %x = mul i64 %s, 1000000000
  %t = add i64 %x, %ns
  ret i64 %t
}}

; claim chunks of the published job until none is left
define internal void @claim(ptr %p) {{
entry:
  %taskp = getelementptr i64, ptr %p, i64 {TASK}
  %task = load ptr, ptr %taskp
  %argvp = getelementptr i64, ptr %p, i64 {ARGV}
  %argv = load ptr, ptr %argvp
  %np = getelementptr i64, ptr %p, i64 {N}
  %n = load i64, ptr %np
  %stepp = getelementptr i64, ptr %p, i64 {STEP}
  %step = load i64, ptr %stepp
  %cp = getelementptr i64, ptr %p, i64 {NCHUNKS}
  %nchunks = load i64, ptr %cp
  %nextp = getelementptr i64, ptr %p, i64 {NEXT}
  br label %loop
loop:
  %k = atomicrmw add ptr %nextp, i64 1 monotonic
  %more = icmp slt i64 %k, %nchunks
  br i1 %more, label %run, label %done
run:
  %lo = mul i64 %k, %step
  %hi0 = add i64 %lo, %step
  %lt = icmp slt i64 %hi0, %n
  %hi = select i1 %lt, i64 %hi0, i64 %n
  call void %task(i64 %lo, i64 %hi, ptr %argv)
  br label %loop
done:
  ret void
}}

define void @portax_pool_worker(ptr %p) {{
entry:
  %lastp = alloca i64
  %spinsp = alloca i64
  %deadlinep = alloca i64
  %stopp = getelementptr i64, ptr %p, i64 {STOP}
  %sleepersp = getelementptr i64, ptr %p, i64 {SLEEPERS}
  %spinp = getelementptr i64, ptr %p, i64 {SPIN_NS}
  %maxwp = getelementptr i64, ptr %p, i64 {MAX_WORKERS}
  %mutex = getelementptr i64, ptr %p, i64 {MUTEX}
  %cond = getelementptr i64, ptr %p, i64 {COND}
  %s0 = load atomic i64, ptr %p acquire, align 8
  %g0 = lshr i64 %s0, 32
  store i64 %g0, ptr %lastp
  br label %idle
idle:
  %t0 = call i64 @now()
  %spin_ns = load atomic i64, ptr %spinp monotonic, align 8
  %deadline = add i64 %t0, %spin_ns
  store i64 %deadline, ptr %deadlinep
  store i64 0, ptr %spinsp
  br label %spin
spin:
  %s = load atomic i64, ptr %p acquire, align 8
  %g = lshr i64 %s, 32
  %last = load i64, ptr %lastp
  %new = icmp ne i64 %g, %last
  br i1 %new, label %got, label %spin_stop
spin_stop:
  %stop = load atomic i64, ptr %stopp monotonic, align 8
  %stopping = icmp ne i64 %stop, 0
  br i1 %stopping, label %exit, label %spin_pause
spin_pause:
  %check = call i1 @backoff(ptr %spinsp)
  br i1 %check, label %spin_clock, label %spin
spin_clock:
  %now = call i64 @now()
  %late = icmp sgt i64 %now, %deadline
  br i1 %late, label %park, label %spin
park:
  call i32 @pthread_mutex_lock(ptr %mutex)
  atomicrmw add ptr %sleepersp, i64 1 seq_cst
  br label %park_check
park_check:
  %ps = load atomic i64, ptr %p seq_cst, align 8
  %pg = lshr i64 %ps, 32
  %plast = load i64, ptr %lastp
  %pnew = icmp ne i64 %pg, %plast
  %pstop = load atomic i64, ptr %stopp seq_cst, align 8
  %pstopping = icmp ne i64 %pstop, 0
  %wake = or i1 %pnew, %pstopping
  br i1 %wake, label %unpark, label %park_wait
park_wait:
  call i32 @pthread_cond_wait(ptr %cond, ptr %mutex)
  br label %park_check
unpark:
  atomicrmw sub ptr %sleepersp, i64 1 seq_cst
  call i32 @pthread_mutex_unlock(ptr %mutex)
  br label %idle
got:
  store i64 %g, ptr %lastp
  br label %join
join:
  %js = load atomic i64, ptr %p acquire, align 8
  %jg = lshr i64 %js, 32
  %same = icmp eq i64 %jg, %g
  %openbit = and i64 %js, {OPEN}
  %isopen = icmp ne i64 %openbit, 0
  %active = and i64 %js, {ACTIVE_MASK}
  %maxw = load i64, ptr %maxwp
  %room = icmp slt i64 %active, %maxw
  %ok1 = and i1 %same, %isopen
  %ok = and i1 %ok1, %room
  br i1 %ok, label %try, label %idle
try:
  %js1 = add i64 %js, 1
  %pair = cmpxchg ptr %p, i64 %js, i64 %js1 acq_rel acquire
  %won = extractvalue {{ i64, i1 }} %pair, 1
  br i1 %won, label %work, label %join
work:
  call void @claim(ptr %p)
  atomicrmw sub ptr %p, i64 1 release
  br label %idle
exit:
  ret void
}}

define void @portax_parallel_for(ptr %task, i64 %n, ptr %argv) {{
entry:
  %waitsp = alloca i64
  %p = load ptr, ptr @pool
  %sizep = getelementptr i64, ptr %p, i64 {SIZE}
  %size0 = load atomic i64, ptr %sizep monotonic, align 8
  %key = load {KEY}, ptr @key
  %limp = call ptr @pthread_getspecific({KEY} %key)
  %lim = ptrtoint ptr %limp to i64
  %has = icmp sgt i64 %lim, 0
  %less = icmp slt i64 %lim, %size0
  %uselim = and i1 %has, %less
  %size = select i1 %uselim, i64 %lim, i64 %size0
  %two = icmp sge i64 %size, 2
  %big = icmp sge i64 %n, 2
  %try = and i1 %two, %big
  br i1 %try, label %acquire, label %inline
acquire:
  %busyp = getelementptr i64, ptr %p, i64 {BUSY}
  %pair = cmpxchg ptr %busyp, i64 0, i64 1 acquire monotonic
  %got = extractvalue {{ i64, i1 }} %pair, 1
  br i1 %got, label %split, label %inline
inline:
  call void %task(i64 0, i64 %n, ptr %argv)
  ret void
split:
  %want = mul i64 %size, {CHUNKS_PER_THREAD}
  %fewer = icmp slt i64 %want, %n
  %count = select i1 %fewer, i64 %want, i64 %n
  %n1 = add i64 %n, %count
  %n2 = sub i64 %n1, 1
  %step0 = sdiv i64 %n2, %count
  %bigstep = icmp sge i64 %step0, {BIG_STEP}
  %up = add i64 %step0, {ALIGN_MINUS_1}
  %aligned = and i64 %up, {ALIGN_MASK}
  %step = select i1 %bigstep, i64 %aligned, i64 %step0
  %m1 = add i64 %n, %step
  %m2 = sub i64 %m1, 1
  %nchunks = sdiv i64 %m2, %step
  %w0 = sub i64 %size, 1
  %w1 = sub i64 %nchunks, 1
  %wlt = icmp slt i64 %w0, %w1
  %maxw = select i1 %wlt, i64 %w0, i64 %w1
  %taskp = getelementptr i64, ptr %p, i64 {TASK}
  store ptr %task, ptr %taskp
  %argvp = getelementptr i64, ptr %p, i64 {ARGV}
  store ptr %argv, ptr %argvp
  %np = getelementptr i64, ptr %p, i64 {N}
  store i64 %n, ptr %np
  %stepp = getelementptr i64, ptr %p, i64 {STEP}
  store i64 %step, ptr %stepp
  %cp = getelementptr i64, ptr %p, i64 {NCHUNKS}
  store i64 %nchunks, ptr %cp
  %maxwp = getelementptr i64, ptr %p, i64 {MAX_WORKERS}
  store i64 %maxw, ptr %maxwp
  %nextp = getelementptr i64, ptr %p, i64 {NEXT}
  store atomic i64 0, ptr %nextp monotonic, align 8
  %s = load atomic i64, ptr %p monotonic, align 8
  %g = lshr i64 %s, 32
  %g1 = add i64 %g, 1
  %g1s = shl i64 %g1, 32
  %published = or i64 %g1s, {OPEN}
  store atomic i64 %published, ptr %p seq_cst, align 8
  %splitsp = getelementptr i64, ptr %p, i64 {SPLITS}
  atomicrmw add ptr %splitsp, i64 1 monotonic
  %sleepersp = getelementptr i64, ptr %p, i64 {SLEEPERS}
  %sleepers = load atomic i64, ptr %sleepersp seq_cst, align 8
  %any = icmp sgt i64 %sleepers, 0
  br i1 %any, label %wake, label %work
wake:
  %mutex = getelementptr i64, ptr %p, i64 {MUTEX}
  %cond = getelementptr i64, ptr %p, i64 {COND}
  call i32 @pthread_mutex_lock(ptr %mutex)
  call i32 @pthread_cond_broadcast(ptr %cond)
  call i32 @pthread_mutex_unlock(ptr %mutex)
  br label %work
work:
  call void @claim(ptr %p)
  atomicrmw and ptr %p, i64 {CLOSE_MASK} seq_cst
  store i64 0, ptr %waitsp
  br label %wait
wait:
  %ws = load atomic i64, ptr %p acquire, align 8
  %act = and i64 %ws, {ACTIVE_MASK}
  %done = icmp eq i64 %act, 0
  br i1 %done, label %finish, label %wait_more
wait_more:
  call i1 @backoff(ptr %waitsp)
  br label %wait
finish:
  store atomic i64 0, ptr %busyp release, align 8
  ret void
}}
"""

_TRAMPOLINE = """
define void @portax_call_{k}(i64 %start, i64 %end, ptr %argv) {{
  %fn = load ptr, ptr %argv
{loads}  call void %fn(i64 %start, i64 %end{args})
  ret void
}}
"""


def _trampoline(k: int) -> str:
    """``portax_call_k(start, end, argv)`` calls ``argv[0](start, end, argv[1], ..., argv[k])``."""
    loads = "".join(f"  %q{j} = getelementptr ptr, ptr %argv, i64 {j + 1}\n  %p{j} = load ptr, ptr %q{j}\n"
                    for j in range(k))
    return _TRAMPOLINE.format(k=k, loads=loads, args="".join(f", ptr %p{j}" for j in range(k)))


def render(arch: str, key_bits: int) -> str:
    """The pool's module for a CPU architecture (``pause`` hint) and a ``pthread_key_t`` of ``key_bits``."""
    text = _COMMON.format(
        KEY=f"i{key_bits}", PAUSE=_PAUSE.get(arch, ""), PAUSE_DECL=_PAUSE_DECL.get(arch, ""),
        TASK=TASK, ARGV=ARGV, N=N, STEP=STEP, NCHUNKS=NCHUNKS, NEXT=NEXT, STOP=STOP, SLEEPERS=SLEEPERS,
        SPIN_NS=SPIN_NS, MAX_WORKERS=MAX_WORKERS, MUTEX=MUTEX, COND=COND, SIZE=SIZE, BUSY=BUSY, SPLITS=SPLITS,
        OPEN=OPEN, ACTIVE_MASK=OPEN - 1, CLOSE_MASK=~OPEN, CHUNKS_PER_THREAD=CHUNKS_PER_THREAD,
        BIG_STEP=4 * ALIGN, ALIGN_MINUS_1=ALIGN - 1, ALIGN_MASK=-ALIGN)
    return text + "".join(_trampoline(k) for k in range(MAX_TRAMPOLINE_PTRS + 1))
