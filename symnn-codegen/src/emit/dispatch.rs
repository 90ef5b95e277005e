//! The run-time ISA dispatch of a generated method: an `avx2,fma` copy of its body when
//! `symnn::simd::isa()` allows (one cached, relaxed load), else the portable body; with
//! [`Copies::Avx512`], an AVX-512 copy first.
//! Without std, `isa()` is the compile-time level, so the choice folds away.
//!
//! The body is an `#[inline(always)]` inherent method, so it is compiled twice: into the
//! `#[target_feature]` function and into the portable path. (A closure would not do:
//! one inside a `#[target_feature]` function is compiled without the features.)

use proc_macro2::TokenStream;
use quote::quote;

use super::tokens::local;

/// How the dispatched body borrows the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    /// `&self`
    Shared,
    /// `&mut self` (`sgd_step`)
    Mut,
}

/// Which copies of a body are compiled besides the portable one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Copies {
    /// `avx2,fma`.
    Avx2,
    /// AVX-512 (F/BW/DQ/VL) first, then `avx2,fma`: for the tensor tier's blocks, whose
    /// maps and `Lanes<F, B>` code are 512 bits wide.
    Avx512,
}

/// A method's arguments after the receiver, and its return type.
pub struct Signature {
    /// `(name, type)` of each argument.
    pub args: Vec<(syn::Ident, TokenStream)>,
    /// The return type (`None`: `()`).
    pub returns: Option<TokenStream>,
}

/// The body-holding item `fn body_fn(&self, patterns: types) -> returns { body }`
/// (a pattern is an argument's name, or `_` where the body does not read it).
pub fn body_item(
    body_fn: &syn::Ident,
    receiver: Receiver,
    patterns: &[TokenStream],
    signature: &Signature,
    body: &TokenStream,
) -> TokenStream {
    let types = signature.args.iter().map(|(_, ty)| ty);
    let returns = signature.returns.as_ref().map(|ty| quote!(-> #ty));
    let receiver = match receiver {
        Receiver::Shared => quote!(&self),
        Receiver::Mut => quote!(&mut self),
    };
    quote! {
        #[inline(always)]
        fn #body_fn(#receiver, #(#patterns: #types),*) #returns {
            #body
        }
    }
}

/// The statements that call `body_fn` through the dispatch (the tail of a method).
pub fn call(
    name: &syn::Ident,
    body_fn: &syn::Ident,
    receiver: Receiver,
    signature: &Signature,
    copies: Copies,
) -> TokenStream {
    let (names, types): (Vec<_>, Vec<_>) = signature.args.iter().cloned().unzip();
    let returns = signature.returns.as_ref().map(|ty| quote!(-> #ty));
    let (net, avx2, avx512) = (local("net"), local("avx2"), local("avx512"));
    let net_ty = match receiver {
        Receiver::Shared => quote!(&#name),
        Receiver::Mut => quote!(&mut #name),
    };
    let avx512_copy = match copies {
        Copies::Avx2 => quote!(),
        Copies::Avx512 => quote! {
            #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
            fn #avx512(#net: #net_ty, #(#names: #types),*) #returns {
                #name::#body_fn(#net, #(#names),*)
            }
            if ::symnn::simd::isa() >= ::symnn::simd::Isa::Avx512 {
                // SAFETY: the CPU has AVX-512 F/BW/DQ/VL, AVX2 and FMA (detected at
                // run time).
                #[allow(unsafe_code)]
                return unsafe { #avx512(self, #(#names),*) };
            }
        },
    };
    quote! {
        #[cfg(target_arch = "x86_64")]
        {
            #avx512_copy
            #[target_feature(enable = "avx2,fma")]
            fn #avx2(#net: #net_ty, #(#names: #types),*) #returns {
                #name::#body_fn(#net, #(#names),*)
            }
            if ::symnn::simd::isa() >= ::symnn::simd::Isa::Avx2Fma {
                // SAFETY: the CPU has AVX2 and FMA (detected at run time).
                #[allow(unsafe_code)]
                return unsafe { #avx2(self, #(#names),*) };
            }
        }
        Self::#body_fn(self, #(#names),*)
    }
}

/// A method's `body` moved into the item `body_fn` (with `attrs` on it, and `patterns`
/// for its arguments), and the statements that reach it through the dispatch:
/// `(call, item)`.
#[allow(clippy::too_many_arguments)] // each distinct; three call sites
pub fn split(
    name: &syn::Ident,
    body_fn: &syn::Ident,
    receiver: Receiver,
    patterns: &[TokenStream],
    signature: &Signature,
    body: &TokenStream,
    attrs: &TokenStream,
    copies: Copies,
) -> (TokenStream, TokenStream) {
    let item = body_item(body_fn, receiver, patterns, signature, body);
    let call = call(name, body_fn, receiver, signature, copies);
    (call, quote!(#attrs #item))
}

/// Each argument's name as a pattern (a body that reads all of them).
pub fn names(signature: &Signature) -> Vec<TokenStream> {
    signature
        .args
        .iter()
        .map(|(name, _)| quote!(#name))
        .collect()
}
