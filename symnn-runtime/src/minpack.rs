//! The dense linear algebra of MINPACK's `lmder` (Moré, Garbow, Hillstrom 1980),
//! ported to Rust in `f64`: `qrfac` (Householder QR with column pivoting), `qrsolv`
//! (the damped least-squares solve by Givens rotations), `lmpar` (the Levenberg
//! parameter), plus a row-block reduction of a tall Jacobian to an `n x n` triangle
//! for problems whose full Jacobian would not fit in memory.
//!
//! Matrices are column-major: element `(i, j)` of an `m x n` matrix `a` with leading
//! dimension `lda` is `a[i + j * lda]`. Index loops follow the Fortran.
#![allow(clippy::needless_range_loop, clippy::too_many_arguments)]

/// The Euclidean norm, computed as a plain sum of squares in `f64` (scaled only
/// when that would over- or underflow, as MINPACK's `enorm` guards against).
pub(crate) fn enorm(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for &v in x {
        s += v * v;
    }
    if s.is_finite() && s > 1e-290 {
        return s.sqrt();
    }
    if s == 0.0 {
        return 0.0;
    }
    // Rescale by the largest magnitude (over- or underflow in the sum of squares).
    let amax = x.iter().fold(0.0f64, |a, &v| a.max(v.abs()));
    if amax == 0.0 || !amax.is_finite() {
        return amax;
    }
    let mut s = 0.0;
    for &v in x {
        let t = v / amax;
        s += t * t;
    }
    amax * s.sqrt()
}

/// A dot product, summed in order as MINPACK's loops do (the NIST digits depend on
/// the rounding of ill-conditioned fits, so the port keeps MINPACK's order).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut s = 0.0;
    for (x, y) in a.iter().zip(b) {
        s += x * y;
    }
    s
}

/// `qrfac` with pivoting: factors the `m x n` matrix `a` (`m >= n`) as `a P = Q R`.
///
/// On return the strict upper triangle of the first `n` rows of `a` holds `R` without
/// its diagonal, which is in `rdiag`; the lower trapezoid holds the Householder
/// vectors (column `j`: rows `j..m`, scaled so the pivot element is the vector's
/// first component). `acnorm` gets the column norms of the original `a`, `ipvt` the
/// permutation (column `j` of `a P` is column `ipvt[j]` of `a`). `wa` is scratch.
pub(crate) fn qrfac(
    m: usize,
    n: usize,
    a: &mut [f64],
    lda: usize,
    ipvt: &mut [usize],
    rdiag: &mut [f64],
    acnorm: &mut [f64],
    wa: &mut [f64],
) {
    let epsmch = f64::EPSILON;
    for j in 0..n {
        acnorm[j] = enorm(&a[j * lda..j * lda + m]);
        rdiag[j] = acnorm[j];
        wa[j] = rdiag[j];
        ipvt[j] = j;
    }
    let minmn = m.min(n);
    for j in 0..minmn {
        // Bring the column of largest remaining norm into the pivot position.
        let mut kmax = j;
        for k in j..n {
            if rdiag[k] > rdiag[kmax] {
                kmax = k;
            }
        }
        if kmax != j {
            for i in 0..m {
                a.swap(i + j * lda, i + kmax * lda);
            }
            rdiag[kmax] = rdiag[j];
            wa[kmax] = wa[j];
            ipvt.swap(j, kmax);
        }
        // The Householder transformation that reduces column j below the diagonal.
        let mut ajnorm = enorm(&a[j + j * lda..m + j * lda]);
        if ajnorm != 0.0 {
            if a[j + j * lda] < 0.0 {
                ajnorm = -ajnorm;
            }
            for i in j..m {
                a[i + j * lda] /= ajnorm;
            }
            a[j + j * lda] += 1.0;
            // Apply it to the remaining columns and update the norms.
            for k in j + 1..n {
                // Columns j and k as disjoint slices (k > j).
                let (left, right) = a.split_at_mut(k * lda);
                let vj = &left[j * lda + j..j * lda + m];
                let ak = &mut right[j..m];
                let temp = dot(vj, ak) / vj[0];
                for (x, v) in ak.iter_mut().zip(vj) {
                    *x -= temp * v;
                }
                if rdiag[k] != 0.0 {
                    let temp = a[j + k * lda] / rdiag[k];
                    rdiag[k] *= (1.0 - temp * temp).max(0.0).sqrt();
                    let ratio = rdiag[k] / wa[k];
                    if 0.05 * ratio * ratio <= epsmch {
                        rdiag[k] = enorm(&a[j + 1 + k * lda..m + k * lda]);
                        wa[k] = rdiag[k];
                    }
                }
            }
        }
        rdiag[j] = -ajnorm;
    }
}

