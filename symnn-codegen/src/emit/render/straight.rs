//! The straight-line one-sample target: scalar `let`s, `symnn::kernels` calls for the
//! tensor tier's products, inline `for` loops for its maps.
//!
//! Arrays are locals `__T<n>` (`[F; N]`), or declared groups read in place through
//! `symnn::kernels::{vector, matrix}`; each kernel is written once, with const-generic
//! sizes.

use core::convert::Infallible;

use proc_macro2::{Span, TokenStream};
use quote::quote;

use super::{lane, temp, Cmp, MatMul, MatVec, Target, TransposedWrite};
use crate::emit::ir::{
    Array, GroupValue, GroupWrite, MapArg, MapLoop, Method, Operand, Temp, WriteMode,
};
use crate::emit::tokens::{argument, index, lane_name, local, tensor_name, Float};
use crate::graph::Func;
use crate::tensor::LeafKind;

/// Straight-line code for one float type.
#[derive(Clone, Copy)]
pub struct Straight {
    /// The float type.
    pub float: Float,
    /// Straight-line one-sample code, where a chain of `exp`s is latency-bound: `exp`,
    /// `ln`, `sigmoid` and `softplus` call libm (glibc's table-driven `exp` has the
    /// shortest dependency chain; seed 003's step was 1.19x slower with the
    /// polynomials). Otherwise (loop bodies, maps) every transcendental is
    /// `symnn::math`'s branch-free polynomial, so the loop vectorises.
    pub latency: bool,
}

/// Unwraps a result of a target that refuses nothing.
fn total(tokens: Result<TokenStream, Infallible>) -> TokenStream {
    match tokens {
        Ok(tokens) => tokens,
        Err(never) => match never {},
    }
}

impl Straight {
    /// The renderer for straight-line one-sample code.
    pub fn new(float: Float) -> Straight {
        Straight {
            float,
            latency: true,
        }
    }

    /// The renderer for loop bodies (map kernels), which should vectorise.
    pub fn loop_body(self) -> Straight {
        Straight {
            latency: false,
            ..self
        }
    }

    /// A method's statements and tail expression.
    pub fn method(self, method: &Method) -> TokenStream {
        total(super::method(&self, method))
    }

    /// One statement.
    pub fn instr(self, instr: &crate::emit::ir::Instr) -> TokenStream {
        total(super::instr(&self, instr))
    }

    /// An operand as an expression.
    pub fn value(self, operand: Operand) -> TokenStream {
        total(self.operand(operand))
    }

