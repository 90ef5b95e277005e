//! The lanes target: the one-sample scalar code with every value a
//! `::symnn::lanes::Lanes<F, L>`, lane `l` being sample `l` of a block of `L`. Inputs
//! and targets are the block's transposed `__x`/`__y`, parameters and constants are
//! splatted. Each lane performs exactly the one-sample operations.

use proc_macro2::TokenStream;
use quote::quote;

use super::{temp, Cmp, MatMul, MatVec, NoBlockForm, Target, TransposedWrite};
use crate::emit::ir::{Array, GroupWrite, MapLoop, Operand, Temp};
use crate::emit::tokens::{index, local, tensor_name, Float};
use crate::graph::Func;

/// Scalar code across `lanes` samples.
#[derive(Clone, Copy)]
pub struct Lanes {
    /// The float type.
    pub float: Float,
    /// Samples per value.
    pub lanes: usize,
}

impl Lanes {
    /// `::symnn::lanes::Lanes::<F, L>`
    pub fn ty(self) -> TokenStream {
        let (fty, l) = (self.float.ty(), self.lanes);
        quote!(::symnn::lanes::Lanes::<#fty, #l>)
    }
}

impl Target for Lanes {
    type Refusal = NoBlockForm;

    fn float(&self) -> Float {
        self.float
    }

    fn operand(&self, operand: Operand) -> Result<TokenStream, NoBlockForm> {
        let ty = self.ty();
        Ok(match operand {
            Operand::Temp(t) => temp(t),
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
            Operand::Lr | Operand::Lane(_) | Operand::Var(_) => {
                return Err(NoBlockForm::OneSampleOperand)
            }
        })
    }

    fn call(&self, f: Func, a: TokenStream) -> TokenStream {
        let (ty, zero) = (self.ty(), self.float.literal(0.0));
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

    fn powi(&self, a: TokenStream, n: i32) -> TokenStream {
        quote!(#a.powi(#n))
    }

    fn powf(&self, a: TokenStream, b: TokenStream) -> TokenStream {
        quote!(#a.powf(#b))
    }

    fn select(
        &self,
        cmp: Cmp,
        a: TokenStream,
        b: TokenStream,
        t: TokenStream,
        e: TokenStream,
    ) -> TokenStream {
        let ty = self.ty();
        match cmp {
            Cmp::Gt => quote!(#ty::select_gt(#a, #b, #t, #e)),
            Cmp::Ge => quote!(#ty::select_ge(#a, #b, #t, #e)),
            Cmp::Eq => quote!(#ty::select_eq(#a, #b, #t, #e)),
        }
    }

    fn element(&self, tensor: u32, k: u32) -> TokenStream {
        let (array, k) = (tensor_name(tensor), index(k as usize));
        quote!(::symnn::lanes::column(&#array, #k))
    }

    fn bind(&self, dst: Temp, value: TokenStream) -> TokenStream {
        let name = temp(dst);
        if dst.is_array_element() {
            quote!(#name = #value;)
        } else {
            quote!(let #name = #value;)
        }
    }

    fn temp_array(&self, len: usize) -> TokenStream {
        let (array, ty, zero) = (local("t"), self.ty(), self.float.literal(0.0));
        quote!(let mut #array = [#ty::splat(#zero); #len];)
    }

    fn bind_params(&self) -> TokenStream {
        // (The block function binds `__params` once, before its loop.)
        quote!()
    }

    fn parameter_writes(&self) -> Result<(), NoBlockForm> {
        Err(NoBlockForm::ParameterWrite)
    }

    fn call_group(
        &self,
        _: u32,
        _: Func,
        _: &[Temp],
        _: Vec<TokenStream>,
    ) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::CallGroup)
    }

    fn pack(&self, _: u32, _: &[Operand]) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn matvec(
        &self,
        _: u32,
        _: Array,
        _: Array,
        _: usize,
        _: usize,
    ) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn matvec_map(
        &self,
        _: u32,
        _: MatVec,
        _: &MapLoop,
        _: usize,
        _: u32,
    ) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn matvec_t(
        &self,
        _: u32,
        _: Array,
        _: Array,
        _: usize,
        _: usize,
    ) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn matvec_t_write(&self, _: u32, _: TransposedWrite) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn outer(
        &self,
        _: u32,
        _: Array,
        _: Array,
        _: usize,
        _: usize,
    ) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn matmul(&self, _: u32, _: MatMul) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn map(&self, _: u32, _: &MapLoop) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn sum(&self, _: u32, _: Array, _: usize) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn transpose(&self, _: u32, _: Array, _: usize, _: usize) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }

    fn group_write(&self, _: &GroupWrite) -> Result<TokenStream, NoBlockForm> {
        Err(NoBlockForm::TensorLoop)
    }
}
