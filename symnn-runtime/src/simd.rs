//! Runtime instruction-set selection shared by every multiversioned kernel
//! ([`gemm`](crate::gemm) today).
//!
//! **Why runtime dispatch.** A crate built for the default `x86_64` target may only
//! assume SSE2. Building with `-C target-cpu=native` would make the binary fault on an
//! older CPU and cannot be set by a library for its users anyway (it is a flag of the
//! final build). Instead each kernel is compiled several times, once per level of
//! [`Isa`], with `#[target_feature(enable = ...)]` on the instantiation, and picks one
//! per call from [`isa()`]: one relaxed atomic load and a branch, invisible next to a
//! matrix product.
//!
//! **Levels.** [`Isa::Portable`] is plain Rust (no `mul_add`, which is a libm call
//! without hardware FMA), [`Isa::Avx2Fma`] uses 256-bit vectors and FMA, [`Isa::Avx512`]
//! uses 512-bit vectors, 32 registers and masked loads for the tails (AVX-512 F, BW, DQ
//! and VL). Results are deterministic for a given level (fixed summation order) but
//! differ between levels by rounding.
//!
//! **Default.** [`isa()`] returns the best level the CPU supports, AVX-512 included.
//! On the AMD Zen 4 these kernels were tuned on, 512-bit operations are double-pumped:
//! the measured FMA peak is the same 118 GFLOP/s (f32) and 59 GFLOP/s (f64) per core
//! with AVX2 and AVX-512. AVX-512 still pays a little, never loses more than noise:
//! half the instructions for the same work, 32 registers (larger register tiles, so
//! fewer loads per FMA) and masked loads for the tails. Measured with
//! `cargo bench --bench gemm`: the MNIST f32 kernel set 3.59 µs per sample against
//! 3.81 µs with AVX2 (`gemm_tn_acc` 128×784: 114 against 103 GFLOP/s), the 64-32-10
//! f64 set 190 ns per sample with either. Without AVX2 the portable code is 4–7×
//! slower (SSE2, no FMA).
//!
//! **Overrides.** The environment variable `SYMNN_ISA=portable|avx2|avx512` (read
//! once, at the first call of [`isa()`]) and [`set_max_isa`] (global) cap the level;
//! [`with_max_isa`] caps it for the current thread only, for the duration of a closure
//! (tests run in parallel threads). A cap above what the CPU supports has no effect.
//!
//! **Without std** there is no run-time detection (it needs the OS): [`isa()`] and
//! [`detected()`] return the best level the *compile-time* target features allow
//! (`-C target-feature=+avx2,+fma` or `-C target-cpu=...`), a constant, and the
//! overrides do not exist.

#[cfg(feature = "std")]
use std::cell::Cell;
#[cfg(feature = "std")]
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};

/// An instruction-set level, ordered from least to most capable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust: SSE2 on `x86_64` (what LLVM vectorises by itself), any target.
    Portable,
    /// AVX2 and FMA (Intel Haswell, AMD Zen and later).
    Avx2Fma,
    /// AVX-512 F, BW, DQ and VL (Intel Skylake-SP, AMD Zen 4 and later).
    Avx512,
}

impl Isa {
    /// Every level, lowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2Fma, Isa::Avx512];

    /// The name used by `SYMNN_ISA`: `"portable"`, `"avx2"` or `"avx512"`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses a [`name`](Isa::name) (ASCII case-insensitive).
    pub fn from_name(s: &str) -> Option<Isa> {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(s.trim()))
    }

    #[cfg(feature = "std")]
    fn from_u8(v: u8) -> Isa {
        match v {
            0 => Isa::Portable,
            1 => Isa::Avx2Fma,
            _ => Isa::Avx512,
        }
    }
}

/// The best level the compile-time target features allow.
#[cfg(not(feature = "std"))]
const COMPILED: Isa = if cfg!(all(
    target_arch = "x86_64",
    target_feature = "avx512f",
    target_feature = "avx512bw",
    target_feature = "avx512dq",
    target_feature = "avx512vl",
    target_feature = "avx2",
    target_feature = "fma"
)) {
    Isa::Avx512
} else if cfg!(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
)) {
    Isa::Avx2Fma
} else {
    Isa::Portable
};

/// The best level the compile-time target features allow (no run-time detection
/// without std).
#[cfg(not(feature = "std"))]
#[inline]
pub fn detected() -> Isa {
    COMPILED
}

/// The level the kernels use: without std, [`detected()`], fixed at compile time.
#[cfg(not(feature = "std"))]
#[inline]
pub fn isa() -> Isa {
    COMPILED
}