/// After [`qrfac`]: overwrites `b` (length `m`) with `Qᵀ b` (MINPACK's `qtf` loop).
pub(crate) fn apply_qt(m: usize, n: usize, a: &[f64], lda: usize, b: &mut [f64]) {
    for j in 0..n.min(m) {
        let ajj = a[j + j * lda];
        if ajj != 0.0 {
            let mut sum = 0.0;
            for i in j..m {
                sum += a[i + j * lda] * b[i];
            }
            let temp = -sum / ajj;
            for i in j..m {
                b[i] += a[i + j * lda] * temp;
            }
        }
    }
}

/// `qrsolv`: given the `n x n` upper triangle `R` of `a P = Q R` (in `r`, leading
/// dimension `ldr`), the permutation, a diagonal `diag` and `qtb = Qᵀ b`, solves
/// `min ‖[a; D] x − [b; 0]‖` in the least-squares sense. On return the strict lower
/// triangle of `r` holds the transpose of the strict upper triangle of `S`
/// (`Pᵀ(aᵀa + DD)P = SᵀS`) and `sdiag` its diagonal; the upper triangle of `r` is kept.
pub(crate) fn qrsolv(
    n: usize,
    r: &mut [f64],
    ldr: usize,
    ipvt: &[usize],
    diag: &[f64],
    qtb: &[f64],
    x: &mut [f64],
    sdiag: &mut [f64],
    wa: &mut [f64],
) {
    // Copy R and Qᵀb to preserve input and initialise S; save R's diagonal in x.
    for j in 0..n {
        for i in j..n {
            r[i + j * ldr] = r[j + i * ldr];
        }
        x[j] = r[j + j * ldr];
        wa[j] = qtb[j];
    }
    // Eliminate the diagonal matrix D with Givens rotations.
    for j in 0..n {
        let l = ipvt[j];
        if diag[l] != 0.0 {
            for k in j..n {
                sdiag[k] = 0.0;
            }
            sdiag[j] = diag[l];
            // The rotations modify only one element of Qᵀb beyond the first n.
            let mut qtbpj = 0.0;
            for k in j..n {
                if sdiag[k] == 0.0 {
                    continue;
                }
                let rkk = r[k + k * ldr];
                let (sin, cos);
                if rkk.abs() < sdiag[k].abs() {
                    let cotan = rkk / sdiag[k];
                    sin = 0.5 / (0.25 + 0.25 * cotan * cotan).sqrt();
                    cos = sin * cotan;
                } else {
                    let tan = sdiag[k] / rkk;
                    cos = 0.5 / (0.25 + 0.25 * tan * tan).sqrt();
                    sin = cos * tan;
                }
                r[k + k * ldr] = cos * rkk + sin * sdiag[k];
                let temp = cos * wa[k] + sin * qtbpj;
                qtbpj = -sin * wa[k] + cos * qtbpj;
                wa[k] = temp;
                for i in k + 1..n {
                    let temp = cos * r[i + k * ldr] + sin * sdiag[i];
                    sdiag[i] = -sin * r[i + k * ldr] + cos * sdiag[i];
                    r[i + k * ldr] = temp;
                }
            }
        }
        // Store the diagonal element of S and restore R's.
        sdiag[j] = r[j + j * ldr];
        r[j + j * ldr] = x[j];
    }
    // Solve the triangular system; a singular one gets a least-squares solution.
    let mut nsing = n;
    for j in 0..n {
        if sdiag[j] == 0.0 && nsing == n {
            nsing = j;
        }
        if nsing < n {
            wa[j] = 0.0;
        }
    }
    for k in 0..nsing {
        let j = nsing - 1 - k;
        let mut sum = 0.0;
        for i in j + 1..nsing {
            sum += r[i + j * ldr] * wa[i];
        }
        wa[j] = (wa[j] - sum) / sdiag[j];
    }
    for j in 0..n {
        x[ipvt[j]] = wa[j];
    }
}

