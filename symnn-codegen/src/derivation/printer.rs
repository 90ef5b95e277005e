//! Expressions as text or LaTeX: one printer, two spellings.
//!
//! The structure of every formula (which sums are flattened, which like terms are
//! collected, where parentheses go, how a tensor operation reads) is decided here once;
//! [`Style`] only chooses how an atom, a product, a quotient or a call is spelt. So
//! `derivation()`, `derivation_latex()`, `graph_dot()` and the rustdoc formulas can
//! never disagree about what the derivative is.

use std::cell::RefCell;

use super::{latex, Name};
use crate::graph::{Func, Graph, Node, NodeId};
use crate::resolved::element_name;
use crate::shape::Shape;
use crate::tensor::{TensorNode, TensorOp};

/// How formulas are spelt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Plain text with the notebooks' notation: `2*w0 + x1*w13`, `W · x`, `δ1 ⊙ y`.
    Text,
    /// LaTeX math: `2 w_{0} + x_{1} w_{13}`, `W x`, `\delta_{1} \odot y`.
    Latex,
}

/// A flattened sum: `(term, coefficient)` in first-appearance order, plus a constant.
#[derive(Default)]
struct Terms {
    terms: Vec<(NodeId, f64)>,
    constant: f64,
}

impl Terms {
    fn add(&mut self, id: NodeId, coefficient: f64) {
        match self.terms.iter_mut().find(|(t, _)| *t == id) {
            Some((_, c)) => *c += coefficient,
            None => self.terms.push((id, coefficient)),
        }
    }
}

/// Prints nodes of `g` as formulas over the names given so far.
pub struct Printer<'a> {
    g: &'a Graph,
    style: Style,
    /// The name of each node, if it has one (indexed by node id).
    names: Vec<Option<Name>>,
    /// LaTeX: the symbol of the common subexpressions (`t`, or `\tau` when a user name
    /// is spelt `t...`).
    temp_symbol: &'static str,
    /// The argument texts of the map kernels being printed, innermost last.
    lanes: RefCell<Vec<Vec<(String, u8)>>>,
    /// The named nodes printed (by name) since the last [`Printer::take_refs`].
    refs: RefCell<Vec<NodeId>>,
    /// What each [`Node::Var`] stands for (a rolled loop's state, reads, seeds).
    vars: Vec<String>,
}

// Precedence levels: sums 1, products 2, unary minus 3, atoms 4.
impl<'a> Printer<'a> {
    /// Names the [`Node::Var`]s (a rolled loop's values).
    pub fn set_vars(&mut self, names: Vec<String>) {
        self.vars = names;
    }

