//! What each builtin, operator and loss means, as nodes: the scalar definitions, and the
//! stable forms of the losses (log-softmax with a stop-gradient max shift, the
//! `0·ln 0 = 0` convention of `bce`, `sparse_cross_entropy`'s guard).

use super::{Lowering, Tensor};
use crate::ast::BinOp;
use crate::builtins::{Builtin, Func};
use crate::graph::{Graph, Node, NodeId};
use crate::shape::Shape;

impl Lowering<'_> {
    /// A builtin applied to values of checked shapes; the result has `shape`.
    pub(super) fn builtin(&mut self, b: Builtin, mut v: Vec<Tensor>, shape: Shape) -> Tensor {
        let second = (v.len() > 1).then(|| v.remove(1));
        let x = v.remove(0);
        let y = second.unwrap_or_else(|| x.clone());
        // Two-argument builtins zip their arguments (a scalar broadcasts); reductions
        // and losses then reduce the zipped array to `shape`.
        let zipped = x.shape.broadcast(y.shape).unwrap_or(shape);
        let two = |this: &mut Self, f: fn(&mut Graph, NodeId, NodeId) -> NodeId| {
            this.zip(&x, &y, zipped, f)
        };
        match b {
            Builtin::Func(f) => self.map(x, |g, x| g.call(f, x)),
            Builtin::Sq => self.map(x, |g, x| g.mul(x, x)),
            Builtin::Identity => x,
            Builtin::LeakyRelu => two(self, |g, x, s| {
                let zero = g.constant(0.0);
                let sx = g.mul(s, x);
                g.insert(Node::IfGt(x, zero, x, sx))
            }),
            Builtin::Pow => two(self, |g, x, y| g.insert(Node::Pow(x, y))),
            Builtin::Max => two(self, |g, x, y| g.insert(Node::Max(x, y))),
            Builtin::Min => two(self, |g, x, y| g.insert(Node::Min(x, y))),
            Builtin::Sum => Tensor::scalar(self.graph.sum(x.elems)),
            Builtin::Mean => self.mean(x),
            Builtin::Dot => {
                let p = two(self, |g, x, y| reduction_term(g, Builtin::Dot, x, y));
                Tensor::scalar(self.graph.sum(p.elems))
            }
            Builtin::Softmax => {
                let (shifted, sum) = self.shifted_exp_sum(&x.elems);
                let exps: Vec<NodeId> = shifted
                    .iter()
                    .map(|&s| self.graph.call(Func::Exp, s))
                    .collect();
                let elems = exps.iter().map(|&e| self.graph.div(e, sum)).collect();
                Tensor {
                    shape: x.shape,
                    elems,
                }
            }
            Builtin::LogSoftmax => self.log_softmax(&x),
            Builtin::Transpose => Self::transpose(&x),
            Builtin::Mse => {
                let d = two(self, |g, y, t| reduction_term(g, Builtin::Mse, y, t));
                self.mean(d)
            }
            Builtin::Bce => {
                let terms = two(self, |g, p, t| reduction_term(g, Builtin::Bce, p, t));
                self.mean(terms)
            }
            Builtin::BceLogits => {
                let terms = two(self, |g, z, t| reduction_term(g, Builtin::BceLogits, z, t));
                self.mean(terms)
            }
            Builtin::CrossEntropy => {
                let ls = self.log_softmax(&x);
                let prods: Vec<NodeId> = ls
                    .elems
                    .iter()
                    .zip(&y.elems)
                    .map(|(&l, &t)| self.graph.mul(t, l))
                    .collect();
                let s = self.graph.sum(prods);
                Tensor::scalar(self.graph.neg(s))
            }
            Builtin::SparseCrossEntropy => {
                Tensor::scalar(self.sparse_cross_entropy(&x, y.elems[0]))
            }
            // Not builtins applied to values: the check stage resolves them to
            // `ExprKind::Dense`, `ExprKind::Powi`, `ExprKind::Diff` and
            // `ExprKind::Laplacian`.
            Builtin::Dense | Builtin::Powi | Builtin::Diff | Builtin::Laplacian => x,
        }
    }

    fn mean(&mut self, t: Tensor) -> Tensor {
        let n = t.elems.len() as f64;
        let s = self.graph.sum(t.elems);
        Tensor::scalar(self.graph.scale(1.0 / n, s))
    }

    /// `(z_i - m, sum_j exp(z_j - m))` with `m = max z`, behind a stop-gradient: the
    /// shift cancels mathematically, so its derivative is exactly zero and is skipped.
    fn shifted_exp_sum(&mut self, z: &[NodeId]) -> (Vec<NodeId>, NodeId) {
        let max = z
            .iter()
            .copied()
            .reduce(|a, b| self.graph.insert(Node::Max(a, b)));
        let Some(max) = max else {
            return (vec![], self.graph.constant(0.0));
        };
        let m = self.graph.insert(Node::StopGradient(max));
        let shifted: Vec<NodeId> = z.iter().map(|&x| self.graph.sub(x, m)).collect();
        let exps: Vec<NodeId> = shifted
            .iter()
            .map(|&s| self.graph.call(Func::Exp, s))
            .collect();
        let sum = self.graph.sum(exps);
        (shifted, sum)
    }

    fn log_softmax(&mut self, x: &Tensor) -> Tensor {
        let (shifted, sum) = self.shifted_exp_sum(&x.elems);
        let lse = self.graph.call(Func::Ln, sum);
        let elems = shifted.iter().map(|&s| self.graph.sub(s, lse)).collect();
        Tensor {
            shape: x.shape,
            elems,
        }
    }

    /// `sparse_cross_entropy(z, k) = ln Σ exp(z_j - m) - (z_k - m)`, the shift `m = max z`
    /// behind a stop-gradient as in [`Self::log_softmax`]; `z_k - m` is picked as
    /// `Σ [k == j] (z_j - m)`, so the gradient is the textbook `softmax(z)_j - [k == j]`
    /// and nothing flows into `k`: the same loss and gradient as
    /// `cross_entropy(z, onehot(k))`.
    ///
    /// If `k` is no index of `z` (out of range, not an integer, NaN), no indicator is 1,
    /// and a guard makes the *loss* NaN (the trainer stops on it) instead of a plausible
    /// value; the gradient is then `softmax(z)`. For a valid `k` the guard adds exactly 0.
    fn sparse_cross_entropy(&mut self, z: &Tensor, k: NodeId) -> NodeId {
        let (one, zero) = (self.graph.constant(1.0), self.graph.constant(0.0));
        let onehot: Vec<NodeId> = (0..z.elems.len())
            .map(|j| {
                let j = self.graph.constant(j as f64);
                self.graph.insert(Node::IfEq(k, j, one, zero))
            })
            .collect();
        let (shifted, sum) = self.shifted_exp_sum(&z.elems);
        let lse = self.graph.call(Func::Ln, sum);
        let picked: Vec<NodeId> = onehot
            .iter()
            .zip(&shifted)
            .map(|(&indicator, &s)| self.graph.mul(indicator, s))
            .collect();
        let picked = self.graph.sum(picked);
        let loss = self.graph.sub(lse, picked);
        let matched = self.graph.sum(onehot);
        let nan = self.graph.constant(f64::NAN);
        let guard = self.graph.insert(Node::IfEq(matched, one, zero, nan));
        self.graph.add(loss, guard)
    }
}