/// Scratch for [`lmpar`].
pub(crate) struct LmparWork {
    pub sdiag: Vec<f64>,
    wa1: Vec<f64>,
    wa2: Vec<f64>,
}

impl LmparWork {
    pub(crate) fn new(n: usize) -> Self {
        LmparWork {
            sdiag: vec![0.0; n],
            wa1: vec![0.0; n],
            wa2: vec![0.0; n],
        }
    }
}

/// `lmpar`: the Levenberg–Marquardt parameter `par` such that the solution `x` of
/// `min ‖[a; sqrt(par) D] x − [b; 0]‖` has `‖D x‖` within 10% of `delta` (or `par = 0`
/// if the Gauss–Newton step is already inside), by Moré's safeguarded Newton
/// iteration on `φ(par) = ‖D x(par)‖ − delta` with bounds `parl`, `paru` (at most 10
/// iterations). Returns the new `par`; `x` is the step (`a x ≈ b`, so the LM step
/// is `−x` for `b` = the residual).
pub(crate) fn lmpar(
    n: usize,
    r: &mut [f64],
    ldr: usize,
    ipvt: &[usize],
    diag: &[f64],
    qtb: &[f64],
    delta: f64,
    par: f64,
    x: &mut [f64],
    w: &mut LmparWork,
) -> f64 {
    let dwarf = f64::MIN_POSITIVE;
    let p1 = 0.1;
    let p001 = 0.001;
    let mut par = par;
    let LmparWork { sdiag, wa1, wa2 } = w;
    // The Gauss–Newton direction (least-squares solution if R is singular).
    let mut nsing = n;
    for j in 0..n {
        wa1[j] = qtb[j];
        if r[j + j * ldr] == 0.0 && nsing == n {
            nsing = j;
        }
        if nsing < n {
            wa1[j] = 0.0;
        }
    }
    for k in 0..nsing {
        let j = nsing - 1 - k;
        wa1[j] /= r[j + j * ldr];
        let temp = wa1[j];
        for i in 0..j {
            wa1[i] -= r[i + j * ldr] * temp;
        }
    }
    for j in 0..n {
        x[ipvt[j]] = wa1[j];
    }
    // Evaluate φ at the origin; accept the Gauss–Newton step if it is short enough.
    let mut iter = 0;
    for j in 0..n {
        wa2[j] = diag[j] * x[j];
    }
    let mut dxnorm = enorm(wa2);
    let mut fp = dxnorm - delta;
    if fp <= p1 * delta {
        return 0.0;
    }
    // Lower bound parl from the Newton step (zero if the Jacobian is rank-deficient).
    let mut parl = 0.0;
    if nsing >= n {
        for j in 0..n {
            let l = ipvt[j];
            wa1[j] = diag[l] * (wa2[l] / dxnorm);
        }
        for j in 0..n {
            let mut sum = 0.0;
            for i in 0..j {
                sum += r[i + j * ldr] * wa1[i];
            }
            wa1[j] = (wa1[j] - sum) / r[j + j * ldr];
        }
        let temp = enorm(wa1);
        parl = ((fp / delta) / temp) / temp;
        if !parl.is_finite() {
            parl = 0.0;
        }
    }
    // Upper bound paru.
    for j in 0..n {
        let mut sum = 0.0;
        for i in 0..=j {
            sum += r[i + j * ldr] * qtb[i];
        }
        wa1[j] = sum / diag[ipvt[j]];
    }
    let gnorm = enorm(wa1);
    let mut paru = gnorm / delta;
    if paru == 0.0 {
        paru = dwarf / delta.min(p1);
    }
    // Start inside [parl, paru]; if zero, from the gradient.
    par = par.max(parl).min(paru);
    if par == 0.0 {
        par = gnorm / dxnorm;
    }
    loop {
        iter += 1;
        if par == 0.0 {
            par = dwarf.max(p001 * paru);
        }
        let temp = par.sqrt();
        for j in 0..n {
            wa1[j] = temp * diag[j];
        }
        qrsolv(n, r, ldr, ipvt, wa1, qtb, x, sdiag, wa2);
        for j in 0..n {
            wa2[j] = diag[j] * x[j];
        }
        dxnorm = enorm(wa2);
        let temp = fp;
        fp = dxnorm - delta;
        // Stop if φ is small enough, or parl is zero and φ increased, or 10 iterations.
        if fp.abs() <= p1 * delta || parl == 0.0 && fp <= temp && temp < 0.0 || iter == 10 {
            break;
        }
        // Newton correction.
        for j in 0..n {
            let l = ipvt[j];
            wa1[j] = diag[l] * (wa2[l] / dxnorm);
        }
        for j in 0..n {
            wa1[j] /= sdiag[j];
            let temp = wa1[j];
            for i in j + 1..n {
                wa1[i] -= r[i + j * ldr] * temp;
            }
        }
        let temp = enorm(wa1);
        let parc = ((fp / delta) / temp) / temp;
        if fp > 0.0 {
            parl = parl.max(par);
        }
        if fp < 0.0 {
            paru = paru.min(par);
        }
        par = parl.max(par + parc);
        if !par.is_finite() {
            break;
        }
    }
    if iter == 0 {
        0.0
    } else {
        par
    }
}

