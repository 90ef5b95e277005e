//! The one renderer: IR ([`super::ir`]) to tokens, generic over a [`Target`].
//!
//! The functions here walk the IR: every [`Instr`], [`Op`] and [`Loop`] variant is
//! matched exhaustively, once, with no `_ =>` arm. What differs between targets is
//! supplied by the target: its value type, how an operand, a call, a power or a
//! select is spelled, how a temporary is bound, and the product kernels of the tensor
//! tier. A trait method has no default, so a new `Op` or `Loop` variant fails to
//! compile until every target handles it.
//!
//! Three targets:
//! - [`Straight`]: straight-line one-sample code (`forward`, `gradient`, `sgd_step`,
//!   the derivative methods), with `symnn::kernels` loops for the tensor tier;
//! - [`Lanes`]: the same scalar code with every value a `Lanes<F, L>` across `L`
//!   samples (the scalar tier's batch methods);
//! - [`Block`]: the tensor tier's batch block: [`Lanes`] for scalar code, GEMMs over
//!   the block's samples for parameter products, per-row maps.
//!
//! A target that cannot render an instruction says why, as a value of its `Refusal`
//! type ([`NoBlockForm`] for the batch targets; [`core::convert::Infallible`] for
//! [`Straight`], which renders everything). Which instructions a batch target refuses
//! is decided in one place per target and tested (see [`NoBlockForm`]).

mod block;
mod lanes;
mod straight;

pub use block::Block;
pub use lanes::Lanes;
pub use straight::Straight;

use proc_macro2::TokenStream;
use quote::quote;

use super::ir::{
    Array, GroupWrite, Instr, Loop, MapLoop, Method, Op, Operand, Returns, Temp, WriteMode,
};
use super::tokens::{argument, index, lane_name, local, tensor_name, Float};
use crate::graph::Func;

/// The comparison of a select ([`Op::IfGt`], [`Op::IfGe`], [`Op::IfEq`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `a > b`
    Gt,
    /// `a >= b`
    Ge,
    /// `a == b`
    Eq,
}

/// Why a batch target ([`Lanes`], [`Block`]) does not render an instruction. The batch
/// methods then loop over the one-sample `accumulate_gradient` and their rustdoc says
/// so. None of these occurs in a gradient body as [`super::batch`] builds it (the
/// unfused body, accumulating): they are refusals by construction, tested in
/// `render::tests`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoBlockForm {
    /// A one-sample parameter or gradient write (`sgd_step`'s updates,
    /// `accumulate_gradient`'s additions): a block's gradient is written after its
    /// reduction across samples, by the batch method itself.
    ParameterWrite,
    /// A fused loop ([`Loop::MatVecMap`], [`Loop::MatVecTWrite`]): fusion is a
    /// one-sample rewrite; a block gets the same effect from GEMMs over its samples.
    FusedLoop,
    /// A tensor loop in the scalar tier's lane code: tensor programs take [`Block`].
    TensorLoop,
    /// An operand that only one-sample code has (`lr`, a map lane).
    OneSampleOperand,
    /// Grouped calls ([`Instr::CallGroup`]): a one-sample rewrite; lanes already
    /// vectorise every call across samples.
    CallGroup,
}

impl NoBlockForm {
    /// Why, in words, for the batch methods' rustdoc.
    pub fn reason(self) -> &'static str {
        match self {
            NoBlockForm::ParameterWrite => "its gradient body writes parameters",
            NoBlockForm::FusedLoop => "its gradient body holds a fused loop",
            NoBlockForm::TensorLoop => "its lane code holds a tensor loop",
            NoBlockForm::OneSampleOperand => "its gradient body reads `lr` or a map lane",
            NoBlockForm::CallGroup => "its gradient body holds grouped one-sample calls",
        }
    }
}

/// What one code target supplies to the renderer. No method has a default.
pub trait Target {
    /// Why an instruction has no form on this target.
    type Refusal;

    /// The float type.
    fn float(&self) -> Float;

