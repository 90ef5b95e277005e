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
//! `::symnn::simd::isa()`, and the portable one (see `docs/PERFORMANCE.md`); the tensor
//! tier has a third, AVX-512 copy, tried first.
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

mod eval;
pub mod gradient;

pub use eval::methods as evaluation_methods;
pub use gradient::methods as gradient_methods;

use super::build::Body;
pub use super::dispatch::Signature;
use super::dispatch::{self, Copies, Receiver};
use super::ir::{Instr, Loop, MapArg, Operand};
use super::render::NoBlockForm;
use super::tokens::{argument, Float};

/// Lanes per block: one 256-bit vector (4 `f64`, 8 `f32`), chosen by measurement
/// (`cargo bench --bench batch`).
pub fn lanes(float: Float) -> usize {
    32 / float.bytes()
}

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

/// Why a network's batch methods loop over the one-sample `accumulate_gradient`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneSample {
    /// The block's estimated stack frame passes [`BLOCK_STACK_LIMIT`].
    StackLimit,
    /// An instruction has no form on the batch target.
    NoBlockForm(NoBlockForm),
    /// It has a loop emitted as a Rust loop (each sample runs it).
    RolledLoop,
}

impl OneSample {
    /// The sentence the batch methods' rustdoc adds.
    fn doc(self) -> String {
        let why = match self {
            OneSample::StackLimit => {
                "a block of its samples would need more than 1 MiB of stack".to_string()
            }
            OneSample::NoBlockForm(refusal) => refusal.reason().to_string(),
            OneSample::RolledLoop => {
                "it has a loop emitted as a Rust loop, which each sample runs".to_string()
            }
        };
        format!("\n\nThis network's batch runs one sample at a time: {why}.")
    }
}

/// A batch method's block body, rendered, with whether it is the tensor tier.
pub struct BlockForm {
    /// The block function's body, or why there is none.
    pub body: Result<TokenStream, OneSample>,
    /// A tensor-tier program (its batch gradient buffer lives on the heap).
    pub tensor: bool,
    /// A debug build's block frame passes the limit: debug builds loop over samples.
    pub debug_loop: bool,
}

/// The block function's body for `body` on the batch target it takes: [`Lanes`] for
/// the scalar tier (`render(false)`), [`Block`] for the tensor tier (`render(true)`,
/// also when `group_writes`), or none (see [`OneSample`]).
///
/// [`Lanes`]: crate::emit::render::Lanes
/// [`Block`]: crate::emit::render::Block
pub fn block_form(
    float: Float,
    sizes: Sizes,
    body: &Body<'_>,
    group_writes: bool,
    render: impl FnOnce(bool) -> Result<TokenStream, NoBlockForm>,
) -> BlockForm {
    let tensor = group_writes || body.instrs.iter().any(|i| matches!(i, Instr::Loop { .. }));
    // The block's stack: its arrays (tensor tier) or its lane temporaries (scalar
    // tier: 32 bytes each). Above `BLOCK_STACK_LIMIT` (a big second-order program,
    // say) the batch methods loop over samples; a debug build (which gives every
    // temporary its own slot, about 4× the optimised frame) does so from a quarter of
    // it, so a debug test on a 2 MiB thread does not overflow.
    let (stack, debug_stack) = block_stack(float, sizes, body, tensor);
    let reads_rolled_loop = body
        .instrs
        .iter()
        .flat_map(Instr::reads)
        .any(|o| matches!(o, Operand::Var(_)));
    let body = if reads_rolled_loop {
        Err(OneSample::RolledLoop)
    } else if stack > BLOCK_STACK_LIMIT {
        Err(OneSample::StackLimit)
    } else {
        render(tensor).map_err(OneSample::NoBlockForm)
    };
    BlockForm {
        body,
        tensor,
        debug_loop: debug_stack > BLOCK_STACK_LIMIT,
    }
}

/// A batch method's body and the block function it calls: the length `check`, then
/// (debug builds of big programs) `one_sample`, then the block function through the
/// ISA dispatch: (tensor tier) an AVX-512 copy, then an `avx2,fma` copy, when
/// `symnn::simd::isa()` allows, else the portable one. Without a block form: `check`
/// and `one_sample` only.
pub fn dispatched(
    name: &syn::Ident,
    block_fn: &syn::Ident,
    signature: &Signature,
    check: &TokenStream,
    one_sample: &TokenStream,
    form: &BlockForm,
) -> (TokenStream, TokenStream) {
    let Ok(body) = &form.body else {
        let method = quote! {
            #check
            #one_sample
        };
        return (method, quote!());
    };
    // The tensor tier's maps and `Lanes<F, B>` code are 512 bits wide: an AVX-512 copy
    // too (4-32-16-4's block gradient: 2.39 -> 1.75 ms; docs/PERFORMANCE.md, "Small
    // MLP"). The scalar tier's lanes are one 256-bit vector: no third copy to compile.
    let copies = if form.tensor {
        Copies::Avx512
    } else {
        Copies::Avx2
    };
    let (call, item) = dispatch::split(
        name,
        block_fn,
        Receiver::Shared,
        &dispatch::names(signature),
        signature,
        body,
        &quote!(),
        copies,
    );
    let debug = if form.debug_loop {
        quote! {
            if cfg!(debug_assertions) {
                return { #one_sample };
            }
        }
    } else {
        quote!()
    };
    let method = quote! {
        #check
        #debug
        #call
    };
    (method, item)
}

/// Whether the scalar code of a block (its `Let`s, packs, map scalars, and `extra`
/// operands) reads inputs and targets: then they are transposed into lanes (a layer
/// reads its input rows in place).
pub fn scalar_reads(instrs: &[Instr], extra: &[Operand]) -> (bool, bool) {
    let (mut reads_x, mut reads_y) = (false, false);
    let reads = instrs
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
        .chain(extra.iter().copied());
    for operand in reads {
        reads_x |= matches!(operand, Operand::Input(_));
        reads_y |= matches!(operand, Operand::Target(_));
    }
    (reads_x, reads_y)
}

/// `assert_eq!(inputs.len(), others.len(), message)`
pub fn length_check(others: &str, message: &str) -> TokenStream {
    let (inputs, others) = (argument("inputs"), argument(others));
    quote! {
        assert_eq!(
            #inputs.len(),
            #others.len(),
            #message
        );
    }
}

/// Samples per block of the tensor tier: 32 in `f64`, 64 in `f32`, fewer when a
/// block's arrays would exceed [`BLOCK_BYTES`] (they live on the stack).
pub fn tensor_block(float: Float, per_sample_values: usize) -> usize {
    // 256 bytes a row of a block: 32 f64s, 64 f32s.
    let bytes = float.bytes();
    let mut block = 256 / bytes;
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
        let bytes = float.bytes();
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
