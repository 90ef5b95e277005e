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
//! **Tensor tier**: the batch methods loop over the one-sample functions for now.

use proc_macro2::TokenStream;
use quote::quote;

use super::instr::{Body, Instr, Op, Operand, Temp};
use super::tokens::{argument, index, local, Float};
use crate::graph::Func;

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
            Op::Elem(..) => unreachable!("tensor programs have no lane body"),
        }
    }
}

/// The batch methods of the generated struct: `accumulate_gradient_batch`,
/// `sgd_step_batch` and, for the scalar tier, the lane function they run.
/// `lanes` is the scalar tier's gradient body with its loss and gradient operands.
pub fn methods(
    network: &crate::ast::Network,
    float: Float,
    sizes: Sizes,
    lanes: Option<(&Body<'_>, Operand, &[Operand])>,
) -> TokenStream {
    let name = &network.name;
    let fty = float.ty();
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
    let lanes_fn = local("accumulate_lanes");
    let zero = float.literal(0.0);
    let check = quote! {
        assert_eq!(
            #inputs.len(),
            #targets.len(),
            "symnn: a batch needs as many targets as inputs"
        );
    };
    let (acc_body, lanes_item, sgd_body) = match lanes {
        Some((gradient, loss_operand, grads)) => {
            let body = lanes_body(float, sizes, gradient, loss_operand, grads);
            let item = quote! {
                #[inline(always)]
                fn #lanes_fn(&self, #inputs: &[[#fty; #i]], #targets: &[[#fty; #t]], #grad: &mut [#fty; #p]) -> #fty {
                    #body
                }
            };
            let acc = quote! {
                #check
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
            // The scalar tier's parameter arrays are small: the batch gradient lives on
            // the stack.
            let sgd = quote! {
                #check
                if #inputs.is_empty() {
                    return #zero;
                }
                let mut #grad_local = [#zero; #p];
                let #loss = Self::accumulate_gradient_batch(self, #inputs, #targets, &mut #grad_local);
                let #n: #fty = ::symnn::__private::count(#inputs.len());
                let #scale = #lr / #n;
                for (#net, #s) in self.params.iter_mut().zip(&#grad_local) {
                    *#net -= #scale * *#s;
                }
                #loss / #n
            };
            (acc, item, sgd)
        }
        None => {
            let acc = quote! {
                #check
                let mut #loss = #zero;
                for (#s, #net) in #inputs.iter().zip(#targets) {
                    #loss += Self::accumulate_gradient(self, #s, #net, #grad);
                }
                #loss
            };
            // (A tensor program's parameter array can be megabytes: on the heap.)
            let sgd = quote! {
                #check
                if #inputs.is_empty() {
                    return #zero;
                }
                let mut #grad_local = ::std::vec![#zero; #p];
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
            (acc, quote!(), sgd)
        }
    };
    quote! {
        #lanes_item

        /// Adds the summed dL/dparams of a batch of samples into `grad` and returns the
        /// summed loss: the sum of `accumulate_gradient` over the samples, computed a
        /// block at a time (SIMD across samples), equal to that sum up to the order of
        /// summation.
        ///
        /// # Panics
        /// If `inputs` and `targets` differ in length.
        pub fn accumulate_gradient_batch(&self, #inputs: &[[#fty; #i]], #targets: &[[#fty; #t]], #grad: &mut [#fty; #p]) -> #fty {
            #acc_body
        }

        /// One minibatch SGD step: every parameter moves by `-lr` times the mean
        /// gradient of the samples, evaluated at the old parameters. Returns the mean
        /// loss before the step (0 for an empty batch, which changes nothing).
        ///
        /// # Panics
        /// If `inputs` and `targets` differ in length.
        pub fn sgd_step_batch(&mut self, #inputs: &[[#fty; #i]], #targets: &[[#fty; #t]], #lr: #fty) -> #fty {
            #sgd_body
        }
    }
}
