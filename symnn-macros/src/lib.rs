//! The `network!` procedural macro. All the work happens in [`symnn_codegen`], a plain
//! library so that it can be unit-tested and benchmarked outside a proc-macro context;
//! use the macro through the `symnn` facade crate.

use proc_macro::TokenStream;

/// Defines a neural network struct from the symnn DSL. See the `symnn` crate docs.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    symnn_codegen::expand(input.into()).into()
}