    /// An operand as an expression of the target's value type.
    fn operand(&self, operand: Operand) -> Result<TokenStream, Self::Refusal>;
    /// `f(a)`.
    fn call(&self, f: Func, a: TokenStream) -> TokenStream;
    /// `dsts[i] = f(args[i])` for every `i`, evaluated together ([`Instr::CallGroup`]);
    /// `id` numbers the group within the body.
    fn call_group(
        &self,
        id: u32,
        f: Func,
        dsts: &[Temp],
        args: Vec<TokenStream>,
    ) -> Result<TokenStream, Self::Refusal>;
    /// `a^n`.
    fn powi(&self, a: TokenStream, n: i32) -> TokenStream;
    /// `a^b`.
    fn powf(&self, a: TokenStream, b: TokenStream) -> TokenStream;
    /// `if a cmp b { t } else { e }`.
    fn select(
        &self,
        cmp: Cmp,
        a: TokenStream,
        b: TokenStream,
        t: TokenStream,
        e: TokenStream,
    ) -> TokenStream;
    /// Element `k` of tensor node `tensor`'s array ([`Op::Elem`]).
    fn element(&self, tensor: u32, k: u32) -> TokenStream;

    /// `let dst = value;` (or `dst = value;` for an array element).
    fn bind(&self, dst: Temp, value: TokenStream) -> TokenStream;
    /// The temporaries array of a long body.
    fn temp_array(&self, len: usize) -> TokenStream;
    /// `__params = &self.params`, where the target needs it.
    fn bind_params(&self) -> TokenStream;
    /// `Ok` if this target renders one sample's parameter and gradient writes.
    fn parameter_writes(&self) -> Result<(), Self::Refusal>;

