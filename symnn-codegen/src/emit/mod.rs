//! Stage 5, emit: the generated struct, its constants and methods, as Rust tokens.
//!
//! Every method body is first a flat list of instructions ([`instr::Instr`]: one
//! `let __tN = ...;` per scheduled node, plus parameter and gradient writes), built from
//! a schedule ([`instr::Body`]), rewritten by pure functions for `sgd_step` and
//! `accumulate_gradient` ([`step`]), and turned into tokens only at the end
//! ([`tokens`]). Paths are fully qualified (`::symnn::...`, `::core::...`).
//!
//! Hygiene: every local is `__`-prefixed with `Span::mixed_site()` ([`tokens::local`]).
//! Mixed-site hygiene keeps locals apart from user *variables*, but a pattern still
//! resolves *constants* at the call site ("let bindings cannot shadow constants"), so
//! the prefix keeps a user's `const t3` from colliding. The public methods' parameter
//! names (`input`, `target`, `lr`, `grad`, `seed`, `name`, `params`) are API and
//! unprefixed; a lowercase user `const` of one of those names in the same module is the
//! one clash Rust leaves possible.

mod batch;
mod build;
mod derivatives;
mod fuse;
mod ir;
mod render;
mod step;
mod tokens;

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ast::Network;
use crate::graph::NodeId;
use crate::lower::Lowered;
use crate::resolved::ParamInit;
use crate::schedule::cost;

use build::{Body, ParamAccess};
use fuse::fuse;
use ir::{Method, Returns, WriteMode};
use render::Straight;
use step::{GroupGrad, StepForm, StepMethod};
use tokens::{argument, local, Float};

/// Everything the emitter needs: the lowered program with its derivative.
pub struct Derived {
    /// The program; its graph also holds the derivative nodes.
    pub program: Lowered,
    /// `dL/dparams[k]` for every `k` (its scalar part: 0 for the parameters of a
    /// group read as a whole tensor, unless also read one by one).
    pub grads: Vec<NodeId>,
    /// `(group index, tensor adjoint)` for the parameter groups read as whole tensors.
    pub group_grads: Vec<(usize, NodeId)>,
    /// The human-readable derivation.
    pub derivation: String,
    /// The same as an aligned LaTeX block.
    pub derivation_latex: String,
    /// The forward and adjoint DAG in Graphviz DOT.
    pub graph_dot: String,
    /// The formulas for the generated methods' rustdoc.
    pub docs: crate::derivation::Docs,
    /// The derivative methods' nodes (`None` for a program containing `diff`).
    pub derivatives: Option<crate::derivatives::DerivativeMethods>,
}

