//! Stage 5, emit: the generated struct, its constants and methods, as Rust tokens.
//!
//! Every method body is first a list of instructions of one IR (`ir`: one
//! `let __tN = ...;` per scheduled node or one loop per tensor node, plus parameter and
//! gradient writes), built from a schedule (`build`), rewritten by pure IR → IR
//! functions (`fuse`, `step`), and turned into tokens only at the end, by the one
//! renderer (`render`) on one of its targets: straight-line one-sample code, lanes
//! across samples, or blocks of the tensor tier (`batch`). Paths are fully qualified
//! (`::symnn::...`, `::core::...`).
//!
//! | file | builds |
//! |---|---|
//! | `item` | the struct, its constants, constructors and inspection methods |
//! | `one_sample` | `forward` ... `sgd_step` |
//! | `batch` | `accumulate_gradient_batch`, `sgd_step_batch` |
//! | `derivatives` | `input_jacobian`, `input_gradient`, `hvp`, `param_jacobian` |
//! | `model` | `impl Default`, `impl symnn::Model` |
//! | `onnx` | `to_onnx` (feature `onnx`): the forward pass as ONNX operators |
//!
//! Hygiene: every local is `__`-prefixed with `Span::mixed_site()` (`tokens::local`).
//! Mixed-site hygiene keeps locals apart from user *variables*, but a pattern still
//! resolves *constants* at the call site ("let bindings cannot shadow constants"), so
//! the prefix keeps a user's `const t3` from colliding. The public methods' parameter
//! names (`input`, `target`, `lr`, `grad`, `seed`, `name`, `params`) are API and
//! unprefixed; a lowercase user `const` of one of those names in the same module is the
//! one clash Rust leaves possible.

mod batch;
mod build;
mod call_group;
mod derivatives;
mod dispatch;
mod fuse;
mod ir;
mod item;
mod model;
mod one_sample;
mod onnx;
mod render;
mod rolled;
mod step;
mod tokens;

use proc_macro2::TokenStream;
use quote::quote;

use crate::graph::NodeId;
use crate::lower::Lowered;
use crate::resolved::StructHeader;

use one_sample::Bodies;
use tokens::Float;

/// Everything the emitter needs: the lowered program with its derivative.
pub struct Derived {
    /// The struct's name, visibility and pass-through attributes.
    pub header: StructHeader,
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
    /// The forward pass lowered again with tensor threshold 0 (every array operation
    /// a tensor node, every loop unrolled), for `to_onnx`; `None` (no `to_onnx`) when
    /// rolled loops would unroll past [`ONNX_UNROLLED_LIMIT`].
    pub onnx: Option<Lowered>,
    /// The reverse passes of the loops emitted as Rust loops (`None` without any).
    pub rolled: Option<crate::bptt::RolledGradient>,
    /// The program lowered again with every array operation a tensor node, for the
    /// batch gradient's block code (`None`: the batch gradient uses `program`); see
    /// `block_lowering` in `lib.rs`.
    pub block: Option<Box<Derived>>,
}

/// Largest unrolled size of a program's rolled loops (iterations × nodes of one
/// iteration) for which `to_onnx` is generated: ONNX gets every loop unrolled.
pub const ONNX_UNROLLED_LIMIT: u64 = 200_000;

/// The generated struct's name and sizes, which every part reads.
pub struct Layout {
    /// The struct's name.
    pub name: syn::Ident,
    /// The float type.
    pub float: Float,
    /// `f32` or `f64`.
    pub fty: TokenStream,
    /// Parameters.
    pub p: usize,
    /// Inputs.
    pub i: usize,
    /// Targets.
    pub t: usize,
    /// Outputs.
    pub o: usize,
}

impl Layout {
    fn of(derived: &Derived) -> Layout {
        let program = &derived.program;
        let size =
            |slots: &[crate::resolved::Slot]| slots.iter().map(|s| s.shape.len()).sum::<usize>();
        let float = Float(program.float);
        Layout {
            name: derived.header.name.clone(),
            float,
            fty: float.ty(),
            p: size(&program.params),
            i: size(&program.inputs),
            t: size(&program.targets),
            o: program.output.elems.len(),
        }
    }
}

/// Emits the items of one network.
pub fn emit(derived: &Derived) -> TokenStream {
    let layout = Layout::of(derived);
    let name = &layout.name;
    let bodies = Bodies::new(derived);
    let declaration = item::declaration(&layout, derived);
    let constants = item::constants(&layout, derived, &bodies);
    let constructors = item::constructors(&layout, derived);
    let one_sample = if derived.rolled.is_some() {
        rolled::methods(&layout, derived)
    } else {
        one_sample::methods(&layout, derived, &bodies)
    };
    let gradient = &bodies.gradient;
    let block_bodies = derived.block.as_deref().map(Bodies::new);
    let alternative = derived
        .block
        .as_deref()
        .zip(block_bodies.as_ref())
        .map(|(block, b)| batch::gradient::Alternative {
            gradient: &b.gradient,
            loss: b.gradient.operand(block.program.loss),
            grads: &b.grad_operands,
            writes: &b.group_writes,
        });
    let batch = batch::gradient_methods(
        name,
        layout.float,
        batch::Sizes {
            p: layout.p,
            i: layout.i,
            t: layout.t,
        },
        gradient,
        gradient.operand(derived.program.loss),
        &bodies.grad_operands,
        &bodies.group_writes,
        &derived.docs.gradient,
        alternative,
    );
    let evaluation = batch::evaluation_methods(
        name,
        layout.float,
        batch::Sizes {
            p: layout.p,
            i: layout.i,
            t: layout.t,
        },
        (&bodies.forward, &bodies.output_operands),
        (&bodies.loss, bodies.loss.operand(derived.program.loss)),
        layout.o,
    );
    let (derivative_inherent, derivative_model) = derivatives::items(derived, name);
    let inspection = item::inspection(derived);
    let to_onnx = derived
        .onnx
        .as_ref()
        .map(|onnx| onnx::method(onnx, &layout));
    let impls = model::impls(&layout, &derivative_model);
    quote! {
        #declaration


        impl #name {
            #constants

            #constructors

            #one_sample

            #batch

            #evaluation

            #derivative_inherent

            #inspection

            #to_onnx
        }

        #impls
    }
}
