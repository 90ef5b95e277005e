//! The derivative methods of SPEC §5.3: `input_jacobian`, `input_gradient`, `hvp` and
//! `param_jacobian`, and their `symnn::Model` slice forms. Each is a body of the same
//! instruction IR as `gradient` ([`Body`]), so straight-line and tensor-tier programs
//! get them alike, with no allocation.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::build::{Body, ParamAccess};
use super::call_group::{group_calls, grouped};
use super::ir::{Method, Returns};
use super::render::Straight;
use super::step::{self, GroupGrad, StepForm};
use super::tokens::{argument, local, Float};
use crate::derivatives::DerivativeMethods;
use crate::graph::{Graph, NodeId};
use crate::lower::Lowered;

/// The four methods (inherent) and their `Model` overrides.
struct Emitted {
    /// Items of the inherent `impl`.
    inherent: TokenStream,
    /// Items of `impl symnn::Model`.
    model: TokenStream,
}

/// The gradient-shaped body writing `grad += ∂root/∂θ` (split into scalars and
/// groups) and returning `root`, always in the gradients-then-writes form (the
/// interleaved one would call `gradient` above its size limit).
fn accumulating(
    g: &Graph,
    program: &Lowered,
    root: NodeId,
    split: &(Vec<NodeId>, Vec<(usize, NodeId)>),
) -> Method {
    let (grads, group_grads) = split;
    let groups: Vec<GroupGrad> = group_grads
        .iter()
        .flat_map(|&(group, adjoint)| {
            let slot = &program.params[group];
            GroupGrad::terms(g, slot.offset, slot.shape.len(), adjoint)
        })
        .collect();
    let roots: Vec<NodeId> = std::iter::once(root)
        .chain(grads.iter().copied())
        .chain(groups.iter().flat_map(GroupGrad::roots))
        .collect();
    let body = Body::new(g, &roots, ParamAccess::Shared);
    grouped(step::accumulate_gradient(
        StepForm::GradientsThenWrites,
        &body,
        root,
        grads,
        &groups,
    ))
}

