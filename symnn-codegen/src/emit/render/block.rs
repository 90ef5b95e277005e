//! The block target: the tensor tier's one-sample gradient lifted to a block of up to
//! 32 (f64) / 64 (f32) samples held in `[[F; len]; B]` arrays. Products of a parameter
//! matrix become GEMMs over the block (`symnn::gemm`), maps run per row, scalar code
//! runs on [`Lanes`] of width `B`, and products of per-sample arrays (second-order
//! code) run sample by sample.

use proc_macro2::TokenStream;
use quote::quote;

use super::{Cmp, Lanes, MatMul, MatVec, NoBlockForm, Straight, Target, TransposedWrite};
use crate::emit::ir::{
    Array, GroupValue, GroupWrite, Instr, MapArg, MapLoop, Operand, Temp, WriteMode,
};
use crate::emit::tokens::{argument, index, lane_name, local, tensor_name, Float};
use crate::graph::Func;
use crate::tensor::LeafKind;

/// A block of samples: the sizes of the generated struct and the block's width.
#[derive(Clone, Copy)]
pub struct Block {
    /// Scalar code, across the block.
    pub lanes: Lanes,
    /// Inputs per sample.
    pub inputs: usize,
    /// Targets per sample.
    pub targets: usize,
}

impl Block {
    fn fty(self) -> TokenStream {
        self.lanes.float.ty()
    }

