//! Names and literals: the one hygiene rule for emitted names, and float literals.
//!
//! Every local the generated code declares goes through [`local`]: a `__` prefix and
//! `Span::mixed_site()`. Mixed-site hygiene keeps locals apart from user *variables*,
//! but a pattern still resolves *constants* at the call site ("let bindings cannot
//! shadow constants"), so the prefix keeps a user's `const t3` from colliding. The
//! public methods' parameter names ([`argument`]) are API and unprefixed.

use proc_macro2::{Literal, Span, TokenStream};
use quote::quote;

use crate::resolved::FloatType;

/// The local `__{name}`, hygienic (see the module doc).
pub fn local(name: &str) -> syn::Ident {
    syn::Ident::new(&format!("__{name}"), Span::mixed_site())
}

/// A public method's parameter (`input`, `target`, `lr`, `grad`, `seed`, `name`, and
/// `output` of `Model::forward_slice`): API, so not prefixed.
pub fn argument(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

/// An index or length as an unsuffixed literal.
pub fn index(i: usize) -> Literal {
    Literal::usize_unsuffixed(i)
}

/// The generated code's float type.
#[derive(Clone, Copy)]
pub struct Float(pub FloatType);

impl Float {
    /// `f32` or `f64`.
    pub fn ty(self) -> TokenStream {
        match self.0 {
            FloatType::F32 => quote!(f32),
            FloatType::F64 => quote!(f64),
        }
    }

    /// Bytes per value: the one place the float type's size is spelt (lane counts,
    /// block sizes and stack estimates derive from it).
    pub fn bytes(self) -> usize {
        match self.0 {
            FloatType::F32 => 4,
            FloatType::F64 => 8,
        }
    }

    /// A literal of the float type; non-finite values through the type's constants.
    pub fn literal(self, v: f64) -> TokenStream {
        let ty = self.ty();
        // Round to the float type first: 1e40 is finite in f64 but infinite in f32.
        let v = match self.0 {
            FloatType::F32 => f64::from(v as f32),
            FloatType::F64 => v,
        };
        if v.is_nan() {
            return quote!(#ty::NAN);
        }
        // A folded constant that *is* e, π, ln 2, ... must be written by name: clippy's
        // deny-by-default `approx_constant` rejects the literal in the user's crate.
        if let Some(name) = named_constant(v.abs(), self.0) {
            let path = quote!(::core::#ty::consts::#name);
            return if v < 0.0 { quote!((-#path)) } else { path };
        }
        if v.is_infinite() {
            return if v > 0.0 {
                quote!(#ty::INFINITY)
            } else {
                quote!(#ty::NEG_INFINITY)
            };
        }
        let lit = match self.0 {
            FloatType::F32 => Literal::f32_suffixed(v.abs() as f32),
            FloatType::F64 => Literal::f64_suffixed(v.abs()),
        };
        if v.is_sign_negative() {
            quote!((-#lit))
        } else {
            quote!(#lit)
        }
    }
}

/// The name in `core::{f32,f64}::consts` of a value equal to one of them.
fn named_constant(v: f64, float: FloatType) -> Option<syn::Ident> {
    use std::f64::consts as c;
    const NAMED: [(&str, f64); 19] = [
        ("E", c::E),
        ("FRAC_1_PI", c::FRAC_1_PI),
        ("FRAC_1_SQRT_2", c::FRAC_1_SQRT_2),
        ("FRAC_2_PI", c::FRAC_2_PI),
        ("FRAC_2_SQRT_PI", c::FRAC_2_SQRT_PI),
        ("FRAC_PI_2", c::FRAC_PI_2),
        ("FRAC_PI_3", c::FRAC_PI_3),
        ("FRAC_PI_4", c::FRAC_PI_4),
        ("FRAC_PI_6", c::FRAC_PI_6),
        ("FRAC_PI_8", c::FRAC_PI_8),
        ("LN_10", c::LN_10),
        ("LN_2", c::LN_2),
        ("LOG10_E", c::LOG10_E),
        ("LOG2_E", c::LOG2_E),
        ("LOG2_10", c::LOG2_10),
        ("LOG10_2", c::LOG10_2),
        ("PI", c::PI),
        ("SQRT_2", c::SQRT_2),
        ("TAU", c::TAU),
    ];
    let round = |x: f64| match float {
        FloatType::F32 => f64::from(x as f32),
        FloatType::F64 => x,
    };
    NAMED
        .iter()
        .find(|(_, value)| round(*value) == v)
        .map(|(name, _)| syn::Ident::new(name, Span::call_site()))
}

/// `__T<n>`
pub fn tensor_name(n: u32) -> syn::Ident {
    local(&format!("T{n}"))
}

/// `__l<j>`
pub fn lane_name(j: usize) -> syn::Ident {
    local(&format!("l{j}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locals_are_prefixed() {
        // (The span cannot be told apart outside a proc macro; tests/hygiene.rs checks
        // it in a real expansion.)
        assert_eq!(local("t3").to_string(), "__t3");
        assert_eq!(argument("input").to_string(), "input");
    }

    #[test]
    fn literals_round_to_the_float_type_and_name_constants() {
        let f32 = Float(FloatType::F32);
        assert_eq!(f32.literal(1e40).to_string(), "f32 :: INFINITY");
        assert_eq!(
            f32.literal(-std::f64::consts::PI).to_string(),
            "(- :: core :: f32 :: consts :: PI)"
        );
        assert_eq!(Float(FloatType::F64).literal(-2.0).to_string(), "(- 2f64)");
    }
}