/// `a op b` for one element.
pub(super) fn binary(g: &mut Graph, op: BinOp, a: NodeId, b: NodeId) -> NodeId {
    match op {
        BinOp::Add => g.add(a, b),
        BinOp::Sub => g.sub(a, b),
        BinOp::Mul => g.mul(a, b),
        BinOp::Div => g.div(a, b),
    }
}

/// One element's term of a two-argument reduction: `x·y` (dot), `(y − t)²` (mse),
/// `−(t ln p + (1 − t) ln(1 − p))` (bce; the ln rules make it stable on sigmoids),
/// `softplus(z) − t·z` (bce_logits). Shared by the scalar and tensor paths.
pub(super) fn reduction_term(g: &mut Graph, b: Builtin, x: NodeId, y: NodeId) -> NodeId {
    match b {
        Builtin::Mse => {
            let d = g.sub(x, y);
            g.mul(d, d)
        }
        Builtin::Bce => {
            // With the convention 0·ln 0 = 0: a term whose weight (t or 1 - t) is 0 takes
            // the logarithm of 1 instead, so bce(0, 0) = bce(1, 1) = 0 with a finite
            // gradient (a select *inside* the ln: neither the value nor the derivative
            // `weight / p` then computes 0·∞ or 0/0). On a sigmoid the ln of the select
            // still becomes a softplus (`simplify::stable_logs`).
            //
            // A sigmoid `p` needs no select: `ln σ(z)` becomes `z − softplus(z)`, finite
            // for every finite z, so `0·ln σ` is 0 already, and the gradient stays the
            // textbook `σ(z) − t` (four selects fewer, and readable in `derivation()`).
            let (p, t) = (x, y);
            if matches!(g.node(p), Node::Call(Func::Sigmoid, _)) {
                let ln_p = g.call(Func::Ln, p);
                let q = g.rsub(1.0, p);
                let ln_q = g.call(Func::Ln, q);
                let u = g.rsub(1.0, t);
                let a = g.mul(t, ln_p);
                let b = g.mul(u, ln_q);
                let s = g.add(a, b);
                return g.neg(s);
            }
            let (zero, one) = (g.constant(0.0), g.constant(1.0));
            let p_or_one = g.insert(Node::IfEq(t, zero, one, p));
            let ln_p = g.call(Func::Ln, p_or_one);
            let q = g.rsub(1.0, p);
            let u = g.rsub(1.0, t);
            let q_or_one = g.insert(Node::IfEq(u, zero, one, q));
            let ln_q = g.call(Func::Ln, q_or_one);
            let a = g.mul(t, ln_p);
            let b = g.mul(u, ln_q);
            let s = g.add(a, b);
            g.neg(s)
        }
        Builtin::BceLogits => {
            let (z, t) = (x, y);
            let sp = g.call(Func::Softplus, z);
            let tz = g.mul(t, z);
            g.sub(sp, tz)
        }
        _ => g.mul(x, y),
    }
}
