//! The one-sample methods of a program with loops emitted as Rust loops
//! ([`crate::lower::Rolled`], [`crate::bptt`]).
//!
//! Each rolled loop gets two private functions, rendered like any method body on the
//! [`Straight`] target from the loop body's own graph:
//! - `__symnn_loopL_step(&self, input, target, __var) -> [F; n]`: one iteration, the
//!   next state from the `Var` array (state, captured values, reads);
//! - `__symnn_loopL_vjp(&self, input, target, __var, grad) -> [F; S + C + R]`: its reverse
//!   pass, from the same array with the seed `δs'` after the reads: adds `(∂f/∂θ)ᵀ δs'`
//!   into `grad` and returns the adjoints of the state, captured values and reads.
//!
//! The methods are the program's graph computed in parts around the loops (each part
//! a [`Body::part`] of the nodes not computed yet), with the program's `Var`s in a
//! local array `__var`:
//! - `forward`/`loss`: part, forward loop, part, ..., the result;
//! - `accumulate_gradient`: the same with each iteration's state kept
//!   (`[[F; S]; N]` on the stack), then, loop by loop in reverse, the part computing the
//!   seed of its results, the reverse loop, and finally the parameter gradient of
//!   `L + Σ seed · arg`;
//! - `gradient` is `accumulate_gradient` into zeros and `sgd_step` calls `gradient`
//!   (as for tensor programs).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::build::{Body, ParamAccess};
use super::call_group::group_calls;
use super::dispatch::{self, Copies, Receiver, Signature};
use super::fuse::fuse;
use super::ir::{Instr, Method, Operand, Returns, Temp, WriteMode};
use super::render::{temp, Straight};
use super::step::GroupGrad;
use super::tokens::{argument, index, local};
use super::{Derived, Layout};
use crate::graph::{Graph, Node, NodeId};
use crate::loops::Storage;
use crate::lower::{Lowered, Read, ReadSource, Rolled};
use crate::resolved::{Index, SlotKind};