    /// `(rows as a flat slice, row stride)` of a per-sample array: a local block
    /// array, or the inputs/targets at an offset; `None` for a parameter group (the
    /// same for every sample). `len` is the array's length (the row stride of a local
    /// block array).
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
                Some((quote!(&#inputs.as_flattened()[#off..]), self.inputs))
            }
            Array::Leaf {
                kind: LeafKind::Target,
                offset,
                ..
            } => {
                let (targets, off) = (local("targets"), index(offset));
                Some((quote!(&#targets.as_flattened()[#off..]), self.targets))
            }
            Array::Leaf {
                kind: LeafKind::Param,
                ..
            } => None,
        }
    }

    /// Element `k` (a token expression) of sample `s`'s copy of an array: a block
    /// array's row, the inputs or targets, or a parameter group (shared by all).
    fn sample_element(self, a: Array, s: &syn::Ident, k: &TokenStream) -> TokenStream {
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
    fn per_sample_matmul(
        self,
        dst: u32,
        a: Array,
        b: Array,
        (ta, tb): (bool, bool),
        (m, k, p): (usize, usize, usize),
    ) -> TokenStream {
        let name = tensor_name(dst);
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
        let (ea, eb) = (
            self.sample_element(a, &s, &a_index),
            self.sample_element(b, &s, &b_index),
        );
        let zero = self.lanes.float.literal(0.0);
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
    fn param_matrix(self, offset: usize, rows: usize, cols: usize) -> TokenStream {
        let (fty, params, off) = (self.fty(), local("params"), index(offset));
        quote!(::symnn::kernels::matrix::<#fty, #rows, #cols>(#params, #off))
    }

    /// `let mut __TN = [[0; len]; B];` for every array the block's instructions
    /// define, declared once before the loop over blocks. Each block writes the rows of
    /// its `n` samples before reading them, so the arrays need no zeroing per block;
    /// rows past `n` (a last, short block) keep an earlier block's values, which reach
    /// only padding lanes, and every sum over lanes is `sum_first(n)`. (Zeroing every
    /// array per block was a fifth of the PINN's step, 1.22 → 0.95 ms:
    /// docs/PERFORMANCE.md, "Small MLP".)
    pub fn arrays(self, instrs: &[Instr]) -> TokenStream {
        let (fty, zero, b) = (self.fty(), self.lanes.float.literal(0.0), self.lanes.lanes);
        let arrays = instrs.iter().filter_map(|instr| match instr {
            Instr::Loop { dst, op } => {
                let (name, len) = (tensor_name(*dst), op.values());
                Some(quote!(let mut #name: [[#fty; #len]; #b] = [[#zero; #len]; #b];))
            }
            _ => None,
        });
        quote!(#(#arrays)*)
    }

    /// Sample `s` of a lanes operand (a scalar operand as is).
    fn lane_value(self, a: Operand, s: &syn::Ident) -> Result<TokenStream, NoBlockForm> {
        Ok(match a {
            Operand::Temp(_) | Operand::Input(_) | Operand::Target(_) => {
                let v = self.lanes.operand(a)?;
                quote!((#v).0[#s])
            }
            other => Straight::new(self.lanes.float).value(other),
        })
    }

    /// `Σ_s Σ_k` of a write's elements into `grad`, sample by sample: the gradient of
    /// a group that is a parameter group itself, or an outer product with one.
    fn accumulate_elements(self, write: &GroupWrite, value: TokenStream) -> TokenStream {
        let (n, s, r, c, grad) = (
            local("n"),
            local("s"),
            local("r"),
            local("c"),
            argument("grad"),
        );
        let (rows, cols, off) = (write.rows, write.cols, index(write.offset));
        quote! {
            for #s in 0..#n {
                for #r in 0..#rows {
                    for #c in 0..#cols {
                        #grad[#off + #r * #cols + #c] += #value;
                    }
                }
            }
        }
    }
}

impl Block {
    /// For a map whose every argument is a block of rows exactly `len` apart (a local
    /// block array, or inputs/targets as wide as the map) or a value outside the
    /// block: `let __aJ = &rows[..n·len];` for each array argument, so the map can run
    /// as one flat loop. `None` if an argument is a parameter group (indexed by the
    /// element within the row) or a per-sample scalar.
    fn flat_map_args(self, map: &MapLoop) -> Option<Vec<TokenStream>> {
        let (fty, n, len) = (self.fty(), local("n"), map.len);
        let mut slices = Vec::new();
        for (j, arg) in map.args.iter().enumerate() {
            match *arg {
                MapArg::Array(a) => {
                    let (rows, stride) = self.rows(a, len)?;
                    if stride != len {
                        return None;
                    }
                    let array = local(&format!("a{j}"));
                    slices.push(quote!(let #array: &[#fty] = &(#rows)[..#n * #len];));
                }
                MapArg::Scalar(Operand::Temp(_) | Operand::Input(_) | Operand::Target(_)) => {
                    return None;
                }
                MapArg::Scalar(_) => {}
            }
        }
        Some(slices)
    }
}

impl Target for Block {
    type Refusal = NoBlockForm;

    fn float(&self) -> Float {
        self.lanes.float
    }

    fn operand(&self, operand: Operand) -> Result<TokenStream, NoBlockForm> {
        self.lanes.operand(operand)
    }

    fn call(&self, f: Func, a: TokenStream) -> TokenStream {
        self.lanes.call(f, a)
    }

    fn powi(&self, a: TokenStream, n: i32) -> TokenStream {
        self.lanes.powi(a, n)
    }

    fn powf(&self, a: TokenStream, b: TokenStream) -> TokenStream {
        self.lanes.powf(a, b)
    }

    fn select(
        &self,
        cmp: Cmp,
        a: TokenStream,
        b: TokenStream,
        t: TokenStream,
        e: TokenStream,
    ) -> TokenStream {
        self.lanes.select(cmp, a, b, t, e)
    }

    fn element(&self, tensor: u32, k: u32) -> TokenStream {
        self.lanes.element(tensor, k)
    }

    fn bind(&self, dst: Temp, value: TokenStream) -> TokenStream {
        self.lanes.bind(dst, value)
    }

    fn temp_array(&self, len: usize) -> TokenStream {
        self.lanes.temp_array(len)
    }

    fn bind_params(&self) -> TokenStream {
        self.lanes.bind_params()
    }

    fn parameter_writes(&self) -> Result<(), NoBlockForm> {
        self.lanes.parameter_writes()
    }

    fn call_group(
        &self,
        id: u32,
        f: Func,
        dsts: &[Temp],
        args: Vec<TokenStream>,
    ) -> Result<TokenStream, NoBlockForm> {
        self.lanes.call_group(id, f, dsts, args)
    }

    fn pack(&self, dst: u32, items: &[Operand]) -> Result<TokenStream, NoBlockForm> {
        let (name, s, n) = (tensor_name(dst), local("s"), local("n"));
        let mut values = Vec::with_capacity(items.len());
        for &a in items {
            values.push(self.lane_value(a, &s)?);
        }
        Ok(quote! {
            for #s in 0..#n {
                #name[#s] = [#(#values),*];
            }
        })
    }

    fn matvec(
        &self,
        dst: u32,
        w: Array,
        x: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, NoBlockForm> {
        let (fty, name, n) = (self.fty(), tensor_name(dst), local("n"));
        Ok(match (w, self.rows(x, cols)) {
            (
                Array::Leaf {
                    kind: LeafKind::Param,
                    offset,
                    ..
                },
                Some((x, xs)),
            ) => {
                let w = self.param_matrix(offset, rows, cols);
                quote! {
                    ::symnn::gemm::gemm_nt::<#fty, #rows, #cols>(#n, #w, #x, #xs, #name.as_flattened_mut(), #rows);
                }
            }
            // (Products whose matrix is computed per sample: the second-order code's
            // small ones.)
            _ => self.per_sample_matmul(dst, w, x, (false, false), (rows, cols, 1)),
        })
    }

    fn matvec_map(
        &self,
        _: u32,
        _: MatVec,
        _: &MapLoop,
        _: usize,
        _: u32,
    ) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::FusedLoop)
    }

    fn matvec_t(
        &self,
        dst: u32,
        w: Array,
        d: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, NoBlockForm> {
        let (fty, name, n) = (self.fty(), tensor_name(dst), local("n"));
        Ok(match (w, self.rows(d, rows)) {
            (
                Array::Leaf {
                    kind: LeafKind::Param,
                    offset,
                    ..
                },
                Some((d, ds)),
            ) => {
                let w = self.param_matrix(offset, rows, cols);
                quote! {
                    ::symnn::gemm::gemm_nn::<#fty, #rows, #cols>(#n, #d, #ds, #w, #name.as_flattened_mut(), #cols);
                }
            }
            _ => self.per_sample_matmul(dst, w, d, (true, false), (cols, rows, 1)),
        })
    }

    fn matvec_t_write(&self, _: u32, _: TransposedWrite) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::FusedLoop)
    }

    fn outer(
        &self,
        dst: u32,
        a: Array,
        b: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, NoBlockForm> {
        Ok(self.per_sample_matmul(dst, a, b, (false, true), (rows, 1, cols)))
    }

    fn matmul(&self, dst: u32, product: MatMul) -> Result<TokenStream, NoBlockForm> {
        let MatMul {
            a,
            b,
            ta,
            tb,
            m,
            k,
            p,
        } = product;
        Ok(self.per_sample_matmul(dst, a, b, (ta, tb), (m, k, p)))
    }

    fn map(&self, dst: u32, map: &MapLoop) -> Result<TokenStream, NoBlockForm> {
        let (fty, name) = (self.fty(), tensor_name(dst));
        let (n, s, i, len) = (local("n"), local("s"), local("i"), map.len);
        let render = Straight::new(self.lanes.float).loop_body();
        let mut outer = Vec::new();
        let mut per_sample = Vec::new();
        let mut per_element = Vec::new();
        for (j, arg) in map.args.iter().enumerate() {
            let lane = lane_name(j);
            let array = local(&format!("a{j}"));
            match *arg {
                MapArg::Array(a) => match self.rows(a, len) {
                    Some((rows, stride)) => {
                        per_sample.push(
                            quote!(let #array: &[#fty] = &(#rows)[#s * #stride..#s * #stride + #len];),
                        );
                        per_element.push(quote!(let #lane: #fty = #array[#i];));
                    }
                    // A parameter group: the same row for every sample.
                    None => {
                        let Array::Leaf { offset, .. } = a else {
                            unreachable!("`rows` reads every local array")
                        };
                        let (params, off) = (local("params"), index(offset));
                        outer.push(quote!(let #array: &[#fty; #len] = ::symnn::kernels::vector::<#fty, #len>(#params, #off);));
                        per_element.push(quote!(let #lane: #fty = #array[#i];));
                    }
                },
                MapArg::Scalar(a @ (Operand::Temp(_) | Operand::Input(_) | Operand::Target(_))) => {
                    let v = self.lane_value(a, &s)?;
                    per_sample.push(quote!(let #lane: #fty = #v;));
                }
                MapArg::Scalar(other) => {
                    let v = render.value(other);
                    outer.push(quote!(let #lane: #fty = #v;));
                }
            }
        }
        let body = map.body.iter().map(|instr| render.instr(instr));
        let result = render.value(map.result);
        if let Some(slices) = self.flat_map_args(map) {
            // Every argument a block of rows `len` apart (or a constant): one loop over
            // the block's `n·len` elements. (Row by row, LLVM unrolls the row and
            // vectorises across samples, with gathers and scatters under AVX-512:
            // docs/PERFORMANCE.md, "Small MLP".)
            let flat = local("flat");
            return Ok(quote! {
                {
                    #(#outer)*
                    #(#slices)*
                    let #flat: &mut [#fty] = &mut #name.as_flattened_mut()[..#n * #len];
                    for #i in 0..#n * #len {
                        #(#per_element)*
                        #(#body)*
                        #flat[#i] = #result;
                    }
                }
            });
        }
        Ok(quote! {
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

    fn sum(&self, dst: u32, v: Array, len: usize) -> Result<TokenStream, NoBlockForm> {
        let (fty, name, n, s) = (self.fty(), tensor_name(dst), local("n"), local("s"));
        let body = match v {
            Array::Temp(v) => {
                let v = tensor_name(v);
                quote!(#name[#s] = [::symnn::kernels::sum::<#fty, #len>(&#v[#s])];)
            }
            Array::Leaf { .. } => {
                let (i, acc, zero) = (local("i"), local("acc"), self.lanes.float.literal(0.0));
                let e = self.sample_element(v, &s, &quote!(#i));
                quote! {
                    let mut #acc = #zero;
                    for #i in 0..#len {
                        #acc += #e;
                    }
                    #name[#s] = [#acc];
                }
            }
        };
        Ok(quote! {
            for #s in 0..#n {
                #body
            }
        })
    }

    fn transpose(
        &self,
        dst: u32,
        v: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, NoBlockForm> {
        let (name, n, s) = (tensor_name(dst), local("n"), local("s"));
        let (r, c) = (local("r"), local("c"));
        let e = self.sample_element(v, &s, &quote!(#r * #cols + #c));
        Ok(quote! {
            for #s in 0..#n {
                for #r in 0..#rows {
                    for #c in 0..#cols {
                        #name[#s][#c * #rows + #r] = #e;
                    }
                }
            }
        })
    }

    fn group_write(&self, write: &GroupWrite) -> Result<TokenStream, NoBlockForm> {
        if write.mode == WriteMode::Sgd {
            return Err(NoBlockForm::ParameterWrite);
        }
        let fty = self.fty();
        let (n, s, grad) = (local("n"), local("s"), argument("grad"));
        let (rows, cols, off) = (write.rows, write.cols, index(write.offset));
        let one = self.lanes.float.literal(1.0);
        Ok(match write.value {
            GroupValue::Outer(d, h) => match (self.rows(d, rows), self.rows(h, cols)) {
                (Some((d, ds)), Some((h, hs))) => quote! {
                    ::symnn::gemm::gemm_tn_acc::<#fty, #rows, #cols>(
                        #n, #d, #ds, #h, #hs,
                        ::symnn::kernels::matrix_mut::<#fty, #rows, #cols>(#grad, #off),
                        #one,
                    );
                },
                // A factor that is a parameter group, the same for every sample.
                _ => {
                    let (r, c) = (local("r"), local("c"));
                    let value = {
                        let (a, b) = (
                            self.sample_element(d, &s, &quote!(#r)),
                            self.sample_element(h, &s, &quote!(#c)),
                        );
                        quote!(#a * #b)
                    };
                    self.accumulate_elements(write, value)
                }
            },
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
            GroupValue::Array(v @ Array::Leaf { .. }) => {
                let (r, c) = (local("r"), local("c"));
                let e = self.sample_element(v, &s, &quote!(#r * #cols + #c));
                self.accumulate_elements(write, e)
            }
        })
    }
}
