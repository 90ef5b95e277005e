//! Rewrite rules, applied to every node as it is created ([`Graph::insert`]).
//!
//! [`Graph::insert`] and the constructors built on it (`add`, `mul`, `call`, ...) are
//! defined here, over the bare arena of [`crate::graph`], so every operation entering
//! a graph goes through the rules.
//!
//! Each rule is a small pure function from a candidate node to `Some(replacement)` or
//! `None`; [`rewrite`] tries them in order. A rule may build new nodes through the
//! graph's constructors, which are themselves simplified, so rules compose. Every rule
//! strictly shrinks or canonicalises the expression, so this terminates.
//!
//! Besides the algebraic identities, three rules are about numerics, not speed:
//! `ln(sigmoid(z)) = -softplus(-z)` and `ln(1 - sigmoid(z)) = -softplus(z)` (so a
//! hand-written cross-entropy on a sigmoid stays finite for large |z|), and
//! `softplus(-z) = softplus(z) - z` (so both branches of a BCE share one softplus).

use crate::graph::{canonicalize, Func, Graph, LeafKind, Node, NodeId, TensorOp};

type Rule = fn(&mut Graph, Node) -> Option<NodeId>;

const RULES: &[Rule] = &[
    fold_constants,
    additive_identities,
    multiplicative_identities,
    negation,
    powers,
    stable_logs,
    sigmoid_forms,
    selects,
    elements,
];

/// The simplified replacement of `node`, or `None` if no rule applies (then `node`
/// itself is stored).
pub fn rewrite(g: &mut Graph, node: Node) -> Option<NodeId> {
    RULES.iter().find_map(|rule| rule(g, node))
}

impl Graph {
    /// Adds a node (or finds the identical one), simplifying it first.
    pub fn insert(&mut self, node: Node) -> NodeId {
        let node = canonicalize(node);
        match rewrite(self, node) {
            Some(id) => id,
            None => self.intern(node),
        }
    }

    // Constructors, one per operation, so building code reads like the math.

    /// `-a`
    pub fn neg(&mut self, a: NodeId) -> NodeId {
        self.insert(Node::Neg(a))
    }
    /// `a + b`
    pub fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.insert(Node::Add(a, b))
    }
    /// `a - b`
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.insert(Node::Sub(a, b))
    }
    /// `a * b`
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.insert(Node::Mul(a, b))
    }
    /// `a / b`
    pub fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.insert(Node::Div(a, b))
    }
    /// `f(a)`
    pub fn call(&mut self, f: Func, a: NodeId) -> NodeId {
        self.insert(Node::Call(f, a))
    }
    /// `c * a` for a constant `c`.
    pub fn scale(&mut self, c: f64, a: NodeId) -> NodeId {
        let c = self.constant(c);
        self.mul(c, a)
    }
    /// `c - a` for a constant `c`.
    pub fn rsub(&mut self, c: f64, a: NodeId) -> NodeId {
        let c = self.constant(c);
        self.sub(c, a)
    }
    /// The sum of `items` (0 for none), as a left-leaning chain.
    pub fn sum(&mut self, items: impl IntoIterator<Item = NodeId>) -> NodeId {
        let mut items = items.into_iter();
        let Some(first) = items.next() else {
            return self.constant(0.0);
        };
        items.fold(first, |acc, x| self.add(acc, x))
    }
}

fn is_const(g: &Graph, id: NodeId, value: f64) -> bool {
    g.as_const(id) == Some(value)
}

/// Any node whose operands are all constants becomes a constant.
fn fold_constants(g: &mut Graph, node: Node) -> Option<NodeId> {
    if node.is_leaf() {
        return None;
    }
    let args: Vec<f64> = node
        .children()
        .map(|c| g.as_const(c))
        .collect::<Option<_>>()?;
    Some(g.constant(node.eval(&args)))
}