/// The inherent items (`HAS_DERIVATIVE_METHODS` and, without `diff` in the output or
/// loss, the four methods) and the `Model` overrides.
pub fn items(derived: &super::Derived, name: &syn::Ident) -> (TokenStream, TokenStream) {
    match &derived.derivatives {
        Some(d) => {
            let Emitted { inherent, model } = methods(&derived.program, d, name);
            (
                quote!(
                    /// Whether this network has the derivative methods (`input_jacobian`, `input_gradient`, `hvp`, `param_jacobian`): every network without `diff` in its output or loss does.
                    pub const HAS_DERIVATIVE_METHODS: bool = true;
                    #inherent
                ),
                model,
            )
        }
        None if derived.rolled.is_some() => {
            let note = "This network has a loop emitted as a Rust loop (`#[symnn(loop_threshold = N)]`, docs/DSL.md), so it has no `input_jacobian`, `input_gradient`, `hvp` or `param_jacobian` yet (a raised `loop_threshold` unrolls the loop and brings them back); the `symnn::Model` slice forms fall back to finite differences.";
            (
                quote!(#[doc = #note] pub const HAS_DERIVATIVE_METHODS: bool = false;),
                quote!(),
            )
        }
        None => {
            let note = "This network's output or loss contains `diff`, so it has no `input_jacobian`, `input_gradient`, `hvp` or `param_jacobian` (they would need one more derivative order); the `symnn::Model` slice forms fall back to finite differences.";
            (
                quote!(#[doc = #note] pub const HAS_DERIVATIVE_METHODS: bool = false;),
                quote!(),
            )
        }
    }
}

/// What the four methods read.
#[derive(Clone, Copy)]
struct Cx<'a> {
    g: &'a Graph,
    program: &'a Lowered,
    derivatives: &'a DerivativeMethods,
    name: &'a syn::Ident,
    float: Float,
    fty: &'a TokenStream,
    render: Straight,
    p: usize,
    i: usize,
    t: usize,
    o: usize,
}

/// `name` when the body reads it, else `_`.
fn used(yes: bool, ident: &syn::Ident) -> TokenStream {
    if yes {
        quote!(#ident)
    } else {
        quote!(_)
    }
}

/// Emits the methods for a program without `diff` (one with `diff` leaves them out and
/// the `Model` defaults apply).
fn methods(program: &Lowered, derivatives: &DerivativeMethods, name: &syn::Ident) -> Emitted {
    let float = Float(program.float);
    let fty = float.ty();
    let cx = Cx {
        g: &program.graph,
        program,
        derivatives,
        name,
        float,
        fty: &fty,
        render: Straight::new(float),
        p: program.num_params(),
        i: program.num_inputs(),
        t: program.num_targets(),
        o: program.output.elems.len(),
    };
    let (input_jacobian, input_gradient, hvp, param_jacobian) = (
        input_jacobian(&cx),
        input_gradient(&cx),
        hvp(&cx),
        param_jacobian(&cx),
    );
    Emitted {
        inherent: quote! {
            #input_jacobian
            #input_gradient
            #hvp
            #param_jacobian
        },
        model: model_overrides(&cx),
    }
}

/// `input_jacobian`: one body, the O×I derivatives as one flat array.
fn input_jacobian(cx: &Cx<'_>) -> TokenStream {
    let Cx {
        g,
        derivatives,
        fty,
        render,
        i,
        o,
        ..
    } = *cx;
    let input = argument("input");
    let body = Body::new(g, &derivatives.input_jacobian, ParamAccess::Shared);
    let operands = derivatives
        .input_jacobian
        .iter()
        .map(|&id| body.operand(id))
        .collect();
    let method = Method::new(group_calls(body.instrs.clone()), Returns::Array(operands));
    let jac_input = used(method.uses().input, &input);
    let flat = local("flat");
    let jac_body = render.method(&method);
    let ri = Literal::usize_unsuffixed(i);
    let (row, col) = (local("row"), local("col"));
    let input_jacobian = quote! {
        /// The Jacobian of the output with respect to the input: `jac[o][i] = ∂output_o/∂input_i`
        /// (row `o` is output `o`), exact, from the symbolic derivative (reverse mode,
        /// one pass per output).
        #[inline]
        pub fn input_jacobian(&self, #jac_input: &[#fty; #i]) -> [[#fty; #i]; #o] {
            let #flat: [#fty; #i * #o] = { #jac_body };
            ::core::array::from_fn(|#row| ::core::array::from_fn(|#col| #flat[#row * #ri + #col]))
        }
    };

    input_jacobian
}

/// `input_gradient`: the loss and `∂L/∂input`.
fn input_gradient(cx: &Cx<'_>) -> TokenStream {
    let Cx {
        g,
        program,
        derivatives,
        fty,
        render,
        i,
        t,
        ..
    } = *cx;
    let (input, target) = (argument("input"), argument("target"));
    let body = Body::new(
        g,
        &std::iter::once(program.loss)
            .chain(derivatives.input_gradient.iter().copied())
            .collect::<Vec<_>>(),
        ParamAccess::Shared,
    );
    let operands = derivatives
        .input_gradient
        .iter()
        .map(|&id| body.operand(id))
        .collect();
    let method = Method::new(
        group_calls(body.instrs.clone()),
        Returns::ValueAndArray(body.operand(program.loss), operands),
    );
    let uses = method.uses();
    let (ig_input, ig_target) = (used(uses.input, &input), used(uses.target, &target));
    let ig_body = render.method(&method);
    let input_gradient = quote! {
        /// The loss and its gradient with respect to the input, `∂L/∂input`, exact.
        #[inline]
        pub fn input_gradient(&self, #ig_input: &[#fty; #i], #ig_target: &[#fty; #t]) -> (#fty, [#fty; #i]) {
            #ig_body
        }
    };

    input_gradient
}

/// `hvp`: `v` is read as inputs I..I+P of one combined array.
fn hvp(cx: &Cx<'_>) -> TokenStream {
    let Cx {
        g,
        program,
        derivatives,
        fty,
        render,
        p,
        i,
        t,
        ..
    } = *cx;
    let (input, target, grad, v) = (
        argument("input"),
        argument("target"),
        argument("grad"),
        argument("v"),
    );
    let zero = cx.float.literal(0.0);
    let method = accumulating(g, program, program.loss, &derivatives.hvp);
    let uses = method.uses();
    let hvp_body = render.method(&method);
    let combined = local("iv");
    let (hv_input, hv_v, bind) = if uses.input {
        (
            quote!(#input),
            quote!(#v),
            quote! {
                let mut #combined: [#fty; #i + #p] = [#zero; #i + #p];
                #combined[..#i].copy_from_slice(#input);
                #combined[#i..].copy_from_slice(#v);
                let #input = &#combined;
            },
        )
    } else {
        (quote!(_), quote!(_), quote!())
    };
    let hv_target = used(uses.target, &target);
    let hvp = quote! {
        /// The loss, and `grad = (∂²L/∂θ²)·v`: the exact Hessian–vector product for
        /// one sample (reverse over reverse on the same graph: the gradient of
        /// `∇L·v`), overwriting `grad`.
        #[inline]
        pub fn hvp(&self, #hv_input: &[#fty; #i], #hv_target: &[#fty; #t], #hv_v: &[#fty; #p], #grad: &mut [#fty; #p]) -> #fty {
            #bind
            #grad.fill(#zero);
            #hvp_body
        }
    };

    hvp
}

/// `param_jacobian`: one accumulating row method per output.
fn param_jacobian(cx: &Cx<'_>) -> TokenStream {
    let Cx {
        g,
        program,
        derivatives,
        fty,
        render,
        p,
        i,
        o,
        ..
    } = *cx;
    let (input, grad, jac, output) = (
        argument("input"),
        argument("grad"),
        argument("jac"),
        argument("output"),
    );
    let zero = cx.float.literal(0.0);
    let mut rows = Vec::new();
    let mut calls = Vec::new();
    for (k, (split, &out)) in derivatives
        .param_jacobian
        .iter()
        .zip(&program.output.elems)
        .enumerate()
    {
        let method = accumulating(g, program, out, split);
        let uses = method.uses();
        let row_name = format_ident!("__param_jacobian_row_{}", k);
        let row_input = used(uses.input, &input);
        let row_grad = used(uses.grad, &grad);
        let body = render.method(&method);
        rows.push(quote! {
            #[inline]
            fn #row_name(&self, #row_input: &[#fty; #i], #row_grad: &mut [#fty; #p]) -> #fty {
                #body
            }
        });
        let kk = Literal::usize_unsuffixed(k);
        calls.push(quote! {
            #output[#kk] = Self::#row_name(self, #input, &mut #jac[#kk]);
        });
    }
    let row_fill = local("r");
    let param_jacobian = quote! {
        #(#rows)*

        /// The output, and the Jacobian of the output with respect to the parameters:
        /// `jac[o][p] = ∂output_o/∂θ_p` (overwritten), exact — what Gauss–Newton and
        /// Levenberg–Marquardt need.
        pub fn param_jacobian(&self, #input: &[#fty; #i], #jac: &mut [[#fty; #p]; #o]) -> [#fty; #o] {
            let mut #output = [#zero; #o];
            for #row_fill in #jac.iter_mut() {
                #row_fill.fill(#zero);
            }
            #(#calls)*
            #output
        }
    };

    param_jacobian
}

/// The `Model` slice forms, forwarding to the inherent methods.
fn model_overrides(cx: &Cx<'_>) -> TokenStream {
    let Cx {
        name, fty, i, o, ..
    } = *cx;
    let ri = Literal::usize_unsuffixed(i);
    let (flat, row, col) = (local("flat"), local("row"), local("col"));
    let (input, target, grad, v, jac, output) = (
        argument("input"),
        argument("target"),
        argument("grad"),
        argument("v"),
        argument("jac"),
        argument("output"),
    );
    quote! {
        fn input_jacobian_slice(&self, #input: &[#fty], #jac: &mut [#fty]) {
            let #flat = #name::input_jacobian(self, ::symnn::__private::array(#input, "input"));
            let #jac: &mut [#fty; #i * #o] = ::symnn::__private::array_mut(#jac, "jac");
            for (#row, #col) in #flat.iter().zip(#jac.chunks_exact_mut(#ri)) {
                #col.copy_from_slice(#row);
            }
        }
        fn input_gradient_slice(&self, #input: &[#fty], #target: &[#fty], #grad: &mut [#fty]) -> #fty {
            let (#flat, #row) = #name::input_gradient(
                self,
                ::symnn::__private::array(#input, "input"),
                ::symnn::__private::array(#target, "target"),
            );
            #grad.copy_from_slice(&#row);
            #flat
        }
        fn hvp_slice(&self, #input: &[#fty], #target: &[#fty], #v: &[#fty], #grad: &mut [#fty]) -> #fty {
            #name::hvp(
                self,
                ::symnn::__private::array(#input, "input"),
                ::symnn::__private::array(#target, "target"),
                ::symnn::__private::array(#v, "v"),
                ::symnn::__private::array_mut(#grad, "out"),
            )
        }
        fn param_jacobian_slice(&self, #input: &[#fty], #jac: &mut [#fty], #output: &mut [#fty]) {
            let #flat = #name::param_jacobian(
                self,
                ::symnn::__private::array(#input, "input"),
                ::symnn::__private::matrix_mut(#jac, "jac"),
            );
            ::symnn::__private::array_mut::<#fty, #o>(#output, "output").copy_from_slice(&#flat);
        }
    }
}
