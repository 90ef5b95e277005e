//! `impl Default` and `impl symnn::Model`: the runtime's view of the struct, each
//! method forwarding to the inherent one through slices.

use proc_macro2::TokenStream;
use quote::quote;

use super::tokens::{argument, local};
use super::Layout;

/// `impl Default` and `impl symnn::Model`, with the derivative methods' overrides
/// (`derivative_model`).
pub fn impls(layout: &Layout, derivative_model: &TokenStream) -> TokenStream {
    let (name, fty, p, i, t, o) = (
        &layout.name,
        &layout.fty,
        layout.p,
        layout.i,
        layout.t,
        layout.o,
    );
    let (input, target, grad, lr, seed, output) = (
        argument("input"),
        argument("target"),
        argument("grad"),
        argument("lr"),
        argument("seed"),
        argument("output"),
    );
    let out = local("out");
    let batch_slices = batch_slices(layout);
    quote! {
        impl ::core::default::Default for #name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::symnn::Model for #name {
            type Float = #fty;
            const NUM_PARAMS: usize = #p;
            const NUM_INPUTS: usize = #i;
            const NUM_TARGETS: usize = #t;
            const NUM_OUTPUTS: usize = #o;
            fn param_names() -> &'static [&'static str] {
                &Self::PARAM_NAMES
            }
            fn param_groups() -> &'static [::symnn::ParamGroup] {
                &Self::PARAM_GROUPS
            }
            fn cost() -> ::symnn::Cost {
                Self::COST
            }
            fn derivation() -> &'static str {
                #name::derivation()
            }
            fn derivation_latex() -> &'static str {
                #name::derivation_latex()
            }
            fn graph_dot() -> &'static str {
                #name::graph_dot()
            }
            fn params(&self) -> &[#fty] {
                &self.params
            }
            fn params_mut(&mut self) -> &mut [#fty] {
                &mut self.params
            }
            fn forward_slice(&self, #input: &[#fty], #output: &mut [#fty]) {
                let #out = #name::forward(self, ::symnn::__private::array(#input, "input"));
                #output.copy_from_slice(&#out);
            }
            fn loss_slice(&self, #input: &[#fty], #target: &[#fty]) -> #fty {
                #name::loss(self, ::symnn::__private::array(#input, "input"), ::symnn::__private::array(#target, "target"))
            }
            fn accumulate_gradient_slice(&self, #input: &[#fty], #target: &[#fty], #grad: &mut [#fty]) -> #fty {
                #name::accumulate_gradient(
                    self,
                    ::symnn::__private::array(#input, "input"),
                    ::symnn::__private::array(#target, "target"),
                    ::symnn::__private::array_mut(#grad, "grad"),
                )
            }
            ::symnn::__private::if_alloc! {
            fn with_seed_boxed(#seed: u64) -> ::symnn::__private::Box<Self> {
                #name::with_seed_boxed(#seed)
            }
            fn from_params_boxed(params: &[#fty]) -> ::symnn::__private::Box<Self> {
                #name::from_params_boxed(::symnn::__private::array(params, "params"))
            }
            }
            #batch_slices
            #derivative_model
            fn sgd_step_slice(&mut self, #input: &[#fty], #target: &[#fty], #lr: #fty) -> #fty {
                #name::sgd_step(
                    self,
                    ::symnn::__private::array(#input, "input"),
                    ::symnn::__private::array(#target, "target"),
                    #lr,
                )
            }
        }
    }
}

/// The `Model` batch slice forms, forwarding to the inherent batch methods.
fn batch_slices(layout: &Layout) -> TokenStream {
    let (name, fty) = (&layout.name, &layout.fty);
    let (grad, lr, output) = (argument("grad"), argument("lr"), argument("output"));
    let (inputs, targets, n_local) = (argument("inputs"), argument("targets"), local("n"));
    quote! {
        fn forward_batch_slice(&self, #inputs: &[#fty], #output: &mut [#fty]) {
            let #n_local = ::symnn::__private::batch_rows::<Self>(#inputs, #output);
            #name::forward_batch(
                self,
                ::symnn::__private::rows(#inputs, #n_local, "inputs"),
                ::symnn::__private::rows_mut(#output, #n_local, "outputs"),
            )
        }
        fn loss_batch_slice(&self, #inputs: &[#fty], #targets: &[#fty]) -> #fty {
            let #n_local = ::symnn::batch_len::<Self>(#inputs, #targets);
            #name::loss_batch(
                self,
                ::symnn::__private::rows(#inputs, #n_local, "inputs"),
                ::symnn::__private::rows(#targets, #n_local, "targets"),
            )
        }
        fn accumulate_gradient_batch_slice(&self, #inputs: &[#fty], #targets: &[#fty], #grad: &mut [#fty]) -> #fty {
            let #n_local = ::symnn::batch_len::<Self>(#inputs, #targets);
            #name::accumulate_gradient_batch(
                self,
                ::symnn::__private::rows(#inputs, #n_local, "inputs"),
                ::symnn::__private::rows(#targets, #n_local, "targets"),
                ::symnn::__private::array_mut(#grad, "grad"),
            )
        }
        fn sgd_step_batch_slice(&mut self, #inputs: &[#fty], #targets: &[#fty], #lr: #fty) -> #fty {
            let #n_local = ::symnn::batch_len::<Self>(#inputs, #targets);
            #name::sgd_step_batch(
                self,
                ::symnn::__private::rows(#inputs, #n_local, "inputs"),
                ::symnn::__private::rows(#targets, #n_local, "targets"),
                #lr,
            )
        }
    }
}
