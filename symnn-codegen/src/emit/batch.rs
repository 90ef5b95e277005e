//! Batch code: the gradient of a block of samples at once.
//!
//! **Scalar tier** (no tensor nodes): the one-sample gradient body is re-rendered with
//! every temporary a `::symnn::lanes::Lanes<F, L>` (lane `l` = sample `l` of a block of
//! `L`), inputs and targets transposed into lanes once per block, parameters and
//! constants splatted, and one lane accumulator per parameter summed across blocks and
//! reduced at the end. The samples left over after the last whole block go through the
//! one-sample `accumulate_gradient`. Each lane performs exactly the one-sample
//! operations, so per-sample values are bit-identical; only the summation order of the
//! batch differs.
//!
//! The body is emitted once as an `#[inline(always)]` function and called from two
//! entry points: a `#[target_feature(enable = "avx2,fma")]` copy chosen at run time by
//! `::symnn::simd::isa()`, and the portable one (see `docs/PERFORMANCE.md`).
//!
//! **Tensor tier**: blocks of up to 32 (f64) / 64 (f32) samples held in `[[F; len]; B]`
//! arrays; products of a parameter matrix become GEMMs over the block (`symnn::gemm`),
//! maps run per row, scalar code runs on `Lanes<F, B>`, and products of per-sample
//! arrays (second-order code) run sample by sample ([`tensor_body`]).
//!
//! **Stack bound** ([`block_stack`]): a block whose estimated frame passes 1 MiB loops
//! over the one-sample function instead (in a debug build, from a larger estimate); see
//! docs/DESIGN.md, "Throughput".

use proc_macro2::TokenStream;
use quote::quote;

