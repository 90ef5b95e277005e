//! Batch code: the gradient of a block of samples at once.
//!
//! Both tiers render the one-sample gradient body (unfused, accumulating) on a batch
//! target of the one renderer ([`super::render`]); what a target refuses
//! ([`NoBlockForm`]) and a block too big for the stack ([`OneSample`]) make the batch
//! methods loop over samples, and their rustdoc says why.
//!
//! **Scalar tier** (no tensor nodes, the [`Lanes`] target): the one-sample gradient body is re-rendered with
//! every temporary a `::symnn::lanes::Lanes<F, L>` (lane `l` = sample `l` of a block of
//! `L`), inputs and targets transposed into lanes once per block, parameters and
//! constants splatted, and one lane accumulator per parameter summed across blocks and
//! reduced at the end. The samples left over after the last whole block go through the
//! one-sample `accumulate_gradient`. Each lane performs the one-sample operations, so
//! per-sample values agree with the one-sample code up to the 1–2 ulp by which
//! `symnn::math`'s `exp`/`ln`/`sigmoid`/`softplus` (lanes) differ from libm's
//! (straight-line code); the batch also sums in another order.
//!
//! The body is emitted once as an `#[inline(always)]` function and called from two
//! entry points: a `#[target_feature(enable = "avx2,fma")]` copy chosen at run time by
//! `::symnn::simd::isa()`, and the portable one (see `docs/PERFORMANCE.md`).
//!
//! **Tensor tier** (the [`Block`] target): blocks of up to 32 (f64) / 64 (f32) samples held in `[[F; len]; B]`
//! arrays; products of a parameter matrix become GEMMs over the block (`symnn::gemm`),
//! maps run per row, scalar code runs on `Lanes<F, B>`, and products of per-sample
//! arrays (second-order code) run sample by sample ([`tensor_body`]).
//!
//! **Stack bound** ([`block_stack`]): a block whose estimated frame passes 1 MiB loops
//! over the one-sample function instead (in a debug build, from a larger estimate); see
//! docs/DESIGN.md, "Throughput".

use proc_macro2::TokenStream;
use quote::quote;

use super::build::Body;
use super::ir::{GroupWrite, Instr, Loop, MapArg, Operand};
use super::render::{self, Block, Lanes, NoBlockForm, Target};
use super::tokens::{argument, index, local, Float};

/// Lanes per block: two 256-bit vectors of `f64`, one of `f32`... chosen by measurement
/// (`cargo bench --bench batch`).
pub fn lanes(float: Float) -> usize {
    match float.0 {
        crate::resolved::FloatType::F64 => 4,
        crate::resolved::FloatType::F32 => 8,
    }
}

/// Lane-accumulator arrays above this many bytes are not kept on the stack: the
/// block's gradient is reduced into `grad` after every block instead.
const ACC_BYTES: usize = 64 * 1024;

/// The sizes of the generated struct.
#[derive(Clone, Copy)]
pub struct Sizes {
    /// Parameters.
    pub p: usize,
    /// Inputs.
    pub i: usize,
    /// Targets.
    pub t: usize,
}

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
    let bytes = match float.0 {
        crate::resolved::FloatType::F64 => 8,
        crate::resolved::FloatType::F32 => 4,
    };
    p * lanes * bytes <= ACC_BYTES
}

/// Why a network's batch methods loop over the one-sample `accumulate_gradient`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneSample {
    /// The block's estimated stack frame passes [`BLOCK_STACK_LIMIT`].
    StackLimit,
    /// An instruction has no form on the batch target.
    NoBlockForm(NoBlockForm),
}

impl OneSample {
    /// The sentence the batch methods' rustdoc adds.
    fn doc(self) -> String {
        let why = match self {
            OneSample::StackLimit => {
                "a block of its samples would need more than 1 MiB of stack".to_string()
            }
            OneSample::NoBlockForm(refusal) => refusal.reason().to_string(),
        };
        format!("\n\nThis network's batch runs one sample at a time: {why}.")
    }
}

