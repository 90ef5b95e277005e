//! The tensor tier of the emitter: one [`Loop`] per tensor node, the parameter-group
//! writes of a layer's gradient ([`GroupWrite`]), the two fusions a careful engineer
//! makes by hand ([`fuse`]), and their tokens.
//!
//! Loops are calls of `symnn::kernels` (matrix–vector products, outer-product
//! updates; each kernel written once, with const-generic sizes) and inline `for`
//! loops for elementwise maps, whose bodies are the map's scalar kernel emitted like
//! any other straight-line code. Arrays are locals `__T<n>` (`[F; N]`), or declared
//! groups read in place through `symnn::kernels::{vector, matrix}`.
//!
//! Fusions, as pure rewrites of the instruction list:
//! - a matrix–vector product followed by the map that consumes it (bias and
//!   activation) becomes one pass: the map is the product's per-row epilogue;
//! - a layer's backward product `Wᵀ·δ` and the write of its weight gradient `δ·hᵀ`
//!   (the SGD update, or the gradient accumulation) become one pass over `W`.

use proc_macro2::TokenStream;
use quote::quote;

use super::instr::{Instr, Operand, Temp};
use super::tokens::{argument, index, local, Render};
use crate::tensor::LeafKind;

/// An array read by a loop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Array {
    /// `__T<n>`: the local array of tensor node `n`.
    Temp(u32),
    /// A declared group read in place.
    Leaf {
        /// `input`, `target` or the parameters.
        kind: LeafKind,
        /// The first element.
        offset: usize,
        /// Parameters read as `self.params` (a body that also writes them) rather
        /// than through `__params`.
        via_self: bool,
    },
}

impl Array {
    /// An operand standing for this array in [`Instr::reads`]: the temporary, or the
    /// group's first element (so signatures and borrows see the use).
    pub fn marker(self) -> Operand {
        match self {
            Array::Temp(n) => Operand::Temp(Temp::Tensor(n)),
            Array::Leaf {
                kind,
                offset,
                via_self,
            } => match kind {
                LeafKind::Input => Operand::Input(offset),
                LeafKind::Target => Operand::Target(offset),
                LeafKind::Param if via_self => Operand::ParamViaSelf(offset),
                LeafKind::Param => Operand::Param(offset),
            },
        }
    }

    /// The parameter elements this array reads in place, if it is a parameter group
    /// of `len` elements.
    pub fn param_range(self, len: usize) -> Option<(usize, usize)> {
        match self {
            Array::Leaf {
                kind: LeafKind::Param,
                offset,
                ..
            } => Some((offset, offset + len)),
            _ => None,
        }
    }
}

/// A map argument: an array, or a scalar that broadcasts.
#[derive(Clone, Debug, PartialEq)]
pub enum MapArg {
    /// Element `i` of an array.
    Array(Array),
    /// The same scalar for every element.
    Scalar(Operand),
}

/// `out[i] = kernel(args[0][i], args[1][i], ...)` for `i < len`.
#[derive(Clone, Debug, PartialEq)]
pub struct MapLoop {
    /// Number of elements.
    pub len: usize,
    /// One per lane.
    pub args: Vec<MapArg>,
    /// The kernel's statements (reading [`Operand::Lane`]s).
    pub body: Vec<Instr>,
    /// The kernel's value.
    pub result: Operand,
}

