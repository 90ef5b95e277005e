//! The human-readable derivation returned by the generated `derivation()`: what the
//! SymPy notebooks print, with the user's names — forward definitions, the loss, the
//! common subexpressions as `t0 = ...`, and one `dL/d<name> = ...` per parameter.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write;

use crate::graph::{Graph, Node, NodeId};
use crate::lower::Lowered;
use crate::resolved::element_name;
use crate::tensor::{LeafKind, TensorOp};

/// Renders the derivation of `program` whose parameter gradients are `grads` (one
/// per parameter) and `group_grads` (`(group index, tensor adjoint)` for the groups
/// read as whole tensors).
///
/// Tensor nodes print as matrix formulas, as the notebooks write them: `W · x`,
/// `Wᵀ · δ2`, `δ1 · xᵀ`, `⊙` for elementwise products; the adjoints of tensor nodes
/// are named `δ1, δ2, ...` and listed with their definitions.
pub fn render(
    name: &str,
    program: &Lowered,
    grads: &[NodeId],
    group_grads: &[(usize, NodeId)],
) -> String {
    let g = &program.graph;
    let mut printer = Printer {
        g,
        names: HashMap::new(),
        lanes: RefCell::new(Vec::new()),
    };
    let element_names = |slots: &[crate::resolved::Slot]| -> Vec<String> {
        slots
            .iter()
            .flat_map(|s| (0..s.shape.len()).map(move |i| s.element_name(i)))
            .collect()
    };
    let (inputs, targets, params) = (
        element_names(&program.inputs),
        element_names(&program.targets),
        element_names(&program.params),
    );
    for (id, node) in g.iter() {
        let name = match node {
            Node::Input(k) => inputs.get(k as usize),
            Node::Target(k) => targets.get(k as usize),
            Node::Param(k) => params.get(k as usize),
            _ => None,
        };
        if let Some(name) = name {
            printer.names.insert(id, name.clone());
        }
        // A declared group read as a whole is called by its name.
        if let Some(TensorOp::Leaf { kind, offset }) = g.tensor_node(id).map(|t| &t.op) {
            let slots = match kind {
                LeafKind::Input => &program.inputs,
                LeafKind::Target => &program.targets,
                LeafKind::Param => &program.params,
            };
            if let Some(slot) = slots.iter().find(|s| s.offset == *offset as usize) {
                printer.names.insert(id, slot.name.clone());
            }
        }
    }

    // Expressions nested deeper than this get a temporary name, so printing (which
    // recurses) stays shallow even for a 1000-term sum.
    const MAX_DEPTH: usize = 24;
    let mut depth = vec![0usize; g.len()];
    let mut forced = vec![false; g.len()];
    // One counter for every `tN` name (deep nodes here, common subexpressions below),
    // so no two definitions share a name.
    let mut n_temps = 0;
    for (id, node) in g.iter() {
        if node.is_leaf() {
            continue;
        }
        let d = 1 + node.children().map(|c| depth[c.index()]).max().unwrap_or(0);
        if d > MAX_DEPTH {
            forced[id.index()] = true;
            printer.names.insert(id, format!("t{n_temps}"));
            n_temps += 1;
            depth[id.index()] = 0;
        } else {
            depth[id.index()] = d;
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "network {name}: {}, {}, {}, {}",
        count(program.num_params(), "param"),
        count(program.num_inputs(), "input"),
        count(program.num_targets(), "target"),
        count(program.output.elems.len(), "output")
    );
    out.push_str("\nforward:\n");
    let mut defined = Vec::new();
    for (binding, id) in &program.bindings {
        if printer.names.contains_key(id) {
            // The same value under a second name (hash-consing found it equal).
            let _ = writeln!(out, "  {binding} = {}", printer.names[id]);
            continue;
        }
        let _ = writeln!(out, "  {binding} = {}", printer.expr(*id, 0, true));
        printer.names.insert(*id, binding.clone());
        defined.push(*id);
    }
    // Common subexpressions of the loss and gradient: non-trivial nodes used more than
    // once that have no user name. Named before the loss is printed so it uses them too.
    let mut roots = vec![program.loss];
    roots.extend(grads);
    roots.extend(group_grads.iter().map(|&(_, adj)| adj));
    let live = g.reachable(&roots);
    let forward = g.reachable(&[program.loss]);
    let mut uses = vec![0usize; g.len()];
    for (id, _) in g.iter() {
        if live[id.index()] {
            for c in g.children(id) {
                uses[c.index()] += 1;
            }
        }
    }
    for &r in &roots {
        uses[r.index()] += 1;
    }
    let mut table = Vec::new();
    let mut adjoints = Vec::new();
    for (id, node) in g.iter() {
        if forced[id.index()] {
            // A deep node, named above so that printing stays shallow: defined here.
            let name = printer.names[&id].clone();
            table.push(format!("{name} = {}", printer.expr(id, 0, true)));
            continue;
        }
        let trivial = node.is_leaf()
            || matches!(node, Node::StopGradient(_) | Node::Neg(_))
            || is_indicator(g, node);
        if !live[id.index()] || trivial || printer.names.contains_key(&id) {
            continue;
        }
        // Tensors of the backward pass are always named: they are the δ's.
        let adjoint = g.is_tensor(id) && !forward[id.index()];
        if adjoint {
            let d = format!("δ{}", adjoints.len() + 1);
            adjoints.push(format!("{d} = {}", printer.expr(id, 0, true)));
            printer.names.insert(id, d);
        } else if uses[id.index()] >= 2 {
            let t = format!("t{n_temps}");
            n_temps += 1;
            table.push(format!("{t} = {}", printer.expr(id, 0, true)));
            printer.names.insert(id, t);
        }
    }
    let loss_text = printer.expr(program.loss, 0, !printer.names.contains_key(&program.loss));
    let _ = writeln!(out, "\nloss:\n  L = {loss_text}");
    printer
        .names
        .entry(program.loss)
        .or_insert_with(|| "L".to_string());
    if !table.is_empty() {
        out.push_str("\ncommon subexpressions:\n");
        for line in &table {
            let _ = writeln!(out, "  {line}");
        }
    }
    if !adjoints.is_empty() {
        out.push_str("\nadjoints (tensors of the backward pass):\n");
        for line in &adjoints {
            let _ = writeln!(out, "  {line}");
        }
    }
    out.push_str("\ngradient:\n");
    let mut whole = vec![false; program.num_params()];
    for &(group, adjoint) in group_grads {
        let slot = &program.params[group];
        whole[slot.offset..slot.offset + slot.shape.len()].fill(true);
        let _ = writeln!(
            out,
            "  dL/d{} = {}",
            slot.name,
            printer.expr(adjoint, 0, false)
        );
    }
    for (k, (name, &grad)) in program.param_names().iter().zip(grads).enumerate() {
        let zero = g.as_const(grad) == Some(0.0);
        if whole[k] && zero {
            continue;
        }
        let also = if whole[k] {
            " (plus its group's term)"
        } else {
            ""
        };
        let _ = writeln!(out, "  dL/d{name} = {}{also}", printer.expr(grad, 0, false));
    }
    out
}

/// Whether `node` is an indicator `[k == j]` of leaves (a class-index target against a
/// constant): short enough to print in place rather than as a common subexpression.
fn is_indicator(g: &Graph, node: Node) -> bool {
    matches!(node, Node::IfEq(a, b, t, e)
        if [a, b].iter().all(|&x| g.node(x).is_leaf())
            && g.as_const(t) == Some(1.0)
            && g.as_const(e) == Some(0.0))
}

/// `1 param`, `7 params`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
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

struct Printer<'a> {
    g: &'a Graph,
    names: HashMap<NodeId, String>,
    /// The argument texts of the map kernels being printed, innermost last.
    lanes: RefCell<Vec<Vec<(String, u8)>>>,
}

