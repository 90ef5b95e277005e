//! A fixed-length buffer of floats that starts on a cache line (64 bytes).
//!
//! The [`Trainer`](crate::Trainer) gathers a step's samples into such a buffer and
//! accumulates gradients into such buffers. Why: the batch kernels
//! ([`crate::gemm`]) load whole vectors along each row, and a `Vec` of a few hundred
//! kilobytes starts 16 bytes past a cache line (glibc's `mmap`ped chunks), so every
//! AVX-512 load of it splits across two lines. On this project's Intel AVX-512 host,
//! `gemm_nt` 128×784 on 64 samples (MNIST's first layer) runs at 111 GFLOP/s with
//! both operands 16 bytes off, 147 with the samples aligned, 158 with both
//! (`cargo bench --bench gemm -- --table`, docs/PERFORMANCE.md, "Aligned data").

use crate::Float;
use alloc::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

/// The alignment of every [`AlignedVec`], in bytes: one cache line.
pub(crate) const ALIGN: usize = 64;

/// `len` floats, zeroed at creation, the first on a 64-byte boundary. Derefs to a
/// slice; its length never changes.
pub(crate) struct AlignedVec<F> {
    ptr: NonNull<F>,
    len: usize,
}

// SAFETY: an `AlignedVec` owns its elements like a `Vec` does.
unsafe impl<F: Send> Send for AlignedVec<F> {}
// SAFETY: as above; shared access only hands out `&[F]`.
unsafe impl<F: Sync> Sync for AlignedVec<F> {}

impl<F: Float> AlignedVec<F> {
    /// `len` zeros.
    ///
    /// # Panics
    /// If `len` floats do not fit in an allocation (more than `isize::MAX` bytes).
    pub(crate) fn zeroed(len: usize) -> Self {
        if len == 0 || core::mem::size_of::<F>() == 0 {
            return AlignedVec {
                ptr: NonNull::dangling(),
                len,
            };
        }
        let layout = layout::<F>(len).expect("symnn: a buffer larger than the address space");
        // SAFETY: `layout` has a non-zero size (`len > 0`, `F` is not zero-sized).
        let raw = unsafe { alloc(layout) }.cast::<F>();
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        for i in 0..len {
            // SAFETY: `i < len`, inside the allocation, which is aligned for `F`.
            unsafe { ptr.as_ptr().add(i).write(F::ZERO) };
        }
        AlignedVec { ptr, len }
    }
}

/// The allocation of `len` elements of `F`; `None` for an empty buffer (no
/// allocation) or a size no allocation can have.
fn layout<F>(len: usize) -> Option<Layout> {
    let size = len.checked_mul(core::mem::size_of::<F>())?;
    if size == 0 {
        return None;
    }
    Layout::from_size_align(size, ALIGN.max(core::mem::align_of::<F>())).ok()
}

impl<F> Deref for AlignedVec<F> {
    type Target = [F];
    fn deref(&self) -> &[F] {
        // SAFETY: `ptr` holds `len` initialised elements (or is dangling, with no
        // bytes to read: `len` is 0 or `F` is zero-sized).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<F> DerefMut for AlignedVec<F> {
    fn deref_mut(&mut self) -> &mut [F] {
        // SAFETY: as in `deref`, and `&mut self` is unique.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<F> Drop for AlignedVec<F> {
    fn drop(&mut self) {
        if let Some(layout) = layout::<F>(self.len) {
            // SAFETY: allocated in `zeroed` with this layout; floats need no drop.
            unsafe { dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_cache_line_and_holds_zeros() {
        for len in [1usize, 7, 64, 100_000] {
            let mut v = AlignedVec::<f32>::zeroed(len);
            assert_eq!(v.as_ptr() as usize % ALIGN, 0, "len {len}");
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|&x| x == 0.0));
            v[len - 1] = 2.5;
            assert_eq!(v[len - 1], 2.5);
        }
        let v = AlignedVec::<f64>::zeroed(3);
        assert_eq!(v.as_ptr() as usize % ALIGN, 0);
    }

    #[test]
    fn an_empty_buffer_allocates_nothing() {
        let v = AlignedVec::<f64>::zeroed(0);
        assert!(v.is_empty());
        assert_eq!(&*v, &[] as &[f64]);
    }
}
