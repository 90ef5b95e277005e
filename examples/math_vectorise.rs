//! Checks that `symnn::math` vectorises: one exported function per math function and
//! type, applying it to a `[f64; 8]` / `[f32; 16]`, built twice, for the default target
//! (SSE2) and with `#[target_feature(enable = "avx2,fma")]`.
//!
//! Running it checks the vector results against the scalar functions. The point is the
//! machine code; inspect it with (docs/NUMERICS.md):
//!
//! ```text
//! cargo build --release --example math_vectorise
//! objdump -d --no-show-raw-insn target/release/examples/math_vectorise | awk '
//!   /^[0-9a-f]+ <[a-z_0-9]+_f(32|64)_(sse2|avx2)>:/ {name = $2; next}
//!   name && /^$/ {print name, "ymm", y+0, "xmm", x+0, "packed", p+0, "scalar", s+0, "calls", c+0
//!                 name = ""; x = y = c = p = s = 0}
//!   name {x += /xmm/; y += /ymm/; c += /call/; p += /(add|sub|mul|div)p[sd]/; s += /(add|sub|mul|div)s[sd]/}'
//! ```
//!
//! Every `*_avx2` function should use `ymm` registers, every `*_sse2` one `xmm`
//! registers, all arithmetic should be packed (`mulpd`, `vdivps`, ...; `scalar 0`) and
//! none should contain a `call`.
use symnn::math;

macro_rules! kernels {
    ($($sse:ident $avx:ident $f:ident $t:ty, $n:literal;)*) => {
        $(
            #[no_mangle]
            #[inline(never)]
            /// The default-target (SSE2) loop.
            pub fn $sse(v: &mut [$t; $n]) {
                for x in v.iter_mut() {
                    *x = math::$f(*x);
                }
            }

            /// The AVX2 loop.
            ///
            /// # Safety
            /// The CPU must support AVX2 and FMA.
            #[no_mangle]
            #[inline(never)]
            #[target_feature(enable = "avx2,fma")]
            pub unsafe fn $avx(v: &mut [$t; $n]) {
                for x in v.iter_mut() {
                    *x = math::$f(*x);
                }
            }
        )*

        fn check() {
            $(
                let start: [$t; $n] = core::array::from_fn(|i| i as $t * 0.73 - 3.1);
                let mut a = start;
                $sse(std::hint::black_box(&mut a));
                for (x, y) in start.iter().zip(&a) {
                    assert!(math::$f(*x).to_bits() == y.to_bits() || y.is_nan());
                }
                #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    let mut b = start;
                    // SAFETY: AVX2 and FMA were just detected.
                    unsafe { $avx(std::hint::black_box(&mut b)) };
                    for (x, y) in a.iter().zip(&b) {
                        assert!(x.to_bits() == y.to_bits() || y.is_nan());
                    }
                }
                println!("{:>8}::<{}>: vector == scalar", stringify!($f), stringify!($t));
            )*
        }
    };
}

kernels! {
    exp_f64_sse2 exp_f64_avx2 exp f64, 8;
    ln_f64_sse2 ln_f64_avx2 ln f64, 8;
    ln_1p_f64_sse2 ln_1p_f64_avx2 ln_1p f64, 8;
    tanh_f64_sse2 tanh_f64_avx2 tanh f64, 8;
    sigmoid_f64_sse2 sigmoid_f64_avx2 sigmoid f64, 8;
    softplus_f64_sse2 softplus_f64_avx2 softplus f64, 8;
    exp_f32_sse2 exp_f32_avx2 exp f32, 16;
    ln_f32_sse2 ln_f32_avx2 ln f32, 16;
    ln_1p_f32_sse2 ln_1p_f32_avx2 ln_1p f32, 16;
    tanh_f32_sse2 tanh_f32_avx2 tanh f32, 16;
    sigmoid_f32_sse2 sigmoid_f32_avx2 sigmoid f32, 16;
    softplus_f32_sse2 softplus_f32_avx2 softplus f32, 16;
}

fn main() {
    check();
}
