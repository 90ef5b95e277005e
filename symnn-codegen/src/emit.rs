//! Stage 5, emit: the generated struct, its constants and methods, as Rust tokens.
//!
//! Every method body is straight-line code: one `let __tN = ...;` per scheduled node.
//! Locals use `Span::mixed_site()` and a `__` prefix: mixed-site hygiene keeps them
//! apart from user *variables*, but a pattern still resolves *constants* at the call
//! site ("let bindings cannot shadow constants"), so the prefix keeps a user's
//! `const t3` from colliding. Paths are fully qualified (`::symnn::...`, `::core::...`).
//! The public methods' parameter names (`input`, `target`, `lr`, `grad`, `seed`,
//! `name`, `params`) are API and unprefixed; a lowercase user `const` of one of those
//! names in the same module is the one clash Rust leaves possible.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Literal, Span, TokenStream};
use quote::quote;

use crate::ast::Network;
use crate::graph::{Func, Graph, Node, NodeId};
use crate::lower::Lowered;
use crate::resolved::{FloatType, ParamInit};
use crate::schedule::{cost, schedule};

/// Everything the emitter needs: the lowered program with its derivative.
pub struct Derived {
    /// The program; its graph also holds the derivative nodes.
    pub program: Lowered,
    /// `dL/dparams[k]` for every `k`.
    pub grads: Vec<NodeId>,
    /// The human-readable derivation.
    pub derivation: String,
}

/// Above this many scheduled gradient instructions, `sgd_step` and
/// `accumulate_gradient` call the one out-of-line `gradient` instead of repeating its
/// body: fusing stops paying for big nets, and three copies of a huge body triple
/// compile time.
const FUSE_LIMIT: usize = LET_LIMIT;

