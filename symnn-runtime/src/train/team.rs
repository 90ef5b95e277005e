//! A persistent team of worker threads for the trainer's steps (cargo feature
//! `threads`).
//!
//! Why not a rayon scope per step: at MNIST's batch 64 a step's gradient takes about
//! 130 µs a thread, and waking a parked rayon worker and joining it cost 40-60 µs of
//! that on this project's 2-core machine (`benches/mnist_epoch.rs`): two threads were
//! slower than one. A [`Team`]'s workers spin for a short while after each job
//! ([`SPIN`]), so the next step of the same run finds them awake, then park, so an idle
//! trainer costs nothing.
//!
//! [`Team::run`] hands one job, `Fn(usize)`, to the calling thread (index 0) and to
//! workers `1..threads`, and returns when every one has finished: like a scoped
//! spawn, so the job may borrow from the caller's stack.

use std::cell::UnsafeCell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a worker (and the caller waiting for workers) spins before it parks. A
/// step's serial part (gather, optimizer update, checks) is tens of microseconds, so
/// the workers of a running trainer never park; an idle one parks after this.
const SPIN: Duration = Duration::from_micros(500);

/// A job: called once per thread index.
type Job = dyn Fn(usize) + Sync;

/// The state the caller and the workers share.
struct Shared {
    /// `generation << 8 | active`: a new value publishes a job to workers
    /// `1..=active` (read in one load, so a worker never pairs one job's generation
    /// with another's thread count).
    state: AtomicUsize,
    /// The current job, valid while [`Team::run`] waits (its lifetime is erased).
    job: UnsafeCell<*const Job>,
    /// Workers that have not finished the current job.
    pending: AtomicUsize,
    /// Set by a worker whose job panicked.
    panicked: AtomicBool,
    /// Tells the workers to exit.
    stop: AtomicBool,
    /// Per worker: parked, or about to park, so `run` must unpark it.
    parked: Vec<AtomicBool>,
}

// SAFETY: `job` is written only by `run` while no worker reads it (before publishing
// a new `state`, after `pending` reached 0) and read by workers only between those
// points; every other field is atomic.
#[allow(unsafe_code)]
unsafe impl Sync for Shared {}
// SAFETY: as above; the raw pointer is only a borrowed job's address.
#[allow(unsafe_code)]
unsafe impl Send for Shared {}

/// Worker threads that run [`Team::run`]'s jobs; joined on drop.
pub(super) struct Team {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

const ACTIVE_BITS: u32 = 8;
const ACTIVE_MASK: usize = (1 << ACTIVE_BITS) - 1;

impl Team {
    /// Spawns `workers` threads (at most 255), or `None` if the system refuses a
    /// thread.
    pub(super) fn new(workers: usize) -> Option<Team> {
        let workers = workers.min(ACTIVE_MASK);
        let noop: &'static Job = &|_| {};
        let shared = Arc::new(Shared {
            state: AtomicUsize::new(0),
            job: UnsafeCell::new(noop as *const Job),
            pending: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            parked: (0..workers).map(|_| AtomicBool::new(false)).collect(),
        });
        let mut team = Team {
            shared,
            handles: Vec::with_capacity(workers),
        };
        for w in 0..workers {
            let shared = Arc::clone(&team.shared);
            let handle = thread::Builder::new()
                .name(format!("symnn-train-{}", w + 1))
                // Like a main thread's: generated straight-line code can have large
                // stack frames.
                .stack_size(8 << 20)
                .spawn(move || work(&shared, w + 1))
                .ok()?;
            team.handles.push(handle);
        }
        Some(team)
    }

    /// Number of worker threads (the caller is one more).
    pub(super) fn workers(&self) -> usize {
        self.handles.len()
    }

