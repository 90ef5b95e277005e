//! The gradient's batch methods: `accumulate_gradient_batch`'s block bodies (lanes and
//! blocks) and `sgd_step_batch`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{
    block_form, dispatched, lanes, length_check, scalar_reads, tensor_block, BlockForm, Signature,
    Sizes,
};
use crate::emit::build::Body;
use crate::emit::ir::{GroupWrite, Instr, Operand};
use crate::emit::render::{self, Block, Lanes, NoBlockForm, Target};
use crate::emit::tokens::{argument, index, local, Float};

/// Lane-accumulator arrays above this many bytes are not kept on the stack: the
/// block's gradient is reduced into `grad` after every block instead.
const ACC_BYTES: usize = 64 * 1024;

/// The body of the lane function
/// `fn __accumulate_block(&self, inputs: &[[F; I]], targets: &[[F; T]], grad: &mut [F; P]) -> F`.
pub fn lanes_body(
    float: Float,
    sizes: Sizes,
    gradient: &Body<'_>,
    loss: Operand,
    grads: &[Operand],
) -> Result<TokenStream, NoBlockForm> {
    let l = lanes(float);
    let r = Lanes { float, lanes: l };
    let fty = float.ty();
    let lanes_ty = r.ty();
    let (inputs, targets, grad) = (argument("inputs"), argument("targets"), argument("grad"));
    let (x, y, acc, loss_acc, block, blocks, s) = (
        local("x"),
        local("y"),
        local("acc"),
        local("loss_acc"),
        local("block"),
        local("blocks"),
        local("s"),
    );
    let params = local("params");
    let (p, ni, nt) = (sizes.p, sizes.i, sizes.t);
    let mut statements = Vec::with_capacity(gradient.instrs.len());
    for instr in &gradient.instrs {
        statements.push(render::instr(&r, instr)?);
    }
    let in_lanes = acc_in_lanes(sizes.p, l, float);
    let mut updates = Vec::new();
    for (k, g) in grads.iter().enumerate() {
        if g.as_const() == Some(0.0) {
            continue;
        }
        let (ki, value) = (index(k), r.operand(*g)?);
        updates.push(if in_lanes {
            quote!(#acc[#ki] = #acc[#ki] + #value;)
        } else {
            quote!(#grad[#ki] += (#value).sum();)
        });
    }
    let loss_value = r.operand(loss)?;
    let zero = float.literal(0.0);
    let (acc_decl, acc_reduce) = if in_lanes {
        (
            quote!(let mut #acc = [#lanes_ty::splat(#zero); #p];),
            quote!(::symnn::lanes::reduce_into(&#acc, #grad);),
        )
    } else {
        (quote!(), quote!())
    };
    Ok(quote! {
        let #params: &[#fty; #p] = &self.params;
        let #blocks = #inputs.len() / #l;
        #acc_decl
        let mut #loss_acc = #lanes_ty::splat(#zero);
        for #block in 0..#blocks {
            let #x: [#lanes_ty; #ni] = ::symnn::lanes::transpose(&#inputs[#block * #l..]);
            let #y: [#lanes_ty; #nt] = ::symnn::lanes::transpose(&#targets[#block * #l..]);
            #(#statements)*
            #(#updates)*
            #loss_acc = #loss_acc + #loss_value;
        }
        #acc_reduce
        let mut #loss_acc = #loss_acc.sum();
        for #s in #blocks * #l..#inputs.len() {
            #loss_acc += Self::accumulate_gradient(self, &#inputs[#s], &#targets[#s], #grad);
        }
        #loss_acc
    })
}

/// Whether the `P` lane accumulators fit the stack budget.
fn acc_in_lanes(p: usize, lanes: usize, float: Float) -> bool {
    let bytes = float.bytes();
    p * lanes * bytes <= ACC_BYTES
}

/// The same gradient from another lowering (every array operation a tensor node), for
/// the block code: used when the block target takes it.
#[derive(Clone, Copy)]
pub struct Alternative<'b, 'g> {
    /// The loss and every gradient value.
    pub gradient: &'b Body<'g>,
    /// The loss as an operand of `gradient`.
    pub loss: Operand,
    /// `dL/dparams[k]` as operands of `gradient`.
    pub grads: &'b [Operand],
    /// The parameter-group gradient writes, accumulating.
    pub writes: &'b [GroupWrite],
}

/// The batch methods of the generated struct `name`: `accumulate_gradient_batch`,
/// `sgd_step_batch` and the block function they run, from the one-sample gradient body
/// with its loss and gradient operands and (tensor tier) its group writes, documented
/// with the per-sample formulas `gradient_doc`; the block code from `alternative`
/// where the block target takes it.
#[allow(clippy::too_many_arguments)] // one call site (`emit::emit`), each argument distinct
pub fn methods(
    name: &syn::Ident,
    float: Float,
    sizes: Sizes,
    gradient: &Body<'_>,
    loss_operand: Operand,
    grads: &[Operand],
    writes: &[GroupWrite],
    gradient_doc: &str,
    alternative: Option<Alternative<'_, '_>>,
) -> TokenStream {
    let form_of = |gradient: &Body<'_>, loss_operand, grads, writes: &[GroupWrite]| {
        block_form(float, sizes, gradient, !writes.is_empty(), |tensor| {
            if tensor {
                tensor_body(float, sizes, gradient, loss_operand, grads, writes)
            } else {
                lanes_body(float, sizes, gradient, loss_operand, grads)
            }
        })
    };
    let form = alternative
        .map(|a| form_of(a.gradient, a.loss, a.grads, a.writes))
        .filter(|form| form.body.is_ok())
        .unwrap_or_else(|| form_of(gradient, loss_operand, grads, writes));
    let one_sample = form
        .body
        .as_ref()
        .err()
        .map_or(String::new(), |why| why.doc());
    // The per-sample formulas, as on `accumulate_gradient` (a ```text block).
    let doc_acc = format!(
        "Adds the summed dL/dparams of a batch of samples into `grad` and returns the summed loss: the sum of `accumulate_gradient` over the samples, computed a block at a time (SIMD across samples), equal to that sum up to the order of summation. For each sample:\n\n{gradient_doc}\n\n# Panics\nIf `inputs` and `targets` differ in length.{one_sample}"
    );
    let doc_sgd = format!(
        "One minibatch SGD step: every parameter moves by `-lr` times the mean gradient of the samples, evaluated at the old parameters. Returns the mean loss before the step (0 for an empty batch, which changes nothing). For each sample:\n\n{gradient_doc}\n\n# Panics\nIf `inputs` and `targets` differ in length.{one_sample}"
    );
    let fty = float.ty();
    let (p, i, t) = (sizes.p, sizes.i, sizes.t);
    let (inputs, targets, grad, lr) = (
        argument("inputs"),
        argument("targets"),
        argument("grad"),
        argument("lr"),
    );
    let (acc_body, block_item) = accumulate_body(name, float, sizes, &form);
    let sgd_body = sgd_body(float, sizes, form.tensor);
    quote! {
        #block_item

        #[doc = #doc_acc]
        pub fn accumulate_gradient_batch(&self, #inputs: &[[#fty; #i]], #targets: &[[#fty; #t]], #grad: &mut [#fty; #p]) -> #fty {
            #acc_body
        }

        #[doc = #doc_sgd]
        pub fn sgd_step_batch(&mut self, #inputs: &[[#fty; #i]], #targets: &[[#fty; #t]], #lr: #fty) -> #fty {
            #sgd_body
        }
    }
}

/// `accumulate_gradient_batch`'s body and the block function it calls (none when the
/// batch runs one sample at a time).
fn accumulate_body(
    name: &syn::Ident,
    float: Float,
    sizes: Sizes,
    form: &BlockForm,
) -> (TokenStream, TokenStream) {
    let (fty, zero) = (float.ty(), float.literal(0.0));
    let (p, i, t) = (sizes.p, sizes.i, sizes.t);
    let (inputs, targets, grad) = (argument("inputs"), argument("targets"), argument("grad"));
    let (net, s, loss) = (local("net"), local("s"), local("loss"));
    let one_sample_loop = quote! {
        let mut #loss = #zero;
        for (#s, #net) in #inputs.iter().zip(#targets) {
            #loss += Self::accumulate_gradient(self, #s, #net, #grad);
        }
        #loss
    };
    let signature = Signature {
        args: vec![
            (inputs, quote!(&[[#fty; #i]])),
            (targets, quote!(&[[#fty; #t]])),
            (grad, quote!(&mut [#fty; #p])),
        ],
        returns: Some(fty),
    };
    dispatched(
        name,
        &local("accumulate_block"),
        &signature,
        &gradient_check(),
        &one_sample_loop,
        form,
    )
}

/// The gradient batch methods' length check.
fn gradient_check() -> TokenStream {
    length_check("targets", "symnn: a batch needs as many targets as inputs")
}

/// `sgd_step_batch`'s body: the batch gradient, then one SGD loop.
fn sgd_body(float: Float, sizes: Sizes, tensor: bool) -> TokenStream {
    let (fty, zero, p) = (float.ty(), float.literal(0.0), sizes.p);
    let (inputs, targets, lr) = (argument("inputs"), argument("targets"), argument("lr"));
    let (net, s, loss, scale, n, grad_local) = (
        local("net"),
        local("s"),
        local("loss"),
        local("scale"),
        local("n"),
        local("grad"),
    );
    let check = gradient_check();
    // The scalar tier's parameter arrays are small: the batch gradient lives on the
    // stack. A tensor program's can be megabytes: on the heap (a `Vec`; on the stack
    // when the runtime has no `alloc` feature).
    let grad_buffer = if tensor {
        quote!(let mut #grad_local = ::symnn::__private::grad_buffer::<#fty, #p>();)
    } else {
        quote!(let mut #grad_local = [#zero; #p];)
    };
    quote! {
        #check
        if #inputs.is_empty() {
            return #zero;
        }
        #grad_buffer
        let #loss = Self::accumulate_gradient_batch(
            self,
            #inputs,
            #targets,
            ::symnn::__private::array_mut(&mut #grad_local, "grad"),
        );
        let #n: #fty = ::symnn::__private::count(#inputs.len());
        let #scale = #lr / #n;
        for (#net, #s) in self.params.iter_mut().zip(&#grad_local) {
            *#net -= #scale * *#s;
        }
        #loss / #n
    }
}

/// The body of the tensor tier's block function
/// `fn __accumulate_block(&self, inputs: &[[F; I]], targets: &[[F; T]], grad: &mut [F; P]) -> F`:
/// every instruction of the one-sample gradient rendered on the [`Block`] target
/// (products become matrix products over the block, maps and scalar code run across
/// it), or why an instruction has no block form (then the batch methods loop over
/// samples).
pub fn tensor_body(
    float: Float,
    sizes: Sizes,
    gradient: &Body<'_>,
    loss: Operand,
    grads: &[Operand],
    writes: &[GroupWrite],
) -> Result<TokenStream, NoBlockForm> {
    let values: usize = gradient
        .instrs
        .iter()
        .map(|instr| match instr {
            Instr::Loop { op, .. } => op.values(),
            _ => 1,
        })
        .sum();
    let b = tensor_block(float, values + sizes.i + sizes.t);
    let block = Block {
        lanes: Lanes { float, lanes: b },
        inputs: sizes.i,
        targets: sizes.t,
    };
    let mut statements = Vec::new();
    for instr in &gradient.instrs {
        statements.push(render::instr(&block, instr)?);
    }
    let n = local("n");
    let grad = argument("grad");
    let mut adds = Vec::new();
    for (k, g) in grads.iter().enumerate() {
        if g.as_const() != Some(0.0) {
            let (ki, value) = (index(k), block.operand(*g)?);
            adds.push(quote!(#grad[#ki] += (#value).sum_first(#n);));
        }
    }
    let mut group_writes = Vec::new();
    for w in writes {
        group_writes.push(block.group_write(w)?);
    }
    let fty = float.ty();
    let lanes_ty = block.lanes.ty();
    let (inputs, targets) = (argument("inputs"), argument("targets"));
    let (params, x, y, start, block_inputs, block_targets, total) = (
        local("params"),
        local("x"),
        local("y"),
        local("start"),
        local("inputs"),
        local("targets"),
        local("total"),
    );
    let (ni, nt, p) = (sizes.i, sizes.t, sizes.p);
    let loss_value = block.operand(loss)?;
    // Inputs and targets as lanes only when scalar code reads them (a layer reads its
    // input rows in place).
    let mut extra = grads.to_vec();
    extra.push(loss);
    let (reads_x, reads_y) = scalar_reads(&gradient.instrs, &extra);
    let x_lanes = reads_x.then(
        || quote!(let #x: [#lanes_ty; #ni] = ::symnn::lanes::transpose_padded(#block_inputs);),
    );
    let y_lanes = reads_y.then(
        || quote!(let #y: [#lanes_ty; #nt] = ::symnn::lanes::transpose_padded(#block_targets);),
    );
    let zero = float.literal(0.0);
    let arrays = block.arrays(&gradient.instrs);
    Ok(quote! {
        let #params: &[#fty; #p] = &self.params;
        let mut #total: #fty = #zero;
        #arrays
        let mut #start = 0;
        while #start < #inputs.len() {
            let #n = (#inputs.len() - #start).min(#b);
            let #block_inputs: &[[#fty; #ni]] = &#inputs[#start..#start + #n];
            let #block_targets: &[[#fty; #nt]] = &#targets[#start..#start + #n];
            #x_lanes
            #y_lanes
            let _ = (#block_inputs, #block_targets);
            #(#statements)*
            #(#adds)*
            #(#group_writes)*
            #total += (#loss_value).sum_first(#n);
            #start += #n;
        }
        #total
    })
}
