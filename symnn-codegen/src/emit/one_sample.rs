//! The one-sample methods: `forward`, `loss`, `loss_and_output`, `gradient`,
//! `gradient_into`, `accumulate_gradient` and `sgd_step`, each a [`Method`] of the IR
//! built from the schedule of its roots, rewritten ([`fuse`], [`step`]) and rendered on
//! the [`Straight`] target.

use proc_macro2::TokenStream;
use quote::quote;

use super::build::{Body, ParamAccess};
use super::call_group::grouped;
use super::dispatch::{self, Copies, Receiver, Signature};
use super::fuse::fuse;
use super::ir::{GroupWrite, Instr, Method, Operand, Returns, WriteMode};
use super::render::Straight;
use super::step::{self, GroupGrad, StepForm, StepMethod};
use super::tokens::{argument, local};
use super::{Derived, Layout};
use crate::graph::NodeId;

/// The bodies of one network's one-sample methods, and the gradient body the batch
/// methods lift.
pub struct Bodies<'g> {
    /// `forward`'s body (its schedule gives `COST.forward_*`).
    pub forward: Body<'g>,
    /// `loss`'s body, unfused (for `loss_batch`).
    pub loss: Body<'g>,
    /// `forward`'s outputs as operands of `forward`.
    pub output_operands: Vec<Operand>,
    /// The loss and every gradient value (its schedule gives `COST.gradient_*`).
    pub gradient: Body<'g>,
    /// `dL/dparams[k]` as operands of `gradient`.
    pub grad_operands: Vec<Operand>,
    /// The parameter-group gradient writes, accumulating (for the batch methods).
    pub group_writes: Vec<GroupWrite>,
    forward_method: Method,
    loss_method: Method,
    loss_out_method: Method,
    /// `None` for a tensor program: `gradient` calls `accumulate_gradient`.
    gradient_method: Option<Method>,
    acc_method: Method,
    sgd_method: Method,
}