/// The one-sample methods and the rolled loops' private functions.
pub fn methods(layout: &Layout, derived: &Derived) -> TokenStream {
    let program = &derived.program;
    let gradient = derived
        .rolled
        .as_ref()
        .expect("a program with rolled loops");
    let render = Straight::new(layout.float);
    let (fty, p, i, t, o) = (&layout.fty, layout.p, layout.i, layout.t, layout.o);
    let (input, target, grad, lr) = (
        argument("input"),
        argument("target"),
        argument("grad"),
        argument("lr"),
    );
    let zero = layout.float.literal(0.0);

    // Which state each method's forward loops need: `forward` only what the output
    // reads (it has no targets), the others everything.
    let outputs = &program.output.elems;
    let forward_state = needed_state(program, outputs);
    let all_state: Vec<Vec<usize>> = program
        .rolled
        .iter()
        .map(|r| (0..r.state_len).collect())
        .collect();

    let mut functions = Vec::new();
    for (l, (rolled, step)) in program.rolled.iter().zip(&gradient.steps).enumerate() {
        let uses_forward = forward_state[l] != all_state[l];
        functions.push(step_function(layout, rolled, l, &all_state[l], "step"));
        if uses_forward {
            functions.push(step_function(
                layout,
                rolled,
                l,
                &forward_state[l],
                "step_fwd",
            ));
        }
        functions.push(vjp_function(layout, program, rolled, step, l));
    }

    let forward_step = |l: usize| {
        if forward_state[l] == all_state[l] {
            "step"
        } else {
            "step_fwd"
        }
    };
    let mut forward_driver = Driver::new(layout, program);
    forward_driver.has_target = false;
    let forward_body = forward_driver.forward(outputs, &forward_state, &forward_step, |d, ops| {
        let ops: Vec<TokenStream> = ops.iter().map(|&x| d.value(x)).collect();
        quote!([#(#ops),*])
    });
    let loss = program.loss;
    let loss_body =
        Driver::new(layout, program)
            .forward(&[loss], &all_state, &|_| "step", |d, ops| d.value(ops[0]));
    let mut loss_out_roots = vec![loss];
    loss_out_roots.extend(outputs);
    let loss_out_body =
        Driver::new(layout, program).forward(&loss_out_roots, &all_state, &|_| "step", |d, ops| {
            let loss = d.value(ops[0]);
            let outs: Vec<TokenStream> = ops[1..].iter().map(|&x| d.value(x)).collect();
            quote!((#loss, [#(#outs),*]))
        });
    let acc_body = Driver::new(layout, program).accumulate(derived, gradient);
    let sgd = Method::new(
        vec![Instr::CallGradient, Instr::UpdateAll],
        Returns::Value(Operand::Temp(Temp::Loss)),
    );
    let sgd_body = render.method(&sgd);
    let docs = &derived.docs;
    let loops = program
        .rolled
        .iter()
        .map(|r| format!("{} iterations", r.count))
        .collect::<Vec<_>>()
        .join(", ");
    let note = format!("\n\nThis network's loops ({loops}) run as Rust loops: backpropagation through time, one iteration's reverse pass written once symbolically (see `derivation()`).");
    let doc_forward = format!(
        "The network's output for one input:\n\n{}{note}",
        docs.forward
    );
    let doc_loss = format!("The loss for one sample:\n\n{}{note}", docs.loss);
    let doc_loss_out = format!(
        "The loss and the output for one sample, computed together. The loss:\n\n{}{note}",
        docs.loss
    );
    let doc_gradient = format!(
        "The loss and dL/dparams for one sample:\n\n{}{note}",
        docs.gradient
    );
    let doc_gradient_into = format!(
        "Writes dL/dparams for one sample into `grad` (overwriting it) and returns the loss.{note}"
    );
    let doc_acc = format!(
        "Adds dL/dparams for one sample into `grad` (for minibatches); returns the loss.{note}"
    );
    let doc_sgd = format!("One step of gradient descent on one sample: every parameter moves by `-lr * dL/dparam` evaluated at the old parameters. Returns the loss before the step.{note}");
    let grad_local = local("grad");
    let out = local("out");
    // Each body is dispatched (`dispatch`): its `avx2,fma` copy runs the kernels and
    // the inlined step and vjp functions with 4 lanes of f64.
    let casts = quote!(
        clippy::cast_possible_wrap,
        clippy::cast_sign_loss,
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        unused_variables,
        unused_mut
    );
    let allow = quote!(#[allow(#casts)]);
    let allow_acc =
        quote!(#[allow(#casts, clippy::needless_range_loop, clippy::large_stack_arrays)]);
    let (input_ty, target_ty) = (quote!(&[#fty; #i]), quote!(&[#fty; #t]));
    let mut items = Vec::new();
    let mut dispatched =
        |name: &str, args: Vec<(syn::Ident, TokenStream)>, returns, body, attrs| {
            let signature = Signature {
                args,
                returns: Some(returns),
            };
            let (call, item) = dispatch::split(
                &layout.name,
                &local(&format!("{name}_body")),
                Receiver::Shared,
                &dispatch::names(&signature),
                &signature,
                &body,
                &attrs,
                Copies::Avx2,
            );
            items.push(item);
            call
        };
    let sample = vec![
        (input.clone(), input_ty.clone()),
        (target.clone(), target_ty),
    ];
    let forward_body = dispatched(
        "forward",
        vec![(input.clone(), input_ty)],
        quote!([#fty; #o]),
        forward_body,
        allow.clone(),
    );
    let loss_body = dispatched(
        "loss",
        sample.clone(),
        fty.clone(),
        loss_body,
        allow.clone(),
    );
    let loss_out_body = dispatched(
        "loss_and_output",
        sample.clone(),
        quote!((#fty, [#fty; #o])),
        loss_out_body,
        allow,
    );
    let mut acc_args = sample;
    acc_args.push((grad.clone(), quote!(&mut [#fty; #p])));
    let acc_body = dispatched(
        "accumulate_gradient",
        acc_args,
        fty.clone(),
        acc_body,
        allow_acc,
    );
    quote! {
        #(#functions)*
        #(#items)*

        #[doc = #doc_forward]
        #[inline]
        pub fn forward(&self, #input: &[#fty; #i]) -> [#fty; #o] {
            #forward_body
        }

        #[doc = #doc_loss]
        #[inline]
        pub fn loss(&self, #input: &[#fty; #i], #target: &[#fty; #t]) -> #fty {
            #loss_body
        }

        #[doc = #doc_loss_out]
        #[inline]
        pub fn loss_and_output(&self, #input: &[#fty; #i], #target: &[#fty; #t]) -> (#fty, [#fty; #o]) {
            #loss_out_body
        }

        #[doc = #doc_gradient]
        #[inline]
        pub fn gradient(&self, #input: &[#fty; #i], #target: &[#fty; #t]) -> (#fty, [#fty; #p]) {
            let mut #grad_local: [#fty; #p] = [#zero; #p];
            let #out = Self::accumulate_gradient(self, #input, #target, &mut #grad_local);
            (#out, #grad_local)
        }

        #[doc = #doc_gradient_into]
        #[inline]
        pub fn gradient_into(&self, #input: &[#fty; #i], #target: &[#fty; #t], #grad: &mut [#fty; #p]) -> #fty {
            #grad.fill(#zero);
            self.accumulate_gradient(#input, #target, #grad)
        }

        #[doc = #doc_acc]
        #[inline]
        pub fn accumulate_gradient(&self, #input: &[#fty; #i], #target: &[#fty; #t], #grad: &mut [#fty; #p]) -> #fty {
            #acc_body
        }

        #[doc = #doc_sgd]
        #[inline]
        pub fn sgd_step(&mut self, #input: &[#fty; #i], #target: &[#fty; #t], #lr: #fty) -> #fty {
            #sgd_body
        }
    }
}

/// Per rolled loop, the state elements `roots` need (closed under the iteration:
/// an element needed at the end needs the elements its next value reads).
fn needed_state(program: &Lowered, roots: &[NodeId]) -> Vec<Vec<usize>> {
    let g = &program.graph;
    let mut roots = roots.to_vec();
    let mut needed = vec![Vec::new(); program.rolled.len()];
    for (l, rolled) in program.rolled.iter().enumerate().rev() {
        let live = g.reachable(&roots);
        let mut set: Vec<bool> = (0..rolled.state_len)
            .map(|j| {
                g.find(Node::Var(rolled.results + index_u32(j)))
                    .is_some_and(|id| live[id.index()])
            })
            .collect();
        loop {
            let next: Vec<NodeId> = (0..rolled.state_len)
                .filter(|&j| set[j])
                .map(|j| rolled.next_state[j])
                .collect();
            let reach = rolled.body.reachable(&next);
            let mut grew = false;
            for (j, slot) in set.iter_mut().enumerate() {
                let read = rolled
                    .body
                    .find(Node::Var(index_u32(j)))
                    .is_some_and(|id| reach[id.index()]);
                if read && !*slot {
                    *slot = true;
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        needed[l] = (0..rolled.state_len).filter(|&j| set[j]).collect();
        // The arguments these need (captured values: all of them).
        roots.extend(needed[l].iter().map(|&j| rolled.args[j]));
        roots.extend(&rolled.args[rolled.state_len..]);
    }
    needed
}

fn index_u32(k: usize) -> u32 {
    u32::try_from(k).expect("fewer than 2^32 loop values")
}

/// `__symnn_loopL_<kind>`.
fn function_name(l: usize, kind: &str) -> syn::Ident {
    format_ident!("__symnn_loop{}_{}", l, kind)
}

/// A parameter's name in a signature, or `_` when the body does not read it.
fn arg_or_blank(used: bool, ident: &syn::Ident) -> TokenStream {
    if used {
        quote!(#ident)
    } else {
        quote!(_)
    }
}

/// One iteration's next state, for the elements `state`.
fn step_function(
    layout: &Layout,
    rolled: &Rolled,
    l: usize,
    state: &[usize],
    kind: &str,
) -> TokenStream {
    let roots: Vec<NodeId> = state.iter().map(|&j| rolled.next_state[j]).collect();
    let body = Body::new(&rolled.body, &roots, ParamAccess::Shared);
    let operands = roots.iter().map(|&id| body.operand(id)).collect();
    let method = Method::new(
        group_calls(fuse(body.instrs.clone())),
        Returns::Array(operands),
    );
    let rendered = Straight::new(layout.float).method(&method);
    let (fty, i, t) = (&layout.fty, layout.i, layout.t);
    let (input, target, var) = (argument("input"), argument("target"), local("var"));
    let v = array_len(rolled);
    let n = state.len();
    let name = function_name(l, kind);
    let uses = method.uses();
    let (input_arg, target_arg, var_arg) = (
        arg_or_blank(uses.input, &input),
        arg_or_blank(uses.target, &target),
        arg_or_blank(uses.var, &var),
    );
    quote! {
        #[inline(always)]
        #[doc(hidden)]
        #[allow(clippy::inline_always, clippy::unused_self)]
        fn #name(&self, #input_arg: &[#fty; #i], #target_arg: &[#fty; #t], #var_arg: &[#fty; #v]) -> [#fty; #n] {
            #rendered
        }
    }
}

/// One iteration's reverse pass.
fn vjp_function(
    layout: &Layout,
    program: &Lowered,
    rolled: &Rolled,
    step: &crate::bptt::StepVjp,
    l: usize,
) -> TokenStream {
    let g = &rolled.body;
    let groups: Vec<GroupGrad> = step
        .params
        .group_grads
        .iter()
        .flat_map(|&(group, adjoint)| {
            let slot = &program.params[group];
            GroupGrad::terms(g, slot.offset, slot.shape.len(), adjoint)
        })
        .collect();
    let roots: Vec<NodeId> = step
        .params
        .grads
        .iter()
        .copied()
        .chain(groups.iter().flat_map(GroupGrad::roots))
        .chain(step.vars.iter().copied())
        .collect();
    // The next state is read from the stored states, not recomputed: what only it
    // reads (a layer's product and sum, say) is left out of the reverse pass.
    let mut done = vec![false; g.len()];
    let mut stored = Vec::new();
    for (j, &id) in rolled.next_state.iter().enumerate() {
        if !g.node(id).is_leaf()
            && !matches!(g.node(id), Node::StopGradient(_))
            && !done[id.index()]
        {
            done[id.index()] = true;
            stored.push((id, rolled.var_len() + j));
        }
    }
    // (A tensor-tier state is the elements of one tensor node: stored whole.)
    let mut stored_tensors = Vec::new();
    let mut j = 0;
    while j < rolled.next_state.len() {
        if let Node::Elem(t, 0) = g.node(rolled.next_state[j]) {
            let len = g.shape_of(t).len();
            let whole = (0..len).all(|i| {
                rolled.next_state.get(j + i).is_some_and(|&e| {
                    g.node(e) == Node::Elem(t, u32::try_from(i).expect("bounded"))
                })
            });
            if whole && !done[t.index()] {
                done[t.index()] = true;
                stored_tensors.push((t, rolled.var_len() + j, len));
                j += len;
                continue;
            }
        }
        j += 1;
    }
    let body = Body::part(g, &roots, ParamAccess::Shared, &mut done);
    let mut instrs = body.instrs.clone();
    for (param, &id) in step.params.grads.iter().enumerate() {
        let value = body.operand(id);
        if value.as_const() != Some(0.0) {
            instrs.push(Instr::AddGrad { param, value });
        }
    }
    instrs.extend(
        groups
            .iter()
            .map(|grp| grp.write(&body, WriteMode::Accumulate)),
    );
    let operands = step.vars.iter().map(|&id| body.operand(id)).collect();
    let method = Method::new(group_calls(fuse(instrs)), Returns::Array(operands));
    let rendered = Straight::new(layout.float).method(&method);
    let (fty, p, i, t) = (&layout.fty, layout.p, layout.i, layout.t);
    let var = local("var");
    // (Only the stored values the reverse pass reads.)
    let read: Vec<Operand> = method
        .instrs
        .iter()
        .flat_map(Instr::reads)
        .chain(match &method.returns {
            Returns::Array(values) => values.clone(),
            _ => Vec::new(),
        })
        .collect();
    let is_read = |temp: Temp| {
        read.iter()
            .any(|o| matches!(o, Operand::Temp(x) if *x == temp))
    };
    stored.retain(|&(id, _)| is_read(Temp::Node(index_u32(id.index()))));
    stored_tensors.retain(|&(t, _, _)| is_read(Temp::Tensor(index_u32(t.index()))));
    let loads = stored.iter().map(|&(id, k)| {
        let temp = temp(Temp::Node(index_u32(id.index())));
        let k = index(k);
        quote!(let #temp: #fty = #var[#k];)
    });
    let tensor_loads = stored_tensors.iter().map(|&(t, k, len)| {
        let temp = temp(Temp::Tensor(index_u32(t.index())));
        let (from, to, n) = (index(k), index(k + len), index(len));
        quote! {
            let mut #temp: [#fty; #n] = [#fty::default(); #n];
            #temp.copy_from_slice(&#var[#from..#to]);
        }
    });
    let (input, target, grad) = (argument("input"), argument("target"), argument("grad"));
    let v = array_len(rolled);
    let n = step.vars.len();
    let name = function_name(l, "vjp");
    let uses = method.uses();
    let (input_arg, target_arg, grad_arg) = (
        arg_or_blank(uses.input, &input),
        arg_or_blank(uses.target, &target),
        arg_or_blank(uses.grad, &grad),
    );
    quote! {
        #[inline(always)]
        #[doc(hidden)]
        #[allow(clippy::inline_always, clippy::unused_self, clippy::too_many_lines)]
        fn #name(&self, #input_arg: &[#fty; #i], #target_arg: &[#fty; #t], #var: &[#fty; #v], #grad_arg: &mut [#fty; #p]) -> [#fty; #n] {
            #(#loads)*
            #(#tensor_loads)*
            #rendered
        }
    }
}

/// The length of loop `rolled`'s array: its `Var`s, then the next state (stored by the
/// forward loop, read by the reverse pass).
fn array_len(rolled: &Rolled) -> usize {
    rolled.var_len() + rolled.state_len
}

/// A method computed in parts around the rolled loops.
struct Driver<'a> {
    layout: &'a Layout,
    program: &'a Lowered,
    g: &'a Graph,
    done: Vec<bool>,
    statements: Vec<TokenStream>,
    /// Whether the method has a `target` argument (`forward` has not).
    has_target: bool,
}

impl<'a> Driver<'a> {
    fn new(layout: &'a Layout, program: &'a Lowered) -> Driver<'a> {
        let g = &program.graph;
        let fty = &layout.fty;
        let zero = layout.float.literal(0.0);
        let var = local("var");
        let m = program.var_names.len();
        Driver {
            layout,
            program,
            g,
            done: vec![false; g.len()],
            statements: vec![quote!(let mut #var: [#fty; #m] = [#zero; #m];)],
            has_target: true,
        }
    }

    fn render(&self) -> Straight {
        Straight::new(self.layout.float)
    }

    /// The part computing `roots` (what earlier parts did not).
    fn part(&mut self, roots: &[NodeId]) {
        let body = Body::part(self.g, roots, ParamAccess::ViaSelf, &mut self.done);
        let render = self.render();
        self.statements
            .extend(body.instrs.iter().map(|instr| render.instr(instr)));
    }

    /// A node as an expression (after the part computing it).
    fn value(&self, id: NodeId) -> TokenStream {
        let mut done = vec![true; self.g.len()];
        let body = Body::part(self.g, &[], ParamAccess::ViaSelf, &mut done);
        self.render().value(body.operand(id))
    }

    /// `forward`, `loss`, `loss_and_output`: the parts and forward loops, then `tail`.
    fn forward(
        mut self,
        roots: &[NodeId],
        state: &[Vec<usize>],
        step: &dyn Fn(usize) -> &'static str,
        tail: impl FnOnce(&Driver<'_>, &[NodeId]) -> TokenStream,
    ) -> TokenStream {
        for (l, rolled) in self.program.rolled.iter().enumerate() {
            self.forward_loop(l, rolled, &state[l], step(l), false);
        }
        self.part(roots);
        let tail = tail(&self, roots);
        let statements = &self.statements;
        quote! {
            #(#statements)*
            #tail
        }
    }

    /// Sets up loop `l`'s array and runs it forward (keeping each iteration's state
    /// when `keep`); its results go to `__var`.
    fn forward_loop(&mut self, l: usize, rolled: &Rolled, state: &[usize], kind: &str, keep: bool) {
        let (fty, zero) = (&self.layout.fty, self.layout.float.literal(0.0));
        let (s_len, c_len) = (rolled.state_len, rolled.captured_len);
        let needed: Vec<NodeId> = state
            .iter()
            .map(|&j| rolled.args[j])
            .chain(rolled.args[s_len..].iter().copied())
            .collect();
        self.part(&needed);
        let array = array_name(l);
        let v = array_len(rolled);
        let mut setup = vec![quote!(let mut #array: [#fty; #v] = [#zero; #v];)];
        for &j in state
            .iter()
            .chain(&(s_len..s_len + c_len).collect::<Vec<_>>())
        {
            let value = self.value(rolled.args[j]);
            let j = index(j);
            setup.push(quote!(#array[#j] = #value;));
        }
        let (k, at) = (local("k"), local("at"));
        let count = index(usize::try_from(rolled.count).expect("the check stage bounds loops"));
        let history = history_name(l);
        let s = index(s_len);
        let n = usize::try_from(rolled.count).expect("the check stage bounds loops");
        // Every state, or checkpoints every `every` iterations and the last state.
        let (keep_setup, keep_step, keep_last) = match (keep, storage(rolled, self.layout)) {
            (false, _) => (None, None, None),
            (true, Storage::All) => {
                let states = index(n + 1);
                (
                    Some(quote!(let mut #history: [[#fty; #s]; #states] = [[#zero; #s]; #states];)),
                    Some(quote!(#history[#k].copy_from_slice(&#array[..#s]);)),
                    Some(quote!(#history[#count].copy_from_slice(&#array[..#s]);)),
                )
            }
            (true, Storage::Checkpoints { every }) => {
                let (checkpoints, every) = (index(n.div_ceil(every)), index(every));
                let last = last_name(l);
                (
                    Some(quote! {
                        let mut #history: [[#fty; #s]; #checkpoints] = [[#zero; #s]; #checkpoints];
                        let mut #last: [#fty; #s] = [#zero; #s];
                    }),
                    Some(quote! {
                        if #k % #every == 0 {
                            #history[#k / #every].copy_from_slice(&#array[..#s]);
                        }
                    }),
                    Some(quote!(#last.copy_from_slice(&#array[..#s]);)),
                )
            }
        };
        let mut reads = reads(rolled, &array, false);
        if !self.has_target {
            // (`forward`'s loop computes only state that no target reaches.)
            reads = rolled
                .reads
                .iter()
                .zip(reads)
                .filter(|(r, _)| {
                    !matches!(
                        r.source,
                        ReadSource::Slot {
                            kind: SlotKind::Target,
                            ..
                        }
                    )
                })
                .map(|(_, tokens)| tokens)
                .collect();
        }
        let start = rolled.start;
        let value_of_k =
            (!rolled.reads.is_empty()).then(|| quote!(let #at: i64 = #start + #k as i64;));
        let name = function_name(l, kind);
        let next = local("next");
        let write_back: Vec<TokenStream> = state
            .iter()
            .enumerate()
            .map(|(n, &j)| {
                let (n, j) = (index(n), index(j));
                quote!(#array[#j] = #next[#n];)
            })
            .collect();
        let var = local("var");
        let results: Vec<TokenStream> = state
            .iter()
            .map(|&j| {
                let r = index(rolled.results as usize + j);
                let j = index(j);
                quote!(#var[#r] = #array[#j];)
            })
            .collect();
        let (input, target) = (argument("input"), argument("target"));
        let call_target = if !self.has_target {
            let (t, zero) = (self.layout.t, &zero);
            quote!(&[#zero; #t])
        } else {
            quote!(#target)
        };
        self.statements.push(quote! {
            #(#setup)*
            #keep_setup
            for #k in 0..#count {
                #keep_step
                #value_of_k
                #(#reads)*
                let #next = self.#name(#input, #call_target, &#array);
                #(#write_back)*
            }
            #keep_last
            #(#results)*
        });
    }

    /// `accumulate_gradient`.
    fn accumulate(
        mut self,
        derived: &Derived,
        gradient: &crate::bptt::RolledGradient,
    ) -> TokenStream {
        let program = self.program;
        for (l, rolled) in program.rolled.iter().enumerate() {
            let state: Vec<usize> = (0..rolled.state_len).collect();
            self.forward_loop(l, rolled, &state, "step", true);
        }
        self.part(&[program.loss]);
        let var = local("var");
        let grad = argument("grad");
        let (input, target) = (argument("input"), argument("target"));
        for (l, rolled) in program.rolled.iter().enumerate().rev() {
            let adjoints = &gradient.result_adjoints[l];
            self.part(adjoints);
            let array = array_name(l);
            let history = history_name(l);
            let (s_len, c_len) = (rolled.state_len, rolled.captured_len);
            let seed = rolled.seed_base();
            let mut setup = Vec::new();
            for (j, &adj) in adjoints.iter().enumerate() {
                let value = self.value(adj);
                let at = index(seed + j);
                setup.push(quote!(#array[#at] = #value;));
            }
            let (k, at, d, dcap) = (local("k"), local("at"), local("d"), local("dcap"));
            let fty = &self.layout.fty;
            let zero = self.layout.float.literal(0.0);
            let c = index(c_len);
            let count = index(usize::try_from(rolled.count).expect("the check stage bounds loops"));
            let (s, seed_end) = (index(s_len), index(seed + s_len));
            let seed_at = index(seed);
            let (next_from, next_to) = (index(rolled.var_len()), index(array_len(rolled)));
            let captured = (c_len > 0).then(|| {
                let (from, to) = (index(s_len), index(s_len + c_len));
                quote!(for (#at, #d) in #dcap.iter_mut().zip(&#d[#from..#to]) { *#at += *#d; })
            });
            // (Only reads of parameters carry a gradient out of the loop.)
            let param_reads = reads(rolled, &array, true);
            let reads = reads(rolled, &array, false);
            let start = rolled.start;
            let value_of_k =
                (!rolled.reads.is_empty()).then(|| quote!(let #at: i64 = #start + #k as i64;));
            let name = function_name(l, "vjp");
            let seeds: Vec<TokenStream> = (0..s_len + c_len)
                .map(|j| {
                    let dst = index(rolled.seeds as usize + j);
                    if j < s_len {
                        let src = index(seed + j);
                        quote!(#var[#dst] = #array[#src];)
                    } else {
                        let src = index(j - s_len);
                        quote!(#var[#dst] = #dcap[#src];)
                    }
                })
                .collect();
            let reverse_step = quote! {
                #value_of_k
                #(#reads)*
                let #d = self.#name(#input, #target, &#array, #grad);
                #array[#seed_at..#seed_end].copy_from_slice(&#d[..#s]);
                #captured
                #(#param_reads)*
            };
            let reverse = match storage(rolled, self.layout) {
                Storage::All => quote! {
                    for #k in (0..#count).rev() {
                        #array[..#s].copy_from_slice(&#history[#k]);
                        #array[#next_from..#next_to].copy_from_slice(&#history[#k + 1]);
                        #reverse_step
                    }
                },
                Storage::Checkpoints { every } => {
                    // Segment by segment from the last: recompute its states from its
                    // checkpoint, then run its iterations in reverse.
                    let n = usize::try_from(rolled.count).expect("bounded");
                    let (segments, every_lit) = (index(n.div_ceil(every)), index(every));
                    let segment_len = index(every + 1);
                    let (m, k0, k1, segment, next) = (
                        local("m"),
                        local("k0"),
                        local("k1"),
                        local("segment"),
                        local("next"),
                    );
                    let last = last_name(l);
                    let step = function_name(l, "step");
                    let write_back = (0..s_len).map(|j| {
                        let j = index(j);
                        quote!(#array[#j] = #next[#j];)
                    });
                    quote! {
                        let mut #segment: [[#fty; #s]; #segment_len] = [[#zero; #s]; #segment_len];
                        for #m in (0..#segments).rev() {
                            let #k0 = #m * #every_lit;
                            let #k1 = (#k0 + #every_lit).min(#count);
                            #segment[0].copy_from_slice(&#history[#m]);
                            #array[..#s].copy_from_slice(&#history[#m]);
                            for #k in #k0..#k1 - 1 {
                                #value_of_k
                                #(#reads)*
                                let #next = self.#step(#input, #target, &#array);
                                #(#write_back)*
                                #segment[#k - #k0 + 1].copy_from_slice(&#array[..#s]);
                            }
                            if #m + 1 < #segments {
                                #segment[#k1 - #k0].copy_from_slice(&#history[#m + 1]);
                            } else {
                                #segment[#k1 - #k0].copy_from_slice(&#last);
                            }
                            for #k in (#k0..#k1).rev() {
                                #array[..#s].copy_from_slice(&#segment[#k - #k0]);
                                #array[#next_from..#next_to].copy_from_slice(&#segment[#k - #k0 + 1]);
                                #reverse_step
                            }
                        }
                    }
                }
            };
            self.statements.push(quote! {
                #(#setup)*
                let mut #dcap: [#fty; #c] = [#zero; #c];
                #reverse
                #(#seeds)*
            });
        }
        // The parameter gradient of `L + Σ seed · arg`.
        let g = self.g;
        let groups: Vec<GroupGrad> = derived
            .group_grads
            .iter()
            .flat_map(|&(group, adjoint)| {
                let slot = &program.params[group];
                GroupGrad::terms(g, slot.offset, slot.shape.len(), adjoint)
            })
            .collect();
        let roots: Vec<NodeId> = derived
            .grads
            .iter()
            .copied()
            .chain(groups.iter().flat_map(GroupGrad::roots))
            .collect();
        let body = Body::part(g, &roots, ParamAccess::ViaSelf, &mut self.done);
        let render = self.render();
        self.statements
            .extend(body.instrs.iter().map(|instr| render.instr(instr)));
        let mut done = vec![true; g.len()];
        let reader = Body::part(g, &[], ParamAccess::ViaSelf, &mut done);
        for (param, &id) in derived.grads.iter().enumerate() {
            let value = reader.operand(id);
            if value.as_const() != Some(0.0) {
                self.statements
                    .push(render.instr(&Instr::AddGrad { param, value }));
            }
        }
        for grp in &groups {
            self.statements
                .push(render.instr(&grp.write(&reader, WriteMode::Accumulate)));
        }
        let loss = self.value(program.loss);
        let statements = &self.statements;
        quote! {
            #(#statements)*
            #loss
        }
    }
}

fn array_name(l: usize) -> syn::Ident {
    local(&format!("loop{l}"))
}

fn history_name(l: usize) -> syn::Ident {
    local(&format!("loop{l}_states"))
}

fn last_name(l: usize) -> syn::Ident {
    local(&format!("loop{l}_last"))
}

/// How loop `rolled` keeps its states ([`crate::loops::storage`]; the lowering rolled
/// it only if they fit).
fn storage(rolled: &Rolled, layout: &Layout) -> Storage {
    crate::loops::storage(rolled.count, rolled.state_len, layout.float.bytes())
        .expect("the lowering rolls a loop only when its states fit")
}

/// The statements filling loop `l`'s reads for the iteration at `__at` (`gradient`:
/// instead, the statements adding the parameter reads' adjoints `__d` into `grad`).
fn reads(rolled: &Rolled, array: &syn::Ident, gradient: bool) -> Vec<TokenStream> {
    let (at, offset, d, grad) = (local("at"), local("offset"), local("d"), argument("grad"));
    let (input, target) = (argument("input"), argument("target"));
    rolled
        .reads
        .iter()
        .filter_map(|Read { source, var, len }| {
            let (var_end, len_lit) = (index(var + len), index(*len));
            let var_at = index(*var);
            match source {
                ReadSource::LoopValue if !gradient => Some(quote!(#array[#var_at] = #at as _;)),
                ReadSource::LoopValue => None,
                ReadSource::Slot { kind, base, terms } => {
                    if gradient && *kind != SlotKind::Param {
                        return None;
                    }
                    let formula = offset_formula(*base, terms, &at);
                    let source = match kind {
                        SlotKind::Input => quote!(#input),
                        SlotKind::Target => quote!(#target),
                        SlotKind::Param => quote!(self.params),
                    };
                    Some(if gradient {
                        // (The reverse pass returns the adjoints in `Var` order.)
                        let d_at = var_at.clone();
                        quote! {
                            let #offset = (#formula) as usize;
                            for (#at, #d) in #grad[#offset..#offset + #len_lit].iter_mut().zip(&#d[#d_at..#d_at + #len_lit]) {
                                *#at += *#d;
                            }
                        }
                    } else {
                        quote! {
                            let #offset = (#formula) as usize;
                            #array[#var_at..#var_end].copy_from_slice(&#source[#offset..#offset + #len_lit]);
                        }
                    })
                }
            }
        })
        .collect()
}

/// `base + Σ index(at) · stride`, in `i64`.
fn offset_formula(base: usize, terms: &[(Index, usize)], at: &syn::Ident) -> TokenStream {
    let base = i64::try_from(base).expect("the check stage bounds arrays");
    let terms = terms.iter().map(|(index, stride)| {
        let stride = i64::try_from(*stride).expect("the check stage bounds arrays");
        let index = index_tokens(index, at);
        quote!(+ (#index) * #stride)
    });
    quote!(#base #(#terms)*)
}

fn index_tokens(index: &Index, at: &syn::Ident) -> TokenStream {
    match index {
        Index::Const(c) => quote!(#c),
        Index::Var(_) => quote!(#at),
        Index::Neg(a) => {
            let a = index_tokens(a, at);
            quote!((-(#a)))
        }
        Index::Binary(op, a, b) => {
            let (a, b) = (index_tokens(a, at), index_tokens(b, at));
            match op {
                crate::ast::BinOp::Add => quote!((#a + #b)),
                crate::ast::BinOp::Sub => quote!((#a - #b)),
                crate::ast::BinOp::Mul | crate::ast::BinOp::Div => quote!((#a * #b)),
            }
        }
    }
}