/// Emits the items of one network.
pub fn emit(network: &Network, derived: &Derived) -> TokenStream {
    let program = &derived.program;
    let g = &program.graph;
    let f = Float(program.float);
    let render = Straight::new(f);
    let fty = f.ty();
    let size = |slots: &[crate::resolved::Slot]| slots.iter().map(|s| s.shape.len()).sum::<usize>();
    let (p, i, t, o) = (
        size(&program.params),
        size(&program.inputs),
        size(&program.targets),
        program.output.elems.len(),
    );

    let name = &network.name;
    let vis = &network.vis;
    let attrs = network
        .attrs
        .iter()
        .filter(|a| !crate::check::options::is_option(a));

    let params = local("params");
    let input = argument("input");
    let target = argument("target");
    let grad = argument("grad");
    let lr = argument("lr");
    let seed = argument("seed");
    let rng = local("rng");
    let name_arg = argument("name");
    let output = argument("output");
    let (inputs, targets, n_local) = (argument("inputs"), argument("targets"), local("n"));
    let (out, element) = (local("out"), local("name"));

    // The bodies: the scheduled instructions for each method's roots.
    let (loss, outputs, grads) = (program.loss, &program.output.elems, &derived.grads);
    // A program with tensor nodes: `gradient` is `accumulate_gradient` into zeros
    // (its parameter array may be too big to return as a list of values).
    let tensor = g.iter().any(|(id, _)| g.is_tensor(id));
    let groups: Vec<GroupGrad> = derived
        .group_grads
        .iter()
        .map(|&(group, adjoint)| {
            let slot = &program.params[group];
            GroupGrad::new(g, slot.offset, slot.shape.len(), adjoint)
        })
        .collect();
    let gradient_roots: Vec<NodeId> = std::iter::once(loss)
        .chain(grads.iter().copied())
        .chain(groups.iter().flat_map(GroupGrad::roots))
        .collect();
    let loss_and_output_roots: Vec<NodeId> = std::iter::once(loss)
        .chain(outputs.iter().copied())
        .collect();
    let body = |roots: &[NodeId]| Body::new(g, roots, ParamAccess::Shared);
    let forward = body(outputs);
    let loss_only = body(&[loss]);
    let loss_out = body(&loss_and_output_roots);
    let gradient = body(&gradient_roots);
    let operands =
        |body: &Body<'_>, ids: &[NodeId]| ids.iter().map(|&id| body.operand(id)).collect();

    let forward_method = Method::new(
        fuse(forward.instrs.clone()),
        Returns::Array(operands(&forward, outputs)),
    );
    let loss_method = Method::new(
        fuse(loss_only.instrs.clone()),
        Returns::Value(loss_only.operand(loss)),
    );
    let loss_out_method = Method::new(
        fuse(loss_out.instrs.clone()),
        Returns::ValueAndArray(loss_out.operand(loss), operands(&loss_out, outputs)),
    );
    let grad_operands: Vec<_> = operands(&gradient, grads);
    // (A tensor program's `gradient` calls `accumulate_gradient`: no body of its own.)
    let gradient_method = (!tensor).then(|| {
        Method::new(
            gradient.instrs.clone(),
            Returns::ValueAndArray(gradient.operand(loss), grad_operands.clone()),
        )
    });
    let group_writes: Vec<_> = groups
        .iter()
        .map(|grp| grp.write(&gradient, WriteMode::Sgd))
        .collect();
    let form = |method: StepMethod| -> StepForm {
        step::choose(
            method,
            gradient.len(),
            gradient.operand(loss),
            &grad_operands,
            tensor,
            &group_writes,
        )
    };
    let sgd_method = step::sgd_step(
        form(StepMethod::SgdStep),
        g,
        &gradient,
        loss,
        grads,
        &groups,
    );
    let acc_method = step::accumulate_gradient(
        form(StepMethod::AccumulateGradient),
        &gradient,
        loss,
        grads,
        &groups,
    );

    // Signatures: `_` for an argument the body does not use.
    let arg = |used: bool, ident: &syn::Ident| if used { quote!(#ident) } else { quote!(_) };
    let sample_args = |method: &Method| {
        let uses = method.uses();
        (arg(uses.input, &input), arg(uses.target, &target))
    };
    let (fwd_input, _) = sample_args(&forward_method);
    let (loss_input, loss_target) = sample_args(&loss_method);
    let (lo_input, lo_target) = sample_args(&loss_out_method);
    let (grad_input, grad_target) = match &gradient_method {
        Some(method) => sample_args(method),
        None => (quote!(#input), quote!(#target)),
    };
    let (acc_input, acc_target) = sample_args(&acc_method);
    let acc_grad = arg(acc_method.uses().grad, &grad);
    let (sgd_input, sgd_target) = sample_args(&sgd_method);
    let sgd_lr = arg(sgd_method.uses().lr, &lr);
    let forward_body = render.method(&forward_method);
    let loss_body = render.method(&loss_method);
    let loss_out_body = render.method(&loss_out_method);
    let zero_literal = f.literal(0.0);
    let gradient_body = match &gradient_method {
        Some(method) => render.method(method),
        None => {
            let grad_local = local("grad");
            quote! {
                let mut #grad_local: [#fty; #p] = [#zero_literal; #p];
                let #out = Self::accumulate_gradient(self, #grad_input, #grad_target, &mut #grad_local);
                (#out, #grad_local)
            }
        }
    };
    let acc_body = render.method(&acc_method);
    let batch = batch::methods(
        &network.name,
        f,
        batch::Sizes { p, i, t },
        &gradient,
        gradient.operand(loss),
        &grad_operands,
        &groups
            .iter()
            .map(|grp| match grp.write(&gradient, WriteMode::Accumulate) {
                ir::Instr::WriteGroup(w) => w,
                _ => unreachable!("a group write"),
            })
            .collect::<Vec<_>>(),
        &derived.docs.gradient,
    );
    let sgd_body = render.method(&sgd_method);
    let derivative_methods = derived
        .derivatives
        .as_ref()
        .map(|d| derivatives::methods(program, d, name));
    let (derivative_inherent, derivative_model) = match derivative_methods {
        Some(d) => {
            let inherent = d.inherent;
            (
                quote!(
                    /// Whether this network has the derivative methods (`input_jacobian`, `input_gradient`, `hvp`, `param_jacobian`): every network without `diff` in its output or loss does.
                    pub const HAS_DERIVATIVE_METHODS: bool = true;
                    #inherent
                ),
                d.model,
            )
        }
        None => {
            let note = "This network's output or loss contains `diff`, so it has no `input_jacobian`, `input_gradient`, `hvp` or `param_jacobian` (they would need one more derivative order); the `symnn::Model` slice forms fall back to finite differences.";
            (
                quote!(#[doc = #note] pub const HAS_DERIVATIVE_METHODS: bool = false;),
                quote!(),
            )
        }
    };

    // Constants.
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
    let (forward_ops, forward_calls) = cost(g, &forward.schedule);
    let (gradient_ops, gradient_calls) = cost(g, &gradient.schedule);
    let derivation = &derived.derivation;
    let (derivation_latex, graph_dot) = (&derived.derivation_latex, &derived.graph_dot);
    // Each method's rustdoc shows its formula (a ```text block: no lint reads it).
    let docs = &derived.docs;
    let doc_forward = format!("The network's output for one input:\n\n{}", docs.forward);
    let doc_loss = format!("The loss for one sample:\n\n{}", docs.loss);
    let doc_loss_out = format!(
        "The loss and the output for one sample, computed together. The loss:\n\n{}",
        docs.loss
    );
    let doc_gradient = format!(
        "The loss and dL/dparams for one sample:\n\n{}",
        docs.gradient
    );
    let doc_gradient_into = format!(
        "Writes dL/dparams for one sample into `grad` (overwriting it) and returns the loss: `gradient` without the `[F; P]` return value on the stack.\n\n{}",
        docs.gradient
    );
    let doc_accumulate = format!(
        "Adds dL/dparams for one sample into `grad` (for minibatches); returns the loss.\n\n{}",
        docs.gradient
    );
    let doc_sgd = format!(
        "One step of gradient descent on one sample, a simultaneous update: every parameter moves by `-lr * dL/dparam` evaluated at the old parameters (each write comes after the last read of the old value). Returns the loss before the step.\n\n{}",
        docs.gradient
    );

    // Initialisation, group by group in layout order.
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
    let (net, fill_name) = (local("net"), local("fill"));
    let fill_params = if init_stmts.is_empty() {
        quote!(_)
    } else {
        quote!(#params)
    };
    let fill = quote! {
        #[inline(always)]
        fn #fill_name(#fill_params: &mut [#fty; #p], #seed: u64) {
            #rng_init
            #(#init_stmts)*
        }
    };
    let boxed_doc = "A network is its parameter array, so a large one returned by value (`new`, `from_params`, `gradient`) can overflow a thread's stack (2 MiB for test threads and rayon workers); the `_boxed` constructors and `gradient_into` never put the array on the stack.";
    let doc_new_boxed = format!("`new()` built directly on the heap.\n\n{boxed_doc}");
    let doc_seed_boxed = format!("`with_seed(seed)` built directly on the heap.\n\n{boxed_doc}");
    let doc_params_boxed =
        format!("`from_params` built directly on the heap, copying `params`.\n\n{boxed_doc}");
    let zero = f.literal(0.0);

    let doc_new = "The declared initial values; undeclared ones from the deterministic scheme of `symnn::init` with its default seed.";
    quote! {
        #(#attrs)*
        #[derive(Clone, Debug, PartialEq)]
        #[repr(transparent)]
        #vis struct #name {
            /// All parameters, in `PARAM_NAMES` order (declaration order, row-major).
            pub params: [#fty; #p],
        }


        impl #name {
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

            #[doc = #doc_forward]
            #[inline]
            pub fn forward(&self, #fwd_input: &[#fty; #i]) -> [#fty; #o] {
                #forward_body
            }

            #[doc = #doc_loss]
            #[inline]
            pub fn loss(&self, #loss_input: &[#fty; #i], #loss_target: &[#fty; #t]) -> #fty {
                #loss_body
            }

            #[doc = #doc_loss_out]
            #[inline]
            pub fn loss_and_output(&self, #lo_input: &[#fty; #i], #lo_target: &[#fty; #t]) -> (#fty, [#fty; #o]) {
                #loss_out_body
            }

            #[doc = #doc_gradient]
            #[inline]
            pub fn gradient(&self, #grad_input: &[#fty; #i], #grad_target: &[#fty; #t]) -> (#fty, [#fty; #p]) {
                #gradient_body
            }

            #[doc = #doc_gradient_into]
            #[inline]
            pub fn gradient_into(&self, #input: &[#fty; #i], #target: &[#fty; #t], #grad: &mut [#fty; #p]) -> #fty {
                // (`fill`, not `*grad = [0; P]`: no P-sized temporary in debug builds.)
                #grad.fill(#zero);
                self.accumulate_gradient(#input, #target, #grad)
            }

            #[doc = #doc_accumulate]
            #[inline]
            pub fn accumulate_gradient(&self, #acc_input: &[#fty; #i], #acc_target: &[#fty; #t], #acc_grad: &mut [#fty; #p]) -> #fty {
                #acc_body
            }

            #[doc = #doc_sgd]
            #[inline]
            pub fn sgd_step(&mut self, #sgd_input: &[#fty; #i], #sgd_target: &[#fty; #t], #sgd_lr: #fty) -> #fty {
                #sgd_body
            }

            #batch

            #derivative_inherent

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