/// The operation of one tensor node, as emitted.
#[derive(Clone, Debug, PartialEq)]
pub enum Loop {
    /// `[a, b, ...]`
    Pack(Vec<Operand>),
    /// `W·x` for `W` of `rows × cols`.
    MatVec {
        /// The matrix.
        w: Array,
        /// The vector.
        x: Array,
        /// Rows of `W`.
        rows: usize,
        /// Columns of `W`.
        cols: usize,
    },
    /// `W·x` (stored in the destination) and the map consuming it (stored in
    /// `map_dst`), in one pass: lane `z_lane` of the map is the row's sum.
    MatVecMap {
        /// The matrix.
        w: Array,
        /// The vector.
        x: Array,
        /// Rows of `W`.
        rows: usize,
        /// Columns of `W`.
        cols: usize,
        /// The map.
        map: MapLoop,
        /// Its lane reading the product.
        z_lane: usize,
        /// Its tensor node.
        map_dst: u32,
    },
    /// `Wᵀ·d` for `W` of `rows × cols`.
    MatVecT {
        /// The matrix.
        w: Array,
        /// The vector (`rows` long).
        d: Array,
        /// Rows of `W`.
        rows: usize,
        /// Columns of `W`.
        cols: usize,
    },
    /// `Wᵀ·d` and the write of the gradient `d·hᵀ` of the parameter group `W` (at
    /// `offset`) in one pass over `W`.
    MatVecTWrite {
        /// The group's first parameter.
        offset: usize,
        /// The layer's adjoint (`rows` long).
        d: Array,
        /// The layer's input (`cols` long).
        h: Array,
        /// Rows of `W`.
        rows: usize,
        /// Columns of `W`.
        cols: usize,
        /// An SGD step or a gradient accumulation.
        mode: WriteMode,
    },
    /// `a·bᵀ`, materialised.
    Outer {
        /// `rows` long.
        a: Array,
        /// `cols` long.
        b: Array,
        /// Length of `a`.
        rows: usize,
        /// Length of `b`.
        cols: usize,
    },
    /// `op(a)·op(b)`, the general product (`m × k` times `k × p`).
    MatMul {
        /// Left factor.
        a: Array,
        /// Right factor.
        b: Array,
        /// Transpose `a`.
        ta: bool,
        /// Transpose `b`.
        tb: bool,
        /// Rows of the result.
        m: usize,
        /// Inner dimension.
        k: usize,
        /// Columns of the result.
        p: usize,
    },
    /// An elementwise map.
    Map(MapLoop),
    /// `[Σ_i v[i]]` over `len` elements.
    Sum(Array, usize),
    /// `mᵀ` for `m` of `rows × cols`.
    Transpose(Array, usize, usize),
}

/// How a gradient is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// `params -= lr · g` (`sgd_step`).
    Sgd,
    /// `grad += g` (`accumulate_gradient`).
    Accumulate,
}

/// The gradient of a parameter group computed as a whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GroupValue {
    /// An array of the group's size.
    Array(Array),
    /// `a·bᵀ` (a weight: its layer's adjoint times its input), never materialised.
    Outer(Array, Array),
}

/// A parameter group's gradient written as a whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupWrite {
    /// The group's first parameter.
    pub offset: usize,
    /// Rows (the length of the outer product's left factor; 1 for an array).
    pub rows: usize,
    /// Columns (the group's length for an array).
    pub cols: usize,
    /// The gradient.
    pub value: GroupValue,
    /// SGD step or accumulation.
    pub mode: WriteMode,
}

impl GroupWrite {
    /// The arrays it reads.
    pub fn arrays(&self) -> Vec<Array> {
        match self.value {
            GroupValue::Array(a) => vec![a],
            GroupValue::Outer(a, b) => vec![a, b],
        }
    }

    /// Whether it reads a parameter group in place (then an SGD step cannot borrow
    /// the parameters mutably while it runs).
    pub fn reads_params(&self) -> bool {
        self.arrays().iter().any(|a| a.param_range(1).is_some())
    }
}

impl Loop {
    /// The arrays and scalars it reads, as operands (see [`Array::marker`]).
    pub fn reads(&self) -> Vec<Operand> {
        let arrays = |list: &[Array]| list.iter().map(|a| a.marker()).collect::<Vec<_>>();
        match self {
            Loop::Pack(items) => items.clone(),
            Loop::MatVec { w, x, .. } => arrays(&[*w, *x]),
            Loop::MatVecMap { w, x, map, .. } => {
                let mut reads = arrays(&[*w, *x]);
                reads.extend(map_reads(map));
                reads
            }
            Loop::MatVecT { w, d, .. } => arrays(&[*w, *d]),
            Loop::MatVecTWrite {
                offset, d, h, mode, ..
            } => {
                let mut reads = arrays(&[*d, *h]);
                reads.push(match mode {
                    WriteMode::Sgd => Operand::Lr,
                    WriteMode::Accumulate => Operand::Param(*offset),
                });
                reads
            }
            Loop::Outer { a, b, .. } | Loop::MatMul { a, b, .. } => arrays(&[*a, *b]),
            Loop::Map(map) => map_reads(map),
            Loop::Sum(v, _) | Loop::Transpose(v, ..) => arrays(&[*v]),
        }
    }

