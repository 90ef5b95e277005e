//! The struct, its constants, its constructors and its inspection methods
//! (`derivation`, `derivation_latex`, `graph_dot`).

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::one_sample::Bodies;
use super::tokens::{argument, local};
use super::{Derived, Layout};
use crate::resolved::ParamInit;
use crate::schedule::cost;

/// `pub struct Net { pub params: [F; P] }` with the user's attributes.
pub fn declaration(layout: &Layout, derived: &Derived) -> TokenStream {
    let (name, vis, fty, p) = (&layout.name, &derived.header.vis, &layout.fty, layout.p);
    let attrs = &derived.header.attrs;
    quote! {
        #(#attrs)*
        #[derive(Clone, Debug, PartialEq)]
        #[repr(transparent)]
        #vis struct #name {
            /// All parameters, in `PARAM_NAMES` order (declaration order, row-major).
            pub params: [#fty; #p],
        }
    }
}

/// The associated constants: sizes, names, groups and operation counts.
pub fn constants(layout: &Layout, derived: &Derived, bodies: &Bodies<'_>) -> TokenStream {
    let program = &derived.program;
    let g = &program.graph;
    let (p, i, t, o) = (layout.p, layout.i, layout.t, layout.o);
    let names = program
        .params
        .iter()
        .flat_map(|s| (0..s.shape.len()).map(move |i| s.element_name(i)));
    let groups = program.params.iter().map(|s| {
        let n = &s.name;
        let dims = s.shape.dims().into_iter().map(Literal::usize_unsuffixed);
        let off = Literal::usize_unsuffixed(s.offset);
        quote!(::symnn::ParamGroup { name: #n, shape: &[#(#dims),*], offset: #off })
    });
    let n_groups = program.params.len();
    let (forward_ops, forward_calls) = cost(g, &bodies.forward.schedule);
    let (gradient_ops, gradient_calls) = cost(g, &bodies.gradient.schedule);
    quote! {
        /// Number of trainable parameters.
        pub const NUM_PARAMS: usize = #p;
        /// Number of inputs (all `input` declarations flattened row-major).
        pub const NUM_INPUTS: usize = #i;
        /// Number of targets.
        pub const NUM_TARGETS: usize = #t;
        /// Number of outputs.
        pub const NUM_OUTPUTS: usize = #o;
        /// Parameter names in storage order.
        pub const PARAM_NAMES: [&'static str; #p] = [#(#names),*];
        /// Parameter groups (declared params, dense weights and biases) with shapes.
        pub const PARAM_GROUPS: [::symnn::ParamGroup; #n_groups] = [#(#groups),*];
        /// Operation counts of the generated code.
        pub const COST: ::symnn::Cost = ::symnn::Cost {
            forward_ops: #forward_ops,
            forward_calls: #forward_calls,
            gradient_ops: #gradient_ops,
            gradient_calls: #gradient_calls,
        };
    }
}

/// `fn __fill(params, seed)`: the declared values, then the initialisation schemes,
/// group by group in layout order.
fn fill(layout: &Layout, derived: &Derived) -> TokenStream {
    let program = &derived.program;
    let (f, fty, p) = (layout.float, &layout.fty, layout.p);
    let (params, seed, rng, fill_name) = (
        local("params"),
        argument("seed"),
        local("rng"),
        local("fill"),
    );
    let init_stmts: Vec<TokenStream> = program
        .params
        .iter()
        .filter_map(|s| {
            let (a, b) = (Literal::usize_unsuffixed(s.offset), Literal::usize_unsuffixed(s.offset + s.shape.len()));
            let scheme = match s.init.as_ref()? {
                ParamInit::Values(values) => {
                    let vals = values.iter().map(|&v| f.literal(v));
                    return Some(quote!(#params[#a..#b].copy_from_slice(&[#(#vals),*]);));
                }
                ParamInit::Zero => return None,
                ParamInit::Glorot { fan_in, fan_out } => {
                    quote!(::symnn::__private::Scheme::Glorot { fan_in: #fan_in, fan_out: #fan_out })
                }
                ParamInit::Uniform(a) => quote!(::symnn::__private::Scheme::Uniform(#a)),
            };
            Some(quote!(#scheme.fill(&mut #rng, &mut #params[#a..#b]);))
        })
        .collect();
    let needs_rng = program.params.iter().any(|s| {
        matches!(
            s.init,
            Some(ParamInit::Glorot { .. } | ParamInit::Uniform(_))
        )
    });
    let rng_init = if needs_rng {
        quote!(let mut #rng = ::symnn::__private::SplitMix64::new(#seed);)
    } else {
        quote!(let _ = #seed;)
    };
    let fill_params = if init_stmts.is_empty() {
        quote!(_)
    } else {
        quote!(#params)
    };
    quote! {
        #[inline(always)]
        fn #fill_name(#fill_params: &mut [#fty; #p], #seed: u64) {
            #rng_init
            #(#init_stmts)*
        }
    }
}

/// `new`, `with_seed`, `from_params`, their `_boxed` forms, and `param_index`.
pub fn constructors(layout: &Layout, derived: &Derived) -> TokenStream {
    let (fty, p) = (&layout.fty, layout.p);
    let (seed, name_arg) = (argument("seed"), argument("name"));
    let (net, fill_name, element) = (local("net"), local("fill"), local("name"));
    let fill = fill(layout, derived);
    let boxed_doc = "A network is its parameter array, so a large one returned by value (`new`, `from_params`, `gradient`) can overflow a thread's stack (2 MiB for test threads and rayon workers); the `_boxed` constructors and `gradient_into` never put the array on the stack.";
    let doc_new_boxed = format!("`new()` built directly on the heap.\n\n{boxed_doc}");
    let doc_seed_boxed = format!("`with_seed(seed)` built directly on the heap.\n\n{boxed_doc}");
    let doc_params_boxed =
        format!("`from_params` built directly on the heap, copying `params`.\n\n{boxed_doc}");
    let zero = layout.float.literal(0.0);
    let doc_new = "The declared initial values; undeclared ones from the deterministic scheme of `symnn::init` with its default seed.";
    quote! {
        #[doc = #doc_new]
        pub fn new() -> Self {
            Self::with_seed(::symnn::init::DEFAULT_SEED)
        }

        /// Like `new()`, with another random stream for the undeclared parameters.
        pub fn with_seed(#seed: u64) -> Self {
            let mut #net = Self { params: [#zero; #p] };
            #fill
            #fill_name(&mut #net.params, #seed);
            #net
        }

        /// A network with exactly these parameters.
        pub fn from_params(params: [#fty; #p]) -> Self {
            Self { params }
        }

        // (Only with the runtime's `alloc` feature: no_std crates without an allocator.)
        ::symnn::__private::if_alloc! {
        #[doc = #doc_new_boxed]
        pub fn new_boxed() -> ::symnn::__private::Box<Self> {
            Self::with_seed_boxed(::symnn::init::DEFAULT_SEED)
        }

        #[doc = #doc_seed_boxed]
        pub fn with_seed_boxed(#seed: u64) -> ::symnn::__private::Box<Self> {
            // SAFETY: the struct is `repr(transparent)` over `[F; P]`.
            #[allow(unsafe_code)]
            let mut #net: ::symnn::__private::Box<Self> =
                unsafe { ::symnn::__private::boxed_zeroed::<Self, #fty, #p>() };
            #fill
            #fill_name(&mut #net.params, #seed);
            #net
        }

        #[doc = #doc_params_boxed]
        pub fn from_params_boxed(params: &[#fty; #p]) -> ::symnn::__private::Box<Self> {
            // SAFETY: the struct is `repr(transparent)` over `[F; P]`.
            #[allow(unsafe_code)]
            let mut #net: ::symnn::__private::Box<Self> =
                unsafe { ::symnn::__private::boxed_zeroed::<Self, #fty, #p>() };
            #net.params.copy_from_slice(params);
            #net
        }
        }

        /// The storage index of a parameter element by name (`"w13"`, `"h1.weight[3][0]"`).
        pub fn param_index(#name_arg: &str) -> ::core::option::Option<usize> {
            Self::PARAM_NAMES.iter().position(|#element| *#element == #name_arg)
        }
    }
}

/// `derivation`, `derivation_latex` and `graph_dot`.
pub fn inspection(derived: &Derived) -> TokenStream {
    let derivation = &derived.derivation;
    let (derivation_latex, graph_dot) = (&derived.derivation_latex, &derived.graph_dot);
    quote! {
        /// The symbolic derivation: forward definitions, loss, common
        /// subexpressions and one `dL/d<name>` line per parameter.
        pub fn derivation() -> &'static str {
            #derivation
        }

        /// The derivation as LaTeX: one `aligned` block with the forward
        /// definitions, the loss, the common subexpressions and one line per
        /// partial derivative of the loss (matrix formulas for wide layers).
        pub fn derivation_latex() -> &'static str {
            #derivation_latex
        }

        /// The forward and backward computation as a Graphviz DOT graph: inputs,
        /// targets, parameters, forward values, adjoints, the loss and the
        /// gradients as distinct nodes, one edge per value a formula reads (large
        /// networks are cut down, see `docs/DSL.md`).
        pub fn graph_dot() -> &'static str {
            #graph_dot
        }
    }
}