/// `x + 0`, `0 + x`, `x - 0`, `0 - x`, `x - x`, `x + x`, `x + (-y)`, `(-x) + y`,
/// `x - (-y)`, and the cancellations `a + (c - a)`, `(x + y) - x`, `x - (x - y)`.
fn additive_identities(g: &mut Graph, node: Node) -> Option<NodeId> {
    match node {
        Node::Add(a, b) if is_const(g, a, 0.0) => Some(b),
        Node::Add(a, b) if is_const(g, b, 0.0) => Some(a),
        Node::Add(a, b) if a == b => Some(g.scale(2.0, a)),
        Node::Add(a, b) => match (g.node(a), g.node(b)) {
            (_, Node::Neg(y)) => Some(g.sub(a, y)),
            (Node::Neg(x), _) => Some(g.sub(b, x)),
            // a + (c - a) = c, as in t + (1 - t) of a cross-entropy derivative.
            (_, Node::Sub(c, x)) if x == a => Some(c),
            (Node::Sub(c, x), _) if x == b => Some(c),
            _ => None,
        },
        Node::Sub(a, b) if is_const(g, b, 0.0) => Some(a),
        Node::Sub(a, b) if is_const(g, a, 0.0) => Some(g.neg(b)),
        Node::Sub(a, b) if a == b => Some(g.constant(0.0)),
        Node::Sub(a, b) => match (g.node(a), g.node(b)) {
            (_, Node::Neg(y)) => Some(g.add(a, y)),
            // (x + y) - x = y, (x + y) - y = x, x - (x - y) = y.
            (Node::Add(x, y), _) if x == b => Some(y),
            (Node::Add(x, y), _) if y == b => Some(x),
            (_, Node::Sub(x, y)) if x == a => Some(y),
            (Node::Neg(x), _) => {
                let sum = g.add(x, b);
                Some(g.neg(sum))
            }
            _ => None,
        },
        _ => None,
    }
}

/// `x * 1`, `x * 0`, `x * -1`, `x / 1`, `0 / x`, `c1 * (c2 * x)`.
///
/// `x * 0 = 0` is applied unconditionally (as SymPy does): it is what makes zero
/// adjoints vanish, and a parameter whose derivative is structurally zero should get
/// exactly zero, not NaN from a non-finite factor.
fn multiplicative_identities(g: &mut Graph, node: Node) -> Option<NodeId> {
    match node {
        Node::Mul(a, b) => {
            for (x, y) in [(a, b), (b, a)] {
                match g.as_const(x) {
                    Some(1.0) => return Some(y),
                    Some(0.0) => return Some(x),
                    Some(-1.0) => return Some(g.neg(y)),
                    Some(c1) => {
                        if let Node::Mul(p, q) = g.node(y) {
                            for (inner_c, rest) in [(p, q), (q, p)] {
                                if let Some(c2) = g.as_const(inner_c) {
                                    return Some(g.scale(c1 * c2, rest));
                                }
                            }
                        }
                    }
                    None => {}
                }
            }
            None
        }
        Node::Div(a, b) if is_const(g, b, 1.0) => Some(a),
        Node::Div(a, _) if is_const(g, a, 0.0) => Some(a),
        Node::Div(a, b) if is_const(g, b, -1.0) => Some(g.neg(a)),
        _ => None,
    }
}

/// `-(-x) = x`, and negations move outwards through `*` and `/` so that they meet
/// `+`/`-` and disappear into a subtraction.
fn negation(g: &mut Graph, node: Node) -> Option<NodeId> {
    match node {
        Node::Neg(a) => match g.node(a) {
            Node::Neg(x) => Some(x),
            Node::Sub(x, y) => Some(g.sub(y, x)),
            _ => None,
        },
        Node::Mul(a, b) | Node::Div(a, b) => {
            let is_mul = matches!(node, Node::Mul(..));
            let (na, nb) = (g.node(a), g.node(b));
            let (x, y, negated) = match (na, nb) {
                (Node::Neg(x), Node::Neg(y)) => (x, y, false),
                (Node::Neg(x), _) => (x, b, true),
                (_, Node::Neg(y)) => (a, y, true),
                _ => return None,
            };
            let inner = if is_mul { g.mul(x, y) } else { g.div(x, y) };
            Some(if negated { g.neg(inner) } else { inner })
        }
        _ => None,
    }
}

