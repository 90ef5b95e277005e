//! # symnn
//!
//! Train small neural networks with zero interpretation overhead. Write the network as a
//! few lines of DSL inside [`network!`]; at compile time the macro differentiates the
//! loss symbolically (reverse mode over a hash-consed expression DAG), simplifies it,
//! eliminates common subexpressions and emits plain straight-line Rust for `forward`,
//! `loss`, `gradient` and a fused `sgd_step`.
//!
//! ```
//! use symnn::network;
//!
//! network! {
//!     /// XOR with one hidden layer.
//!     pub struct Xor {
//!         input x[2];
//!         target t[1];
//!         let h = dense(x, 4, tanh);
//!         output y = dense(h, 1, sigmoid);
//!         loss = bce(y, t);
//!     }
//! }
//!
//! let mut net = Xor::new();
//! let data = [([0.0, 0.0], [0.0]), ([0.0, 1.0], [1.0]), ([1.0, 0.0], [1.0]), ([1.0, 1.0], [0.0])];
//! for _ in 0..2000 {
//!     for (x, t) in &data {
//!         net.sgd_step(x, t, 0.5);
//!     }
//! }
//! assert!(net.forward(&[0.0, 1.0])[0] > 0.5);
//! println!("{}", Xor::derivation());
//! ```
//!
//! The DSL and the generated API are described in `docs/DSL.md`, the engine in
//! `docs/DESIGN.md`, and the training runtime (optimizers, [`Trainer`], data, metrics,
//! checkpoints, plots) in `docs/RUNTIME.md`.
#![warn(missing_docs)]

// Lets the crate's own unit tests and doctests name `::symnn` like users do.
extern crate self as symnn;

pub use symnn_macros::network;
pub use symnn_runtime::*;

/// Support for generated code. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use symnn_runtime::init::{Scheme, SplitMix64};
    pub use symnn_runtime::ParamGroup;

    /// A slice as a fixed-size array, or a panic naming what had the wrong length.
    #[inline]
    pub fn array<'a, F, const N: usize>(slice: &'a [F], what: &str) -> &'a [F; N] {
        match slice.try_into() {
            Ok(array) => array,
            Err(_) => panic!(
                "symnn: `{what}` has length {} but the network expects {N}",
                slice.len()
            ),
        }
    }

    /// A flat slice as `n` rows of `N` (`n` from [`symnn_runtime::batch_len`], so a
    /// network without inputs or targets, `N = 0`, still has `n` rows), or a panic
    /// naming what has the wrong length.
    #[inline]
    pub fn rows<'a, F, const N: usize>(slice: &'a [F], n: usize, what: &str) -> &'a [[F; N]] {
        assert!(
            slice.len() == n * N,
            "symnn: `{what}` has length {} but {n} samples need {}",
            slice.len(),
            n * N
        );
        // SAFETY: `[F; N]` has the layout of `N` consecutive `F`s (alignment of `F`),
        // the slice holds exactly `n * N` of them, and the lifetime is the slice's.
        // For `N = 0` the rows are zero-sized and any aligned non-null pointer is valid.
        #[allow(unsafe_code)]
        unsafe {
            core::slice::from_raw_parts(slice.as_ptr().cast::<[F; N]>(), n)
        }
    }

    /// `n` as a float, for means over a batch.
    #[inline]
    pub fn count<F: symnn_runtime::Float>(n: usize) -> F {
        #[allow(clippy::cast_precision_loss)] // batch sizes are far below 2^53
        F::from_f64(n as f64)
    }

    /// A zeroed `Box<M>` built on the heap without a stack temporary.
    ///
    /// # Safety
    /// `M` must be `#[repr(transparent)]` over `[F; N]` (every generated network is: a
    /// struct whose only field is `params: [F; N]`), so that the all-zero `[F; N]` is a
    /// valid `M`.
    #[inline]
    pub unsafe fn boxed_zeroed<M, F: symnn_runtime::Float, const N: usize>() -> Box<M> {
        const {
            assert!(core::mem::size_of::<M>() == core::mem::size_of::<[F; N]>());
            assert!(core::mem::align_of::<M>() == core::mem::align_of::<[F; N]>());
        }
        let zeroed: Box<[F]> = vec![F::ZERO; N].into_boxed_slice();
        let Ok(array) = Box::<[F; N]>::try_from(zeroed) else {
            unreachable!("the vector has N elements")
        };
        // SAFETY: `M` is `repr(transparent)` over `[F; N]` (the caller's contract; size
        // and alignment are checked above), so the allocation's layout and contents are
        // a valid `M`.
        unsafe { Box::from_raw(Box::into_raw(array).cast::<M>()) }
    }

    /// Mutable version of [`array`].
    #[inline]
    pub fn array_mut<'a, F, const N: usize>(slice: &'a mut [F], what: &str) -> &'a mut [F; N] {
        let len = slice.len();
        match slice.try_into() {
            Ok(array) => array,
            Err(_) => panic!("symnn: `{what}` has length {len} but the network expects {N}"),
        }
    }
}

/// The README's code blocks are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
