//! Support for `network!`-generated code, re-exported as `symnn::__private`. Not
//! public API: may change in any release.
//!
//! Everything that depends on the crate's features lives here, so that the generated
//! code (compiled in the user's crate, which cannot see symnn's features) and the
//! [`Model`](crate::Model) trait always agree on what exists.

pub use crate::init::{Scheme, SplitMix64};
pub use crate::ParamGroup;

#[cfg(feature = "alloc")]
pub use alloc::boxed::Box;

/// Emits its tokens (items: methods of the generated struct and of its `Model` impl)
/// only if the runtime has the `alloc` feature, so generated code compiles without
/// an allocator.
#[cfg(feature = "alloc")]
#[doc(hidden)]
#[macro_export]
macro_rules! __symnn_if_alloc {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// Emits its tokens only if the runtime has the `alloc` feature (here it has not).
#[cfg(not(feature = "alloc"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __symnn_if_alloc {
    ($($tokens:tt)*) => {};
}

pub use crate::__symnn_if_alloc as if_alloc;

/// Emits its tokens (the generated `to_onnx` method) only if the runtime has the
/// `onnx` feature.
#[cfg(feature = "onnx")]
#[doc(hidden)]
#[macro_export]
macro_rules! __symnn_if_onnx {
    ($($tokens:tt)*) => {
        $($tokens)*
    };
}

/// Emits its tokens only if the runtime has the `onnx` feature (here it has not).
#[cfg(not(feature = "onnx"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __symnn_if_onnx {
    ($($tokens:tt)*) => {};
}

pub use crate::__symnn_if_onnx as if_onnx;

/// What a generated `to_onnx` calls (feature `onnx`).
#[cfg(feature = "onnx")]
pub mod onnx {
    pub use crate::onnx::{model, Binary, Op, Spec, Unary};
    pub use std::vec::Vec;
}

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

/// A flat slice as `n` rows of `N` (`n` from [`crate::batch_len`], so a network without
/// inputs or targets, `N = 0`, still has `n` rows), or a panic naming what has the
/// wrong length.
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

/// A flat mutable slice as `n` rows of `N` (see [`rows`]).
#[inline]
pub fn rows_mut<'a, F, const N: usize>(
    slice: &'a mut [F],
    n: usize,
    what: &str,
) -> &'a mut [[F; N]] {
    assert!(
        slice.len() == n * N,
        "symnn: `{what}` has length {} but {n} samples need {}",
        slice.len(),
        n * N
    );
    // SAFETY: as in `rows`, with the unique borrow of the slice.
    #[allow(unsafe_code)]
    unsafe {
        core::slice::from_raw_parts_mut(slice.as_mut_ptr().cast::<[F; N]>(), n)
    }
}

/// The number of samples of a flat input and output batch ([`crate::batch_len`] for
/// outputs instead of targets).
#[inline]
pub fn batch_rows<M: crate::Model>(inputs: &[M::Float], outputs: &[M::Float]) -> usize {
    crate::model::samples(
        (inputs.len(), M::NUM_INPUTS),
        (outputs.len(), M::NUM_OUTPUTS),
        "output rows",
    )
}

/// `n` as a float, for means over a batch.
#[inline]
pub fn count<F: crate::Float>(n: usize) -> F {
    #[allow(clippy::cast_precision_loss)] // batch sizes are far below 2^53
    F::from_f64(n as f64)
}

/// The gradient buffer of a tensor-tier network's `sgd_step_batch`: on the heap with
/// `alloc` (its parameter array can be megabytes), on the stack without.
#[cfg(feature = "alloc")]
#[inline]
pub fn grad_buffer<F: crate::Float, const N: usize>() -> alloc::vec::Vec<F> {
    alloc::vec![F::ZERO; N]
}

/// The gradient buffer of a tensor-tier network's `sgd_step_batch`: on the heap with
/// `alloc` (its parameter array can be megabytes), on the stack without.
#[cfg(not(feature = "alloc"))]
#[inline]
pub fn grad_buffer<F: crate::Float, const N: usize>() -> [F; N] {
    [F::ZERO; N]
}

/// A zeroed `Box<M>` built on the heap without a stack temporary.
///
/// # Safety
/// `M` must be `#[repr(transparent)]` over `[F; N]` (every generated network is: a
/// struct whose only field is `params: [F; N]`), so that the all-zero `[F; N]` is a
/// valid `M`.
#[cfg(feature = "alloc")]
#[inline]
pub unsafe fn boxed_zeroed<M, F: crate::Float, const N: usize>() -> Box<M> {
    const {
        assert!(core::mem::size_of::<M>() == core::mem::size_of::<[F; N]>());
        assert!(core::mem::align_of::<M>() == core::mem::align_of::<[F; N]>());
    }
    let zeroed: Box<[F]> = alloc::vec![F::ZERO; N].into_boxed_slice();
    let Ok(array) = Box::<[F; N]>::try_from(zeroed) else {
        unreachable!("the vector has N elements")
    };
    // SAFETY: `M` is `repr(transparent)` over `[F; N]` (the caller's contract; size
    // and alignment are checked above), so the allocation's layout and contents are
    // a valid `M`.
    unsafe { Box::from_raw(Box::into_raw(array).cast::<M>()) }
}

/// A mutable slice as a row-major `R × C` matrix (`param_jacobian_slice`).
///
/// # Panics
/// If the length is not `R * C`.
#[inline]
pub fn matrix_mut<'a, F, const C: usize, const R: usize>(
    slice: &'a mut [F],
    what: &str,
) -> &'a mut [[F; C]; R] {
    let len = slice.len();
    assert!(
        len == R * C,
        "symnn: `{what}` has length {len} but the network expects {R} x {C} = {}",
        R * C
    );
    // SAFETY: `[[F; C]; R]` has the layout of `R * C` consecutive `F`s (alignment of
    // `F`), the slice holds exactly that many, and the lifetime is the slice's.
    #[allow(unsafe_code)]
    unsafe {
        &mut *slice.as_mut_ptr().cast::<[[F; C]; R]>()
    }
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
