//! Stack use of the generated methods, measured by stack painting (x86-64 only).
//!
//! A `#[inline(never)]` function fills 1 MiB of the stack below the caller with a
//! pattern and returns; the caller reads its stack pointer (`rsp`), calls the method
//! (through `dyn FnMut`, so it is not inlined into the caller) and finds the lowest
//! byte that no longer holds the pattern. The difference is the method's whole stack
//! use: its frame, its callees' (libm's `expf`, ...) and the return address.
//!
//! The numbers that matter are the release ones, printed by
//! `cargo test --release -p symnn-nostd --test stack -- --nocapture` (this is the no_std
//! build: `libm`'s functions). They are x86-64 numbers: on a microcontroller the frame
//! sizes differ (register count, calling convention, float ABI, inlining), so measure
//! there too (docs/EMBEDDED.md). Debug builds use far more stack; the assertions are
//! loose enough for both.
#![cfg(target_arch = "x86_64")]

use std::hint::black_box;

use symnn_nostd::{Mlp, Seed003, Wide};

const PAINT: usize = 1024 * 1024;
const PATTERN: u8 = 0xA5;

/// Paints `PAINT` bytes of stack below the caller; returns the address of the lowest.
#[inline(never)]
fn paint() -> usize {
    let mut buf = [PATTERN; PAINT];
    black_box(&mut buf);
    buf.as_ptr().expose_provenance()
}

/// Bytes of stack `f` used below the caller's stack pointer.
#[inline(never)]
fn measure(f: &mut dyn FnMut()) -> usize {
    let lo = paint();
    let sp: usize;
    // SAFETY: reads the stack pointer into a register; no memory is touched.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack)) };
    black_box(&mut *f)();
    let mut first = lo;
    // SAFETY: `lo..lo + PAINT` is this thread's stack below `sp` (painted above and
    // not freed: the thread is alive); reading dead stack bytes is what painting is.
    while first < sp
        && unsafe { core::ptr::with_exposed_provenance::<u8>(first).read_volatile() } == PATTERN
    {
        first += 1;
    }
    assert!(
        first > lo,
        "the method used more than {PAINT} bytes of stack"
    );
    sp - first
}

/// Stack use of `sgd_step`, `forward` and `gradient` of one network.
struct Usage {
    sgd_step: usize,
    forward: usize,
    gradient: usize,
    batch: usize,
}

/// Samples in the measured `sgd_step_batch`.
const BATCH: usize = 16;

macro_rules! usage {
    ($net:ty, $i:expr, $t:expr) => {{
        let mut net = <$net>::new();
        let (x, t) = ($i, $t);
        let sgd_step = measure(&mut || {
            black_box(net.sgd_step(black_box(&x), black_box(&t), black_box(0.01)));
        });
        let forward = measure(&mut || {
            black_box(net.forward(black_box(&x)));
        });
        let mut grad = [0.0_f32; <$net>::NUM_PARAMS];
        let gradient = measure(&mut || {
            black_box(net.gradient_into(black_box(&x), black_box(&t), &mut grad));
        });
        let (xs, ts) = ([x; BATCH], [t; BATCH]);
        let batch = measure(&mut || {
            black_box(net.sgd_step_batch(black_box(&xs), black_box(&ts), black_box(0.01)));
        });
        Usage {
            sgd_step,
            forward,
            gradient,
            batch,
        }
    }};
}

#[test]
fn stack_use_of_the_generated_methods() {
    // A thread of its own, with room for the painted region.
    std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(|| {
            let rows = [
                (
                    "seed 003 (2-2-1)",
                    usage!(Seed003, [0.35_f32, 0.9], [1.0_f32]),
                ),
                ("2-8-8-1 tanh", usage!(Mlp, [0.35_f32, -0.9], [0.5_f32])),
                (
                    "64-32-10 sigmoid",
                    usage!(Wide, [0.5_f32; 64], {
                        let mut t = [0.0_f32; 10];
                        t[3] = 1.0;
                        t
                    }),
                ),
            ];
            let profile = if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            };
            println!("stack use in bytes ({profile}, x86-64):");
            println!("| network | sgd_step | forward | gradient_into | sgd_step_batch ({BATCH}) |");
            for (name, u) in &rows {
                println!(
                    "| {name} | {} | {} | {} | {} |",
                    u.sgd_step, u.forward, u.gradient, u.batch
                );
                // Loose: a measurement, not a budget (debug builds use much more).
                assert!(u.sgd_step > 0 && u.sgd_step < 200_000);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}