/// Emits the items of one network.
pub fn emit(network: &Network, derived: &Derived) -> TokenStream {
    let program = &derived.program;
    let g = &program.graph;
    let f = Float(program.float);
    let fty = f.ty();
    let (p, i, t, o) = (
        program.num_params(),
        program.num_inputs(),
        program.num_targets(),
        program.output.elems.len(),
    );

    let name = &network.name;
    let vis = &network.vis;
    let attrs = &network.attrs;

    let params = local("__params");
    let input = local("input");
    let target = local("target");
    let grad = local("grad");
    let lr = local("lr");
    let seed = local("seed");
    let rng = local("__rng");
    let name_arg = local("name");

    let loss_root = [program.loss];
    let mut grad_roots = vec![program.loss];
    grad_roots.extend(&derived.grads);
    let mut loss_and_output_roots = vec![program.loss];
    loss_and_output_roots.extend(&program.output.elems);

    let body = |roots: &[NodeId]| Body::new(g, f, roots);
    let forward = body(&program.output.elems);
    let loss = body(&loss_root);
    let loss_out = body(&loss_and_output_roots);
    let gradient = body(&grad_roots);

    let forward_lets = &forward.lets;
    let forward_out: Vec<_> = program
        .output
        .elems
        .iter()
        .map(|&id| forward.operand(id))
        .collect();
    let loss_lets = &loss.lets;
    let loss_value = loss.operand(program.loss);
    let lo_lets = &loss_out.lets;
    let lo_loss = loss_out.operand(program.loss);
    let lo_out: Vec<_> = program
        .output
        .elems
        .iter()
        .map(|&id| loss_out.operand(id))
        .collect();
    let gradient_lets = &gradient.lets;
    let gradient_loss = gradient.operand(program.loss);
    let gradient_values: Vec<_> = derived
        .grads
        .iter()
        .map(|&id| gradient.operand(id))
        .collect();

    // Parameter bindings and argument names: `_input` where the body does not read it.
    let params_binding = |b: &Body| {
        if b.uses_params {
            quote!(let #params = &self.params;)
        } else {
            quote!()
        }
    };
    let arg = |used: bool, ident: &syn::Ident| if used { quote!(#ident) } else { quote!(_) };
    let (fwd_params, loss_params, lo_params, grad_params) = (
        params_binding(&forward),
        params_binding(&loss),
        params_binding(&loss_out),
        params_binding(&gradient),
    );
    let fwd_input = arg(forward.uses_input, &input);
    let (loss_input, loss_target) = (arg(loss.uses_input, &input), arg(loss.uses_target, &target));
    let (lo_input, lo_target) = (
        arg(loss_out.uses_input, &input),
        arg(loss_out.uses_target, &target),
    );
    let (grad_input, grad_target) = (
        arg(gradient.uses_input, &input),
        arg(gradient.uses_target, &target),
    );

    // sgd_step and accumulate_gradient, in one of three shapes:
    // 1. fused and interleaved (the normal case): each write right after its gradient
    //    is final and its parameter's old value is dead (`Body::interleaved`);
    // 2. fused, all gradients first and then all writes (a gradient or the loss is a
    //    bare parameter, whose read the interleaving cannot place);
    // 3. above FUSE_LIMIT, a call to `gradient` and a loop (bounds compile time).
    let fused = gradient.instructions <= FUSE_LIMIT;
    let nonzero: Vec<usize> = (0..p)
        .filter(|&k| g.as_const(derived.grads[k]) != Some(0.0))
        .collect();
    let g_values: Vec<_> = nonzero.iter().map(|&k| &gradient_values[k]).collect();
    let g_index: Vec<_> = (0..nonzero.len()).map(Literal::usize_unsuffixed).collect();
    let n_nonzero = nonzero.len();
    let g_array = local("__g");
    let loss_local = local("__loss");
    let nz_index: Vec<_> = nonzero
        .iter()
        .map(|&k| Literal::usize_unsuffixed(k))
        .collect();
    let sgd_self = Body::with_params_via_self(g, f, &grad_roots, true);
    let mut scaled = ScaledByLr::new(&sgd_self, &derived.grads, &lr);
    let sgd_interleaved = sgd_self.interleaved(&derived.grads, true, |k| scaled.update(k));
    let acc_interleaved = gradient.interleaved(&derived.grads, false, |k| {
        let (value, k) = (
            gradient.operand(derived.grads[k]),
            Literal::usize_unsuffixed(k),
        );
        quote!(#grad[#k] += #value;)
    });
    let sgd_loss = sgd_self.operand(program.loss);
    // (A loss that is a bare parameter would be read after its own update.)
    let loss_is_param = matches!(g.node(program.loss), Node::Param(_));
    let sgd_body = if let (true, false, Some(statements)) = (fused, loss_is_param, &sgd_interleaved)
    {
        quote! {
            #(#statements)*
            #sgd_loss
        }
    } else if fused {
        quote! {
            #grad_params
            #(#gradient_lets)*
            // Every value is read before any parameter is written.
            let #loss_local: #fty = #gradient_loss;
            let #g_array: [#fty; #n_nonzero] = [#(#g_values),*];
            #(self.params[#nz_index] -= #lr * #g_array[#g_index];)*
            #loss_local
        }
    } else {
        quote! {
            let (__loss, __grad) = Self::gradient(self, #input, #target);
            for (__p, __g) in self.params.iter_mut().zip(__grad.iter()) {
                *__p -= #lr * *__g;
            }
            __loss
        }
    };
    let (sgd_input, sgd_target) = if fused {
        (grad_input.clone(), grad_target.clone())
    } else {
        (quote!(#input), quote!(#target))
    };
    let sgd_lr = if fused && nonzero.is_empty() {
        quote!(_)
    } else {
        quote!(#lr)
    };
    let acc_body = if let (true, Some(statements)) = (fused, &acc_interleaved) {
        quote! {
            #grad_params
            #(#statements)*
            #gradient_loss
        }
    } else if fused {
        quote! {
            #grad_params
            #(#gradient_lets)*
            #(#grad[#nz_index] += #g_values;)*
            #gradient_loss
        }
    } else {
        quote! {
            let (__loss, __values) = Self::gradient(self, #input, #target);
            for (__acc, __g) in #grad.iter_mut().zip(__values.iter()) {
                *__acc += *__g;
            }
            __loss
        }
    };
    let (acc_input, acc_target) = if fused {
        (grad_input.clone(), grad_target.clone())
    } else {
        (quote!(#input), quote!(#target))
    };
    let acc_grad = if fused && nonzero.is_empty() {
        quote!(_)
    } else {
        quote!(#grad)
    };

    // Constants.
    let names: Vec<String> = program.param_names();
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
    let params_mut = if init_stmts.is_empty() {
        quote!()
    } else {
        quote!(mut)
    };
    let zero = f.literal(0.0);

    let doc_new = "The declared initial values; undeclared ones from the deterministic scheme of `symnn::init` with its default seed.";
    quote! {
        #(#attrs)*
        #[derive(Clone, Debug, PartialEq)]
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
                let #params_mut #params: [#fty; #p] = [#zero; #p];
                #rng_init
                #(#init_stmts)*
                Self { params: #params }
            }

            /// A network with exactly these parameters.
            pub fn from_params(params: [#fty; #p]) -> Self {
                Self { params }
            }

            /// The storage index of a parameter element by name (`"w13"`, `"h1.weight[3][0]"`).
            pub fn param_index(#name_arg: &str) -> ::core::option::Option<usize> {
                Self::PARAM_NAMES.iter().position(|n| *n == #name_arg)
            }

            /// The network's output for one input.
            #[inline]
            pub fn forward(&self, #fwd_input: &[#fty; #i]) -> [#fty; #o] {
                #fwd_params
                #(#forward_lets)*
                [#(#forward_out),*]
            }

            /// The loss for one sample.
            #[inline]
            pub fn loss(&self, #loss_input: &[#fty; #i], #loss_target: &[#fty; #t]) -> #fty {
                #loss_params
                #(#loss_lets)*
                #loss_value
            }

            /// The loss and the output for one sample, computed together.
            #[inline]
            pub fn loss_and_output(&self, #lo_input: &[#fty; #i], #lo_target: &[#fty; #t]) -> (#fty, [#fty; #o]) {
                #lo_params
                #(#lo_lets)*
                (#lo_loss, [#(#lo_out),*])
            }

            /// The loss and dL/dparams for one sample.
            #[inline]
            pub fn gradient(&self, #grad_input: &[#fty; #i], #grad_target: &[#fty; #t]) -> (#fty, [#fty; #p]) {
                #grad_params
                #(#gradient_lets)*
                (#gradient_loss, [#(#gradient_values),*])
            }

            /// Adds dL/dparams for one sample into `grad` (for minibatches); returns the loss.
            #[inline]
            pub fn accumulate_gradient(&self, #acc_input: &[#fty; #i], #acc_target: &[#fty; #t], #acc_grad: &mut [#fty; #p]) -> #fty {
                #acc_body
            }

            /// One step of gradient descent on one sample: every parameter moves by
            /// `-lr * dL/dparam`, all computed before any is written. Returns the loss
            /// before the step.
            #[inline]
            pub fn sgd_step(&mut self, #sgd_input: &[#fty; #i], #sgd_target: &[#fty; #t], #sgd_lr: #fty) -> #fty {
                #sgd_body
            }

            /// The symbolic derivation: forward definitions, loss, common
            /// subexpressions and one `dL/d<name>` line per parameter.
            pub fn derivation() -> &'static str {
                #derivation
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
            fn params(&self) -> &[#fty] {
                &self.params
            }
            fn params_mut(&mut self) -> &mut [#fty] {
                &mut self.params
            }
            fn forward_slice(&self, #input: &[#fty], output: &mut [#fty]) {
                let __out = #name::forward(self, ::symnn::__private::array(#input, "input"));
                output.copy_from_slice(&__out);
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

fn local(name: &str) -> syn::Ident {
    syn::Ident::new(name, Span::mixed_site())
}

#[derive(Clone, Copy)]
struct Float(FloatType);

impl Float {
    fn ty(self) -> TokenStream {
        match self.0 {
            FloatType::F32 => quote!(f32),
            FloatType::F64 => quote!(f64),
        }
    }

    /// A literal of the float type; non-finite values through the type's constants.
    fn literal(self, v: f64) -> TokenStream {
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

/// Bodies longer than this keep their temporaries in one array instead of one `let`
/// each: every `let` opens a nested debug-info scope, and a few thousand nested scopes
/// overflow LLVM's stack in debug builds (seen with a 2-32-32-1 net). Small bodies keep
/// plain `let`s, which LLVM optimises best.
const LET_LIMIT: usize = 1000;

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

/// One method body: the `let` statements for a set of roots.
struct Body<'a> {
    g: &'a Graph,
    /// In array mode, each scheduled node's slot in the `__t` array.
    slots: Option<Vec<u32>>,
    /// Read parameters as `self.params[k]` (for the fused `sgd_step`, which writes them
    /// while later instructions still read others) instead of through `__params`.
    self_params: bool,
    float: Float,
    schedule: Vec<NodeId>,
    lets: Vec<TokenStream>,
    instructions: usize,
    uses_input: bool,
    uses_target: bool,
    uses_params: bool,
}

impl<'a> Body<'a> {
    fn new(g: &'a Graph, float: Float, roots: &[NodeId]) -> Self {
        Self::with_params_via_self(g, float, roots, false)
    }

    fn with_params_via_self(
        g: &'a Graph,
        float: Float,
        roots: &[NodeId],
        self_params: bool,
    ) -> Self {
        let schedule = schedule(g, roots);
        let live = g.reachable(roots);
        let slots = (schedule.len() > LET_LIMIT).then(|| {
            let mut slots = vec![u32::MAX; g.len()];
            for (i, id) in schedule.iter().enumerate() {
                slots[id.index()] = i as u32;
            }
            slots
        });
        let mut body = Body {
            g,
            slots,
            self_params,
            float,
            lets: Vec::with_capacity(schedule.len()),
            instructions: schedule.len(),
            schedule: Vec::new(),
            uses_input: false,
            uses_target: false,
            uses_params: false,
        };
        for (id, node) in g.iter() {
            if live[id.index()] {
                match node {
                    Node::Input(_) => body.uses_input = true,
                    Node::Target(_) => body.uses_target = true,
                    Node::Param(_) => body.uses_params = true,
                    _ => {}
                }
            }
        }
        let fty = float.ty();
        if body.slots.is_some() {
            let (array, n, zero) = (local("__t"), schedule.len(), float.literal(0.0));
            body.lets
                .push(quote!(let mut #array: [#fty; #n] = [#zero; #n];));
        }
        for &id in &schedule {
            let value = body.instruction(g.node(id));
            let statement = match &body.slots {
                Some(_) => {
                    let target = body.operand(id);
                    quote!(#target = #value;)
                }
                None => {
                    let name = temp(id);
                    quote!(let #name: #fty = #value;)
                }
            };
            body.lets.push(statement);
        }
        body.schedule = schedule;
        body
    }

    /// A node as an operand: a temporary, or a leaf read inline.
    fn operand(&self, id: NodeId) -> TokenStream {
        match self.g.node(id) {
            Node::Const(bits) => self.float.literal(f64::from_bits(bits)),
            Node::Input(k) => {
                let (input, k) = (local("input"), Literal::usize_unsuffixed(k as usize));
                quote!(#input[#k])
            }
            Node::Target(k) => {
                let (target, k) = (local("target"), Literal::usize_unsuffixed(k as usize));
                quote!(#target[#k])
            }
            Node::Param(k) => {
                let k = Literal::usize_unsuffixed(k as usize);
                if self.self_params {
                    quote!(self.params[#k])
                } else {
                    let params = local("__params");
                    quote!(#params[#k])
                }
            }
            Node::StopGradient(a) => self.operand(a),
            _ => match &self.slots {
                Some(slots) => {
                    let (array, i) = (
                        local("__t"),
                        Literal::usize_unsuffixed(slots[id.index()] as usize),
                    );
                    quote!(#array[#i])
                }
                None => {
                    let t = temp(id);
                    quote!(#t)
                }
            },
        }
    }

    fn instruction(&self, node: Node) -> TokenStream {
        let o = |id| self.operand(id);
        let one = self.float.literal(1.0);
        let zero = self.float.literal(0.0);
        match node {
            Node::Neg(a) => {
                let a = o(a);
                quote!(-#a)
            }
            Node::Add(a, b) => bin(o(a), quote!(+), o(b)),
            Node::Sub(a, b) => bin(o(a), quote!(-), o(b)),
            Node::Mul(a, b) => bin(o(a), quote!(*), o(b)),
            Node::Div(a, b) => bin(o(a), quote!(/), o(b)),
            Node::Call(f, a) => {
                let a = o(a);
                match f {
                    Func::Exp => quote!(#a.exp()),
                    Func::Ln => quote!(#a.ln()),
                    Func::Sqrt => quote!(#a.sqrt()),
                    Func::Abs => quote!(#a.abs()),
                    Func::Sin => quote!(#a.sin()),
                    Func::Cos => quote!(#a.cos()),
                    Func::Tanh => quote!(#a.tanh()),
                    Func::Sigmoid => quote!(#one / (#one + (-#a).exp())),
                    Func::Relu => quote!(#a.max(#zero)),
                    Func::Softplus => quote!(#a.max(#zero) + (-#a.abs()).exp().ln_1p()),
                }
            }
            Node::Powi(a, n) => {
                let a = o(a);
                quote!(#a.powi(#n))
            }
            Node::Pow(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a.powf(#b))
            }
            Node::Max(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a.max(#b))
            }
            Node::Min(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a.min(#b))
            }
            Node::IfGt(a, b, t, e) => {
                let (a, b, t, e) = (o(a), o(b), o(t), o(e));
                quote!(if #a > #b { #t } else { #e })
            }
            Node::IfGe(a, b, t, e) => {
                let (a, b, t, e) = (o(a), o(b), o(t), o(e));
                quote!(if #a >= #b { #t } else { #e })
            }
            // Leaves and aliases are operands, never scheduled as instructions.
            Node::Const(_)
            | Node::Input(_)
            | Node::Target(_)
            | Node::Param(_)
            | Node::StopGradient(_) => quote!(),
        }
    }
}

impl Body<'_> {
    /// The body's statements with `update(k, dL/dparams[k])` placed right after the
    /// instruction that completes it (so the value dies early instead of spilling), and,
    /// when `after_last_read`, also after the last instruction reading `params[k]` (so a
    /// simultaneous update never lets a later instruction see a new value). `None` when
    /// some gradient *is* a parameter leaf, which would need its own ordering.
    fn interleaved(
        &self,
        grads: &[NodeId],
        after_last_read: bool,
        mut update: impl FnMut(usize) -> TokenStream,
    ) -> Option<Vec<TokenStream>> {
        if self.slots.is_some()
            || grads
                .iter()
                .any(|&id| matches!(self.g.node(id), Node::Param(_)))
        {
            return None;
        }
        let mut position = vec![usize::MAX; self.g.len()];
        for (i, id) in self.schedule.iter().enumerate() {
            position[id.index()] = i;
        }
        let mut last_read = vec![None::<usize>; grads.len()];
        if after_last_read {
            for (i, id) in self.schedule.iter().enumerate() {
                for c in self.g.node(*id).children() {
                    if let Node::Param(k) = self.g.node(c) {
                        if let Some(slot) = last_read.get_mut(k as usize) {
                            *slot = Some(i);
                        }
                    }
                }
            }
        }
        // `ready[i]`: the updates to emit after instruction `i`; index 0 is "before all".
        let mut ready: Vec<Vec<usize>> = vec![Vec::new(); self.schedule.len() + 1];
        for (k, &id) in grads.iter().enumerate() {
            if self.g.as_const(id) == Some(0.0) {
                continue;
            }
            let computed = position
                .get(id.index())
                .copied()
                .filter(|&p| p != usize::MAX);
            let at = computed.max(last_read[k]).map_or(0, |p| p + 1);
            ready[at].push(k);
        }
        // `update` is called in program order, so it may declare values for later ones.
        let mut out = Vec::with_capacity(self.lets.len() + grads.len());
        out.extend(ready[0].iter().map(|&k| update(k)));
        for (i, statement) in self.lets.iter().enumerate() {
            out.push(statement.clone());
            out.extend(ready[i + 1].iter().map(|&k| update(k)));
        }
        Some(out)
    }
}

/// Writes the fused SGD updates `p_k -= lr * g_k` the way a person would: when
/// `g_k = d * x` (a weight: the adjoint of its neuron times an input), as `(lr*d) * x`
/// with `lr*d` computed once per neuron and shared with the bias update `p_b -= lr*d`.
/// That saves one multiply per weight.
struct ScaledByLr<'a, 'b> {
    body: &'a Body<'b>,
    lr: &'a syn::Ident,
    /// `dL/dparams`.
    grads: &'a [NodeId],
    /// Nodes that are some parameter's gradient (a bias's adjoint).
    roots: HashSet<NodeId>,
    /// Gradients that are also a factor of other gradients (biases of weight rows).
    shared_factors: HashSet<NodeId>,
    /// `lr * node` already declared, by node.
    declared: HashMap<NodeId, syn::Ident>,
}

impl<'a, 'b> ScaledByLr<'a, 'b> {
    fn new(body: &'a Body<'b>, grads: &'a [NodeId], lr: &'a syn::Ident) -> Self {
        let roots: HashSet<NodeId> = grads.iter().copied().collect();
        let shared_factors = grads
            .iter()
            .filter_map(|&id| match body.g.node(id) {
                Node::Mul(a, b) => [a, b].into_iter().find(|f| roots.contains(f)),
                _ => None,
            })
            .collect();
        ScaledByLr {
            body,
            lr,
            roots,
            shared_factors,
            declared: HashMap::new(),
            grads,
        }
    }

    /// `(declaration if new, name)` of `lr * node`.
    fn lr_times(&mut self, node: NodeId) -> (TokenStream, syn::Ident) {
        if let Some(name) = self.declared.get(&node) {
            return (quote!(), name.clone());
        }
        let name = local(&format!("__lr{}", node.index()));
        let (lr, value, fty) = (self.lr, self.body.operand(node), self.body.float.ty());
        self.declared.insert(node, name.clone());
        (quote!(let #name: #fty = #lr * #value;), name)
    }

    fn update(&mut self, k: usize) -> TokenStream {
        let g = self.body.g;
        let grad = self.grads[k];
        let index = Literal::usize_unsuffixed(k);
        let shareable = |id: NodeId| !g.node(id).is_leaf();
        // A bias: its gradient is the factor the neuron's weights scale, so scale it whole.
        if self.shared_factors.contains(&grad) {
            let (declaration, name) = self.lr_times(grad);
            return quote!(#declaration self.params[#index] -= #name;);
        }
        match g.node(grad) {
            // (Not when the other factor is a parameter: the update would read it at
            // update time, possibly after its own update; the product node read it in
            // its place, which the write placement accounts for.)
            Node::Mul(a, b)
                if (shareable(a) || shareable(b))
                    && !matches!(g.node(a), Node::Param(_))
                    && !matches!(g.node(b), Node::Param(_)) =>
            {
                // Scale the factor that is itself a gradient (the neuron's adjoint) if
                // there is one, else the non-leaf one.
                let (scaled, other) = if self.roots.contains(&a) || !shareable(b) {
                    (a, b)
                } else {
                    (b, a)
                };
                let (declaration, name) = self.lr_times(scaled);
                let other = self.body.operand(other);
                quote!(#declaration self.params[#index] -= #name * #other;)
            }
            _ if shareable(grad) => {
                let (declaration, name) = self.lr_times(grad);
                quote!(#declaration self.params[#index] -= #name;)
            }
            _ => {
                let lr = self.lr;
                match g.as_const(grad) {
                    // (Constant gradients of ±1 without a multiplication: clippy's
                    // neg_multiply would fire on `lr * -1.0` in the user's crate.)
                    Some(1.0) => quote!(self.params[#index] -= #lr;),
                    Some(-1.0) => quote!(self.params[#index] += #lr;),
                    _ => {
                        let value = self.body.operand(grad);
                        quote!(self.params[#index] -= #lr * #value;)
                    }
                }
            }
        }
    }
}

fn bin(a: TokenStream, op: TokenStream, b: TokenStream) -> TokenStream {
    quote!(#a #op #b)
}

fn temp(id: NodeId) -> syn::Ident {
    local(&format!("__t{}", id.index()))
}