    /// `<f64 as ::symnn::Float>::exp(a)`: a function that `core` lacks (`exp`, `ln`,
    /// `ln_1p`, `sqrt`, `sin`, `cos`, `powi`, `powf`; the inherent `x.exp()` exists
    /// only with std), through the runtime's `Float`, which is std's inherent method
    /// with std (inlined: the same code) and `libm`'s without. `abs`, `max` and `min`
    /// are in `core` and stay methods.
    fn float_fn(self, name: &str, args: &[TokenStream]) -> TokenStream {
        let (ty, name) = (self.float.ty(), syn::Ident::new(name, Span::call_site()));
        quote!(<#ty as ::symnn::Float>::#name(#(#args),*))
    }

    /// `&[F; len]` for an array.
    fn vector(self, a: Array, len: usize) -> TokenStream {
        let fty = self.float.ty();
        let n = index(len);
        match a {
            Array::Temp(t) => {
                let name = tensor_name(t);
                quote!(&#name)
            }
            Array::Leaf { offset, .. } => {
                let (source, offset) = (self.source(a), index(offset));
                quote!(::symnn::kernels::vector::<#fty, #n>(#source, #offset))
            }
        }
    }

    /// `&[[F; cols]; rows]` for an array.
    fn matrix(self, a: Array, rows: usize, cols: usize) -> TokenStream {
        let fty = self.float.ty();
        let (r, c) = (index(rows), index(cols));
        let (source, offset) = match a {
            Array::Temp(t) => {
                let name = tensor_name(t);
                (quote!(&#name), index(0))
            }
            Array::Leaf { offset, .. } => (self.source(a), index(offset)),
        };
        quote!(::symnn::kernels::matrix::<#fty, #r, #c>(#source, #offset))
    }

    /// `&[F]` holding the array (a whole group array or a local).
    fn slice(self, a: Array, len: usize) -> TokenStream {
        match a {
            Array::Temp(t) => {
                let name = tensor_name(t);
                quote!(&#name)
            }
            Array::Leaf { offset, .. } => {
                let (source, start, end) = (self.source(a), index(offset), index(offset + len));
                quote!(&#source[#start..#end])
            }
        }
    }

    /// The flattened array a leaf lives in.
    fn source(self, a: Array) -> TokenStream {
        match a {
            Array::Leaf {
                kind: LeafKind::Input,
                ..
            } => {
                let input = argument("input");
                quote!(#input)
            }
            Array::Leaf {
                kind: LeafKind::Target,
                ..
            } => {
                let target = argument("target");
                quote!(#target)
            }
            Array::Leaf { via_self: true, .. } => quote!(&self.params),
            Array::Leaf { .. } => {
                let params = local("params");
                quote!(#params)
            }
            Array::Temp(t) => {
                let name = tensor_name(t);
                quote!(&#name)
            }
        }
    }

    /// The bindings before a map's loop (`__a<j>` for array arguments, scalars read
    /// once) and the lane reads at the top of its body (`__l<j> = __a<j>[__i]`).
    fn map_lanes(
        self,
        map: &MapLoop,
        replaced: Option<(usize, TokenStream)>,
        i: &syn::Ident,
    ) -> (Vec<TokenStream>, Vec<TokenStream>) {
        let fty = self.float.ty();
        let mut binds = Vec::new();
        let mut lanes = Vec::new();
        for (j, arg) in map.args.iter().enumerate() {
            let lane = lane_name(j);
            if let Some((z, value)) = &replaced {
                if *z == j {
                    lanes.push(quote!(let #lane: #fty = #value;));
                    continue;
                }
            }
            match arg {
                MapArg::Array(a) => {
                    let (array, v) = (local(&format!("a{j}")), self.vector(*a, map.len));
                    let n = index(map.len);
                    binds.push(quote!(let #array: &[#fty; #n] = #v;));
                    lanes.push(quote!(let #lane: #fty = #array[#i];));
                }
                MapArg::Scalar(s) => {
                    let s = self.value(*s);
                    binds.push(quote!(let #lane: #fty = #s;));
                }
            }
        }
        (binds, lanes)
    }
}

impl Target for Straight {
    type Refusal = Infallible;

    fn float(&self) -> Float {
        self.float
    }

    fn operand(&self, operand: Operand) -> Result<TokenStream, Infallible> {
        Ok(match operand {
            Operand::Temp(t) => temp(t),
            Operand::Input(k) => {
                let (input, k) = (argument("input"), index(k));
                quote!(#input[#k])
            }
            Operand::Target(k) => {
                let (target, k) = (argument("target"), index(k));
                quote!(#target[#k])
            }
            Operand::Param(k) => {
                let (params, k) = (local("params"), index(k));
                quote!(#params[#k])
            }
            Operand::ParamViaSelf(k) => {
                let k = index(k);
                quote!(self.params[#k])
            }
            Operand::Const(v) => self.float.literal(v),
            Operand::Lr => {
                let lr = argument("lr");
                quote!(#lr)
            }
            Operand::Lane(j) => lane(j),
            Operand::Var(k) => {
                let (var, k) = (local("var"), index(k as usize));
                quote!(#var[#k])
            }
        })
    }

    fn call(&self, f: Func, a: TokenStream) -> TokenStream {
        // tanh is always `symnn::math`'s branch-free polynomial (1-2 ulp,
        // docs/NUMERICS.md; glibc's tanh is slow); exp, ln, sigmoid and softplus too
        // except in straight-line code (see `Straight::latency`).
        let math = quote!(::symnn::math);
        let zero = self.float.literal(0.0);
        let float = |name: &str, a: TokenStream| self.float_fn(name, &[a]);
        match f {
            Func::Exp if self.latency => float("exp", a),
            Func::Ln if self.latency => float("ln", a),
            Func::Sigmoid if self.latency => {
                let one = self.float.literal(1.0);
                let e = float("exp", quote!(-#a));
                quote!(#one / (#one + #e))
            }
            Func::Softplus if self.latency => {
                let tail = float("ln_1p", float("exp", quote!(-#a.abs())));
                quote!(#a.max(#zero) + #tail)
            }
            Func::Exp => quote!(#math::exp(#a)),
            Func::Ln => quote!(#math::ln(#a)),
            Func::Sqrt => float("sqrt", a),
            Func::Abs => quote!(#a.abs()),
            Func::Sin => float("sin", a),
            Func::Cos => float("cos", a),
            Func::Tanh => quote!(#math::tanh(#a)),
            Func::Sigmoid => quote!(#math::sigmoid(#a)),
            Func::Relu => quote!(#a.max(#zero)),
            Func::Softplus => quote!(#math::softplus(#a)),
        }
    }

    fn call_group(
        &self,
        id: u32,
        f: Func,
        dsts: &[Temp],
        args: Vec<TokenStream>,
    ) -> Result<TokenStream, Infallible> {
        let in_place = match f {
            Func::Tanh => "tanh_in_place",
            Func::Exp => "exp_in_place",
            Func::Sigmoid => "sigmoid_in_place",
            Func::Softplus => "softplus_in_place",
            // (`call_group::group_calls` groups only the functions above.)
            Func::Ln | Func::Sqrt | Func::Abs | Func::Sin | Func::Cos | Func::Relu => {
                let calls = dsts
                    .iter()
                    .zip(args)
                    .map(|(&dst, a)| self.bind(dst, self.call(f, a)));
                return Ok(quote!(#(#calls)*));
            }
        };
        let (fty, n) = (self.float.ty(), index(dsts.len()));
        let (array, in_place) = (
            local(&format!("cg{id}")),
            syn::Ident::new(in_place, Span::call_site()),
        );
        let binds = dsts.iter().enumerate().map(|(i, &dst)| {
            let i = index(i);
            self.bind(dst, quote!(#array[#i]))
        });
        Ok(quote! {
            let mut #array: [#fty; #n] = [#(#args),*];
            ::symnn::math::#in_place(&mut #array);
            #(#binds)*
        })
    }

    fn powi(&self, a: TokenStream, n: i32) -> TokenStream {
        self.float_fn("powi", &[a, quote!(#n)])
    }

    fn powf(&self, a: TokenStream, b: TokenStream) -> TokenStream {
        self.float_fn("powf", &[a, b])
    }

    fn select(
        &self,
        cmp: Cmp,
        a: TokenStream,
        b: TokenStream,
        t: TokenStream,
        e: TokenStream,
    ) -> TokenStream {
        match cmp {
            Cmp::Gt => quote!(if #a > #b { #t } else { #e }),
            Cmp::Ge => quote!(if #a >= #b { #t } else { #e }),
            Cmp::Eq => quote!(if #a == #b { #t } else { #e }),
        }
    }

    fn element(&self, tensor: u32, k: u32) -> TokenStream {
        let (array, k) = (tensor_name(tensor), index(k as usize));
        quote!(#array[#k])
    }

    fn bind(&self, dst: Temp, value: TokenStream) -> TokenStream {
        let (fty, name) = (self.float.ty(), temp(dst));
        if dst.is_array_element() {
            quote!(#name = #value;)
        } else {
            quote!(let #name: #fty = #value;)
        }
    }

    fn temp_array(&self, len: usize) -> TokenStream {
        let (fty, array, zero) = (self.float.ty(), local("t"), self.float.literal(0.0));
        quote!(let mut #array: [#fty; #len] = [#zero; #len];)
    }

    fn bind_params(&self) -> TokenStream {
        let params = local("params");
        quote!(let #params = &self.params;)
    }

    fn parameter_writes(&self) -> Result<(), Infallible> {
        Ok(())
    }

    fn pack(&self, dst: u32, items: &[Operand]) -> Result<TokenStream, Infallible> {
        let (fty, name, n) = (self.float.ty(), tensor_name(dst), index(items.len()));
        let items = items.iter().map(|&a| self.value(a));
        Ok(quote!(let #name: [#fty; #n] = [#(#items),*];))
    }

    fn matvec(
        &self,
        dst: u32,
        w: Array,
        x: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, Infallible> {
        let (fty, zero, name) = (self.float.ty(), self.float.literal(0.0), tensor_name(dst));
        let (r, c) = (index(rows), index(cols));
        let (w, x) = (self.matrix(w, rows, cols), self.vector(x, cols));
        Ok(quote! {
            let mut #name: [#fty; #r] = [#zero; #r];
            ::symnn::kernels::matvec::<#fty, #r, #c>(#w, #x, &mut #name);
        })
    }

    fn matvec_map(
        &self,
        dst: u32,
        product: MatVec,
        map: &MapLoop,
        z_lane: usize,
        map_dst: u32,
    ) -> Result<TokenStream, Infallible> {
        let (fty, zero, name) = (self.float.ty(), self.float.literal(0.0), tensor_name(dst));
        let (rows, cols) = (product.rows, product.cols);
        let (r, c) = (index(rows), index(cols));
        let (w, x) = (
            self.matrix(product.w, rows, cols),
            self.vector(product.x, cols),
        );
        let y = tensor_name(map_dst);
        let (i, s) = (local("i"), local("s"));
        let (binds, lanes) = self.map_lanes(map, Some((z_lane, quote!(#s))), &i);
        // (The epilogue runs once per row between dot products: a latency chain, so
        // libm's exp; see `Straight::latency`.)
        let body = map.body.iter().map(|instr| self.instr(instr));
        let result = self.value(map.result);
        Ok(quote! {
            let mut #name: [#fty; #r] = [#zero; #r];
            let mut #y: [#fty; #r] = [#zero; #r];
            {
                #(#binds)*
                ::symnn::kernels::matvec_map::<#fty, #r, #c>(#w, #x, &mut #name, &mut #y, |#i: usize, #s: #fty| {
                    let _ = #i;
                    #(#lanes)*
                    #(#body)*
                    #result
                });
            }
        })
    }

    fn matvec_t(
        &self,
        dst: u32,
        w: Array,
        d: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, Infallible> {
        let (fty, zero, name) = (self.float.ty(), self.float.literal(0.0), tensor_name(dst));
        let (r, c) = (index(rows), index(cols));
        let (w, d) = (self.matrix(w, rows, cols), self.vector(d, rows));
        Ok(quote! {
            let mut #name: [#fty; #c] = [#zero; #c];
            ::symnn::kernels::matvec_t::<#fty, #r, #c>(#w, #d, &mut #name);
        })
    }

    fn matvec_t_write(&self, dst: u32, write: TransposedWrite) -> Result<TokenStream, Infallible> {
        let (fty, zero, name) = (self.float.ty(), self.float.literal(0.0), tensor_name(dst));
        let kernels = quote!(::symnn::kernels);
        let (lr, grad) = (argument("lr"), argument("grad"));
        let (r, c, off) = (index(write.rows), index(write.cols), index(write.offset));
        let (d, h) = (
            self.vector(write.d, write.rows),
            self.vector(write.h, write.cols),
        );
        let call = match write.mode {
            WriteMode::Sgd => quote! {
                #kernels::matvec_t_sgd::<#fty, #r, #c>(
                    #kernels::matrix_mut::<#fty, #r, #c>(&mut self.params, #off),
                    #d, #h, #lr, &mut #name,
                );
            },
            WriteMode::Accumulate => {
                let params = local("params");
                quote! {
                    #kernels::matvec_t_acc::<#fty, #r, #c>(
                        #kernels::matrix::<#fty, #r, #c>(#params, #off),
                        #d, #h,
                        #kernels::matrix_mut::<#fty, #r, #c>(#grad, #off),
                        &mut #name,
                    );
                }
            }
        };
        Ok(quote! {
            let mut #name: [#fty; #c] = [#zero; #c];
            #call
        })
    }

    fn outer(
        &self,
        dst: u32,
        a: Array,
        b: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, Infallible> {
        let (fty, zero, name) = (self.float.ty(), self.float.literal(0.0), tensor_name(dst));
        let kernels = quote!(::symnn::kernels);
        let (r, c, n) = (index(rows), index(cols), index(rows * cols));
        let (a, b) = (self.vector(a, rows), self.vector(b, cols));
        Ok(quote! {
            let mut #name: [#fty; #n] = [#zero; #n];
            #kernels::outer::<#fty, #r, #c>(#a, #b, #kernels::matrix_mut::<#fty, #r, #c>(&mut #name, 0));
        })
    }

    fn matmul(&self, dst: u32, product: MatMul) -> Result<TokenStream, Infallible> {
        let (fty, zero, name) = (self.float.ty(), self.float.literal(0.0), tensor_name(dst));
        let MatMul {
            a,
            b,
            ta,
            tb,
            m,
            k,
            p,
        } = product;
        let n = index(m * p);
        let (a, b) = (self.slice(a, m * k), self.slice(b, k * p));
        let (m, k, p) = (index(m), index(k), index(p));
        Ok(quote! {
            let mut #name: [#fty; #n] = [#zero; #n];
            ::symnn::kernels::matmul::<#fty, #m, #k, #p>(#a, #b, #ta, #tb, &mut #name);
        })
    }

    fn map(&self, dst: u32, map: &MapLoop) -> Result<TokenStream, Infallible> {
        let (fty, zero, name) = (self.float.ty(), self.float.literal(0.0), tensor_name(dst));
        let n = index(map.len);
        let i = local("i");
        let (binds, lanes) = self.map_lanes(map, None, &i);
        let body = map.body.iter().map(|instr| self.loop_body().instr(instr));
        let result = self.value(map.result);
        Ok(quote! {
            let mut #name: [#fty; #n] = [#zero; #n];
            {
                #(#binds)*
                for #i in 0..#n {
                    #(#lanes)*
                    #(#body)*
                    #name[#i] = #result;
                }
            }
        })
    }

    fn sum(&self, dst: u32, v: Array, len: usize) -> Result<TokenStream, Infallible> {
        let (fty, name, n) = (self.float.ty(), tensor_name(dst), index(len));
        let v = self.vector(v, len);
        Ok(quote!(let #name: [#fty; 1] = [::symnn::kernels::sum::<#fty, #n>(#v)];))
    }

    fn transpose(
        &self,
        dst: u32,
        v: Array,
        rows: usize,
        cols: usize,
    ) -> Result<TokenStream, Infallible> {
        let (fty, zero, name) = (self.float.ty(), self.float.literal(0.0), tensor_name(dst));
        let (r, c, n) = (index(rows), index(cols), index(rows * cols));
        let v = self.slice(v, rows * cols);
        Ok(quote! {
            let mut #name: [#fty; #n] = [#zero; #n];
            ::symnn::kernels::transpose::<#fty, #r, #c>(#v, &mut #name);
        })
    }

    fn group_write(&self, write: &GroupWrite) -> Result<TokenStream, Infallible> {
        let fty = self.float.ty();
        let kernels = quote!(::symnn::kernels);
        let (lr, grad) = (argument("lr"), argument("grad"));
        let (r, c, off) = (index(write.rows), index(write.cols), index(write.offset));
        let n = index(write.rows * write.cols);
        let len = write.rows * write.cols;
        Ok(match (write.value, write.mode) {
            (GroupValue::Outer(a, b), WriteMode::Sgd) => {
                let (a, b) = (self.vector(a, write.rows), self.vector(b, write.cols));
                quote!(#kernels::outer_sgd::<#fty, #r, #c>(#kernels::matrix_mut::<#fty, #r, #c>(&mut self.params, #off), #a, #b, #lr);)
            }
            (GroupValue::Outer(a, b), WriteMode::Accumulate) => {
                let (a, b) = (self.vector(a, write.rows), self.vector(b, write.cols));
                quote!(#kernels::outer_acc::<#fty, #r, #c>(#kernels::matrix_mut::<#fty, #r, #c>(#grad, #off), #a, #b);)
            }
            (GroupValue::Array(v), WriteMode::Sgd) => {
                let v = self.vector(v, len);
                quote!(#kernels::sgd::<#fty, #n>(#kernels::vector_mut::<#fty, #n>(&mut self.params, #off), #v, #lr);)
            }
            (GroupValue::Array(v), WriteMode::Accumulate) => {
                let v = self.vector(v, len);
                quote!(#kernels::add_assign::<#fty, #n>(#kernels::vector_mut::<#fty, #n>(#grad, #off), #v);)
            }
        })
    }
}