// Precedence levels: sums 1, products 2, unary minus 3, atoms 4.
impl Printer<'_> {
    /// `id` as infix text; wrapped in parentheses if its precedence is below `min`.
    /// `define` prints the definition even if the node has a name.
    fn expr(&self, id: NodeId, min: u8, define: bool) -> String {
        if !define {
            if let Some(name) = self.names.get(&id) {
                return name.clone();
            }
        }
        let (text, prec) = match self.g.tensor_node(id) {
            Some(t) => self.tensor(&t.op),
            None => self.infix(self.g.node(id)),
        };
        if prec < min {
            format!("({text})")
        } else {
            text
        }
    }

    /// Collects the terms of an (unnamed) sum: `a + (b - 2*a)` is `-a + b`.
    fn collect(&self, id: NodeId, sign: f64, top: bool, out: &mut Terms) {
        if !top && self.names.contains_key(&id) {
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
            text = format!("{}", terms.constant);
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
                format!("{magnitude}*{term}")
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
                (true, _) => text = format!("{c}"),
                (false, false) => text.push_str(&format!(" + {c}")),
                (false, true) => text.push_str(&format!(" - {}", -c)),
            }
        }
        if factor != 1.0 {
            (format!("{factor}*({text})"), 2)
        } else {
            (text, 1)
        }
    }

    fn infix(&self, node: Node) -> (String, u8) {
        let e = |id, min| self.expr(id, min, false);
        match node {
            Node::Const(bits) => {
                let v = f64::from_bits(bits);
                (format!("{v}"), if v < 0.0 { 3 } else { 4 })
            }
            Node::Input(k) => (format!("input[{k}]"), 4),
            Node::Target(k) => (format!("target[{k}]"), 4),
            Node::Param(k) => (format!("params[{k}]"), 4),
            Node::Neg(a) => (format!("-{}", e(a, 3)), 3),
            Node::Add(..) | Node::Sub(..) => self.sum(node),
            Node::Mul(a, b) => {
                let (a, b) = if self.g.as_const(b).is_some() {
                    (b, a)
                } else {
                    (a, b)
                };
                (format!("{}*{}", e(a, 2), e(b, 3)), 2)
            }
            Node::Div(a, b) => (format!("{}/{}", e(a, 2), e(b, 3)), 2),
            Node::Call(f, a) => (format!("{}({})", f.name(), e(a, 0)), 4),
            Node::Powi(a, n) => (format!("{}^{n}", e(a, 4)), 4),
            Node::Pow(a, b) => (format!("{}^{}", e(a, 4), e(b, 4)), 4),
            Node::Max(a, b) => (format!("max({}, {})", e(a, 0), e(b, 0)), 4),
            Node::Min(a, b) => (format!("min({}, {})", e(a, 0), e(b, 0)), 4),
            Node::IfGt(a, b, t, f) => (
                format!(
                    "({} if {} > {} else {})",
                    e(t, 0),
                    e(a, 1),
                    e(b, 1),
                    e(f, 0)
                ),
                4,
            ),
            Node::IfGe(a, b, t, f) => (
                format!(
                    "({} if {} >= {} else {})",
                    e(t, 0),
                    e(a, 1),
                    e(b, 1),
                    e(f, 0)
                ),
                4,
            ),
            // The indicator of a one-hot target, in Iverson's notation.
            Node::IfEq(a, b, t, f)
                if self.g.as_const(t) == Some(1.0) && self.g.as_const(f) == Some(0.0) =>
            {
                (format!("[{} == {}]", e(a, 1), e(b, 1)), 4)
            }
            Node::IfEq(a, b, t, f) => (
                format!(
                    "({} if {} == {} else {})",
                    e(t, 0),
                    e(a, 1),
                    e(b, 1),
                    e(f, 0)
                ),
                4,
            ),
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
                (element_name(&base, shape, k as usize), 4)
            }
            // Printed by `tensor` (reached through `expr`).
            Node::Tensor(_) => (String::from("?"), 4),
        }
    }

    /// A tensor operation as a matrix formula.
    fn tensor(&self, op: &TensorOp) -> (String, u8) {
        let e = |id, min| self.expr(id, min, false);
        let t = |id, flag: bool| {
            if flag {
                format!("{}ᵀ", e(id, 4))
            } else {
                e(id, 2)
            }
        };
        match op {
            TensorOp::Leaf { offset, .. } => (format!("group@{offset}"), 4),
            TensorOp::Pack(items) => {
                let items: Vec<String> = items.iter().map(|&i| e(i, 0)).collect();
                (format!("[{}]", items.join(", ")), 4)
            }
            TensorOp::MatMul { a, b, ta, tb } => (format!("{} · {}", t(*a, *ta), t(*b, *tb)), 2),
            TensorOp::Map { kernel, args } => {
                let texts = args
                    .iter()
                    .map(|&a| {
                        let text = e(a, 0);
                        let (_, prec) = match self.g.tensor_node(a) {
                            Some(_) if self.names.contains_key(&a) => (String::new(), 4),
                            Some(t) => self.tensor(&t.op),
                            None if self.names.contains_key(&a) => (String::new(), 4),
                            None => self.infix(self.g.node(a)),
                        };
                        (text, prec)
                    })
                    .collect();
                self.lanes.borrow_mut().push(texts);
                let text = self.kernel(*kernel);
                self.lanes.borrow_mut().pop();
                text
            }
            TensorOp::Sum(a) => (format!("sum({})", e(*a, 0)), 4),
            TensorOp::Transpose(a) => (format!("{}ᵀ", e(*a, 4)), 4),
        }
    }

    /// A map's kernel: its scalar formula over the arguments, `⊙` for a product of
    /// two non-constant factors.
    fn kernel(&self, kernel: NodeId) -> (String, u8) {
        match self.g.node(kernel) {
            Node::Mul(a, b) if self.g.as_const(a).is_none() && self.g.as_const(b).is_none() => {
                let (a, b) = (self.kernel_operand(a, 2), self.kernel_operand(b, 3));
                (format!("{a} ⊙ {b}"), 2)
            }
            node => self.infix(node),
        }
    }

    fn kernel_operand(&self, id: NodeId, min: u8) -> String {
        let (text, prec) = self.kernel(id);
        if prec < min {
            format!("({text})")
        } else {
            text
        }
    }
}