impl<'g> Bodies<'g> {
    /// The bodies of `derived`'s program.
    pub fn new(derived: &'g Derived) -> Bodies<'g> {
        let program = &derived.program;
        let g = &program.graph;
        let (loss, outputs, grads) = (program.loss, &program.output.elems, &derived.grads);
        // A program with tensor nodes: `gradient` is `accumulate_gradient` into zeros
        // (its parameter array may be too big to return as a list of values).
        let tensor = g.iter().any(|(id, _)| g.is_tensor(id));
        let groups: Vec<GroupGrad> = derived
            .group_grads
            .iter()
            .flat_map(|&(group, adjoint)| {
                let slot = &program.params[group];
                GroupGrad::terms(g, slot.offset, slot.shape.len(), adjoint)
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
        let sgd_writes: Vec<_> = groups
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
                &sgd_writes,
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
        let group_writes = groups
            .iter()
            .map(|grp| match grp.write(&gradient, WriteMode::Accumulate) {
                Instr::WriteGroup(w) => w,
                _ => unreachable!("a group write"),
            })
            .collect();
        let output_operands = operands(&forward, outputs);
        // Grouping is the last rewrite: `step` and `fuse` never see a group.
        Bodies {
            forward,
            loss: loss_only,
            output_operands,
            gradient,
            grad_operands,
            group_writes,
            forward_method: grouped(forward_method),
            loss_method: grouped(loss_method),
            loss_out_method: grouped(loss_out_method),
            gradient_method: gradient_method.map(grouped),
            acc_method: grouped(acc_method),
            sgd_method: grouped(sgd_method),
        }
    }
}

/// The one-sample methods' items, documented with their formulas.
pub fn methods(layout: &Layout, derived: &Derived, bodies: &Bodies<'_>) -> TokenStream {
    let (fty, p, i, t, o) = (&layout.fty, layout.p, layout.i, layout.t, layout.o);
    let (input, target, grad, lr) = (
        argument("input"),
        argument("target"),
        argument("grad"),
        argument("lr"),
    );
    let (input_ty, target_ty) = (quote!(&[#fty; #i]), quote!(&[#fty; #t]));
    let sample = || {
        vec![
            (input.clone(), input_ty.clone()),
            (target.clone(), target_ty.clone()),
        ]
    };
    let mut items = Vec::new();
    let mut body = |method: &Method, name: &str, receiver, args, returns| {
        let spec = Spec {
            name,
            receiver,
            signature: Signature {
                args,
                returns: Some(returns),
            },
        };
        spec.render(layout, method, &mut items)
    };
    let forward = body(
        &bodies.forward_method,
        "forward",
        Receiver::Shared,
        vec![(input.clone(), input_ty.clone())],
        quote!([#fty; #o]),
    );
    let loss = body(
        &bodies.loss_method,
        "loss",
        Receiver::Shared,
        sample(),
        fty.clone(),
    );
    let loss_out = body(
        &bodies.loss_out_method,
        "loss_and_output",
        Receiver::Shared,
        sample(),
        quote!((#fty, [#fty; #o])),
    );
    let gradient = match &bodies.gradient_method {
        Some(method) => body(
            method,
            "gradient",
            Receiver::Shared,
            sample(),
            quote!((#fty, [#fty; #p])),
        ),
        None => {
            let (grad_local, out, zero) = (local("grad"), local("out"), layout.float.literal(0.0));
            let call = quote! {
                let mut #grad_local: [#fty; #p] = [#zero; #p];
                let #out = Self::accumulate_gradient(self, #input, #target, &mut #grad_local);
                (#out, #grad_local)
            };
            (vec![quote!(#input), quote!(#target)], call)
        }
    };
    let mut acc_args = sample();
    acc_args.push((grad.clone(), quote!(&mut [#fty; #p])));
    let accumulate = body(
        &bodies.acc_method,
        "accumulate_gradient",
        Receiver::Shared,
        acc_args,
        fty.clone(),
    );
    let mut sgd_args = sample();
    sgd_args.push((lr.clone(), fty.clone()));
    let sgd = body(
        &bodies.sgd_method,
        "sgd_step",
        Receiver::Mut,
        sgd_args,
        fty.clone(),
    );
    let zero = layout.float.literal(0.0);
    let docs = Docs::new(derived);
    let (doc_forward, doc_loss, doc_loss_out) = (&docs.forward, &docs.loss, &docs.loss_out);
    let (doc_gradient, doc_gradient_into) = (&docs.gradient, &docs.gradient_into);
    let (doc_accumulate, doc_sgd) = (&docs.accumulate, &docs.sgd);
    let fwd_input = &forward.0[0];
    let [loss_input, loss_target] = two(&loss.0);
    let [lo_input, lo_target] = two(&loss_out.0);
    let [grad_input, grad_target] = two(&gradient.0);
    let [acc_input, acc_target, acc_grad] = three(&accumulate.0);
    let [sgd_input, sgd_target, sgd_lr] = three(&sgd.0);
    let (forward, loss, loss_out) = (&forward.1, &loss.1, &loss_out.1);
    let (gradient, accumulate, sgd) = (&gradient.1, &accumulate.1, &sgd.1);
    quote! {
        #[doc = #doc_forward]
        #[inline]
        pub fn forward(&self, #fwd_input: &[#fty; #i]) -> [#fty; #o] {
            #forward
        }

        #[doc = #doc_loss]
        #[inline]
        pub fn loss(&self, #loss_input: &[#fty; #i], #loss_target: &[#fty; #t]) -> #fty {
            #loss
        }

        #[doc = #doc_loss_out]
        #[inline]
        pub fn loss_and_output(&self, #lo_input: &[#fty; #i], #lo_target: &[#fty; #t]) -> (#fty, [#fty; #o]) {
            #loss_out
        }

        #[doc = #doc_gradient]
        #[inline]
        pub fn gradient(&self, #grad_input: &[#fty; #i], #grad_target: &[#fty; #t]) -> (#fty, [#fty; #p]) {
            #gradient
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
            #accumulate
        }

        #[doc = #doc_sgd]
        #[inline]
        pub fn sgd_step(&mut self, #sgd_input: &[#fty; #i], #sgd_target: &[#fty; #t], #sgd_lr: #fty) -> #fty {
            #sgd
        }

        #(#items)*
    }
}

fn two(names: &[TokenStream]) -> [&TokenStream; 2] {
    [&names[0], &names[1]]
}

fn three(names: &[TokenStream]) -> [&TokenStream; 3] {
    [&names[0], &names[1], &names[2]]
}

/// One one-sample method: its name, receiver and signature.
struct Spec<'a> {
    name: &'a str,
    receiver: Receiver,
    signature: Signature,
}

impl Spec<'_> {
    /// The method's parameter patterns (`_` for an argument the body does not use) and
    /// its body. A body with vector loops (grouped calls, [`super::call_group`], or
    /// tensor kernels) is dispatched ([`dispatch`]): it moves into an
    /// `#[inline(always)]` item pushed onto `items`, compiled once with `avx2,fma` (4
    /// lanes of f64 instead of SSE2's 2) and once portable.
    fn render(
        &self,
        layout: &Layout,
        method: &Method,
        items: &mut Vec<TokenStream>,
    ) -> (Vec<TokenStream>, TokenStream) {
        let body = Straight::new(layout.float).method(method);
        let uses = method.uses();
        let patterns: Vec<TokenStream> = self
            .signature
            .args
            .iter()
            .map(|(name, _)| {
                let used = match name.to_string().as_str() {
                    "input" => uses.input,
                    "target" => uses.target,
                    "lr" => uses.lr,
                    "grad" => uses.grad,
                    _ => true,
                };
                if used {
                    quote!(#name)
                } else {
                    quote!(_)
                }
            })
            .collect();
        // Vector loops: grouped calls, and the tensor tier's kernels (`#[inline(always)]`,
        // so they are compiled into each copy with its features).
        let vector_loops = method.instrs.iter().any(|instr| {
            matches!(
                instr,
                Instr::CallGroup { .. } | Instr::Loop { .. } | Instr::WriteGroup(_)
            )
        });
        if !vector_loops {
            return (patterns, body);
        }
        let body_fn = local(&format!("{}_body", self.name));
        let (call, item) = dispatch::split(
            &layout.name,
            &body_fn,
            self.receiver,
            &patterns,
            &self.signature,
            &body,
            &quote!(),
            Copies::Avx2,
        );
        items.push(item);
        (dispatch::names(&self.signature), call)
    }
}

/// Each method's rustdoc: its formula (a ```text block: no lint reads it).
struct Docs {
    forward: String,
    loss: String,
    loss_out: String,
    gradient: String,
    gradient_into: String,
    accumulate: String,
    sgd: String,
}

impl Docs {
    fn new(derived: &Derived) -> Docs {
        let docs = &derived.docs;
        Docs {
            forward: format!("The network's output for one input:\n\n{}", docs.forward),
            loss: format!("The loss for one sample:\n\n{}", docs.loss),
            loss_out: format!(
                "The loss and the output for one sample, computed together. The loss:\n\n{}",
                docs.loss
            ),
            gradient: format!(
                "The loss and dL/dparams for one sample:\n\n{}",
                docs.gradient
            ),
            gradient_into: format!(
                "Writes dL/dparams for one sample into `grad` (overwriting it) and returns the loss: `gradient` without the `[F; P]` return value on the stack.\n\n{}",
                docs.gradient
            ),
            accumulate: format!(
                "Adds dL/dparams for one sample into `grad` (for minibatches); returns the loss.\n\n{}",
                docs.gradient
            ),
            sgd: format!(
                "One step of gradient descent on one sample, a simultaneous update: every parameter moves by `-lr * dL/dparam` evaluated at the old parameters (each write comes after the last read of the old value). Returns the loss before the step.\n\n{}",
                docs.gradient
            ),
        }
    }
}
