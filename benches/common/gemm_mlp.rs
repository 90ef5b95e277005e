//! The hand-written *minibatch* baseline a careful engineer would write with a
//! well-kept GEMM crate: a two-layer MLP (`dense(x, H, act)`, `dense(h, O, identity)`,
//! softmax cross-entropy) trained with plain SGD on a block of samples, every layer a
//! `matrixmultiply` sgemm/dgemm call over the block. Used by `benches/wide.rs`
//! (64-32-10 sigmoid, f64, batch 32) and `benches/mnist.rs` (784-128-10 ReLU, f32,
//! batch 64).
//!
//! The algebra is the `network!`'s (and the per-sample hand-written loops'): the same
//! flat parameter vector in the generated layout (`h.weight` row-major `[H][I]`,
//! `h.bias`, `z.weight` `[O][H]`, `z.bias`), loss `-sum_c t_c (z_c - lse)` with
//! `dL/dz_c = softmax_c * sum(t) - t_c`, mean loss and update `p -= lr/n * g`, the
//! same as the generated `sgd_step_batch`. For one block of n samples, X (n x I):
//!
//! ```text
//! H  = act(X W1ᵀ + b1)        gemm, bias pre-filled (beta = 1)
//! Z  = H W2ᵀ + b2             gemm
//! dZ = softmax(Z) sum(t) - T  (n x O), loss
//! dH = (dZ W2) ⊙ act'(H)      gemm, with the old W2
//! W2 -= lr/n dZᵀ H            gemm into the weights (alpha = -lr/n, beta = 1)
//! W1 -= lr/n dHᵀ X            gemm into the weights
//! b  -= lr/n column sums
//! ```
//!
//! Writing the weight-gradient products straight into the weights is what a careful
//! engineer does for plain SGD: no gradient buffer to zero, read back and apply.
#![allow(dead_code)] // each bench uses part of it

/// The element type: f32 (sgemm) or f64 (dgemm).
pub trait GemmFloat:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
{
    const ZERO: Self;
    const ONE: Self;
    fn from_usize(n: usize) -> Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    /// `C = alpha A B + beta C`, row-major, `A` given by its strides.
    ///
    /// # Safety
    /// As `matrixmultiply::{s,d}gemm`: the pointers and strides describe `m x k`,
    /// `k x n` and `m x n` matrices inside their allocations.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! gemm_float {
    ($t:ty, $gemm:path) => {
        impl GemmFloat for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            unsafe fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded from the caller.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}
gemm_float!(f32, matrixmultiply::sgemm);
gemm_float!(f64, matrixmultiply::dgemm);

/// The hidden layer's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Sigmoid,
    Relu,
}

/// A two-layer MLP with its parameters in the generated layout and the block's
/// scratch matrices (sized for the largest block seen).
#[derive(Clone, Debug)]
pub struct GemmMlp<F> {
    pub inputs: usize,
    pub hidden: usize,
    pub outputs: usize,
    pub act: Act,
    /// `w1 [H][I], b1 [H], w2 [O][H], b2 [O]`, flat.
    pub params: Vec<F>,
    h: Vec<F>,
    z: Vec<F>,
    dh: Vec<F>,
    /// Column sums of dZ / dH (the bias gradients).
    bsum: Vec<F>,
}

/// `sums[j] = sum_i m[i][j]` of a row-major matrix with `cols` columns.
fn column_sums<F: GemmFloat>(m: &[F], cols: usize, sums: &mut Vec<F>) {
    sums.clear();
    sums.resize(cols, F::ZERO);
    for row in m.chunks_exact(cols) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
}

/// Row-major strides of a matrix with `cols` columns.
fn rm(cols: usize) -> (isize, isize) {
    (cols as isize, 1)
}

/// Strides of the transpose of a row-major matrix with `cols` columns.
fn tr(cols: usize) -> (isize, isize) {
    (1, cols as isize)
}

impl<F: GemmFloat> GemmMlp<F> {
    pub fn new(inputs: usize, hidden: usize, outputs: usize, act: Act, params: &[F]) -> Self {
        assert_eq!(
            params.len(),
            hidden * inputs + hidden + outputs * hidden + outputs,
            "parameter count"
        );
        GemmMlp {
            inputs,
            hidden,
            outputs,
            act,
            params: params.to_vec(),
            h: Vec::new(),
            z: Vec::new(),
            dh: Vec::new(),
            bsum: Vec::new(),
        }
    }

    /// Offsets of w1, b1, w2, b2 in `params`.
    fn offsets(&self) -> (usize, usize, usize, usize) {
        let (i, h, o) = (self.inputs, self.hidden, self.outputs);
        let b1 = h * i;
        let w2 = b1 + h;
        (0, b1, w2, w2 + o * h)
    }