/// Folds a block of `b` Jacobian rows (`blk`, column-major `b x n`, leading dimension
/// `b`) and their residuals `rb` into the running `n x n` upper triangle `r` (leading
/// dimension `n`) and `qtf = Qᵀ f` (first `n`), by Householder reflections on the
/// stacked `[R; block]`: afterwards `RᵀR` has grown by `blkᵀblk` and `Rᵀqtf` by
/// `blkᵀrb`, as if the QR had been taken of all rows so far. `blk` and `rb` are
/// destroyed.
pub(crate) fn fold_rows(
    n: usize,
    r: &mut [f64],
    qtf: &mut [f64],
    b: usize,
    blk: &mut [f64],
    rb: &mut [f64],
) {
    for j in 0..n {
        // Householder vector v = [r_jj; blk[.., j]] (rows below j of R are zero).
        let col = &blk[j * b..(j + 1) * b];
        let mut s = enorm(col);
        if s == 0.0 {
            continue;
        }
        let rjj = r[j + j * n];
        s = enorm(&[rjj, s]);
        let alpha = if rjj < 0.0 { -s } else { s };
        // Normalised as in qrfac: v / alpha with 1 added to the pivot.
        let v0 = rjj / alpha + 1.0;
        for i in 0..b {
            blk[i + j * b] /= alpha;
        }
        // Columns k > j.
        for k in j + 1..n {
            let (left, right) = blk.split_at_mut(k * b);
            let vj = &left[j * b..(j + 1) * b];
            let bk = &mut right[..b];
            let temp = (v0 * r[j + k * n] + dot(vj, bk)) / v0;
            r[j + k * n] -= temp * v0;
            for (x, v) in bk.iter_mut().zip(vj) {
                *x -= temp * v;
            }
        }
        // The right-hand side.
        let mut sum = v0 * qtf[j];
        for i in 0..b {
            sum += blk[i + j * b] * rb[i];
        }
        let temp = sum / v0;
        qtf[j] -= temp * v0;
        for i in 0..b {
            rb[i] -= temp * blk[i + j * b];
        }
        r[j + j * n] = -alpha;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_rows_matches_normal_equations() {
        // 7 x 3 matrix folded in blocks of 2, 3, 2: RᵀR = AᵀA and Rᵀqtf = Aᵀb.
        let (m, n) = (7, 3);
        let a: Vec<f64> = (0..m * n)
            .map(|k| ((k * 37 % 11) as f64 - 5.0) / 3.0)
            .collect(); // row-major
        let b: Vec<f64> = (0..m).map(|k| (k as f64).sin()).collect();
        let mut r = vec![0.0; n * n];
        let mut qtf = vec![0.0; n];
        let mut start = 0;
        for bs in [2, 3, 2] {
            let mut blk = vec![0.0; bs * n];
            for i in 0..bs {
                for j in 0..n {
                    blk[i + j * bs] = a[(start + i) * n + j];
                }
            }
            let mut rb = b[start..start + bs].to_vec();
            fold_rows(n, &mut r, &mut qtf, bs, &mut blk, &mut rb);
            start += bs;
        }
        for p in 0..n {
            for q in 0..n {
                let ata: f64 = (0..m).map(|i| a[i * n + p] * a[i * n + q]).sum();
                let rtr: f64 = (0..n).map(|i| r[i + p * n] * r[i + q * n]).sum();
                assert!((ata - rtr).abs() < 1e-12, "{p} {q}: {ata} {rtr}");
            }
            let atb: f64 = (0..m).map(|i| a[i * n + p] * b[i]).sum();
            let rtq: f64 = (0..n).map(|i| r[i + p * n] * qtf[i]).sum();
            assert!((atb - rtq).abs() < 1e-12);
        }
        for j in 0..n {
            for i in j + 1..n {
                assert_eq!(r[i + j * n], 0.0);
            }
        }
    }

    #[test]
    fn qrsolv_solves_damped_least_squares() {
        // min ‖A x − b‖² + ‖D x‖² against the normal equations (AᵀA + D²) x = Aᵀb.
        let (m, n) = (5, 3);
        let a0: Vec<f64> = (0..m * n)
            .map(|k| ((k * 13 % 7) as f64 - 3.0) / 2.0)
            .collect(); // column-major
        let b0: Vec<f64> = (0..m).map(|k| k as f64 - 1.5).collect();
        let d = [0.5, 2.0, 1.0];
        let mut a = a0.clone();
        let (mut ipvt, mut rdiag, mut acnorm, mut wa) =
            (vec![0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        qrfac(m, n, &mut a, m, &mut ipvt, &mut rdiag, &mut acnorm, &mut wa);
        let mut qtb = b0.clone();
        apply_qt(m, n, &a, m, &mut qtb);
        let mut r = vec![0.0; n * n];
        for j in 0..n {
            for i in 0..j {
                r[i + j * n] = a[i + j * m];
            }
            r[j + j * n] = rdiag[j];
        }
        let (mut x, mut sdiag) = (vec![0.0; n], vec![0.0; n]);
        qrsolv(
            n,
            &mut r,
            n,
            &ipvt,
            &d,
            &qtb[..n],
            &mut x,
            &mut sdiag,
            &mut wa,
        );
        for p in 0..n {
            let mut lhs = d[p] * d[p] * x[p];
            for q in 0..n {
                let ata: f64 = (0..m).map(|i| a0[i + p * m] * a0[i + q * m]).sum();
                lhs += ata * x[q];
            }
            let atb: f64 = (0..m).map(|i| a0[i + p * m] * b0[i]).sum();
            assert!((lhs - atb).abs() < 1e-12, "{lhs} {atb}");
        }
    }
}
