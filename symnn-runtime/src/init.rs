//! Deterministic parameter initialisation used by the generated `new()` / `with_seed()`.
//!
//! The scheme, applied to parameter groups in declaration order:
//!
//! | parameter | initial value |
//! |---|---|
//! | declared with a value (`param w = 0.5`) | that value (draws nothing from the stream) |
//! | `dense` weight `[units][fan_in]` | Glorot-uniform: `U(-a, a)`, `a = sqrt(6 / (fan_in + units))` |
//! | `dense` bias | `0` |
//! | other matrix `[rows][cols]` | Glorot-uniform with `fan_in = cols`, `fan_out = rows` |
//! | other scalar or vector | `U(-0.1, 0.1)` |
//!
//! Random values come from one [`SplitMix64`] stream seeded with the seed (`new()` uses
//! seed [`DEFAULT_SEED`]), consumed element by element in parameter order, so the same
//! seed always gives bit-identical parameters on every platform.

/// The seed `new()` uses.
pub const DEFAULT_SEED: u64 = 0x5EED_0000_0000_0000;

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, fast, and good enough to break
/// symmetry between weights. Not for cryptography.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A stream determined by `seed`.
    pub const fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[-a, a)`.
    pub fn symmetric(&mut self, a: f64) -> f64 {
        (2.0 * self.next_f64() - 1.0) * a
    }

    /// Glorot (Xavier) uniform for a weight with the given fans.
    pub fn glorot_uniform(&mut self, fan_in: usize, fan_out: usize) -> f64 {
        // (Through `Float`: std's `sqrt` with std, libm's without; both correctly rounded.)
        self.symmetric(crate::Float::sqrt(6.0 / (fan_in + fan_out) as f64))
    }
}

/// How one parameter group without a declared value is initialised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scheme {
    /// Glorot-uniform with these fans.
    Glorot {
        /// Number of inputs of the layer (columns).
        fan_in: usize,
        /// Number of outputs of the layer (rows).
        fan_out: usize,
    },
    /// Every element zero (dense biases).
    Zero,
    /// `U(-a, a)`.
    Uniform(f64),
}

impl Scheme {
    /// The scheme for an undeclared, non-`dense` parameter of this shape.
    pub fn for_shape(shape: &[usize]) -> Scheme {
        match *shape {
            [rows, cols] => Scheme::Glorot {
                fan_in: cols,
                fan_out: rows,
            },
            _ => Scheme::Uniform(0.1),
        }
    }

    /// Fills `out` from `rng`.
    pub fn fill<F: crate::Float>(self, rng: &mut SplitMix64, out: &mut [F]) {
        for x in out {
            *x = F::from_f64(match self {
                Scheme::Glorot { fan_in, fan_out } => rng.glorot_uniform(fan_in, fan_out),
                Scheme::Zero => 0.0,
                Scheme::Uniform(a) => rng.symmetric(a),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_sequence() {
        // Reference values of SplitMix64 seeded with 1234567 (from the published C code).
        let mut rng = SplitMix64::new(1234567);
        assert_eq!(rng.next_u64(), 6457827717110365317);
        assert_eq!(rng.next_u64(), 3203168211198807973);
    }

    #[test]
    fn glorot_stays_in_bounds_and_is_deterministic() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let bound = (6.0f64 / 10.0).sqrt();
        for _ in 0..1000 {
            let x = a.glorot_uniform(8, 2);
            assert!(x.abs() <= bound);
            assert_eq!(x.to_bits(), b.glorot_uniform(8, 2).to_bits());
        }
    }
}
