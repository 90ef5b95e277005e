use core::fmt::{Debug, Display};
use core::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// The element types a network can be generated for: `f32` and `f64`.
///
/// Generated code uses the concrete type directly; this trait is for generic code
/// around it (optimizers, training loops, checkpoints).
pub trait Float:
    Copy
    + Debug
    + Display
    + Default
    + PartialEq
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
    /// The type's name, `"f32"` or `"f64"`.
    const NAME: &'static str;
    /// Converts from `f64`, rounding to nearest for `f32`.
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `self^n`.
    fn powi(self, n: i32) -> Self;
    /// `self^y`.
    fn powf(self, y: Self) -> Self;
    /// Larger of the two (the non-NaN one if one is NaN).
    fn max(self, other: Self) -> Self;
    /// Smaller of the two (the non-NaN one if one is NaN).
    fn min(self, other: Self) -> Self;
    /// Neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Sine.
    fn sin(self) -> Self;
    /// Cosine.
    fn cos(self) -> Self;
    /// `ln(1 + self)`, accurate near 0.
    fn ln_1p(self) -> Self;
}

/// One transcendental method: std's inherent method (the platform's libm, exactly what
/// `x.exp()` runs) with `std`, the `libm` crate's function without it. Always inlined,
/// so `<f64 as Float>::exp(x)` in generated code costs what `x.exp()` costs.
macro_rules! libm_method {
    ($(#[$doc:meta])* $t:ident, $method:ident, $libm:ident ($($arg:ident),*)) => {
        $(#[$doc])*
        #[inline(always)]
        fn $method(self $(, $arg: Self)*) -> Self {
            #[cfg(feature = "std")]
            {
                $t::$method(self $(, $arg)*)
            }
            #[cfg(all(not(feature = "std"), feature = "libm"))]
            {
                libm::$libm(self $(, $arg)*)
            }
            // (Neither: lib.rs's `compile_error!` says what to do; this only keeps
            // the error from being buried under follow-up ones.)
            #[cfg(not(any(feature = "std", feature = "libm")))]
            {
                $(let _ = $arg;)*
                self
            }
        }
    };
}

macro_rules! impl_float {
    ($t:ident, $sqrt:ident, $exp:ident, $ln:ident, $powf:ident, $tanh:ident, $sin:ident,
     $cos:ident, $ln_1p:ident) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = stringify!($t);
            #[inline]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            libm_method!($t, sqrt, $sqrt(/* self */));
            libm_method!($t, exp, $exp());
            libm_method!($t, ln, $ln());
            libm_method!($t, powf, $powf(y));
            libm_method!($t, tanh, $tanh());
            libm_method!($t, sin, $sin());
            libm_method!($t, cos, $cos());
            libm_method!($t, ln_1p, $ln_1p());
            #[inline(always)]
            fn powi(self, n: i32) -> Self {
                #[cfg(feature = "std")]
                {
                    $t::powi(self, n)
                }
                #[cfg(not(feature = "std"))]
                {
                    powi_by_squaring!(self, n)
                }
            }
            // abs, max, min and is_finite are in core.
            #[inline(always)]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                $t::min(self, other)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
        }
    };
}

/// `x^n` by repeated squaring, the algorithm (and so the rounding) of compiler-rt's
/// `__powidf2`, which std's `powi` calls for a non-constant `n` (LLVM expands a
/// constant `n` into the same sequence of multiplications).
#[cfg(not(feature = "std"))]
macro_rules! powi_by_squaring {
    ($x:expr, $n:expr) => {{
        let (mut a, n) = ($x, $n);
        let mut b = n.unsigned_abs();
        let mut r = 1.0;
        loop {
            if b & 1 != 0 {
                r *= a;
            }
            b /= 2;
            if b == 0 {
                break;
            }
            a *= a;
        }
        if n < 0 {
            1.0 / r
        } else {
            r
        }
    }};
}

impl_float!(f32, sqrtf, expf, logf, powf, tanhf, sinf, cosf, log1pf);
impl_float!(f64, sqrt, exp, log, pow, tanh, sin, cos, log1p);