/// The gradient body of the batch block, rendered, with whether it is the tensor tier.
struct BlockForm {
    /// `fn __accumulate_block`'s body, or why there is none.
    body: Result<TokenStream, OneSample>,
    /// A tensor-tier program (its batch gradient buffer lives on the heap).
    tensor: bool,
    /// A debug build's block frame passes the limit: debug builds loop over samples.
    debug_loop: bool,
}

/// The block function's body on the batch target the program takes: [`Lanes`] for
/// the scalar tier, [`Block`] for the tensor tier, or none (see [`OneSample`]).
fn block_form(
    float: Float,
    sizes: Sizes,
    gradient: &Body<'_>,
    loss: Operand,
    grads: &[Operand],
    writes: &[GroupWrite],
) -> BlockForm {
    let tensor = !writes.is_empty()
        || gradient
            .instrs
            .iter()
            .any(|i| matches!(i, Instr::Loop { .. }));
    // The block's stack: its arrays (tensor tier) or its lane temporaries (scalar
    // tier: 32 bytes each). Above `BLOCK_STACK_LIMIT` (a big second-order program,
    // say) the batch methods loop over samples; a debug build (which gives every
    // temporary its own slot, about 4× the optimised frame) does so from a quarter of
    // it, so a debug test on a 2 MiB thread does not overflow.
    let (stack, debug_stack) = block_stack(float, sizes, gradient, tensor);
    let body = if stack > BLOCK_STACK_LIMIT {
        Err(OneSample::StackLimit)
    } else if tensor {
        tensor_body(float, sizes, gradient, loss, grads, writes).map_err(OneSample::NoBlockForm)
    } else {
        lanes_body(float, sizes, gradient, loss, grads).map_err(OneSample::NoBlockForm)
    };
    BlockForm {
        body,
        tensor,
        debug_loop: debug_stack > BLOCK_STACK_LIMIT,
    }
}