    /// `__T<dst> = [items]`.
    fn pack(&self, dst: u32, items: &[Operand]) -> Result<TokenStream, Self::Refusal>;
    /// `__T<dst> = W·x`.
    fn matvec(
        &self,
        dst: u32,
        w: Array,
        x: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, Self::Refusal>;
    /// `__T<dst> = W·x` and `__T<map_dst> = map(...)` reading it, fused.
    fn matvec_map(
        &self,
        dst: u32,
        product: MatVec,
        map: &MapLoop,
        z_lane: usize,
        map_dst: u32,
    ) -> Result<TokenStream, Self::Refusal>;
    /// `__T<dst> = Wᵀ·d`.
    fn matvec_t(
        &self,
        dst: u32,
        w: Array,
        d: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, Self::Refusal>;
    /// `__T<dst> = Wᵀ·d` and the write of `W`'s gradient `d·hᵀ`, fused.
    fn matvec_t_write(
        &self,
        dst: u32,
        write: TransposedWrite,
    ) -> Result<TokenStream, Self::Refusal>;
    /// `__T<dst> = a·bᵀ`.
    fn outer(
        &self,
        dst: u32,
        a: Array,
        b: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, Self::Refusal>;
    /// `__T<dst> = op(a)·op(b)`.
    fn matmul(&self, dst: u32, product: MatMul) -> Result<TokenStream, Self::Refusal>;
    /// `__T<dst> = map(...)`, elementwise.
    fn map(&self, dst: u32, map: &MapLoop) -> Result<TokenStream, Self::Refusal>;
    /// `__T<dst> = [Σ v]`.
    fn sum(&self, dst: u32, v: Array, len: usize) -> Result<TokenStream, Self::Refusal>;
    /// `__T<dst> = vᵀ`.
    fn transpose(
        &self,
        dst: u32,
        v: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, Self::Refusal>;
    /// A parameter group's gradient write.
    fn group_write(&self, write: &GroupWrite) -> Result<TokenStream, Self::Refusal>;
}

/// The product of [`Loop::MatVecMap`].
#[derive(Clone, Copy, Debug)]
pub struct MatVec {
    /// The matrix.
    pub w: Array,
    /// The vector.
    pub x: Array,
    /// Rows of `w`.
    pub rows: usize,
    /// Columns of `w`.
    pub cols: usize,
}

/// The fields of [`Loop::MatVecTWrite`].
#[derive(Clone, Copy, Debug)]
pub struct TransposedWrite {
    /// The group's first parameter.
    pub offset: usize,
    /// The layer's adjoint.
    pub d: Array,
    /// The layer's input.
    pub h: Array,
    /// Rows of `W`.
    pub rows: usize,
    /// Columns of `W`.
    pub cols: usize,
    /// SGD step or accumulation.
    pub mode: WriteMode,
}

/// The fields of [`Loop::MatMul`].
#[derive(Clone, Copy, Debug)]
pub struct MatMul {
    /// Left factor.
    pub a: Array,
    /// Right factor.
    pub b: Array,
    /// Transpose `a`.
    pub ta: bool,
    /// Transpose `b`.
    pub tb: bool,
    /// Rows of the result.
    pub m: usize,
    /// Inner dimension.
    pub k: usize,
    /// Columns of the result.
    pub p: usize,
}

/// The statements and the tail expression of a method.
pub fn method<T: Target>(t: &T, method: &Method) -> Result<TokenStream, T::Refusal> {
    let mut statements = Vec::with_capacity(method.instrs.len());
    for i in &method.instrs {
        statements.push(instr(t, i)?);
    }
    let returns = returns(t, &method.returns)?;
    Ok(quote! {
        #(#statements)*
        #returns
    })
}

fn returns<T: Target>(t: &T, returns: &Returns) -> Result<TokenStream, T::Refusal> {
    let list = |values: &[Operand]| -> Result<Vec<TokenStream>, T::Refusal> {
        values.iter().map(|&v| t.operand(v)).collect()
    };
    Ok(match returns {
        Returns::Value(a) => t.operand(*a)?,
        Returns::Array(values) => {
            let values = list(values)?;
            quote!([#(#values),*])
        }
        Returns::ValueAndArray(a, values) => {
            let (a, values) = (t.operand(*a)?, list(values)?);
            quote!((#a, [#(#values),*]))
        }
    })
}

/// One statement.
pub fn instr<T: Target>(t: &T, instr: &Instr) -> Result<TokenStream, T::Refusal> {
    let fty = t.float().ty();
    let (gradient, lr, grad) = (local("grad"), argument("lr"), argument("grad"));
    Ok(match instr {
        Instr::BindParams => t.bind_params(),
        Instr::TempArray { len } => t.temp_array(*len),
        Instr::Let { dst, op: o } => {
            let value = op(t, *o)?;
            t.bind(*dst, value)
        }
        Instr::SaveGradients { values } => {
            t.parameter_writes()?;
            let (array, n) = (local("g"), values.len());
            let mut tokens = Vec::with_capacity(n);
            for &v in values {
                tokens.push(t.operand(v)?);
            }
            quote!(let #array: [#fty; #n] = [#(#tokens),*];)
        }
        Instr::Update { param, grad: g } => {
            t.parameter_writes()?;
            let k = index(*param);
            match g.as_const() {
                // (Gradients of ±1 without a multiplication: clippy's neg_multiply
                // would fire on `lr * -1.0` in the user's crate.)
                Some(1.0) => quote!(self.params[#k] -= #lr;),
                Some(-1.0) => quote!(self.params[#k] += #lr;),
                _ => {
                    let g = t.operand(*g)?;
                    quote!(self.params[#k] -= #lr * #g;)
                }
            }
        }
        Instr::UpdateByStep {
            param,
            step,
            factor,
        } => {
            t.parameter_writes()?;
            let (k, step) = (index(*param), temp(*step));
            match factor {
                Some(factor) => {
                    let factor = t.operand(*factor)?;
                    quote!(self.params[#k] -= #step * #factor;)
                }
                None => quote!(self.params[#k] -= #step;),
            }
        }
        Instr::AddGrad { param, value } => {
            t.parameter_writes()?;
            let (k, value) = (index(*param), t.operand(*value)?);
            quote!(#grad[#k] += #value;)
        }
        Instr::CallGradient => {
            t.parameter_writes()?;
            let (loss, input, target) = (local("loss"), argument("input"), argument("target"));
            quote!(let (#loss, #gradient) = Self::gradient(self, #input, #target);)
        }
        Instr::UpdateAll => {
            t.parameter_writes()?;
            let (p, g) = (local("p"), local("g"));
            quote! {
                for (#p, #g) in self.params.iter_mut().zip(#gradient.iter()) {
                    *#p -= #lr * *#g;
                }
            }
        }
        Instr::AddGradAll => {
            t.parameter_writes()?;
            let (acc, g) = (local("acc"), local("g"));
            quote! {
                for (#acc, #g) in #grad.iter_mut().zip(#gradient.iter()) {
                    *#acc += *#g;
                }
            }
        }
        Instr::Loop { dst, op } => tensor_loop(t, *dst, op)?,
        Instr::WriteGroup(write) => t.group_write(write)?,
        Instr::CallGroup { id, func, calls } => {
            let mut args = Vec::with_capacity(calls.len());
            for &(_, arg) in calls {
                args.push(t.operand(arg)?);
            }
            let dsts: Vec<Temp> = calls.iter().map(|&(dst, _)| dst).collect();
            t.call_group(*id, *func, &dsts, args)?
        }
    })
}

/// One scalar operation.
pub fn op<T: Target>(t: &T, op: Op) -> Result<TokenStream, T::Refusal> {
    let o = |a| t.operand(a);
    Ok(match op {
        Op::Copy(a) => o(a)?,
        Op::Neg(a) => {
            let a = o(a)?;
            quote!(-#a)
        }
        Op::Add(a, b) => {
            let (a, b) = (o(a)?, o(b)?);
            quote!(#a + #b)
        }
        Op::Sub(a, b) => {
            let (a, b) = (o(a)?, o(b)?);
            quote!(#a - #b)
        }
        Op::Mul(a, b) => {
            let (a, b) = (o(a)?, o(b)?);
            quote!(#a * #b)
        }
        Op::Div(a, b) => {
            let (a, b) = (o(a)?, o(b)?);
            quote!(#a / #b)
        }
        Op::Call(f, a) => t.call(f, o(a)?),
        Op::Powi(a, n) => t.powi(o(a)?, n),
        Op::Pow(a, b) => t.powf(o(a)?, o(b)?),
        Op::Max(a, b) => {
            let (a, b) = (o(a)?, o(b)?);
            quote!(#a.max(#b))
        }
        Op::Min(a, b) => {
            let (a, b) = (o(a)?, o(b)?);
            quote!(#a.min(#b))
        }
        Op::IfGt(a, b, x, y) => t.select(Cmp::Gt, o(a)?, o(b)?, o(x)?, o(y)?),
        Op::IfGe(a, b, x, y) => t.select(Cmp::Ge, o(a)?, o(b)?, o(x)?, o(y)?),
        Op::IfEq(a, b, x, y) => t.select(Cmp::Eq, o(a)?, o(b)?, o(x)?, o(y)?),
        Op::Elem(tensor, k) => t.element(tensor, k),
    })
}

/// One tensor node's loop.
fn tensor_loop<T: Target>(t: &T, dst: u32, op: &Loop) -> Result<TokenStream, T::Refusal> {
    match *op {
        Loop::Pack(ref items) => t.pack(dst, items),
        Loop::MatVec { w, x, rows, cols } => t.matvec(dst, w, x, rows, cols),
        Loop::MatVecMap {
            w,
            x,
            rows,
            cols,
            ref map,
            z_lane,
            map_dst,
        } => t.matvec_map(dst, MatVec { w, x, rows, cols }, map, z_lane, map_dst),
        Loop::MatVecT { w, d, rows, cols } => t.matvec_t(dst, w, d, rows, cols),
        Loop::MatVecTWrite {
            offset,
            d,
            h,
            rows,
            cols,
            mode,
        } => t.matvec_t_write(
            dst,
            TransposedWrite {
                offset,
                d,
                h,
                rows,
                cols,
                mode,
            },
        ),
        Loop::Outer { a, b, rows, cols } => t.outer(dst, a, b, rows, cols),
        Loop::MatMul {
            a,
            b,
            ta,
            tb,
            m,
            k,
            p,
        } => t.matmul(
            dst,
            MatMul {
                a,
                b,
                ta,
                tb,
                m,
                k,
                p,
            },
        ),
        Loop::Map(ref map) => t.map(dst, map),
        Loop::Sum(v, len) => t.sum(dst, v, len),
        Loop::Transpose(v, rows, cols) => t.transpose(dst, v, rows, cols),
    }
}

/// A temporary's name (the same on every target).
pub fn temp(temp: Temp) -> TokenStream {
    match temp {
        Temp::Node(n) => {
            let name = local(&format!("t{n}"));
            quote!(#name)
        }
        Temp::Slot(i) => {
            let (array, i) = (local("t"), index(i as usize));
            quote!(#array[#i])
        }
        Temp::Step(n) => {
            let name = local(&format!("lr{n}"));
            quote!(#name)
        }
        Temp::Loss => {
            let name = local("loss");
            quote!(#name)
        }
        Temp::Gradient(i) => {
            let (array, i) = (local("g"), index(i as usize));
            quote!(#array[#i])
        }
        Temp::Tensor(n) => {
            let name = tensor_name(n);
            quote!(#name)
        }
    }
}

/// `__l<j>`, a map kernel's lane.
fn lane(j: u32) -> TokenStream {
    let lane = lane_name(j as usize);
    quote!(#lane)
}

#[cfg(test)]
mod tests;