    /// A printer with no names yet.
    pub fn new(g: &'a Graph, style: Style, temp_symbol: &'static str) -> Printer<'a> {
        Printer {
            g,
            style,
            names: vec![None; g.len()],
            temp_symbol,
            lanes: RefCell::new(Vec::new()),
            refs: RefCell::new(Vec::new()),
            vars: Vec::new(),
        }
    }

    /// Calls `id` by `name` from now on.
    pub fn set_name(&mut self, id: NodeId, name: Name) {
        self.names[id.index()] = Some(name);
    }

    /// Whether `id` has a name.
    pub fn is_named(&self, id: NodeId) -> bool {
        self.names[id.index()].is_some()
    }

    /// The named nodes printed by name since the last call, in order of appearance.
    pub fn take_refs(&self) -> Vec<NodeId> {
        std::mem::take(&mut *self.refs.borrow_mut())
    }

    /// `name` in this style.
    pub fn spell(&self, name: &Name) -> String {
        match (self.style, name) {
            (Style::Text, Name::User(s)) => s.clone(),
            (Style::Text, Name::Temp(n)) => format!("t{n}"),
            (Style::Text, Name::Delta(n)) => format!("δ{n}"),
            (_, Name::Loss) => String::from("L"),
            (Style::Latex, Name::User(s)) => latex::name(s),
            (Style::Latex, Name::Temp(n)) => format!("{}_{{{n}}}", self.temp_symbol),
            (Style::Latex, Name::Delta(n)) => format!("\\delta_{{{n}}}"),
        }
    }

    /// `text` in parentheses.
    fn paren(&self, text: &str) -> String {
        match self.style {
            Style::Text => format!("({text})"),
            Style::Latex => format!("\\left({text}\\right)"),
        }
    }

    /// A number.
    fn number(&self, v: f64) -> String {
        match self.style {
            Style::Text => format!("{v}"),
            Style::Latex => latex::number(v),
        }
    }

    /// `a*b`: in LaTeX juxtaposed, with a `\cdot` where juxtaposition would read as
    /// one number (`2 \cdot 3`) or as a subtraction.
    fn product(&self, a: &str, b: &str) -> String {
        match self.style {
            Style::Text => format!("{a}*{b}"),
            Style::Latex if b.starts_with(|c: char| c.is_ascii_digit() || c == '-') => {
                format!("{a} \\cdot {b}")
            }
            Style::Latex => format!("{a} {b}"),
        }
    }

    /// `id` as infix text; wrapped in parentheses if its precedence is below `min`.
    /// `define` prints the definition even if the node has a name.
    pub fn expr(&self, id: NodeId, min: u8, define: bool) -> String {
        if !define {
            if let Some(name) = &self.names[id.index()] {
                self.refs.borrow_mut().push(id);
                return self.spell(name);
            }
        }
        let (text, prec) = match self.g.tensor_node(id) {
            Some(t) => self.tensor(t),
            None => self.infix(self.g.node(id)),
        };
        if prec < min {
            self.paren(&text)
        } else {
            text
        }
    }

    /// Collects the terms of an (unnamed) sum: `a + (b - 2*a)` is `-a + b`.
    fn collect(&self, id: NodeId, sign: f64, top: bool, out: &mut Terms) {
        if !top && self.is_named(id) {
            return out.add(id, sign);
        }
        match self.g.node(id) {
            Node::Add(a, b) => {
                self.collect(a, sign, false, out);
                self.collect(b, sign, false, out);
            }
            Node::Sub(a, b) => {
                self.collect(a, sign, false, out);
                self.collect(b, -sign, false, out);
            }
            Node::Neg(a) => self.collect(a, -sign, false, out),
            Node::Const(bits) => out.constant += sign * f64::from_bits(bits),
            Node::Mul(a, b) => match (self.g.as_const(a), self.g.as_const(b)) {
                (Some(c), None) => self.collect(b, sign * c, false, out),
                (None, Some(c)) => self.collect(a, sign * c, false, out),
                _ => out.add(id, sign),
            },
            _ => out.add(id, sign),
        }
    }

    /// A sum with like terms collected, and a common factor pulled out:
    /// `t4 + (t3 + (2*t2 + t3) + t4)` prints as `2*(t2 + t3 + t4)`.
    fn sum(&self, node: Node) -> (String, u8) {
        let mut terms = Terms::default();
        for (child, sign) in node.children().zip([
            1.0,
            if matches!(node, Node::Sub(..)) {
                -1.0
            } else {
                1.0
            },
        ]) {
            self.collect(child, sign, false, &mut terms);
        }
        terms.terms.retain(|(_, c)| *c != 0.0);
        // Positive terms first: `f5 - y`, not `-y + f5`.
        terms.terms.sort_by_key(|&(id, c)| (c < 0.0, id));
        let common = terms.terms.first().map(|(_, c)| c.abs()).unwrap_or(1.0);
        let factor = if terms.terms.len() > 1
            && terms.constant == 0.0
            && common != 1.0
            && terms.terms.iter().all(|(_, c)| c.abs() == common)
        {
            common
        } else {
            1.0
        };
        let mut text = String::new();
        // A positive constant leads when every term is negative: `1 - f4`.
        let constant_first =
            terms.constant > 0.0 && factor == 1.0 && terms.terms.iter().all(|(_, c)| *c < 0.0);
        if constant_first {
            text = self.number(terms.constant);
            terms.constant = 0.0;
        }
        for (i, &(id, c)) in terms.terms.iter().enumerate() {
            let i = i + usize::from(constant_first);
            let c = c / factor;
            let magnitude = c.abs();
            let term = self.expr(id, 2, false);
            let body = if magnitude == 1.0 {
                term
            } else {
                self.product(&self.number(magnitude), &term)
            };
            match (i, c < 0.0) {
                (0, false) => text.push_str(&body),
                (0, true) => text.push_str(&format!("-{body}")),
                (_, false) => text.push_str(&format!(" + {body}")),
                (_, true) => text.push_str(&format!(" - {body}")),
            }
        }
        if terms.constant != 0.0 || text.is_empty() {
            let c = terms.constant;
            match (text.is_empty(), c < 0.0) {
                (true, _) => text = self.number(c),
                (false, false) => text.push_str(&format!(" + {}", self.number(c))),
                (false, true) => text.push_str(&format!(" - {}", self.number(-c))),
            }
        }
        if factor != 1.0 {
            let factored = match self.style {
                Style::Text => format!("{factor}*({text})"),
                Style::Latex => format!("{} {}", self.number(factor), self.paren(&text)),
            };
            (factored, 2)
        } else {
            (text, 1)
        }
    }

    /// A conditional `then if a op b else otherwise`; LaTeX writes the 1/0 case as
    /// an Iverson bracket `[a > b]`.
    fn conditional(&self, op: &str, [a, b, then, otherwise]: [NodeId; 4]) -> (String, u8) {
        let e = |id, min| self.expr(id, min, false);
        match self.style {
            Style::Text => (
                format!(
                    "({} if {} {op} {} else {})",
                    e(then, 0),
                    e(a, 1),
                    e(b, 1),
                    e(otherwise, 0)
                ),
                4,
            ),
            Style::Latex => {
                let op = match op {
                    ">=" => "\\geq",
                    "==" => "=",
                    op => op,
                };
                let condition = format!("{} {op} {}", e(a, 1), e(b, 1));
                if self.g.as_const(then) == Some(1.0) && self.g.as_const(otherwise) == Some(0.0) {
                    (format!("\\left[{condition}\\right]"), 4)
                } else {
                    (
                        format!(
                            "\\begin{{cases}} {} & {condition} \\\\ {} & \\text{{otherwise}} \\end{{cases}}",
                            e(then, 0),
                            e(otherwise, 0)
                        ),
                        4,
                    )
                }
            }
        }
    }

    /// A one-argument function applied to `a`.
    fn call(&self, f: Func, a: NodeId) -> String {
        let e = |min| self.expr(a, min, false);
        let wrapped = |name: &str| format!("{name}\\left({}\\right)", e(0));
        match self.style {
            Style::Text => format!("{}({})", f.name(), e(0)),
            Style::Latex => match f {
                Func::Exp => format!("e^{{{}}}", e(0)),
                Func::Sqrt => format!("\\sqrt{{{}}}", e(0)),
                Func::Abs => format!("\\left|{}\\right|", e(0)),
                Func::Ln => wrapped("\\ln"),
                Func::Sin => wrapped("\\sin"),
                Func::Cos => wrapped("\\cos"),
                Func::Tanh => wrapped("\\tanh"),
                Func::Sigmoid => wrapped("\\sigma"),
                Func::Relu => wrapped("\\operatorname{relu}"),
                Func::Softplus => wrapped("\\operatorname{softplus}"),
            },
        }
    }

    /// `base^exponent`; a LaTeX base that already carries a superscript, a fraction
    /// or a root gets parentheses.
    fn power(&self, a: NodeId, exponent: &str) -> String {
        let base = self.expr(a, 4, false);
        match self.style {
            Style::Text => format!("{base}^{exponent}"),
            Style::Latex => {
                let base = if latex::is_simple(&base) {
                    base
                } else {
                    self.paren(&base)
                };
                format!("{base}^{{{exponent}}}")
            }
        }
    }

    fn infix(&self, node: Node) -> (String, u8) {
        let e = |id, min| self.expr(id, min, false);
        let latex = self.style == Style::Latex;
        match node {
            Node::Const(bits) => {
                let v = f64::from_bits(bits);
                (self.number(v), if v < 0.0 { 3 } else { 4 })
            }
            Node::Input(k) if latex => (format!("\\mathrm{{input}}_{{{k}}}"), 4),
            Node::Target(k) if latex => (format!("\\mathrm{{target}}_{{{k}}}"), 4),
            Node::Param(k) if latex => (format!("\\mathrm{{params}}_{{{k}}}"), 4),
            Node::Input(k) => (format!("input[{k}]"), 4),
            Node::Target(k) => (format!("target[{k}]"), 4),
            Node::Param(k) => (format!("params[{k}]"), 4),
            Node::Var(k) => (
                self.vars
                    .get(k as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("var[{k}]")),
                4,
            ),
            Node::Neg(a) => (format!("-{}", e(a, 3)), 3),
            Node::Add(..) | Node::Sub(..) => self.sum(node),
            Node::Mul(a, b) => {
                let (a, b) = if self.g.as_const(b).is_some() {
                    (b, a)
                } else {
                    (a, b)
                };
                (self.product(&e(a, 2), &e(b, 3)), 2)
            }
            Node::Div(a, b) if latex => (format!("\\frac{{{}}}{{{}}}", e(a, 0), e(b, 0)), 4),
            Node::Div(a, b) => (format!("{}/{}", e(a, 2), e(b, 3)), 2),
            Node::Call(f, a) => (self.call(f, a), 4),
            Node::Powi(a, n) => (self.power(a, &n.to_string()), 4),
            Node::Pow(a, b) if latex => (self.power(a, &e(b, 0)), 4),
            Node::Pow(a, b) => (self.power(a, &e(b, 4)), 4),
            Node::Max(a, b) | Node::Min(a, b) => {
                let f = match (node, self.style) {
                    (Node::Max(..), Style::Text) => "max(",
                    (Node::Max(..), Style::Latex) => "\\max\\left(",
                    (_, Style::Text) => "min(",
                    (_, Style::Latex) => "\\min\\left(",
                };
                let close = if latex { "\\right)" } else { ")" };
                (format!("{f}{}, {}{close}", e(a, 0), e(b, 0)), 4)
            }
            Node::IfGt(a, b, t, f) => self.conditional(">", [a, b, t, f]),
            Node::IfGe(a, b, t, f) => self.conditional(">=", [a, b, t, f]),
            // The indicator of a one-hot target, in Iverson's notation.
            Node::IfEq(a, b, t, f)
                if !latex && self.g.as_const(t) == Some(1.0) && self.g.as_const(f) == Some(0.0) =>
            {
                (format!("[{} == {}]", e(a, 1), e(b, 1)), 4)
            }
            Node::IfEq(a, b, t, f) => self.conditional("==", [a, b, t, f]),
            Node::StopGradient(a) => (e(a, 4), 4),
            Node::Lane(j) => self
                .lanes
                .borrow()
                .last()
                .and_then(|lanes| lanes.get(j as usize).cloned())
                .unwrap_or_else(|| (format!("lane{j}"), 4)),
            Node::Elem(t, k) => {
                let shape = self.g.shape_of(t);
                let base = self.expr(t, 4, false);
                let text = match self.style {
                    Style::Text => element_name(&base, shape, k as usize),
                    Style::Latex => latex::element(&base, shape, k as usize),
                };
                (text, 4)
            }
            // Printed by `tensor` (reached through `expr`).
            Node::Tensor(_) => (String::from("?"), 4),
        }
    }

    /// `a` transposed.
    fn transposed(&self, a: NodeId) -> String {
        let text = self.expr(a, 4, false);
        match self.style {
            Style::Text => format!("{text}ᵀ"),
            Style::Latex if latex::is_simple(&text) => format!("{text}^{{\\top}}"),
            Style::Latex => format!("{{{text}}}^{{\\top}}"),
        }
    }

    /// A tensor operation as a matrix formula.
    fn tensor(&self, node: &TensorNode) -> (String, u8) {
        let e = |id, min| self.expr(id, min, false);
        let latex = self.style == Style::Latex;
        let t = |id, flag: bool| {
            if flag {
                self.transposed(id)
            } else {
                e(id, 2)
            }
        };
        match &node.op {
            TensorOp::Leaf { offset, .. } if latex => {
                (format!("\\mathrm{{group}}_{{{offset}}}"), 4)
            }
            TensorOp::Leaf { offset, .. } => (format!("group@{offset}"), 4),
            TensorOp::Pack(items) => {
                let items: Vec<String> = items.iter().map(|&i| e(i, 0)).collect();
                match (self.style, node.shape) {
                    (Style::Text, _) => (format!("[{}]", items.join(", ")), 4),
                    (Style::Latex, Shape::Matrix(_, c)) => {
                        let rows: Vec<String> =
                            items.chunks(c.max(1)).map(|row| row.join(" & ")).collect();
                        (
                            format!(
                                "\\begin{{bmatrix}} {} \\end{{bmatrix}}",
                                rows.join(" \\\\ ")
                            ),
                            4,
                        )
                    }
                    (Style::Latex, _) => (
                        format!(
                            "\\begin{{bmatrix}} {} \\end{{bmatrix}}^{{\\top}}",
                            items.join(" & ")
                        ),
                        4,
                    ),
                }
            }
            TensorOp::MatMul { a, b, ta, tb } => {
                let (a, b) = (t(*a, *ta), t(*b, *tb));
                match self.style {
                    Style::Text => (format!("{a} · {b}"), 2),
                    Style::Latex => (format!("{a} {b}"), 2),
                }
            }
            TensorOp::Map { kernel, args } => {
                let texts = args
                    .iter()
                    .map(|&a| {
                        let text = e(a, 0);
                        let (_, prec) = match self.g.tensor_node(a) {
                            Some(_) if self.is_named(a) => (String::new(), 4),
                            Some(t) => self.tensor(t),
                            None if self.is_named(a) => (String::new(), 4),
                            None => self.infix(self.g.node(a)),
                        };
                        (text, prec)
                    })
                    .collect();
                // (The second printing of an argument above only measures its
                // precedence; the names it reads were recorded by the first.)
                self.lanes.borrow_mut().push(texts);
                let text = self.kernel(*kernel);
                self.lanes.borrow_mut().pop();
                text
            }
            TensorOp::Sum(a) if latex => (
                format!("\\operatorname{{sum}}\\left({}\\right)", e(*a, 0)),
                4,
            ),
            TensorOp::Sum(a) => (format!("sum({})", e(*a, 0)), 4),
            TensorOp::Transpose(a) => (self.transposed(*a), 4),
        }
    }

    /// A map's kernel: its scalar formula over the arguments, `⊙` for a product of
    /// two non-constant factors.
    fn kernel(&self, kernel: NodeId) -> (String, u8) {
        match self.g.node(kernel) {
            Node::Mul(a, b) if self.g.as_const(a).is_none() && self.g.as_const(b).is_none() => {
                let (a, b) = (self.kernel_operand(a, 2), self.kernel_operand(b, 3));
                let odot = match self.style {
                    Style::Text => "⊙",
                    Style::Latex => "\\odot",
                };
                (format!("{a} {odot} {b}"), 2)
            }
            node => self.infix(node),
        }
    }

    fn kernel_operand(&self, id: NodeId, min: u8) -> String {
        let (text, prec) = self.kernel(id);
        if prec < min {
            self.paren(&text)
        } else {
            text
        }
    }
}
