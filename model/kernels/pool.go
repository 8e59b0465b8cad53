package kernels

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/compresskv/compresskv/internal/prefault"
)

// The worker pool: helper goroutines started once and fed *job values over
// an unbuffered channel. A kernel call splits its output into units; no
// output's additions ever cross a unit boundary or depend on its place, so
// neither the split nor which goroutine computes a unit changes the bits of
// the result. The caller works on units too and waits for its helpers. A
// unit never starts another kernel call (that could deadlock a saturated
// pool).
//
// A panic in a unit, on whichever goroutine, is carried to the caller and
// raised there once every goroutine has left the job, so the caller can
// recover it. That includes memory faults: weights are memory-mapped, and
// a file truncated under its mapping faults on the next read. Helpers run
// with debug.SetPanicOnFault, so such a fault panics (with a runtime.Error
// whose Addr is the address) instead of killing the process; callers that
// read mapped memory set it on their own goroutine too and turn the panic
// into an error (model does).

var (
	threads atomic.Int64 // goroutines a kernel call may use, >= 1

	helpersMu sync.Mutex
	helpers   int       // helper goroutines started so far
	jobs      chan *job // helpers receive work here
)

func init() {
	threads.Store(int64(runtime.GOMAXPROCS(0)))
	jobs = make(chan *job)
}

// SetThreads sets how many goroutines one kernel call may use; n < 1 means
// runtime.GOMAXPROCS(0). Results do not depend on it: the same inputs give
// the same bits for every thread count.
func SetThreads(n int) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	threads.Store(int64(n))
}

// Threads returns how many goroutines one kernel call may use.
func Threads() int { return int(threads.Load()) }

// job is one kernel call split into units. run computes unit u using the
// calling goroutine's scratch s; a ParallelFor job calls each instead, with
// the index its goroutine drew from workers.
type job struct {
	run     func(j *job, u int, s *scratch)
	each    func(worker, i int)
	units   int
	next    atomic.Int64
	workers atomic.Int64
	done    sync.WaitGroup
	// panicked is the first panic of a unit; the other goroutines stop
	// taking units, and the caller raises it.
	panicked atomic.Pointer[unitPanic]

	// Arguments of the kernel call.
	out, x []float32
	m      int
	w      Matrix
	chunk  int // output columns per unit (panels for MatMulBF16)
	bf16   *PackedBF16
	xbf16  []uint16 // [m, 2·bf16.kp] activations rounded to bf16
}

// scratch is per-goroutine working memory, reused across calls.
type scratch struct {
	packed []float32 // [panels][kc][gemmNR] widened weight block
	xtile  []float32 // [gemmMR][kc] zero-padded edge rows of x
	ctile  []float32 // [gemmMR][gemmNR] edge tile of out
	row    []float32 // [k] one widened weight row
	xbf16  []uint16  // [m, k pairs·2] activations rounded to bf16
}

var (
	jobPool     = sync.Pool{New: func() any { return new(job) }}
	scratchPool = sync.Pool{New: func() any { return new(scratch) }}
)

// grow returns buf resliced to n elements, reallocating only when too small.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return prefault.Make[float32](n, n)
	}
	return buf[:n]
}

// newJob returns a cleared job from the pool.
func newJob(run func(j *job, u int, s *scratch), units int) *job {
	j := jobPool.Get().(*job)
	j.run, j.units = run, units
	j.next.Store(0)
	j.workers.Store(0)
	return j
}

// ParallelFor calls do(worker, i) once for every i in [0, n), on up to
// min(workers, Threads(), n) goroutines of the pool, the caller's included,
// and returns when all calls have. worker (< that count) identifies the
// goroutine making the call, so do can keep one scratch buffer per worker;
// items are handed out in increasing order from a shared counter. do must
// not call the pool's parallel kernels (MatMul with large shapes, or
// ParallelFor): a saturated pool would wait on itself. Use MatMulSerial and
// MulPacked inside.
func ParallelFor(n, workers int, do func(worker, i int)) {
	if n <= 0 {
		return
	}
	if min(workers, Threads(), n) <= 1 {
		for i := 0; i < n; i++ {
			do(0, i)
		}
		return
	}
	j := newJob(nil, n)
	j.each = do
	j.executeOn(min(workers, Threads(), n))
}

// execute runs every unit of j, on up to Threads() goroutines when
// parallel is true, and returns j to the pool.
func (j *job) execute(parallel bool) {
	n := 1
	if parallel {
		n = min(Threads(), j.units)
	}
	j.executeOn(n)
}

// executeOn runs every unit of j on n goroutines and returns j to the pool.
func (j *job) executeOn(n int) {
	if n > 1 {
		startHelpers(n - 1)
		j.done.Add(n - 1)
		for i := 0; i < n-1; i++ {
			jobs <- j
		}
	}
	j.work()
	j.done.Wait()
	p := j.panicked.Swap(nil)
	j.out, j.x, j.w, j.run, j.each, j.bf16, j.xbf16 = nil, nil, Matrix{}, nil, nil, nil, nil
	jobPool.Put(j)
	if p != nil {
		p.raise()
	}
}

// unitPanic is a panic recovered from a unit, with the stack of the
// goroutine it happened on.
type unitPanic struct {
	value any
	stack []byte
}

// raise panics on the caller's goroutine with the unit's panic: a memory
// fault as the runtime.Error itself (the caller's recover inspects its
// Addr), anything else (a bug) with the stack where it happened appended,
// which the caller's own stack would not show.
func (p *unitPanic) raise() {
	if _, fault := p.value.(interface{ Addr() uintptr }); fault {
		panic(p.value)
	}
	panic(fmt.Sprintf("%v\n\n[kernel unit panicked on goroutine:]\n%s", p.value, p.stack))
}

// recoverUnit is deferred by work: it keeps the first panic of the job and
// stops the other goroutines from taking more units.
func (j *job) recoverUnit() {
	r := recover()
	if r == nil {
		return
	}
	j.panicked.CompareAndSwap(nil, &unitPanic{value: r, stack: debug.Stack()})
	j.next.Store(int64(j.units))
}

// work takes units until none is left (or one panics: see recoverUnit).
func (j *job) work() {
	defer j.recoverUnit()
	if j.each != nil {
		worker := int(j.workers.Add(1) - 1)
		for {
			i := int(j.next.Add(1) - 1)
			if i >= j.units {
				return
			}
			j.each(worker, i)
		}
	}
	s := scratchPool.Get().(*scratch)
	for {
		u := int(j.next.Add(1) - 1)
		if u >= j.units {
			break
		}
		j.run(j, u, s)
	}
	scratchPool.Put(s)
}

// startHelpers makes sure at least n helper goroutines are running.
func startHelpers(n int) {
	helpersMu.Lock()
	for ; helpers < n; helpers++ {
		go func() {
			debug.SetPanicOnFault(true) // for the life of the helper: see the pool's comment
			for j := range jobs {
				j.work()
				j.done.Done()
			}
		}()
	}
	helpersMu.Unlock()
}