    /// Runs `job(c)` for `c` in `0..threads` (at most `workers() + 1`): `job(0)` on
    /// the calling thread, the others on workers. Returns when all have returned; a
    /// panic in any of them is resumed here after every thread has finished.
    pub(super) fn run(&mut self, threads: usize, job: &(dyn Fn(usize) + Sync)) {
        let active = threads.clamp(1, self.workers() + 1) - 1;
        if active == 0 {
            job(0);
            return;
        }
        let shared = &*self.shared;
        // SAFETY: only the lifetime is erased. Workers call the job only between the
        // `state` store below and their `pending` decrement, and this function does
        // not return (nor unwind) before `pending` is 0, so the borrow outlives every
        // use.
        #[allow(unsafe_code)]
        unsafe {
            *shared.job.get() =
                std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), *const Job>(job);
        }
        shared.pending.store(active, Ordering::Relaxed);
        let generation = (shared.state.load(Ordering::Relaxed) >> ACTIVE_BITS) + 1;
        shared
            .state
            .store(generation << ACTIVE_BITS | active, Ordering::SeqCst);
        for (parked, handle) in shared.parked.iter().zip(&self.handles).take(active) {
            if parked.load(Ordering::SeqCst) {
                handle.thread().unpark();
            }
        }
        let mine = catch_unwind(AssertUnwindSafe(|| job(0)));
        let start = Instant::now();
        let mut spins = 0u32;
        while shared.pending.load(Ordering::Acquire) != 0 {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() > SPIN {
                thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        if let Err(payload) = mine {
            resume_unwind(payload);
        }
        if shared.panicked.swap(false, Ordering::Relaxed) {
            panic!("symnn: a training thread panicked");
        }
    }
}

/// Worker `index`'s loop: wait for a new state, run the job if this worker is among
/// its active ones, repeat until told to stop.
fn work(shared: &Shared, index: usize) {
    let parked = &shared.parked[index - 1];
    // Generation 0 is the team's creation: a worker that starts after the first job
    // was published still runs it.
    let mut seen = 0;
    loop {
        let state = wait(shared, parked, seen);
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        seen = state >> ACTIVE_BITS;
        if index <= state & ACTIVE_MASK {
            // SAFETY: `run` stored a job valid until `pending` reaches 0, which
            // needs this worker's decrement below.
            #[allow(unsafe_code)]
            let job = unsafe { &**shared.job.get() };
            if catch_unwind(AssertUnwindSafe(|| job(index))).is_err() {
                shared.panicked.store(true, Ordering::Relaxed);
            }
            shared.pending.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Spins, then parks, until `state` holds a generation other than `seen` (or `stop`
/// is set); returns the state.
fn wait(shared: &Shared, parked: &AtomicBool, seen: usize) -> usize {
    let start = Instant::now();
    let mut spins = 0u32;
    loop {
        let state = shared.state.load(Ordering::Acquire);
        if state >> ACTIVE_BITS != seen || shared.stop.load(Ordering::Acquire) {
            return state;
        }
        spins = spins.wrapping_add(1);
        if !spins.is_multiple_of(64) || start.elapsed() < SPIN {
            std::hint::spin_loop();
            continue;
        }
        // Announce the park, then look again: `run` publishes, then reads `parked`
        // (both SeqCst), so either this load sees the new state or `run` unparks.
        parked.store(true, Ordering::SeqCst);
        let state = shared.state.load(Ordering::SeqCst);
        if state >> ACTIVE_BITS == seen && !shared.stop.load(Ordering::SeqCst) {
            thread::park();
        }
        parked.store(false, Ordering::SeqCst);
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for handle in &self.handles {
            handle.thread().unpark();
        }
        for handle in self.handles.drain(..) {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Team;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    #[test]
    fn every_index_runs_once_per_job_and_borrows_work() {
        let mut team = Team::new(3).expect("threads");
        for threads in [1, 2, 4, 3, 4, 1, 2] {
            let hits: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
            let out = Mutex::new(Vec::new());
            team.run(threads, &|c| {
                hits[c].fetch_add(1, Ordering::Relaxed);
                out.lock().unwrap().push(c);
            });
            for (c, h) in hits.iter().enumerate() {
                assert_eq!(h.load(Ordering::Relaxed), usize::from(c < threads), "{c}");
            }
            assert_eq!(out.into_inner().unwrap().len(), threads);
        }
    }

    #[test]
    fn workers_park_and_wake() {
        let mut team = Team::new(1).expect("threads");
        let sum = AtomicUsize::new(0);
        for k in 0..5 {
            // Longer than the spin: the worker parks between jobs.
            std::thread::sleep(std::time::Duration::from_millis(3));
            team.run(2, &|c| {
                sum.fetch_add(c + k, Ordering::Relaxed);
            });
        }
        assert_eq!(
            sum.load(Ordering::Relaxed),
            (0..5).map(|k| 2 * k + 1).sum::<usize>()
        );
    }

    #[test]
    fn a_worker_panic_reaches_the_caller_and_the_team_survives() {
        let mut team = Team::new(1).expect("threads");
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            team.run(2, &|c| assert!(c != 1, "worker fails"));
        }));
        assert!(caught.is_err());
        let ran = AtomicUsize::new(0);
        team.run(2, &|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(ran.load(Ordering::Relaxed), 2);
    }
}