#[cfg(feature = "std")]
/// Low byte: the selected level (`UNSET` before the first call); bits 8..: how many
/// [`with_max_isa`] scopes are active in any thread (then the thread-local cap is read
/// too). One relaxed load on the hot path.
static STATE: AtomicU32 = AtomicU32::new(UNSET as u32);
#[cfg(feature = "std")]
/// The cap set by [`set_max_isa`] (`UNSET`: none).
static GLOBAL_MAX: AtomicU8 = AtomicU8::new(UNSET);
#[cfg(feature = "std")]
const UNSET: u8 = 0xff;
#[cfg(feature = "std")]
const SCOPE: u32 = 1 << 8;

#[cfg(feature = "std")]
thread_local! {
    static LOCAL_MAX: Cell<u8> = const { Cell::new(UNSET) };
}

#[cfg(feature = "std")]
/// The best level this CPU supports, ignoring every override.
pub fn detected() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
        {
            return Isa::Avx512;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Isa::Avx2Fma;
        }
    }
    Isa::Portable
}

#[cfg(feature = "std")]
fn env_max() -> Option<Isa> {
    let v = std::env::var("SYMNN_ISA").ok()?;
    let isa = Isa::from_name(&v);
    if isa.is_none() {
        eprintln!("symnn: ignoring SYMNN_ISA={v:?} (expected portable, avx2 or avx512)");
    }
    isa
}

#[cfg(feature = "std")]
/// Recomputes the global level from the CPU, the environment and [`set_max_isa`].
fn refresh() -> Isa {
    let mut isa = detected();
    if let Some(cap) = env_max() {
        isa = isa.min(cap);
    }
    let g = GLOBAL_MAX.load(Relaxed);
    if g != UNSET {
        isa = isa.min(Isa::from_u8(g));
    }
    // Keep the scope count, replace the level.
    let _ = STATE.fetch_update(Relaxed, Relaxed, |s| Some((s & !0xff) | isa as u32));
    isa
}

/// The level the kernels use on this thread: the best the CPU supports, capped by
/// `SYMNN_ISA`, [`set_max_isa`] and [`with_max_isa`]. Always [`Isa::Portable`] on
/// targets other than `x86_64`.
#[cfg(feature = "std")]
#[inline]
pub fn isa() -> Isa {
    let s = STATE.load(Relaxed);
    let isa = if s & 0xff == UNSET as u32 {
        refresh()
    } else {
        Isa::from_u8(s as u8)
    };
    if s >= SCOPE {
        let local = LOCAL_MAX.with(Cell::get);
        if local != UNSET {
            return isa.min(Isa::from_u8(local));
        }
    }
    isa
}

#[cfg(feature = "std")]
/// Caps the level for every thread (for tests, benches and debugging), on top of
/// `SYMNN_ISA`. `set_max_isa(Isa::Avx512)` removes a previous cap.
pub fn set_max_isa(max: Isa) {
    GLOBAL_MAX.store(max as u8, Relaxed);
    refresh();
}

#[cfg(feature = "std")]
/// Runs `f` with the level capped at `max` on the current thread only (other threads
/// are unaffected), restoring the previous cap afterwards, also if `f` panics.
pub fn with_max_isa<T>(max: Isa, f: impl FnOnce() -> T) -> T {
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            LOCAL_MAX.with(|c| c.set(self.0));
            STATE.fetch_sub(SCOPE, Relaxed);
        }
    }
    STATE.fetch_add(SCOPE, Relaxed);
    let prev = LOCAL_MAX.with(|c| c.replace(max as u8));
    let _restore = Restore(prev);
    // Nested scopes: the tighter cap wins.
    if prev != UNSET && prev < max as u8 {
        LOCAL_MAX.with(|c| c.set(prev));
    }
    f()
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for isa in Isa::ALL {
            assert_eq!(Isa::from_name(isa.name()), Some(isa));
        }
        assert_eq!(Isa::from_name("AVX2"), Some(Isa::Avx2Fma));
        assert_eq!(Isa::from_name("sse"), None);
    }

    #[test]
    fn local_cap_is_scoped() {
        let before = isa();
        assert!(before <= detected());
        with_max_isa(Isa::Portable, || {
            assert_eq!(isa(), Isa::Portable);
            with_max_isa(Isa::Avx512, || assert_eq!(isa(), Isa::Portable));
        });
        assert_eq!(isa(), before);
        let r = std::panic::catch_unwind(|| with_max_isa(Isa::Portable, || panic!("x")));
        assert!(r.is_err());
        assert_eq!(isa(), before);
    }
}