/// The batch methods of the generated struct `name`: `accumulate_gradient_batch`,
/// `sgd_step_batch` and the block function they run, from the one-sample gradient body
/// with its loss and gradient operands and (tensor tier) its group writes, documented
/// with the per-sample formulas `gradient_doc`.
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
) -> TokenStream {
    let form = block_form(float, sizes, gradient, loss_operand, grads, writes);
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

/// `assert_eq!(inputs.len(), targets.len(), ...)`
fn length_check() -> TokenStream {
    let (inputs, targets) = (argument("inputs"), argument("targets"));
    quote! {
        assert_eq!(
            #inputs.len(),
            #targets.len(),
            "symnn: a batch needs as many targets as inputs"
        );
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
    let (net, s, loss, avx2) = (local("net"), local("s"), local("loss"), local("avx2"));
    let block_fn = local("accumulate_block");
    let check = length_check();
    let one_sample_loop = quote! {
        let mut #loss = #zero;
        for (#s, #net) in #inputs.iter().zip(#targets) {
            #loss += Self::accumulate_gradient(self, #s, #net, #grad);
        }
        #loss
    };
    let Ok(body) = &form.body else {
        let acc = quote! {
            #check
            #one_sample_loop
        };
        return (acc, quote!());
    };
    let item = quote! {
        #[inline(always)]
        fn #block_fn(&self, #inputs: &[[#fty; #i]], #targets: &[[#fty; #t]], #grad: &mut [#fty; #p]) -> #fty {
            #body
        }
    };
    let debug = if form.debug_loop {
        quote! {
            if cfg!(debug_assertions) {
                return { #one_sample_loop };
            }
        }
    } else {
        quote!()
    };
    let acc = quote! {
        #check
        #debug
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            fn #avx2(#net: &#name, #inputs: &[[#fty; #i]], #targets: &[[#fty; #t]], #grad: &mut [#fty; #p]) -> #fty {
                #name::#block_fn(#net, #inputs, #targets, #grad)
            }
            if ::symnn::simd::isa() >= ::symnn::simd::Isa::Avx2Fma {
                // SAFETY: the CPU has AVX2 and FMA (detected at run time).
                #[allow(unsafe_code)]
                return unsafe { #avx2(self, #inputs, #targets, #grad) };
            }
        }
        Self::#block_fn(self, #inputs, #targets, #grad)
    };
    (acc, item)
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
    let check = length_check();
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

/// Samples per block of the tensor tier: 32 in `f64`, 64 in `f32`, fewer when a
/// block's arrays would exceed [`BLOCK_BYTES`] (they live on the stack).
fn tensor_block(float: Float, per_sample_values: usize) -> usize {
    let (bytes, mut block) = match float.0 {
        crate::resolved::FloatType::F64 => (8, 32),
        crate::resolved::FloatType::F32 => (4, 64),
    };
    while block > 1 && block * per_sample_values * bytes > BLOCK_BYTES {
        block /= 2;
    }
    block
}

/// Stack budget of one block's arrays in the tensor tier.
const BLOCK_BYTES: usize = 512 * 1024;

/// Above this estimated block frame the batch methods loop over samples (see
/// [`block_stack`]): well inside a 2 MiB thread stack (test threads, rayon workers).
const BLOCK_STACK_LIMIT: usize = 1024 * 1024;

/// The estimated stack of one block, optimised and in a debug build: the tensor
/// tier's arrays (values a sample times the block) and the lane temporaries of the
/// scalar code (`Lanes` of the block's width, 32 bytes in the scalar tier). A debug
/// build keeps every temporary of every lane operation in a slot of its own: measured,
/// a 2,154-instruction scalar-tier PINN block (69 KB estimated) overflowed a 2 MiB
/// test thread, so lanes count 40× and arrays 4× there.
fn block_stack(float: Float, sizes: Sizes, gradient: &Body<'_>, tensor: bool) -> (usize, usize) {
    let (mut array_values, mut scalars) = (0, 0);
    for instr in &gradient.instrs {
        match instr {
            Instr::Loop { op, .. } => array_values += op.values(),
            _ => scalars += 1,
        }
    }
    let (arrays, lanes) = if tensor {
        let bytes = match float.0 {
            crate::resolved::FloatType::F64 => 8,
            crate::resolved::FloatType::F32 => 4,
        };
        let b = tensor_block(float, array_values + scalars + sizes.i + sizes.t);
        (
            b * (array_values + sizes.i + sizes.t) * bytes,
            b * scalars * bytes,
        )
    } else {
        (0, scalars * 32)
    };
    (arrays + lanes, 4 * arrays + 40 * lanes)
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
    let (mut reads_x, mut reads_y) = (false, false);
    let scalar_reads = gradient
        .instrs
        .iter()
        .flat_map(|instr| match instr {
            Instr::Let { op, .. } => op.operands(),
            Instr::Loop {
                op: Loop::Pack(items),
                ..
            } => items.clone(),
            Instr::Loop {
                op: Loop::Map(map), ..
            } => map
                .args
                .iter()
                .filter_map(|a| match a {
                    MapArg::Scalar(s) => Some(*s),
                    MapArg::Array(_) => None,
                })
                .collect(),
            _ => Vec::new(),
        })
        .chain(grads.iter().copied())
        .chain([loss]);
    for operand in scalar_reads {
        reads_x |= matches!(operand, Operand::Input(_));
        reads_y |= matches!(operand, Operand::Target(_));
    }
    let x_lanes = reads_x.then(
        || quote!(let #x: [#lanes_ty; #ni] = ::symnn::lanes::transpose_padded(#block_inputs);),
    );
    let y_lanes = reads_y.then(
        || quote!(let #y: [#lanes_ty; #nt] = ::symnn::lanes::transpose_padded(#block_targets);),
    );
    let zero = float.literal(0.0);
    Ok(quote! {
        let #params: &[#fty; #p] = &self.params;
        let mut #total: #fty = #zero;
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