    /// One plain-SGD step on the block `x` (n rows of `inputs`), `t` (n rows of
    /// `outputs` targets, summing to 1 for a classification); returns the mean loss
    /// before the step.
    pub fn sgd_step_batch(&mut self, x: &[F], t: &[F], lr: F) -> F {
        let (ni, nh, no) = (self.inputs, self.hidden, self.outputs);
        let n = x.len() / ni;
        debug_assert_eq!(x.len(), n * ni);
        debug_assert_eq!(t.len(), n * no);
        self.h.resize(n * nh, F::ZERO);
        self.z.resize(n * no, F::ZERO);
        self.dh.resize(n * nh, F::ZERO);
        let (ow1, ob1, ow2, ob2) = self.offsets();
        let (hm, zm, dhm) = (
            &mut self.h[..n * nh],
            &mut self.z[..n * no],
            &mut self.dh[..n * nh],
        );
        let p = &mut self.params;

        // H = act(X W1ᵀ + b1)
        for row in hm.chunks_exact_mut(nh) {
            row.copy_from_slice(&p[ob1..ob1 + nh]);
        }
        let ((rsx, csx), (rsw1t, csw1t), (rsh, csh)) = (rm(ni), tr(ni), rm(nh));
        // SAFETY: X is n x I, W1ᵀ is I x H (W1 is H x I row-major), H is n x H.
        unsafe {
            F::gemm(
                n,
                ni,
                nh,
                F::ONE,
                x.as_ptr(),
                rsx,
                csx,
                p[ow1..].as_ptr(),
                rsw1t,
                csw1t,
                F::ONE,
                hm.as_mut_ptr(),
                rsh,
                csh,
            );
        }
        match self.act {
            Act::Sigmoid => hm
                .iter_mut()
                .for_each(|v| *v = F::ONE / (F::ONE + (F::ZERO - *v).exp())),
            Act::Relu => hm.iter_mut().for_each(|v| {
                if *v <= F::ZERO {
                    *v = F::ZERO
                }
            }),
        }

        // Z = H W2ᵀ + b2
        for row in zm.chunks_exact_mut(no) {
            row.copy_from_slice(&p[ob2..ob2 + no]);
        }
        let ((rsw2t, csw2t), (rsz, csz)) = (tr(nh), rm(no));
        // SAFETY: H is n x H, W2ᵀ is H x O, Z is n x O.
        unsafe {
            F::gemm(
                n,
                nh,
                no,
                F::ONE,
                hm.as_ptr(),
                rsh,
                csh,
                p[ow2..].as_ptr(),
                rsw2t,
                csw2t,
                F::ONE,
                zm.as_mut_ptr(),
                rsz,
                csz,
            );
        }

        // Stable log-softmax, loss, and dZ = softmax * sum(t) - t in place of Z.
        let mut loss = F::ZERO;
        for (z, t) in zm.chunks_exact_mut(no).zip(t.chunks_exact(no)) {
            let mut m = z[0];
            for &v in &z[1..] {
                if v > m {
                    m = v;
                }
            }
            let (mut se, mut st) = (F::ZERO, F::ZERO);
            for (v, &tc) in z.iter_mut().zip(t) {
                let zc = *v;
                *v = (zc - m).exp();
                se += *v;
                st += tc;
                loss -= tc * (zc - m);
            }
            loss += st * se.ln();
            let scale = st / se;
            for (v, &tc) in z.iter_mut().zip(t) {
                *v = *v * scale - tc;
            }
        }
        let dz: &[F] = zm;

        // dH = (dZ W2) ⊙ act'(H), with the old W2.
        let (rsw2, csw2) = rm(nh);
        // SAFETY: dZ is n x O, W2 is O x H, dH is n x H.
        unsafe {
            F::gemm(
                n,
                no,
                nh,
                F::ONE,
                dz.as_ptr(),
                rsz,
                csz,
                p[ow2..].as_ptr(),
                rsw2,
                csw2,
                F::ZERO,
                dhm.as_mut_ptr(),
                rsh,
                csh,
            );
        }
        match self.act {
            Act::Sigmoid => dhm
                .iter_mut()
                .zip(hm.iter())
                .for_each(|(d, &h)| *d *= h * (F::ONE - h)),
            Act::Relu => dhm.iter_mut().zip(hm.iter()).for_each(|(d, &h)| {
                if h <= F::ZERO {
                    *d = F::ZERO
                }
            }),
        }

        let s = lr / F::from_usize(n);
        let neg = F::ZERO - s;
        // W2 -= s dZᵀ H; b2 -= s colsum(dZ)
        let ((rsdzt, csdzt), (rsw2c, csw2c)) = (tr(no), rm(nh));
        // SAFETY: dZᵀ is O x n, H is n x H, W2 is O x H.
        unsafe {
            F::gemm(
                no,
                n,
                nh,
                neg,
                dz.as_ptr(),
                rsdzt,
                csdzt,
                hm.as_ptr(),
                rsh,
                csh,
                F::ONE,
                p[ow2..].as_mut_ptr(),
                rsw2c,
                csw2c,
            );
        }
        column_sums(dz, no, &mut self.bsum);
        for (b, &g) in p[ob2..ob2 + no].iter_mut().zip(&self.bsum) {
            *b -= s * g;
        }
        // W1 -= s dHᵀ X; b1 -= s colsum(dH)
        let ((rsdht, csdht), (rsw1, csw1)) = (tr(nh), rm(ni));
        // SAFETY: dHᵀ is H x n, X is n x I, W1 is H x I.
        unsafe {
            F::gemm(
                nh,
                n,
                ni,
                neg,
                dhm.as_ptr(),
                rsdht,
                csdht,
                x.as_ptr(),
                rsx,
                csx,
                F::ONE,
                p[ow1..].as_mut_ptr(),
                rsw1,
                csw1,
            );
        }
        column_sums(dhm, nh, &mut self.bsum);
        for (b, &g) in p[ob1..ob1 + nh].iter_mut().zip(&self.bsum) {
            *b -= s * g;
        }
        loss / F::from_usize(n)
    }
}