#[cfg(test)]
mod tests {
    fn derivation(body: proc_macro2::TokenStream) -> String {
        crate::derive(body)
            .map(|(_, d)| d.derivation)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn like_terms_are_collected_and_common_factors_pulled_out() {
        let d = derivation(quote::quote! {
            struct N { input x; param a, b; output y = (x * a + b) + (x * a + b) - b; loss = y * 1.0; }
        });
        assert!(d.contains("  y = b + 2*x*a"), "{d}");
        let d = derivation(quote::quote! {
            struct N { input x; param a; let s = sigmoid(a * x); output y = 1.0 - s; loss = y; }
        });
        assert!(d.contains("  y = 1 - s"), "{d}");
    }

    /// Deep expressions (a 10-class log-softmax) get `tN` names so printing stays
    /// shallow; every such name is defined once and every name used is defined.
    #[test]
    fn every_temporary_is_defined_exactly_once() {
        let d = derivation(quote::quote! {
            struct N { input x[3]; target t[10]; output y = dense(x, 10, identity); loss = cross_entropy(y, t); }
        });
        let mut defined = std::collections::HashSet::new();
        for line in d.lines() {
            if let Some((name, _)) = line.trim().split_once(" = ") {
                if name.starts_with('t') && name[1..].chars().all(|c| c.is_ascii_digit()) {
                    assert!(
                        defined.insert(name.to_string()),
                        "{name} defined twice in\n{d}"
                    );
                }
            }
        }
        let words = d.split(|c: char| !c.is_ascii_alphanumeric());
        for word in words.filter(|w| w.len() > 1 && w.starts_with('t')) {
            if word[1..].chars().all(|c| c.is_ascii_digit()) {
                assert!(
                    defined.contains(word),
                    "{word} used but not defined in\n{d}"
                );
            }
        }
        assert!(defined.len() > 10, "the deep log-softmax is named: {d}");
    }

    #[test]
    fn seed_003_reads_like_the_textbook() {
        let d = derivation(quote::quote! {
            struct Seed003 {
                input x1, x2; target y;
                param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
                let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
                let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
                output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
                loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
            }
        });
        for line in [
            "f3 = sigmoid(2*w0 + x1*w13 + x2*w23)",
            "= f5 - y",
            "dL/dw0 = 2*(",
            "dL/dw35 = f3*t",
        ] {
            assert!(d.contains(line), "missing {line:?} in\n{d}");
        }
    }
}
