//! `#[symnn(...)]` options on the network's struct, consumed by the macro (the emitter
//! drops them from the attributes it passes through).

use syn::{Attribute, LitInt, LitStr};

use crate::lower::LOOP_THRESHOLD;
use crate::resolved::DerivationView;
use crate::tensor::TENSOR_THRESHOLD;

/// Whether an attribute is a `#[symnn(...)]` option.
pub fn is_option(attr: &Attribute) -> bool {
    attr.path().is_ident("symnn")
}

/// The `#[symnn(...)]` options of a network.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// `tensor_threshold = N`, else [`TENSOR_THRESHOLD`].
    pub tensor_threshold: u64,
    /// `derivation = "matrix" | "elements"`, else [`DerivationView::Matrix`].
    pub derivation: DerivationView,
    /// `loop_threshold = N`, else [`LOOP_THRESHOLD`].
    pub loop_threshold: u64,
}

/// The options of `attrs`. Unknown options and malformed values are spanned errors in
/// `errors`.
pub fn options(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> Options {
    let mut options = Options {
        tensor_threshold: TENSOR_THRESHOLD,
        derivation: DerivationView::default(),
        loop_threshold: LOOP_THRESHOLD,
    };
    for attr in attrs.iter().filter(|a| is_option(a)) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("tensor_threshold") {
                let value: LitInt = meta.value()?.parse()?;
                options.tensor_threshold = value.base10_parse::<u64>().map_err(|_| {
                    syn::Error::new(
                        value.span(),
                        "`tensor_threshold` must be a non-negative integer (multiply-adds \
                         per product, or elements per map)",
                    )
                })?;
                Ok(())
            } else if meta.path.is_ident("loop_threshold") {
                let value: LitInt = meta.value()?.parse()?;
                options.loop_threshold = value.base10_parse::<u64>().map_err(|_| {
                    syn::Error::new(
                        value.span(),
                        "`loop_threshold` must be a non-negative integer (iterations times \
                         the body's operations; 0: every loop that can be a loop is one)",
                    )
                })?;
                Ok(())
            } else if meta.path.is_ident("derivation") {
                let value: LitStr = meta.value()?.parse()?;
                options.derivation = match value.value().as_str() {
                    "matrix" => DerivationView::Matrix,
                    "elements" => DerivationView::Elements,
                    _ => {
                        return Err(syn::Error::new(
                            value.span(),
                            "`derivation` is `\"matrix\"` (the default: `dense` layers and \
                             large products as matrix formulas) or `\"elements\"` (one line \
                             per element)",
                        ))
                    }
                };
                Ok(())
            } else {
                Err(meta.error(
                    "unknown symnn option; the options are `tensor_threshold = N` \
                     (0: every array operation as loops; a number above the largest \
                     layer: everything unrolled), `loop_threshold = N` (0: every `for` \
                     that can be a Rust loop is one; a huge number: every `for` unrolled) \
                     and `derivation = \"elements\"` (per-element derivation lines)",
                ))
            }
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    options
}