use super::instr::{Body, Instr, Op, Operand, Temp};
use super::loops::{
    lane_name, tensor_name, Array, GroupValue, GroupWrite, Loop, MapArg, MapLoop, WriteMode,
};
use super::tokens::{argument, index, local, Float, Render};
use crate::graph::Func;
use crate::tensor::LeafKind;

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
/// `fn __accumulate_lanes(&self, inputs: &[[F; I]], targets: &[[F; T]], grad: &mut [F; P]) -> F`.
pub fn lanes_body(
    float: Float,
    sizes: Sizes,
    gradient: &Body<'_>,
    loss: Operand,
    grads: &[Operand],
) -> TokenStream {
    let l = lanes(float);
    let r = LaneRender { float, lanes: l };
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
    let statements = gradient.instrs.iter().map(|instr| r.instr(instr));
    let in_lanes = acc_in_lanes(sizes.p, l, float);
    let updates = grads.iter().enumerate().filter_map(|(k, g)| {
        if g.as_const() == Some(0.0) {
            return None;
        }
        let (ki, value) = (index(k), r.operand(*g));
        Some(if in_lanes {
            quote!(#acc[#ki] = #acc[#ki] + #value;)
        } else {
            quote!(#grad[#ki] += (#value).sum();)
        })
    });
    let loss_value = r.operand(loss);
    let zero = float.literal(0.0);
    let (acc_decl, acc_reduce) = if in_lanes {
        (
            quote!(let mut #acc = [#lanes_ty::splat(#zero); #p];),
            quote!(::symnn::lanes::reduce_into(&#acc, #grad);),
        )
    } else {
        (quote!(), quote!())
    };
    let _ = (ni, nt);
    quote! {
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
    }
}

/// Whether the `P` lane accumulators fit the stack budget.
fn acc_in_lanes(p: usize, lanes: usize, float: Float) -> bool {
    let bytes = match float.0 {
        crate::resolved::FloatType::F64 => 8,
        crate::resolved::FloatType::F32 => 4,
    };
    p * lanes * bytes <= ACC_BYTES
}

/// Instructions as lane expressions.
#[derive(Clone, Copy)]
struct LaneRender {
    float: Float,
    lanes: usize,
}

impl LaneRender {
    /// `::symnn::lanes::Lanes::<F, L>`
    fn ty(self) -> TokenStream {
        let (fty, l) = (self.float.ty(), self.lanes);
        quote!(::symnn::lanes::Lanes::<#fty, #l>)
    }

    fn instr(self, instr: &Instr) -> TokenStream {
        match instr {
            Instr::TempArray { len } => {
                let (array, ty, zero) = (local("t"), self.ty(), self.float.literal(0.0));
                quote!(let mut #array = [#ty::splat(#zero); #len];)
            }
            Instr::Let { dst, op } => {
                let (name, value) = (self.temp(*dst), self.op(*op));
                if dst.is_array_element() {
                    quote!(#name = #value;)
                } else {
                    quote!(let #name = #value;)
                }
            }
            Instr::BindParams => quote!(),
            other => unreachable!("not in a scalar gradient body: {other:?}"),
        }
    }

    fn temp(self, temp: Temp) -> TokenStream {
        match temp {
            Temp::Node(n) => {
                let name = local(&format!("t{n}"));
                quote!(#name)
            }
            Temp::Slot(i) => {
                let (array, i) = (local("t"), index(i as usize));
                quote!(#array[#i])
            }
            other => unreachable!("not in a scalar gradient body: {other:?}"),
        }
    }

    fn operand(self, operand: Operand) -> TokenStream {
        let ty = self.ty();
        match operand {
            Operand::Temp(t) => self.temp(t),
            Operand::Input(k) => {
                let (x, k) = (local("x"), index(k));
                quote!(#x[#k])
            }
            Operand::Target(k) => {
                let (y, k) = (local("y"), index(k));
                quote!(#y[#k])
            }
            Operand::Param(k) | Operand::ParamViaSelf(k) => {
                let (params, k) = (local("params"), index(k));
                quote!(#ty::splat(#params[#k]))
            }
            Operand::Const(v) => {
                let v = self.float.literal(v);
                quote!(#ty::splat(#v))
            }
            Operand::Lr | Operand::Lane(_) => unreachable!("not in a scalar gradient body"),
        }
    }

    fn op(self, op: Op) -> TokenStream {
        let o = |a| self.operand(a);
        let ty = self.ty();
        match op {
            Op::Copy(a) => o(a),
            Op::Neg(a) => {
                let a = o(a);
                quote!(-#a)
            }
            Op::Add(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a + #b)
            }
            Op::Sub(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a - #b)
            }
            Op::Mul(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a * #b)
            }
            Op::Div(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a / #b)
            }
            Op::Call(f, a) => {
                let a = o(a);
                let zero = self.float.literal(0.0);
                match f {
                    Func::Exp => quote!(#a.exp()),
                    Func::Ln => quote!(#a.ln()),
                    Func::Sqrt => quote!(#a.sqrt()),
                    Func::Abs => quote!(#a.abs()),
                    Func::Sin => quote!(#a.sin()),
                    Func::Cos => quote!(#a.cos()),
                    Func::Tanh => quote!(#a.tanh()),
                    Func::Sigmoid => quote!(#a.sigmoid()),
                    Func::Relu => quote!(#a.max(#ty::splat(#zero))),
                    Func::Softplus => quote!(#a.softplus()),
                }
            }
            Op::Powi(a, n) => {
                let a = o(a);
                quote!(#a.powi(#n))
            }
            Op::Pow(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a.powf(#b))
            }
            Op::Max(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a.max(#b))
            }
            Op::Min(a, b) => {
                let (a, b) = (o(a), o(b));
                quote!(#a.min(#b))
            }
            Op::IfGt(a, b, t, e) => {
                let (a, b, t, e) = (o(a), o(b), o(t), o(e));
                quote!(#ty::select_gt(#a, #b, #t, #e))
            }
            Op::IfGe(a, b, t, e) => {
                let (a, b, t, e) = (o(a), o(b), o(t), o(e));
                quote!(#ty::select_ge(#a, #b, #t, #e))
            }
            Op::IfEq(a, b, t, e) => {
                let (a, b, t, e) = (o(a), o(b), o(t), o(e));
                quote!(#ty::select_eq(#a, #b, #t, #e))
            }
            Op::Elem(t, k) => {
                let (array, k) = (tensor_name(t), index(k as usize));
                quote!(::symnn::lanes::column(&#array, #k))
            }
        }
    }
}

/// The batch methods of the generated struct: `accumulate_gradient_batch`,
/// `sgd_step_batch` and the block function they run, from the one-sample gradient body
/// with its loss and gradient operands and (tensor tier) its group writes, documented
/// with the per-sample formulas `gradient_doc`.
#[allow(clippy::too_many_arguments)] // one call site (`emit::emit`), each argument distinct
pub fn methods(
    network: &crate::ast::Network,
    float: Float,
    sizes: Sizes,
    gradient: &Body<'_>,
    loss_operand: Operand,
    grads: &[Operand],
    writes: &[GroupWrite],
    gradient_doc: &str,
) -> TokenStream {
    let name = &network.name;
    // The per-sample formulas, as on `accumulate_gradient` (a ```text block).
    let doc_acc = format!(
        "Adds the summed dL/dparams of a batch of samples into `grad` and returns the summed loss: the sum of `accumulate_gradient` over the samples, computed a block at a time (SIMD across samples), equal to that sum up to the order of summation. For each sample:\n\n{gradient_doc}\n\n# Panics\nIf `inputs` and `targets` differ in length."
    );
    let doc_sgd = format!(
        "One minibatch SGD step: every parameter moves by `-lr` times the mean gradient of the samples, evaluated at the old parameters. Returns the mean loss before the step (0 for an empty batch, which changes nothing). For each sample:\n\n{gradient_doc}\n\n# Panics\nIf `inputs` and `targets` differ in length."
    );
    let fty = float.ty();
    let zero = float.literal(0.0);
    let (p, i, t) = (sizes.p, sizes.i, sizes.t);
    let (inputs, targets, grad, lr) = (
        argument("inputs"),
        argument("targets"),
        argument("grad"),
        argument("lr"),
    );
    let (net, s, loss, scale, n, grad_local, avx2) = (
        local("net"),
        local("s"),
        local("loss"),
        local("scale"),
        local("n"),
        local("grad"),
        local("avx2"),
    );
    let lanes_fn = local("accumulate_block");
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
    let block_body = if stack > BLOCK_STACK_LIMIT {
        None
    } else if tensor {
        tensor_body(float, sizes, gradient, loss_operand, grads, writes)
    } else {
        Some(lanes_body(float, sizes, gradient, loss_operand, grads))
    };
    let debug_loop = debug_stack > BLOCK_STACK_LIMIT;
    let one_sample_loop = quote! {
        let mut #loss = #zero;
        for (#s, #net) in #inputs.iter().zip(#targets) {
            #loss += Self::accumulate_gradient(self, #s, #net, #grad);
        }
        #loss
    };
    let check = quote! {
        assert_eq!(
            #inputs.len(),
            #targets.len(),
            "symnn: a batch needs as many targets as inputs"
        );
    };
    let (acc_body, lanes_item) = match block_body {
        Some(body) => {
            let item = quote! {
                #[inline(always)]
                fn #lanes_fn(&self, #inputs: &[[#fty; #i]], #targets: &[[#fty; #t]], #grad: &mut [#fty; #p]) -> #fty {
                    #body
                }
            };
            let debug = if debug_loop {
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
                        #name::#lanes_fn(#net, #inputs, #targets, #grad)
                    }
                    if ::symnn::simd::isa() >= ::symnn::simd::Isa::Avx2Fma {
                        // SAFETY: the CPU has AVX2 and FMA (detected at run time).
                        #[allow(unsafe_code)]
                        return unsafe { #avx2(self, #inputs, #targets, #grad) };
                    }
                }
                Self::#lanes_fn(self, #inputs, #targets, #grad)
            };
            (acc, item)
        }
        // An instruction without a batch form: one sample at a time.
        None => {
            let acc = quote! {
                #check
                #one_sample_loop
            };
            (acc, quote!())
        }
    };
    // The scalar tier's parameter arrays are small: the batch gradient lives on the
    // stack. A tensor program's can be megabytes: on the heap (a `Vec`; on the stack
    // when the runtime has no `alloc` feature).
    let grad_buffer = if tensor {
        quote!(let mut #grad_local = ::symnn::__private::grad_buffer::<#fty, #p>();)
    } else {
        quote!(let mut #grad_local = [#zero; #p];)
    };
    let sgd_body = quote! {
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
    };
    quote! {
        #lanes_item

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
            Instr::Loop { op, .. } => array_values += loop_len(op).unwrap_or(0),
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
/// `fn __accumulate_blocks(&self, inputs: &[[F; I]], targets: &[[F; T]], grad: &mut [F; P]) -> F`:
/// every instruction of the one-sample gradient lifted to a block of samples (products
/// become matrix products over the block, maps and scalar code run across it), or
/// `None` if the program has an instruction without a batch form (then the batch
/// methods loop over samples).
pub fn tensor_body(
    float: Float,
    sizes: Sizes,
    gradient: &Body<'_>,
    loss: Operand,
    grads: &[Operand],
    writes: &[GroupWrite],
) -> Option<TokenStream> {
    let mut values = 0;
    for instr in &gradient.instrs {
        values += match instr {
            Instr::Loop { op, .. } => loop_len(op)?,
            _ => 1,
        };
    }
    let b = tensor_block(float, values + sizes.i + sizes.t);
    let lift = Lift {
        float,
        lanes: LaneRender { float, lanes: b },
        block: b,
        sizes,
    };
    let mut statements = Vec::new();
    for instr in &gradient.instrs {
        statements.push(lift.instr(instr)?);
    }
    let n = local("n");
    let grad = argument("grad");
    let adds = grads
        .iter()
        .enumerate()
        .filter(|(_, g)| g.as_const() != Some(0.0))
        .map(|(k, g)| {
            let (ki, value) = (index(k), lift.lanes.operand(*g));
            quote!(#grad[#ki] += (#value).sum_first(#n);)
        });
    let mut group_writes = Vec::new();
    for w in writes {
        group_writes.push(lift.group_write(w)?);
    }
    let fty = float.ty();
    let lanes_ty = lift.lanes.ty();
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
    let loss_value = lift.lanes.operand(loss);
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
    Some(quote! {
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

/// Values per sample of a loop's array; `None` for a loop without a batch form.
fn loop_len(op: &Loop) -> Option<usize> {
    Some(match op {
        Loop::Pack(items) => items.len(),
        Loop::MatVec { w, x, rows, .. } if is_param(*w) && !is_param(*x) => *rows,
        Loop::MatVecT { w, d, cols, .. } if is_param(*w) && !is_param(*d) => *cols,
        Loop::Map(map) => map.len,
        Loop::Sum(v, _) if !is_param(*v) => 1,
        Loop::Outer { rows, cols, .. } => rows * cols,
        Loop::Transpose(_, rows, cols) => rows * cols,
        Loop::MatMul { m, p, .. } => m * p,
        Loop::MatVec { rows, .. } => *rows,
        Loop::MatVecT { cols, .. } => *cols,
        Loop::MatVecMap { .. } | Loop::MatVecTWrite { .. } | Loop::Sum(..) => return None,
    })
}

fn is_param(a: Array) -> bool {
    matches!(
        a,
        Array::Leaf {
            kind: LeafKind::Param,
            ..
        }
    )
}

/// One-sample instructions lifted to a block.
#[derive(Clone, Copy)]
struct Lift {
    float: Float,
    lanes: LaneRender,
    block: usize,
    sizes: Sizes,
}

impl Lift {
    /// `(rows as a flat slice, row stride)` of a per-sample array: a local block
    /// array, or the inputs/targets at an offset.
    /// `len` is the array's length (the row stride of a local block array).
    fn rows(self, a: Array, len: usize) -> Option<(TokenStream, usize)> {
        match a {
            Array::Temp(t) => {
                let name = tensor_name(t);
                Some((quote!(#name.as_flattened()), len))
            }
            Array::Leaf {
                kind: LeafKind::Input,
                offset,
                ..
            } => {
                let (inputs, off) = (local("inputs"), index(offset));
                Some((quote!(&#inputs.as_flattened()[#off..]), self.sizes.i))
            }
            Array::Leaf {
                kind: LeafKind::Target,
                offset,
                ..
            } => {
                let (targets, off) = (local("targets"), index(offset));
                Some((quote!(&#targets.as_flattened()[#off..]), self.sizes.t))
            }
            Array::Leaf { .. } => None,
        }
    }

    /// Element `k` (a token expression) of sample `s`'s copy of an array: a block
    /// array's row, the inputs or targets, or a parameter group (shared by all).
    fn element(self, a: Array, s: &syn::Ident, k: &TokenStream) -> TokenStream {
        match a {
            Array::Temp(t) => {
                let name = tensor_name(t);
                quote!(#name[#s][#k])
            }
            Array::Leaf { kind, offset, .. } => {
                let off = index(offset);
                match kind {
                    LeafKind::Input => {
                        let inputs = local("inputs");
                        quote!(#inputs[#s][#off + #k])
                    }
                    LeafKind::Target => {
                        let targets = local("targets");
                        quote!(#targets[#s][#off + #k])
                    }
                    LeafKind::Param => {
                        let params = local("params");
                        quote!(#params[#off + #k])
                    }
                }
            }
        }
    }

    /// A product of per-sample operands, sample by sample: `op(a)·op(b)` for `a` of
    /// `m × k` (as stored: `k × m` when transposed) and `b` of `k × p`. The products
    /// of the second-order code (`δ·hᵀ` materialised, `Wᵀ·δ` with a computed `W`) are
    /// small; plain loops that LLVM unrolls.
    #[allow(clippy::too_many_arguments)]
    fn per_sample_matmul(
        self,
        name: &syn::Ident,
        a: Array,
        b: Array,
        (ta, tb): (bool, bool),
        (m, k, p): (usize, usize, usize),
    ) -> TokenStream {
        let (n, s, r, c, t, acc) = (
            local("n"),
            local("s"),
            local("r"),
            local("c"),
            local("k"),
            local("acc"),
        );
        let a_index = if ta {
            quote!(#t * #m + #r)
        } else {
            quote!(#r * #k + #t)
        };
        let b_index = if tb {
            quote!(#c * #k + #t)
        } else {
            quote!(#t * #p + #c)
        };
        let (ea, eb) = (self.element(a, &s, &a_index), self.element(b, &s, &b_index));
        let zero = self.float.literal(0.0);
        quote! {
            for #s in 0..#n {
                for #r in 0..#m {
                    for #c in 0..#p {
                        let mut #acc = #zero;
                        for #t in 0..#k {
                            #acc += #ea * #eb;
                        }
                        #name[#s][#r * #p + #c] = #acc;
                    }
                }
            }
        }
    }

    /// `&[[F; C]; R]` of a parameter group.
    fn param_matrix(self, a: Array, rows: usize, cols: usize) -> Option<TokenStream> {
        let Array::Leaf {
            kind: LeafKind::Param,
            offset,
            ..
        } = a
        else {
            return None;
        };
        let (fty, params, off) = (self.float.ty(), local("params"), index(offset));
        Some(quote!(::symnn::kernels::matrix::<#fty, #rows, #cols>(#params, #off)))
    }

    /// `let mut __TN = [[0; len]; B];`
    fn declare(self, dst: u32, len: usize) -> TokenStream {
        let (fty, name, zero, b) = (
            self.float.ty(),
            tensor_name(dst),
            self.float.literal(0.0),
            self.block,
        );
        quote!(let mut #name: [[#fty; #len]; #b] = [[#zero; #len]; #b];)
    }

    fn instr(self, instr: &Instr) -> Option<TokenStream> {
        let fty = self.float.ty();
        let n = local("n");
        let s = local("s");
        Some(match instr {
            Instr::Let { .. } | Instr::TempArray { .. } | Instr::BindParams => {
                self.lanes.instr(instr)
            }
            Instr::Loop { dst, op } => {
                let name = tensor_name(*dst);
                let declare = self.declare(*dst, loop_len(op)?);
                let body = match op {
                    Loop::Pack(items) => {
                        let items = items.iter().map(|&a| self.lane_value(a, &s));
                        quote! {
                            for #s in 0..#n {
                                #name[#s] = [#(#items),*];
                            }
                        }
                    }
                    &Loop::MatVec { w, x, rows, cols } if is_param(w) && !is_param(x) => {
                        let w = self.param_matrix(w, rows, cols)?;
                        let (x, xs) = self.rows(x, cols)?;
                        quote!(::symnn::gemm::gemm_nt::<#fty, #rows, #cols>(#n, #w, #x, #xs, #name.as_flattened_mut(), #rows);)
                    }
                    &Loop::MatVecT { w, d, rows, cols } if is_param(w) && !is_param(d) => {
                        let w = self.param_matrix(w, rows, cols)?;
                        let (d, ds) = self.rows(d, rows)?;
                        quote!(::symnn::gemm::gemm_nn::<#fty, #rows, #cols>(#n, #d, #ds, #w, #name.as_flattened_mut(), #cols);)
                    }
                    // (Products whose matrix is computed per sample, outer products
                    // and transposes: the second-order code's small ones.)
                    &Loop::MatVec { w, x, rows, cols } => {
                        self.per_sample_matmul(&name, w, x, (false, false), (rows, cols, 1))
                    }
                    &Loop::MatVecT { w, d, rows, cols } => {
                        self.per_sample_matmul(&name, w, d, (true, false), (cols, rows, 1))
                    }
                    &Loop::Outer { a, b, rows, cols } => {
                        self.per_sample_matmul(&name, a, b, (false, true), (rows, 1, cols))
                    }
                    &Loop::MatMul {
                        a,
                        b,
                        ta,
                        tb,
                        m,
                        k,
                        p,
                    } => self.per_sample_matmul(&name, a, b, (ta, tb), (m, k, p)),
                    &Loop::Transpose(v, rows, cols) => {
                        let (r, c) = (local("r"), local("c"));
                        let e = self.element(v, &s, &quote!(#r * #cols + #c));
                        quote! {
                            for #s in 0..#n {
                                for #r in 0..#rows {
                                    for #c in 0..#cols {
                                        #name[#s][#c * #rows + #r] = #e;
                                    }
                                }
                            }
                        }
                    }
                    Loop::Map(map) => self.map(&name, map)?,
                    &Loop::Sum(Array::Temp(v), len) => {
                        let v = tensor_name(v);
                        quote! {
                            for #s in 0..#n {
                                #name[#s] = [::symnn::kernels::sum::<#fty, #len>(&#v[#s])];
                            }
                        }
                    }
                    _ => return None,
                };
                quote!(#declare #body)
            }
            _ => return None,
        })
    }

    /// Sample `s` of a lanes operand (a scalar operand as is).
    fn lane_value(self, a: Operand, s: &syn::Ident) -> TokenStream {
        match a {
            Operand::Temp(_) | Operand::Input(_) | Operand::Target(_) => {
                let v = self.lanes.operand(a);
                quote!((#v).0[#s])
            }
            other => Render::straight_line(self.float).operand(other),
        }
    }

    /// An elementwise map over every sample's row.
    fn map(self, name: &syn::Ident, map: &MapLoop) -> Option<TokenStream> {
        let fty = self.float.ty();
        let (n, s, i, len) = (local("n"), local("s"), local("i"), map.len);
        let render = Render::straight_line(self.float).loop_body();
        let mut outer = Vec::new();
        let mut per_sample = Vec::new();
        let mut per_element = Vec::new();
        for (j, arg) in map.args.iter().enumerate() {
            let lane = lane_name(j);
            match arg {
                MapArg::Array(Array::Leaf {
                    kind: LeafKind::Param,
                    offset,
                    ..
                }) => {
                    let (params, off) = (local("params"), index(*offset));
                    let array = local(&format!("a{j}"));
                    outer.push(quote!(let #array: &[#fty; #len] = ::symnn::kernels::vector::<#fty, #len>(#params, #off);));
                    per_element.push(quote!(let #lane: #fty = #array[#i];));
                }
                MapArg::Array(a) => {
                    let (rows, stride) = self.rows(*a, len)?;
                    let array = local(&format!("a{j}"));
                    per_sample.push(
                        quote!(let #array: &[#fty] = &(#rows)[#s * #stride..#s * #stride + #len];),
                    );
                    per_element.push(quote!(let #lane: #fty = #array[#i];));
                }
                MapArg::Scalar(a @ (Operand::Temp(_) | Operand::Input(_) | Operand::Target(_))) => {
                    let v = self.lane_value(*a, &s);
                    per_sample.push(quote!(let #lane: #fty = #v;));
                }
                MapArg::Scalar(other) => {
                    let v = render.operand(*other);
                    outer.push(quote!(let #lane: #fty = #v;));
                }
            }
        }
        let body = map.body.iter().map(|instr| render.instr(instr));
        let result = render.operand(map.result);
        Some(quote! {
            {
                #(#outer)*
                for #s in 0..#n {
                    #(#per_sample)*
                    for #i in 0..#len {
                        #(#per_element)*
                        #(#body)*
                        #name[#s][#i] = #result;
                    }
                }
            }
        })
    }

    /// A parameter group's gradient, accumulated over the block.
    fn group_write(self, write: &GroupWrite) -> Option<TokenStream> {
        if write.mode != WriteMode::Accumulate {
            return None;
        }
        let fty = self.float.ty();
        let (n, s, grad) = (local("n"), local("s"), argument("grad"));
        let (rows, cols, off) = (write.rows, write.cols, index(write.offset));
        let one = self.float.literal(1.0);
        Some(match write.value {
            GroupValue::Outer(d, h) => {
                let (d, ds) = self.rows(d, rows)?;
                let (h, hs) = self.rows(h, cols)?;
                quote! {
                    ::symnn::gemm::gemm_tn_acc::<#fty, #rows, #cols>(
                        #n, #d, #ds, #h, #hs,
                        ::symnn::kernels::matrix_mut::<#fty, #rows, #cols>(#grad, #off),
                        #one,
                    );
                }
            }
            GroupValue::Array(Array::Temp(v)) => {
                let (v, len) = (tensor_name(v), rows * cols);
                quote! {
                    for #s in 0..#n {
                        ::symnn::kernels::add_assign::<#fty, #len>(
                            ::symnn::kernels::vector_mut::<#fty, #len>(#grad, #off),
                            &#v[#s],
                        );
                    }
                }
            }
            GroupValue::Array(_) => return None,
        })
    }
}