/// `x^0 = 1`, `x^1 = x`, `x^2 = x*x`, `x^-1 = 1/x`, `pow(x, integer constant) = powi`.
fn powers(g: &mut Graph, node: Node) -> Option<NodeId> {
    match node {
        Node::Powi(_, 0) => Some(g.constant(1.0)),
        Node::Powi(x, 1) => Some(x),
        Node::Powi(x, 2) => Some(g.mul(x, x)),
        Node::Powi(x, -1) => {
            let one = g.constant(1.0);
            Some(g.div(one, x))
        }
        Node::Pow(x, y) => {
            let c = g.as_const(y)?;
            if c.fract() == 0.0 && c.abs() <= 64.0 {
                Some(g.insert(Node::Powi(x, c as i32)))
            } else if c == 0.5 {
                Some(g.call(Func::Sqrt, x))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `ln(exp(x)) = x`, `ln(exp(x) / s) = x - ln(s)`, `ln(sigmoid(z)) = -softplus(-z)`,
/// `ln(1 - sigmoid(z)) = -softplus(z)`,
/// `softplus(-z) = softplus(z) - z`, and `ln(if c { k } else { v })` =
/// `if c { ln k } else { ln v }` for a constant `k` when `ln v` is one of the rewrites
/// above (`bce`'s `ln(if t == 0 { 1 } else { σ(z) })`, see `lower/builtins.rs`: `reduction_term`).
fn stable_logs(g: &mut Graph, node: Node) -> Option<NodeId> {
    match node {
        Node::Call(Func::Ln, a) => match g.node(a) {
            Node::Call(Func::Exp, x) => Some(x),
            Node::IfGt(p, q, k, v) | Node::IfGe(p, q, k, v) | Node::IfEq(p, q, k, v)
                if g.as_const(k).is_some() && has_stable_log(g, v) =>
            {
                let (ln_k, ln_v) = (g.call(Func::Ln, k), g.call(Func::Ln, v));
                Some(g.insert(match g.node(a) {
                    Node::IfGt(..) => Node::IfGt(p, q, ln_k, ln_v),
                    Node::IfGe(..) => Node::IfGe(p, q, ln_k, ln_v),
                    _ => Node::IfEq(p, q, ln_k, ln_v),
                }))
            }
            // ln(e^x / s) = x - ln(s): `ln(softmax(z))` becomes log-softmax, finite even
            // where a softmax entry underflows to 0.
            Node::Div(e, s) if matches!(g.node(e), Node::Call(Func::Exp, _)) => {
                let x = arg_of_exp(g, e)?;
                let ln_s = g.call(Func::Ln, s);
                Some(g.sub(x, ln_s))
            }
            Node::Call(Func::Sigmoid, z) => {
                let nz = g.neg(z);
                let sp = g.call(Func::Softplus, nz);
                Some(g.neg(sp))
            }
            Node::Sub(one, s) if is_const(g, one, 1.0) => match g.node(s) {
                Node::Call(Func::Sigmoid, z) => {
                    let sp = g.call(Func::Softplus, z);
                    Some(g.neg(sp))
                }
                _ => None,
            },
            _ => None,
        },
        Node::Call(Func::Softplus, a) => match g.node(a) {
            Node::Neg(z) => {
                let sp = g.call(Func::Softplus, z);
                Some(g.sub(sp, z))
            }
            _ => None,
        },
        _ => None,
    }
}

/// A sigmoid written out, `1 / (1 + exp(-z))` or `exp(z) / (1 + exp(z))`, is the sigmoid (so it gets the stable
/// logs and the σ(1−σ) derivative), likewise a tanh written with `exp`, and
/// `sigmoid(-z) = 1 - sigmoid(z)`.
fn sigmoid_forms(g: &mut Graph, node: Node) -> Option<NodeId> {
    match node {
        Node::Div(one, denom) if is_const(g, one, 1.0) => {
            let Node::Add(p, q) = g.node(denom) else {
                return None;
            };
            let e = if is_const(g, p, 1.0) {
                q
            } else if is_const(g, q, 1.0) {
                p
            } else {
                return None;
            };
            match g.node(e) {
                Node::Call(Func::Exp, m) => match g.node(m) {
                    Node::Neg(z) => Some(g.call(Func::Sigmoid, z)),
                    _ => None,
                },
                _ => None,
            }
        }
        // (e^z - e^-z) / (e^z + e^-z) = tanh(z): finite for large z, where the written
        // form is inf/inf.
        // e^z / (1 + e^z) = sigmoid(z).
        Node::Div(num, den)
            if matches!(g.node(num), Node::Call(Func::Exp, _))
                && matches!(g.node(den), Node::Add(p, q) if (p == num && is_const(g, q, 1.0)) || (q == num && is_const(g, p, 1.0))) =>
        {
            arg_of_exp(g, num).map(|z| g.call(Func::Sigmoid, z))
        }
        Node::Div(num, den) => {
            let (Node::Sub(a, b), Node::Add(c, d)) = (g.node(num), g.node(den)) else {
                return None;
            };
            let z = arg_of_exp(g, a)?;
            if g.node(arg_of_exp(g, b)?) != Node::Neg(z) {
                return None;
            }
            // The sum's operands are sorted: the same two exp nodes in either order.
            ((c, d) == (a, b) || (c, d) == (b, a)).then(|| g.call(Func::Tanh, z))
        }
        Node::Call(Func::Sigmoid, a) => match g.node(a) {
            Node::Neg(z) => {
                let s = g.call(Func::Sigmoid, z);
                Some(g.rsub(1.0, s))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Whether `ln(v)` is rewritten by [`stable_logs`]: `v` an exponential, a sigmoid or
/// one minus a sigmoid.
fn has_stable_log(g: &Graph, v: NodeId) -> bool {
    match g.node(v) {
        Node::Call(Func::Exp | Func::Sigmoid, _) => true,
        Node::Sub(one, s) => {
            is_const(g, one, 1.0) && matches!(g.node(s), Node::Call(Func::Sigmoid, _))
        }
        _ => false,
    }
}

fn arg_of_exp(g: &Graph, id: NodeId) -> Option<NodeId> {
    match g.node(id) {
        Node::Call(Func::Exp, z) => Some(z),
        _ => None,
    }
}

/// `if c { x } else { x } = x`, a select on a comparison of two constants,
/// `max(x, x) = x`, `min(x, x) = x`, `relu(relu(x))`, `|-x|`.
fn selects(g: &mut Graph, node: Node) -> Option<NodeId> {
    match node {
        Node::IfGt(_, _, t, e) | Node::IfGe(_, _, t, e) | Node::IfEq(_, _, t, e) if t == e => {
            Some(t)
        }
        Node::IfGt(p, q, t, e) | Node::IfGe(p, q, t, e) | Node::IfEq(p, q, t, e)
            if g.as_const(p).is_some() && g.as_const(q).is_some() =>
        {
            // (The comparison as the emitted code makes it: NaN compares false.)
            let (a, b) = (g.as_const(p)?, g.as_const(q)?);
            let holds = match node {
                Node::IfGt(..) => a > b,
                Node::IfGe(..) => a >= b,
                _ => a == b,
            };
            Some(if holds { t } else { e })
        }
        Node::Max(a, b) | Node::Min(a, b) if a == b => Some(a),
        Node::Call(Func::Relu, a) if matches!(g.node(a), Node::Call(Func::Relu, _)) => Some(a),
        Node::Call(Func::Abs, a) => match g.node(a) {
            Node::Neg(x) => Some(g.call(Func::Abs, x)),
            _ => None,
        },
        Node::StopGradient(a)
            if g.node(a).is_leaf() || matches!(g.node(a), Node::StopGradient(_)) =>
        {
            Some(a)
        }
        _ => None,
    }
}

/// An element of a packed tensor is the packed scalar; an element of a declared
/// group read as a tensor is the group's scalar leaf.
fn elements(g: &mut Graph, node: Node) -> Option<NodeId> {
    let Node::Elem(t, k) = node else { return None };
    match &g.tensor_node(t)?.op {
        TensorOp::Pack(items) => Some(items[k as usize]),
        &TensorOp::Leaf { kind, offset } => {
            let k = offset + k;
            Some(g.insert(match kind {
                LeafKind::Input => Node::Input(k),
                LeafKind::Target => Node::Target(k),
                LeafKind::Param => Node::Param(k),
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds `x` (input 0), `y` (input 1), `z` (param 0), then `$build` through the
    /// simplifying constructors, and checks that the result is exactly the node
    /// `$expect`. The expectation is written with `Graph::insert_raw` (operands
    /// canonicalised, no rewriting) and plain constants, never with the simplifying
    /// constructors, so a rule that rewrote both sides the same way cannot pass
    /// vacuously: a node the rules did not produce gets a fresh id and fails.
    macro_rules! simplifies {
        (|$g:ident, $x:ident, $y:ident, $z:ident| $build:expr => $expect:expr) => {{
            let mut $g = Graph::new();
            let $x = $g.insert(Node::Input(0));
            let $y = $g.insert(Node::Input(1));
            let $z = $g.insert(Node::Param(0));
            let _ = ($x, $y, $z);
            let built = $build;
            let expected = $expect;
            assert_eq!(
                built,
                expected,
                "{:?} vs {:?}",
                $g.node(built),
                $g.node(expected)
            );
        }};
    }

    #[test]
    fn identities() {
        simplifies!(|g, x, y, z| { let c = g.constant(0.0); g.add(x, c) } => x);
        simplifies!(|g, x, y, z| { let c = g.constant(1.0); g.mul(c, x) } => x);
        simplifies!(|g, x, y, z| { let c = g.constant(0.0); g.mul(x, c) } => g.constant(0.0));
        simplifies!(|g, x, y, z| { let n = g.neg(x); g.neg(n) } => x);
        simplifies!(|g, x, y, z| g.sub(x, x) => g.constant(0.0));
        // Commutative operands are sorted by id: y * x is stored as x * y.
        simplifies!(|g, x, y, z| g.mul(y, x) => g.insert_raw(Node::Mul(x, y)));
        simplifies!(|g, x, y, z| g.add(x, x) => { let two = g.constant(2.0); g.insert_raw(Node::Mul(two, x)) });
        simplifies!(|g, x, y, z| { let n = g.neg(y); g.add(x, n) } => g.insert_raw(Node::Sub(x, y)));
        simplifies!(|g, x, y, z| { let a = g.constant(2.0); let b = g.constant(3.0); g.mul(a, b) } => g.constant(6.0));
        simplifies!(|g, x, y, z| { let a = g.scale(3.0, x); g.scale(2.0, a) }
            => { let six = g.constant(6.0); g.insert_raw(Node::Mul(six, x)) });
        simplifies!(|g, x, y, z| g.insert(Node::Powi(x, 2)) => g.insert_raw(Node::Mul(x, x)));
        simplifies!(|g, x, y, z| { let d = g.rsub(1.0, x); g.add(x, d) } => g.constant(1.0));
        simplifies!(|g, x, y, z| { let s = g.add(x, y); g.sub(s, x) } => y);
        simplifies!(|g, x, y, z| { let d = g.sub(x, y); g.sub(x, d) } => y);
    }

    #[test]
    fn negations_move_out() {
        simplifies!(|g, x, y, z| { let n = g.neg(x); g.mul(n, y) }
            => { let m = g.insert_raw(Node::Mul(x, y)); g.insert_raw(Node::Neg(m)) });
        simplifies!(|g, x, y, z| { let a = g.neg(x); let b = g.neg(y); g.div(a, b) } => g.insert_raw(Node::Div(x, y)));
        simplifies!(|g, x, y, z| { let d = g.sub(x, y); g.neg(d) } => g.insert_raw(Node::Sub(y, x)));
    }

    #[test]
    fn stable_log_rewrites() {
        // ln(sigmoid(x)) = -softplus(-x) = -(softplus(x) - x), stored as x - softplus(x).
        simplifies!(|g, x, y, z| { let s = g.call(Func::Sigmoid, x); g.call(Func::Ln, s) }
            => { let sp = g.insert_raw(Node::Call(Func::Softplus, x)); g.insert_raw(Node::Sub(x, sp)) });
        simplifies!(|g, x, y, z| { let s = g.call(Func::Sigmoid, x); let r = g.rsub(1.0, s); g.call(Func::Ln, r) }
            => { let sp = g.insert_raw(Node::Call(Func::Softplus, x)); g.insert_raw(Node::Neg(sp)) });
        simplifies!(|g, x, y, z| { let e = g.call(Func::Exp, x); g.call(Func::Ln, e) } => x);
    }

    #[test]
    fn sigmoid_as_exp_ratio_is_recognised() {
        simplifies!(|g, x, y, z| {
            let e = g.call(Func::Exp, x);
            let one = g.constant(1.0);
            let d = g.add(one, e);
            g.div(e, d)
        } => g.insert_raw(Node::Call(Func::Sigmoid, x)));
    }

    #[test]
    fn written_out_tanh_is_recognised() {
        simplifies!(|g, x, y, z| {
            let e = g.call(Func::Exp, x);
            let n = g.neg(x);
            let m = g.call(Func::Exp, n);
            let num = g.sub(e, m);
            let den = g.add(e, m);
            g.div(num, den)
        } => g.insert_raw(Node::Call(Func::Tanh, x)));
    }

    #[test]
    fn written_out_sigmoid_is_recognised() {
        simplifies!(|g, x, y, z| {
            let n = g.neg(x);
            let e = g.call(Func::Exp, n);
            let one = g.constant(1.0);
            let d = g.add(one, e);
            let one = g.constant(1.0);
            g.div(one, d)
        } => g.insert_raw(Node::Call(Func::Sigmoid, x)));
    }

    /// The rules the cases above do not reach, one exact result each.
    #[test]
    fn every_other_rule() {
        // Constant folding.
        simplifies!(|g, x, y, z| { let c = g.constant(0.0); g.call(Func::Exp, c) } => g.constant(1.0));
        simplifies!(|g, x, y, z| { let c = g.constant(4.0); g.call(Func::Sqrt, c) } => g.constant(2.0));
        // Additive identities.
        simplifies!(|g, x, y, z| { let c = g.constant(0.0); g.add(c, x) } => x);
        simplifies!(|g, x, y, z| { let c = g.constant(0.0); g.sub(x, c) } => x);
        simplifies!(|g, x, y, z| { let c = g.constant(0.0); g.sub(c, x) } => g.insert_raw(Node::Neg(x)));
        simplifies!(|g, x, y, z| { let n = g.neg(x); g.add(n, y) } => g.insert_raw(Node::Sub(y, x)));
        simplifies!(|g, x, y, z| { let d = g.sub(y, x); g.add(x, d) } => y);
        simplifies!(|g, x, y, z| { let s = g.add(x, y); g.sub(s, y) } => x);
        simplifies!(|g, x, y, z| { let n = g.neg(y); g.sub(x, n) } => g.insert_raw(Node::Add(x, y)));
        simplifies!(|g, x, y, z| { let n = g.neg(x); g.sub(n, y) }
            => { let s = g.insert_raw(Node::Add(x, y)); g.insert_raw(Node::Neg(s)) });
        // Multiplicative identities.
        simplifies!(|g, x, y, z| { let c = g.constant(-1.0); g.mul(x, c) } => g.insert_raw(Node::Neg(x)));
        simplifies!(|g, x, y, z| { let c = g.constant(1.0); g.div(x, c) } => x);
        simplifies!(|g, x, y, z| { let c = g.constant(0.0); g.div(c, x) } => g.constant(0.0));
        simplifies!(|g, x, y, z| { let c = g.constant(-1.0); g.div(x, c) } => g.insert_raw(Node::Neg(x)));
        // Negations through * and /.
        simplifies!(|g, x, y, z| { let n = g.neg(y); g.mul(x, n) }
            => { let m = g.insert_raw(Node::Mul(x, y)); g.insert_raw(Node::Neg(m)) });
        simplifies!(|g, x, y, z| { let n = g.neg(x); g.div(n, y) }
            => { let d = g.insert_raw(Node::Div(x, y)); g.insert_raw(Node::Neg(d)) });
        // Powers.
        simplifies!(|g, x, y, z| g.insert(Node::Powi(x, 0)) => g.constant(1.0));
        simplifies!(|g, x, y, z| g.insert(Node::Powi(x, 1)) => x);
        simplifies!(|g, x, y, z| g.insert(Node::Powi(x, -1))
            => { let one = g.constant(1.0); g.insert_raw(Node::Div(one, x)) });
        simplifies!(|g, x, y, z| { let c = g.constant(3.0); g.insert(Node::Pow(x, c)) } => g.insert_raw(Node::Powi(x, 3)));
        simplifies!(|g, x, y, z| { let c = g.constant(2.0); g.insert(Node::Pow(x, c)) } => g.insert_raw(Node::Mul(x, x)));
        simplifies!(|g, x, y, z| { let c = g.constant(0.5); g.insert(Node::Pow(x, c)) } => g.insert_raw(Node::Call(Func::Sqrt, x)));
        simplifies!(|g, x, y, z| { let c = g.constant(1.5); g.insert(Node::Pow(x, c)) }
            => { let c = g.constant(1.5); g.insert_raw(Node::Pow(x, c)) });
        simplifies!(|g, x, y, z| { let c = g.constant(100.0); g.insert(Node::Pow(x, c)) }
            => { let c = g.constant(100.0); g.insert_raw(Node::Pow(x, c)) });
        // Stable logs.
        simplifies!(|g, x, y, z| { let e = g.call(Func::Exp, x); let d = g.div(e, y); g.call(Func::Ln, d) }
            => { let l = g.insert_raw(Node::Call(Func::Ln, y)); g.insert_raw(Node::Sub(x, l)) });
        simplifies!(|g, x, y, z| { let n = g.neg(x); g.call(Func::Softplus, n) }
            => { let sp = g.insert_raw(Node::Call(Func::Softplus, x)); g.insert_raw(Node::Sub(sp, x)) });
        // sigmoid(-x) = 1 - sigmoid(x).
        simplifies!(|g, x, y, z| { let n = g.neg(x); g.call(Func::Sigmoid, n) }
            => { let one = g.constant(1.0); let s = g.insert_raw(Node::Call(Func::Sigmoid, x)); g.insert_raw(Node::Sub(one, s)) });
        // Selects.
        simplifies!(|g, x, y, z| g.insert(Node::IfGt(x, y, z, z)) => z);
        simplifies!(|g, x, y, z| g.insert(Node::IfGe(x, y, z, z)) => z);
        simplifies!(|g, x, y, z| g.insert(Node::IfEq(x, y, z, z)) => z);
        simplifies!(|g, x, y, z| g.insert(Node::Max(x, x)) => x);
        simplifies!(|g, x, y, z| g.insert(Node::Min(x, x)) => x);
        simplifies!(|g, x, y, z| { let r = g.call(Func::Relu, x); g.call(Func::Relu, r) } => g.insert_raw(Node::Call(Func::Relu, x)));
        simplifies!(|g, x, y, z| { let n = g.neg(x); g.call(Func::Abs, n) } => g.insert_raw(Node::Call(Func::Abs, x)));
        simplifies!(|g, x, y, z| g.insert(Node::StopGradient(x)) => x);
        simplifies!(|g, x, y, z| { let s = g.call(Func::Sin, x); let a = g.insert(Node::StopGradient(s)); g.insert(Node::StopGradient(a)) }
            => { let s = g.insert_raw(Node::Call(Func::Sin, x)); g.insert_raw(Node::StopGradient(s)) });
        // A select on two constants is decided (NaN compares false).
        simplifies!(|g, x, y, z| { let a = g.constant(1.0); let b = g.constant(0.0); g.insert(Node::IfEq(a, b, y, z)) } => z);
        simplifies!(|g, x, y, z| { let a = g.constant(1.0); let b = g.constant(0.0); g.insert(Node::IfGt(a, b, y, z)) } => y);
        simplifies!(|g, x, y, z| { let a = g.constant(f64::NAN); let b = g.constant(0.0); g.insert(Node::IfGe(a, b, y, z)) } => z);
        // ln of a select between a constant and a sigmoid: the ln moves into the branches
        // (bce's `ln(if t == 0 { 1 } else { σ(y) })`).
        simplifies!(|g, x, y, z| {
            let (zero, one) = (g.constant(0.0), g.constant(1.0));
            let s = g.call(Func::Sigmoid, y);
            let sel = g.insert(Node::IfEq(x, zero, one, s));
            g.call(Func::Ln, sel)
        } => {
            let zero = g.constant(0.0);
            let sp = g.insert_raw(Node::Call(Func::Softplus, y));
            let ln_s = g.insert_raw(Node::Sub(y, sp));
            g.insert_raw(Node::IfEq(x, zero, zero, ln_s))
        });
        // ... but not for a plain value (its derivative would divide by it).
        simplifies!(|g, x, y, z| {
            let (zero, one) = (g.constant(0.0), g.constant(1.0));
            let sel = g.insert(Node::IfEq(x, zero, one, y));
            g.call(Func::Ln, sel)
        } => {
            let (zero, one) = (g.constant(0.0), g.constant(1.0));
            let sel = g.insert_raw(Node::IfEq(x, zero, one, y));
            g.insert_raw(Node::Call(Func::Ln, sel))
        });
        // Nothing to rewrite: stored as given.
        simplifies!(|g, x, y, z| g.sub(x, y) => g.insert_raw(Node::Sub(x, y)));
        simplifies!(|g, x, y, z| g.insert(Node::Max(y, x)) => g.insert_raw(Node::Max(y, x)));
    }
}