    /// The parameter ranges it reads in place.
    pub fn param_reads(&self) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        let mut add = |a: &Array, len: usize| ranges.extend(a.param_range(len));
        match self {
            Loop::MatVec { w, x, rows, cols }
            | Loop::MatVecMap {
                w, x, rows, cols, ..
            } => {
                add(w, rows * cols);
                add(x, *cols);
            }
            Loop::MatVecT { w, d, rows, cols } => {
                add(w, rows * cols);
                add(d, *rows);
            }
            Loop::MatVecTWrite {
                offset,
                rows,
                cols,
                h,
                ..
            } => {
                ranges.push((*offset, offset + rows * cols));
                ranges.extend(h.param_range(*cols));
            }
            Loop::Outer { a, b, rows, cols } => {
                add(a, *rows);
                add(b, *cols);
            }
            Loop::MatMul { a, b, m, k, p, .. } => {
                add(a, m * k);
                add(b, k * p);
            }
            Loop::Sum(v, len) => add(v, *len),
            Loop::Transpose(v, r, c) => add(v, r * c),
            Loop::Pack(_) | Loop::Map(_) => {}
        }
        if let Loop::Map(map) | Loop::MatVecMap { map, .. } = self {
            for arg in &map.args {
                if let MapArg::Array(a) = arg {
                    ranges.extend(a.param_range(map.len));
                }
            }
        }
        ranges
    }

    /// The parameter range it overwrites (a fused SGD step).
    pub fn param_write(&self) -> Option<(usize, usize)> {
        match self {
            Loop::MatVecTWrite {
                offset,
                rows,
                cols,
                mode: WriteMode::Sgd,
                ..
            } => Some((*offset, offset + rows * cols)),
            _ => None,
        }
    }
}

fn map_reads(map: &MapLoop) -> Vec<Operand> {
    map.args
        .iter()
        .map(|arg| match arg {
            MapArg::Array(a) => a.marker(),
            MapArg::Scalar(s) => *s,
        })
        .collect()
}

/// The two fusions (see the module docs), applied to a method's instructions.
pub fn fuse(instrs: Vec<Instr>) -> Vec<Instr> {
    fuse_backward(fuse_forward(instrs))
}

/// A matrix–vector product immediately followed by a map reading it: one pass.
fn fuse_forward(instrs: Vec<Instr>) -> Vec<Instr> {
    let mut out: Vec<Instr> = Vec::with_capacity(instrs.len());
    for instr in instrs {
        if let Instr::Loop {
            dst: map_dst,
            op: Loop::Map(map),
        } = &instr
        {
            if let Some(Instr::Loop {
                dst,
                op: Loop::MatVec { w, x, rows, cols },
            }) = out.last()
            {
                let z = MapArg::Array(Array::Temp(*dst));
                if let Some(z_lane) = map.args.iter().position(|a| *a == z) {
                    if map.len == *rows {
                        let fused = Loop::MatVecMap {
                            w: *w,
                            x: *x,
                            rows: *rows,
                            cols: *cols,
                            map: map.clone(),
                            z_lane,
                            map_dst: *map_dst,
                        };
                        let dst = *dst;
                        out.pop();
                        out.push(Instr::Loop { dst, op: fused });
                        continue;
                    }
                }
            }
        }
        out.push(instr);
    }
    out
}

