//! The two fusions a careful engineer makes by hand, as pure rewrites of a one-sample
//! method's instructions:
//! - a matrix–vector product followed by the map that consumes it (bias and
//!   activation) becomes one pass: the map is the product's per-row epilogue;
//! - a layer's backward product `Wᵀ·δ` and the write of its weight gradient `δ·hᵀ`
//!   (the SGD update, or the gradient accumulation) become one pass over `W`.

use super::ir::{Array, GroupValue, Instr, Loop, MapArg, Operand, Temp};
use crate::tensor::LeafKind;

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
