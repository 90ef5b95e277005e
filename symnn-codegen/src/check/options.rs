//! `#[symnn(...)]` options on the network's struct, consumed by the macro (the emitter
//! drops them from the attributes it passes through).

use syn::{Attribute, LitInt};

use crate::tensor::TENSOR_THRESHOLD;

/// Whether an attribute is a `#[symnn(...)]` option.
pub fn is_option(attr: &Attribute) -> bool {
    attr.path().is_ident("symnn")
}

/// The tensor threshold: `#[symnn(tensor_threshold = N)]`, else [`TENSOR_THRESHOLD`].
/// Unknown options and malformed values are spanned errors in `errors`.
pub fn tensor_threshold(attrs: &[Attribute], errors: &mut Vec<syn::Error>) -> u64 {
    let mut threshold = TENSOR_THRESHOLD;
    for attr in attrs.iter().filter(|a| is_option(a)) {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("tensor_threshold") {
                let value: LitInt = meta.value()?.parse()?;
                threshold = value.base10_parse::<u64>().map_err(|_| {
                    syn::Error::new(
                        value.span(),
                        "`tensor_threshold` must be a non-negative integer (multiply-adds \
                         per product, or elements per map)",
                    )
                })?;
                Ok(())
            } else {
                Err(meta.error(
                    "unknown symnn option; the one option is `tensor_threshold = N` \
                     (0: every array operation as loops; a number above the largest \
                     layer: everything unrolled)",
                ))
            }
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    threshold
}