/// A backward product `Wᵀ·d` and the write of `W`'s gradient `d·hᵀ`: one pass over
/// `W`, at the product's place. Only when `h` is computed before the product, no
/// instruction between them reads `W`, and `d`, `h` are not parameters.
fn fuse_backward(mut instrs: Vec<Instr>) -> Vec<Instr> {
    let mut p = 0;
    while p < instrs.len() {
        let Instr::WriteGroup(write) = &instrs[p] else {
            p += 1;
            continue;
        };
        let write = *write;
        let GroupValue::Outer(d, h) = write.value else {
            p += 1;
            continue;
        };
        let target = |instr: &Instr| {
            matches!(instr, Instr::Loop { op: Loop::MatVecT { w: Array::Leaf { kind: LeafKind::Param, offset, .. }, d: dd, rows, cols }, .. }
                if *offset == write.offset && *dd == d && *rows == write.rows && *cols == write.cols)
        };
        let Some(q) = instrs.iter().position(target) else {
            p += 1;
            continue;
        };
        let h_ready = match h {
            Array::Temp(n) => instrs[..q]
                .iter()
                .any(|i| i.defines_all().contains(&Temp::Tensor(n))),
            Array::Leaf { kind, .. } => kind != LeafKind::Param,
        };
        let range = (write.offset, write.offset + write.rows * write.cols);
        let (lo, hi) = (q.min(p), q.max(p));
        // Nothing between the two may read `W` (in place or element by element): the
        // write moves to the product's place.
        let untouched_between = instrs[lo + 1..hi].iter().all(|i| {
            !i.param_reads()
                .iter()
                .any(|&(a, b)| a < range.1 && range.0 < b)
                && !i
                    .reads()
                    .into_iter()
                    .filter_map(Operand::param)
                    .any(|k| range.0 <= k && k < range.1)
        });
        let d_ok = d.param_range(1).is_none();
        if !(h_ready && untouched_between && d_ok) {
            p += 1;
            continue;
        }
        let Instr::Loop { dst, .. } = instrs[q] else {
            unreachable!("found above")
        };
        instrs[q] = Instr::Loop {
            dst,
            op: Loop::MatVecTWrite {
                offset: write.offset,
                d,
                h,
                rows: write.rows,
                cols: write.cols,
                mode: write.mode,
            },
        };
        instrs.remove(p);
    }
    instrs
}

impl Render {
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

    /// `__T<dst> = ...` for one tensor node.
    pub fn loop_instr(self, dst: u32, op: &Loop) -> TokenStream {
        let fty = self.float.ty();
        let zero = self.float.literal(0.0);
        let name = tensor_name(dst);
        let kernels = quote!(::symnn::kernels);
        let lr = argument("lr");
        let grad = argument("grad");
        match op {
            Loop::Pack(items) => {
                let n = index(items.len());
                let items = items.iter().map(|&a| self.operand(a));
                quote!(let #name: [#fty; #n] = [#(#items),*];)
            }
            Loop::MatVec { w, x, rows, cols } => {
                let (r, c) = (index(*rows), index(*cols));
                let (w, x) = (self.matrix(*w, *rows, *cols), self.vector(*x, *cols));
                quote! {
                    let mut #name: [#fty; #r] = [#zero; #r];
                    #kernels::matvec::<#fty, #r, #c>(#w, #x, &mut #name);
                }
            }
            Loop::MatVecMap {
                w,
                x,
                rows,
                cols,
                map,
                z_lane,
                map_dst,
            } => {
                let (r, c) = (index(*rows), index(*cols));
                let (w, x) = (self.matrix(*w, *rows, *cols), self.vector(*x, *cols));
                let y = tensor_name(*map_dst);
                let (i, s) = (local("i"), local("s"));
                let (binds, lanes) = self.map_lanes(map, Some((*z_lane, quote!(#s))), &i);
                // (The epilogue runs once per row between dot products: a latency chain, so
                // libm's exp; see `Render::latency`.)
                let body = map.body.iter().map(|instr| self.instr(instr));
                let result = self.operand(map.result);
                quote! {
                    let mut #name: [#fty; #r] = [#zero; #r];
                    let mut #y: [#fty; #r] = [#zero; #r];
                    {
                        #(#binds)*
                        #kernels::matvec_map::<#fty, #r, #c>(#w, #x, &mut #name, &mut #y, |#i: usize, #s: #fty| {
                            let _ = #i;
                            #(#lanes)*
                            #(#body)*
                            #result
                        });
                    }
                }
            }
            Loop::MatVecT { w, d, rows, cols } => {
                let (r, c) = (index(*rows), index(*cols));
                let (w, d) = (self.matrix(*w, *rows, *cols), self.vector(*d, *rows));
                quote! {
                    let mut #name: [#fty; #c] = [#zero; #c];
                    #kernels::matvec_t::<#fty, #r, #c>(#w, #d, &mut #name);
                }
            }
            Loop::MatVecTWrite {
                offset,
                d,
                h,
                rows,
                cols,
                mode,
            } => {
                let (r, c, off) = (index(*rows), index(*cols), index(*offset));
                let (d, h) = (self.vector(*d, *rows), self.vector(*h, *cols));
                let call = match mode {
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
                quote! {
                    let mut #name: [#fty; #c] = [#zero; #c];
                    #call
                }
            }
            Loop::Outer { a, b, rows, cols } => {
                let (r, c, n) = (index(*rows), index(*cols), index(rows * cols));
                let (a, b) = (self.vector(*a, *rows), self.vector(*b, *cols));
                quote! {
                    let mut #name: [#fty; #n] = [#zero; #n];
                    #kernels::outer::<#fty, #r, #c>(#a, #b, #kernels::matrix_mut::<#fty, #r, #c>(&mut #name, 0));
                }
            }
            Loop::MatMul {
                a,
                b,
                ta,
                tb,
                m,
                k,
                p,
            } => {
                let n = index(m * p);
                let (a, b) = (self.slice(*a, m * k), self.slice(*b, k * p));
                let (m, k, p) = (index(*m), index(*k), index(*p));
                quote! {
                    let mut #name: [#fty; #n] = [#zero; #n];
                    #kernels::matmul::<#fty, #m, #k, #p>(#a, #b, #ta, #tb, &mut #name);
                }
            }
            Loop::Map(map) => {
                let n = index(map.len);
                let i = local("i");
                let (binds, lanes) = self.map_lanes(map, None, &i);
                let body = map.body.iter().map(|instr| self.loop_body().instr(instr));
                let result = self.operand(map.result);
                quote! {
                    let mut #name: [#fty; #n] = [#zero; #n];
                    {
                        #(#binds)*
                        for #i in 0..#n {
                            #(#lanes)*
                            #(#body)*
                            #name[#i] = #result;
                        }
                    }
                }
            }
            Loop::Sum(v, len) => {
                let n = index(*len);
                let v = self.vector(*v, *len);
                quote!(let #name: [#fty; 1] = [#kernels::sum::<#fty, #n>(#v)];)
            }
            Loop::Transpose(v, rows, cols) => {
                let (r, c, n) = (index(*rows), index(*cols), index(rows * cols));
                let v = self.slice(*v, rows * cols);
                quote! {
                    let mut #name: [#fty; #n] = [#zero; #n];
                    #kernels::transpose::<#fty, #r, #c>(#v, &mut #name);
                }
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
                    let s = self.operand(*s);
                    binds.push(quote!(let #lane: #fty = #s;));
                }
            }
        }
        (binds, lanes)
    }

    /// A parameter group's gradient write.
    pub fn group_write(self, write: &GroupWrite) -> TokenStream {
        let fty = self.float.ty();
        let kernels = quote!(::symnn::kernels);
        let (lr, grad) = (argument("lr"), argument("grad"));
        let (r, c, off) = (index(write.rows), index(write.cols), index(write.offset));
        let n = index(write.rows * write.cols);
        let len = write.rows * write.cols;
        match (write.value, write.mode) {
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
        }
    }
}

/// `__T<n>`
pub fn tensor_name(n: u32) -> syn::Ident {
    local(&format!("T{n}"))
}

/// `__l<j>`
pub fn lane_name(j: usize) -> syn::Ident {
    local(&format!("l{j}"))
}
